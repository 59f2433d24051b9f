#!/usr/bin/env bash
# Builds the Kubernetes test binaries from the Go module proxy (no downloads of
# prebuilt binaries are possible here): kube-apiserver and etcd for envtest and
# the e2e suite, helm, and (with --cluster) kube-controller-manager,
# kube-scheduler and kwok. Cached outside the repository, keyed by version;
# a binary that already reports the wanted version is not rebuilt.
#
#   hack/testbin.sh            # prints the directory (use as KUBEBUILDER_ASSETS)
#   hack/testbin.sh --cluster  # also the controller-manager, scheduler and kwok
#
# Versions: Kubernetes 1.35 matches controller-runtime v0.23 (k8s.io libs
# v0.35); etcd 3.5; helm 3.22. See ../shared/TESTBIN.md for the recipe.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.5.24}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
cache=${XINFANG_TESTBIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xinfang/testbin}
out="$cache/k8s-$K8S_VERSION"
mkdir -p "$out"
cluster=false
[[ "${1:-}" == "--cluster" ]] && cluster=true

log() { printf 'testbin: %s\n' "$*" >&2; }

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"

# wrapper creates a throwaway module that requires k8s.io/kubernetes at the
# wanted version with every staging module replaced by its published copy.
wrapper() {
	local dir="$cache/src/kubernetes-$K8S_VERSION"
	if [[ ! -f "$dir/go.mod" ]]; then
		mkdir -p "$dir"
		(
			cd "$dir"
			printf 'module testbin\n\ngo 1.25\n\nrequire k8s.io/kubernetes %s\n' "$K8S_VERSION" >go.mod
			curl -fsS "${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$K8S_VERSION.mod" |
				sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' |
				while read -r m; do printf 'replace %s => %s %s\n' "$m" "$m" "$staging_version" >>go.mod; done
			printf 'package testbin\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n' >tools.go
			GOWORK=off GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOWORK=off GOFLAGS=-mod=mod go mod download
		)
	fi
	echo "$dir"
}

stamp() {
	local pkg=$1
	echo "-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
}

build_k8s() {
	local name=$1
	if [[ -x "$out/$name" ]] && "$out/$name" --version 2>/dev/null | grep -q "$K8S_VERSION"; then
		return
	fi
	log "building $name $K8S_VERSION (minutes on 2 cores, once)"
	local dir
	dir=$(wrapper)
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go build -o "$out/$name" \
		-ldflags "$(stamp k8s.io/component-base/version) $(stamp k8s.io/client-go/pkg/version | sed 's/^-s -w //')" \
		"k8s.io/kubernetes/cmd/$name")
}

build_etcd() {
	if [[ -x "$out/etcd" ]] && "$out/etcd" --version 2>/dev/null | grep -q "${ETCD_VERSION#v}"; then
		return
	fi
	log "building etcd $ETCD_VERSION"
	local dir="$cache/src/etcd-$ETCD_VERSION"
	mkdir -p "$dir"
	(
		cd "$dir"
		[[ -f go.mod ]] || printf 'module testbin\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >go.mod
		printf 'package testbin\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' >tools.go
		GOWORK=off GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
		GOWORK=off GOFLAGS=-mod=mod go build -o "$out/etcd" go.etcd.io/etcd/server/v3
	)
}

build_helm() {
	if [[ -x "$out/helm" ]] && "$out/helm" version --short 2>/dev/null | grep -q "$HELM_VERSION"; then
		return
	fi
	log "building helm $HELM_VERSION"
	GOWORK=off GOBIN="$out" go install -ldflags "-s -w \
		-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
		"helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_etcd
build_k8s kube-apiserver
build_helm
if $cluster; then
	build_k8s kube-controller-manager
	build_k8s kube-scheduler
	if [[ ! -x "$out/kwok" ]]; then
		log "building kwok $KWOK_VERSION"
		GOWORK=off GOBIN="$out" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	fi
fi
echo "$out"
