package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServiceBinariesStayLean guards the idle footprint of a county's four
// services (docs/benchmarks.md, county footprint): most of an idle
// service's resident memory is its binary's pages, so two kinds of
// dependency that cost megabytes for nothing are kept out.
//   - gRPC: the services export spans over OTLP/HTTP; the upstream
//     otlptracehttp exporter links all of gRPC (5 MB, ~4 MiB resident) —
//     the kit has its own OTLP/HTTP client (kit/tracing).
//   - text/template (and html/template): its reflective method calls make
//     the linker keep every exported method of every type, 3 MB and ~2 MiB
//     resident per binary; documents and reports are rendered by plain Go.
func TestServiceBinariesStayLean(t *testing.T) {
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	for _, c := range []string{"intake", "routing", "supervision", "statistics"} {
		args = append(args, "xinfang.io/services/cmd/"+c)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list found only %d packages: %s", len(deps), out)
	}
	for _, p := range deps {
		if p == "google.golang.org/grpc" || p == "text/template" {
			t.Errorf("a service links %s; find the importer with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/... | grep %s", p, p)
		}
	}
}
