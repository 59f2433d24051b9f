// Command devbroker runs a single-node Kafka-protocol broker (kfake) for
// dev mode and for tests that run the services as separate processes.
// Real Kafka needs a JVM and Docker, neither of which every machine has; kfake
// speaks the wire protocol well enough for kafka-go and kcat.
//
// See README.md for flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	envPort    = "XINFANG_BROKER_PORT"
	envDataDir = "XINFANG_BROKER_DATA_DIR"

	defaultPort    = 19092
	defaultDataDir = ".dev/broker"

	// The OS hands out ephemeral ports from 32768 up, so a fixed port there
	// can be taken by any outgoing connection.
	ephemeralPortStart = 32768

	lockFileName = "devbroker.lock"
)

type config struct {
	port              int
	dataDir           string
	partitions        int
	autoCreate        bool
	sync              bool
	readyFile         string
	topics            []string
	minSessionTimeout time.Duration
	logLevel          slog.Level
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devbroker: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, stop, cfg, log); err != nil {
		log.Error("devbroker failed", "err", err)
		os.Exit(1)
	}
}

// parseConfig takes defaults from the environment first so that an explicit
// flag always wins over the environment.
func parseConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (config, error) {
	port := defaultPort
	if v, ok := lookupEnv(envPort); ok && v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return config{}, fmt.Errorf("parsing %s=%q: %w", envPort, v, err)
		}
		port = p
	}
	dataDir := defaultDataDir
	// An explicitly empty variable means in-memory, so presence matters, not
	// just the value.
	if v, ok := lookupEnv(envDataDir); ok {
		dataDir = v
	}

	var cfg config
	var topics, logLevel string
	fs := flag.NewFlagSet("devbroker", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&cfg.port, "listen", port, "TCP port on 127.0.0.1 (0 = any free port; env "+envPort+")")
	fs.StringVar(&cfg.dataDir, "data-dir", dataDir, "directory for persistent state; empty = in-memory (env "+envDataDir+")")
	fs.IntVar(&cfg.partitions, "partitions", 6, "partitions for auto-created topics and CreateTopics with -1")
	fs.BoolVar(&cfg.autoCreate, "auto-create", true, "create unknown topics on metadata requests that ask for it")
	fs.BoolVar(&cfg.sync, "sync", false, "fsync every write (durable against power loss, slower)")
	fs.StringVar(&cfg.readyFile, "ready-file", "", "write \"host:port\\n\" here once listening; removed on clean exit")
	fs.StringVar(&topics, "topics", "", "comma-separated topics to create at start if missing (with -partitions)")
	fs.DurationVar(&cfg.minSessionTimeout, "group-min-session-timeout", 6*time.Second, "smallest consumer-group session timeout clients may ask for")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.port < 0 || cfg.port > 65535 {
		return config{}, fmt.Errorf("-listen %d: port out of range", cfg.port)
	}
	if cfg.partitions < 1 {
		return config{}, fmt.Errorf("-partitions %d: must be at least 1", cfg.partitions)
	}
	if cfg.minSessionTimeout <= 0 {
		return config{}, fmt.Errorf("-group-min-session-timeout %v: must be positive", cfg.minSessionTimeout)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return config{}, fmt.Errorf("-log-level %q: %w", logLevel, err)
	}
	for t := range strings.SplitSeq(topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.topics = append(cfg.topics, t)
		}
	}
	return cfg, nil
}

// run serves until ctx is cancelled. stop is called once shutdown begins so
// that a second signal kills the process if closing hangs.
func run(ctx context.Context, stop func(), cfg config, log *slog.Logger) error {
	if cfg.port >= ephemeralPortStart {
		log.Warn("port is in the ephemeral range and may be taken by outgoing connections", "port", cfg.port)
	}
	opts := []kfake.Opt{
		kfake.Ports(cfg.port),
		kfake.DefaultNumPartitions(cfg.partitions),
		kfake.GroupMinSessionTimeout(cfg.minSessionTimeout),
		kfake.WithLogger(slogAdapter{log.With("component", "kfake")}),
	}
	// kfake.AllowAutoTopicCreation is left off on purpose: see autoCreateTopics.
	dataDir := "(in-memory)"
	if cfg.dataDir != "" {
		abs, err := filepath.Abs(cfg.dataDir)
		if err != nil {
			return fmt.Errorf("resolving data dir %q: %w", cfg.dataDir, err)
		}
		dataDir = abs
		unlock, err := lockDataDir(abs)
		if err != nil {
			return err
		}
		defer unlock()
		opts = append(opts, kfake.DataDir(abs))
		if cfg.sync {
			opts = append(opts, kfake.SyncWrites())
		}
	} else if cfg.sync {
		log.Warn("-sync has no effect without -data-dir")
	}
	if cfg.readyFile != "" {
		// A file left by a killed broker would tell waiters we are ready
		// before we are. This runs after taking the data dir lock so that a
		// second broker refused for that reason leaves the first one's file.
		if err := os.Remove(cfg.readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing stale ready file: %w", err)
		}
	}

	start := time.Now()
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("starting kfake on port %d with data dir %s: %w", cfg.port, dataDir, err)
	}
	closed := false
	closeCluster := func() {
		if !closed {
			closed = true
			cluster.Close()
		}
	}
	defer closeCluster()

	if cfg.autoCreate {
		autoCreateTopics(cluster, log)
	}

	// kfake.SeedTopics only applies to an empty data dir, so topics are
	// ensured after loading instead.
	for _, t := range cfg.topics {
		if cluster.TopicInfo(t) != nil {
			continue
		}
		if err := cluster.CreateTopic(t, int32(cfg.partitions), nil); err != nil {
			return fmt.Errorf("creating topic %q: %w", t, err)
		}
		log.Info("created topic", "topic", t, "partitions", cfg.partitions)
	}

	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		return fmt.Errorf("expected one listen address, kfake reports %q", addrs)
	}
	addr := addrs[0]
	if cfg.readyFile != "" {
		if err := writeFileAtomic(cfg.readyFile, []byte(addr+"\n")); err != nil {
			return fmt.Errorf("writing ready file: %w", err)
		}
		defer os.Remove(cfg.readyFile)
	}
	log.Info("broker listening",
		"addr", addr,
		"data_dir", dataDir,
		"partitions", cfg.partitions,
		"auto_create", cfg.autoCreate,
		"sync", cfg.sync,
		"startup", time.Since(start).Round(time.Millisecond),
	)

	<-ctx.Done()
	stop()
	log.Info("shutting down; signal again to force")
	start = time.Now()
	closeCluster()
	log.Info("broker stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// autoCreateTopics creates the topics a metadata request asks to
// auto-create before kfake answers it. kfake's own AllowAutoTopicCreation
// creates them without saving the topic list, so after a SIGKILL the topic is
// gone (its records orphaned on disk) while the group offsets for it survive.
// Cluster.CreateTopic saves the list, and also validates the name.
func autoCreateTopics(cluster *kfake.Cluster, log *slog.Logger) {
	cluster.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mreq, ok := req.(*kmsg.MetadataRequest)
		if !ok || !mreq.AllowAutoTopicCreation {
			return nil, nil, false
		}
		for _, rt := range mreq.Topics {
			if rt.Topic == nil || *rt.Topic == "" {
				continue
			}
			topic := *rt.Topic
			// Control functions run on their own goroutine while kfake's
			// loop keeps serving admin calls, so these do not deadlock.
			if cluster.TopicInfo(topic) != nil {
				continue
			}
			if err := cluster.CreateTopic(topic, -1, nil); err != nil {
				// kfake then answers UNKNOWN_TOPIC_OR_PARTITION, which is what
				// the client needs to hear.
				log.Warn("auto-creating topic failed", "topic", topic, "err", err)
				continue
			}
			log.Info("auto-created topic", "topic", topic)
		}
		// Not handled: kfake answers the request as usual, now that the
		// topics exist.
		return nil, nil, false
	})
}

// lockDataDir stops a second broker from loading and then overwriting the
// same state, which kfake itself does not guard against.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another devbroker", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The kernel drops the lock when the process dies, so a SIGKILLed
	// broker never leaves the directory locked.
	return func() { f.Close() }, nil
}

// writeFileAtomic keeps readers from seeing a half-written address.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating temp file in %s: %w", dir, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("renaming to %s: %w", path, err)
	}
	return nil
}

// slogAdapter routes kfake's printf-style logs into the structured log so
// that one -log-level filters both.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	case kfake.LogLevelInfo:
		l = slog.LevelInfo
	case kfake.LogLevelDebug:
		l = slog.LevelDebug
	default:
		return
	}
	// kfake's debug lines come per group reconcile; skip formatting what
	// the handler would drop anyway.
	if !a.log.Enabled(context.Background(), l) {
		return
	}
	a.log.Log(context.Background(), l, fmt.Sprintf(format, args...))
}
