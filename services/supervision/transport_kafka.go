package supervision

import (
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
)

// Consumer names the routing consumer (its group is
// xinfang.<county>.supervision.routing); its inbox carries the same name.
const Consumer = "routing"

// Streams the supervision service consumes: routing decisions, and its own
// cases stream for the imported history that intake's onboarding import
// puts there (live events there are its own and are ignored).
var Streams = []eventsv1.Stream{eventsv1.StreamRouting, eventsv1.StreamCases}

// NewRoutingSubscriber is the Kafka transport of the routing stream: each
// message is decoded as an envelope and handed to the Route endpoint. A
// domain refusal comes back as kafkatransport.Permanent (dead letter);
// anything else is retried.
func NewRoutingSubscriber(e Endpoints) *kafkatransport.Subscriber {
	return kafkatransport.NewSubscriber(e.Route, kafkatransport.DecodeEnvelopeRequest)
}
