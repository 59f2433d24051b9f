package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"xinfang.io/operator/api/v1alpha1"
)

// Keys of the Secret named by spec.kafka.secretRef (in the operator's
// namespace). All are optional:
//
//	tls            "true" to use TLS with the system roots
//	ca.crt         PEM CA bundle (implies TLS)
//	tls.crt/tls.key PEM client certificate and key (implies TLS)
//	sasl.mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
//	sasl.username, sasl.password
const (
	KafkaSecretTLS       = "tls"
	KafkaSecretCA        = "ca.crt"
	KafkaSecretCert      = "tls.crt"
	KafkaSecretKey       = "tls.key"
	KafkaSecretMechanism = "sasl.mechanism"
	KafkaSecretUsername  = "sasl.username"
	KafkaSecretPassword  = "sasl.password"
)

// KafkaConn is how the operator reaches one county's Kafka for topic
// administration.
type KafkaConn struct {
	Brokers []string
	TLS     *tls.Config
	SASL    sasl.Mechanism
}

// kafkaConn resolves the County's Kafka connection, with the TLS/SASL
// settings of its Secret when it names one (credentials.go).
func (r *CountyReconciler) kafkaConn(ctx context.Context, c *v1alpha1.County) (*KafkaConn, error) {
	conn := &KafkaConn{Brokers: c.Spec.Kafka.BootstrapServers}
	if c.Spec.Kafka.SecretRef == nil {
		return conn, nil
	}
	ks, err := r.kafkaSecret(ctx, c)
	if err != nil {
		return nil, err
	}
	conn.TLS, conn.SASL = ks.tls, ks.sasl
	return conn, nil
}

// KafkaSecurity reads TLS and SASL settings from a Secret's data.
func KafkaSecurity(data map[string][]byte) (*tls.Config, sasl.Mechanism, error) {
	var tc *tls.Config
	if string(data[KafkaSecretTLS]) == "true" || len(data[KafkaSecretCA]) > 0 || len(data[KafkaSecretCert]) > 0 {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := data[KafkaSecretCA]; len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, nil, fmt.Errorf("%s holds no PEM certificate", KafkaSecretCA)
			}
			tc.RootCAs = pool
		}
		if cert := data[KafkaSecretCert]; len(cert) > 0 {
			pair, err := tls.X509KeyPair(cert, data[KafkaSecretKey])
			if err != nil {
				return nil, nil, fmt.Errorf("%s/%s: %w", KafkaSecretCert, KafkaSecretKey, err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
	}
	user, pass := string(data[KafkaSecretUsername]), string(data[KafkaSecretPassword])
	var mech sasl.Mechanism
	switch m := strings.ToUpper(string(data[KafkaSecretMechanism])); m {
	case "":
		if user != "" {
			return nil, nil, fmt.Errorf("%s is set without %s", KafkaSecretUsername, KafkaSecretMechanism)
		}
	case "PLAIN":
		mech = plain.Mechanism{Username: user, Password: pass}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if m == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		var err error
		if mech, err = scram.Mechanism(algo, user, pass); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", KafkaSecretMechanism, err)
		}
	default:
		return nil, nil, fmt.Errorf("%s %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", KafkaSecretMechanism, m)
	}
	return tc, mech, nil
}

// client is an admin client with a transport of its own: kafka-go's shared
// DefaultTransport keeps pooled connections across counties and brokers,
// and a pooled connection to a restarted broker fails the next call. Its
// metadata covers the county's topics only: by default a kafka-go transport
// starts by fetching the metadata of every topic in the cluster, which with
// a thousand counties sharing one Kafka (30,000 partitions) is megabytes
// per call, decoded — most of the operator's allocations at that scale.
func (k *KafkaConn) client(timeout time.Duration, topics []string) (*kafka.Client, func()) {
	tr := &kafka.Transport{TLS: k.TLS, SASL: k.SASL, DialTimeout: timeout, IdleTimeout: time.Second, MetadataTopics: topics}
	return &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections
}

// EnsureTopics creates the topics that do not exist yet; an existing topic is
// left as it is (its partition count included: adding partitions would move
// case ids to other partitions and break per-case ordering).
func EnsureTopics(ctx context.Context, k *KafkaConn, timeout time.Duration, partitions, replication int, topics []string) error {
	if len(k.Brokers) == 0 {
		return errors.New("no bootstrap servers")
	}
	cl, done := k.client(timeout, topics)
	defer done()
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, t := range topics {
		if err := resp.Errors[t]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// DeleteTopics deletes the topics; one that does not exist is fine, and so
// is one whose deletion the controller accepted but did not finish within
// the request's timeout (RequestTimedOut: Kafka goes on deleting it).
func DeleteTopics(ctx context.Context, k *KafkaConn, timeout time.Duration, topics []string) error {
	if len(k.Brokers) == 0 {
		return errors.New("no bootstrap servers")
	}
	cl, done := k.client(timeout, topics)
	defer done()
	resp, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	var errs []error
	for _, t := range topics {
		if err := resp.Errors[t]; err != nil && !deletionAccepted(err) {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// deletionAccepted: a topic deletion answered with err needs no retry.
func deletionAccepted(err error) bool {
	return errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, kafka.RequestTimedOut)
}
