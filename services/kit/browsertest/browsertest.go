// Package browsertest runs pages in Debian's headless Chromium for the
// services' browser tests (the intake query page, the statistics
// dashboard) and checks what a person would see: no console errors, and a
// screenshot that is really drawn.
package browsertest

import (
	"bytes"
	"context"
	"image"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Chromium finds the browser. A missing one skips the test locally and
// fails it in CI (CI=true), where browser tests must run.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: in CI browser tests must run (make deps installs it)")
	}
	t.Skip("chromium not installed (apt-get install -y chromium)")
	return ""
}

// Run runs headless Chromium with a fresh profile, no network beyond the
// page, and virtual time for the page's scripts (budget in ms), and returns
// stdout and stderr; console messages and page errors are logged to stderr.
func Run(t testing.TB, bin string, budgetMS int, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--virtual-time-budget=" + strconv.Itoa(budgetMS)}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// ConsoleProblems matches the console messages and page errors Chromium logs.
var ConsoleProblems = regexp.MustCompile(`(?m)^.*(CONSOLE|console).*$|^.*Uncaught.*$`)

// Colours counts the distinct colours of an image.
func Colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen)
}

// CountColour counts pixels within a small distance of an RGB colour.
func CountColour(img image.Image, r, g, b uint8) int {
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d > -8 && d < 8 }
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
