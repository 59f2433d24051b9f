#!/usr/bin/env bash
# Installs the Debian packages the tests need, only when some are missing.
#
#   hack/install-deps.sh            # the default set below
#   hack/install-deps.sh PKG...     # just these (hack/postgres.sh uses this)
#
# Nothing installed by hand on a machine survives a move to a new one, so CI
# and dev setup call this instead of assuming the packages are there. It is
# silent when everything is present, and prints apt's log only on failure.
set -euo pipefail

default_packages=(protobuf-compiler libprotobuf-dev kcat postgresql chromium fonts-wqy-microhei openssl curl)

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

is_installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

packages=("$@")
if ((${#packages[@]} == 0)); then
	packages=("${default_packages[@]}")
fi

command -v dpkg-query >/dev/null || die "dpkg-query not found: this script needs Debian or Ubuntu (wanted: ${packages[*]})"

missing=()
for p in "${packages[@]}"; do
	is_installed "$p" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

as_root=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || die "not root and no sudo; install as root: apt-get install ${missing[*]}"
	# -n: fail instead of prompting, since CI has no terminal.
	as_root=(sudo -n)
fi

apt_log="$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX")"
trap 'rm -f "$apt_log"' EXIT

apt() {
	# The lock timeout matters on a shared machine where another session may
	# be running apt; the dpkg options keep a conffile question from blocking.
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		-o DPkg::Lock::Timeout=300 \
		-o Dpkg::Use-Pty=0 \
		-o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold \
		"$@" >>"$apt_log" 2>&1
}

log "installing ${missing[*]}"
# An update costs tens of seconds and is only needed when the package lists
# are absent or stale, which the failed install tells us.
if ! apt install --no-install-recommends "${missing[@]}"; then
	log "install failed; running apt-get update and retrying"
	if ! apt update || ! apt install --no-install-recommends "${missing[@]}"; then
		tail -n 30 "$apt_log" >&2
		die "could not install ${missing[*]} (apt-get log above)"
	fi
fi

for p in "${missing[@]}"; do
	is_installed "$p" || die "apt-get succeeded but $p is still not installed"
done
log "installed ${missing[*]}"
