package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func token(t *testing.T, c Claims) string {
	t.Helper()
	s, err := Sign(secret, c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clerk() Claims {
	return Claims{County: "anji", Role: RoleClerk, RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk-1"}}
}

func TestVerifyAcceptsOwnCountyAndRefusesOthers(t *testing.T) {
	v := NewVerifier("anji", HMACKey(secret), "")
	c, err := v.Verify(context.Background(), token(t, clerk()))
	if err != nil || c.Role != RoleClerk || c.Subject != "clerk-1" {
		t.Fatalf("verify = %+v, %v", c, err)
	}
	other := clerk()
	other.County = "changxing"
	if _, err := v.Verify(context.Background(), token(t, other)); !errors.Is(err, ErrForbidden) {
		t.Fatalf("other county: %v, want forbidden", err)
	}
	if _, err := NewVerifier("anji", HMACKey("another secret of at least 32 bytes!"), "").Verify(context.Background(), token(t, clerk())); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong key: %v", err)
	}
	// Expired, and an unsigned token.
	expired := clerk()
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, &expired).SignedString(secret)
	if _, err := v.Verify(context.Background(), s); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired: %v", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, &expired).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := v.Verify(context.Background(), none); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("alg none: %v", err)
	}
}

func TestClaimsNeedRoleAndDepartment(t *testing.T) {
	bad := []Claims{
		{County: "anji", Role: "janitor", RegisteredClaims: jwt.RegisteredClaims{Subject: "x"}},
		{County: "anji", Role: RoleDepartment, RegisteredClaims: jwt.RegisteredClaims{Subject: "x"}},
		{Role: RoleClerk, RegisteredClaims: jwt.RegisteredClaims{Subject: "x"}},
		{County: "anji", Role: RoleClerk},
	}
	for _, c := range bad {
		if _, err := Sign(secret, c, time.Hour); err == nil {
			t.Errorf("signed invalid claims %+v", c)
		}
	}
}

func TestMiddlewareAndRequire(t *testing.T) {
	v := NewVerifier("anji", HMACKey(secret), "")
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Require(r.Context(), RoleSupervisor); err != nil {
			WriteError(w, err)
			return
		}
		w.WriteHeader(204)
	}))
	call := func(auth string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	sup := clerk()
	sup.Role = RoleSupervisor
	cases := map[string]int{"": 401, "Bearer junk": 401, "Bearer " + token(t, clerk()): 403, "Bearer " + token(t, sup): 204}
	for auth, want := range cases {
		if got := call(auth); got != want {
			t.Errorf("Authorization %.20q = %d, want %d", auth, got, want)
		}
	}
}

func TestRS256AndJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c := clerk()
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, &c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier("anji", RSAKey{Public: &key.PublicKey}, "").Verify(context.Background(), s); err != nil {
		t.Fatalf("rs256: %v", err)
	}
	// An HS256 token signed with the public key's bytes must not pass (alg confusion).
	if _, err := NewVerifier("anji", RSAKey{Public: &key.PublicKey}, "").Verify(context.Background(), token(t, clerk())); err == nil {
		t.Fatal("HS256 token accepted by an RS256 verifier")
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer srv.Close()
	keys, err := LoadKeys("", "", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier("anji", keys, "").Verify(context.Background(), s); err != nil {
		t.Fatalf("jwks url: %v", err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(file, jwks, 0o600)
	keys, _ = LoadKeys("", "", file)
	if _, err := NewVerifier("anji", keys, "").Verify(context.Background(), s); err != nil {
		t.Fatalf("jwks file: %v", err)
	}
}

func TestLoadKeysNeedsExactlyOneSourceAndALongSecret(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("tooshort\n"), 0o600)
	if _, err := LoadKeys(short, "", ""); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := LoadKeys("", "", ""); err == nil {
		t.Fatal("no source accepted")
	}
	if _, err := LoadKeys(short, "x.pem", ""); err == nil {
		t.Fatal("two sources accepted")
	}
}
