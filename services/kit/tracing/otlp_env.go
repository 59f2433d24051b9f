package tracing

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// otlpSettings are the OTLP/HTTP exporter's settings, read from the
// standard OTEL_EXPORTER_OTLP_* variables (the TRACES_ variant of each
// overrides the general one), as the OpenTelemetry specification defines
// them for OTLP/HTTP.
type otlpSettings struct {
	url      string // where spans are POSTed
	headers  map[string]string
	gzip     bool
	timeout  time.Duration // per request
	tls      *tls.Config   // nil: the system roots, no client certificate
	maxBody  int           // largest request sent, before compression
	maxReply int64         // largest response body read
}

const (
	otlpTracesPath      = "/v1/traces"
	otlpDefaultTimeout  = 10 * time.Second
	otlpMaxRequestSize  = 64 << 20
	otlpMaxResponseSize = 4 << 20
)

// otlpSettingsFromEnv reads the exporter's settings. Unlike the upstream
// exporter, which logs a malformed setting and carries on without it, a
// malformed setting is an error: a service should not start exporting to
// the wrong place, or without the certificate it was given, and fail every
// export later.
func otlpSettingsFromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (otlpSettings, error) {
	get := func(name string) (string, string) {
		if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_" + name)); v != "" {
			return "OTEL_EXPORTER_OTLP_TRACES_" + name, v
		}
		return "OTEL_EXPORTER_OTLP_" + name, strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_" + name))
	}
	s := otlpSettings{timeout: otlpDefaultTimeout, maxBody: otlpMaxRequestSize, maxReply: otlpMaxResponseSize}

	if name, v := get("PROTOCOL"); v != "" && v != "http/protobuf" {
		return s, fmt.Errorf("%s=%q: the services export OTLP over HTTP with protobuf only (http/protobuf)", name, v)
	}

	// The signal's own endpoint is used as it is; the general one is a base
	// URL the signal's path is appended to.
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); v != "" {
		u, err := otlpURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v)
		if err != nil {
			return s, err
		}
		if u.Path == "" {
			u.Path = "/"
		}
		s.url = u.String()
	} else if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		u, err := otlpURL("OTEL_EXPORTER_OTLP_ENDPOINT", v)
		if err != nil {
			return s, err
		}
		u.Path = path.Join("/", u.Path, otlpTracesPath)
		s.url = u.String()
	} else {
		return s, fmt.Errorf("no OTLP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	}

	if name, v := get("HEADERS"); v != "" {
		h, err := otlpHeaders(v)
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		s.headers = h
	}
	if name, v := get("COMPRESSION"); v != "" {
		switch v {
		case "gzip":
			s.gzip = true
		case "none":
		default:
			return s, fmt.Errorf("%s=%q: want gzip or none", name, v)
		}
	}
	if name, v := get("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return s, fmt.Errorf("%s=%q: want a positive number of milliseconds", name, v)
		}
		s.timeout = time.Duration(ms) * time.Millisecond
	}

	var tc tls.Config
	if name, v := get("CERTIFICATE"); v != "" {
		pem, err := readFile(v)
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return s, fmt.Errorf("%s: no PEM certificate in %s", name, v)
		}
		tc.RootCAs = pool
	}
	certName, cert := get("CLIENT_CERTIFICATE")
	keyName, key := get("CLIENT_KEY")
	if (cert == "") != (key == "") {
		return s, fmt.Errorf("%s and %s must be set together", certName, keyName)
	}
	if cert != "" {
		certPEM, err := readFile(cert)
		if err != nil {
			return s, fmt.Errorf("%s: %w", certName, err)
		}
		keyPEM, err := readFile(key)
		if err != nil {
			return s, fmt.Errorf("%s: %w", keyName, err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return s, fmt.Errorf("%s, %s: %w", certName, keyName, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if tc.RootCAs != nil || tc.Certificates != nil {
		if strings.HasPrefix(s.url, "http:") {
			return s, fmt.Errorf("OTLP endpoint %s is plain HTTP but a TLS certificate is configured", s.url)
		}
		s.tls = &tc
	}
	return s, nil
}

// otlpURL parses an endpoint, which for OTLP/HTTP is a URL whose scheme
// says whether TLS is used.
func otlpURL(name, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: want an http:// or https:// URL", name, v)
	}
	return u, nil
}

// otlpHeaders parses "key1=value1,key2=value2"; values are percent-decoded
// (W3C baggage format, as the specification says).
func otlpHeaders(v string) (map[string]string, error) {
	h := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !validHeaderName(k) {
			return nil, fmt.Errorf("%q is not a key=value header", pair)
		}
		dec, err := url.PathUnescape(val)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", k, err)
		}
		h[k] = strings.TrimSpace(dec)
	}
	return h, nil
}

// validHeaderName reports whether k is an HTTP token (RFC 9110).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
