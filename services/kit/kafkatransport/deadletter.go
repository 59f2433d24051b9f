package kafkatransport

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers a dead-lettered message carries besides all of its original
// headers (trace context included), so it can be inspected and replayed.
const (
	HeaderDLQError     = "xinfang-dlq-error"
	HeaderDLQTopic     = "xinfang-dlq-origin-topic"
	HeaderDLQPartition = "xinfang-dlq-origin-partition"
	HeaderDLQOffset    = "xinfang-dlq-origin-offset"
	HeaderDLQConsumer  = "xinfang-dlq-consumer-group"
	HeaderDLQAttempts  = "xinfang-dlq-attempts"
	HeaderDLQFailedAt  = "xinfang-dlq-failed-at"
)

// maxErrorHeader bounds the error text so a huge error cannot make the
// dead-letter message itself too large to write.
const maxErrorHeader = 4096

// DeadLetter builds the dead-letter message for msg that failed with err.
func DeadLetter(topic, group string, msg kafka.Message, attempts int, err error, now time.Time) kafka.Message {
	text := err.Error()
	if len(text) > maxErrorHeader {
		text = text[:maxErrorHeader]
	}
	headers := make([]kafka.Header, 0, len(msg.Headers)+7)
	for _, h := range msg.Headers {
		headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	headers = append(headers,
		kafka.Header{Key: HeaderDLQError, Value: []byte(text)},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(msg.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(msg.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		kafka.Header{Key: HeaderDLQConsumer, Value: []byte(group)},
		kafka.Header{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
		kafka.Header{Key: HeaderDLQFailedAt, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	return kafka.Message{Topic: topic, Key: msg.Key, Value: msg.Value, Headers: headers}
}
