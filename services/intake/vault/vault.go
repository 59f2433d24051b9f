// Package vault keeps petitioners' personal data unreadable at rest: AES-256-
// GCM with keys from a key file (a Kubernetes Secret in clusters), the key id
// stored beside each ciphertext so keys can rotate, and a keyed HMAC that
// turns an ID number into a stable petitioner key for repeat detection
// without ever storing the number.
//
// Key file (JSON, mode 0600):
//
//	{"current":"k2","keys":{"k1":"<base64 32 bytes>","k2":"<base64 32 bytes>"},"hmacKey":"<base64 ≥ 32 bytes>"}
//
// Rotation: add a key, make it current; old rows stay readable with their
// key id. The HMAC key never rotates: petitioner keys must stay comparable
// across years (a new HMAC key would make every petitioner look new).
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Keyring holds the encryption keys and the HMAC key.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	hmacKey []byte
}

type file struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
	HMACKey string            `json:"hmacKey"`
}

// Load reads a key file.
func Load(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("vault: key file %s: %w", path, err)
	}
	return fromFile(f)
}

func fromFile(f file) (*Keyring, error) {
	k := &Keyring{current: f.Current, aeads: map[string]cipher.AEAD{}}
	for id, b64 := range f.Keys {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("vault: key %q must be 32 bytes of base64", id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", id, err)
		}
		k.aeads[id] = aead
	}
	if _, ok := k.aeads[k.current]; !ok {
		return nil, fmt.Errorf("vault: current key %q is not among the keys", k.current)
	}
	mac, err := base64.StdEncoding.DecodeString(f.HMACKey)
	if err != nil || len(mac) < 32 {
		return nil, errors.New("vault: hmacKey must be at least 32 bytes of base64")
	}
	k.hmacKey = mac
	return k, nil
}

// Generate writes a new key file with one encryption key and an HMAC key,
// unless the file exists (dev mode calls it on every start).
func Generate(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	data, _ := json.MarshalIndent(file{Current: "k1", Keys: map[string]string{"k1": random(32)}, HMACKey: random(32)}, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}

// CurrentID is the id of the key new data is sealed with.
func (k *Keyring) CurrentID() string { return k.current }

// Seal encrypts plaintext with the current key, bound to aad (the row it
// belongs to, so a ciphertext copied to another row does not open).
func (k *Keyring) Seal(plaintext, aad []byte) (kid string, sealed []byte, err error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("vault: nonce: %w", err)
	}
	return k.current, aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced with key kid.
func (k *Keyring) Open(kid string, sealed, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[kid]
	if !ok {
		return nil, fmt.Errorf("vault: unknown key %q", kid)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("vault: ciphertext too short")
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("vault: ciphertext does not open (wrong key, row or tampered)")
	}
	return out, nil
}

// PetitionerKey is the keyed HMAC (hex) identifying a person: of the
// normalized ID number, or of name and phone when there is none. The kind
// prefix keeps the two spaces apart.
func (k *Keyring) PetitionerKey(idNumber, name, phone string) string {
	m := hmac.New(sha256.New, k.hmacKey)
	if idNumber != "" {
		m.Write([]byte("id\x00" + idNumber))
	} else {
		m.Write([]byte("np\x00" + strings.TrimSpace(name) + "\x00" + strings.TrimSpace(phone)))
	}
	return hex.EncodeToString(m.Sum(nil))
}
