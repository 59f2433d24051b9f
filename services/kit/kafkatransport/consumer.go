package kafkatransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Reader ReaderConfig
	// DeadLetterTopic receives messages that failed permanently or ran out of
	// attempts. Required: without it a poison message would block.
	DeadLetterTopic string
	// MaxAttempts bounds tries of a failing message (default 5).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the exponential backoff between tries
	// (defaults 50ms and 2s).
	BackoffMin, BackoffMax time.Duration
	// DrainTimeout bounds how long shutdown waits for the in-flight message
	// (default 10s).
	DrainTimeout time.Duration
}

// Consumer runs one consumer-group member: fetch, handle (with retries), dead
// letter when hopeless, commit. Messages are handled one at a time in fetch
// order, so one case's events (one partition) are applied in order.
type Consumer struct {
	cfg     ConsumerConfig
	reader  *kafka.Reader
	handler Handler
	dlq     *kafka.Writer
	log     *slog.Logger
	tracer  trace.Tracer
	sleep   func(context.Context, time.Duration) error

	consumed  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	delay     *prometheus.HistogramVec
	lag       *prometheus.GaugeVec
	deadLtrs  *prometheus.CounterVec
	retries   *prometheus.CounterVec
	lastFetch atomic.Int64
}

// NewConsumer builds a consumer. dlq writes the dead letters (it may be the
// service's publishing writer). Metrics register on reg when not nil.
func NewConsumer(cfg ConsumerConfig, h Handler, dlq *kafka.Writer, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	if cfg.DeadLetterTopic == "" {
		return nil, errors.New("new consumer: a dead-letter topic is required")
	}
	if cfg.Reader.GroupID == "" || len(cfg.Reader.Topics) == 0 {
		return nil, errors.New("new consumer: group id and topics are required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 50 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 2 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Reader.Security == nil {
		// The same connection security as the dead-letter writer (the
		// app's), so no consumer is left in plaintext on a secured Kafka.
		cfg.Reader.Security = securityOf(dlq)
	}
	c := &Consumer{
		cfg:     cfg,
		reader:  NewReader(cfg.Reader),
		handler: h,
		dlq:     dlq,
		log:     log.With("consumer_group", cfg.Reader.GroupID),
		tracer:  otel.Tracer(instrumentationName),
		sleep:   sleepCtx,
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_kafka_consumed_messages_total",
			Help: "Messages handled by a consumer group, by topic and outcome (ok, dead_letter).",
		}, []string{"group", "topic", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xinfang_kafka_consume_duration_seconds",
			Help:    "Time to handle one message including retries.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"group", "topic"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xinfang_kafka_consume_delay_seconds",
			Help: "Time from a message's publication (its record timestamp) to the start of its handling: " +
				"the broker, the fetch and the wait behind earlier messages.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"group", "topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xinfang_kafka_consumer_lag_messages",
			Help: "Messages behind the partition's high watermark at the last fetch.",
		}, []string{"group", "topic", "partition"}),
		deadLtrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_kafka_dead_letters_total",
			Help: "Messages sent to the dead-letter topic, by origin topic.",
		}, []string{"group", "topic"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_kafka_consume_retries_total",
			Help: "Retried handling attempts, by topic.",
		}, []string{"group", "topic"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{c.consumed, c.duration, c.delay, c.lag, c.deadLtrs, c.retries} {
			if err := reg.Register(col); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, fmt.Errorf("new consumer: register metrics: %w", err)
				}
				// Several consumers in one process share the vectors.
				switch col {
				case c.consumed:
					c.consumed = are.ExistingCollector.(*prometheus.CounterVec)
				case c.duration:
					c.duration = are.ExistingCollector.(*prometheus.HistogramVec)
				case c.delay:
					c.delay = are.ExistingCollector.(*prometheus.HistogramVec)
				case c.lag:
					c.lag = are.ExistingCollector.(*prometheus.GaugeVec)
				case c.deadLtrs:
					c.deadLtrs = are.ExistingCollector.(*prometheus.CounterVec)
				case c.retries:
					c.retries = are.ExistingCollector.(*prometheus.CounterVec)
				}
			}
		}
	}
	return c, nil
}

// Run consumes until ctx is cancelled, then finishes the in-flight message,
// flushes pending commits and leaves the group. A message whose handling was
// cut short is not committed and is redelivered later.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.reader.Close()
	// Work continues past cancellation for at most DrainTimeout so an
	// in-flight message completes instead of being half-applied and retried.
	work := context.WithoutCancel(ctx)
	for {
		msg, err := c.reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consumer %s: fetch: %w", c.cfg.Reader.GroupID, err)
		}
		now := time.Now()
		c.lastFetch.Store(now.UnixNano())
		c.observeDelay(msg, now)
		c.lag.WithLabelValues(c.cfg.Reader.GroupID, msg.Topic, strconv.Itoa(msg.Partition)).
			Set(float64(max(msg.HighWaterMark-msg.Offset-1, 0)))
		hctx, cancel := context.WithCancel(work)
		// On shutdown the in-flight message gets DrainTimeout to finish.
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(c.cfg.DrainTimeout, cancel) })
		done := c.handle(hctx, ctx, msg)
		stop()
		cancel()
		if !done {
			return nil // shutting down mid-retry; not committed, redelivered later
		}
		if err := c.reader.CommitMessages(work, msg); err != nil {
			return fmt.Errorf("consumer %s: commit %s/%d@%d: %w", c.cfg.Reader.GroupID, msg.Topic, msg.Partition, msg.Offset, err)
		}
	}
}

// handle runs the handler with retries, dead-lettering when hopeless. It
// returns false when shutdown interrupted it before the message was settled.
func (c *Consumer) handle(ctx, runCtx context.Context, msg kafka.Message) bool {
	start := time.Now()
	group := c.cfg.Reader.GroupID
	defer func() { c.duration.WithLabelValues(group, msg.Topic).Observe(time.Since(start).Seconds()) }()

	sctx, span, _ := c.startSpan(ctx, msg)
	defer span.End()

	var err error
	attempt := 0
	for attempt = 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		err = c.handler.Handle(sctx, msg)
		if err == nil {
			c.consumed.WithLabelValues(group, msg.Topic, "ok").Inc()
			return true
		}
		if IsPermanent(err) {
			break
		}
		if runCtx.Err() != nil {
			span.SetStatus(codes.Error, "interrupted by shutdown")
			return false
		}
		if attempt == c.cfg.MaxAttempts {
			break
		}
		c.retries.WithLabelValues(group, msg.Topic).Inc()
		c.log.WarnContext(sctx, "handling failed, will retry", "topic", msg.Topic, "partition", msg.Partition,
			"offset", msg.Offset, "attempt", attempt, "error", err)
		if c.sleep(runCtx, c.backoff(attempt)) != nil {
			return false
		}
	}
	attempts := min(attempt, c.cfg.MaxAttempts)
	span.RecordError(err)
	span.SetStatus(codes.Error, "dead-lettered")
	c.log.ErrorContext(sctx, "message dead-lettered", "topic", msg.Topic, "partition", msg.Partition,
		"offset", msg.Offset, "attempts", attempts, "event_id", Header(msg, HeaderEventID), "error", err)
	dl := DeadLetter(c.cfg.DeadLetterTopic, group, msg, attempts, err, time.Now())
	// The message must not be lost: keep trying the dead-letter write until it
	// succeeds or shutdown (then it is redelivered and tried again).
	for try := 1; ; try++ {
		werr := c.dlq.WriteMessages(ctx, dl)
		if werr == nil {
			break
		}
		c.log.ErrorContext(sctx, "dead-letter write failed", "try", try, "error", werr)
		if c.sleep(runCtx, c.backoff(try)) != nil {
			return false
		}
	}
	c.deadLtrs.WithLabelValues(group, msg.Topic).Inc()
	c.consumed.WithLabelValues(group, msg.Topic, "dead_letter").Inc()
	return true
}

func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffMin << (attempt - 1)
	if d <= 0 || d > c.cfg.BackoffMax {
		d = c.cfg.BackoffMax
	}
	return d
}

// LastFetch is when the consumer last received a message (zero if never).
func (c *Consumer) LastFetch() time.Time {
	n := c.lastFetch.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Stats exposes the reader's statistics (lag, rebalances, errors).
func (c *Consumer) Stats() kafka.ReaderStats { return c.reader.Stats() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// observeDelay records how long msg waited between its publication and the
// start of its handling. Messages without a record timestamp (published
// without one) are not counted.
func (c *Consumer) observeDelay(msg kafka.Message, start time.Time) {
	if msg.Time.Year() < 2000 {
		return
	}
	c.delay.WithLabelValues(c.cfg.Reader.GroupID, msg.Topic).Observe(max(start.Sub(msg.Time).Seconds(), 0))
}
