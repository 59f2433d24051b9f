package routing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/kafkatransport"
)

// Build wires the routing service into a: migrations, the rules (hot
// reloaded from the county file), the service, its endpoints, the HTTP
// routes and the consumers of the petitions and cases streams. now is the
// clock (time.Now when nil); tests inject theirs.
func Build(ctx context.Context, a *app.App, now func() time.Time) (Service, error) {
	return build(ctx, a, now, nil)
}

// build is Build with an optional wrapper around the consumers' handler:
// the catch-up benchmark times each batch through it.
func build(ctx context.Context, a *app.App, now func() time.Time, wrap func(kafkatransport.BatchHandler) kafkatransport.BatchHandler) (Service, error) {
	if a.CountyConfig == nil {
		return nil, errors.New("routing needs the county rules: set XINFANG_COUNTY_FILE")
	}
	verifier, err := a.RequireAuth()
	if err != nil {
		return nil, err
	}
	if err := a.DB.Migrate(ctx, "routing", Migrations); err != nil {
		return nil, err
	}
	rules, err := NewRules(a.CountyConfig, a.Log)
	if err != nil {
		return nil, err
	}
	a.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "xinfang_routing_rules_valid",
		Help: "1 when the newest county rules are in force; 0 when they were rejected (by the county loader or by routing) and the previous version routes.",
	}, func() float64 {
		rules.Current()
		if rules.LastError() != nil {
			return 0
		}
		return 1
	}))
	a.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "xinfang_routing_cases_awaiting_manual",
		Help: "Cases no department may receive (every candidate excluded), waiting for bureau staff to route them by hand (POST /v1/cases/{caseId}/reroute).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := countAwaiting(ctx, a.DB)
		if err != nil {
			a.Log.Warn("routing gauge", "err", err)
			return math.NaN()
		}
		return float64(n)
	}))
	svc, err := New(Config{
		County: a.County, Rules: rules, DB: a.DB, Outbox: a.Outbox, Consumer: a.GroupID(""), Now: now, Log: a.Log,
	})
	if err != nil {
		return nil, err
	}
	eps := MakeEndpoints(svc, a.Endpoints, a.Log)
	RegisterHTTP(a.HTTP, eps, verifier, a.Log)
	var h kafkatransport.BatchHandler = NewEventHandler(eps.HandleEvent, eps.HandleEvents)
	if wrap != nil {
		h = wrap(h)
	}
	for _, stream := range []eventsv1.Stream{eventsv1.StreamPetitions, eventsv1.StreamCases} {
		name := string(stream) // group xinfang.<county>.routing.<stream>, as before batching
		if err := a.ConsumeBatch(name, []eventsv1.Stream{stream}, h, app.BatchOptions{MaxBatch: MaxBatch, Linger: BatchLinger}); err != nil {
			return nil, fmt.Errorf("routing consumer %s: %w", name, err)
		}
	}
	return svc, nil
}
