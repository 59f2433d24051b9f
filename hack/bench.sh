#!/usr/bin/env bash
# make bench: every benchmark of the performance issue, against the dev broker
# as a separate process (the same program dev mode uses) and a throwaway
# PostgreSQL, printing the method, the machine and the ratios measured side
# by side in the same run. Results and their reading: docs/benchmarks.md.
#
#   BENCH_ONLY=kit,pipeline make bench     run some parts only; the parts:
#     kit        raw kafka-go vs the kit's outbox→inbox path (the baseline)
#     intake     POST /v1/petitions at 1 and 64 clients, history import, events applied to the timeline
#     services   routing decisions, supervision actions/timers, statistics ingest/queries (default sizes)
#     routing    routing catch-up over XINFANG_BENCH_PETITIONS (100,000) queued petitions
#     supervision timer scan with XINFANG_BENCH_OPEN_CASES (1,000,000) open cases; catch-up of
#                XINFANG_BENCH_DUE_TIMERS (100,000) due timers
#     statistics ingest and summary/breakdown queries with XINFANG_BENCH_CASES (1,000,000) cases of
#                generated history, ≈ 9.5 events each (≈ 15 minutes)
#     pipeline   the four services as processes: petitions/s and latency, SQLite and PostgreSQL
#     footprint  an idle county: RSS, CPU, outbox reads and start-to-ready of each service (and the
#                broker's CPU when the benchmark starts its own broker: run it alone, XINFANG_TEST_BROKERS unset)
#     operator   Counties applied at once to a real apiserver + kwok (XINFANG_BENCH_COUNTIES: 500,1000),
#                each N in both layouts, a fresh control plane each (XINFANG_BENCH_LAYOUTS)
#   The "kit" part always runs when "pipeline" does: the pipeline's ratio is to its raw baseline.
#   BENCH_BASELINE=<commit> also runs the pipeline with that commit's services (a git worktree),
#   a before/after in the same run (docs/benchmarks.md used 7947d32, before the performance work).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
pgdir=${PGDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xinfang/pg-bench}
cleanup() {
	kill "${intake_pid:-}" 2>/dev/null || true
	kill "$broker_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	hack/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true
	[ -d "$work/baseline" ] && git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
only=${BENCH_ONLY:-kit,intake,services,routing,supervision,statistics,pipeline,footprint,operator}
want() { [[ ",$only," == *",$1,"* ]]; }
if want pipeline; then only="$only,kit"; fi
port=${XINFANG_BENCH_BROKER_PORT:-19192}
benchtime=${BENCHTIME:-5000x}
count=${COUNT:-3}

go build -o "$work/devbroker" ./hack/devbroker
"$work/devbroker" -listen "$port" -data-dir "$work/broker" -ready-file "$work/ready" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || { echo "dev broker did not start:"; cat "$work/broker.log"; exit 1; }
addr=$(head -n1 "$work/ready")

echo "# Xinfang benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3)"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "broker: hack/devbroker (kfake, persistent data dir) at $addr, a separate process"
PGPORT=${PGPORT:-25433} hack/postgres.sh start "$pgdir" >/dev/null
export XINFANG_TEST_POSTGRES_DSN="$(cat "$pgdir/dsn")"
echo "postgres: throwaway PostgreSQL (hack/postgres.sh), fsync off"
echo "parts: $only"
echo

if want kit; then
	echo "## kit: raw kafka-go vs outbox→inbox — $count runs of $benchtime messages; 32 producers, one message per call; 1 KiB; 6 partitions; acks=all"
	(cd services && XINFANG_TEST_BROKERS="$addr" go test -run '^$' -bench . -benchtime "$benchtime" -count "$count" ./kit/kitbench/) | tee "$work/kit.txt" | grep -E '^Benchmark'
	echo "## kit: an outbox row's headers written and read by hand vs encoding/json, same run"
	(cd services && go test -run '^$' -bench Headers -count 3 ./kit/outbox/) | grep -E '^Benchmark'
	echo "## kit: one relay's publishes, kafka-go's Writer (2 ms batch timeout) vs the Publisher (at once), same broker; ns/op = one acknowledged call"
	(cd services && XINFANG_TEST_BROKERS="$addr" go test -run '^$' -bench Publish -benchtime 2000x -count 3 ./kit/kafkatransport/) | grep -E '^Benchmark'
	echo "## kit: a page read through the statement cache with its LIMIT bound (SQLite re-prepares it) vs written in (store.Limit)"
	(cd services && go test -run '^$' -bench BoundLimit -benchtime 20000x -count 3 ./kit/store/) | grep -E '^Benchmark'
	echo "## kit: a PostgreSQL transaction of two inserts, pgx's database/sql driver vs the store's (BEGIN sent with the first insert)"
	(cd services && go test -run '^$' -bench PostgresTransaction -benchtime 3000x -count 3 ./kit/store/) | grep -E '^Benchmark'
	echo
fi

if want intake; then
	echo "## intake: POST /v1/petitions over HTTP at 1 and 64 clients; history import; events applied to the timeline (in-process broker)"
	(cd services && go test -run '^$' -bench . -benchtime "${INTAKE_BENCHTIME:-2000x}" -count 1 ./intake/) | grep -E '^Benchmark'
	echo
fi

if want services; then
	echo "## routing decisions (200 rules, 60 departments, worst case), supervision actions and timers, statistics ingest and queries — default sizes"
	(cd services && go test -run '^$' -bench . -benchtime "${SERVICE_BENCHTIME:-1s}" -timeout 30m ./routing/ ./supervision/ ./statistics/) | grep -E '^Benchmark'
	echo
fi

if want routing; then
	echo "## routing catch-up: ${XINFANG_BENCH_PETITIONS:=100000} petitions queued before routing starts (SQLite)"
	(cd services && XINFANG_BENCH_PETITIONS=$XINFANG_BENCH_PETITIONS go test -run '^$' -bench CatchUp -benchtime 1x -timeout 30m ./routing/) | grep -E '^Benchmark'
	echo
fi

if want supervision; then
	echo "## supervision: timer scan with ${XINFANG_BENCH_OPEN_CASES:=1000000} open cases (vs 10,000), catch-up of ${XINFANG_BENCH_DUE_TIMERS:=100000} due timers"
	(cd services && XINFANG_BENCH_OPEN_CASES=$XINFANG_BENCH_OPEN_CASES go test -run '^$' -bench TimerScan -benchtime 2000x -timeout 60m ./supervision/) | grep -E '^Benchmark'
	(cd services && XINFANG_BENCH_DUE_TIMERS=$XINFANG_BENCH_DUE_TIMERS go test -run '^$' -bench TimerCatchUp -benchtime 1x -timeout 60m ./supervision/) | grep -E '^Benchmark'
	echo
fi

if want statistics; then
	echo "## statistics at history scale: ${XINFANG_BENCH_CASES:=1000000} cases (≈ 9.5 events each), SQLite and PostgreSQL"
	(cd services && XINFANG_BENCH_CASES=$XINFANG_BENCH_CASES go test -run '^$' -bench 'Ingest|Summary|Breakdown' -benchtime 1x -timeout 120m ./statistics/) | grep -E '^Benchmark'
	echo
fi

if want pipeline; then
	echo "## pipeline: the four service binaries + this broker; petitions through intake → routing → supervision → statistics"
	echo "   max: 64 clients, ${PIPELINE_BENCHTIME:-5000x} petitions; rate=N: paced open-loop, latency POST → visible in statistics"
	if [ -n "${BENCH_BASELINE:-}" ]; then
		git worktree add --detach "$work/baseline" "$BENCH_BASELINE" >/dev/null
		export XINFANG_BENCH_BASELINE_TREE="$work/baseline"
		echo "   baseline: the services of $(git log -1 --format='%h %s' "$BENCH_BASELINE" | cut -c1-80)"
	fi
	(cd e2e && XINFANG_TEST_BROKERS="$addr" go test -run '^$' -bench BenchmarkPipeline -benchtime "${PIPELINE_BENCHTIME:-5000x}" -timeout 60m .) | tee "$work/pipeline.txt" | grep -E '^Benchmark'
	echo
fi

if want footprint; then
	echo "## county footprint: the four services idle (SQLite, this broker), binaries built as the images are"
	(cd e2e && XINFANG_TEST_BROKERS="$addr" go test -run '^$' -bench BenchmarkCountyFootprint -benchtime 3x -timeout 10m .) | grep -E '^Benchmark' | tr '\t' '\n' | sed -n '/[a-z]/p' | sed 's/^ */  /'
	echo
fi

if want operator; then
	echo "## the CEL validation the API server runs on every County write (committed rules against the pairwise ones they replaced)"
	(cd operator && go test -run '^$' -bench CountyValidation -benchmem -count 3 ./api/v1alpha1/) | grep -E '^Benchmark'
	echo "## operator at scale: Counties applied at once, real kube-apiserver + etcd + kube-controller-manager + kwok"
	export KUBEBUILDER_ASSETS="$(hack/testbin.sh --cluster)"
	counties=${XINFANG_BENCH_COUNTIES:-500,1000}
	for n in ${counties//,/ }; do
		(cd e2e && XINFANG_BENCH_COUNTIES=$n go test -run '^$' -bench BenchmarkOperatorScale -benchtime 1x -timeout 30m .) | grep -E '^Benchmark'
	done
	echo
fi

[ -s "$work/kit.txt" ] && awk '
  /^Benchmark/ {
    name=$1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    for (i=2; i<=NF; i++) { if ($(i+1)=="msgs/s") r[name]+=$i; if ($(i+1)=="p50-ms") p50[name]+=$i; if ($(i+1)=="p99-ms") p99[name]+=$i }
    n[name]++
  }
  END {
    printf "%-34s %10s %9s %9s\n", "kit: mean of runs", "msgs/s", "p50 ms", "p99 ms"
    for (k in n) printf "%-34s %10.0f %9.2f %9.2f\n", k, r[k]/n[k], p50[k]/n[k], p99[k]/n[k]
    raw="RawKafkaGo/max"; kit="KitOutboxToInbox/max"
    if (n[raw] && n[kit]) printf "\nratio kit/raw throughput at saturation: %.2f\n", (r[kit]/n[kit])/(r[raw]/n[raw])
  }' "$work/kit.txt"
if [ -s "$work/pipeline.txt" ] && [ -s "$work/kit.txt" ]; then
	cat "$work/kit.txt" "$work/pipeline.txt" | awk '
	  /^BenchmarkRawKafkaGo\/max/ { for (i=2; i<=NF; i++) if ($(i+1)=="msgs/s") { raw+=$i; nraw++ } }
	  /^BenchmarkPipeline\/.*\/max/ { k=$1; sub(/^BenchmarkPipeline\//, "", k); sub(/\/max.*$/, "", k); for (i=2; i<=NF; i++) if ($(i+1)=="petitions/s") p[k]=$i }
	  END { for (s in p) printf "ratio pipeline (%s) / raw kafka-go single-message baseline: %.3f  (%.0f petitions/s vs %.0f msgs/s)\n", s, p[s]/(raw/nraw), p[s], raw/nraw }'
fi
