package intake

import (
	"context"
	"io"
	"log/slog"

	"github.com/go-kit/kit/endpoint"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/middleware"
)

// Endpoints are intake's go-kit endpoints, one per use case.
type Endpoints struct {
	Register endpoint.Endpoint
	Query    endpoint.Endpoint
	Petition endpoint.Endpoint
	Import   endpoint.Endpoint
	Apply    endpoint.Endpoint
}

type queryRequest struct{ Code string }
type petitionRequest struct{ CaseID string }
type importRequest struct{ Body io.Reader }

// MakeEndpoints wraps each use case with logging and RED instrumentation.
func MakeEndpoints(s Service, m *middleware.Metrics, log *slog.Logger) Endpoints {
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		return middleware.Logging(log, name)(middleware.Instrumenting(m, name)(e))
	}
	return Endpoints{
		Register: wrap("intake.register", func(ctx context.Context, req any) (any, error) {
			r := req.(RegisterRequest)
			return s.Register(ctx, r)
		}),
		Query: wrap("intake.query", func(ctx context.Context, req any) (any, error) {
			return s.Query(ctx, req.(queryRequest).Code)
		}),
		Petition: wrap("intake.petition", func(ctx context.Context, req any) (any, error) {
			return s.Petition(ctx, req.(petitionRequest).CaseID)
		}),
		Import: wrap("intake.import", func(ctx context.Context, req any) (any, error) {
			return s.Import(ctx, req.(importRequest).Body)
		}),
		Apply: wrap("intake.apply", func(ctx context.Context, req any) (any, error) {
			return nil, s.Apply(ctx, req.(*eventsv1.Envelope))
		}),
	}
}
