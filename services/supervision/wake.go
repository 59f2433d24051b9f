package supervision

import (
	"sync"
	"time"
)

// wakeup is what the transitions since the timer worker last looked ask of
// it: to look now (Wake), or only the earliest timer they stored (planned),
// which the worker can sleep until without reading the table again. Every
// routing decision stores a timer; reading the table for each cost the
// worker a transaction with the due scan and a next-timer query (on
// PostgreSQL about 3.5 of the 12 statements of a decision).
type wakeup struct {
	ch chan struct{}

	mu  sync.Mutex
	now bool      // look at the timers now
	at  time.Time // the earliest timer stored (zero: none)
}

func newWakeup() *wakeup { return &wakeup{ch: make(chan struct{}, 1)} }

// look asks the worker to look at the timers now.
func (w *wakeup) look() {
	w.mu.Lock()
	w.now = true
	w.mu.Unlock()
	w.signal()
}

// planned tells the worker a timer due at at was stored.
func (w *wakeup) planned(at time.Time) {
	w.mu.Lock()
	if w.at.IsZero() || at.Before(w.at) {
		w.at = at
	}
	w.mu.Unlock()
	w.signal()
}

func (w *wakeup) signal() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// take returns and clears what was asked since the last take.
func (w *wakeup) take() (now bool, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now, at = w.now, w.at
	w.now, w.at = false, time.Time{}
	return now, at
}
