package statistics

import (
	"context"
	"errors"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/inbox"
)

// Settings are the statistics service's own configuration. It has no
// settings beyond the shared ones (docs/config.md): the warning thresholds
// come from the county file. Tests set the clock.
type Settings struct {
	// Now is the service clock (time.Now when nil).
	Now Clock
}

// ConsumerName names the consumer group member (xinfang.<county>.statistics.figures).
const ConsumerName = "figures"

// Setup wires statistics into a: schema, service, HTTP routes, Prometheus
// collector and the consumer of every case stream.
func Setup(ctx context.Context, a *app.App, s Settings) (Service, error) {
	if a.CountyConfig == nil {
		return nil, errors.New("statistics needs the county file (XINFANG_COUNTY_FILE)")
	}
	verifier, err := a.RequireAuth()
	if err != nil {
		return nil, err
	}
	if err := a.DB.Migrate(ctx, "statistics", Migrations); err != nil {
		return nil, err
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	svc := New(a.DB, a.Outbox, inbox.New(a.DB, a.GroupID(ConsumerName)),
		func() *county.Config { return a.CountyConfig.Current() }, now, a.Log)
	if err := a.Registry.Register(NewCollector(svc)); err != nil {
		return nil, err
	}
	e := MakeEndpoints(svc, a.Endpoints, a.Log)
	RegisterHTTP(a.HTTP, e, verifier, a.Log)
	if err := a.Consume(ConsumerName, ConsumedStreams, NewKafkaHandler(e)); err != nil {
		return nil, err
	}
	return svc, nil
}
