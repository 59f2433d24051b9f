// Package clock is the services' time source: the real clock, or — in dev
// mode only (make demo) — an accelerated clock that starts at a chosen
// instant and runs speed times faster than real time, so that deadlines,
// reminders and 督办 escalations of days happen within seconds.
//
// An accelerated clock must never run in production: statutory dates would
// be wrong. New refuses one without a logger and logs a loud warning.
package clock

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Real is the system clock.
type Real struct{}

// Now is time.Now.
func (Real) Now() time.Time { return time.Now() }

// Accelerated reads Start at the real instant Epoch and runs Speed times
// faster than real time from there: Start + Speed × (real now − Epoch).
type Accelerated struct {
	Start time.Time
	Epoch time.Time
	Speed int
	// real is the underlying clock (time.Now when nil); tests set it.
	real func() time.Time
}

// Now is the accelerated time.
func (a *Accelerated) Now() time.Time {
	now := time.Now
	if a.real != nil {
		now = a.real
	}
	return a.Start.Add(time.Duration(a.Speed) * now().Sub(a.Epoch))
}

// New returns the real clock for speed 1, or an accelerated clock for a
// larger speed: it reads start (the real now when zero) at the real
// instant epoch (the real now when zero). An accelerated clock needs log,
// on which it announces itself as a dev clock.
func New(speed int, start, epoch time.Time, log *slog.Logger) (Clock, error) {
	switch {
	case speed == 1:
		return Real{}, nil
	case speed < 1:
		return nil, fmt.Errorf("dev clock speed %d: must be at least 1", speed)
	case log == nil:
		return nil, errors.New("an accelerated dev clock needs a log to announce itself")
	}
	now := time.Now()
	if epoch.IsZero() {
		epoch = now
	}
	if start.IsZero() {
		start = now
	}
	c := &Accelerated{Start: start, Epoch: epoch, Speed: speed}
	log.Warn("DEV CLOCK — NOT FOR PRODUCTION: service time runs faster than real time; statutory dates, reminders and 督办 are simulated",
		"speed", speed, "start", start.Format(time.RFC3339), "epoch", epoch.Format(time.RFC3339), "now", c.Now().Format(time.RFC3339),
		"one_day_every", (24 * time.Hour / time.Duration(speed)).String())
	return c, nil
}

// Poll scales a polling interval meant for real time to the clock's speed
// (a timer worker that sleeps 30 s of real time would skip 24 dev hours at
// speed 2880), never below min.
func Poll(interval time.Duration, speed int, min time.Duration) time.Duration {
	if speed <= 1 {
		return interval
	}
	return max(interval/time.Duration(speed), min)
}

// Manual is a clock that moves only when told to: tests and simulations
// drive time with it.
type Manual struct {
	mu sync.Mutex
	t  time.Time
}

// NewManual returns a manual clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{t: t} }

// Now reads the clock.
func (m *Manual) Now() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.t }

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) { m.mu.Lock(); m.t = t; m.mu.Unlock() }
