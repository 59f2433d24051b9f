package kafkatransport_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
)

func TestConsumersMeasureTheDelayFromPublication(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 1)
	dlq := brokertest.Topic(t, brokers, 1)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()
	published := time.Now()
	for i := range 3 {
		if err := pub.Publish(context.Background(), envelope(t, topic, "case-1", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Consumed a while after publication: each delay is at least the wait.
	const wait = 300 * time.Millisecond
	time.Sleep(wait)

	reg := prometheus.NewRegistry()
	got := &received{}
	ctx, cancel := context.WithCancel(context.Background())
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	defer w.Close()
	c, err := kt.NewConsumer(kt.ConsumerConfig{
		Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: "delay", Topics: []string{topic}},
		DeadLetterTopic: dlq, MaxAttempts: 1,
	}, got, w, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "three messages", func() bool { return got.len() == 3 })
	consumed := time.Since(published)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, m := range got.msgs {
		if m.Time.Before(published.Add(-time.Second)) || m.Time.After(published.Add(wait)) {
			t.Errorf("record timestamp %v, want the publication time (about %v)", m.Time, published)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum float64
	for _, f := range families {
		if f.GetName() != "xinfang_kafka_consume_delay_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			count += m.GetHistogram().GetSampleCount()
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	if count != 3 {
		t.Fatalf("delay histogram counts %d messages, want 3", count)
	}
	if lo, hi := 3*wait.Seconds(), 3*consumed.Seconds(); sum < lo || sum > hi {
		t.Errorf("delays sum to %.3fs, want between %.3fs (the wait) and %.3fs (publication to consumed)", sum, lo, hi)
	}
}
