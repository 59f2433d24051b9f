package kafkatransport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates the topics that do not exist yet. In a cluster the
// operator provisions topics; services call this in dev mode and tests.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	client, done := newClient(brokers, 10*time.Second)
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
// exists; it is the readiness check of a service's Kafka side.
func CheckTopics(ctx context.Context, brokers []string, topics ...string) error {
	client, done := newClient(brokers, 5*time.Second)
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

// newClient returns an admin client with a transport of its own: kafka-go's
// shared DefaultTransport keeps a pooled connection that, after a broker
// restart, fails the next call with "unexpected EOF".
func newClient(brokers []string, timeout time.Duration) (*kafka.Client, func()) {
	tr := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections
}
