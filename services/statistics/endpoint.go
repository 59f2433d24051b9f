package statistics

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-kit/kit/endpoint"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/middleware"
)

// Endpoints are the statistics go-kit endpoints, one per use case.
type Endpoints struct {
	Apply endpoint.Endpoint
	// ApplyBatch takes a []kafkatransport.Decoded of event envelopes.
	ApplyBatch endpoint.Endpoint
	Summary    endpoint.Endpoint
	Breakdown  endpoint.Endpoint
	Alerts     endpoint.Endpoint
	Report     endpoint.Endpoint
}

// ViewerRoles may read the county's figures and alerts: the bureau's staff
// who see all cases (supervisor), leadership and operators. Department
// staff may read their own department's summary (summaryScope).
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

// summaryScope checks who may read which summary: the bureau's viewers any
// (the county's or a department's), a department's staff only their own
// department's, which is also what they get when they name none.
func summaryScope(ctx context.Context, q SummaryQuery) (SummaryQuery, error) {
	cl, err := auth.Require(ctx, append([]auth.Role{auth.RoleDepartment}, ViewerRoles...)...)
	if err != nil {
		return q, err
	}
	if cl.Role == auth.RoleDepartment {
		switch q.Department {
		case "":
			q.Department = cl.Department
		case cl.Department:
		default:
			return q, fmt.Errorf("%w: a department token sees only its own department's figures (%s), not %s", auth.ErrForbidden, cl.Department, q.Department)
		}
	}
	return q, nil
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
		ApplyBatch: wrap("statistics.apply_batch", func(ctx context.Context, req any) (any, error) {
			decoded := req.([]kafkatransport.Decoded)
			events := make([]Event, len(decoded))
			for i, d := range decoded {
				events[i] = Event{Ctx: d.Context, Env: d.Request.(*eventsv1.Envelope)}
			}
			return nil, s.ApplyBatch(ctx, events)
		}),
		Summary: wrap("statistics.summary", func(ctx context.Context, req any) (any, error) {
			q, err := summaryScope(ctx, req.(SummaryQuery))
			if err != nil {
				return nil, err
			}
			return s.Summary(ctx, q)
		}),
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
