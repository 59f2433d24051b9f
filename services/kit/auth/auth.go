// Package auth verifies staff bearer tokens (JWT) for every service's staff
// endpoints. Tokens carry the county, the role and, for department staff,
// the department; a token for another county is refused. Keys: an HS256
// secret from a file (dev mode), an RS256 public key (PEM file), or a JWKS
// document (file or URL) in clusters.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a staff member may do.
type Role string

const (
	RoleClerk      Role = "clerk"      // registers petitions (登记)
	RoleDepartment Role = "department" // handles its own department's cases
	RoleSupervisor Role = "supervisor" // bureau staff: routes, supervises, sees all
	RoleLeader     Role = "leader"     // leadership: reads all, owns 包案 cases
	RoleAdmin      Role = "admin"      // operates the instance
)

// Roles lists every role.
var Roles = []Role{RoleClerk, RoleDepartment, RoleSupervisor, RoleLeader, RoleAdmin}

// Claims are a staff token's claims.
type Claims struct {
	County     string `json:"county"`
	Role       Role   `json:"role"`
	Department string `json:"department,omitempty"`
	jwt.RegisteredClaims
}

// Validate checks the application claims (jwt calls it after the standard ones).
func (c *Claims) Validate() error {
	if c.County == "" {
		return errors.New("token has no county claim")
	}
	if !slices.Contains(Roles, c.Role) {
		return fmt.Errorf("token role %q is not one of %v", c.Role, Roles)
	}
	if c.Role == RoleDepartment && c.Department == "" {
		return errors.New("a department token must name its department")
	}
	if c.Subject == "" {
		return errors.New("token has no subject (staff id)")
	}
	return nil
}

// Errors a verifier returns; HTTP maps ErrUnauthenticated to 401 and
// ErrForbidden to 403.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// Verifier checks tokens for one county.
type Verifier struct {
	county  string
	keys    KeySource
	methods []string
	issuer  string
	now     func() time.Time
}

// NewVerifier returns a verifier for county's tokens signed by keys.
// issuer, when not empty, must match the token's iss claim.
func NewVerifier(county string, keys KeySource, issuer string) *Verifier {
	return &Verifier{county: county, keys: keys, methods: keys.Methods(), issuer: issuer, now: time.Now}
}

// Verify parses and checks a token: signature, expiry (required), county.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	var claims Claims
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithExpirationRequired(), jwt.WithTimeFunc(v.now), jwt.WithLeeway(30 * time.Second)}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return v.keys.Key(ctx, t.Method.Alg(), kid)
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if claims.County != v.county {
		return nil, fmt.Errorf("%w: token is for county %q, this is %q", ErrForbidden, claims.County, v.county)
	}
	return &claims, nil
}

type ctxKey struct{}

// WithClaims returns ctx carrying the caller's claims.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the caller's claims.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}

// Require returns ErrForbidden unless the caller has one of roles.
func Require(ctx context.Context, roles ...Role) (*Claims, error) {
	c, ok := FromContext(ctx)
	if !ok {
		return nil, ErrUnauthenticated
	}
	if !slices.Contains(roles, c.Role) {
		return nil, fmt.Errorf("%w: role %s may not do this (needs one of %v)", ErrForbidden, c.Role, roles)
	}
	return c, nil
}

// Sign issues an HS256 token; dev mode and tests use it.
func Sign(secret []byte, c Claims, ttl time.Duration) (string, error) {
	now := time.Now()
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	if err := c.Validate(); err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(secret)
}
