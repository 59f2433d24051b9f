package controller

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// startBroker starts an in-process Kafka (kfake) on a random loopback port;
// the code under test reaches it over TCP through kafka-go, as in a cluster.
func startBroker(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// brokerTopics returns the partition count of each topic that exists, as an
// independent metadata request sees it.
func brokerTopics(t testing.TB, brokers []string, topics []string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: tr}
	resp, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	out := map[string]int{}
	for _, tp := range resp.Topics {
		if tp.Error == nil {
			out[tp.Name] = len(tp.Partitions)
		}
	}
	return out
}

func TestTopicNames(t *testing.T) {
	got := TopicNames("anji")
	want := []string{"xinfang.anji.petitions", "xinfang.anji.routing", "xinfang.anji.cases", "xinfang.anji.alerts", "xinfang.anji.deadletter"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("topic %d: %s, want %s", i, got[i], want[i])
		}
	}
}

// Topics through the admin API against a real Kafka-protocol broker:
// created with the configured partitions, idempotent, deleted.
func TestTopicsAdminAPI(t *testing.T) {
	brokers := startBroker(t)
	ctx := context.Background()
	conn := &KafkaConn{Brokers: brokers}
	topics := TopicNames("anji")

	if got := brokerTopics(t, brokers, topics); len(got) != 0 {
		t.Fatalf("topics exist before provisioning: %v", got)
	}
	if err := EnsureTopics(ctx, conn, 5*time.Second, 6, -1, topics); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	got := brokerTopics(t, brokers, topics)
	if len(got) != len(topics) {
		t.Fatalf("after ensure: %v", got)
	}
	for _, tp := range topics {
		if got[tp] != 6 {
			t.Errorf("%s has %d partitions, want 6", tp, got[tp])
		}
	}

	// Second reconcile: nothing to do, no error; an existing topic keeps its
	// partitions even when the operator's default changed.
	if err := EnsureTopics(ctx, conn, 5*time.Second, 12, -1, topics); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	if again := brokerTopics(t, brokers, topics); again[topics[0]] != 6 || len(again) != len(topics) {
		t.Fatalf("second ensure changed the topics: %v", again)
	}

	// Another county's topics are not touched by this county's deletion.
	other := TopicNames("deqing")
	if err := EnsureTopics(ctx, conn, 5*time.Second, 1, -1, other); err != nil {
		t.Fatal(err)
	}
	if err := DeleteTopics(ctx, conn, 5*time.Second, topics); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if left := brokerTopics(t, brokers, topics); len(left) != 0 {
		t.Fatalf("after delete: %v", left)
	}
	if kept := brokerTopics(t, brokers, other); len(kept) != len(other) {
		t.Fatalf("deleting anji's topics removed deqing's: %v", kept)
	}
	// Deleting again (a retried finalizer) is fine.
	if err := DeleteTopics(ctx, conn, 5*time.Second, topics); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestTopicsUnreachableBroker(t *testing.T) {
	ctx := context.Background()
	err := EnsureTopics(ctx, &KafkaConn{Brokers: []string{"127.0.0.1:1"}}, time.Second, 6, -1, TopicNames("anji"))
	if err == nil {
		t.Fatal("no error from a broker that does not exist")
	}
	if err := EnsureTopics(ctx, &KafkaConn{}, time.Second, 6, -1, TopicNames("anji")); err == nil {
		t.Fatal("no error without bootstrap servers")
	}
}

func TestKafkaSecurity(t *testing.T) {
	tc, mech, err := KafkaSecurity(map[string][]byte{"sasl.mechanism": []byte("SCRAM-SHA-512"), "sasl.username": []byte("u"), "sasl.password": []byte("p"), "tls": []byte("true")})
	if err != nil || tc == nil || mech == nil || mech.Name() != "SCRAM-SHA-512" {
		t.Fatalf("scram+tls: %v %v %v", tc, mech, err)
	}
	tc, mech, err = KafkaSecurity(map[string][]byte{"sasl.mechanism": []byte("plain"), "sasl.username": []byte("u")})
	if err != nil || tc != nil || mech.Name() != "PLAIN" {
		t.Fatalf("plain: %v %v %v", tc, mech, err)
	}
	for name, data := range map[string]map[string][]byte{
		"unknown mechanism":       {"sasl.mechanism": []byte("GSSAPI")},
		"user without mechanism":  {"sasl.username": []byte("u")},
		"ca that is not PEM":      {"ca.crt": []byte("nope")},
		"certificate without key": {"tls.crt": []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")},
	} {
		if _, _, err := KafkaSecurity(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if tc, mech, err := KafkaSecurity(nil); tc != nil || mech != nil || err != nil {
		t.Fatalf("empty secret: %v %v %v", tc, mech, err)
	}
}

func TestRolloutGate(t *testing.T) {
	g := newRolloutGate(2)
	if !g.acquire("a") || !g.acquire("a") || !g.acquire("b") {
		t.Fatal("two slots not granted")
	}
	if g.acquire("c") {
		t.Fatal("third county got a slot")
	}
	g.release("a")
	if !g.acquire("c") {
		t.Fatal("freed slot not granted")
	}
	h := g.holders()
	sort.Strings(h)
	if len(h) != 2 || h[0] != "b" || h[1] != "c" {
		t.Fatalf("holders %v", h)
	}
	unlimited := newRolloutGate(0)
	for _, c := range []string{"a", "b", "c", "d"} {
		if !unlimited.acquire(c) {
			t.Fatal("unlimited gate refused")
		}
	}
}
