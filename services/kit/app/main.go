package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"xinfang.io/services/kit/config"
)

// Main is a service's main: it reads the shared settings plus the service's
// own (register), builds the app, lets build wire the domain, and runs until
// SIGINT or SIGTERM. It returns the process exit code.
func Main(service string, register func(*config.Set), build func(context.Context, *App) error) int {
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	set := config.NewSet(fs, os.Getenv)
	var base config.Base
	base.Register(set, service)
	if register != nil {
		register(set)
	}
	if err := set.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := New(ctx, base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: start: %v\n", service, err)
		return 1
	}
	if err := build(ctx, a); err != nil {
		a.Log.Error("build service", "error", err)
		_ = a.close(context.Background())
		return 1
	}
	if err := a.Run(ctx); err != nil {
		a.Log.Error("service failed", "error", err)
		return 1
	}
	return 0
}
