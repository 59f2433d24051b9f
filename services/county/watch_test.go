package county

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// configMapDir mimics how the kubelet projects a ConfigMap: the visible file
// is a symlink through ..data, and an update writes a new timestamped
// directory and renames a new ..data symlink over the old one.
type configMapDir struct {
	t   *testing.T
	dir string
	gen int
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	c := &configMapDir{t: t, dir: t.TempDir()}
	c.update(content)
	if err := os.Symlink(filepath.Join("..data", "county.yaml"), filepath.Join(c.dir, "county.yaml")); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *configMapDir) path() string { return filepath.Join(c.dir, "county.yaml") }

func (c *configMapDir) update(content string) {
	c.t.Helper()
	c.gen++
	ts := fmt.Sprintf("..2026_02_14_08_00_00.%09d", c.gen)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		c.t.Fatal(err)
	}
	writeFile(c.t, filepath.Join(c.dir, ts), "county.yaml", content)
	old, _ := os.Readlink(filepath.Join(c.dir, "..data"))
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(c.dir, old)); err != nil {
			c.t.Fatal(err)
		}
	}
}

// syncBuffer is a log sink safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

func TestWatcherConfigMapLifecycle(t *testing.T) {
	cm := newConfigMapDir(t, minimalYAML)
	log, logs := testLogger()
	w, err := NewWatcher(cm.path(), time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	updates := w.Subscribe()
	v1 := w.Current().Version

	// Nothing changed.
	if changed, err := w.Poll(); changed || err != nil {
		t.Fatalf("Poll on an unchanged file = %v, %v", changed, err)
	}

	// A valid update through a ..data swap.
	cm.update(strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 8", 1))
	if changed, err := w.Poll(); !changed || err != nil {
		t.Fatalf("Poll after a valid swap = %v, %v", changed, err)
	}
	v2 := w.Current()
	if v2.Version == v1 || v2.Deadlines.RoutingDays != 8 {
		t.Fatalf("after the swap: version %s (was %s), routingDays %d", v2.Version, v1, v2.Deadlines.RoutingDays)
	}
	select {
	case got := <-updates:
		if got != v2 {
			t.Fatalf("subscriber got version %s, want %s", got.Version, v2.Version)
		}
	default:
		t.Fatal("subscriber was not told")
	}

	// An invalid update keeps the old rules and says why, once.
	cm.update(strings.Replace(minimalYAML, "lead: zjj", "lead: zzj", 1))
	for range 3 {
		if changed, err := w.Poll(); changed || err == nil {
			t.Fatalf("Poll after an invalid swap = %v, %v", changed, err)
		}
	}
	if w.Current() != v2 {
		t.Fatal("an invalid file replaced the configuration")
	}
	if err := w.LastError(); err == nil || !strings.Contains(err.Error(), `routingRules[0].assign.lead: department "zzj" is not defined`) {
		t.Fatalf("LastError = %v", err)
	}
	if n := strings.Count(logs.String(), "county config rejected"); n != 1 {
		t.Fatalf("rejection logged %d times, want once:\n%s", n, logs)
	}
	select {
	case got := <-updates:
		t.Fatalf("subscriber told of version %s after an invalid file", got.Version)
	default:
	}

	// A valid edit recovers and clears the error.
	cm.update(strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 7", 1))
	if changed, err := w.Poll(); !changed || err != nil {
		t.Fatalf("Poll after recovery = %v, %v", changed, err)
	}
	if w.LastError() != nil || w.Current().Deadlines.RoutingDays != 7 {
		t.Fatalf("after recovery: LastError %v, routingDays %d", w.LastError(), w.Current().Deadlines.RoutingDays)
	}
	v3 := w.Current()

	// Formatting only: new bytes, same rules, nothing published.
	cm.update("# reformatted\n" + strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 7", 1))
	if changed, err := w.Poll(); changed || err != nil || w.Current() != v3 {
		t.Fatalf("Poll after a comment-only change = %v, %v", changed, err)
	}

	// Another county's file is refused.
	cm.update(strings.Replace(minimalYAML, "id: testcounty", "id: othercounty", 1))
	if _, err := w.Poll(); !errors.Is(err, errIDChanged) || w.Current() != v3 {
		t.Fatalf("Poll of another county's file: %v", err)
	}
	if !strings.Contains(logs.String(), "county config reloaded") {
		t.Fatalf("reload not logged:\n%s", logs)
	}
}

func TestWatcherIgnoresMtime(t *testing.T) {
	path := writeFile(t, t.TempDir(), "county.yaml", minimalYAML)
	w, err := NewWatcher(path, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Same length, same mtime, different content.
	writeFile(t, filepath.Dir(path), "county.yaml", strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 11", 1))
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if changed, err := w.Poll(); !changed || err != nil || w.Current().Deadlines.RoutingDays != 11 {
		t.Fatalf("Poll = %v, %v", changed, err)
	}
}

func TestWatcherMissingFile(t *testing.T) {
	path := writeFile(t, t.TempDir(), "county.yaml", minimalYAML)
	log, logs := testLogger()
	w, err := NewWatcher(path, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	v := w.Current()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := w.Poll(); err == nil {
			t.Fatal("Poll of a missing file succeeded")
		}
	}
	if w.Current() != v || w.LastError() == nil {
		t.Fatal("a missing file dropped the configuration or hid the error")
	}
	if n := strings.Count(logs.String(), "county config unreadable"); n != 1 {
		t.Fatalf("missing file logged %d times, want once", n)
	}
	writeFile(t, filepath.Dir(path), "county.yaml", minimalYAML)
	if changed, err := w.Poll(); changed || err != nil || w.LastError() != nil {
		t.Fatalf("Poll after the same file came back = %v, %v, LastError %v", changed, err, w.LastError())
	}
}

func TestWatcherSubscriberGetsLatest(t *testing.T) {
	path := writeFile(t, t.TempDir(), "county.yaml", minimalYAML)
	w, err := NewWatcher(path, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ch := w.Subscribe()
	for _, days := range []string{"9", "8"} {
		writeFile(t, filepath.Dir(path), "county.yaml", strings.Replace(minimalYAML, "routingDays: 10", "routingDays: "+days, 1))
		if changed, err := w.Poll(); !changed || err != nil {
			t.Fatalf("Poll = %v, %v", changed, err)
		}
	}
	if got := <-ch; got.Deadlines.RoutingDays != 8 {
		t.Fatalf("slow subscriber got routingDays %d, want the latest (8)", got.Deadlines.RoutingDays)
	}
	select {
	case got := <-ch:
		t.Fatalf("stale version %s still queued", got.Version)
	default:
	}
}

func TestWatcherRun(t *testing.T) {
	cm := newConfigMapDir(t, minimalYAML)
	w, err := NewWatcher(cm.path(), 5*time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	updates := w.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	cm.update(strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 6", 1))
	select {
	case c := <-updates:
		if c.Deadlines.RoutingDays != 6 {
			t.Fatalf("Run published routingDays %d", c.Deadlines.RoutingDays)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not pick up the swap")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
}

func TestNewWatcherFailsWithoutValidRules(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewWatcher(filepath.Join(dir, "none.yaml"), time.Second, nil); err == nil {
		t.Error("NewWatcher on a missing file succeeded")
	}
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(minimalYAML, "lead: zjj", "lead: zzj", 1))
	if _, err := NewWatcher(bad, time.Second, nil); err == nil {
		t.Error("NewWatcher on an invalid file succeeded")
	}
	good := writeFile(t, dir, "good.yaml", minimalYAML)
	if _, err := NewWatcher(good, 0, nil); err == nil {
		t.Error("NewWatcher with a zero interval succeeded")
	}
}
