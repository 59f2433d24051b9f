package statistics

import (
	"context"
	"errors"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/app"
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
	if err := Upgrade(ctx, a.DB, a.Log); err != nil {
		return nil, err
	}
	svc := New(a.DB, Options{
		Outbox: a.Outbox, County: func() *county.Config { return a.CountyConfig.Current() }, Now: now, Log: a.Log,
		LegacyInbox: a.GroupID(ConsumerName),
	})
	if err := a.Registry.Register(NewCollector(svc)); err != nil {
		return nil, err
	}
	e := MakeEndpoints(svc, a.Endpoints, a.Log)
	RegisterHTTP(a.HTTP, e, verifier, a.Log)
	if err := a.ConsumeBatch(ConsumerName, ConsumedStreams, NewKafkaHandler(e),
		app.BatchOptions{MaxBatch: MaxBatch, Linger: BatchLinger}); err != nil {
		return nil, err
	}
	return svc, nil
}

// The consumer applies up to MaxBatch events per transaction, waiting at
// most BatchLinger for a next message (and the kit's window, 200 ms, in
// all). When catching up (an import, a restart after downtime) the counter
// rows a batch touches — the same days, months and years for many cases —
// are written once for thousands of events: at ten million events, batches
// of 10,000 write 0.9 counter rows an event, batches of 1,000 2.3. Live, a
// batch is what arrived within a few milliseconds.
const (
	MaxBatch    = 10000
	BatchLinger = time.Millisecond
)
