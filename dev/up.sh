#!/usr/bin/env bash
# make up: runs Wiber locally on real servers and returns once everything is ready:
# Kafka on 127.0.0.1:9092, the MongoDB-protocol server on 127.0.0.1:27017 (FerretDB on PostgreSQL,
# 127.0.0.1:15432), the API on
# http://127.0.0.1:8000 and the consumer (health and metrics on 127.0.0.1:8001).
# It stays running until `make down`. Every port is a variable: docs/development/servers.md.
#
#   dev/up.sh            all of it (make up)
#   dev/up.sh servers    Kafka, the store and the topics only (make servers-up), for a WiberCluster
#                        on the local cluster's node to use
#
# When the real node of `make cluster-up` runs, Kafka and the store also listen where its pods reach
# this machine (dev/cluster.sh host-ip): `dev/kafka.sh pod-bootstrap` and `dev/ferretdb.sh pod-uri`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

servers_only=0
case "${1:-}" in
  "") ;;
  servers) servers_only=1 ;;
  *) die "usage: $0 [servers]" ;;
esac

# The first run on a fresh machine fetches and builds for several minutes: each step says what it
# costs before it starts (figures from this project's 2-core machine; docs/development/servers.md).
STEPS=$((servers_only ? 3 : 4))
started=$SECONDS
step_no=0
step_at=$SECONDS
step() {
  if ((step_no > 0)); then log "step $step_no/$STEPS done in $((SECONDS - step_at)) s"; fi
  step_no=$((step_no + 1))
  step_at=$SECONDS
  log "step $step_no/$STEPS: $1 (first run ~$2; later ~$3)"
}

if pod_host=$("$WIBER_DEV_DIR/cluster.sh" host-ip 2>/dev/null); then
  log "the local cluster's node runs: Kafka and the store also listen on $pod_host for its pods"
  export KAFKA_POD_HOST=$pod_host FERRETDB_POD_HOST=$pod_host
fi

step "Kafka (KRaft, one node): jars from Maven Central, then start" "1 min" "15 s"
"$WIBER_DEV_DIR/kafka.sh" start
step "MongoDB protocol: FerretDB on PostgreSQL (PostgreSQL from Debian, FerretDB built from the Go module proxy)" "3 min" "3 s"
"$WIBER_DEV_DIR/ferretdb.sh" start
step "the topics wiber.messages, its dead-letter and stored-offsets topics" "15 s" "15 s"
"$WIBER_DEV_DIR/topics.sh"
if ((servers_only)); then
  log "step $step_no/$STEPS done in $((SECONDS - step_at)) s; servers up in $((SECONDS - started)) s"
  if [[ -n ${pod_host:-} ]]; then
    echo "For pods: Kafka $("$WIBER_DEV_DIR/kafka.sh" pod-bootstrap), store $("$WIBER_DEV_DIR/ferretdb.sh" pod-uri)"
  fi
  exit 0
fi
KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
export KAFKA_BOOTSTRAP_SERVERS MONGO_URI
step "build (release) and start the API and the consumer" "6 min" "10 s"
"$WIBER_DEV_DIR/wiber.sh" start
log "step $step_no/$STEPS done in $((SECONDS - step_at)) s; all up in $((SECONDS - started)) s"

cat <<MSG

Wiber is up.
  TOKEN=\$(dev/auth.sh token alice)
  curl -s localhost:${API_PORT:-8000}/messages -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"toUser":"bob","content":"hello"}'
  curl -s localhost:${API_PORT:-8000}/messages/alice/bob -H "authorization: Bearer \$TOKEN"
Logs: $WIBER_CACHE/run/. Stop everything with: make down
MSG
