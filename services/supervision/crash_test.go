package supervision

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

// The crash test re-runs this test binary as a child that fires due timers
// and SIGKILLs itself at a chosen point: no deferred cleanup, no rollback
// by the program, the database sees a dead client.
const crashRoleEnv = "XINFANG_SUPERVISION_CRASH_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(crashRoleEnv); role != "" {
		if err := crashChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(3) // the child was to kill itself
	}
	code := m.Run()
	for i := len(benchCleanup) - 1; i >= 0; i-- {
		benchCleanup[i]()
	}
	os.Exit(code)
}

// crashChild fires timers at XINFANG_NOW, three per transaction, and kills
// itself at the n-th timer: inside its batch's transaction, after the timer
// was applied ("uncommitted"), or right after its batch committed
// ("committed").
func crashChild(role string) error {
	ctx := context.Background()
	d, err := store.ParseDialect(os.Getenv("XINFANG_DIALECT"))
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, d, os.Getenv("XINFANG_DSN"))
	if err != nil {
		return err
	}
	now, err := time.Parse(time.RFC3339, os.Getenv("XINFANG_NOW"))
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(os.Getenv("XINFANG_KILL_AT"))
	if err != nil {
		return err
	}
	cfg, err := county.Load(samplePath)
	if err != nil {
		return err
	}
	svc := New(Config{DB: db, Outbox: outbox.New(db, "anji"), County: func() *county.Config { return cfg },
		Clock: clock.NewManual(now), Consumer: "test-routing", TimerBatch: 3})
	seen := 0
	svc.hook = func(stage string) {
		if stage != "timer-fired-"+role {
			return
		}
		if seen++; seen == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	if _, err := svc.FireDue(ctx); err != nil {
		return err
	}
	return fmt.Errorf("role %s: fewer than %d timers fired", role, n)
}

func runCrashChild(t *testing.T, role string, d store.Dialect, dsn string, now time.Time, killAt int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashRoleEnv+"="+role, "XINFANG_DIALECT="+string(d), "XINFANG_DSN="+dsn,
		"XINFANG_NOW="+now.Format(time.RFC3339), "XINFANG_KILL_AT="+strconv.Itoa(killAt))
	out, err := cmd.CombinedOutput()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
}

// seedCrashCases makes four cases whose timers all fall due by 09-01:
// three with a breached handling clock (3 reminders, overdue, 4 ladder
// steps each) and one served case whose evaluation and review windows
// lapse. 26 timers in all.
func seedCrashCases(t *testing.T, h *harness) {
	t.Helper()
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	for _, id := range []string{"k1", "k2", "k3", "k4"} {
		h.assign(id, "rsj")
		h.act(rsj, id, ack)
		h.act(rsj, id, accept)
	}
	h.set("2026-06-10 09:00")
	h.act(rsj, "k4", reply("supported"))
	h.act(rsj, "k4", serve("post", ""))
	h.events()
}

// perCase groups the published events by case, in publishing order.
func perCase(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	envs, _ := outboxEnvelopes(t, db, 0)
	out := map[string][]string{}
	for _, e := range envs {
		out[e.CaseId] = append(out[e.CaseId], describe(e))
	}
	return out
}

func TestCrashedTimerWorkerFiresEachTimerOnce(t *testing.T) {
	now := at("2026-09-01 08:00")

	// What a worker that never crashes publishes.
	control := newHarness(t, storetest.SQLite(t))
	seedCrashCases(t, control)
	control.clock.Set(now)
	if n, err := control.svc.FireDue(context.Background()); err != nil || n != 26 {
		t.Fatalf("control run fired %d timers (%v), want 26", n, err)
	}
	want := perCase(t, control.db)
	if len(want["k1"]) != 2+8 || len(want["k4"]) != 4+3 {
		t.Fatalf("control events %v", want)
	}

	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		db, err := store.Open(context.Background(), d, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		h := newHarness(t, db)
		seedCrashCases(t, h)

		// Killed inside the second batch, after its 2nd timer (the 5th) was
		// applied: the whole batch rolls back, the first batch's 3 fired.
		runCrashChild(t, "uncommitted", d, dsn, now, 5)
		var firstRun int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_timers WHERE fired_at IS NOT NULL`).Scan(&firstRun); err != nil {
			t.Fatal(err)
		}
		if firstRun != 3 {
			t.Fatalf("after a crash inside the second batch: %d timers fired, want the first batch's 3", firstRun)
		}
		// Killed right after the commit of the batch holding the next run's
		// 7th timer (its third batch): 3 + 9 = 12 fired.
		runCrashChild(t, "committed", d, dsn, now, 7)
		var fired, unfired int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_timers WHERE fired_at IS NOT NULL`).Scan(&fired); err != nil {
			t.Fatal(err)
		}
		// The lapse of k4's review window closed it and removed its timers
		// (2 of them fired): 12 - 2 fired rows left; k1..k3 are open and
		// each holds its next timer only (writePlan).
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_timers WHERE fired_at IS NULL`).Scan(&unfired); err != nil {
			t.Fatal(err)
		}
		if fired != 10 || unfired != 3 {
			t.Fatalf("after two crashes: %d fired, %d unfired rows", fired, unfired)
		}

		// The restarted service catches up on the rest.
		h.clock.Set(now)
		if n, err := h.svc.FireDue(context.Background()); err != nil || n != 14 {
			t.Fatalf("restart fired %d (%v), want 14", n, err)
		}
		if n, _ := h.svc.FireDue(context.Background()); n != 0 {
			t.Fatalf("a second pass fired %d", n)
		}
		got := perCase(t, db)
		for _, id := range []string{"k1", "k2", "k3", "k4"} {
			if !slices.Equal(got[id], want[id]) {
				t.Errorf("case %s after crashes:\n got  %s\n want %s", id, strings.Join(got[id], "\n      "), strings.Join(want[id], "\n      "))
			}
		}
		// The timer rows agree: nothing due is left, nothing fired twice
		// (the outbox comparison above), and the notices were recorded once.
		v := h.get("k1")
		if len(v.Notices) != 2 {
			t.Fatalf("k1 notices %+v", v.Notices)
		}
		if v := h.get("k4"); v.State != casemachine.StateClosed {
			t.Fatalf("k4 state %s", v.State)
		}
	})
}

// Two replicas' workers firing the same due timers at once: each timer
// fires once (on PostgreSQL the batch's case locks and the second scan
// under them; on SQLite the single writer).
func TestTwoWorkersFireEachTimerOnce(t *testing.T) {
	now := at("2026-09-01 08:00")
	control := newHarness(t, storetest.SQLite(t))
	seedCrashCases(t, control)
	control.clock.Set(now)
	if _, err := control.svc.FireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := perCase(t, control.db)

	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		var workers []*Supervision
		var h *harness
		for range 2 {
			db, err := store.Open(context.Background(), d, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if h == nil {
				h = newHarness(t, db)
				seedCrashCases(t, h)
			}
			cfg := h.cfg
			workers = append(workers, New(Config{DB: db, Outbox: outbox.New(db, "anji"), County: func() *county.Config { return cfg },
				Clock: clock.NewManual(now), Consumer: "test-routing", TimerBatch: 2}))
		}
		fired := make(chan int, len(workers))
		errs := make(chan error, len(workers))
		for _, w := range workers {
			go func() {
				n, err := w.FireDue(context.Background())
				fired <- n
				errs <- err
			}()
		}
		total := 0
		for range workers {
			total += <-fired
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if total != 26 {
			t.Errorf("the two workers fired %d timers, want 26", total)
		}
		got := perCase(t, h.db)
		for _, id := range []string{"k1", "k2", "k3", "k4"} {
			if !slices.Equal(got[id], want[id]) {
				t.Errorf("case %s:\n got  %s\n want %s", id, strings.Join(got[id], "\n      "), strings.Join(want[id], "\n      "))
			}
		}
	})
}
