package routing

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
)

// Build wires the routing service into a: migrations, the rules (hot
// reloaded from the county file), the service, its endpoints, the HTTP
// routes and the consumers of the petitions and cases streams. now is the
// clock (time.Now when nil); tests inject theirs.
func Build(ctx context.Context, a *app.App, now func() time.Time) (Service, error) {
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
	svc, err := New(Config{
		County: a.County, Rules: rules, DB: a.DB, Outbox: a.Outbox, Consumer: a.GroupID(""), Now: now, Log: a.Log,
	})
	if err != nil {
		return nil, err
	}
	eps := MakeEndpoints(svc, a.Endpoints, a.Log)
	RegisterHTTP(a.HTTP, eps, verifier, a.Log)
	h := NewEventHandler(eps.HandleEvent)
	if err := a.Consume("petitions", []eventsv1.Stream{eventsv1.StreamPetitions}, h); err != nil {
		return nil, err
	}
	if err := a.Consume("cases", []eventsv1.Stream{eventsv1.StreamCases}, h); err != nil {
		return nil, err
	}
	return svc, nil
}
