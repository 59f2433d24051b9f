// Package app wires a service from the kit's parts and runs it: logging,
// tracing, the database with the outbox and inbox tables, the Kafka
// publisher and outbox relay, consumers, the HTTP server, and an ordered
// graceful stop. A service's main builds its domain on top (see Main).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/httpserver"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/logging"
	"xinfang.io/services/kit/middleware"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// App is a running service's shared machinery.
type App struct {
	Config config.Base
	// County is the county id; CountyConfig the hot-reloaded county file
	// (nil when the service runs without one, as kit tests do).
	County       string
	CountyConfig *county.Watcher
	Log          *slog.Logger
	// Clock is the service time: real, or the accelerated dev clock
	// (XINFANG_DEV_CLOCK_SPEED, make demo). Services take it from here.
	Clock     clock.Clock
	Registry  *prometheus.Registry
	Endpoints *middleware.Metrics
	DB        *store.DB
	Outbox    *outbox.Outbox
	Publisher *kafkatransport.Publisher
	// Kafka is the county's Kafka: its brokers and the TLS/SASL settings
	// every connection (writer, consumers, admin calls) uses.
	Kafka kafkatransport.Cluster
	HTTP  *httpserver.Server
	// Auth verifies staff tokens; nil when no key source is configured, in
	// which case staff endpoints must not be served (see RequireAuth).
	Auth *auth.Verifier

	relay     *outbox.Relay
	consumers []runner
	workers   []worker
	closers   []func(context.Context) error
}

type worker struct {
	name string
	run  func(context.Context) error
}

// countyPoll is how often the county file is checked for changes; a
// ConfigMap update reaches the pod's volume within about a minute anyway.
const countyPoll = 2 * time.Second

// New builds the app for cfg. The county id comes from the county file, or
// from cfg.County when there is none (both given must agree). On error, what
// was opened is closed again.
func New(ctx context.Context, cfg config.Base) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := cfg.LogOutput
	if out == nil {
		out = os.Stderr
	}
	log, err := logging.New(out, cfg.LogLevel, cfg.LogFormat, cfg.Service)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, County: cfg.County, Log: log, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			_ = a.close(context.Background())
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Endpoints = middleware.NewMetrics(a.Registry)
	if err := a.loadCounty(); err != nil {
		return nil, err
	}
	a.Log = a.Log.With("county", a.County)
	speed, start, epoch := cfg.DevClock()
	if a.Clock, err = clock.New(speed, start, epoch, a.Log); err != nil {
		return nil, err
	}

	shutdownTracing, err := tracing.Setup(ctx, "xinfang-"+cfg.Service)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, shutdownTracing)

	dialect, err := store.ParseDialect(cfg.DBDriver)
	if err != nil {
		return nil, err
	}
	if dialect == store.SQLite {
		if err := os.MkdirAll(filepath.Dir(cfg.DBDSN), 0o700); err != nil {
			return nil, fmt.Errorf("database directory: %w", err)
		}
	}
	dsn := cfg.DBDSN
	if dialect == store.Postgres && cfg.DBGenericPlans {
		if dsn, err = store.WithPostgresParam(dsn, "plan_cache_mode", "force_generic_plan"); err != nil {
			return nil, err
		}
	}
	a.DB, err = store.Open(ctx, dialect, dsn)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func(context.Context) error { return a.DB.Close() })
	// The pool's figures (connections open, in use, waited for, closed) are
	// how an SRE sees a pool too small for the load or churning connections.
	a.Registry.MustRegister(collectors.NewDBStatsCollector(a.DB.DB, cfg.Service))
	if err := a.DB.Migrate(ctx, "outbox", outbox.Migrations); err != nil {
		return nil, err
	}
	if err := a.DB.Migrate(ctx, "inbox", inbox.Migrations); err != nil {
		return nil, err
	}

	security, err := kafkatransport.SecurityConfig{
		TLS: cfg.KafkaTLS, CAFile: cfg.KafkaTLSCAFile, CertFile: cfg.KafkaTLSCertFile, KeyFile: cfg.KafkaTLSKeyFile,
		SASLMechanism: cfg.KafkaSASLMechanism, SASLUsername: cfg.KafkaSASLUsername, SASLPasswordFile: cfg.KafkaSASLPasswordFile,
	}.Build()
	if err != nil {
		return nil, fmt.Errorf("kafka security: %w", err)
	}
	a.Kafka = kafkatransport.Cluster{Brokers: cfg.Brokers, Security: security}
	var topics []string // the county's: everything a service produces to
	for _, s := range eventsv1.Streams() {
		topics = append(topics, a.Topic(s))
	}
	if cfg.CreateTopics {
		if err := a.Kafka.EnsureTopics(ctx, cfg.TopicPartitions, 1, topics...); err != nil {
			return nil, err
		}
	}
	w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: cfg.Brokers, BatchTimeout: cfg.KafkaBatch, Security: security, Topics: topics})
	a.Publisher = kafkatransport.NewPublisher(w, a.Registry)
	a.closers = append(a.closers, func(context.Context) error { return a.Publisher.Close() })
	a.Outbox = outbox.New(a.DB, a.County)
	a.relay = outbox.NewRelay(a.Outbox, a.Publisher, outbox.RelayConfig{}, a.Registry, a.Log)

	if cfg.AuthHS256SecretFile != "" || cfg.AuthRS256PublicKeyFile != "" || cfg.AuthJWKS != "" {
		keys, err := auth.LoadKeys(cfg.AuthHS256SecretFile, cfg.AuthRS256PublicKeyFile, cfg.AuthJWKS)
		if err != nil {
			return nil, err
		}
		a.Auth = auth.NewVerifier(a.County, keys, cfg.AuthIssuer)
	}

	a.HTTP = httpserver.New(cfg.HTTPAddr, a.Registry, a.Log)
	a.HTTP.AddReadyCheck("database", func(ctx context.Context) error { return a.DB.PingContext(ctx) })
	a.HTTP.AddReadyCheck("kafka", func(ctx context.Context) error {
		return a.Kafka.CheckTopics(ctx, a.Topic(eventsv1.StreamDeadLetter))
	})
	return a, nil
}

func (a *App) loadCounty() error {
	if a.Config.CountyFile == "" {
		if a.County == "" {
			return errors.New("no county: set XINFANG_COUNTY_FILE (or XINFANG_COUNTY without a file)")
		}
		return nil
	}
	var opts []county.Option
	if a.County != "" {
		opts = append(opts, county.WithCountyID(a.County))
	}
	w, err := county.NewWatcher(a.Config.CountyFile, countyPoll, a.Log, opts...)
	if err != nil {
		return err
	}
	a.CountyConfig = w
	a.County = w.Current().ID
	valid := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "xinfang_county_config_valid",
		Help: "1 when the county file's latest content was accepted; 0 when an edit was rejected and the previous version stays in force.",
	}, func() float64 {
		if w.LastError() != nil {
			return 0
		}
		return 1
	})
	a.Registry.MustRegister(valid)
	a.Go("county-config", w.Run)
	return nil
}

// RequireAuth returns the staff token verifier, or an error naming the
// settings when none is configured: a service with staff endpoints refuses
// to start open.
func (a *App) RequireAuth() (*auth.Verifier, error) {
	if a.Auth == nil {
		return nil, errors.New("staff endpoints need a token key: set XINFANG_AUTH_HS256_SECRET_FILE, XINFANG_AUTH_RS256_PUBLIC_KEY_FILE or XINFANG_AUTH_JWKS")
	}
	return a.Auth, nil
}

// Topic is the county's topic for stream s.
func (a *App) Topic(s eventsv1.Stream) string {
	t, err := eventsv1.Topic(a.County, s)
	if err != nil {
		panic(err) // the county id was validated in New
	}
	return t
}

// GroupID is the consumer group of this service's consumer name.
func (a *App) GroupID(name string) string {
	g := "xinfang." + a.County + "." + a.Config.Service
	if name != "" {
		g += "." + name
	}
	return g
}

// Consume adds a consumer group member named name reading streams, whose
// failures go to the county's dead-letter topic.
func (a *App) Consume(name string, streams []eventsv1.Stream, h kafkatransport.Handler) error {
	topics := make([]string, len(streams))
	for i, s := range streams {
		topics[i] = a.Topic(s)
	}
	c, err := kafkatransport.NewConsumer(kafkatransport.ConsumerConfig{
		Reader:          kafkatransport.ReaderConfig{Brokers: a.Config.Brokers, GroupID: a.GroupID(name), Topics: topics, Security: a.Kafka.Security},
		DeadLetterTopic: a.Topic(eventsv1.StreamDeadLetter),
		DrainTimeout:    a.Config.ShutdownTimeout,
	}, h, a.Publisher.Writer(), a.Registry, a.Log)
	if err != nil {
		return fmt.Errorf("consume %s: %w", name, err)
	}
	a.consumers = append(a.consumers, c)
	return nil
}

type runner interface {
	Run(ctx context.Context) error
}

// BatchOptions tune a batch consumer; zero values take the kit's defaults.
type BatchOptions struct {
	MaxBatch int
	Linger   time.Duration
}

// ConsumeBatch adds a consumer group member that hands runs of fetched
// messages to h at once (see kafkatransport.BatchConsumer).
func (a *App) ConsumeBatch(name string, streams []eventsv1.Stream, h kafkatransport.BatchHandler, o BatchOptions) error {
	topics := make([]string, len(streams))
	for i, s := range streams {
		topics[i] = a.Topic(s)
	}
	c, err := kafkatransport.NewBatchConsumer(kafkatransport.BatchConsumerConfig{
		ConsumerConfig: kafkatransport.ConsumerConfig{
			Reader:          kafkatransport.ReaderConfig{Brokers: a.Config.Brokers, GroupID: a.GroupID(name), Topics: topics, Security: a.Kafka.Security},
			DeadLetterTopic: a.Topic(eventsv1.StreamDeadLetter),
			DrainTimeout:    a.Config.ShutdownTimeout,
		},
		MaxBatch: o.MaxBatch, Linger: o.Linger,
	}, h, a.Publisher.Writer(), a.Registry, a.Log)
	if err != nil {
		return fmt.Errorf("consume %s: %w", name, err)
	}
	a.consumers = append(a.consumers, c)
	return nil
}

// ConsumeInTx is Consume for a handler whose work is all in the service's
// database: a fetched run of messages is handled in one transaction (the
// handler's own transactions join it, see store.WithRedoableTx),
// so the commit — most of a small message's cost — is paid once per run.
// If any message of the run fails, the run is rolled back and its messages
// are handled one at a time as Consume would, with retries and dead
// letters. The handler must keep every side effect in the database or in
// after-commit hooks, since a rolled-back run is handled again.
func (a *App) ConsumeInTx(name string, streams []eventsv1.Stream, h kafkatransport.Handler, o BatchOptions) error {
	return a.ConsumeBatch(name, streams, txBatch{Handler: h, db: a.DB}, o)
}

// txBatch handles a batch in one ambient transaction.
type txBatch struct {
	kafkatransport.Handler
	db *store.DB
}

// Its handlers' own transactions take no savepoints (store.WithRedoableTx):
// a failure anywhere in the run, even one a handler swallowed, fails the
// run, and the consumer handles its messages one at a time.
func (t txBatch) HandleBatch(ctx context.Context, batch []kafkatransport.Delivery) error {
	return t.db.InTx(ctx, func(tx *store.Tx) error {
		for _, d := range batch {
			if err := t.Handler.Handle(store.WithRedoableTx(d.Context, tx), d.Message); err != nil {
				return err
			}
		}
		return tx.Spoiled()
	})
}

// Go adds a background worker (a timer loop, a config watcher). It stops
// together with the consumers, before the relay's last pass.
func (a *App) Go(name string, run func(context.Context) error) {
	a.workers = append(a.workers, worker{name: name, run: run})
}

// OnClose adds a function run at the very end of a stop.
func (a *App) OnClose(f func(context.Context) error) { a.closers = append(a.closers, f) }

// Run serves until ctx is cancelled or a part fails, then stops in order:
// HTTP stops taking requests and finishes those in flight; consumers finish
// their in-flight message and commit; workers stop; the relay publishes what
// was committed; then the publisher, database and tracing close.
func (a *App) Run(ctx context.Context) error {
	if err := a.HTTP.Listen(); err != nil {
		return errors.Join(err, a.close(context.Background()))
	}
	failed := make(chan error, 1)
	fail := func(name string, err error) {
		if err != nil {
			select {
			case failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	workCtx, stopWork := context.WithCancel(context.Background())
	relayCtx, stopRelay := context.WithCancel(context.Background())
	var httpWG, workWG, relayWG sync.WaitGroup
	spawn := func(wg *sync.WaitGroup, name string, f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); fail(name, f()) }()
	}
	spawn(&relayWG, "outbox relay", func() error { return a.relay.Run(relayCtx) })
	for _, c := range a.consumers {
		spawn(&workWG, "consumer", func() error { return c.Run(workCtx) })
	}
	for _, w := range a.workers {
		spawn(&workWG, w.name, func() error { return w.run(workCtx) })
	}
	spawn(&httpWG, "http", func() error { return a.HTTP.Serve(httpCtx, a.Config.ShutdownTimeout) })
	if a.Config.DebugAddr != "" {
		spawn(&httpWG, "debug", func() error { return serveDebug(httpCtx, a.Config.DebugAddr, a.Log) })
	}
	a.Log.Info("service started", "http", a.HTTP.Addr(), "brokers", a.Config.Brokers, "db", a.Config.DBDriver)
	go releaseStartupMemory(workCtx)

	var runErr error
	select {
	case <-ctx.Done():
		a.Log.Info("stopping")
	case runErr = <-failed:
		a.Log.Error("stopping after failure", "error", runErr)
	}
	a.HTTP.Drain()
	stopHTTP()
	httpWG.Wait()
	stopWork()
	workWG.Wait()
	stopRelay()
	relayWG.Wait()
	select {
	case err := <-failed:
		runErr = errors.Join(runErr, err)
	default:
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	runErr = errors.Join(runErr, a.close(closeCtx))
	if runErr == nil {
		a.Log.Info("stopped")
	}
	return runErr
}

func (a *App) close(ctx context.Context) error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i](ctx))
	}
	a.closers = nil
	return errors.Join(errs...)
}
