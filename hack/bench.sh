#!/usr/bin/env bash
# make bench: runs the benchmarks against the dev broker as a separate process
# (the same program dev mode uses), prints the method, the machine and the
# ratios measured side by side in the same run. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pgdir=${PGDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xinfang/pg-bench}
cleanup() {
	kill "${intake_pid:-}" 2>/dev/null || true
	kill "$broker_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	hack/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
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
echo "broker: hack/devbroker (kfake, persistent data dir) at $addr, a separate process"
echo "method: $count runs of $benchtime messages each; 32 producer goroutines, one message per call; 1 KiB payload; 6 partitions; acks=all"
echo
PGPORT=${PGPORT:-25433} hack/postgres.sh start "$pgdir" >/dev/null
export XINFANG_TEST_POSTGRES_DSN="$(cat "$pgdir/dsn")"
echo "postgres: throwaway PostgreSQL (hack/postgres.sh), fsync off"
echo
cd services
XINFANG_TEST_BROKERS="$addr" go test -run '^$' -bench . -benchtime "$benchtime" -count "$count" ./kit/kitbench/ | tee "$work/out.txt"
echo
echo "## intake: POST /v1/petitions over HTTP at 1 and 64 clients; history import (in-process broker)"
go test -run '^$' -bench . -benchtime "${INTAKE_BENCHTIME:-2000x}" -count 1 ./intake/ | grep -E '^Benchmark'
echo
echo "## routing decisions (200 rules, 60 departments, worst case), supervision actions and timers, statistics ingest and summary"
go test -run '^$' -bench . -benchtime "${SERVICE_BENCHTIME:-1s}" ./routing/ ./supervision/ ./statistics/ | grep -E '^Benchmark'
echo
echo "## intake: idle footprint of the service binary (SQLite, dev broker)"
go build -o "$work/intake" ./cmd/intake
head -c 48 /dev/urandom | base64 > "$work/secret"
start_ns=$(date +%s%N)
XINFANG_COUNTY_FILE=../operator/config/samples/county_anji.yaml XINFANG_KAFKA_BROKERS="$addr" \
XINFANG_HTTP_ADDR=127.0.0.1:18081 XINFANG_DB_DSN="$work/intake.db" XINFANG_AUTH_HS256_SECRET_FILE="$work/secret" \
XINFANG_INTAKE_KEY_FILE="$work/keys.json" XINFANG_INTAKE_GENERATE_KEYS=true XINFANG_LOG_LEVEL=warn \
	"$work/intake" >"$work/intake.log" 2>&1 &
intake_pid=$!
for _ in $(seq 200); do curl -sf 127.0.0.1:18081/readyz >/dev/null 2>&1 && break; sleep 0.02; done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sleep 3
echo "intake: ready after ${ready_ms} ms; idle RSS $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$intake_pid/status)"
echo
awk '
  /^Benchmark/ {
    name=$1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    for (i=2; i<=NF; i++) { if ($(i+1)=="msgs/s") r[name]+=$i; if ($(i+1)=="p50-ms") p50[name]+=$i; if ($(i+1)=="p99-ms") p99[name]+=$i }
    n[name]++
  }
  END {
    printf "%-34s %10s %9s %9s\n", "mean of runs", "msgs/s", "p50 ms", "p99 ms"
    for (k in n) printf "%-34s %10.0f %9.2f %9.2f\n", k, r[k]/n[k], p50[k]/n[k], p99[k]/n[k]
    raw="RawKafkaGo/max"; kit="KitOutboxToInbox/max"
    if (n[raw] && n[kit]) printf "\nratio kit/raw throughput at saturation: %.2f\n", (r[kit]/n[kit])/(r[raw]/n[raw])
  }' "$work/out.txt"
