package statistics

import (
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
)

// ConsumedStreams are every case stream of the county: registrations,
// routing decisions and supervision's lifecycle events.
var ConsumedStreams = []eventsv1.Stream{eventsv1.StreamPetitions, eventsv1.StreamRouting, eventsv1.StreamCases}

// NewKafkaHandler serves the Apply endpoint from consumed messages.
func NewKafkaHandler(e Endpoints) kafkatransport.Handler {
	return kafkatransport.NewSubscriber(e.Apply, kafkatransport.DecodeEnvelopeRequest)
}
