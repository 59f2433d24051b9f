package kafkatransport_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"

	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
)

// BenchmarkPublish is one relay's publishes, one call after the other as the
// relay makes them, of runs of 1 and 16 messages (a quiet county and a busy
// one) to six partitions: kafka-go's Writer with the project's settings
// (BatchTimeout 2 ms) against the Publisher, which sends at once, through
// the same broker in the same run. ns/op is one call, acknowledged.
func BenchmarkPublish(b *testing.B) {
	brokers := brokertest.Start(b)
	topic := brokertest.Topic(b, brokers, 6)
	value := make([]byte, 1024)
	for _, n := range []int{1, 16} {
		msgs := func(i int) []kafka.Message {
			out := make([]kafka.Message, n)
			for j := range out {
				out[j] = kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("case-%d-%d", i, j)), Value: value}
			}
			return out
		}
		b.Run(fmt.Sprintf("way=writer/msgs=%d", n), func(b *testing.B) {
			w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
			defer w.Close()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := w.WriteMessages(context.Background(), msgs(i)...); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("way=publisher/msgs=%d", n), func(b *testing.B) {
			pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
			defer pub.Close()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := pub.Publish(context.Background(), msgs(i)...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
