package config

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultPorts are the local HTTP ports of the services (dev broker: 19092).
var DefaultPorts = map[string]int{"intake": 8081, "routing": 8082, "supervision": 8083, "statistics": 8084}

// Base is the configuration every service shares.
type Base struct {
	Service    string
	County     string
	CountyFile string
	HTTPAddr   string
	Brokers    []string
	// Kafka TLS and SASL (kafkatransport.SecurityConfig): secrets come from
	// files (in a cluster, the operator's mount of the County's Kafka
	// credentials Secret), never from flags or plain variables.
	KafkaTLS              bool
	KafkaTLSCAFile        string
	KafkaTLSCertFile      string
	KafkaTLSKeyFile       string
	KafkaSASLMechanism    string
	KafkaSASLUsername     string
	KafkaSASLPasswordFile string
	CreateTopics          bool
	TopicPartitions       int
	KafkaBatch            time.Duration
	DBDriver              string
	DBDSN                 string
	DBGenericPlans        bool
	LogLevel              string
	LogFormat             string
	ShutdownTimeout       time.Duration
	// Staff token verification: exactly one key source for services with
	// staff endpoints.
	AuthHS256SecretFile    string
	AuthRS256PublicKeyFile string
	AuthJWKS               string
	AuthIssuer             string
	// Dev clock (make demo only): speed 1 is real time.
	DevClockSpeed int
	DevClockStart string
	DevClockEpoch string
	// DebugAddr serves net/http/pprof on its own listener when set; never on
	// the API port, so profiling cannot be reached through an ingress.
	DebugAddr string
	// LogOutput receives the logs (os.Stderr when nil); tests capture them.
	LogOutput io.Writer
}

// Register adds the shared settings to s for service.
func (b *Base) Register(s *Set, service string) {
	b.Service = service
	port := DefaultPorts[service]
	if port == 0 {
		port = 8080
	}
	s.String(&b.County, "county", "XINFANG_COUNTY", "", "county id (the County resource's name); defaults to the county file's")
	s.String(&b.CountyFile, "county-file", "XINFANG_COUNTY_FILE", "operator/config/samples/county_anji.yaml", "county configuration: a County manifest or a bare spec, hot-reloaded")
	s.String(&b.HTTPAddr, "http-addr", "XINFANG_HTTP_ADDR", fmt.Sprintf("127.0.0.1:%d", port), "HTTP listen address (API, /healthz, /readyz, /metrics)")
	s.List(&b.Brokers, "kafka-brokers", "XINFANG_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers")
	s.Bool(&b.KafkaTLS, "kafka-tls", "XINFANG_KAFKA_TLS", false, "connect to Kafka over TLS (system roots unless XINFANG_KAFKA_TLS_CA_FILE); a CA or client certificate file implies it")
	s.String(&b.KafkaTLSCAFile, "kafka-tls-ca-file", "XINFANG_KAFKA_TLS_CA_FILE", "", "PEM file of the CAs that sign the brokers' certificates")
	s.String(&b.KafkaTLSCertFile, "kafka-tls-cert-file", "XINFANG_KAFKA_TLS_CERT_FILE", "", "PEM file of the client certificate (mutual TLS; with XINFANG_KAFKA_TLS_KEY_FILE)")
	s.String(&b.KafkaTLSKeyFile, "kafka-tls-key-file", "XINFANG_KAFKA_TLS_KEY_FILE", "", "PEM file of the client certificate's key")
	s.String(&b.KafkaSASLMechanism, "kafka-sasl-mechanism", "XINFANG_KAFKA_SASL_MECHANISM", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	s.String(&b.KafkaSASLUsername, "kafka-sasl-username", "XINFANG_KAFKA_SASL_USERNAME", "", "SASL user name")
	s.String(&b.KafkaSASLPasswordFile, "kafka-sasl-password-file", "XINFANG_KAFKA_SASL_PASSWORD_FILE", "", "file holding the SASL password (never a flag or variable of its own)")
	s.Bool(&b.CreateTopics, "kafka-create-topics", "XINFANG_KAFKA_CREATE_TOPICS", true, "create the county's topics at start when missing (the operator provisions them in clusters)")
	s.Int(&b.TopicPartitions, "kafka-partitions", "XINFANG_KAFKA_PARTITIONS", 6, "partitions of topics this service creates")
	s.Duration(&b.KafkaBatch, "kafka-batch-timeout", "XINFANG_KAFKA_BATCH_TIMEOUT", 2*time.Millisecond, "longest wait to fill a produce batch of dead letters (events are produced at once)")
	s.String(&b.DBDriver, "db-driver", "XINFANG_DB_DRIVER", "sqlite", "database: sqlite (embedded) or postgres")
	s.String(&b.DBDSN, "db-dsn", "XINFANG_DB_DSN", filepath.Join(".dev", service+".db"), "SQLite file path, or PostgreSQL URL (postgres://…)")
	// Statistics' reads are all keyed lookups whose generic plans are good
	// (their lists go as arrays): planning each run cost a PostgreSQL
	// dashboard query 0.1–0.7 ms (docs/benchmarks.md §5).
	s.Bool(&b.DBGenericPlans, "db-generic-plans", "XINFANG_DB_GENERIC_PLANS", service == "statistics",
		"PostgreSQL: plan each prepared statement once (plan_cache_mode=force_generic_plan) instead of on every run; on for statistics")
	s.String(&b.LogLevel, "log-level", "XINFANG_LOG_LEVEL", "info", "debug, info, warn or error")
	s.String(&b.LogFormat, "log-format", "XINFANG_LOG_FORMAT", "json", "json or text")
	s.Duration(&b.ShutdownTimeout, "shutdown-timeout", "XINFANG_SHUTDOWN_TIMEOUT", 15*time.Second, "how long a stop may take to drain requests and in-flight messages")
	s.String(&b.AuthHS256SecretFile, "auth-hs256-secret-file", "XINFANG_AUTH_HS256_SECRET_FILE", "", "file holding the HS256 secret (≥ 32 bytes) staff tokens are signed with (dev mode)")
	s.String(&b.AuthRS256PublicKeyFile, "auth-rs256-public-key-file", "XINFANG_AUTH_RS256_PUBLIC_KEY_FILE", "", "PEM file of the RS256 public key staff tokens are signed with")
	s.String(&b.AuthJWKS, "auth-jwks", "XINFANG_AUTH_JWKS", "", "JWKS URL (https://…) or file with the RS256 keys staff tokens are signed with (clusters)")
	s.String(&b.AuthIssuer, "auth-issuer", "XINFANG_AUTH_ISSUER", "", "required iss claim of staff tokens, when set")
	s.String(&b.DebugAddr, "debug-addr", "XINFANG_DEBUG_ADDR", "", "listen address of the Go profiler (/debug/pprof/), off when empty; keep it on loopback")
	s.Int(&b.DevClockSpeed, "dev-clock-speed", "XINFANG_DEV_CLOCK_SPEED", 1, "dev mode only, never in production: service time runs this many times faster than real time (make demo: 28800, a day every 3 s); needs the HS256 dev secret and is logged loudly")
	s.String(&b.DevClockStart, "dev-clock-start", "XINFANG_DEV_CLOCK_START", "", "dev mode only: the accelerated clock's starting time (RFC 3339); default now")
	s.String(&b.DevClockEpoch, "dev-clock-epoch", "XINFANG_DEV_CLOCK_EPOCH", "", "dev mode only: the real time (RFC 3339) at which the accelerated clock reads its start, so that every service agrees; default the process start")
}

var countyPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Validate checks the shared settings.
func (b *Base) Validate() error {
	var errs []error
	if b.County != "" && !countyPattern.MatchString(b.County) {
		errs = append(errs, fmt.Errorf("XINFANG_COUNTY=%q: must be a DNS label (lower-case letters, digits, '-')", b.County))
	}
	if len(b.Brokers) == 0 {
		errs = append(errs, errors.New("XINFANG_KAFKA_BROKERS: at least one broker is required"))
	}
	switch strings.ToUpper(b.KafkaSASLMechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", b.KafkaSASLMechanism))
	}
	if b.KafkaSASLMechanism != "" && (b.KafkaSASLUsername == "" || b.KafkaSASLPasswordFile == "") {
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_SASL_MECHANISM=%s: needs XINFANG_KAFKA_SASL_USERNAME and XINFANG_KAFKA_SASL_PASSWORD_FILE", b.KafkaSASLMechanism))
	}
	if (b.KafkaTLSCertFile == "") != (b.KafkaTLSKeyFile == "") {
		errs = append(errs, errors.New("XINFANG_KAFKA_TLS_CERT_FILE and XINFANG_KAFKA_TLS_KEY_FILE: set both or neither"))
	}
	if b.TopicPartitions < 1 {
		errs = append(errs, fmt.Errorf("XINFANG_KAFKA_PARTITIONS=%d: must be at least 1", b.TopicPartitions))
	}
	if b.DBDriver != "sqlite" && b.DBDriver != "postgres" {
		errs = append(errs, fmt.Errorf("XINFANG_DB_DRIVER=%q: want sqlite or postgres", b.DBDriver))
	}
	if b.DBDSN == "" {
		errs = append(errs, errors.New("XINFANG_DB_DSN: required"))
	}
	switch b.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("XINFANG_LOG_LEVEL=%q: want debug, info, warn or error", b.LogLevel))
	}
	if b.LogFormat != "json" && b.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("XINFANG_LOG_FORMAT=%q: want json or text", b.LogFormat))
	}
	if b.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("XINFANG_SHUTDOWN_TIMEOUT=%s: must be positive", b.ShutdownTimeout))
	}
	if b.DevClockSpeed < 0 {
		errs = append(errs, fmt.Errorf("XINFANG_DEV_CLOCK_SPEED=%d: must be at least 1 (1 is real time)", b.DevClockSpeed))
	} else if b.DevClockSpeed > 1 && (b.AuthHS256SecretFile == "" || b.AuthJWKS != "" || b.AuthRS256PublicKeyFile != "") {
		errs = append(errs, fmt.Errorf("XINFANG_DEV_CLOCK_SPEED=%d: an accelerated clock is for dev mode only (the HS256 dev secret), never production", b.DevClockSpeed))
	}
	for _, v := range []struct{ env, val string }{{"XINFANG_DEV_CLOCK_START", b.DevClockStart}, {"XINFANG_DEV_CLOCK_EPOCH", b.DevClockEpoch}} {
		if _, err := b.devTime(v.val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want an RFC 3339 time, e.g. 2026-11-23T08:30:00+08:00", v.env, v.val))
		}
	}
	return errors.Join(errs...)
}

// DevClock returns the dev clock's speed, start and epoch (zero times for
// defaults; speed 0, unset, is 1); Validate has checked them.
func (b *Base) DevClock() (speed int, start, epoch time.Time) {
	start, _ = b.devTime(b.DevClockStart)
	epoch, _ = b.devTime(b.DevClockEpoch)
	return max(b.DevClockSpeed, 1), start, epoch
}

func (b *Base) devTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}
