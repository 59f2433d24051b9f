package kafkatransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"xinfang.io/services/kit/tracing"
)

// Delivery is one fetched message of a batch with the context of its own
// consumer span (a child of the message's producer span, linked to it, with
// its baggage), so work done for that message — logs, events it causes —
// stays in the message's trace.
type Delivery struct {
	Message kafka.Message
	Context context.Context
}

// BatchHandler handles a run of fetched messages at once, which lets a
// consumer apply many messages in one database transaction.
//
// HandleBatch must be all or nothing: nil means every message is done (the
// offsets are committed); an error means none of them took effect. The
// consumer then hands each message of the batch, in order, to Handle — the
// one-message path with its retries and dead letters — so a poison message
// is dead-lettered alone and the others apply.
type BatchHandler interface {
	Handler
	HandleBatch(ctx context.Context, batch []Delivery) error
}

// BatchConsumerConfig configures a BatchConsumer.
type BatchConsumerConfig struct {
	ConsumerConfig
	// MaxBatch bounds the messages of one batch (default 500).
	MaxBatch int
	// Linger is how long a batch waits for a next message (default 1ms):
	// while messages keep coming (catching up) the batch fills; once the
	// consumer has caught up, a message waits at most Linger for company.
	Linger time.Duration
	// Window bounds how long a batch collects after its first message
	// (default 200ms), so a steady trickle cannot hold a batch open.
	Window time.Duration
}

// BatchConsumer is a Consumer that hands runs of messages to a
// BatchHandler: fetch up to MaxBatch messages (waiting at most Linger for
// more after the first), handle them in one call, commit their offsets.
// Messages keep their fetch order within the batch, so one partition's
// messages (one case's events) are handled in order.
type BatchConsumer struct {
	c        *Consumer
	h        BatchHandler
	maxBatch int
	linger   time.Duration
	window   time.Duration

	sizes     *prometheus.HistogramVec
	fallbacks *prometheus.CounterVec
}

// NewBatchConsumer builds a batch consumer. It shares the metrics of
// Consumer (consumed, duration, lag, dead letters, retries) and adds the
// batch size and the count of batches that fell back to one message at a
// time.
func NewBatchConsumer(cfg BatchConsumerConfig, h BatchHandler, dlq *kafka.Writer, reg prometheus.Registerer, log *slog.Logger) (*BatchConsumer, error) {
	c, err := NewConsumer(cfg.ConsumerConfig, h, dlq, reg, log)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = time.Millisecond
	}
	if cfg.Window <= 0 {
		cfg.Window = 200 * time.Millisecond
	}
	b := &BatchConsumer{
		c: c, h: h, maxBatch: cfg.MaxBatch, linger: cfg.Linger, window: cfg.Window,
		sizes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xinfang_kafka_consume_batch_messages",
			Help:    "Messages per batch handed to a batch handler.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"group"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_kafka_consume_batch_fallbacks_total",
			Help: "Batches whose handling failed and whose messages were then handled one at a time.",
		}, []string{"group"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{b.sizes, b.fallbacks} {
			if err := reg.Register(col); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, fmt.Errorf("new batch consumer: register metrics: %w", err)
				}
				switch col {
				case b.sizes:
					b.sizes = are.ExistingCollector.(*prometheus.HistogramVec)
				case b.fallbacks:
					b.fallbacks = are.ExistingCollector.(*prometheus.CounterVec)
				}
			}
		}
	}
	return b, nil
}

// Run consumes until ctx is cancelled, then finishes the in-flight batch
// (for at most DrainTimeout), flushes pending commits and leaves the group.
// A batch whose handling was cut short is not committed and is redelivered.
func (b *BatchConsumer) Run(ctx context.Context) error {
	c := b.c
	defer c.reader.Close()
	work := context.WithoutCancel(ctx)
	for {
		msgs, err := b.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consumer %s: fetch: %w", c.cfg.Reader.GroupID, err)
		}
		hctx, cancel := context.WithCancel(work)
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(c.cfg.DrainTimeout, cancel) })
		done, err := b.handle(hctx, ctx, work, msgs)
		stop()
		cancel()
		if err != nil {
			return err
		}
		if !done {
			return nil // shutting down mid-batch; the rest is redelivered later
		}
	}
}

// fetch waits for one message, then takes those that follow with gaps of
// at most Linger, for at most Window, at most MaxBatch messages.
func (b *BatchConsumer) fetch(ctx context.Context) ([]kafka.Message, error) {
	c := b.c
	first, err := c.reader.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := []kafka.Message{first}
	wctx, cancel := context.WithTimeout(ctx, b.window)
	defer cancel()
	for len(msgs) < b.maxBatch {
		lctx, stop := context.WithTimeout(wctx, b.linger)
		m, err := c.reader.FetchMessage(lctx)
		stop()
		if err != nil {
			// A gap longer than the linger, the window is over (or a reader
			// error, which the next fetch reports): handle what we have.
			break
		}
		msgs = append(msgs, m)
	}
	c.lastFetch.Store(time.Now().UnixNano())
	// Lag from the last message of each partition.
	last := map[string]kafka.Message{}
	for _, m := range msgs {
		last[m.Topic+"\x00"+strconv.Itoa(m.Partition)] = m
	}
	for _, m := range last {
		c.lag.WithLabelValues(c.cfg.Reader.GroupID, m.Topic, strconv.Itoa(m.Partition)).
			Set(float64(max(m.HighWaterMark-m.Offset-1, 0)))
	}
	return msgs, nil
}

// handle runs one batch and commits it. When the batch fails, each message
// goes through the one-message path (retries, dead letter) and is committed
// after it. It returns false when shutdown interrupted it; an error only
// when a commit failed.
func (b *BatchConsumer) handle(ctx, runCtx, work context.Context, msgs []kafka.Message) (bool, error) {
	c := b.c
	group := c.cfg.Reader.GroupID
	start := time.Now()
	b.sizes.WithLabelValues(group).Observe(float64(len(msgs)))
	for _, m := range msgs {
		c.observeDelay(m, start)
	}

	// One span per message, each a child of its producer's span (so a case
	// stays one trace) and linked to it; and one span for the batch linked
	// to every producer, under which the handler's shared work runs.
	deliveries := make([]Delivery, len(msgs))
	spans := make([]trace.Span, len(msgs))
	links := make([]trace.Link, 0, len(msgs))
	for i, m := range msgs {
		sctx, span, psc := c.startSpan(ctx, m, attribute.Int("messaging.batch.message_count", len(msgs)))
		if psc.IsValid() {
			links = append(links, trace.Link{SpanContext: psc})
		}
		deliveries[i] = Delivery{Message: m, Context: sctx}
		spans[i] = span
	}
	bctx, bspan := c.tracer.Start(ctx, "process batch", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...), trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", group),
			attribute.Int("messaging.batch.message_count", len(msgs)),
		))
	err := b.h.HandleBatch(bctx, deliveries)
	elapsed := time.Since(start).Seconds()
	if err == nil {
		bspan.End()
		for i, m := range msgs {
			spans[i].End()
			c.consumed.WithLabelValues(group, m.Topic, "ok").Inc()
			c.duration.WithLabelValues(group, m.Topic).Observe(elapsed)
		}
		if err := c.reader.CommitMessages(work, msgs...); err != nil {
			return false, fmt.Errorf("consumer %s: commit a batch of %d: %w", group, len(msgs), err)
		}
		return true, nil
	}
	bspan.RecordError(err)
	bspan.SetStatus(codes.Error, "batch failed; messages handled one at a time")
	bspan.End()
	for _, s := range spans {
		s.SetStatus(codes.Error, "batch failed; handled again on its own")
		s.End()
	}
	if ctx.Err() != nil {
		return false, nil // cut short by shutdown: redelivered later
	}
	b.fallbacks.WithLabelValues(group).Inc()
	c.log.WarnContext(bctx, "batch failed, handling its messages one at a time", "messages", len(msgs), "error", err)
	for _, m := range msgs {
		if !c.handle(ctx, runCtx, m) {
			return false, nil
		}
		if err := c.reader.CommitMessages(work, m); err != nil {
			return false, fmt.Errorf("consumer %s: commit %s/%d@%d: %w", group, m.Topic, m.Partition, m.Offset, err)
		}
	}
	return true, nil
}

// LastFetch is when the consumer last received a message (zero if never).
func (b *BatchConsumer) LastFetch() time.Time { return b.c.LastFetch() }

// Stats exposes the reader's statistics (lag, rebalances, errors).
func (b *BatchConsumer) Stats() kafka.ReaderStats { return b.c.Stats() }

// Decoded is one message of a batch after decoding: the endpoint request
// and the context of the message's own consumer span.
type Decoded struct {
	Context context.Context
	Request any
}

// BatchSubscriber is the batch counterpart of Subscriber: it decodes every
// message of a batch and calls the batch endpoint once with a []Decoded, in
// fetch order. Its one-message path (Handle, the fallback) is a Subscriber
// on the single endpoint. A message that cannot be decoded fails the batch
// (permanently), so the fallback dead-letters it alone.
type BatchSubscriber struct {
	*Subscriber
	batch endpoint.Endpoint
}

// NewBatchSubscriber returns a BatchHandler serving single (one message)
// and batch (a []Decoded request).
func NewBatchSubscriber(single, batch endpoint.Endpoint, dec DecodeMessageFunc) *BatchSubscriber {
	return &BatchSubscriber{Subscriber: NewSubscriber(single, dec), batch: batch}
}

// HandleBatch decodes the messages and calls the batch endpoint.
func (s *BatchSubscriber) HandleBatch(ctx context.Context, batch []Delivery) error {
	reqs := make([]Decoded, len(batch))
	for i, d := range batch {
		req, err := s.dec(d.Context, d.Message)
		if err != nil {
			return Permanent(fmt.Errorf("decode %s/%d@%d: %w", d.Message.Topic, d.Message.Partition, d.Message.Offset, err))
		}
		reqs[i] = Decoded{Context: d.Context, Request: req}
	}
	_, err := s.batch(ctx, reqs)
	return err
}

// startSpan starts the consumer span of one message: a child of the
// producer's span carried in the headers, linked to it. It returns the
// producer's span context (invalid when the message carries none).
func (c *Consumer) startSpan(ctx context.Context, msg kafka.Message, extra ...attribute.KeyValue) (context.Context, trace.Span, trace.SpanContext) {
	parent, psc := tracing.ExtractProducer(ctx, msg.Headers)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if psc.IsValid() {
		// Parented on the producer (one trace per case) and linked to it, as
		// the messaging conventions recommend for consumers.
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: psc}))
	}
	sctx, span := c.tracer.Start(parent, "process "+msg.Topic, opts...)
	if span.IsRecording() { // the attributes cost more than the span
		span.SetAttributes(append([]attribute.KeyValue{
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", msg.Topic),
			attribute.String("messaging.consumer.group.name", c.cfg.Reader.GroupID),
			attribute.Int("messaging.destination.partition.id", msg.Partition),
			attribute.Int64("messaging.kafka.offset", msg.Offset),
			attribute.String("messaging.message.id", Header(msg, HeaderEventID)),
			attribute.String("event.type", Header(msg, HeaderEventType)),
			tracing.CaseIDKey.String(string(msg.Key)),
		}, extra...)...)
	}
	return sctx, span, psc
}
