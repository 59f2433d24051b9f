#!/usr/bin/env bash
# Throwaway PostgreSQL for tests.
#
#   hack/postgres.sh start DIR    # prints postgres://postgres@127.0.0.1:PORT/xinfang_test?sslmode=disable
#   hack/postgres.sh stop DIR
#   hack/postgres.sh status DIR   # exit 0 when running
#
# Everything lives in DIR: the cluster in DIR/data, the unix socket in DIR,
# the server log in DIR/postgres.log and the DSN in DIR/dsn. The DSN is the
# only thing printed on stdout, so `dsn=$(hack/postgres.sh start DIR)` works.
#
# As root the server runs as the postgres user, which cannot reach a DIR under
# a private directory such as /root/.cache or Go's t.TempDir (parents 0700).
# Then the server's files live in ${TMPDIR:-/tmp}/xinfang-pg-<hash of DIR>
# instead, DIR/server points there, and DIR/dsn stays where callers look.
# Port: $PGPORT, default 25432 (below 32768, where the OS hands out ephemeral
# ports). Auth is trust, on loopback and the socket only; fsync is off, so the
# data does not survive a machine crash; it is for tests, never for real data.
set -euo pipefail

readonly db_name=xinfang_test
readonly default_port=25432
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
usage() {
	echo "usage: $0 start|stop|status DIR" >&2
	exit 2
}

# Debian installs every major version side by side and puts none of them on
# PATH, so pick the newest.
find_bindir() {
	local d
	d="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
	[[ -n "$d" ]] && dirname "$d"
}

# postgres refuses to run as root, so as root every server-side command runs
# as the postgres user that the Debian package creates.
as_pg() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

is_running() {
	[[ -f "$data/PG_VERSION" ]] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# setup DIR [create] sets dir (the caller's DIR), home (where the server's
# files live), data and bindir.
setup() {
	[[ $# -ge 1 && $# -le 2 && -n "$1" ]] || usage
	if [[ "${2:-}" == create ]]; then mkdir -p "$1"; fi
	dir="$(cd "$1" 2>/dev/null && pwd)" || dir="$1"
	home="$dir"
	if ((EUID == 0)) && ! runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null; then
		home="${TMPDIR:-/tmp}/xinfang-pg-$(printf '%s' "$dir" | sha256sum | cut -c1-12)"
	fi
	data="$home/data"
	bindir="$(find_bindir)" || bindir=""
}

init_cluster() {
	local version
	version="$(basename "$(dirname "$bindir")")"
	if [[ -f "$data/PG_VERSION" ]]; then
		[[ "$(cat "$data/PG_VERSION")" == "$version" ]] ||
			die "$data was made by PostgreSQL $(cat "$data/PG_VERSION"), but $version is installed; remove $home"
		return
	fi
	if ((EUID == 0)); then
		if [[ "$home" != "$dir" ]]; then
			log "user postgres cannot reach $dir; keeping the server in $home"
			mkdir -p -m 0700 "$home"
			# The name is predictable, so refuse one another user made.
			local owner
			owner="$(stat -c %U "$home")"
			[[ ! -L "$home" && ("$owner" == root || "$owner" == postgres) ]] ||
				die "$home exists and is not ours; remove it"
			ln -sfn "$home" "$dir/server"
		fi
		chown postgres:postgres "$home"
		runuser -u postgres -- test -w "$home" -a -x "$home" ||
			die "user postgres cannot write $home"
	fi
	log "initdb $data (PostgreSQL $version)"
	# --no-sync: the cluster is thrown away, durability only costs time.
	as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync --no-instructions >"$home/initdb.log" 2>&1 ||
		{
			cat "$home/initdb.log" >&2
			die "initdb failed"
		}
	# Written by hand rather than trusting initdb's defaults, so that trust
	# can only ever apply to the socket and loopback.
	cat >"$data/pg_hba.conf" <<-'EOF'
		local all all                trust
		host  all all 127.0.0.1/32   trust
		host  all all ::1/128        trust
	EOF
	echo "include_if_exists = 'xinfang.conf'" >>"$data/postgresql.conf"
	if ((EUID == 0)); then chown postgres:postgres "$data/pg_hba.conf" "$data/postgresql.conf"; fi
}

write_settings() {
	local port="$1"
	# Rewritten on every start so that PGPORT can change between runs.
	cat >"$data/xinfang.conf" <<-EOF
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$home'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 50
		shared_buffers = 32MB
		work_mem = 4MB
		maintenance_work_mem = 32MB
		max_wal_size = 256MB
		wal_level = minimal
		max_wal_senders = 0
		logging_collector = off
		log_min_messages = warning
	EOF
	if ((EUID == 0)); then chown postgres:postgres "$data/xinfang.conf"; fi
}

start() {
	[[ $# -eq 1 ]] || usage
	setup "$1" create
	if [[ -n "$bindir" ]] && is_running; then
		[[ -s "$dir/dsn" ]] || die "a server is running on $data but $dir/dsn is missing; run: $0 stop $dir"
		cat "$dir/dsn"
		return
	fi

	if [[ -z "$bindir" ]]; then
		log "initdb not found; installing postgresql"
		"$here/install-deps.sh" postgresql
		# Again: the postgres user, which decides where the server lives,
		# exists only now.
		setup "$1"
		[[ -n "$bindir" ]] || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb"
	fi

	local port="${PGPORT:-$default_port}"
	[[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "PGPORT=$port is not a port"
	# The kernel limits socket paths to 107 bytes; postgres would fail with
	# a less obvious message.
	local sock="$home/.s.PGSQL.$port"
	((${#sock} <= 107)) || die "socket path $sock is longer than 107 bytes; use a shorter DIR"

	init_cluster
	write_settings "$port"
	rm -f "$dir/dsn"
	if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$home/postgres.log" -w -t 60 start >/dev/null; then
		tail -n 20 "$home/postgres.log" >&2 || true
		die "postgres did not start on port $port (log above; is the port taken? set PGPORT)"
	fi

	local psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$home" -p "$port" -U postgres)
	if [[ "$("${psql[@]}" -d postgres -tAc "select 1 from pg_database where datname = '$db_name'")" != 1 ]]; then
		"${psql[@]}" -d postgres -c "create database $db_name" >/dev/null ||
			die "creating database $db_name failed"
	fi

	local dsn="postgres://postgres@127.0.0.1:$port/$db_name?sslmode=disable"
	# Written last: its presence means the database is ready to use.
	printf '%s\n' "$dsn" >"$dir/dsn.tmp"
	mv "$dir/dsn.tmp" "$dir/dsn"
	log "running on 127.0.0.1:$port and $home (log $home/postgres.log)"
	printf '%s\n' "$dsn"
}

stop() {
	[[ $# -eq 1 ]] || usage
	setup "$1"
	if [[ -z "$bindir" ]] || ! is_running; then
		rm -f "$dir/dsn"
		log "not running"
		return
	fi
	# fast: roll back open sessions instead of waiting for tests' pools.
	as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
		die "pg_ctl stop failed (log: $home/postgres.log)"
	rm -f "$dir/dsn"
	log "stopped"
}

status() {
	[[ $# -eq 1 ]] || usage
	setup "$1"
	if [[ -n "$bindir" ]] && is_running; then
		cat "$dir/dsn" 2>/dev/null || true
		return 0
	fi
	log "not running"
	return 3
}

(($# >= 1)) || usage
cmd="$1"
shift
case "$cmd" in
start) start "$@" ;;
stop) stop "$@" ;;
status) status "$@" ;;
*) usage ;;
esac
