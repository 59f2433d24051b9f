package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// kafkaSecretKeys are the keys of a County's Kafka Secret the operator
// reads and copies (see the KafkaSecret* constants); any other key stays
// where it is.
var kafkaSecretKeys = []string{KafkaSecretTLS, KafkaSecretCA, KafkaSecretCert, KafkaSecretKey,
	KafkaSecretMechanism, KafkaSecretUsername, KafkaSecretPassword}

// kafkaSecretRecord is the last read of a County's Kafka Secret (in the
// operator's namespace; Secrets are not cached): the operator's own admin
// client and the county's copy both use it. It is read again after
// Topics.Resync, or at once when the County's generation changes, so a
// rotated Secret reaches the county within --topic-resync.
type kafkaSecretRecord struct {
	tag  string // County UID and generation, Secret name
	at   time.Time
	data map[string][]byte
	tls  *tls.Config
	sasl sasl.Mechanism
}

func (r *CountyReconciler) kafkaSecret(ctx context.Context, c *v1alpha1.County) (*kafkaSecretRecord, error) {
	ref := c.Spec.Kafka.SecretRef
	tag := string(c.UID) + "/" + strconv.FormatInt(c.Generation, 10) + "/" + ref.Name
	if v, ok := r.kafkaSecrets.Load(c.Name); ok {
		if rec := v.(*kafkaSecretRecord); rec.tag == tag && time.Since(rec.at) < r.Topics.Resync {
			return rec, nil
		}
	}
	if r.OperatorNamespace == "" {
		return nil, errors.New("spec.kafka.secretRef is set but the operator was started without --operator-namespace (or POD_NAMESPACE)")
	}
	s := &corev1.Secret{}
	key := client.ObjectKey{Namespace: r.OperatorNamespace, Name: ref.Name}
	if err := r.APIReader.Get(ctx, key, s); err != nil {
		return nil, fmt.Errorf("kafka secret %s: %w", key, err)
	}
	rec := &kafkaSecretRecord{tag: tag, at: time.Now(), data: map[string][]byte{}}
	for _, k := range kafkaSecretKeys {
		if v, ok := s.Data[k]; ok {
			rec.data[k] = v
		}
	}
	var err error
	if rec.tls, rec.sasl, err = KafkaSecurity(rec.data); err != nil {
		return nil, fmt.Errorf("kafka secret %s: %w", key, err)
	}
	r.kafkaSecrets.Store(c.Name, rec)
	return rec, nil
}

// kafkaCopyRecord is the county's copy of its Kafka Secret as last applied.
type kafkaCopyRecord struct {
	namespace types.UID
	dataHash  string
	creds     render.KafkaCredentials
}

// reconcileKafkaCredentials copies the County's Kafka Secret into the
// county's namespace (Secret kafka-credentials, owned by the County), where
// the services' pods can mount it, and returns what the Deployments are
// rendered with. The copy is written only when the Secret's data changed.
// A Secret that cannot be read or is invalid keeps the last good copy (the
// pods keep running with it; TopicsReady says what is wrong); a County that
// no longer names one loses its copy.
func (r *CountyReconciler) reconcileKafkaCredentials(ctx context.Context, c *v1alpha1.County, st *state) render.KafkaCredentials {
	var last *kafkaCopyRecord
	if v, ok := r.kafkaCopies.Load(c.Name); ok {
		last = v.(*kafkaCopyRecord)
	}
	if c.Spec.Kafka.SecretRef == nil {
		if last != nil {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: render.Namespace(c), Name: render.KafkaCredentialsSecret}}
			if err := r.Client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
				st.err(fmt.Errorf("delete the unused Kafka credentials copy: %w", err))
				return render.KafkaCredentials{}
			}
			r.kafkaCopies.Delete(c.Name)
		}
		return render.KafkaCredentials{}
	}
	// Read again after Topics.Resync even when nothing else happens.
	st.requeue(r.Topics.Resync)
	ks, err := r.kafkaSecret(ctx, c)
	if err != nil {
		if last != nil {
			return last.creds
		}
		return render.KafkaCredentials{}
	}
	hash := hashJSON(ks.data)
	if last != nil && last.namespace == st.namespaceUID && last.dataHash == hash {
		return last.creds
	}
	applied, err := r.apply(ctx, c, render.KafkaCredentialsCopy(c, ks.data), owned)
	if err != nil {
		st.err(err)
		if last != nil {
			return last.creds
		}
		return render.KafkaCredentials{}
	}
	creds := render.KafkaCredentials{
		TLS: ks.tls != nil, CA: len(ks.data[KafkaSecretCA]) > 0, ClientCert: len(ks.data[KafkaSecretCert]) > 0,
		SASL: ks.sasl != nil, Version: applied.GetResourceVersion(),
	}
	r.kafkaCopies.Store(c.Name, &kafkaCopyRecord{namespace: st.namespaceUID, dataHash: hash, creds: creds})
	return creds
}
