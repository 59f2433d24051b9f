package supervision

import (
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
)

// Consumer names the routing consumer (its group is
// xinfang.<county>.supervision.routing); its inbox carries the same name.
const Consumer = "routing"

// Streams the supervision service consumes.
var Streams = []eventsv1.Stream{eventsv1.StreamRouting}

// NewRoutingSubscriber is the Kafka transport of the routing stream: each
// message is decoded as an envelope and handed to the Route endpoint. A
// domain refusal comes back as kafkatransport.Permanent (dead letter);
// anything else is retried.
func NewRoutingSubscriber(e Endpoints) *kafkatransport.Subscriber {
	return kafkatransport.NewSubscriber(e.Route, kafkatransport.DecodeEnvelopeRequest)
}
