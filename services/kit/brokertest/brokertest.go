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
