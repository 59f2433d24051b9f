package kafkatransport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// SecurityConfig says how a service protects and authenticates its Kafka
// connections: files and names, as the configuration (XINFANG_KAFKA_TLS*,
// XINFANG_KAFKA_SASL_*) gives them. In a cluster the operator mounts the
// County's Kafka credentials Secret and sets these; secrets are read from
// files, never taken from flags or plain variables.
type SecurityConfig struct {
	// TLS turns TLS on; a CA or client certificate file implies it.
	TLS bool
	// CAFile is a PEM bundle of the brokers' CAs (default: the system roots).
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key (mutual
	// TLS); both or neither.
	CertFile, KeyFile string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no
	// SASL).
	SASLMechanism string
	SASLUsername  string
	// SASLPasswordFile holds the password (a trailing newline is ignored).
	SASLPasswordFile string
}

// Security is a built SecurityConfig. The zero value, and nil, are
// plaintext without authentication (the dev broker).
type Security struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// SASLMechanisms are the mechanisms SecurityConfig accepts.
var SASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// Build reads the files and returns the TLS configuration and SASL
// mechanism; every problem is reported at once, naming the setting.
func (c SecurityConfig) Build() (*Security, error) {
	var errs []error
	s := &Security{}
	if c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" {
		s.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			pool := x509.NewCertPool()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("XINFANG_KAFKA_TLS_CA_FILE: %w", err))
			case !pool.AppendCertsFromPEM(pem):
				errs = append(errs, fmt.Errorf("XINFANG_KAFKA_TLS_CA_FILE %s: no PEM certificate in it", c.CAFile))
			default:
				s.TLS.RootCAs = pool
			}
		}
		switch {
		case (c.CertFile == "") != (c.KeyFile == ""):
			errs = append(errs, errors.New("XINFANG_KAFKA_TLS_CERT_FILE and XINFANG_KAFKA_TLS_KEY_FILE: set both or neither"))
		case c.CertFile != "":
			pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("XINFANG_KAFKA_TLS_CERT_FILE/XINFANG_KAFKA_TLS_KEY_FILE: %w", err))
			} else {
				s.TLS.Certificates = []tls.Certificate{pair}
			}
		}
	}
	mech := strings.ToUpper(strings.TrimSpace(c.SASLMechanism))
	if mech == "" {
		if c.SASLUsername != "" || c.SASLPasswordFile != "" {
			errs = append(errs, errors.New("XINFANG_KAFKA_SASL_USERNAME/XINFANG_KAFKA_SASL_PASSWORD_FILE set without XINFANG_KAFKA_SASL_MECHANISM"))
		}
		return s, errors.Join(errs...)
	}
	if c.SASLUsername == "" {
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_SASL_MECHANISM=%s needs XINFANG_KAFKA_SASL_USERNAME", mech))
	}
	var pass string
	if c.SASLPasswordFile == "" {
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_SASL_MECHANISM=%s needs XINFANG_KAFKA_SASL_PASSWORD_FILE", mech))
	} else if b, err := os.ReadFile(c.SASLPasswordFile); err != nil {
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_SASL_PASSWORD_FILE: %w", err))
	} else {
		pass = strings.TrimRight(string(b), "\r\n")
	}
	switch mech {
	case "PLAIN":
		s.SASL = plain.Mechanism{Username: c.SASLUsername, Password: pass}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		s.SASL = newSCRAM(mech, c.SASLUsername, pass)
	default:
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_SASL_MECHANISM=%q: want one of %s", c.SASLMechanism, strings.Join(SASLMechanisms, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Security) tlsConfig() *tls.Config {
	if s == nil || s.TLS == nil {
		return nil
	}
	return s.TLS.Clone() // kafka-go sets ServerName on it per broker
}

func (s *Security) mechanism() sasl.Mechanism {
	if s == nil {
		return nil
	}
	return s.SASL
}

// transport is a kafka-go Transport (writers, admin clients) with the
// security settings.
func (s *Security) transport(tr *kafka.Transport) *kafka.Transport {
	tr.TLS, tr.SASL = s.tlsConfig(), s.mechanism()
	return tr
}

// dialer is a kafka-go Dialer (readers) with the security settings.
func (s *Security) dialer(timeout time.Duration) *kafka.Dialer {
	return &kafka.Dialer{Timeout: timeout, DualStack: true, TLS: s.tlsConfig(), SASLMechanism: s.mechanism()}
}

// securityOf is the security of a writer made by NewWriter (nil for any
// other).
func securityOf(w *kafka.Writer) *Security {
	if w == nil {
		return nil
	}
	tr, ok := w.Transport.(*kafka.Transport)
	if !ok || (tr.TLS == nil && tr.SASL == nil) {
		return nil
	}
	return &Security{TLS: tr.TLS, SASL: tr.SASL}
}
