#!/usr/bin/env bash
# make test: every check CI runs. Lints, then starts the real servers on test ports (so a stack
# from `make up` keeps running undisturbed), runs the whole Rust test suite against them, and
# stops them again whatever the outcome.
# Test ports: Kafka 29092 (controller 30092), MongoDB protocol 28017.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WIBER_ROOT"

export KAFKA_PORT="${WIBER_TEST_KAFKA_PORT:-29092}"
export FERRETDB_PORT="${WIBER_TEST_FERRETDB_PORT:-28017}"

log "checking formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cleanup() {
  "$WIBER_DEV_DIR/ferretdb.sh" stop || true
  "$WIBER_DEV_DIR/kafka.sh" stop || true
}
trap cleanup EXIT

"$WIBER_DEV_DIR/kafka.sh" start
"$WIBER_DEV_DIR/ferretdb.sh" start
KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
export KAFKA_BOOTSTRAP_SERVERS MONGO_URI

log "running the test suite (Kafka $KAFKA_BOOTSTRAP_SERVERS, MongoDB protocol $MONGO_URI)"
cargo test --workspace --all-targets --locked
