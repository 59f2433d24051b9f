# Xinfang — one Makefile for the workspace. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Modules of the workspace (go.work), in dependency order.
MODULES := proto services/county services hack operator e2e
BIN     := $(CURDIR)/bin
# Throwaway PostgreSQL for tests (hack/postgres.sh), outside the checkout.
PGDIR   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/xinfang/pg-test
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: run
run: ## the whole county locally: dev broker + the services, state under .dev/ (Ctrl-C stops)
	hack/run.sh

.PHONY: demo
demo: ## the county on a dev clock (a day every 3 s) under .dev/demo, playing a day of petitions (Ctrl-C stops)
	hack/run.sh --demo

.PHONY: deps
deps: ## install the Debian packages the tests need (protoc, kcat, PostgreSQL)
	hack/install-deps.sh

.PHONY: build
build: ## build every module, in the workspace and alone (GOWORK=off)
	@for m in $(MODULES); do echo "build $$m"; (cd $$m && go build ./... && GOWORK=off go build ./...); done

.PHONY: test
test: deps ## unit, integration, envtest and end-to-end tests (SQLite, PostgreSQL, kube-apiserver, helm)
	hack/postgres.sh start "$(PGDIR)" >/dev/null
	export KUBEBUILDER_ASSETS="$$(hack/testbin.sh --cluster)"; \
	export XINFANG_TEST_POSTGRES_DSN="$$(cat "$(PGDIR)/dsn")"; \
	status=0; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...) || status=1; done; \
	echo "== benchmark smoke (the code make bench runs, a few messages)"; \
	(cd services && go test -count=1 -run '^$$' -bench . -benchtime 200x ./kit/kitbench/) || status=1; \
	(cd operator && go test -count=1 -run '^$$' -bench CountyValidation -benchtime 1x ./api/v1alpha1/) || status=1; \
	(cd e2e && XINFANG_BENCH_STORES=sqlite,postgres go test -count=1 -run '^$$' -bench Pipeline -benchtime 20x -timeout 10m . && \
		XINFANG_BENCH_IDLE_SETTLE=1s XINFANG_BENCH_IDLE_WINDOW=1s go test -count=1 -run '^$$' -bench CountyFootprint -benchtime 1x -timeout 10m .) || status=1; \
	hack/postgres.sh stop "$(PGDIR)" >/dev/null || true; \
	exit $$status

.PHONY: bench
bench: ## benchmarks against the dev broker as a separate process (see docs/benchmarks.md)
	hack/bench.sh

$(BIN)/protoc-gen-go: hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOWORK=off go build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go

$(BIN)/controller-gen: hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOWORK=off go build -o $(BIN)/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: proto
proto: $(BIN)/protoc-gen-go ## regenerate Go from proto/ (protoc from Debian, protoc-gen-go pinned in hack/tools)
	@command -v protoc >/dev/null || { echo "protoc missing: run make deps" >&2; exit 1; }
	cd proto && rm -f events/v1/*.pb.go && PATH="$(BIN):$$PATH" protoc -I . -I /usr/include \
		--go_out=. --go_opt=module=xinfang.io/proto xinfang/events/v1/*.proto

.PHONY: generate
generate: $(BIN)/controller-gen ## regenerate deepcopy code (county schema, operator API) and the CRD
	cd services/county && $(BIN)/controller-gen object paths=./...
	cd operator && $(BIN)/controller-gen object paths=./api/... && \
		$(BIN)/controller-gen crd paths=./api/... output:crd:artifacts:config=config/crd/bases && \
		$(BIN)/controller-gen rbac:roleName=xinfang-operator paths=./... output:rbac:artifacts:config=config/rbac
	mkdir -p charts/xinfang-operator/files/crds charts/xinfang-operator/files/rbac
	cp operator/config/crd/bases/xinfang.io_counties.yaml charts/xinfang-operator/files/crds/
	cp operator/config/rbac/role.yaml charts/xinfang-operator/files/rbac/

.PHONY: manifests
manifests: generate ## CRD, RBAC and their copies in the chart (same as generate)

.PHONY: tidy
tidy: ## go mod tidy in every module (and the tools module)
	@for m in $(MODULES) hack/tools; do (cd $$m && GOWORK=off go mod tidy); done

.PHONY: verify
verify: deps ## fail when generated code, go.mod/go.sum or formatting are not current
	@test -z "$$(git status --porcelain)" || { echo "verify needs a clean tree; commit or stash first:"; git status --short; exit 1; }
	$(MAKE) proto generate tidy
	@unformatted="$$(gofmt -l $(MODULES) hack/tools)"; test -z "$$unformatted" || { echo "not gofmt'ed:"; echo "$$unformatted"; exit 1; }
	@for m in $(MODULES); do (cd $$m && go vet ./... && GOWORK=off go build ./...) || exit 1; done
	@git diff --exit-code --stat && test -z "$$(git status --porcelain)" || { echo "regeneration or tidy changed files (above): run make proto generate tidy and commit" >&2; git status --short; exit 1; }
	@echo "verify: generated code, modules and formatting are current"

IMAGE_REPO ?= registry.example.cn/xinfang
IMAGE_TAG  ?= dev
ENGINE     ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)

.PHONY: images
images: ## build the operator and service images (needs a container engine; none on the dev machines)
	@if [ -z "$(ENGINE)" ] || ! $(ENGINE) info >/dev/null 2>&1; then \
		echo "images: no running container engine (docker or podman) here; build on a machine with one:"; \
		echo "  docker build -f services/Dockerfile --build-arg SERVICE=intake -t $(IMAGE_REPO)/intake:$(IMAGE_TAG) ."; \
		echo "  docker build -f operator/Dockerfile -t $(IMAGE_REPO)/operator:$(IMAGE_TAG) ."; exit 1; fi
	for s in intake routing supervision statistics; do \
		$(ENGINE) build -f services/Dockerfile --build-arg SERVICE=$$s -t $(IMAGE_REPO)/$$s:$(IMAGE_TAG) . ; done
	$(ENGINE) build -f operator/Dockerfile -t $(IMAGE_REPO)/operator:$(IMAGE_TAG) .

.PHONY: clean-dev
clean-dev: ## remove all dev state (.dev/: broker data, databases, keys, tokens)
	rm -rf .dev
