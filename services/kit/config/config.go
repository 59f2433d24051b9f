// Package config reads a service's typed configuration from flags and
// environment variables. Every setting has a flag and a variable; the flag
// wins, then the variable, then the default. The same table renders the
// documentation (docs/config.md), so the two cannot drift.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Var documents one setting.
type Var struct {
	Flag, Env, Default, Help string
}

// Set collects settings into typed fields.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	vars   []Var
	errs   []error
}

// NewSet returns a set that registers flags on fs and reads variables with
// getenv (os.Getenv when nil).
func NewSet(fs *flag.FlagSet, getenv func(string) string) *Set {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &Set{fs: fs, getenv: getenv}
}

// Vars lists the registered settings.
func (s *Set) Vars() []Var { return append([]Var(nil), s.vars...) }

func (s *Set) lookup(flagName, env, def, help string) string {
	s.vars = append(s.vars, Var{Flag: flagName, Env: env, Default: def, Help: help})
	if v, ok := s.env(env); ok {
		return v
	}
	return def
}

func (s *Set) env(name string) (string, bool) {
	v := s.getenv(name)
	return v, v != ""
}

// String registers a string setting.
func (s *Set) String(p *string, flagName, env, def, help string) {
	s.fs.StringVar(p, flagName, s.lookup(flagName, env, def, help), help+" (env "+env+")")
}

// Int registers an integer setting.
func (s *Set) Int(p *int, flagName, env string, def int, help string) {
	raw := s.lookup(flagName, env, strconv.Itoa(def), help)
	v, err := strconv.Atoi(raw)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", env, raw))
		v = def
	}
	s.fs.IntVar(p, flagName, v, help+" (env "+env+")")
}

// Bool registers a boolean setting.
func (s *Set) Bool(p *bool, flagName, env string, def bool, help string) {
	raw := s.lookup(flagName, env, strconv.FormatBool(def), help)
	v, err := strconv.ParseBool(raw)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s=%q: not a boolean", env, raw))
		v = def
	}
	s.fs.BoolVar(p, flagName, v, help+" (env "+env+")")
}

// Duration registers a duration setting ("250ms", "10s").
func (s *Set) Duration(p *time.Duration, flagName, env string, def time.Duration, help string) {
	raw := s.lookup(flagName, env, def.String(), help)
	v, err := time.ParseDuration(raw)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s=%q: not a duration", env, raw))
		v = def
	}
	s.fs.DurationVar(p, flagName, v, help+" (env "+env+")")
}

// List registers a comma-separated list setting.
func (s *Set) List(p *[]string, flagName, env, def, help string) {
	raw := s.lookup(flagName, env, def, help)
	*p = splitList(raw)
	s.fs.Func(flagName, help+" (env "+env+", comma-separated; default "+def+")", func(v string) error {
		*p = splitList(v)
		return nil
	})
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Parse parses args and reports every malformed variable or flag at once.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		s.errs = append(s.errs, err)
	}
	if len(s.errs) > 0 {
		return fmt.Errorf("configuration: %w", errors.Join(s.errs...))
	}
	return nil
}

// Markdown renders the settings as a table, sorted by variable.
func Markdown(vars []Var) string {
	vs := append([]Var(nil), vars...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].Env < vs[j].Env })
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, v := range vs {
		def := v.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `-%s` | %s | %s |\n", v.Env, v.Flag, def, v.Help)
	}
	return b.String()
}
