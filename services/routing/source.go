package routing

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"xinfang.io/county"
)

// ConfigSource gives the county configuration in force; *county.Watcher is
// one (hot reload from the rules file).
type ConfigSource interface {
	Current() *county.Config
}

// Rules is the routing rules in force. It reads the source per decision, so
// a reloaded file changes the next decision, and compiles each new version
// once. A version that the county loader accepted but routing cannot use
// (supervising bodies in a cycle) is rejected like an invalid file: the
// previous rules stay in force and LastError says why.
type Rules struct {
	src ConfigSource
	log *slog.Logger

	current atomic.Pointer[Ruleset]

	mu       sync.Mutex
	rejected string // version last rejected, so it is compiled and logged once
	lastErr  error
}

// NewRules compiles the source's current configuration; a service must not
// start on rules it cannot use. A nil logger means slog.Default().
func NewRules(src ConfigSource, log *slog.Logger) (*Rules, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg := src.Current()
	rs, err := Compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("county %s rules version %s: %w", cfg.ID, cfg.Version, err)
	}
	r := &Rules{src: src, log: log}
	r.current.Store(rs)
	return r, nil
}

// Current returns the ruleset for one decision.
func (r *Rules) Current() *Ruleset {
	cfg := r.src.Current()
	rs := r.current.Load()
	if rs.Config == cfg {
		return rs
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rs = r.current.Load()
	if rs.Config == cfg || cfg.Version == r.rejected {
		return rs
	}
	next, err := Compile(cfg)
	if err != nil {
		r.rejected = cfg.Version
		r.lastErr = fmt.Errorf("county %s rules version %s rejected by routing, version %s stays in force: %w", cfg.ID, cfg.Version, rs.Version(), err)
		r.log.Error("routing rules rejected; keeping the current version", "county", cfg.ID, "version", cfg.Version, "in_force", rs.Version(), "err", err)
		return rs
	}
	if next.Version() != rs.Version() {
		r.log.Info("routing rules in force", "county", cfg.ID, "version", next.Version(), "previous", rs.Version())
	}
	r.rejected, r.lastErr = "", nil
	r.current.Store(next)
	return next
}

// LastError says why the newest configuration is not in force: rejected by
// the county loader (when the source reports it) or by routing.
func (r *Rules) LastError() error {
	if le, ok := r.src.(interface{ LastError() error }); ok {
		if err := le.LastError(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}
