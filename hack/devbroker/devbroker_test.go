package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"xinfang.io/hack/devbroker/brokertest"
)

// TestBrokerProcessSurvivesSIGKILL runs the broker the way dev mode and the
// process-level tests do: as its own binary, killed without warning.
func TestBrokerProcessSurvivesSIGKILL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	bin := brokertest.Build(t)
	dataDir := filepath.Join(t.TempDir(), "broker")
	port := brokertest.FreePort(t)
	const partitions = 3
	args := []string{
		"-listen", strconv.Itoa(port),
		"-data-dir", dataDir,
		"-partitions", strconv.Itoa(partitions),
		"-log-level", "debug",
	}

	b := brokertest.Start(ctx, t, bin, args...)
	if want := fmt.Sprintf("127.0.0.1:%d", port); b.Addr != want {
		t.Fatalf("ready file says %q, want %q", b.Addr, want)
	}

	const topic, group = "devbroker.test", "devbroker-test-group"
	// The topic is auto-created by the writer's metadata request, which is
	// how dev mode gets its topics, and the path where kfake on its own
	// forgets the topic after a SIGKILL (see autoCreateTopics).
	first := messages("first", 10)
	produce(ctx, t, b.Addr, topic, first)

	client := newClient(b.Addr)
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata for %s: %+v", topic, meta.Topics)
	}
	if got := len(meta.Topics[0].Partitions); got != partitions {
		t.Fatalf("auto-created topic has %d partitions, want %d from -partitions", got, partitions)
	}

	r := newGroupReader(b.Addr, topic, group)
	got := fetchAndCommit(ctx, t, r, len(first))
	if err := r.Close(); err != nil {
		t.Fatalf("closing reader: %v", err)
	}
	checkSame(t, got, first, partitions)

	// Produced after the commit: exactly these must come back to the group.
	second := messages("second", 5)
	produce(ctx, t, b.Addr, topic, second)

	b.Kill(t)
	b = brokertest.Start(ctx, t, bin, args...)
	client = newClient(b.Addr)

	var lastOffsets []kafka.OffsetRequest
	for p := range partitions {
		lastOffsets = append(lastOffsets, kafka.LastOffsetOf(p))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: lastOffsets},
	})
	if err != nil {
		t.Fatalf("list offsets after restart: %v", err)
	}
	var records int64
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets after restart, partition %d: %v", p.Partition, p.Error)
		}
		records += p.LastOffset
	}
	if want := int64(len(first) + len(second)); records != want {
		t.Fatalf("topic holds %d records after restart, want %d", records, want)
	}

	offsets, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: seq(partitions)},
	})
	if err != nil {
		t.Fatalf("offset fetch after restart: %v", err)
	}
	var committed int64
	for _, p := range offsets.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		committed += max(p.CommittedOffset, 0)
	}
	if committed != int64(len(first)) {
		t.Fatalf("committed offsets after restart add up to %d, want %d", committed, len(first))
	}

	r = newGroupReader(b.Addr, topic, group)
	got = fetchAndCommit(ctx, t, r, len(second))
	checkSame(t, got, second, partitions)
	// Anything more would mean the group's offsets were lost in the crash.
	extraCtx, extraCancel := context.WithTimeout(ctx, time.Second)
	m, err := r.FetchMessage(extraCtx)
	extraCancel()
	if err == nil {
		t.Fatalf("group got an already committed message after restart: key %q offset %d", m.Key, m.Offset)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch after the expected messages: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("closing reader: %v", err)
	}

	// A fresh group from the start proves the records themselves survived,
	// not just the offsets.
	r = newGroupReader(b.Addr, topic, group+"-fresh")
	got = fetchAndCommit(ctx, t, r, len(first)+len(second))
	if err := r.Close(); err != nil {
		t.Fatalf("closing reader: %v", err)
	}
	checkSame(t, got, append(append([]kafka.Message{}, first...), second...), partitions)

	b.Stop(t)
	if !strings.Contains(b.Stderr(), "broker stopped") {
		t.Fatal("broker did not log a clean stop after SIGTERM")
	}
}

// TestBrokerWithKcat checks the broker against an independent client, so a
// kafka-go quirk cannot hide a protocol bug.
func TestBrokerWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat is required in CI (hack/install-deps.sh installs it): %v", err)
		}
		t.Skipf("kcat not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	bin := brokertest.Build(t)
	const topic = "devbroker.kcat"
	b := brokertest.Start(ctx, t, bin,
		"-listen", strconv.Itoa(brokertest.FreePort(t)),
		"-data-dir", "",
		"-auto-create=false",
		"-topics", topic,
		"-partitions", "2",
	)

	msg := kafka.Message{
		Key:   []byte("county-7"),
		Value: []byte(`{"price":42}`),
		Headers: []kafka.Header{
			{Key: "trace-id", Value: []byte("abc123")},
			{Key: "schema", Value: []byte("v1")},
		},
	}
	produce(ctx, t, b.Addr, topic, []kafka.Message{msg})

	out := runKcat(ctx, t, kcat, "-b", b.Addr, "-L", "-t", topic)
	if want := fmt.Sprintf("topic %q with 2 partitions", topic); !strings.Contains(out, want) {
		t.Fatalf("kcat -L output lacks %q:\n%s", want, out)
	}

	out = runKcat(ctx, t, kcat, "-b", b.Addr, "-C", "-t", topic, "-o", "beginning", "-c", "1", "-e",
		"-f", "key=%k headers=%h value=%s\n")
	want := `key=county-7 headers=trace-id=abc123,schema=v1 value={"price":42}`
	if strings.TrimSpace(out) != want {
		t.Fatalf("kcat -C printed %q, want %q", out, want)
	}
}

func TestParseConfigFlagBeatsEnv(t *testing.T) {
	env := map[string]string{envPort: "20001", envDataDir: "/from/env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	cfg, err := parseConfig(nil, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != 20001 || cfg.dataDir != "/from/env" {
		t.Fatalf("env not applied: port %d, data dir %q", cfg.port, cfg.dataDir)
	}

	cfg, err = parseConfig([]string{"-listen", "20002", "-data-dir", "/from/flag"}, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != 20002 || cfg.dataDir != "/from/flag" {
		t.Fatalf("flags did not win: port %d, data dir %q", cfg.port, cfg.dataDir)
	}

	env[envDataDir] = ""
	cfg, err = parseConfig(nil, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.dataDir != "" {
		t.Fatalf("empty %s should mean in-memory, got data dir %q", envDataDir, cfg.dataDir)
	}

	cfg, err = parseConfig(nil, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != defaultPort || cfg.dataDir != defaultDataDir || cfg.partitions != 6 || !cfg.autoCreate {
		t.Fatalf("defaults changed: %+v", cfg)
	}

	env[envPort] = "nope"
	if _, err := parseConfig(nil, lookup, io.Discard); err == nil {
		t.Fatalf("bad %s accepted", envPort)
	}
}

func messages(batch string, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   fmt.Appendf(nil, "%s-key-%d", batch, i),
			Value: fmt.Appendf(nil, "%s value %d", batch, i),
			Headers: []kafka.Header{
				{Key: "batch", Value: []byte(batch)},
				{Key: "seq", Value: []byte(strconv.Itoa(i))},
			},
		}
	}
	return msgs
}

func produce(ctx context.Context, t *testing.T, addr, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{
		Addr:                   kafka.TCP(addr),
		Topic:                  topic,
		Transport:              &kafka.Transport{},
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: true,
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing %d messages to %s: %v", len(msgs), topic, err)
	}
}

// newClient gives each client its own Transport: kafka-go's DefaultTransport
// pools connections per address, and a pooled connection to the killed
// broker fails the first request after the restart with "unexpected EOF".
func newClient(addr string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
}

func newGroupReader(addr, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		Topic:             topic,
		GroupID:           group,
		StartOffset:       kafka.FirstOffset,
		MaxWait:           250 * time.Millisecond,
		HeartbeatInterval: 250 * time.Millisecond,
		RebalanceTimeout:  2 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
	})
}

func fetchAndCommit(ctx context.Context, t *testing.T, r *kafka.Reader, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []kafka.Message
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetched %d of %d messages: %v", len(got), n, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("committing offset %d of partition %d: %v", m.Offset, m.Partition, err)
		}
		got = append(got, m)
	}
	return got
}

// checkSame compares by key because partitions interleave in any order.
func checkSame(t *testing.T, got, want []kafka.Message, partitions int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	byKey := make(map[string]kafka.Message, len(want))
	for _, m := range want {
		byKey[string(m.Key)] = m
	}
	for _, m := range got {
		w, ok := byKey[string(m.Key)]
		if !ok {
			t.Fatalf("unexpected or duplicate message key %q (partition %d offset %d)", m.Key, m.Partition, m.Offset)
		}
		delete(byKey, string(m.Key))
		if !bytes.Equal(m.Value, w.Value) {
			t.Errorf("key %q: value %q, want %q", m.Key, m.Value, w.Value)
		}
		if h, wh := headerString(m.Headers), headerString(w.Headers); h != wh {
			t.Errorf("key %q: headers %s, want %s", m.Key, h, wh)
		}
		// The services rely on one key always landing on one partition
		// for per-entity ordering.
		if p := (&kafka.Hash{}).Balance(m, seq(partitions)...); m.Partition != p {
			t.Errorf("key %q is on partition %d, hash says %d", m.Key, m.Partition, p)
		}
	}
}

func headerString(hs []kafka.Header) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.Key + "=" + string(h.Value)
	}
	return strings.Join(parts, ",")
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func runKcat(ctx context.Context, t *testing.T, kcat string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
