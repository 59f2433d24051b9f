package county

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Watcher keeps a service's county configuration current by polling its
// file. It compares content hashes, not modification times: the kubelet
// updates a mounted ConfigMap by swapping a ..data symlink, which leaves the
// mtime of the path the service opened meaningless, and polling needs no
// inotify support in the container.
//
// A file that fails to parse or validate never replaces the configuration in
// force: the service keeps routing by the last good rules, logs the problem
// once, and reports it through LastError (e.g. on a readiness or status
// endpoint) until a good file arrives.
//
// +kubebuilder:object:generate=false
type Watcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	opts     []Option

	current atomic.Pointer[Config]

	mu       sync.Mutex // serialises polls; guards the fields below
	seen     [sha256.Size]byte
	lastErr  error
	subs     []chan *Config
	lastRead string // last read error logged, so a missing file logs once
}

// NewWatcher loads the file once and fails if that load fails: a service
// must not start without valid rules. A nil logger means slog.Default().
// The options apply to every load.
func NewWatcher(path string, interval time.Duration, log *slog.Logger, opts ...Option) (*Watcher, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("county config watcher: poll interval must be positive, got %v", interval)
	}
	if log == nil {
		log = slog.Default()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read county config: %w", err)
	}
	cfg, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("county config %s: %w", path, err)
	}
	w := &Watcher{path: path, interval: interval, log: log, opts: opts, seen: sha256.Sum256(data)}
	w.current.Store(cfg)
	log.Info("county config loaded", "path", path, "county", cfg.ID, "version", cfg.Version)
	return w, nil
}

// Current returns the configuration in force. It never returns nil and
// never blocks; callers should take it once per unit of work (one routing
// decision, one timer pass) so that the work sees one consistent version.
func (w *Watcher) Current() *Config { return w.current.Load() }

// LastError returns why the latest file content was rejected, or nil if the
// file in place is the configuration in force.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Subscribe returns a channel that receives each new configuration. It holds
// only the latest one: a slow reader skips versions rather than stalling the
// watcher, which suits readers that only need the newest rules.
func (w *Watcher) Subscribe() <-chan *Config {
	ch := make(chan *Config, 1)
	w.mu.Lock()
	w.subs = append(w.subs, ch)
	w.mu.Unlock()
	return ch
}

// Run polls until ctx is cancelled, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Poll() // outcome is logged and kept in LastError
		}
	}
}

// errIDChanged guards against a mount that now holds another county's file.
var errIDChanged = errors.New("county id changed")

// Poll checks the file once and reports whether a new configuration was
// published. Run calls it on every tick; tests and signal handlers may call
// it directly.
func (w *Watcher) Poll() (changed bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	data, err := os.ReadFile(w.path)
	if err != nil {
		// During a ConfigMap update the file is briefly replaced, never
		// missing, so a read error is worth one log line, not one per tick.
		err = fmt.Errorf("read county config: %w", err)
		if err.Error() != w.lastRead {
			w.log.Warn("county config unreadable; keeping the current version", "path", w.path, "version", w.Current().Version, "err", err)
			w.lastRead = err.Error()
		}
		w.lastErr = err
		// Forget the content seen, so that the same content coming back is
		// judged afresh and clears this error.
		w.seen = [sha256.Size]byte{}
		return false, err
	}
	w.lastRead = ""
	sum := sha256.Sum256(data)
	if sum == w.seen {
		return false, w.lastErr
	}
	w.seen = sum

	cur := w.Current()
	cfg, err := Parse(data, w.opts...)
	if err == nil && cfg.ID != cur.ID {
		err = fmt.Errorf("%w from %q to %q; a service serves one county, restart it to serve another", errIDChanged, cur.ID, cfg.ID)
	}
	if err != nil {
		w.lastErr = fmt.Errorf("county config %s: %w", w.path, err)
		w.log.Error("county config rejected; keeping the current version", "path", w.path, "county", cur.ID, "version", cur.Version, "err", err)
		return false, w.lastErr
	}
	w.lastErr = nil
	if cfg.Version == cur.Version {
		return false, nil // only comments, formatting or operator-only fields changed
	}
	w.current.Store(cfg)
	w.log.Info("county config reloaded", "path", w.path, "county", cfg.ID, "version", cfg.Version, "previous", cur.Version)
	for _, ch := range w.subs {
		select {
		case <-ch: // drop the unread older version
		default:
		}
		select {
		case ch <- cfg:
		default: // unreachable: this goroutine is the only sender and just made room
		}
	}
	return true, nil
}
