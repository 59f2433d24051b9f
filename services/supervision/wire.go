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
// HTTP routes, the routing consumer and the timer worker.
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
	if err := a.Consume(Consumer, Streams, NewRoutingSubscriber(eps)); err != nil {
		return nil, err
	}
	a.Go("timers", svc.RunTimers)
	return svc, nil
}
