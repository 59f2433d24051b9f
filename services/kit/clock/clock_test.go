package clock

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRealForSpeedOne(t *testing.T) {
	c, err := New(1, time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(Real); !ok {
		t.Fatalf("speed 1 = %T, want Real", c)
	}
	if d := time.Since(c.Now()); d < 0 || d > time.Second {
		t.Fatalf("real clock off by %s", d)
	}
}

func TestAcceleratedRunsFasterFromStart(t *testing.T) {
	epoch := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	start := time.Date(2026, 11, 23, 8, 30, 0, 0, time.FixedZone("CST", 8*3600))
	real := epoch
	c := &Accelerated{Start: start, Epoch: epoch, Speed: 2880, real: func() time.Time { return real }}
	if !c.Now().Equal(start) {
		t.Fatalf("at epoch: %s, want %s", c.Now(), start)
	}
	real = epoch.Add(30 * time.Second)
	if want := start.Add(24 * time.Hour); !c.Now().Equal(want) {
		t.Fatalf("30 s later at 2880×: %s, want %s", c.Now(), want)
	}
	real = epoch.Add(90 * time.Second)
	if want := start.Add(72 * time.Hour); !c.Now().Equal(want) {
		t.Fatalf("90 s later: %s, want %s", c.Now(), want)
	}
}

func TestAcceleratedIsLoudAndNeedsALog(t *testing.T) {
	if _, err := New(2880, time.Time{}, time.Time{}, nil); err == nil {
		t.Fatal("an accelerated clock without a log was accepted")
	}
	if _, err := New(0, time.Time{}, time.Time{}, nil); err == nil {
		t.Fatal("speed 0 accepted")
	}
	var buf bytes.Buffer
	c, err := New(2880, time.Time{}, time.Time{}, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "DEV CLOCK") || !strings.Contains(buf.String(), "NOT FOR PRODUCTION") {
		t.Fatalf("no loud warning: %q", buf.String())
	}
	a := c.(*Accelerated)
	if d := a.Now().Sub(a.Start); d < 0 || d > 2880*time.Second {
		t.Fatalf("fresh clock %s past its start", d)
	}
}

func TestPoll(t *testing.T) {
	if got := Poll(30*time.Second, 1, 100*time.Millisecond); got != 30*time.Second {
		t.Fatalf("speed 1: %s", got)
	}
	if got := Poll(30*time.Second, 60, 100*time.Millisecond); got != 500*time.Millisecond {
		t.Fatalf("speed 60: %s", got)
	}
	if got := Poll(30*time.Second, 28800, 100*time.Millisecond); got != 100*time.Millisecond {
		t.Fatalf("speed 28800: %s", got)
	}
}
