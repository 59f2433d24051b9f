package kafkatransport

import (
	"context"
	"fmt"

	"github.com/go-kit/kit/endpoint"
	"github.com/segmentio/kafka-go"
)

// DecodeMessageFunc turns a message into an endpoint request. Its errors are
// permanent: the message goes to the dead-letter topic.
type DecodeMessageFunc func(ctx context.Context, msg kafka.Message) (request any, err error)

// Handler handles one message. A nil error means the message is done and its
// offset may be committed.
type Handler interface {
	Handle(ctx context.Context, msg kafka.Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg kafka.Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg kafka.Message) error { return f(ctx, msg) }

// Subscriber is the go-kit server side of a Kafka transport: decode, then
// call the endpoint. The endpoint's response is discarded; its error decides
// between commit, retry and dead letter (see Permanent).
type Subscriber struct {
	e   endpoint.Endpoint
	dec DecodeMessageFunc
}

// NewSubscriber returns a Handler that serves e.
func NewSubscriber(e endpoint.Endpoint, dec DecodeMessageFunc) *Subscriber {
	return &Subscriber{e: e, dec: dec}
}

// Handle decodes msg and calls the endpoint.
func (s *Subscriber) Handle(ctx context.Context, msg kafka.Message) error {
	req, err := s.dec(ctx, msg)
	if err != nil {
		return Permanent(fmt.Errorf("decode %s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err))
	}
	if _, err := s.e(ctx, req); err != nil {
		return err
	}
	return nil
}

// DecodeEnvelopeRequest is a DecodeMessageFunc for event envelopes.
func DecodeEnvelopeRequest(_ context.Context, msg kafka.Message) (any, error) {
	return DecodeEnvelope(msg)
}
