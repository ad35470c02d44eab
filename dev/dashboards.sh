#!/usr/bin/env bash
# make dashboards: redraws docs/images/dashboards/*.svg, the pictures of the operator chart's
# Grafana dashboards. Starts the real servers and a control plane (no real node) on make test's
# ports, runs the observability test that scrapes a loaded api, consumer and operator with Debian's
# Prometheus, keeps the load on for WIBER_DASHBOARD_PICTURES seconds (default 240), writes a
# picture of each dashboard drawn from that Prometheus's answers, and stops everything again.
# Not while `make test` runs: both use the same ports.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$WIBER_DEV_DIR/messaging-servers.sh"
cd "$WIBER_ROOT"

# make test's cluster, so a node a test run left behind is stopped too.
use_test_cluster

cleanup() {
  "$WIBER_DEV_DIR/cluster.sh" stop || true
  stop_messaging_servers
}
trap cleanup EXIT

ensure_build_deps
"$WIBER_DEV_DIR/cluster.sh" stop
"$WIBER_DEV_DIR/cluster.sh" wipe
# The operator needs only the control plane: no real node.
KUBE_REAL_NODE=0 "$WIBER_DEV_DIR/cluster.sh" start
start_messaging_servers
KUBECONFIG=$("$WIBER_DEV_DIR/cluster.sh" kubeconfig)
export KUBECONFIG
export_messaging_env
cargo build --workspace --bins --locked
log "drawing the dashboards after ${WIBER_DASHBOARD_PICTURES:=240} s of load"
export WIBER_DASHBOARD_PICTURES
cargo test --locked -p wiber-e2e --test kubernetes -- --exact \
  observability::exported::every_metric_in_dashboards_and_alerts_is_exported
log "wrote $(ls docs/images/dashboards/*.svg | tr '\n' ' ')"
