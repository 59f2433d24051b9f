package supervision

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"xinfang.io/services/kit/store"
)

func TestAfterWake(t *testing.T) {
	now := at("2026-03-02 09:00")
	later, muchLater := now.Add(time.Hour), now.Add(48*time.Hour)
	var none time.Time
	for _, c := range []struct {
		name          string
		lookNow       bool
		planned, next time.Time
		look          bool
		wantNext      time.Time
	}{
		{"Wake looks", true, none, later, true, later},
		{"Wake looks whatever was planned", true, muchLater, later, true, later},
		{"a timer due now is fired", false, now, later, true, later},
		{"a timer overdue is fired", false, now.Add(-time.Minute), none, true, none},
		{"a timer after the next one changes nothing", false, muchLater, later, false, later},
		{"a timer at the next one changes nothing", false, later, later, false, later},
		{"a timer before the next one becomes the next", false, later, muchLater, false, later},
		{"a timer when none was known becomes the next", false, later, none, false, later},
		{"a wake with nothing asked changes nothing", false, none, later, false, later},
	} {
		look, next := afterWake(c.lookNow, c.planned, c.next, now)
		if look != c.look || !next.Equal(c.wantNext) {
			t.Errorf("%s: look %v, next %v; want %v, %v", c.name, look, next, c.look, c.wantNext)
		}
	}
}

func TestWakeupKeepsTheEarliestPlannedTimer(t *testing.T) {
	w := newWakeup()
	base := at("2026-03-02 09:00")
	w.planned(base.Add(3 * time.Hour))
	w.planned(base.Add(time.Hour))
	w.planned(base.Add(2 * time.Hour))
	if now, got := w.take(); now || !got.Equal(base.Add(time.Hour)) {
		t.Fatalf("take = %v, %v; want the earliest, %v", now, got, base.Add(time.Hour))
	}
	if now, got := w.take(); now || !got.IsZero() {
		t.Fatalf("a second take = %v, %v; want nothing", now, got)
	}
	w.look()
	if now, _ := w.take(); !now {
		t.Fatal("look was not kept")
	}
	if len(w.ch) != 1 {
		t.Fatalf("%d signals pending, want one for all of them", len(w.ch))
	}
}

// The worker reads its table once at start and when asked (Wake), not once
// for every case that stores a timer: each routing decision stores one, and
// on PostgreSQL the scan and the next-timer query were two of the twelve
// statements a decision cost.
func TestTimerWorkerDoesNotScanForEveryTimerStored(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		var mu sync.Mutex
		decisions := map[string]int{}
		h.svc.hook = func(stage string) {
			mu.Lock()
			decisions[stage]++
			mu.Unlock()
		}
		count := func(stage string) int {
			mu.Lock()
			defer mu.Unlock()
			return decisions[stage]
		}
		waitFor := func(what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s (decisions %v, scans %v)", what, decisions, testutil.ToFloat64(h.svc.metrics.scans))
				}
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.svc.RunTimers(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		scans := func() float64 { return testutil.ToFloat64(h.svc.metrics.scans) }
		waitFor("the first scan", func() bool { return scans() == 1 })

		const cases = 20
		for i := range cases {
			h.assign(fmt.Sprintf("w%02d", i), "rsj")
		}
		// Every case stored a timer days ahead; the worker heard of at least
		// one of them (wakes coalesce) and slept on each time.
		waitFor("the wakes", func() bool { return count("timers-sleep") >= 1 && len(h.svc.wake.ch) == 0 })
		if got := scans(); got != 1 {
			t.Errorf("%v scans after %d timers stored in the future, want 1", got, cases)
		}
		if n := count("timers-look"); n != 0 {
			t.Errorf("the worker looked %d times", n)
		}

		// Wake still looks, and what it finds due fires: the clock at the
		// last of the cases' timers.
		fired := h.timersFired()
		var last string
		if err := h.db.QueryRow(context.Background(), `SELECT MAX(fire_at) FROM supervision_timers WHERE fired_at IS NULL`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		lastAt, err := store.ParseTime(last)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Set(lastAt)
		h.svc.Wake()
		waitFor("the scan Wake asked for", func() bool { return scans() >= 2 })
		waitFor("the reminders", func() bool { return h.timersFired() >= fired+cases })
	})
}

// timersFired counts the timer rows marked fired.
func (h *harness) timersFired() int {
	h.t.Helper()
	var n int
	if err := h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_timers WHERE fired_at IS NOT NULL`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}
