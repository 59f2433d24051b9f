package intake

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"xinfang.io/county"
)

var caseIDForm = regexp.MustCompile(`^330523-20261121-[0-9A-HJKMNP-TV-Z]{8}$`)

// Case ids grow with time (so new cases go to the end of every index keyed
// by them) and keep their printed form; ids made at the same moment differ.
func TestNewCaseIDGrowsWithTime(t *testing.T) {
	cfg := &county.Config{}
	cfg.Spec.DivisionCode = "330523"
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, county.Shanghai)
	prev := ""
	for at := day; at.Before(day.Add(24 * time.Hour)); at = at.Add(83*time.Millisecond + 7*time.Minute) {
		id := newCaseID(cfg, at.UTC())
		if !caseIDForm.MatchString(id) {
			t.Fatalf("case id at %s = %q, not <division>-<day>-<8 characters>", at, id)
		}
		if id <= prev {
			t.Fatalf("case id at %s = %q, not after %q", at, id, prev)
		}
		prev = id
	}
	first := newCaseID(cfg, day)
	last := newCaseID(cfg, day.Add(24*time.Hour-time.Nanosecond))
	if !strings.HasPrefix(first, "330523-20261121-0000") || !strings.HasPrefix(last, "330523-20261121-ZZZZ") {
		t.Fatalf("first and last of the day = %q, %q", first, last)
	}
	// 20 random bits: 1,000 ids in one step clash about once on average
	// (Register retries); ten clashes would mean the bits are not random.
	seen := map[string]bool{}
	for range 1000 {
		seen[newCaseID(cfg, day.Add(time.Hour))] = true
	}
	if len(seen) < 990 {
		t.Fatalf("%d distinct case ids of 1,000 made at one moment", len(seen))
	}
}
