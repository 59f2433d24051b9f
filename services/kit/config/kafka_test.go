package config

import (
	"strings"
	"testing"
)

// The Kafka TLS/SASL settings are read from the environment (the operator
// sets them in the Deployments) and checked together.
func TestKafkaSecuritySettings(t *testing.T) {
	b, err := parse(t, map[string]string{
		"XINFANG_KAFKA_TLS": "true", "XINFANG_KAFKA_TLS_CA_FILE": "/etc/xinfang-kafka/ca.crt",
		"XINFANG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "XINFANG_KAFKA_SASL_USERNAME": "anji",
		"XINFANG_KAFKA_SASL_PASSWORD_FILE": "/etc/xinfang-kafka/sasl.password",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !b.KafkaTLS || b.KafkaTLSCAFile != "/etc/xinfang-kafka/ca.crt" || b.KafkaSASLMechanism != "SCRAM-SHA-512" ||
		b.KafkaSASLUsername != "anji" || b.KafkaSASLPasswordFile != "/etc/xinfang-kafka/sasl.password" {
		t.Fatalf("settings: %+v", b)
	}
	for env, want := range map[string]map[string]string{
		"XINFANG_KAFKA_SASL_MECHANISM":     {"XINFANG_KAFKA_SASL_MECHANISM": "GSSAPI"},
		"XINFANG_KAFKA_SASL_PASSWORD_FILE": {"XINFANG_KAFKA_SASL_MECHANISM": "PLAIN", "XINFANG_KAFKA_SASL_USERNAME": "anji"},
		"XINFANG_KAFKA_TLS_KEY_FILE":       {"XINFANG_KAFKA_TLS_CERT_FILE": "/tls.crt"},
	} {
		if _, err := parse(t, want); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%v: err %v, want it to name %s", want, err, env)
		}
	}
}
