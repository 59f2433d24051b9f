package routing

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-kit/kit/endpoint"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/middleware"
)

// Endpoints are the routing service's go-kit endpoints, one per operation,
// whichever transport (HTTP or Kafka) calls them.
type Endpoints struct {
	HandleEvent  endpoint.Endpoint // *eventsv1.Envelope → nil
	HandleEvents endpoint.Endpoint // []kafkatransport.Decoded (of *eventsv1.Envelope) → nil
	Preview      endpoint.Endpoint // PreviewRequest → *PreviewResponse
	Rules        endpoint.Endpoint // RulesRequest → *RulesResponse
	Reroute      endpoint.Endpoint // RerouteRequest → *RerouteResponse
	Case         endpoint.Endpoint // CaseRequest → *CaseView
	Cases        endpoint.Endpoint // CasesRequest → *CasesResponse
}

// CaseRequest asks for routing's state of one case.
type CaseRequest struct{ CaseID string }

// RulesRequest asks for the rules in force.
type RulesRequest struct{}

// MakeEndpoints builds the endpoints of s, each wrapped in the kit's RED
// instrumentation and logging (m may be nil in tests).
func MakeEndpoints(s Service, m *middleware.Metrics, log *slog.Logger) Endpoints {
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		if log != nil {
			e = middleware.Logging(log, name)(e)
		}
		if m != nil {
			e = middleware.Instrumenting(m, name)(e)
		}
		return e
	}
	return Endpoints{
		HandleEvent:  wrap("routing.handle_event", MakeHandleEventEndpoint(s)),
		HandleEvents: wrap("routing.handle_events", MakeHandleEventsEndpoint(s)),
		Preview:      wrap("routing.preview", MakePreviewEndpoint(s)),
		Rules:        wrap("routing.rules", MakeRulesEndpoint(s)),
		Reroute:      wrap("routing.reroute", MakeRerouteEndpoint(s)),
		Case:         wrap("routing.case", MakeCaseEndpoint(s)),
		Cases:        wrap("routing.cases", MakeCasesEndpoint(s)),
	}
}

// MakeHandleEventEndpoint applies a consumed event.
func MakeHandleEventEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		env, ok := request.(*eventsv1.Envelope)
		if !ok {
			return nil, fmt.Errorf("handle event: request is %T, want *eventsv1.Envelope", request)
		}
		return nil, s.HandleEvent(ctx, env)
	}
}

// MakeHandleEventsEndpoint applies a run of consumed events at once; the
// request is what kafkatransport.BatchSubscriber decodes.
func MakeHandleEventsEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		batch, ok := request.([]kafkatransport.Decoded)
		if !ok {
			return nil, fmt.Errorf("handle events: request is %T, want []kafkatransport.Decoded", request)
		}
		events := make([]Event, len(batch))
		for i, d := range batch {
			env, ok := d.Request.(*eventsv1.Envelope)
			if !ok {
				return nil, fmt.Errorf("handle events: message %d is %T, want *eventsv1.Envelope", i, d.Request)
			}
			events[i] = Event{Context: d.Context, Envelope: env}
		}
		return nil, s.HandleEvents(ctx, events)
	}
}

// MakePreviewEndpoint dry-runs a petition.
func MakePreviewEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(PreviewRequest)
		if !ok {
			return nil, fmt.Errorf("preview: request is %T, want PreviewRequest", request)
		}
		return s.Preview(ctx, req)
	}
}

// MakeRulesEndpoint returns the rules in force.
func MakeRulesEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		return s.Rules(ctx)
	}
}

// MakeRerouteEndpoint re-routes a case by hand.
func MakeRerouteEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(RerouteRequest)
		if !ok {
			return nil, fmt.Errorf("reroute: request is %T, want RerouteRequest", request)
		}
		return s.Reroute(ctx, req)
	}
}

// MakeCaseEndpoint returns routing's state of a case.
func MakeCaseEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(CaseRequest)
		if !ok {
			return nil, fmt.Errorf("case: request is %T, want CaseRequest", request)
		}
		return s.Case(ctx, req.CaseID)
	}
}

// MakeCasesEndpoint lists cases in one state.
func MakeCasesEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(CasesRequest)
		if !ok {
			return nil, fmt.Errorf("cases: request is %T, want CasesRequest", request)
		}
		return s.Cases(ctx, req)
	}
}
