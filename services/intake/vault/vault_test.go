package vault

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpenRotateAndBind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := Generate(path); err != nil {
		t.Fatal(err)
	}
	k, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	kid, sealed, err := k.Seal([]byte("张三 330523198001010029"), []byte("case-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("330523198001010029")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	got, err := k.Open(kid, sealed, []byte("case-1"))
	if err != nil || string(got) != "张三 330523198001010029" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := k.Open(kid, sealed, []byte("case-2")); err == nil {
		t.Fatal("ciphertext opened for another row")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open(kid, sealed, []byte("case-1")); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
	// Rotation: key k2 becomes current; data sealed under k1 still opens.
	keyA, keyB, mac := b64(32, 'a'), b64(32, 'b'), b64(32, 'm')
	old, err := fromFile(file{Current: "k1", Keys: map[string]string{"k1": keyA}, HMACKey: mac})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := fromFile(file{Current: "k2", Keys: map[string]string{"k1": keyA, "k2": keyB}, HMACKey: mac})
	if err != nil {
		t.Fatal(err)
	}
	oldKid, sealedOld, _ := old.Seal([]byte("old"), nil)
	if got, err := rotated.Open(oldKid, sealedOld, nil); err != nil || string(got) != "old" {
		t.Fatalf("old key after rotation: %q %v", got, err)
	}
	if kid, _, _ := rotated.Seal([]byte("new"), nil); kid != "k2" {
		t.Fatalf("new data sealed with %s", kid)
	}
}

func b64(n int, c byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{c}, n)) }

func TestPetitionerKeyIsStableAndSeparated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	_ = Generate(path)
	k, _ := Load(path)
	a := k.PetitionerKey("330523198001010029", "", "")
	if a != k.PetitionerKey("330523198001010029", "李四", "13800000000") || len(a) != 64 {
		t.Fatal("ID-number key depends on name/phone or is not hex sha256")
	}
	if strings.Contains(a, "330523198001010029") {
		t.Fatal("key contains the number")
	}
	if k.PetitionerKey("", "张三", "13800000000") == k.PetitionerKey("", "张三", "13900000000") {
		t.Fatal("name+phone keys collide")
	}
	other := filepath.Join(t.TempDir(), "other.json")
	_ = Generate(other)
	k2, _ := Load(other)
	if k2.PetitionerKey("330523198001010029", "", "") == a {
		t.Fatal("key does not depend on the HMAC key")
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	bad := []file{
		{Current: "k9", Keys: map[string]string{"k1": b64(32, 'a')}, HMACKey: b64(32, 'm')},
		{Current: "k1", Keys: map[string]string{"k1": "c2hvcnQ="}, HMACKey: b64(32, 'm')},
		{Current: "k1", Keys: map[string]string{"k1": b64(32, 'a')}, HMACKey: "c2hvcnQ="},
	}
	for i, f := range bad {
		if _, err := fromFile(f); err == nil {
			t.Errorf("bad file %d accepted", i)
		}
	}
}
