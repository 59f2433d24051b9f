package routing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"xinfang.io/county"
)

// anjiPath is the sample county the tests route for (安吉县).
const anjiPath = "../../operator/config/samples/county_anji.yaml"

// testNow is the tests' clock: Monday 2026-03-02, 10:00 in Anji.
var testNow = time.Date(2026, 3, 2, 10, 0, 0, 0, county.Shanghai)

func anjiYAML(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(anjiPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseRuleset(t testing.TB, yaml string) *Ruleset {
	t.Helper()
	cfg, err := county.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse county: %v", err)
	}
	rs, err := Compile(cfg)
	if err != nil {
		t.Fatalf("compile rules: %v", err)
	}
	return rs
}

func anji(t testing.TB) *Ruleset { return parseRuleset(t, anjiYAML(t)) }

// edit replaces exactly one occurrence of old in s.
func edit(t testing.TB, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("edit: %q occurs %d times, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// writeCountyFile writes content to a file in a temp dir.
func writeCountyFile(t testing.TB, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "county.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
