package routing

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/kafkatransport"
)

// NewEventHandler is the Kafka transport of the event endpoint, for the
// petitions and cases streams. A domain refusal (an objection to a case
// routing never routed, a case no department may receive, an event of
// another county) is permanent and dead-lettered at once; anything else
// (database, broker) is retried.
func NewEventHandler(e endpoint.Endpoint) kafkatransport.Handler {
	return kafkatransport.NewSubscriber(permanentRefusals(e), kafkatransport.DecodeEnvelopeRequest)
}

func permanentRefusals(e endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		resp, err := e(ctx, request)
		if err == nil {
			return resp, nil
		}
		switch apierror.From(err).Kind {
		case apierror.Internal, apierror.Unavailable:
			return nil, err
		}
		return nil, kafkatransport.Permanent(err)
	}
}
