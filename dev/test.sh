#!/usr/bin/env bash
# make test: every check CI runs. Lints, then starts the real servers on test ports (so a stack
# from `make up` keeps running undisturbed), runs the whole Rust test suite against them, and
# stops them again whatever the outcome.
# Test ports: those of dev/messaging-servers.sh, and the Kubernetes apiserver 26443 (controller
# manager, scheduler, kwok: 26444-26446), etcd 22379 (peer 22380); the real node on 10.87.1.0/24
# (a `make cluster-up` node keeps 10.87.0.0/24), its pods on 10.88.1.0/24.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$WIBER_DEV_DIR/messaging-servers.sh"
cd "$WIBER_ROOT"

use_test_cluster

log "checking formatting and lints"
ensure_build_deps
ensure_browser
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# No two modules of a crate import each other, even around a circle (a module that needs part of
# another's state takes it as a sub-state instead: api/src/state.rs).
python3 "$WIBER_DEV_DIR/module-cycles.py" common/src api/src consumer/src operator/src e2e/src \
  loadgen/src readbench/src token/src testkit/src kubectl-wiber/src
log "checking the TypeScript client: its types are the committed contract's, and it type-checks"
ensure_client_tools
(cd clients/typescript && npm run --silent check)
log "building the book and checking its links"
"$WIBER_DEV_DIR/docs.sh" build

cleanup() {
  "$WIBER_DEV_DIR/cluster.sh" stop || true
  stop_messaging_servers
}
trap cleanup EXIT

# An empty cluster every run: a run that died midway leaves no pods to start on the node again.
"$WIBER_DEV_DIR/cluster.sh" stop
"$WIBER_DEV_DIR/cluster.sh" wipe
"$WIBER_DEV_DIR/cluster.sh" start
# The main Kafka and the store also listen where the node's pods reach this machine.
pod_host=$("$WIBER_DEV_DIR/cluster.sh" host-ip)
KAFKA_POD_HOST=$pod_host FERRETDB_POD_HOST=$pod_host start_messaging_servers
# Kubernetes tests: the admin kubeconfig of the local control plane, and the helm and kubectl to use.
KUBECONFIG=$("$WIBER_DEV_DIR/cluster.sh" kubeconfig)
WIBER_HELM_BIN=$("$WIBER_DEV_DIR/cluster.sh" bin helm)
WIBER_KUBECTL_BIN=$("$WIBER_DEV_DIR/cluster.sh" bin kubectl)
# The chart README test regenerates them with helm-docs.
WIBER_HELM_DOCS_BIN=$("$WIBER_DEV_DIR/chart-docs.sh" bin)
export KUBECONFIG WIBER_HELM_BIN WIBER_KUBECTL_BIN WIBER_HELM_DOCS_BIN
export_messaging_env
# The real node's tests: where NodePorts answer, and where its pods reach Kafka and the store.
WIBER_NODE_IP=$("$WIBER_DEV_DIR/cluster.sh" node-ip)
WIBER_POD_KAFKA_BOOTSTRAP=$("$WIBER_DEV_DIR/kafka.sh" pod-bootstrap)
WIBER_POD_MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" pod-uri)
export WIBER_NODE_IP WIBER_POD_KAFKA_BOOTSTRAP WIBER_POD_MONGO_URI

# The API's conformance test runs schemathesis (PyPI) against the real API's /openapi.json.
WIBER_SCHEMATHESIS_BIN=$("$WIBER_DEV_DIR/schemathesis.sh" bin)
export WIBER_SCHEMATHESIS_BIN

cargo build --workspace --bins --locked
# The image tests unpack and run what `make images` builds (a release build) and load it in podman.
"$WIBER_DEV_DIR/images.sh" build
WIBER_IMAGES_DIR=$("$WIBER_DEV_DIR/images.sh" dir)
WIBER_PODMAN_BIN=$("$WIBER_DEV_DIR/images.sh" podman)
export WIBER_IMAGES_DIR WIBER_PODMAN_BIN
# The node runs pods from these images (imagePullPolicy IfNotPresent): import this build's.
"$WIBER_DEV_DIR/cluster.sh" load-images

log "running the test suite (Kafka $KAFKA_BOOTSTRAP_SERVERS, MongoDB protocol $MONGO_URI)"
cargo test --workspace --all-targets --locked
# The node's teardown is part of the run: a stopped node leaves no process, mount, network device or
# cgroup behind (dev/node.sh checks), or make test fails here.
log "stopping the cluster and checking its node left nothing behind"
"$WIBER_DEV_DIR/cluster.sh" stop
