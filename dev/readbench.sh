#!/usr/bin/env bash
# make bench-reads: reads as the store grows. On a stack of its own (bench ports, so `make up` and
# `make test` stacks keep running; not beside `make bench`, which uses the same Kafka port), loads
# the store through Kafka and the consumer to each size and times the API's reads there:
#   1. with READBENCH_SQLITE=N, the old store, FerretDB on SQLite, at N messages (it stores about
#      44 msg/s with the read model: docs/concepts/store.md);
#   2. the store, FerretDB on PostgreSQL: every size, plus PostgreSQL's own time for the queries
#      FerretDB pushes down (EXPLAIN ANALYZE), to show what FerretDB adds.
# The dataset (readbench/src/dataset.rs) is #30's: at 1M, 100,000 conversations, three users in
# 20,000 each, two conversations of 50,000 messages, groups of 2 to 256.
# Each store's raw insert rate (wiber-readbench raw-insert) is measured beside its consumer's.
#
#   dev/readbench.sh [SIZE...]       default: 100000 1000000 (ascending)
#
# Bench ports: Kafka 31092 (controller 32092), PostgreSQL 31432, FerretDB 31017 (PostgreSQL) and
# 31018 (SQLite), API 31000 and 31010 (admin ports 31002, 31012), consumers 31001 and 31011. Every run starts from empty data.
# Reports are kept in $WIBER_CACHE/run/readbench/. READBENCH_SAMPLES (40) requests per operation.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# KAFKA_PORT, POSTGRES_PORT, WIBER_PROFILE=release, KAFKA_RUN, RELEASE_DIR and the bench_* steps.
source "$WIBER_DEV_DIR/bench-lib.sh"
cd "$WIBER_ROOT"

sizes=("$@")
((${#sizes[@]})) || sizes=(100000 1000000)
SQLITE="${READBENCH_SQLITE:-0}"
[[ $SQLITE =~ ^[0-9]{1,7}$ ]] || die "READBENCH_SQLITE must be a number of messages, not '$SQLITE'"
export KAFKA_NODES=1
PG_FERRETDB_PORT=31017 SQLITE_FERRETDB_PORT=31018
# wiber-readbench sends no tokens: reads of the open API (AUTH_MODE=none), as the store sees them.
export AUTH_MODE=none
SAMPLES="${READBENCH_SAMPLES:-40}"
BIN="$RELEASE_DIR/wiber-readbench"
REPORTS="$WIBER_CACHE/run/readbench"

bench_ports_free "" "$KAFKA_PORT" $((KAFKA_PORT + 1000)) "$POSTGRES_PORT" $PG_FERRETDB_PORT \
  $SQLITE_FERRETDB_PORT 31000 31001 31002 31010 31011 31012

bench_build wiber-readbench wiber-readbench

# A store (FerretDB on HANDLER at PORT) and its API and consumer (API_PORT, API_PORT+1).
store() { FERRETDB_HANDLER=$1 FERRETDB_PORT=$2 "$WIBER_DEV_DIR/ferretdb.sh" "$3"; }
stack() {
  local handler=$1 port=$2 api=$3 action=$4
  # A read may take as long as it takes (30 s), so slow ones are measured, not answered 503 at the
  # store's 3 s or the API's 5 s deadline for a whole read.
  API_PORT=$api CONSUMER_PORT=$((api + 1)) KAFKA_CONSUMER_GROUP="readbench-$handler" MONGO_TIMEOUT_MS=30000 \
    API_REQUEST_TIMEOUT_MS=31000 \
    MONGO_URI="mongodb://127.0.0.1:$port/" "$WIBER_DEV_DIR/wiber.sh" "$action"
}
# Stopped on exit, before Kafka (bench_stop_on_exit).
bench_stop_servers() {
  stack sqlite $SQLITE_FERRETDB_PORT 31010 stop || true
  stack postgresql $PG_FERRETDB_PORT 31000 stop || true
  store sqlite $SQLITE_FERRETDB_PORT stop || true
  store postgresql $PG_FERRETDB_PORT stop || true
}
bench_stop_on_exit

bench_fresh_kafka "$WIBER_CACHE/run/ferretdb-$SQLITE_FERRETDB_PORT" \
  "$WIBER_CACHE/run/ferretdb-$PG_FERRETDB_PORT" "$WIBER_CACHE/run/wiber-31000" "$WIBER_CACHE/run/wiber-31010"
BOOTSTRAP=$KAFKA_BOOTSTRAP_SERVERS

report=$(bench_report "$REPORTS")
exec > >(tee "$report") 2>&1
bench_header
echo "command: dev/readbench.sh ${sizes[*]}; $SAMPLES requests per operation, one at a time"
echo

rb() { "$BIN" "$@"; }
load_to() { rb load --bootstrap "$BOOTSTRAP" --from "$1" --to "$2" ${3:+--reference}; }
# The reference conversation, stored beside the dataset's messages.
EXTRA=$(rb extra)

if ((SQLITE)); then
  log "the old store: FerretDB on SQLite, $SQLITE messages"
  store sqlite $SQLITE_FERRETDB_PORT start
  echo "== FerretDB on SQLite"
  # The store's limit first, while nothing else runs.
  rb raw-insert --mongo-uri "mongodb://127.0.0.1:$SQLITE_FERRETDB_PORT/" --documents 20000
  stack sqlite $SQLITE_FERRETDB_PORT 31010 start
  load_to 0 "$SQLITE" reference
  rb wait-stored --metrics http://127.0.0.1:31011/metrics --count $((SQLITE + EXTRA))
  # Its reads take seconds each: fewer samples, so the comparison does not take most of the run.
  rb measure --api http://127.0.0.1:31010 --label "sqlite-$((SQLITE / 1000))k" --samples 10 --budget 30
  stack sqlite $SQLITE_FERRETDB_PORT 31010 stop
  store sqlite $SQLITE_FERRETDB_PORT stop
fi

# PostgreSQL's own time for what FerretDB sends it: the pushed-down equality, every matching row.
pg_time() {
  local field=$1 value=$2 collection=${3:-messages} table
  table=$("$WIBER_DEV_DIR/postgres.sh" psql -tAc \
    "SELECT _jsonb->>'table' FROM wiber._ferretdb_database_metadata WHERE _jsonb->>'_id' = '$collection'")
  "$WIBER_DEV_DIR/postgres.sh" psql -tAc "EXPLAIN (ANALYZE, FORMAT JSON) SELECT _jsonb FROM wiber.\"$table\" WHERE _jsonb->'$field' @> '\"$value\"'" |
    python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; print("%.1f ms, %d rows, %s" % (p["Execution Time"], p["Plan"]["Actual Rows"], p["Plan"]["Node Type"] + " on " + ", ".join(c.get("Index Name", c["Node Type"]) for c in p["Plan"].get("Plans", []))))'
}

log "the store: FerretDB on PostgreSQL"
store postgresql $PG_FERRETDB_PORT start
echo
echo "== FerretDB on PostgreSQL"
rb raw-insert --mongo-uri "mongodb://127.0.0.1:$PG_FERRETDB_PORT/" --documents 50000
stack postgresql $PG_FERRETDB_PORT 31000 start
# The topic holds the first size already when the SQLite comparison loaded it.
loaded=0
((SQLITE)) && loaded=$SQLITE
for size in "${sizes[@]}"; do
  echo
  echo "-- $size messages"
  # The consumer's group is new: it stores what the topic holds already, then what is loaded now.
  if ((size > loaded)); then
    if ((loaded)); then load_to "$loaded" "$size"; else load_to 0 "$size" reference; fi
  fi
  loaded=$size
  # At least: the keyed POSTs of earlier measurements are stored too (and counted).
  rb wait-stored --metrics http://127.0.0.1:31001/metrics --count $((size + EXTRA))
  rb measure --api http://127.0.0.1:31000 --label "pg-$((size / 1000))k" --samples "$SAMPLES"
  echo "PostgreSQL alone (EXPLAIN ANALYZE of the pushed-down filter):"
  echo "  conversation long-ann:long-bob: $(pg_time conversationId long-ann:long-bob)"
  echo "  busy user busy0:                $(pg_time participants busy0)"
  echo "  busy user busy0's inbox:        $(pg_time user busy0 messages_inbox)"
  echo "  reference user ref-ann:         $(pg_time participants ref-ann)"
done
log "report saved to $report"
