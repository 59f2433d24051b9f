package supervision

import (
	"context"
	"log/slog"
	"strings"

	"github.com/go-kit/kit/endpoint"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/middleware"
	"xinfang.io/services/supervision/casemachine"
)

// GetRequest asks for one case.
type GetRequest struct{ CaseID string }

// ActRequest is one action on a case.
type ActRequest struct {
	CaseID  string
	Command casemachine.Command
}

// DocumentRequest asks for a written notice of a case.
type DocumentRequest struct{ CaseID, Name string }

// Endpoints are the service's go-kit endpoints, one per action so that
// each has its own RED metrics.
type Endpoints struct {
	List     endpoint.Endpoint
	Get      endpoint.Endpoint
	Act      map[casemachine.Action]endpoint.Endpoint
	Route    endpoint.Endpoint
	Document endpoint.Endpoint
}

// MakeEndpoints returns the endpoints of s.
func MakeEndpoints(s Service) Endpoints {
	e := Endpoints{
		List:     MakeListEndpoint(s),
		Get:      MakeGetEndpoint(s),
		Act:      map[casemachine.Action]endpoint.Endpoint{},
		Route:    MakeRouteEndpoint(s),
		Document: MakeDocumentEndpoint(s),
	}
	for _, a := range casemachine.Actions {
		e.Act[a] = MakeActEndpoint(s)
	}
	return e
}

// MakeListEndpoint serves GET /v1/cases.
func MakeListEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) { return s.List(ctx, req.(ListQuery)) }
}

// MakeGetEndpoint serves GET /v1/cases/{caseId}.
func MakeGetEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) { return s.Get(ctx, req.(GetRequest).CaseID) }
}

// MakeActEndpoint serves POST /v1/cases/{caseId}/{action}.
func MakeActEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		r := req.(ActRequest)
		return s.Act(ctx, r.CaseID, r.Command)
	}
}

// MakeDocumentEndpoint serves GET /v1/cases/{caseId}/documents/{document}.
func MakeDocumentEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		r := req.(DocumentRequest)
		return s.Document(ctx, r.CaseID, r.Name)
	}
}

// MakeRouteEndpoint applies a routing event (Kafka).
func MakeRouteEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return nil, s.ApplyRouting(ctx, req.(*eventsv1.Envelope))
	}
}

// Instrument wraps every endpoint in the kit's logging and RED middlewares.
func (e Endpoints) Instrument(m *middleware.Metrics, log *slog.Logger) Endpoints {
	wrap := func(name string, ep endpoint.Endpoint) endpoint.Endpoint {
		if m != nil {
			ep = middleware.Instrumenting(m, name)(ep)
		}
		if log != nil {
			ep = middleware.Logging(log, name)(ep)
		}
		return ep
	}
	out := Endpoints{
		List:     wrap("supervision.list_cases", e.List),
		Get:      wrap("supervision.get_case", e.Get),
		Act:      map[casemachine.Action]endpoint.Endpoint{},
		Route:    wrap("supervision.apply_routing", e.Route),
		Document: wrap("supervision.document", e.Document),
	}
	for a, ep := range e.Act {
		out.Act[a] = wrap("supervision."+strings.ReplaceAll(string(a), "-", "_"), ep)
	}
	return out
}
