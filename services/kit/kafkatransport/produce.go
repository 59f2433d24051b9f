package kafkatransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// produceNow writes msgs at once, without kafka-go's Writer. The Writer holds
// every partial batch for its BatchTimeout before sending it, and a
// synchronous caller such as the outbox relay, which hands over everything it
// has, only ever waits that linger out: 2 ms a hop, two hops before a routing
// decision is visible. The relay batches by itself (the rows committed while
// a publish is in flight make its next run), so here nothing waits.
//
// A message goes to the partition the Writer would choose (its balancer over
// the topic's partitions), so a case keeps its partition across this change.
// The partitions are grouped by their leader and each leader gets one produce
// request carrying all of them, in parallel across leaders: a Kafka producer's
// request, where the Writer sends one request per partition. A partition
// gets at most one record batch a request (the Writer's BatchSize messages,
// maxBatchBytes); what is beyond it follows in the next request. A partition whose
// write fails with a retriable error (a leader change, a broken connection) is
// sent again after a backoff, up to the Writer's MaxAttempts; the others are
// not sent twice. Publish fails if any partition does; its caller retries the
// whole call and consumers drop the duplicates.
func (p *Publisher) produceNow(ctx context.Context, msgs []kafka.Message) error {
	parts, meta, err := p.assign(ctx, msgs)
	if err != nil {
		return err
	}
	// A partition's messages beyond one record batch go in later waves, in
	// order: wave n+1 is sent once wave n is written.
	for wave := 0; len(parts) > 0; wave++ {
		var now, later []*partitionWrite
		for _, pw := range parts {
			if pw.wave == wave {
				now = append(now, pw)
			} else {
				later = append(later, pw)
			}
		}
		if meta, err = p.write(ctx, msgs, now, meta); err != nil {
			return err
		}
		parts = later
	}
	return nil
}

// write sends parts (at most one per partition), retrying the refused ones,
// and returns the metadata it last used.
func (p *Publisher) write(ctx context.Context, msgs []kafka.Message, parts []*partitionWrite, meta *metadataAPI.Response) (*metadataAPI.Response, error) {
	w := p.w
	var topics []string // of the parts, for a retry's fresh metadata
	attempts := w.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	var err error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, backoff(attempt, w.WriteBackoffMin, w.WriteBackoffMax)); err != nil {
				return meta, err
			}
			if topics == nil {
				for _, pw := range parts {
					if !slices.Contains(topics, pw.topic) {
						topics = append(topics, pw.topic)
					}
				}
			}
			if meta, err = p.metadata(ctx, topics); err != nil {
				if attempt+1 < attempts && retriable(ctx, err) {
					continue
				}
				return meta, err
			}
		}
		if err := leaders(meta, parts); err != nil {
			if attempt+1 < attempts {
				continue
			}
			return meta, err
		}
		p.sendAll(ctx, msgs, parts)
		pending := parts[:0]
		var failed *partitionWrite
		for _, pw := range parts {
			if pw.err == nil {
				continue
			}
			if !retriable(ctx, pw.err) {
				return meta, pw.failure()
			}
			failed = pw
			pending = append(pending, pw)
		}
		if len(pending) == 0 {
			return meta, nil
		}
		if attempt+1 >= attempts {
			return meta, failed.failure()
		}
		parts = pending
	}
}

// maxBatchBytes bounds the records sent to one partition in one request,
// under Kafka's default message.max.bytes (1,048,588 bytes a record batch):
// a relay run of large petitions for a few cases would otherwise be refused
// as too large on every retry. recordBytes over-estimates a record's
// encoded size, so the bound holds with the batch's own header.
const maxBatchBytes = 1_000_000

func recordBytes(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 32 // lengths, attributes, offset and time deltas
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// partitionWrite is one topic partition's share of a Publish call.
type partitionWrite struct {
	topic     string
	partition int32
	wave      int // the partition's n-th record batch of the call
	bytes     int // recordBytes of msgs
	leader    int32
	msgs      []int32 // indexes into the call's messages, in order
	err       error
}

func (pw *partitionWrite) failure() error {
	return fmt.Errorf("produce %d messages to %s partition %d: %w", len(pw.msgs), pw.topic, pw.partition, pw.err)
}

// assign chooses each message's partition and groups the messages by it, in
// record batches of at most the Writer's BatchSize messages and
// maxBatchBytes.
func (p *Publisher) assign(ctx context.Context, msgs []kafka.Message) ([]*partitionWrite, *metadataAPI.Response, error) {
	var topics []string
	for i := range msgs {
		t := msgs[i].Topic
		if t == "" {
			return nil, nil, errors.New("message without a topic")
		}
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	meta, err := p.metadata(ctx, topics)
	if err != nil {
		return nil, nil, err
	}
	balancer := p.w.Balancer
	if balancer == nil {
		balancer = &kafka.RoundRobin{}
	}
	type key struct {
		topic     string
		partition int32
	}
	byKey := make(map[key]*partitionWrite, 4)
	var parts []*partitionWrite
	maxCount := p.w.BatchSize
	if maxCount <= 0 {
		maxCount = 100 // kafka-go's default
	}
	for i := range msgs {
		m := &msgs[i]
		m.Partition = balancer.Balance(*m, partitionList(len(topicOf(meta, m.Topic).Partitions))...)
		k := key{m.Topic, int32(m.Partition)}
		size := recordBytes(m)
		pw := byKey[k]
		if pw == nil || len(pw.msgs) >= maxCount || pw.bytes+size > maxBatchBytes {
			next := &partitionWrite{topic: k.topic, partition: k.partition}
			if pw != nil {
				next.wave = pw.wave + 1
			}
			pw = next
			byKey[k] = pw
			parts = append(parts, pw)
		}
		pw.msgs = append(pw.msgs, int32(i))
		pw.bytes += size
	}
	return parts, meta, nil
}

// metadata reads topics from the transport's cache (refreshed every
// MetadataTTL, as for the Writer) and refuses a topic the cluster does not
// have.
func (p *Publisher) metadata(ctx context.Context, topics []string) (*metadataAPI.Response, error) {
	r, err := p.transport().RoundTrip(ctx, p.w.Addr, &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata of %v: %w", topics, err)
	}
	meta, ok := r.(*metadataAPI.Response)
	if !ok {
		return nil, fmt.Errorf("metadata of %v: unexpected response %T", topics, r)
	}
	for _, name := range topics {
		t := topicOf(meta, name)
		switch {
		case t == nil:
			return nil, fmt.Errorf("topic %s: %w", name, kafka.UnknownTopicOrPartition)
		case t.ErrorCode != 0:
			return nil, fmt.Errorf("topic %s: %w", name, kafka.Error(t.ErrorCode))
		case len(t.Partitions) == 0:
			return nil, fmt.Errorf("topic %s has no partitions: %w", name, kafka.UnknownTopicOrPartition)
		}
	}
	return meta, nil
}

func topicOf(meta *metadataAPI.Response, name string) *metadataAPI.ResponseTopic {
	for i := range meta.Topics {
		if meta.Topics[i].Name == name {
			return &meta.Topics[i]
		}
	}
	return nil
}

func (p *Publisher) transport() kafka.RoundTripper {
	if p.w.Transport != nil {
		return p.w.Transport
	}
	return kafka.DefaultTransport
}

// leaders sets the leader of each partition to write from meta.
func leaders(meta *metadataAPI.Response, parts []*partitionWrite) error {
	for _, pw := range parts {
		pw.leader, pw.err = -1, nil
		if t := topicOf(meta, pw.topic); t != nil {
			for _, part := range t.Partitions {
				if part.PartitionIndex == pw.partition && part.ErrorCode == 0 {
					pw.leader = part.LeaderID
				}
			}
		}
		if pw.leader < 0 {
			return fmt.Errorf("%s partition %d: %w", pw.topic, pw.partition, kafka.LeaderNotAvailable)
		}
	}
	return nil
}

// sendAll sends one produce request per leader, in parallel, and records each
// partition's outcome in its partitionWrite and the written messages' offsets.
func (p *Publisher) sendAll(ctx context.Context, msgs []kafka.Message, parts []*partitionWrite) {
	// By leader, then topic: a request names each of its topics once.
	sort.SliceStable(parts, func(i, j int) bool {
		if parts[i].leader != parts[j].leader {
			return parts[i].leader < parts[j].leader
		}
		return parts[i].topic < parts[j].topic
	})
	var wg sync.WaitGroup
	for start := 0; start < len(parts); {
		end := start + 1
		for end < len(parts) && parts[end].leader == parts[start].leader {
			end++
		}
		group := parts[start:end]
		if start == 0 && end == len(parts) {
			p.send(ctx, msgs, group) // one leader, the usual case: no goroutine
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.send(ctx, msgs, group)
		}()
		start = end
	}
	wg.Wait()
}

// send writes the partitions of one leader in one produce request.
func (p *Publisher) send(ctx context.Context, msgs []kafka.Message, group []*partitionWrite) {
	timeout := p.w.WriteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := &produceAPI.Request{Acks: int16(p.w.RequiredAcks), Timeout: int32(timeout / time.Millisecond)}
	for _, pw := range group {
		rp := produceAPI.RequestPartition{Partition: pw.partition}
		rp.RecordSet.Records = &messageRecords{msgs: msgs, idx: pw.msgs}
		if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == pw.topic {
			req.Topics[n-1].Partitions = append(req.Topics[n-1].Partitions, rp)
		} else {
			req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: pw.topic, Partitions: []produceAPI.RequestPartition{rp}})
		}
	}
	fail := func(err error) {
		for _, pw := range group {
			pw.err = err
		}
	}
	p.requests.Inc()
	r, err := p.transport().RoundTrip(ctx, p.w.Addr, req)
	if err != nil {
		fail(err)
		return
	}
	res, ok := r.(*produceAPI.Response)
	if !ok {
		fail(fmt.Errorf("unexpected produce response %T", r))
		return
	}
	for _, pw := range group {
		pw.err = fmt.Errorf("no answer for the partition: %w", kafka.RequestTimedOut)
		for _, t := range res.Topics {
			if t.Topic != pw.topic {
				continue
			}
			for _, rp := range t.Partitions {
				if rp.Partition != pw.partition {
					continue
				}
				if rp.ErrorCode != 0 {
					pw.err = kafka.Error(rp.ErrorCode)
					continue
				}
				pw.err = nil
				for k, i := range pw.msgs {
					msgs[i].Offset = rp.BaseOffset + int64(k)
				}
			}
		}
	}
}

// retriable is what kafka-go's Writer retries: temporary Kafka errors and
// broken connections; also a connection that could not be made or timed
// out, and a request the transport could not route because its metadata
// changed under it (a partition without a leader, or leaders that no longer
// match the grouping).
func retriable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var temp interface{ Temporary() bool }
	if errors.As(err, &temp) && temp.Temporary() {
		return true
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		return false
	}
	var routing *produceAPI.Error
	if errors.As(err, &routing) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// backoff is kafka-go's: attempt² × min, at most max.
func backoff(attempt int, min, max time.Duration) time.Duration {
	if min <= 0 {
		min = 100 * time.Millisecond
	}
	if max <= 0 {
		max = time.Second
	}
	d := time.Duration(attempt*attempt) * min
	if d > max {
		d = max
	}
	return d
}

// partitionList is 0…n-1, the form a kafka.Balancer takes, shared between
// calls as the Writer shares its own.
func partitionList(n int) []int {
	if l, _ := partitionsCache.Load().([]int); len(l) >= n {
		return l[:n]
	}
	l := make([]int, (n/128+1)*128)
	for i := range l {
		l[i] = i
	}
	partitionsCache.Store(l)
	return l[:n]
}

var partitionsCache atomic.Value

// messageRecords reads a partition's messages as records without copying
// them, as the Writer's own reader does.
type messageRecords struct {
	msgs       []kafka.Message
	idx        []int32
	next       int
	record     kafka.Record
	key, value bytesReadCloser
}

func (r *messageRecords) ReadRecord() (*kafka.Record, error) {
	if r.next >= len(r.idx) {
		return nil, io.EOF
	}
	m := &r.msgs[r.idx[r.next]]
	r.next++
	r.record = kafka.Record{Time: m.Time, Headers: m.Headers}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.record.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.record.Value = &r.value
	}
	return &r.record, nil
}

type bytesReadCloser struct{ bytes.Reader }

func (*bytesReadCloser) Close() error { return nil }
