#!/usr/bin/env bash
# make run — the whole county on this machine: the dev broker and the four
# services as separate processes, each with its own SQLite database and port,
# configured from the example County (安吉县). All state lives under .dev/
# (make clean-dev removes it); Ctrl-C stops everything, and the next run
# resumes with the data kept.
#
# make demo (hack/run.sh --demo): the same county under .dev/demo, started
# afresh each time on an accelerated dev clock (XINFANG_DEV_CLOCK_SPEED,
# default 28800: one day every 3 s — never in production), then
# services/cmd/demo plays a day of petitions and the departments' actions.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=false
for arg in "$@"; do
	case $arg in
	--demo) demo=true ;;
	*) echo "usage: $0 [--demo]" >&2; exit 2 ;;
	esac
done
if $demo; then
	dev=$(realpath -m "${XINFANG_DEV_DIR:-.dev/demo}")
	rm -rf "$dev"/{db,broker,logs,tokens,broker.ready} # a fresh day each time; keys are kept
	export XINFANG_DEV_CLOCK_SPEED=${XINFANG_DEV_CLOCK_SPEED:-28800}
	# The day starts at midnight of the coming Monday (China Standard Time);
	# by the time the services are up it is morning there.
	export XINFANG_DEV_CLOCK_START=${XINFANG_DEV_CLOCK_START:-$(TZ=Asia/Shanghai date -d 'next monday' +%Y-%m-%dT00:00:00+08:00)}
else
	dev=$(realpath -m "${XINFANG_DEV_DIR:-.dev}")
fi
county_file=${XINFANG_COUNTY_FILE:-operator/config/samples/county_anji.yaml}
county=${XINFANG_COUNTY:-anji}
services=(intake routing supervision statistics)
declare -A port=([intake]=8081 [routing]=8082 [supervision]=8083 [statistics]=8084)
mkdir -p "$dev"/{bin,keys,db,logs,tokens}
chmod 700 "$dev/keys" "$dev/tokens"

secret="$dev/keys/auth-hs256.secret"
if [[ ! -s "$secret" ]]; then
	head -c 48 /dev/urandom | base64 >"$secret"
	chmod 600 "$secret"
fi

echo "building (first run: a few minutes)…"
present=()
for s in "${services[@]}"; do [[ -d services/cmd/$s ]] && present+=("./cmd/$s"); done
$demo && present+=(./cmd/demo)
(cd services && go build -o "$dev/bin/" "${present[@]}" ./cmd/devtoken)
go build -o "$dev/bin/devbroker" ./hack/devbroker

pids=()
stopping=false
stop() {
	stopping=true
	trap - INT TERM EXIT
	echo
	echo "stopping…"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped; data kept under $dev/ (make clean-dev removes it)"
}
trap stop INT TERM EXIT

rm -f "$dev/broker.ready"
"$dev/bin/devbroker" -data-dir "$dev/broker" -ready-file "$dev/broker.ready" >>"$dev/logs/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s "$dev/broker.ready" ]] && break; sleep 0.1; done
[[ -s "$dev/broker.ready" ]] || { echo "dev broker did not start: see $dev/logs/broker.log"; exit 1; }
broker=$(head -n1 "$dev/broker.ready")

# Every service reads the dev clock's start at the same real instant.
$demo && export XINFANG_DEV_CLOCK_EPOCH=${XINFANG_DEV_CLOCK_EPOCH:-$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)}
for s in "${services[@]}"; do
	[[ -x "$dev/bin/$s" ]] || continue
	env XINFANG_COUNTY_FILE="$county_file" XINFANG_KAFKA_BROKERS="$broker" \
		XINFANG_HTTP_ADDR="127.0.0.1:${port[$s]}" XINFANG_DB_DSN="$dev/db/$s.db" \
		XINFANG_AUTH_HS256_SECRET_FILE="$secret" XINFANG_LOG_FORMAT="${XINFANG_LOG_FORMAT:-text}" \
		XINFANG_INTAKE_KEY_FILE="$dev/keys/intake-keys.json" XINFANG_INTAKE_GENERATE_KEYS=true \
		"$dev/bin/$s" >>"$dev/logs/$s.log" 2>&1 &
	pids+=($!)
done

for s in "${services[@]}"; do
	[[ -x "$dev/bin/$s" ]] || continue
	ok=false
	for _ in $(seq 300); do
		if curl -sf "127.0.0.1:${port[$s]}/readyz" >/dev/null 2>&1; then ok=true; break; fi
		sleep 0.1
	done
	$ok || { echo "$s did not become ready: see $dev/logs/$s.log"; tail -n 20 "$dev/logs/$s.log"; exit 1; }
done

mint() { "$dev/bin/devtoken" -secret-file "$secret" -county "$county" "$@"; }
mint -role clerk >"$dev/tokens/clerk.jwt"
mint -role supervisor >"$dev/tokens/supervisor.jwt"
mint -role admin >"$dev/tokens/admin.jwt"
mint -role leader >"$dev/tokens/leader.jwt"
mint -role department -department rsj >"$dev/tokens/department-rsj.jwt"
mint -role department -department zjj >"$dev/tokens/department-zjj.jwt"

cat <<MSG

Xinfang dev mode — county $county ($county_file)
  dev broker (Kafka protocol)  $broker          data: $dev/broker
  intake API                   http://127.0.0.1:8081   (POST /v1/petitions, GET /v1/query/{code})
  public progress query        http://127.0.0.1:8081/v1/query/<查询码>
  routing API                  http://127.0.0.1:8082   (POST /v1/routing/preview)
  supervision API              http://127.0.0.1:8083   (GET /v1/cases)
  statistics dashboard         http://127.0.0.1:8084/
  metrics / health             http://127.0.0.1:808x/metrics, /healthz, /readyz
  traces                       not exported: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318) before make run;
                               every log line carries its trace_id
  logs                         $dev/logs/<service>.log

Staff tokens ($dev/tokens/): clerk, supervisor, admin, leader, department-rsj, department-zjj. Try:
  curl -s -X POST 127.0.0.1:8081/v1/petitions -H "Authorization: Bearer \$(cat $dev/tokens/clerk.jwt)" -d '{
    "channel":"letter","petitioners":[{"name":"王五","phone":"13812345678","address":"安吉县递铺街道文昌路8号"}],
    "township":"dipu","title":"拖欠工资","content":{"request":"请求责令支付拖欠工资",
    "facts":"某服装公司拖欠三个月工资共计一万二千元","reasons":"劳动者有权按时获得劳动报酬"}}'
  curl -s 127.0.0.1:8081/v1/query/<queryCode from the answer>
  curl -s 127.0.0.1:8083/v1/cases -H "Authorization: Bearer \$(cat $dev/tokens/department-rsj.jwt)"

MSG
if $demo; then
	echo "Ctrl-C stops everything; the demo starts afresh next time."
else
	echo "Ctrl-C stops everything; the next make run resumes with the data kept."
fi
if $demo; then
	echo
	echo "DEMO — dev clock ${XINFANG_DEV_CLOCK_SPEED}× from $XINFANG_DEV_CLOCK_START (NOT real time; never in production)"
	"$dev/bin/demo" -secret-file "$secret" -county "$county" || echo "demo program failed; see $dev/logs/"
	echo
	echo "The county keeps running on the dev clock (dashboard http://127.0.0.1:8084/, token $dev/tokens/supervisor.jwt); Ctrl-C stops it."
fi
wait -n "${pids[@]}" || true
if ! $stopping; then
	echo "a process exited unexpectedly; see $dev/logs/"
	exit 1
fi
