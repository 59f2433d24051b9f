package config

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) (*Base, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := NewSet(fs, func(k string) string { return env[k] })
	var b Base
	b.Register(s, "routing")
	if err := s.Parse(args); err != nil {
		return nil, err
	}
	return &b, b.Validate()
}

func TestDefaultsEnvAndFlagPrecedence(t *testing.T) {
	b, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.HTTPAddr != "127.0.0.1:8082" || b.Brokers[0] != "127.0.0.1:19092" || b.DBDSN != ".dev/routing.db" {
		t.Fatalf("defaults: %+v", b)
	}
	b, err = parse(t, map[string]string{"XINFANG_HTTP_ADDR": ":9000", "XINFANG_KAFKA_BROKERS": "a:1, b:2", "XINFANG_SHUTDOWN_TIMEOUT": "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if b.HTTPAddr != ":9000" || len(b.Brokers) != 2 || b.Brokers[1] != "b:2" || b.ShutdownTimeout != 3*time.Second {
		t.Fatalf("env: %+v", b)
	}
	b, err = parse(t, map[string]string{"XINFANG_HTTP_ADDR": ":9000"}, "-http-addr", ":9100", "-kafka-brokers", "c:3")
	if err != nil {
		t.Fatal(err)
	}
	if b.HTTPAddr != ":9100" || len(b.Brokers) != 1 || b.Brokers[0] != "c:3" {
		t.Fatalf("flags must win: %+v", b)
	}
}

func TestBadValuesAreAllReported(t *testing.T) {
	_, err := parse(t, map[string]string{"XINFANG_KAFKA_PARTITIONS": "six", "XINFANG_SHUTDOWN_TIMEOUT": "soon"})
	if err == nil || !strings.Contains(err.Error(), "XINFANG_KAFKA_PARTITIONS") || !strings.Contains(err.Error(), "XINFANG_SHUTDOWN_TIMEOUT") {
		t.Fatalf("err = %v", err)
	}
	_, err = parse(t, map[string]string{"XINFANG_COUNTY": "An Ji", "XINFANG_DB_DRIVER": "mysql", "XINFANG_LOG_LEVEL": "loud"})
	for _, want := range []string{"XINFANG_COUNTY", "XINFANG_DB_DRIVER", "XINFANG_LOG_LEVEL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want mention of %s", err, want)
		}
	}
}

func TestMarkdownListsEverySetting(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s := NewSet(fs, func(string) string { return "" })
	var b Base
	b.Register(s, "intake")
	md := Markdown(s.Vars())
	for _, v := range s.Vars() {
		if !strings.Contains(md, "`"+v.Env+"`") || !strings.Contains(md, "`-"+v.Flag+"`") {
			t.Errorf("markdown lacks %s", v.Env)
		}
	}
}

// docs/config.md carries the shared settings table; this keeps it current.
func TestDocsListTheSharedSettings(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("doc", flag.ContinueOnError)
	s := NewSet(fs, func(string) string { return "" })
	var b Base
	b.Register(s, "<service>")
	want := Markdown(s.Vars())
	if !strings.Contains(string(doc), want) {
		t.Fatalf("docs/config.md is out of date; its shared table must be:\n%s", want)
	}
}

func TestDevClockIsForDevModeOnly(t *testing.T) {
	if _, err := parse(t, map[string]string{"XINFANG_DEV_CLOCK_SPEED": "28800"}); err == nil || !strings.Contains(err.Error(), "dev mode only") {
		t.Fatalf("accelerated clock without the HS256 dev secret: %v", err)
	}
	if _, err := parse(t, map[string]string{"XINFANG_DEV_CLOCK_SPEED": "28800", "XINFANG_AUTH_HS256_SECRET_FILE": "s", "XINFANG_AUTH_JWKS": "https://idp/jwks"}); err == nil {
		t.Fatal("accelerated clock next to a production key source was accepted")
	}
	if _, err := parse(t, map[string]string{"XINFANG_DEV_CLOCK_SPEED": "28800", "XINFANG_AUTH_HS256_SECRET_FILE": "s", "XINFANG_DEV_CLOCK_START": "next monday"}); err == nil || !strings.Contains(err.Error(), "XINFANG_DEV_CLOCK_START") {
		t.Fatalf("malformed start: %v", err)
	}
	b, err := parse(t, map[string]string{"XINFANG_DEV_CLOCK_SPEED": "28800", "XINFANG_AUTH_HS256_SECRET_FILE": "s", "XINFANG_DEV_CLOCK_START": "2026-11-23T00:00:00+08:00"})
	if err != nil || b.DevClockSpeed != 28800 {
		t.Fatalf("dev clock in dev mode: %+v %v", b, err)
	}
}

// Statistics plans its PostgreSQL statements once; the other services keep
// PostgreSQL's default; the variable overrides either.
func TestGenericPlansDefaultToStatisticsOnly(t *testing.T) {
	for _, c := range []struct {
		service string
		env     map[string]string
		want    bool
	}{
		{"statistics", nil, true},
		{"routing", nil, false},
		{"statistics", map[string]string{"XINFANG_DB_GENERIC_PLANS": "false"}, false},
		{"intake", map[string]string{"XINFANG_DB_GENERIC_PLANS": "true"}, true},
	} {
		fs := flag.NewFlagSet(c.service, flag.ContinueOnError)
		s := NewSet(fs, func(k string) string { return c.env[k] })
		var b Base
		b.Register(s, c.service)
		if err := s.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if b.DBGenericPlans != c.want {
			t.Errorf("%s with %v: DBGenericPlans = %v, want %v", c.service, c.env, b.DBGenericPlans, c.want)
		}
	}
}
