# The two commands a fresh machine needs: `make up` and `make test`. See README.md.
SHELL := /bin/bash

.PHONY: up servers-up down status test soak lint fmt build images chart-docs bench bench-auth bench-push bench-reads cluster-up cluster-down crds

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

bench-push: ## Push delivery: stored-to-received latency under load and idle, 10,000 idle streams' memory (see BENCHMARKS.md).
	BENCH_PUSH=1 dev/bench.sh $(BENCH_ARGS)

bench-reads: ## Reads as the store grows (100k, 300k, 1M messages; SQLite vs PostgreSQL under FerretDB): see BENCHMARKS.md.
	dev/readbench.sh $(READBENCH_SIZES)

cluster-up: ## A local Kubernetes cluster: one real node (its pods run; the images of `make images` imported) and kwok nodes (see README.md).
	dev/cluster.sh start

cluster-down: ## Stop everything `make cluster-up` started: no process, mount, device or iptables rule is left.
	dev/cluster.sh stop

images: ## OCI archives of the wiber and wiber-operator images in target/images (no Docker needed; see README.md).
	dev/images.sh build

chart-docs: ## Regenerate charts/*/README.md from values.yaml comments (helm-docs).
	dev/chart-docs.sh generate

lint: ## Formatting and clippy only.
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

build:
	cargo build --workspace --locked

crds: ## Regenerate crds/wibercluster.yaml from the operator's types and copy it into the operator chart.
	cargo run --quiet --locked -p wiber-operator --bin crdgen > crds/wibercluster.yaml.tmp
	mv crds/wibercluster.yaml.tmp crds/wibercluster.yaml
	cp crds/wibercluster.yaml charts/wiber-operator/files/crds/wibercluster.yaml
