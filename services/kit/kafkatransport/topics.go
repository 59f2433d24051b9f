package kafkatransport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Cluster is a Kafka cluster as a service reaches it: its bootstrap
// servers and the connection's security.
type Cluster struct {
	Brokers  []string
	Security *Security
}

// EnsureTopics creates the topics that do not exist yet. In a cluster the
// operator provisions topics; services call this in dev mode and tests.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	return Cluster{Brokers: brokers}.EnsureTopics(ctx, partitions, replication, topics...)
}

// CheckTopics reports an error unless the brokers answer and every topic
// exists; it is the readiness check of a service's Kafka side.
func CheckTopics(ctx context.Context, brokers []string, topics ...string) error {
	return Cluster{Brokers: brokers}.CheckTopics(ctx, topics...)
}

// EnsureTopics creates the topics that do not exist yet.
func (k Cluster) EnsureTopics(ctx context.Context, partitions, replication int, topics ...string) error {
	client, done := k.client(10*time.Second, topics)
	defer done()
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}

// CheckTopics reports an error unless the brokers answer and every topic
// exists.
func (k Cluster) CheckTopics(ctx context.Context, topics ...string) error {
	client, done := k.client(5*time.Second, topics)
	defer done()
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	found := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Error == nil {
			found[t.Name] = true
		}
	}
	for _, t := range topics {
		if !found[t] {
			return fmt.Errorf("kafka topic %s does not exist", t)
		}
	}
	return nil
}

// client returns an admin client with a transport of its own: kafka-go's
// shared DefaultTransport keeps a pooled connection that, after a broker
// restart, fails the next call with "unexpected EOF". Its metadata covers
// the topics at hand, not the whole cluster's (see WriterConfig.Topics).
func (k Cluster) client(timeout time.Duration, topics []string) (*kafka.Client, func()) {
	tr := k.Security.transport(&kafka.Transport{MetadataTopics: topics})
	return &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections
}
