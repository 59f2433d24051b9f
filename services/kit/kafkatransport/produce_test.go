package kafkatransport_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
)

// threeBrokers starts a kfake cluster of three brokers, so that a topic's
// partitions have different leaders.
func threeBrokers(t *testing.T) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// produceRequests reads the publisher's request counter from reg.
func produceRequests(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "xinfang_kafka_produce_requests_total" {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	t.Fatal("xinfang_kafka_produce_requests_total not registered")
	return 0
}

func casesMessages(topic string, cases, each int) []kafka.Message {
	var msgs []kafka.Message
	for j := 0; j < each; j++ {
		for i := 0; i < cases; i++ {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("case-%d", i)),
				Value: []byte(fmt.Sprintf("case-%d/%d", i, j))})
		}
	}
	return msgs
}

// A published message lands where kafka-go's Writer would have put it (a case
// keeps its partition, so its events stay in order across the change), once,
// at the partition and offset Publish reports; a case's messages keep their
// order; and each leader gets one produce request for the whole call.
func TestPublishPartitionsAsTheWriterDoesInOneRequestPerLeader(t *testing.T) {
	c, brokers := threeBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const partitions, cases, each = 6, 40, 3
	viaWriter := brokertest.Topic(t, brokers, partitions)
	viaPublisher := brokertest.Topic(t, brokers, partitions)

	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	defer w.Close()
	if err := w.WriteMessages(ctx, casesMessages(viaWriter, cases, each)...); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), reg)
	defer pub.Close()
	msgs := casesMessages(viaPublisher, cases, each)
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	leaders := map[int32]bool{}
	for p := int32(0); p < partitions; p++ {
		leaders[c.LeaderFor(viaPublisher, p)] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("the topic's partitions share one leader (%v): the test needs several", leaders)
	}
	if got := produceRequests(t, reg); got != len(leaders) {
		t.Errorf("produce requests = %d, want one per leader (%d)", got, len(leaders))
	}

	writerPartition := map[string]int{}
	for _, m := range brokertest.Messages(t, brokers, viaWriter, partitions, cases*each) {
		writerPartition[string(m.Key)] = m.Partition
	}
	reported := map[string][2]int64{}
	for _, m := range msgs {
		reported[string(m.Value)] = [2]int64{int64(m.Partition), m.Offset}
	}
	got := brokertest.Messages(t, brokers, viaPublisher, partitions, cases*each)
	if len(got) != cases*each {
		t.Fatalf("%d messages on the topic, want %d", len(got), cases*each)
	}
	seen := map[string]bool{}
	last := map[string]int64{}
	for _, m := range got {
		v, k := string(m.Value), string(m.Key)
		if seen[v] {
			t.Errorf("%s written twice", v)
		}
		seen[v] = true
		if m.Partition != writerPartition[k] {
			t.Errorf("%s on partition %d, the Writer put %s on %d", v, m.Partition, k, writerPartition[k])
		}
		if r := reported[v]; r != [2]int64{int64(m.Partition), m.Offset} {
			t.Errorf("%s at partition %d offset %d, Publish reported %v", v, m.Partition, m.Offset, r)
		}
		if prev, ok := last[k]; ok && m.Offset <= prev {
			t.Errorf("%s at offset %d, after an earlier message of %s at %d", v, m.Offset, k, prev)
		}
		last[k] = m.Offset
	}
}

// The Writer holds a partial batch for its BatchTimeout; Publish sends at
// once. With an hour's timeout a Writer would not return within the test.
func TestPublishDoesNotWaitForTheWritersBatchTimeout(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 2)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers, BatchTimeout: time.Hour}), nil)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, kafka.Message{Topic: topic, Key: []byte("case-1"), Value: []byte("v")}); err != nil {
		t.Fatalf("publish with the Writer's batch timeout at an hour: %v", err)
	}
	if got := brokertest.Messages(t, brokers, topic, 2, 1); string(got[0].Value) != "v" {
		t.Fatalf("read back %q", got[0].Value)
	}
}

// After a partition's leader moves, the old leader refuses the write; Publish
// retries until its metadata names the new leader, and the message is
// written once.
func TestPublishFollowsALeaderChange(t *testing.T) {
	c, brokers := threeBrokers(t)
	topic := brokertest.Topic(t, brokers, 1)
	reg := prometheus.NewRegistry()
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), reg)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	old := c.LeaderFor(topic, 0)
	next := (old + 1) % 3
	if err := c.MoveTopicPartition(topic, 0, next); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("after")}); err != nil {
		t.Fatalf("publish after the leader moved from %d to %d: %v", old, next, err)
	}
	if n := produceRequests(t, reg); n < 3 {
		t.Errorf("%d produce requests: the move was not exercised (want a refused one and a retry)", n)
	}
	got := brokertest.Messages(t, brokers, topic, 1, 2)
	if len(got) != 2 || string(got[0].Value) != "before" || string(got[1].Value) != "after" {
		var vs []string
		for _, m := range got {
			vs = append(vs, string(m.Value))
		}
		t.Fatalf("topic holds %q, want [before after]", vs)
	}
}

// refuseProduce makes the cluster answer the next produce request that
// carries partition `partition` of topic with code for every partition in
// it; other produce requests are handled normally.
func refuseProduce(c *kfake.Cluster, topic string, partition int32, code int16, times int) *int {
	var mu sync.Mutex
	refused := 0
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		mu.Lock()
		defer mu.Unlock()
		hit := false
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				hit = hit || rt.Topic == topic && rp.Partition == partition
			}
		}
		if !hit || refused >= times {
			return nil, nil, false
		}
		refused++
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &refused
}

// A retriable refusal of one leader's request is retried for that leader's
// partitions only: what another leader wrote is not written again.
func TestPublishRetriesOnlyTheRefusedPartitions(t *testing.T) {
	c, brokers := threeBrokers(t)
	topic := brokertest.Topic(t, brokers, 2)
	if err := c.MoveTopicPartition(topic, 1, (c.LeaderFor(topic, 0)+1)%3); err != nil {
		t.Fatal(err)
	}
	refused := refuseProduce(c, topic, 0, int16(kafka.NotEnoughReplicas), 2)
	reg := prometheus.NewRegistry()
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), reg)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs := casesMessages(topic, 20, 1)
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if *refused != 2 {
		t.Fatalf("%d requests refused, want 2", *refused)
	}
	// Two leaders, the first refused twice: 2 + 2 requests.
	if got := produceRequests(t, reg); got != 4 {
		t.Errorf("produce requests = %d, want 4", got)
	}
	perPartition := map[int]int{}
	for _, m := range msgs {
		perPartition[m.Partition]++
	}
	if perPartition[0] == 0 || perPartition[1] == 0 {
		t.Fatalf("messages per partition %v: the test needs both", perPartition)
	}
	got := brokertest.Messages(t, brokers, topic, 2, len(msgs))
	seen := map[string]int{}
	for _, m := range got {
		seen[string(m.Value)]++
	}
	for _, m := range msgs {
		if seen[string(m.Value)] != 1 {
			t.Errorf("%s written %d times, want once", m.Value, seen[string(m.Value)])
		}
	}
	if len(got) != len(msgs) {
		t.Errorf("%d messages on the topic, want %d", len(got), len(msgs))
	}
}

// What cannot be written fails with a clear error, without retrying what a
// retry cannot fix.
func TestPublishRefusesWhatItCannotWrite(t *testing.T) {
	c, brokers := threeBrokers(t)
	topic := brokertest.Topic(t, brokers, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newPub := func() (*kt.Publisher, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
		w.MaxAttempts, w.WriteBackoffMin, w.WriteBackoffMax = 3, time.Millisecond, 5*time.Millisecond
		p := kt.NewPublisher(w, reg)
		t.Cleanup(func() { p.Close() })
		return p, reg
	}

	t.Run("unknown topic", func(t *testing.T) {
		pub, reg := newPub()
		err := pub.Publish(ctx, kafka.Message{Topic: topic + ".missing", Value: []byte("v")})
		if !errors.Is(err, kafka.UnknownTopicOrPartition) {
			t.Fatalf("err = %v, want unknown topic", err)
		}
		if n := produceRequests(t, reg); n != 0 {
			t.Errorf("%d produce requests for a topic that does not exist", n)
		}
	})
	t.Run("no topic", func(t *testing.T) {
		pub, _ := newPub()
		if err := pub.Publish(ctx, kafka.Message{Value: []byte("v")}); err == nil {
			t.Fatal("a message without a topic was accepted")
		}
	})
	t.Run("permanent refusal", func(t *testing.T) {
		pub, reg := newPub()
		refuseProduce(c, topic, 0, int16(kafka.MessageSizeTooLarge), 1)
		err := pub.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("v")})
		if !errors.Is(err, kafka.MessageSizeTooLarge) {
			t.Fatalf("err = %v, want message too large", err)
		}
		if n := produceRequests(t, reg); n != 1 {
			t.Errorf("%d produce requests, want 1 (not retried)", n)
		}
	})
	t.Run("retriable refusals past the attempts", func(t *testing.T) {
		pub, reg := newPub()
		refuseProduce(c, topic, 0, int16(kafka.NotEnoughReplicas), 3)
		err := pub.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("v")})
		if !errors.Is(err, kafka.NotEnoughReplicas) {
			t.Fatalf("err = %v, want not enough replicas", err)
		}
		if n := produceRequests(t, reg); n != 3 {
			t.Errorf("%d produce requests, want 3 (MaxAttempts)", n)
		}
	})
	t.Run("broker gone", func(t *testing.T) {
		pub, _ := newPub()
		if err := pub.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("warm")}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if err := pub.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("v")}); err == nil {
			t.Fatal("publish succeeded with the cluster closed")
		}
	})
}

// A call spanning topics goes to a leader in one request, each topic named
// once, and every message reaches its own topic.
func TestPublishSendsSeveralTopicsInOneRequest(t *testing.T) {
	brokers := brokertest.Start(t) // one broker: the leader of every partition
	a, b := brokertest.Topic(t, brokers, 2), brokertest.Topic(t, brokers, 2)
	reg := prometheus.NewRegistry()
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), reg)
	defer pub.Close()
	var msgs []kafka.Message
	for i := 0; i < 12; i++ {
		topic := a
		if i%2 == 1 {
			topic = b
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("case-%d", i/3)), Value: []byte(fmt.Sprintf("%s/%d", topic, i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if got := produceRequests(t, reg); got != 1 {
		t.Errorf("produce requests = %d, want 1", got)
	}
	for _, topic := range []string{a, b} {
		got := brokertest.Messages(t, brokers, topic, 2, 6)
		if len(got) != 6 {
			t.Errorf("%s holds %d messages, want 6", topic, len(got))
		}
		for _, m := range got {
			if !strings.HasPrefix(string(m.Value), topic+"/") {
				t.Errorf("%s holds %q", topic, m.Value)
			}
		}
	}
}

// A run larger than the broker takes in one record batch (message.max.bytes,
// 1 MiB by default) goes out in several, in order: 200 petitions of 20 KiB
// for one case would otherwise be refused as too large on every retry of
// the relay.
func TestPublishSplitsARunLargerThanABatch(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 2)
	reg := prometheus.NewRegistry()
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), reg)
	defer pub.Close()
	big := strings.Repeat("事", 20<<10/3)
	var msgs []kafka.Message
	for i := 0; i < 200; i++ {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("case-1"), Value: []byte(fmt.Sprintf("%03d %s", i, big))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatalf("publish 200 × 20 KiB for one case: %v", err)
	}
	if n := produceRequests(t, reg); n < 4 {
		t.Errorf("%d produce requests for 4 MiB to one partition", n)
	}
	got := brokertest.Messages(t, brokers, topic, 2, len(msgs))
	if len(got) != len(msgs) {
		t.Fatalf("%d messages on the topic, want %d", len(got), len(msgs))
	}
	for i, m := range got {
		if want := fmt.Sprintf("%03d ", i); string(m.Value[:4]) != want {
			t.Fatalf("message %d is %q…, want %q…: out of order", i, m.Value[:4], want)
		}
	}
}
