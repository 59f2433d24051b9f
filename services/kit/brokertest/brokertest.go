// Package brokertest gives tests a real Kafka-protocol broker: an in-process
// kfake cluster on a random loopback port, spoken to over TCP by kafka-go
// exactly as in production. When XINFANG_TEST_BROKERS is set (for example to
// the dev broker started by make bench), tests use that broker instead.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"xinfang.io/services/kit/kafkatransport"
)

// BrokersEnv names the variable that points tests at an external broker.
const BrokersEnv = "XINFANG_TEST_BROKERS"

// Start returns the bootstrap addresses of a broker for the test.
func Start(t testing.TB) []string {
	t.Helper()
	if ext := os.Getenv(BrokersEnv); ext != "" {
		return strings.Split(ext, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Topic creates a topic with a unique name and returns it.
func Topic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test." + strings.ToLower(strings.ReplaceAll(t.Name(), "/", ".")) + "." + hex.EncodeToString(b)
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := kafkatransport.EnsureTopics(ctx, brokers, partitions, 1, name); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// Messages reads every message of topic's first `partitions` partitions
// from the beginning, retrying until there are at least n (or a minute
// passes, which fails the test).
func Messages(t testing.TB, brokers []string, topic string, partitions, n int) []kafka.Message {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out []kafka.Message
		for p := 0; p < partitions; p++ {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 50 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					break
				}
				out = append(out, m)
			}
			cancel()
			r.Close()
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d messages, want %d", topic, len(out), n)
		}
	}
}
