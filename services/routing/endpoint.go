package routing

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-kit/kit/endpoint"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/middleware"
)

// Endpoints are the routing service's go-kit endpoints, one per operation,
// whichever transport (HTTP or Kafka) calls them.
type Endpoints struct {
	HandleEvent endpoint.Endpoint // *eventsv1.Envelope → nil
	Preview     endpoint.Endpoint // PreviewRequest → *PreviewResponse
	Rules       endpoint.Endpoint // RulesRequest → *RulesResponse
	Reroute     endpoint.Endpoint // RerouteRequest → *RerouteResponse
}

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
		HandleEvent: wrap("routing.handle_event", MakeHandleEventEndpoint(s)),
		Preview:     wrap("routing.preview", MakePreviewEndpoint(s)),
		Rules:       wrap("routing.rules", MakeRulesEndpoint(s)),
		Reroute:     wrap("routing.reroute", MakeRerouteEndpoint(s)),
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
