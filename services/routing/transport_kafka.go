package routing

import (
	"context"
	"time"

	"github.com/go-kit/kit/endpoint"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/kafkatransport"
)

// NewEventHandler is the Kafka transport of the event endpoints, for the
// petitions and cases streams: a fetched run of events goes to the batch
// endpoint (one transaction); when that fails, each event goes to the
// single endpoint, where a domain refusal (an objection to a case routing
// never routed, an event of another county) is permanent and dead-lettered
// at once, and anything else (database, broker) is retried.
func NewEventHandler(single, batch endpoint.Endpoint) kafkatransport.BatchHandler {
	return kafkatransport.NewBatchSubscriber(permanentRefusals(single), batch, kafkatransport.DecodeEnvelopeRequest)
}

// Batches: a backlog (a restart, a burst of registrations, an import) is
// applied up to MaxBatch events per transaction; once routing has caught
// up, a batch waits at most BatchLinger for more after its first event, so
// a live decision is delayed by at most that.
const (
	MaxBatch    = 256
	BatchLinger = time.Millisecond
)

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
