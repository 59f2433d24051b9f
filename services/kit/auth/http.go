package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Middleware authenticates staff requests: a missing or bad token is 401, a
// token for another county 403. On success the claims are in the context.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			WriteError(w, ErrUnauthenticated)
			return
		}
		claims, err := v.Verify(r.Context(), token)
		if err != nil {
			WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
	})
}

// WriteError answers an authentication or authorization failure as JSON.
func WriteError(w http.ResponseWriter, err error) {
	code, kind := http.StatusUnauthorized, "unauthenticated"
	if errors.Is(err, ErrForbidden) {
		code, kind = http.StatusForbidden, "forbidden"
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="xinfang"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "message": err.Error()})
}
