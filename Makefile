# The two commands a fresh machine needs: `make up` and `make test`. See README.md.
SHELL := /bin/bash

.PHONY: up down status test lint fmt build

up: ## Run Wiber locally on real servers; returns when ready, runs until `make down`.
	dev/up.sh

down: ## Stop everything `make up` started.
	dev/down.sh

status: ## Show what is running.
	-dev/kafka.sh status
	-dev/ferretdb.sh status

test: ## Every check CI runs: lints, then all tests against real local servers.
	dev/test.sh

lint: ## Formatting and clippy only.
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

build:
	cargo build --workspace --locked
