package kafkatransport

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	eventsv1 "xinfang.io/proto/events/v1"
)

// Header keys every event message carries besides the trace context, so that
// tools (kcat, the dead-letter reader) can see what a message is without
// decoding it.
const (
	HeaderEventID       = "xinfang-event-id"
	HeaderEventType     = "xinfang-event-type"
	HeaderCounty        = "xinfang-county"
	HeaderSchemaVersion = "xinfang-schema-version"
	HeaderContentType   = "content-type"
	ContentTypeProtobuf = "application/x-protobuf; messageType=xinfang.events.v1.Envelope"
)

// ErrMalformed marks a message that can never be decoded: retrying is useless.
var ErrMalformed = errors.New("malformed event message")

// EncodeEnvelope turns an envelope into a message for topic, keyed by case id.
func EncodeEnvelope(topic string, env *eventsv1.Envelope) (kafka.Message, error) {
	if env.GetEventId() == "" || env.GetCaseId() == "" {
		return kafka.Message{}, fmt.Errorf("encode event: event id and case id are required (event %q, case %q)", env.GetEventId(), env.GetCaseId())
	}
	if env.Type == "" {
		env.Type = env.TypeName()
	}
	value, err := proto.Marshal(env)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encode event %s: %w", env.GetEventId(), err)
	}
	return kafka.Message{
		Topic: topic,
		Key:   []byte(env.GetCaseId()),
		Value: value,
		Headers: []kafka.Header{
			{Key: HeaderEventID, Value: []byte(env.GetEventId())},
			{Key: HeaderEventType, Value: []byte(env.GetType())},
			{Key: HeaderCounty, Value: []byte(env.GetCounty())},
			{Key: HeaderSchemaVersion, Value: []byte(strconv.FormatUint(uint64(env.GetSchemaVersion()), 10))},
			{Key: HeaderContentType, Value: []byte(ContentTypeProtobuf)},
		},
	}, nil
}

// DecodeEnvelope reads an envelope from a message. Errors wrap ErrMalformed.
func DecodeEnvelope(msg kafka.Message) (*eventsv1.Envelope, error) {
	var env eventsv1.Envelope
	if err := proto.Unmarshal(msg.Value, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case env.GetEventId() == "":
		return nil, fmt.Errorf("%w: no event id", ErrMalformed)
	case env.GetCaseId() == "":
		return nil, fmt.Errorf("%w: event %s has no case id", ErrMalformed, env.GetEventId())
	case env.GetPayload() == nil:
		return nil, fmt.Errorf("%w: event %s has no payload (unknown type %q from a newer producer?)", ErrMalformed, env.GetEventId(), env.GetType())
	case string(msg.Key) != "" && string(msg.Key) != env.GetCaseId():
		return nil, fmt.Errorf("%w: event %s key %q differs from case id %q", ErrMalformed, env.GetEventId(), msg.Key, env.GetCaseId())
	}
	return &env, nil
}

// Header returns the value of the first header named key.
func Header(msg kafka.Message, key string) string {
	for _, h := range msg.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
