package supervision

import (
	"context"
	"errors"
	"time"

	"xinfang.io/services/kit/app"
)

// Options adjust Wire; the zero value is production.
type Options struct {
	Clock     Clock
	TimerPoll time.Duration
}

// Wire builds the supervision service on a (cmd/supervision calls it from
// app.Main): migrations, the service, its instrumented endpoints, the staff
// HTTP routes, the routing consumer, the timer worker and the re-planner
// that follows changes of the county file.
func Wire(ctx context.Context, a *app.App, o Options) (*Supervision, error) {
	if a.CountyConfig == nil {
		return nil, errors.New("supervision needs the county file (XINFANG_COUNTY_FILE): its calendar, deadlines and escalation ladder")
	}
	verifier, err := a.RequireAuth()
	if err != nil {
		return nil, err
	}
	if err := a.DB.Migrate(ctx, "supervision", Migrations); err != nil {
		return nil, err
	}
	svc := New(Config{
		DB: a.DB, Outbox: a.Outbox, County: a.CountyConfig.Current, Clock: o.Clock,
		Consumer: a.GroupID(Consumer), Log: a.Log, Registry: a.Registry, TimerPoll: o.TimerPoll,
	})
	eps := MakeEndpoints(svc).Instrument(a.Endpoints, a.Log)
	RegisterHTTP(a.HTTP, eps, verifier.Middleware, a.Log)
	// Applying a routing decision is all database work: a fetched run of
	// decisions is applied in one transaction (app.ConsumeInTx).
	if err := a.ConsumeInTx(Consumer, Streams, NewRoutingSubscriber(eps), app.BatchOptions{}); err != nil {
		return nil, err
	}
	updates := a.CountyConfig.Subscribe()
	a.Go("timers", svc.RunTimers)
	a.Go("replan", func(ctx context.Context) error { return svc.RunReplanner(ctx, updates) })
	return svc, nil
}
