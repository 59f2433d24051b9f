package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeySource finds the key that verifies a token.
type KeySource interface {
	// Key returns the verification key for alg and key id.
	Key(ctx context.Context, alg, kid string) (any, error)
	// Methods are the signing algorithms this source accepts.
	Methods() []string
}

// HMACKey accepts HS256 tokens signed with one shared secret.
type HMACKey []byte

// Key returns the secret.
func (k HMACKey) Key(context.Context, string, string) (any, error) { return []byte(k), nil }

// Methods is HS256.
func (HMACKey) Methods() []string { return []string{"HS256"} }

// RSAKey accepts RS256 tokens signed by one key.
type RSAKey struct{ Public *rsa.PublicKey }

// Key returns the public key.
func (k RSAKey) Key(context.Context, string, string) (any, error) { return k.Public, nil }

// Methods is RS256.
func (RSAKey) Methods() []string { return []string{"RS256"} }

// JWKS accepts RS256 tokens whose kid names a key of a JSON Web Key Set,
// fetched from a URL (refreshed at most once a minute, and on an unknown
// kid) or read from a file.
type JWKS struct {
	URL    string
	File   string
	Client *http.Client

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

// Methods is RS256.
func (*JWKS) Methods() []string { return []string{"RS256"} }

// Key returns the key named kid.
func (j *JWKS) Key(ctx context.Context, _ string, kid string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok && time.Since(j.fetched) < time.Hour {
		return k, nil
	}
	if time.Since(j.fetched) > time.Minute || j.keys == nil {
		if err := j.refresh(ctx); err != nil {
			return nil, err
		}
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("jwks: no key with kid %q", kid)
}

func (j *JWKS) refresh(ctx context.Context) error {
	var data []byte
	var err error
	if j.File != "" {
		data, err = os.ReadFile(j.File)
	} else {
		data, err = j.fetch(ctx)
	}
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return err
	}
	j.keys, j.fetched = keys, time.Now()
	return nil
}

func (j *JWKS) fetch(ctx context.Context) ([]byte, error) {
	client := j.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", j.URL, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// ParseJWKS reads the RSA keys of a JSON Web Key Set by kid.
func ParseJWKS(data []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, raw := range set.Keys {
		var k struct {
			Kty, Kid, N, E string
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		if k.Kty != "RSA" {
			continue
		}
		pub, err := rsaFromJWK(k.N, k.E)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %q: %w", k.Kid, err)
		}
		out[k.Kid] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no RSA keys")
	}
	return out, nil
}

// LoadKeys builds the key source from the configured files or URL: exactly
// one of them must be set.
func LoadKeys(hs256SecretFile, rs256PublicKeyFile, jwks string) (KeySource, error) {
	set := 0
	for _, s := range []string{hs256SecretFile, rs256PublicKeyFile, jwks} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("auth keys: set exactly one of XINFANG_AUTH_HS256_SECRET_FILE, XINFANG_AUTH_RS256_PUBLIC_KEY_FILE, XINFANG_AUTH_JWKS (%d set)", set)
	}
	switch {
	case hs256SecretFile != "":
		b, err := os.ReadFile(hs256SecretFile)
		if err != nil {
			return nil, fmt.Errorf("auth keys: %w", err)
		}
		secret := []byte(strings.TrimSpace(string(b)))
		if len(secret) < 32 {
			return nil, fmt.Errorf("auth keys: HS256 secret in %s is %d bytes; at least 32 are required", hs256SecretFile, len(secret))
		}
		return HMACKey(secret), nil
	case rs256PublicKeyFile != "":
		b, err := os.ReadFile(rs256PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth keys: %w", err)
		}
		pub, err := jwt.ParseRSAPublicKeyFromPEM(b)
		if err != nil {
			return nil, fmt.Errorf("auth keys: %s: %w", rs256PublicKeyFile, err)
		}
		return RSAKey{Public: pub}, nil
	case strings.HasPrefix(jwks, "http://") || strings.HasPrefix(jwks, "https://"):
		return &JWKS{URL: jwks}, nil
	default:
		return &JWKS{File: jwks}, nil
	}
}
