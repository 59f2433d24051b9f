package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// intakeKeyFile is the format of intake's key file (services/intake/vault):
// AES-256 keys by id, the id new data is sealed with, and the HMAC key that
// turns an ID number into a petitioner key.
type intakeKeyFile struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
	HMACKey string            `json:"hmacKey"`
}

// NewIntakeKeys returns a fresh key file: one 32-byte encryption key "k1"
// and a 32-byte HMAC key, from crypto/rand.
func NewIntakeKeys() ([]byte, error) {
	random := func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	k1, err := random()
	if err != nil {
		return nil, err
	}
	mac, err := random()
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(intakeKeyFile{Current: "k1", Keys: map[string]string{"k1": k1}, HMACKey: mac}, "", "  ")
}

// reconcileIntakeKeys creates intake's key Secret once, when it is absent,
// and never writes it again: a new encryption key would make every sealed
// record unreadable, and a new HMAC key would make every petitioner look new.
// Rotation (adding k2 and making it current) is a human's edit the operator
// leaves alone. The Secret has no owner reference, so deleting a County under
// Retain keeps the keys next to the data they open; under Delete it goes with
// the namespace.
//
// Secrets are not cached (the operator holds no Secret informer), so the
// existence check is a read of its own; once the keys are known to exist in
// this namespace (by its UID) they are not read again until Topics.Resync
// has passed.
func (r *CountyReconciler) reconcileIntakeKeys(ctx context.Context, c *v1alpha1.County, st *state) {
	key := client.ObjectKey{Namespace: render.Namespace(c), Name: render.IntakeKeysSecret}
	tag := string(st.namespaceUID)
	if r.seen(c.Name, seenIntakeKeys, tag) {
		return
	}
	err := r.APIReader.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		r.see(c.Name, seenIntakeKeys, tag)
		return
	}
	if !apierrors.IsNotFound(err) {
		st.err(fmt.Errorf("read intake key secret: %w", err))
		return
	}
	data, err := NewIntakeKeys()
	if err != nil {
		st.err(fmt.Errorf("generate intake keys: %w", err))
		return
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: render.Labels(c, "intake")},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{render.IntakeKeysFile: data},
	}
	// Create, never apply or update: if another writer got there first, its
	// keys stand.
	if err := r.Client.Create(ctx, s, client.FieldOwner(FieldOwner)); err != nil && !apierrors.IsAlreadyExists(err) {
		st.err(fmt.Errorf("create intake key secret: %w", err))
		return
	}
	r.see(c.Name, seenIntakeKeys, tag)
}

// What a county's seen record is about.
const (
	seenIntakeKeys = "intake-keys"
	seenDatabase   = "database"
)

type seenRecord struct {
	tag string
	at  time.Time
}

// seen reports whether the county's Secret what was found, for the same tag
// (namespace UID, Secret name), less than Topics.Resync ago.
func (r *CountyReconciler) seen(county, what, tag string) bool {
	v, ok := r.secrets.Load(county + "/" + what)
	if !ok {
		return false
	}
	rec := v.(seenRecord)
	return rec.tag == tag && time.Since(rec.at) < r.Topics.Resync
}

func (r *CountyReconciler) see(county, what, tag string) {
	r.secrets.Store(county+"/"+what, seenRecord{tag: tag, at: time.Now()})
}

func (r *CountyReconciler) unsee(county, what string) { r.secrets.Delete(county + "/" + what) }
