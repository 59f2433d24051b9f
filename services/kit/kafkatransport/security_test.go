package kafkatransport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testPKI is a CA and a certificate it signed for 127.0.0.1 (the broker's,
// or a client's), as PEM files in a temp dir.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "xinfang test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	write := func(path, typ string, der []byte) []byte {
		b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return b
	}
	write(p.caFile, "CERTIFICATE", caDER)
	certPEM := write(p.certFile, "CERTIFICATE", der)
	keyPEM := write(p.keyFile, "EC PRIVATE KEY", keyDER)
	if p.server, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

func passwordFile(t *testing.T, pass string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "sasl.password")
	if err := os.WriteFile(f, []byte(pass+"\n"), 0o600); err != nil { // as a mounted Secret key may end
		t.Fatal(err)
	}
	return f
}

// The configuration becomes a TLS config and a SASL mechanism; what is
// wrong is reported naming the setting.
func TestSecurityConfigBuild(t *testing.T) {
	pki := newTestPKI(t)
	pass := passwordFile(t, "s3cret")

	s, err := SecurityConfig{}.Build()
	if err != nil || s.TLS != nil || s.SASL != nil {
		t.Fatalf("empty config: %+v %v, want plaintext", s, err)
	}
	s, err = SecurityConfig{TLS: true}.Build()
	if err != nil || s.TLS == nil || s.TLS.RootCAs != nil || s.SASL != nil {
		t.Fatalf("TLS with the system roots: %+v %v", s, err)
	}
	s, err = SecurityConfig{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile,
		SASLMechanism: "scram-sha-512", SASLUsername: "xinfang", SASLPasswordFile: pass}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if s.TLS == nil || s.TLS.RootCAs == nil || len(s.TLS.Certificates) != 1 || s.TLS.MinVersion != tls.VersionTLS12 {
		t.Errorf("a CA file implies TLS, with the CA and the client certificate: %+v", s.TLS)
	}
	if s.SASL == nil || s.SASL.Name() != "SCRAM-SHA-512" {
		t.Errorf("SASL %v, want SCRAM-SHA-512", s.SASL)
	}
	for _, m := range []string{"PLAIN", "SCRAM-SHA-256"} {
		s, err := SecurityConfig{SASLMechanism: m, SASLUsername: "xinfang", SASLPasswordFile: pass}.Build()
		if err != nil || s.SASL == nil || s.SASL.Name() != m || s.TLS != nil {
			t.Errorf("%s: %+v %v", m, s, err)
		}
	}

	for _, c := range []struct {
		cfg  SecurityConfig
		want []string
	}{
		{SecurityConfig{CAFile: filepath.Join(t.TempDir(), "missing.crt")}, []string{"XINFANG_KAFKA_TLS_CA_FILE"}},
		{SecurityConfig{CAFile: pass}, []string{"XINFANG_KAFKA_TLS_CA_FILE", "no PEM certificate"}},
		{SecurityConfig{CertFile: pki.certFile}, []string{"XINFANG_KAFKA_TLS_KEY_FILE", "both or neither"}},
		{SecurityConfig{CertFile: pki.caFile, KeyFile: pki.keyFile}, []string{"XINFANG_KAFKA_TLS_CERT_FILE"}},
		{SecurityConfig{SASLMechanism: "GSSAPI", SASLUsername: "u", SASLPasswordFile: pass}, []string{"XINFANG_KAFKA_SASL_MECHANISM", "GSSAPI"}},
		{SecurityConfig{SASLMechanism: "PLAIN"}, []string{"XINFANG_KAFKA_SASL_USERNAME", "XINFANG_KAFKA_SASL_PASSWORD_FILE"}},
		{SecurityConfig{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPasswordFile: filepath.Join(t.TempDir(), "nope")}, []string{"XINFANG_KAFKA_SASL_PASSWORD_FILE"}},
		{SecurityConfig{SASLUsername: "u"}, []string{"without XINFANG_KAFKA_SASL_MECHANISM"}},
	} {
		_, err := c.cfg.Build()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: err %v, want it to mention %q", c.cfg, err, w)
			}
		}
	}
}

// Against a Kafka-protocol broker (kfake) that requires TLS and SCRAM: the
// admin calls, the writer and a consumer-group reader all connect with the
// settings; a wrong password and a plaintext client are refused.
func TestTLSAndSCRAMAgainstBroker(t *testing.T) {
	pki := newTestPKI(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "xinfang", "s3cret"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	brokers := kc.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	sec, err := SecurityConfig{CAFile: pki.caFile, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "xinfang",
		SASLPasswordFile: passwordFile(t, "s3cret")}.Build()
	if err != nil {
		t.Fatal(err)
	}
	k := Cluster{Brokers: brokers, Security: sec}
	const topic = "xinfang.secure.petitions"
	if err := k.EnsureTopics(ctx, 1, 1, topic); err != nil {
		t.Fatalf("create topic over TLS+SCRAM: %v", err)
	}
	if err := k.CheckTopics(ctx, topic); err != nil {
		t.Fatalf("check topic over TLS+SCRAM: %v", err)
	}

	wrong, err := SecurityConfig{CAFile: pki.caFile, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "xinfang",
		SASLPasswordFile: passwordFile(t, "guess")}.Build()
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 10*time.Second)
	defer cancelShort()
	if err := (Cluster{Brokers: brokers, Security: wrong}).CheckTopics(short, topic); err == nil {
		t.Error("a wrong SCRAM password was accepted")
	}
	if err := (Cluster{Brokers: brokers}).CheckTopics(short, topic); err == nil {
		t.Error("a plaintext client without SASL was accepted")
	}

	w := NewWriter(WriterConfig{Brokers: brokers, Security: sec})
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte("case-1"), Value: []byte("registered")}); err != nil {
		t.Fatalf("write over TLS+SCRAM: %v", err)
	}
	// The Publisher speaks to the brokers through the writer's transport.
	pub := NewPublisher(NewWriter(WriterConfig{Brokers: brokers, Security: sec}), nil)
	defer pub.Close()
	if err := pub.Publish(ctx, kafka.Message{Topic: topic, Key: []byte("case-1"), Value: []byte("published")}); err != nil {
		t.Fatalf("publish over TLS+SCRAM: %v", err)
	}
	r := NewReader(ReaderConfig{Brokers: brokers, GroupID: "secure-test", Topics: []string{topic}, Security: sec})
	defer r.Close()
	var got []string
	for len(got) < 2 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume over TLS+SCRAM: %v", err)
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit over TLS+SCRAM: %v", err)
		}
	}
	if got[0] != "registered" || got[1] != "published" { // one key, one partition: in order
		t.Fatalf("read %q", got)
	}

	// A consumer without security of its own takes the writer's.
	if got := securityOf(w); got == nil || got.SASL == nil || got.TLS == nil {
		t.Errorf("securityOf(writer) = %+v", got)
	}
}
