#!/usr/bin/env bash
# A MongoDB wire-protocol server as a plain local process: FerretDB v1 on PostgreSQL (started here
# through dev/postgres.sh), built from the Go module proxy through the small wrapper in dev/ferretdb.
#
#   dev/ferretdb.sh install              build the binary into $WIBER_CACHE/bin (once per wrapper change)
#   dev/ferretdb.sh start|stop|status    serve on 127.0.0.1:$FERRETDB_PORT (start and stop PostgreSQL too)
#   dev/ferretdb.sh uri                  print the MongoDB connection string
#   dev/ferretdb.sh pod-uri              the connection string for the local cluster's pods (below)
#   dev/ferretdb.sh bin                  print the binary's path (tests start their own instances)
#
# Variables (defaults): FERRETDB_PORT (27017), POSTGRES_PORT (15432), FERRETDB_HANDLER (postgresql;
# sqlite keeps the data in SQLite files instead, for comparisons), WIBER_CACHE (~/.cache/wiber),
# FERRETDB_POD_HOST (none): an address of this machine where the local cluster's pods reach it
# (`dev/cluster.sh host-ip`), served on the same port beside 127.0.0.1.
# FerretDB's log (and SQLite data) live in $WIBER_CACHE/run/ferretdb-$FERRETDB_PORT.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FERRETDB_PORT="${FERRETDB_PORT:-27017}"
FERRETDB_HANDLER="${FERRETDB_HANDLER:-postgresql}"
FERRETDB_RUN="$WIBER_CACHE/run/ferretdb-$FERRETDB_PORT"
SRC="$WIBER_DEV_DIR/ferretdb"
# The binary's name carries a hash of the wrapper's sources, so editing them rebuilds it.
STAMP=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-12)
BIN="$WIBER_CACHE/bin/ferretdb-$STAMP"

install() {
  [[ -x $BIN ]] && return 0
  command -v go >/dev/null || die "go is needed to build FerretDB"
  log "building FerretDB (wrapper in dev/ferretdb) into $BIN; a cold build takes a few minutes"
  mkdir -p "$(dirname "$BIN")"
  (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$BIN.tmp" .) ||
    die "building FerretDB failed"
  mv "$BIN.tmp" "$BIN"
}

uri() { echo "mongodb://127.0.0.1:$FERRETDB_PORT/"; }

pod_uri() {
  [[ -s $FERRETDB_RUN/pod-host ]] || die "ferretdb on port $FERRETDB_PORT serves no pods: start it with FERRETDB_POD_HOST set (make servers-up after make cluster-up)"
  echo "mongodb://$(cat "$FERRETDB_RUN/pod-host"):$FERRETDB_PORT/"
}

status() {
  if pid_alive "$FERRETDB_RUN/pid"; then
    echo "ferretdb: running (pid $(cat "$FERRETDB_RUN/pid"), port $FERRETDB_PORT)"
  else
    echo "ferretdb: stopped"
    return 1
  fi
}

start() {
  install
  local pod_host=${FERRETDB_POD_HOST:-}
  if pid_alive "$FERRETDB_RUN/pid"; then
    [[ $(cat "$FERRETDB_RUN/pod-host" 2>/dev/null) == "$pod_host" ]] ||
      die "ferretdb runs on port $FERRETDB_PORT for pods at '$(cat "$FERRETDB_RUN/pod-host" 2>/dev/null)', not '$pod_host': stop it first"
    log "ferretdb already running on port $FERRETDB_PORT"
    return 0
  fi
  local forward=()
  if [[ -n $pod_host ]]; then
    has_address "$pod_host" ||
      die "FERRETDB_POD_HOST=$pod_host is no address of this machine: start the cluster's node first (make cluster-up)"
    forward=(-also-listen "$pod_host:$FERRETDB_PORT")
  fi
  port_open 127.0.0.1 "$FERRETDB_PORT" &&
    die "port $FERRETDB_PORT is taken by another process; set FERRETDB_PORT to use another"
  local storage
  : "${FERRETDB_POOL:=150}"
  case $FERRETDB_HANDLER in
    postgresql)
      "$WIBER_DEV_DIR/postgres.sh" start
      # FerretDB v1.24 waits for good once its pool (50 by default) is held by operations that each
      # wait for one more connection (docs/concepts/store.md): room for every client of a test run.
      storage=(-postgresql-url "$("$WIBER_DEV_DIR/postgres.sh" url)" -pool-max-conns "$FERRETDB_POOL")
      ;;
    sqlite)
      mkdir -p "$FERRETDB_RUN/data"
      storage=(-data-dir "$FERRETDB_RUN/data")
      ;;
    *) die "FERRETDB_HANDLER must be postgresql or sqlite, not '$FERRETDB_HANDLER'" ;;
  esac
  mkdir -p "$FERRETDB_RUN"
  : >"$FERRETDB_RUN/ferretdb.log"
  echo "$pod_host" >"$FERRETDB_RUN/pod-host"
  start_daemon ferretdb "$FERRETDB_RUN/pid" "$FERRETDB_RUN/ferretdb.log" \
    "$BIN" -listen "127.0.0.1:$FERRETDB_PORT" "${forward[@]}" -handler "$FERRETDB_HANDLER" "${storage[@]}"
  ready() { pid_alive "$FERRETDB_RUN/pid" && port_open 127.0.0.1 "$FERRETDB_PORT"; }
  wait_until 60 ferretdb ready || fail_with_log ferretdb "$FERRETDB_RUN/ferretdb.log"
  log "ferretdb ready ($FERRETDB_HANDLER): $(uri)"
}

stop() {
  stop_daemon ferretdb "$FERRETDB_RUN/pid"
  rm -f "$FERRETDB_RUN/pod-host"
  [[ $FERRETDB_HANDLER != postgresql ]] || "$WIBER_DEV_DIR/postgres.sh" stop
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  uri) uri ;;
  pod-uri) pod_uri ;;
  bin) install && echo "$BIN" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; [[ -z ${1:-} ]] || exit 2 ;;
esac
