#!/usr/bin/env bash
# Throwaway Kubernetes control plane for the end-to-end suite: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake
# nodes; pods on them are marked Running without any container runtime).
#
#   hack/cluster.sh start DIR [--bin BINDIR] [--owner PID]
#                                   # prints DIR/kubeconfig once the fake node is Ready
#   hack/cluster.sh stop DIR        # idempotent; nothing running is fine
#   hack/cluster.sh status DIR      # exit 0 when every process is running
#
# Everything lives in DIR: certificates and keys (pki/), the etcd data
# (etcd/), one log per process (logs/), the pids (pids) and the kubeconfigs.
# The admin kubeconfig (DIR/kubeconfig) authenticates with a static token in
# the system:masters group. Only DIR/kubeconfig is printed on stdout.
#
# BINDIR holds kube-apiserver, etcd, kube-controller-manager, kube-scheduler
# and kwok; by default the directory `hack/testbin.sh --cluster` prints
# (building what is missing, once). kwok's Stage YAMLs — node and pod "fast"
# (nodes Ready, pods Running at once) and the node heartbeat (the lease keeps
# the node Ready) — are read from the kwok module in the Go module cache
# (downloaded if absent).
#
# --owner PID stops the cluster when process PID exits (a test binary killed
# by its timeout never runs its cleanups). Ports are random, below 32768,
# where the OS hands out no ephemeral ports; $CLUSTER_SERVICE_CIDR (default
# 10.96.0.0/16) is the service IP range. etcd runs with --unsafe-no-fsync:
# this is for tests, the data does not survive a machine crash.
# $CLUSTER_KUBE_API_QPS (and $CLUSTER_KUBE_API_BURST, default twice that),
# when set, lift the controller-manager's and scheduler's client rate limits
# (defaults 20 and 50 QPS): the operator scale benchmark needs thousands of
# Deployments rolled out by a control plane that is not throttling itself.
# $CLUSTER_APISERVER_ARGS, $CLUSTER_CONTROLLER_MANAGER_ARGS,
# $CLUSTER_SCHEDULER_ARGS and $CLUSTER_KWOK_ARGS (unset: none) are extra
# flags, split on spaces, appended to that component's command line (a later
# flag wins): benchmarks use them for profiling, an audit log or tuning.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
SERVICE_CIDR=${CLUSTER_SERVICE_CIDR:-10.96.0.0/16}
NODE_NAME=kwok-node-0

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
usage() {
	echo "usage: $0 start DIR [--bin BINDIR] [--owner PID] | stop DIR | status DIR" >&2
	exit 2
}

# ours PID: the process is alive and is one of this cluster's (its command
# line names DIR), so a recycled pid is never signalled.
ours() {
	local pid=$1
	[[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/"
}

stop() {
	[[ -f "$dir/pids" ]] || return 0
	local pids=() name pid deadline
	while read -r name pid; do
		if [[ -n "$pid" ]]; then pids=("$pid" "${pids[@]}"); fi
	done <"$dir/pids"
	# In reverse start order, each one gone before the next is asked (the API
	# server shuts down in about a second while etcd is still there, but
	# waits for it when etcd goes first).
	for pid in "${pids[@]}"; do
		ours "$pid" || continue
		kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 10))
		while ours "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
		if ours "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			while ours "$pid"; do sleep 0.05; done
		fi
	done
	rm -f "$dir/pids"
}

status() {
	[[ -f "$dir/pids" ]] || return 1
	local name pid
	while read -r name pid; do
		ours "$pid" || {
			log "$name (pid $pid) is not running"
			return 1
		}
	done <"$dir/pids"
}

# free_port: a random port in 20000-32767 that nothing listens on.
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 12768))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			if ! grep -qw -- "$p" "$dir/ports" 2>/dev/null; then
				echo "$p" >>"$dir/ports"
				echo "$p"
				return
			fi
		fi
	done
	die "no free port found"
}

# spawn NAME BIN ARGS...: runs in the background, output to logs/NAME.log.
spawn() {
	local name=$1
	shift
	"$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
	echo "$name $!" >>"$dir/pids"
}

fail_start() {
	log "ERROR: $*"
	local f
	for f in "$dir"/logs/*.log; do
		[[ -s "$f" ]] || continue
		log "--- last lines of $f"
		tail -n 15 "$f" >&2 || true
	done
	stop
	exit 1
}

# running PID: this script's child PID has not exited. A child's pid stays
# its own until the script waits for it (an exited one is a zombie), so its
# state is the test — not `ours`: a child forked but not yet exec'd, which
# on a loaded machine lasts a while, still has this script's command line,
# and `alive` then waited for a component that was starting (CI hung 20
# minutes on it, session 16).
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ -n "$stat" && "${stat:0:1}" != Z ]]
}

# alive NAME: fails the start if process NAME has exited, with its exit
# status (128+N: killed by signal N) — a component killed before it wrote
# anything leaves an empty log and nothing else to go on.
alive() {
	local n pid status
	while read -r n pid; do
		[[ "$n" == "$1" ]] || continue
		running "$pid" && continue
		status=0
		wait "$pid" 2>/dev/null || status=$?
		[[ -s "$dir/logs/$1.log" ]] || log "$1 wrote nothing to its log"
		fail_start "$1 exited with status $status (log: $dir/logs/$1.log)"
	done <"$dir/pids"
}

api() { # api METHOD PATH [BODY]
	local args=(-sS --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $admin_token" -X "$1" "$server$2")
	[[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}"
}

kubeconfig() { # kubeconfig FILE USER TOKEN
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: xinfang-e2e
    cluster:
      server: $server
      certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
  - name: $2
    user:
      token: $3
contexts:
  - name: xinfang-e2e
    context: {cluster: xinfang-e2e, user: $2}
current-context: xinfang-e2e
EOF
	chmod 600 "$1"
}

pki() {
	local p="$dir/pki"
	mkdir -p "$p"
	[[ -f "$p/ca.crt" ]] && return
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj /CN=xinfang-e2e-ca \
		-keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
		-keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
	local svc_ip
	svc_ip=$(first_ip "$SERVICE_CIDR")
	printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
		"basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$p/apiserver.ext"
	openssl x509 -req -sha256 -days 3650 -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" \
		-CAcreateserial -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
	openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
	openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
	chmod 600 "$p"/*.key
}

# first_ip 10.96.0.0/16 → 10.96.0.1 (the API server's service IP).
first_ip() {
	local net=${1%/*} a b c d
	IFS=. read -r a b c d <<<"$net"
	echo "$a.$b.$c.$((d + 1))"
}

kwok_stages() {
	local mod
	# From / so that no enclosing module's go.mod is consulted or changed.
	mod=$(cd / && GOWORK=off GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n "$mod" && -d "$mod/kustomize/stage" ]] || die "kwok $KWOK_VERSION module (kustomize/stage) not found in the module cache"
	local f out="$dir/kwok-stages.yaml"
	: >"$out"
	for f in "$mod"/kustomize/stage/node/fast/*.yaml "$mod"/kustomize/stage/node/heartbeat-with-lease/*.yaml \
		"$mod"/kustomize/stage/pod/fast/*.yaml; do
		[[ "$(basename "$f")" == kustomization.yaml ]] && continue
		printf -- '---\n' >>"$out"
		cat "$f" >>"$out"
		echo >>"$out"
	done
	grep -q 'kind: Stage' "$out" || die "no Stage in kwok's kustomize/stage/{node,pod}/fast"
	echo "$out"
}

start() {
	local bin="" owner=""
	while [[ $# -gt 0 ]]; do
		case $1 in
		--bin) bin=$2; shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	if status 2>/dev/null; then
		log "already running"
		echo "$dir/kubeconfig"
		return
	fi
	stop # leftovers of a crashed start
	[[ -n "$bin" ]] || bin=$("$here/testbin.sh" --cluster)
	local b
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
		[[ -x "$bin/$b" ]] || die "$bin/$b missing (hack/testbin.sh --cluster builds it)"
	done
	command -v openssl >/dev/null || die "openssl missing"
	command -v curl >/dev/null || die "curl missing"

	rm -rf "$dir/etcd" "$dir/logs" "$dir/ports"
	mkdir -p "$dir/logs"
	pki
	local stages
	stages=$(kwok_stages)
	local api_extra kcm_extra sched_extra kwok_extra
	read -ra api_extra <<<"${CLUSTER_APISERVER_ARGS:-}"
	read -ra kcm_extra <<<"${CLUSTER_CONTROLLER_MANAGER_ARGS:-}"
	read -ra sched_extra <<<"${CLUSTER_SCHEDULER_ARGS:-}"
	read -ra kwok_extra <<<"${CLUSTER_KWOK_ARGS:-}"

	local etcd_port peer_port api_port
	etcd_port=$(free_port)
	peer_port=$(free_port)
	api_port=$(free_port)
	server="https://127.0.0.1:$api_port"
	admin_token=$(openssl rand -hex 24)
	local kcm_token sched_token kwok_token
	kcm_token=$(openssl rand -hex 24)
	sched_token=$(openssl rand -hex 24)
	kwok_token=$(openssl rand -hex 24)
	# Static tokens: token,user,uid,"groups". Every component is a cluster
	# admin; this cluster exists only for one test run.
	cat >"$dir/pki/tokens.csv" <<EOF
$admin_token,admin,admin,"system:masters"
$kcm_token,system:kube-controller-manager,kcm,"system:masters"
$sched_token,system:kube-scheduler,scheduler,"system:masters"
$kwok_token,kwok,kwok,"system:masters"
EOF
	chmod 600 "$dir/pki/tokens.csv"
	kubeconfig "$dir/kubeconfig" admin "$admin_token"
	kubeconfig "$dir/controller-manager.kubeconfig" system:kube-controller-manager "$kcm_token"
	kubeconfig "$dir/scheduler.kubeconfig" system:kube-scheduler "$sched_token"
	kubeconfig "$dir/kwok.kubeconfig" kwok "$kwok_token"

	spawn etcd "$bin/etcd" --name e2e --data-dir "$dir/etcd" --unsafe-no-fsync \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "e2e=http://127.0.0.1:$peer_port" --log-level warn

	spawn kube-apiserver "$bin/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
		--client-ca-file "$dir/pki/ca.crt" \
		--token-auth-file "$dir/pki/tokens.csv" \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
		--authorization-mode RBAC \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--enable-priority-and-fairness=false --profiling=false \
		--endpoint-reconciler-type none "${api_extra[@]}"

	local deadline=$((SECONDS + 90))
	until [[ "$(api GET /readyz 2>/dev/null)" == ok ]]; do
		alive etcd
		alive kube-apiserver
		((SECONDS < deadline)) || fail_start "kube-apiserver not ready within 90s"
		sleep 0.2
	done

	local qps=()
	if [[ -n "${CLUSTER_KUBE_API_QPS:-}" ]]; then
		qps=(--kube-api-qps "$CLUSTER_KUBE_API_QPS" --kube-api-burst "${CLUSTER_KUBE_API_BURST:-$((CLUSTER_KUBE_API_QPS * 2))}")
	fi

	spawn kube-controller-manager "$bin/kube-controller-manager" "${qps[@]}" \
		--kubeconfig "$dir/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
		--secure-port 0 --leader-elect=false \
		--service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
		--cluster-signing-cert-file "$dir/pki/ca.crt" --cluster-signing-key-file "$dir/pki/ca.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
		--concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10 --concurrent-gc-syncs 10 \
		"${kcm_extra[@]}"

	spawn kube-scheduler "$bin/kube-scheduler" "${qps[@]}" \
		--kubeconfig "$dir/scheduler.kubeconfig" \
		--authentication-kubeconfig "$dir/scheduler.kubeconfig" \
		--authorization-kubeconfig "$dir/scheduler.kubeconfig" \
		--secure-port 0 --leader-elect=false "${sched_extra[@]}"

	spawn kwok "$bin/kwok" \
		--kubeconfig "$dir/kwok.kubeconfig" --config "$stages" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--manage-nodes-with-label-selector= \
		--disregard-status-with-annotation-selector kwok.x-k8s.io/status=custom \
		--disregard-status-with-label-selector= \
		--cidr 10.244.0.0/16 --node-ip 10.0.0.1 --node-lease-duration-seconds 40 "${kwok_extra[@]}"

	local node
	node=$(
		cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$NODE_NAME",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"kubernetes.io/hostname":"$NODE_NAME","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"}},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},"capacity":{"cpu":"32","memory":"256Gi","pods":"110"}}}
EOF
	)
	local out
	out=$(api POST /api/v1/nodes "$node") || fail_start "create node: $out"
	grep -q '"kind": *"Node"' <<<"$out" || fail_start "create node: $out"

	deadline=$((SECONDS + 60))
	until api GET "/api/v1/nodes/$NODE_NAME" 2>/dev/null | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'; do
		alive kube-apiserver
		alive kube-controller-manager
		alive kube-scheduler
		alive kwok
		((SECONDS < deadline)) || fail_start "node $NODE_NAME not Ready within 60s"
		sleep 0.2
	done

	if [[ -n "$owner" ]]; then
		# Stops the cluster when the owner exits; ends by itself once the
		# pids file is gone (a normal stop).
		(
			trap '' HUP INT
			while kill -0 "$owner" 2>/dev/null && [[ -f "$dir/pids" ]]; do sleep 1; done
			[[ -f "$dir/pids" ]] && "$here/cluster.sh" stop "$dir"
		) >/dev/null 2>&1 </dev/null &
	fi
	log "running: $server (logs in $dir/logs)"
	echo "$dir/kubeconfig"
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
shift 2
[[ -n "$dir" ]] || usage
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
case $cmd in
start) start "$@" ;;
stop) [[ $# -eq 0 ]] || usage; stop ;;
status) [[ $# -eq 0 ]] || usage; status ;;
*) usage ;;
esac
