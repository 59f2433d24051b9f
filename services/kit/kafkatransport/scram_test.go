package kafkatransport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// rfc7677 is the SCRAM-SHA-256 exchange of RFC 7677 §3.
var rfc7677 = struct{ user, password, nonce, clientFirst, serverFirst, clientFinal, serverFinal string }{
	user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO",
	clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
}

func rfcSession(t *testing.T) (*scramSession, string) {
	t.Helper()
	m := newSCRAM("SCRAM-SHA-256", rfc7677.user, rfc7677.password)
	m.nonce = func() (string, error) { return rfc7677.nonce, nil }
	sm, first, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sm.(*scramSession), string(first)
}

// TestSCRAMRFC7677: the client produces the RFC's messages byte for byte
// and accepts the RFC's server signature.
func TestSCRAMRFC7677(t *testing.T) {
	s, first := rfcSession(t)
	if first != rfc7677.clientFirst {
		t.Fatalf("client-first %q, want %q", first, rfc7677.clientFirst)
	}
	done, final, err := s.Next(context.Background(), []byte(rfc7677.serverFirst))
	if err != nil || done {
		t.Fatalf("after server-first: done %v, err %v", done, err)
	}
	if string(final) != rfc7677.clientFinal {
		t.Fatalf("client-final %q, want %q", final, rfc7677.clientFinal)
	}
	done, resp, err := s.Next(context.Background(), []byte(rfc7677.serverFinal))
	if err != nil || !done || resp != nil {
		t.Fatalf("after server-final: done %v, response %q, err %v", done, resp, err)
	}
}

// TestSCRAMRefusesImpostors: a broker that does not know the password (a
// wrong server signature), that does not extend the client's nonce, or that
// reports an error ends the exchange with an error.
func TestSCRAMRefusesImpostors(t *testing.T) {
	s, _ := rfcSession(t)
	if _, _, err := s.Next(context.Background(), []byte(rfc7677.serverFirst)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next(context.Background(), []byte("v=AAAAZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")); err == nil {
		t.Error("a wrong server signature was accepted")
	}
	s, _ = rfcSession(t)
	if _, _, err := s.Next(context.Background(), []byte("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")); err == nil {
		t.Error("a server nonce not extending the client's was accepted")
	}
	s, _ = rfcSession(t)
	if _, _, err := s.Next(context.Background(), []byte(rfc7677.serverFirst)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next(context.Background(), []byte("e=invalid-proof")); err == nil || !strings.Contains(err.Error(), "invalid-proof") {
		t.Errorf("server error: %v", err)
	}
	m := newSCRAM("SCRAM-SHA-256", "a=b,c", "x")
	_, first, err := m.Start(context.Background())
	if err != nil || !strings.HasPrefix(string(first), "n,,n=a=3Db=2Cc,r=") {
		t.Errorf("escaped user name: %q %v", first, err)
	}
}

// TestSCRAMSHA512AgainstBroker: SCRAM-SHA-512 against kfake's independent
// server implementation; a wrong password is refused.
func TestSCRAMSHA512AgainstBroker(t *testing.T) {
	const password = "Pa55-w0rd/with+symbols="
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "xinfang", password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sec, err := SecurityConfig{SASLMechanism: "scram-sha-512", SASLUsername: "xinfang", SASLPasswordFile: passwordFile(t, password)}.Build()
	if err != nil {
		t.Fatal(err)
	}
	k := Cluster{Brokers: kc.ListenAddrs(), Security: sec}
	if err := k.EnsureTopics(ctx, 1, 1, "xinfang.sha512.petitions"); err != nil {
		t.Fatalf("create topic over SCRAM-SHA-512: %v", err)
	}
	wrong, err := SecurityConfig{SASLMechanism: "SCRAM-SHA-512", SASLUsername: "xinfang", SASLPasswordFile: passwordFile(t, "guess")}.Build()
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 10*time.Second)
	defer cancelShort()
	if err := (Cluster{Brokers: kc.ListenAddrs(), Security: wrong}).CheckTopics(short, "xinfang.sha512.petitions"); err == nil {
		t.Error("a wrong SCRAM-SHA-512 password was accepted")
	}
}
