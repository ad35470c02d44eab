# shellcheck shell=bash
# What dev/bench.sh (make bench, bench-push, bench-auth) and dev/readbench.sh (make bench-reads)
# share: the bench ports' Kafka and PostgreSQL, the release builds, a fresh Kafka with the topics,
# stopping it on exit, and the report's header. Source it after dev/lib.sh; do not run it.

export KAFKA_PORT="${WIBER_BENCH_KAFKA_PORT:-31092}"
export POSTGRES_PORT="${WIBER_BENCH_POSTGRES_PORT:-31432}"
export WIBER_PROFILE=release
# Derived from KAFKA_PORT by dev/kafka.sh; one inherited from a `make up` shell would collide.
unset KAFKA_CONTROLLER_PORT
# Where dev/kafka.sh keeps the state of the Kafka on these ports, and where cargo puts the binaries.
KAFKA_RUN="$WIBER_CACHE/run/kafka-$KAFKA_PORT"
# shellcheck disable=SC2034 # used by the scripts that source this file
RELEASE_DIR="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}/release"

# bench_ports_free HINT PORT...: dies naming the first port something listens on (HINT, e.g.
# " (stop it, ...)", ends the message). The data is wiped, so nothing may run there, ours or anyone's.
bench_ports_free() {
  local hint=$1 port
  shift
  for port in "$@"; do
    port_open 127.0.0.1 "$port" && die "port $port is in use; a bench stack may still run$hint"
  done
  return 0
}

# bench_build NAMED PACKAGE...: the API and consumer, then the bench tools PACKAGE... (the log names
# NAMED beside the servers), all in release.
bench_build() {
  local named=$1 tool tools=()
  shift
  for tool in "$@"; do tools+=(-p "$tool"); done
  # Built before any server starts, so the servers do not idle through a long compile. Two builds:
  # cargo unifies features over the packages of one build, so building the bench tools with the
  # servers would give them other dependency features, and dev/wiber.sh would then build them again.
  log "building wiber-api, wiber-consumer and $named (release)"
  ensure_build_deps
  cargo build --locked --release -p wiber-api -p wiber-consumer
  cargo build --locked --release "${tools[@]}"
}

# bench_stop_on_exit: from here on, leaving the script, whatever the outcome (INT and TERM too),
# runs the caller's bench_stop_servers, then stops Kafka, and keeps the exit code.
bench_stop_on_exit() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
bench_cleanup() {
  local rc=$?
  bench_stop_servers || true
  "$WIBER_DEV_DIR/kafka.sh" stop || true
  exit "$rc"
}

# bench_fresh_kafka DIR...: deletes the bench Kafka's data, the run directories DIR... (the other
# servers' state) and the bench PostgreSQL's data, then starts Kafka, creates Wiber's topics and
# exports KAFKA_BOOTSTRAP_SERVERS. Every run starts from empty data.
bench_fresh_kafka() {
  rm -rf "$KAFKA_RUN" "$@"
  "$WIBER_DEV_DIR/postgres.sh" wipe
  "$WIBER_DEV_DIR/kafka.sh" start
  "$WIBER_DEV_DIR/topics.sh"
  KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
  export KAFKA_BOOTSTRAP_SERVERS
}

# bench_report DIR: creates DIR and prints the path of a new report in it, named by the time.
bench_report() {
  mkdir -p "$1"
  echo "$1/$(date +%Y%m%d-%H%M%S).txt"
}

# bench_header: a report's first lines: when, which commit, on what machine.
bench_header() {
  echo "date: $(date -Iseconds)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
}
