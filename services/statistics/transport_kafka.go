package statistics

import (
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
)

// ConsumedStreams are every case stream of the county: registrations,
// routing decisions and supervision's lifecycle events.
var ConsumedStreams = []eventsv1.Stream{eventsv1.StreamPetitions, eventsv1.StreamRouting, eventsv1.StreamCases}

// NewKafkaHandler serves consumed messages: a fetched run through the
// ApplyBatch endpoint (one transaction), and, when a run fails, each of its
// messages through Apply (so a poison message is dead-lettered alone).
func NewKafkaHandler(e Endpoints) kafkatransport.BatchHandler {
	return kafkatransport.NewBatchSubscriber(e.Apply, e.ApplyBatch, kafkatransport.DecodeEnvelopeRequest)
}
