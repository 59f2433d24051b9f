package kafkatransport

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// scramMechanism is the SASL SCRAM-SHA-256 / SCRAM-SHA-512 client (RFC 5802,
// RFC 7677) as Kafka speaks it. kafka-go's sasl/scram wraps xdg-go/scram,
// whose SASLprep tables are built on the heap at start (136 KB, 2 ms) in
// every service whether SCRAM is configured or not, and which with its
// dependencies is 0.3 MB of each binary. Kafka itself does not SASLprep
// (its Java client and broker hash the password's UTF-8 bytes), so neither
// does this client; for the ASCII credentials Kafka deployments use the
// two are identical.
type scramMechanism struct {
	name     string
	hash     func() hash.Hash
	user     string
	password string
	// nonce returns the client nonce; tests fix it.
	nonce func() (string, error)
}

var _ sasl.Mechanism = scramMechanism{}

func newSCRAM(mechanism, user, password string) scramMechanism {
	h := sha256.New
	if mechanism == "SCRAM-SHA-512" {
		h = sha512.New
	}
	return scramMechanism{name: mechanism, hash: h, user: user, password: password, nonce: randomNonce}
}

func randomNonce() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("scram nonce: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// Name is the mechanism's name in Kafka's SASL handshake.
func (m scramMechanism) Name() string { return m.name }

// Start sends the client-first message: no channel binding, no authzid.
func (m scramMechanism) Start(context.Context) (sasl.StateMachine, []byte, error) {
	nonce, err := m.nonce()
	if err != nil {
		return nil, nil, err
	}
	// "=" and "," in the user name are escaped (RFC 5802 §5.1).
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(m.user)
	s := &scramSession{m: m, nonce: nonce, clientFirstBare: "n=" + user + ",r=" + nonce}
	return s, []byte("n,," + s.clientFirstBare), nil
}

// scramSession is one connection's exchange.
type scramSession struct {
	m               scramMechanism
	nonce           string
	clientFirstBare string
	serverSignature []byte // expected in server-final; nil until client-final is sent
}

// Next answers server-first with client-final, then checks server-final:
// the server proves it knows the password too.
func (s *scramSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	if s.serverSignature == nil {
		final, err := s.clientFinal(string(challenge))
		return false, []byte(final), err
	}
	attrs := scramAttrs(string(challenge))
	if e, ok := attrs["e"]; ok {
		return false, nil, fmt.Errorf("scram: the broker refused the authentication: %s", e)
	}
	v, err := base64.StdEncoding.DecodeString(attrs["v"])
	if err != nil || !hmac.Equal(v, s.serverSignature) {
		return false, nil, errors.New("scram: the broker's signature is wrong: it does not know the password (or the exchange was tampered with)")
	}
	return true, nil, nil
}

func (s *scramSession) clientFinal(serverFirst string) (string, error) {
	attrs := scramAttrs(serverFirst)
	if _, ok := attrs["m"]; ok {
		return "", errors.New("scram: the broker requires an extension this client does not support")
	}
	serverNonce := attrs["r"]
	if !strings.HasPrefix(serverNonce, s.nonce) || len(serverNonce) == len(s.nonce) {
		return "", errors.New("scram: the broker's nonce does not extend the client's")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil || len(salt) == 0 {
		return "", fmt.Errorf("scram: bad salt %q from the broker", attrs["s"])
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil || iter < 1 {
		return "", fmt.Errorf("scram: bad iteration count %q from the broker", attrs["i"])
	}
	salted, err := pbkdf2.Key(s.m.hash, s.m.password, salt, iter, s.m.hash().Size())
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	clientKey := s.hmac(salted, "Client Key")
	h := s.m.hash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	withoutProof := "c=biws,r=" + serverNonce // biws: base64 of the GS2 header "n,,"
	authMessage := s.clientFirstBare + "," + serverFirst + "," + withoutProof
	proof := s.hmac(storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSignature = s.hmac(s.hmac(salted, "Server Key"), authMessage)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scramSession) hmac(key []byte, msg string) []byte {
	mac := hmac.New(s.m.hash, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// scramAttrs splits "a=1,b=2" (values may contain "=").
func scramAttrs(msg string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(msg, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, seen := out[k]; !seen {
				out[k] = v
			}
		}
	}
	return out
}
