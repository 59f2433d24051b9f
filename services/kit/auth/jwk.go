package auth

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
)

func rsaFromJWK(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		return nil, errors.New("modulus is not base64url")
	}
	eb, err := base64.RawURLEncoding.DecodeString(e)
	if err != nil {
		return nil, errors.New("exponent is not base64url")
	}
	exp := new(big.Int).SetBytes(eb)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31 {
		return nil, errors.New("exponent out of range")
	}
	mod := new(big.Int).SetBytes(nb)
	if mod.BitLen() < 2048 {
		return nil, errors.New("modulus shorter than 2048 bits")
	}
	return &rsa.PublicKey{N: mod, E: int(exp.Int64())}, nil
}
