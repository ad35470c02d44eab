#!/usr/bin/env bash
# make test: every check CI runs. Lints, then starts the real servers on test ports (so a stack
# from `make up` keeps running undisturbed), runs the whole Rust test suite against them, and
# stops them again whatever the outcome.
# Test ports: Kafka 29092 (controller 30092, SASL_SSL 29192, mutual TLS 29292), a three-node Kafka
# (RF 3, min.insync.replicas=2) for broker faults on 19092-19094 (controllers 20092-20094, secured
# 19192-19194 and 19292-19294), MongoDB protocol 28017 on PostgreSQL 25432 (a fresh cluster every
# run), Kubernetes apiserver 26443 (controller manager, scheduler, kwok: 26444-26446), etcd 22379
# (peer 22380).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WIBER_ROOT"

export KAFKA_PORT="${WIBER_TEST_KAFKA_PORT:-29092}"
export FERRETDB_PORT="${WIBER_TEST_FERRETDB_PORT:-28017}"
export POSTGRES_PORT="${WIBER_TEST_POSTGRES_PORT:-25432}"
export FERRETDB_HANDLER=postgresql
export KUBE_APISERVER_PORT="${WIBER_TEST_KUBE_APISERVER_PORT:-26443}"
export ETCD_PORT="${WIBER_TEST_ETCD_PORT:-22379}"
REPLICATED_KAFKA_PORT="${WIBER_TEST_REPLICATED_KAFKA_PORT:-19092}"
# The three-node cluster is its own kafka.sh instance: these settings belong to it alone.
replicated_kafka() { KAFKA_PORT=$REPLICATED_KAFKA_PORT KAFKA_NODES=3 KAFKA_CONTROLLER_PORT= "$WIBER_DEV_DIR/kafka.sh" "$@"; }
# Derived from the two above by dev/cluster.sh; one inherited from a `make cluster-up` shell would collide.
unset ETCD_PEER_PORT KUBE_CONTROLLER_MANAGER_PORT KUBE_SCHEDULER_PORT KWOK_PORT

log "checking formatting and lints"
ensure_build_deps
ensure_browser
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cleanup() {
  "$WIBER_DEV_DIR/cluster.sh" stop || true
  "$WIBER_DEV_DIR/ferretdb.sh" stop || true
  "$WIBER_DEV_DIR/kafka.sh" stop || true
  replicated_kafka stop || true
}
trap cleanup EXIT

"$WIBER_DEV_DIR/kafka.sh" start
replicated_kafka start
# Each run's databases are its own: last run's would only slow FerretDB's start and PostgreSQL's scans.
"$WIBER_DEV_DIR/postgres.sh" wipe
"$WIBER_DEV_DIR/ferretdb.sh" start
"$WIBER_DEV_DIR/cluster.sh" start
# Kubernetes tests: the admin kubeconfig of the local control plane, and the helm and kubectl to use.
KUBECONFIG=$("$WIBER_DEV_DIR/cluster.sh" kubeconfig)
WIBER_HELM_BIN=$("$WIBER_DEV_DIR/cluster.sh" bin helm)
WIBER_KUBECTL_BIN=$("$WIBER_DEV_DIR/cluster.sh" bin kubectl)
# The chart README test regenerates them with helm-docs.
WIBER_HELM_DOCS_BIN=$("$WIBER_DEV_DIR/chart-docs.sh" bin)
export KUBECONFIG WIBER_HELM_BIN WIBER_KUBECTL_BIN WIBER_HELM_DOCS_BIN
KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
# Fault tests start private FerretDB instances they can stop, each on a PostgreSQL database of its
# own (named after WIBER_POSTGRES_URL); e2e tests run the real binaries. The index tests read
# PostgreSQL's plans through FerretDB's explain.
WIBER_FERRETDB_BIN=$("$WIBER_DEV_DIR/ferretdb.sh" bin)
WIBER_POSTGRES_URL=$("$WIBER_DEV_DIR/postgres.sh" url "")
WIBER_BIN_DIR="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}/debug"
export KAFKA_BOOTSTRAP_SERVERS MONGO_URI WIBER_FERRETDB_BIN WIBER_POSTGRES_URL WIBER_BIN_DIR
# Broker-fault tests freeze and stop nodes of the three-node cluster through dev/kafka.sh.
WIBER_REPLICATED_KAFKA_BOOTSTRAP=$(replicated_kafka bootstrap)
export WIBER_REPLICATED_KAFKA_BOOTSTRAP WIBER_REPLICATED_KAFKA_PORT=$REPLICATED_KAFKA_PORT
# The secured listeners (SASL_SSL with SCRAM-SHA-512, mutual TLS) and what clients need for them.
WIBER_KAFKA_SASL_SSL_BOOTSTRAP=$("$WIBER_DEV_DIR/kafka.sh" secure-bootstrap sasl_ssl)
WIBER_KAFKA_SSL_BOOTSTRAP=$("$WIBER_DEV_DIR/kafka.sh" secure-bootstrap ssl)
WIBER_KAFKA_TLS_DIR=$("$WIBER_DEV_DIR/kafka.sh" tls-dir)
WIBER_KAFKA_SCRAM_USER="${KAFKA_SCRAM_USER:-wiber}"
WIBER_KAFKA_SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-wiber-secret}"
export WIBER_KAFKA_SASL_SSL_BOOTSTRAP WIBER_KAFKA_SSL_BOOTSTRAP WIBER_KAFKA_TLS_DIR \
  WIBER_KAFKA_SCRAM_USER WIBER_KAFKA_SCRAM_PASSWORD

# The API's conformance test runs schemathesis (PyPI) against the real API's /openapi.json.
WIBER_SCHEMATHESIS_BIN=$("$WIBER_DEV_DIR/schemathesis.sh" bin)
export WIBER_SCHEMATHESIS_BIN

cargo build --workspace --bins --locked
# The image tests unpack and run what `make images` builds (a release build) and load it in podman.
"$WIBER_DEV_DIR/images.sh" build
WIBER_IMAGES_DIR=$("$WIBER_DEV_DIR/images.sh" dir)
WIBER_PODMAN_BIN=$("$WIBER_DEV_DIR/images.sh" podman)
export WIBER_IMAGES_DIR WIBER_PODMAN_BIN

log "running the test suite (Kafka $KAFKA_BOOTSTRAP_SERVERS, MongoDB protocol $MONGO_URI)"
cargo test --workspace --all-targets --locked
