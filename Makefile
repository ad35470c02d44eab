# The two commands a fresh machine needs: `make up` and `make test`. See README.md; depth in docs/ (make docs).
SHELL := /bin/bash

.PHONY: help up servers-up down status test docs docs-reference soak lint fmt build images chart-docs bench bench-auth bench-push bench-hub bench-feed bench-reads cluster-up cluster-down crds dashboards

help: ## List the targets and what each does.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## Run Wiber locally on real servers; returns when ready, runs until `make down`.
	dev/up.sh

servers-up: ## Kafka, the store and the topics only, also reachable from the pods of `make cluster-up`'s node.
	dev/up.sh servers

down: ## Stop everything `make up` (or servers-up) started.
	dev/down.sh

status: ## Show what is running.
	-dev/kafka.sh status
	-dev/ferretdb.sh status
	-dev/postgres.sh status
	-dev/wiber.sh status

test: ## Every check CI runs: lints, then all tests against real local servers.
	dev/test.sh

soak: ## The fault suite SOAK_ROUNDS times (5), then WIBER_SOAK_MINUTES (30) of steady load; prints the table (see RELIABILITY.md).
	dev/soak.sh

bench: ## Load test on a fresh release stack on bench ports (see BENCHMARKS.md); BENCH_ARGS go to wiber-loadgen.
	dev/bench.sh $(BENCH_ARGS)

bench-auth: ## POST throughput and latency with authentication on and off, rounds alternating on one stack (see BENCHMARKS.md).
	AUTH_MODE=compare dev/bench.sh $(BENCH_ARGS)

bench-push: ## Push delivery: latency from a POST's answer to the stream, under load and idle; 10,000 idle streams' memory (see BENCHMARKS.md).
	BENCH_PUSH=1 dev/bench.sh $(BENCH_ARGS)

bench-hub: ## The push hub's release per record with 0 to 100,000 idle streams held, in-process (see BENCHMARKS.md).
	cargo run --release --locked -p wiber-api --example hub_release

bench-feed: ## The push feed's CPU per record with 1, 2 and 4 API replicas reading one topic (see docs/operations/sizing.md).
	dev/feedcost.sh

bench-reads: ## Reads as the store grows (100k and 1M messages of #30's dataset, on FerretDB with PostgreSQL): see BENCHMARKS.md.
	dev/readbench.sh $(READBENCH_SIZES)

cluster-up: ## A local Kubernetes cluster: one real node (its pods run; the images of `make images` imported) and kwok nodes (docs/getting-started/local-cluster.md).
	dev/cluster.sh start

cluster-down: ## Stop everything `make cluster-up` started: no process, mount, device or iptables rule is left.
	dev/cluster.sh stop

images: ## OCI archives of the wiber and wiber-operator images in target/images (no Docker needed; docs/getting-started/install.md).
	dev/images.sh build

docs: ## Build the book (docs/, mdBook) into target/book and check its links; open target/book/index.html.
	dev/docs.sh build

docs-reference: ## Regenerate the book's HTTP API reference from the served OpenAPI document (the WiberCluster reference: make crds).
	WIBER_WRITE_DOCS=1 cargo test --quiet --locked -p wiber-api --test http reference

dashboards: ## Redraw docs/images/dashboards/ from a real Prometheus scraping a loaded local stack (WIBER_DASHBOARD_PICTURES seconds, 240).
	dev/dashboards.sh

chart-docs: ## Regenerate charts/*/README.md from values.yaml comments (helm-docs).
	dev/chart-docs.sh generate

lint: ## Formatting and clippy only.
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format every crate.
	cargo fmt --all

build: ## Debug build of the workspace.
	cargo build --workspace --locked

crds: ## Regenerate crds/wibercluster.yaml and the book's WiberCluster reference from the operator's types; copy the CRD into the operator chart.
	cargo run --quiet --locked -p wiber-operator --bin crdgen > crds/wibercluster.yaml.tmp
	mv crds/wibercluster.yaml.tmp crds/wibercluster.yaml
	cp crds/wibercluster.yaml charts/wiber-operator/files/crds/wibercluster.yaml
	cargo run --quiet --locked -p wiber-operator --bin crdgen -- --reference > docs/reference/wibercluster.md.tmp
	mv docs/reference/wibercluster.md.tmp docs/reference/wibercluster.md
