package app

import (
	"context"
	"runtime/debug"
	"time"
)

// startupSettle is how long after start the startup garbage is handed back.
const startupSettle = 2 * time.Second

// releaseStartupMemory returns the heap that starting left behind (parsed
// county file, migrations, templates, the first consumer-group joins) to the
// operating system once, a moment after start. Left to itself the runtime
// keeps those pages for minutes; a county runs four services and a province
// thousands of counties, so an idle service's resident memory is the figure
// that decides how many fit a node (docs/benchmarks.md, county footprint).
func releaseStartupMemory(ctx context.Context) {
	t := time.NewTimer(startupSettle)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		debug.FreeOSMemory()
	}
}
