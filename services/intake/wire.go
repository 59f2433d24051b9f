package intake

import (
	"context"
	"errors"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/intake/vault"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/inbox"
)

// Settings are intake's own configuration (docs/config.md).
type Settings struct {
	KeyFile         string
	GenerateKeys    bool
	QueryPerMinute  int
	QueryBurst      int
	SubmitPerMinute int
	TrustProxy      bool
	MaxImportBytes  int
	// Now is the service clock (time.Now when nil).
	Now Clock
}

// Register adds intake's settings to set.
func (s *Settings) Register(set *config.Set) {
	set.String(&s.KeyFile, "key-file", "XINFANG_INTAKE_KEY_FILE", ".dev/keys/intake-keys.json", "key file sealing personal data and keying petitioner HMACs (a Secret in clusters)")
	set.Bool(&s.GenerateKeys, "generate-keys", "XINFANG_INTAKE_GENERATE_KEYS", false, "create the key file when missing (dev mode only)")
	set.Int(&s.QueryPerMinute, "query-per-minute", "XINFANG_INTAKE_QUERY_PER_MINUTE", 30, "public progress queries per client address per minute")
	set.Int(&s.QueryBurst, "query-burst", "XINFANG_INTAKE_QUERY_BURST", 10, "burst of public progress queries per client address")
	set.Int(&s.SubmitPerMinute, "submit-per-minute", "XINFANG_INTAKE_SUBMIT_PER_MINUTE", 10, "anonymous web registrations per client address per minute")
	set.Bool(&s.TrustProxy, "trust-proxy", "XINFANG_INTAKE_TRUST_PROXY", false, "take the client address from X-Forwarded-For (behind an ingress)")
	set.Int(&s.MaxImportBytes, "max-import-bytes", "XINFANG_INTAKE_MAX_IMPORT_BYTES", 512<<20, "largest accepted import body")
}

// Setup wires intake into a: schema, keys, service, HTTP routes, consumer.
func Setup(ctx context.Context, a *app.App, s Settings) (Service, error) {
	if a.CountyConfig == nil {
		return nil, errors.New("intake needs the county file (XINFANG_COUNTY_FILE)")
	}
	verifier, err := a.RequireAuth()
	if err != nil {
		return nil, err
	}
	if s.GenerateKeys {
		if err := vault.Generate(s.KeyFile); err != nil {
			return nil, err
		}
	}
	keys, err := vault.Load(s.KeyFile)
	if err != nil {
		return nil, err
	}
	if err := a.DB.Migrate(ctx, "intake", Migrations); err != nil {
		return nil, err
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	svc := New(a.DB, a.Outbox, inbox.New(a.DB, a.GroupID("timeline")), keys,
		func() *county.Config { return a.CountyConfig.Current() }, now, a.Log)
	e := MakeEndpoints(svc, a.Endpoints, a.Log)
	RegisterHTTP(a.HTTP, e, verifier, HTTPOptions{
		QueryPerMinute: s.QueryPerMinute, QueryBurst: s.QueryBurst, SubmitPerMinute: s.SubmitPerMinute,
		TrustProxy: s.TrustProxy, MaxImportBytes: int64(s.MaxImportBytes),
	}, a.Log)
	// The timeline is all database work: a fetched run of events is applied
	// in one transaction.
	if err := a.ConsumeInTx("timeline", ConsumedStreams, NewKafkaHandler(e), app.BatchOptions{}); err != nil {
		return nil, err
	}
	return svc, nil
}
