package intake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Query codes (查询码) are what a citizen keeps to follow a matter (Arts 18,
// 21). 80 random bits from crypto/rand as 16 Crockford base-32 characters
// (no I, L, O, U: nothing to misread), printed in groups of four:
// "7K3M-9Q2P-XW4D-HB6T". Lookups accept lower case, spaces, dashes and the
// look-alikes O→0, I/L→1. Only the SHA-256 of a code is stored.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

const queryCodeChars = 16 // 16 × 5 bits = 80 bits

// NewQueryCode returns a fresh code in its printed form.
func NewQueryCode() string {
	b := make([]byte, 10) // 80 bits
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	var out strings.Builder
	var acc uint64
	bits := 0
	n := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			if n > 0 && n%4 == 0 {
				out.WriteByte('-')
			}
			out.WriteByte(crockford[(acc>>uint(bits))&31])
			n++
		}
	}
	return out.String()
}

// NormalizeQueryCode returns the canonical 16 characters of a code as a
// citizen might type it, or false when it cannot be a code.
func NormalizeQueryCode(s string) (string, bool) {
	var out strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if !strings.ContainsRune(crockford, r) {
			return "", false
		}
		out.WriteRune(r)
		if out.Len() > queryCodeChars {
			return "", false
		}
	}
	if out.Len() != queryCodeChars {
		return "", false
	}
	return out.String(), true
}

// queryCodeHash is what the database stores and looks up.
func queryCodeHash(canonical string) string {
	sum := sha256.Sum256([]byte("xinfang-query-code\x00" + canonical))
	return hex.EncodeToString(sum[:])
}
