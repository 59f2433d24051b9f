package store_test

import (
	"context"
	"strings"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

func TestWithPostgresParam(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u@h:5432/db", "postgres://u@h:5432/db?plan_cache_mode=force_generic_plan"},
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?plan_cache_mode=force_generic_plan&sslmode=disable"},
		// The operator's own setting wins.
		{"postgres://u@h/db?plan_cache_mode=auto", "postgres://u@h/db?plan_cache_mode=auto"},
		{"host=h dbname=db", "host=h dbname=db plan_cache_mode=force_generic_plan"},
		{"host=h plan_cache_mode=auto", "host=h plan_cache_mode=auto"},
	} {
		got, err := store.WithPostgresParam(c.dsn, "plan_cache_mode", "force_generic_plan")
		if err != nil || got != c.want {
			t.Errorf("WithPostgresParam(%q) = %q, %v; want %q", c.dsn, got, err, c.want)
		}
	}
	_, err := store.WithPostgresParam("postgres://u:secret@h:bad-port/db", "k", "v")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a malformed URL must be an error that does not repeat the password: %v", err)
	}
}

// The parameter reaches the server: every session the pool opens has it.
func TestPostgresSessionsGetTheParam(t *testing.T) {
	dsn, err := store.WithPostgresParam(storetest.PostgresDSN(t), "plan_cache_mode", "force_generic_plan")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil || mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode = %q, %v", mode, err)
	}
}
