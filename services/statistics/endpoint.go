package statistics

import (
	"context"
	"log/slog"

	"github.com/go-kit/kit/endpoint"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/middleware"
)

// Endpoints are the statistics go-kit endpoints, one per use case.
type Endpoints struct {
	Apply     endpoint.Endpoint
	Summary   endpoint.Endpoint
	Breakdown endpoint.Endpoint
	Alerts    endpoint.Endpoint
	Report    endpoint.Endpoint
}

// ViewerRoles may read the county's figures and alerts: the bureau's staff
// who see all cases (supervisor), leadership and operators.
var ViewerRoles = []auth.Role{auth.RoleSupervisor, auth.RoleLeader, auth.RoleAdmin}

// requireViewer refuses callers without one of ViewerRoles.
func requireViewer(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if _, err := auth.Require(ctx, ViewerRoles...); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// MakeEndpoints wraps each use case with logging and RED instrumentation;
// the query endpoints also check the caller's role.
func MakeEndpoints(s Service, m *middleware.Metrics, log *slog.Logger) Endpoints {
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		return middleware.Logging(log, name)(middleware.Instrumenting(m, name)(e))
	}
	return Endpoints{
		Apply: wrap("statistics.apply", func(ctx context.Context, req any) (any, error) {
			return nil, s.Apply(ctx, req.(*eventsv1.Envelope))
		}),
		Summary: wrap("statistics.summary", requireViewer(func(ctx context.Context, req any) (any, error) {
			return s.Summary(ctx, req.(PeriodQuery))
		})),
		Breakdown: wrap("statistics.breakdown", requireViewer(func(ctx context.Context, req any) (any, error) {
			return s.Breakdown(ctx, req.(BreakdownQuery))
		})),
		Alerts: wrap("statistics.alerts", requireViewer(func(ctx context.Context, req any) (any, error) {
			return s.Alerts(ctx, req.(AlertsQuery))
		})),
		Report: wrap("statistics.report", requireViewer(func(ctx context.Context, req any) (any, error) {
			return s.Report(ctx, req.(ReportQuery))
		})),
	}
}
