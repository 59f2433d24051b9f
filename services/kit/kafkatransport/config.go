package kafkatransport

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterConfig tunes the producer. Zero values take the defaults noted.
type WriterConfig struct {
	Brokers []string
	// BatchTimeout bounds how long a partial batch waits (default 2ms). kafka-go's
	// own default of 1s puts ~330ms on the median latency.
	BatchTimeout time.Duration
	// BatchSize is the most messages per batch (default 64). kafka-go
	// allocates room for BatchSize messages with every batch, however few
	// it carries: at 500 that was 76 KB per produce request, two fifths of
	// intake's allocations at load. The outbox relay's writes of up to 256
	// rows spread over the partitions rarely put more than 64 on one.
	BatchSize int
	// WriteTimeout bounds one write (default 10s).
	WriteTimeout time.Duration
	// Security is TLS and SASL (nil: plaintext, no authentication).
	Security *Security
	// Topics the writer produces to (all when empty). The writer's metadata
	// covers these only: a kafka-go transport otherwise fetches the metadata
	// of every topic in the cluster on each refresh (every 2 s here) — with a
	// thousand counties on one Kafka, tens of thousands of partitions, from
	// every pod.
	Topics []string
}

// NewWriter returns a writer with the project's safe settings: acks from all
// in-sync replicas (kafka-go's literal default is none), hash partitioning on
// the key (the case id, so one case stays on one partition, in order), and no
// automatic topic creation (topics are provisioned, not guessed).
func NewWriter(c WriterConfig) *kafka.Writer {
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 2 * time.Millisecond
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	return &kafka.Writer{
		Addr: kafka.TCP(c.Brokers...),
		// A transport of its own: kafka-go's shared DefaultTransport caches
		// metadata for 6s across all writers, so a topic created meanwhile
		// (by the operator, or EnsureTopics) stays "unknown" to every writer.
		Transport:       c.Security.transport(&kafka.Transport{MetadataTTL: 2 * time.Second, DialTimeout: 5 * time.Second, MetadataTopics: c.Topics}),
		Balancer:        &kafka.Hash{},
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    c.BatchTimeout,
		BatchSize:       c.BatchSize,
		BatchBytes:      16 << 20,
		WriteTimeout:    c.WriteTimeout,
		ReadTimeout:     c.WriteTimeout,
		MaxAttempts:     10,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: time.Second,
	}
}

// ReaderConfig tunes a consumer group member. Zero values take the defaults.
type ReaderConfig struct {
	Brokers []string
	GroupID string
	Topics  []string
	// MaxWait bounds a fetch's wait for data (default 2s). A fetch returns
	// as soon as a record arrives, so it costs no latency; what it sets is
	// how often an idle partition is asked again: kafka-go keeps 1s of its
	// MaxWait for the round trip (a quarter below 1s), so the broker holds
	// each fetch 1s — one request a second per partition idle instead of
	// five at 250ms (an idle county's broker CPU 2.0–2.7% → 0.5%, with the
	// 1s heartbeat; docs/benchmarks.md §3). Closing the reader and a
	// rebalance wait for the fetch in flight: kafka-go's 10s would make
	// them take ~9s.
	MaxWait time.Duration
	// CommitInterval batches offset commits (default 100ms). Commits after a
	// crash are redone by redelivery, which the inbox makes harmless.
	CommitInterval time.Duration
	// SessionTimeout is how soon a dead member's partitions move (default 6s).
	SessionTimeout time.Duration
	// Security is TLS and SASL (nil: plaintext, no authentication).
	Security *Security
}

// NewReader returns a consumer-group reader with tuned group timings: a
// rebalance takes a second or two (the heartbeat and the fetch in flight)
// instead of kafka-go's ~9s.
func NewReader(c ReaderConfig) *kafka.Reader {
	if c.MaxWait == 0 {
		c.MaxWait = 2 * time.Second
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 100 * time.Millisecond
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 6 * time.Second
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:          c.Brokers,
		Dialer:           c.Security.dialer(10 * time.Second),
		GroupID:          c.GroupID,
		GroupTopics:      c.Topics,
		MinBytes:         1,
		MaxBytes:         16 << 20,
		MaxWait:          c.MaxWait,
		ReadBatchTimeout: c.MaxWait,
		CommitInterval:   c.CommitInterval,
		// A member learns of a rebalance from a heartbeat's answer: 1s keeps
		// rebalances at about a second and an idle group to one request a
		// second (session timeout 6s).
		HeartbeatInterval:      time.Second,
		RebalanceTimeout:       2 * time.Second,
		JoinGroupBackoff:       100 * time.Millisecond,
		SessionTimeout:         c.SessionTimeout,
		StartOffset:            kafka.FirstOffset,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
	})
}
