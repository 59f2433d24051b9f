package tracing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var readFile = os.ReadFile

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSigned writes a client certificate and its key, returning the files.
func selfSigned(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "client.pem", "CERTIFICATE", der), writePEM(t, "client.key", "PRIVATE KEY", keyDER)
}

// TestOTLPSettings: the standard variables mean what the OpenTelemetry
// specification says for OTLP/HTTP, the TRACES_ variant of each wins, and
// the defaults are otlptracehttp's.
func TestOTLPSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		url     string
		headers map[string]string
		gzip    bool
		timeout time.Duration
	}{
		{name: "base endpoint gets the signal path",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"},
			url: "http://otel:4318/v1/traces", timeout: 10 * time.Second},
		{name: "base endpoint with a path",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw.example/otlp/"},
			url: "https://gw.example/otlp/v1/traces", timeout: 10 * time.Second},
		{name: "signal endpoint is used as it is and wins",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/ingest"},
			url: "http://traces:9999/ingest", timeout: 10 * time.Second},
		{name: "signal endpoint without a path posts to /",
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999"},
			url: "http://traces:9999/", timeout: 10 * time.Second},
		{name: "headers, compression, timeout; signal settings win",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
				"OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=x%3Dy", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "c=3",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			url: "http://otel:4318/v1/traces", headers: map[string]string{"c": "3"}, gzip: true, timeout: 2500 * time.Millisecond},
		{name: "percent-decoded header values",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=x%3Dy"},
			url: "http://otel:4318/v1/traces", headers: map[string]string{"a": "1", "b": "x=y"}, timeout: 10 * time.Second},
		{name: "signal compression none overrides gzip",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"},
			url: "http://otel:4318/v1/traces", timeout: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := otlpSettingsFromEnv(mapEnv(tc.env), readFile)
			if err != nil {
				t.Fatal(err)
			}
			if s.url != tc.url || s.gzip != tc.gzip || s.timeout != tc.timeout || len(s.headers) != len(tc.headers) || s.tls != nil {
				t.Errorf("got url %s gzip %v timeout %s headers %v tls %v", s.url, s.gzip, s.timeout, s.headers, s.tls)
			}
			for k, v := range tc.headers {
				if s.headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, s.headers[k], v)
				}
			}
		})
	}
}

// TestOTLPSettingsErrors: a setting that cannot be followed stops the
// service at start with the variable's name, instead of exporting nowhere.
func TestOTLPSettingsErrors(t *testing.T) {
	badCert := writePEM(t, "ca.pem", "CERTIFICATE", []byte("not a certificate, but PEM"))
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("no PEM here"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "http://otel:4318"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "no OTLP endpoint"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://otel:4317"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_HEADERS": "bad key=1"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": garbage}, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": badCert}, "must be set together"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": badCert, "OTEL_EXPORTER_OTLP_CLIENT_KEY": garbage}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
	} {
		_, err := otlpSettingsFromEnv(mapEnv(tc.env), readFile)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.env, err, tc.want)
		}
	}
	// A CA on a plain-HTTP endpoint is a contradiction, not silently unused.
	certFile, _ := selfSigned(t, "ca")
	_, err := otlpSettingsFromEnv(mapEnv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_CERTIFICATE": certFile}), readFile)
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("CA with an http endpoint: %v", err)
	}
}
