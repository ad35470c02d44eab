#!/usr/bin/env bash
# make bench: Wiber under load, on a stack of its own. Builds the API, the consumer and
# wiber-loadgen in release, starts Kafka, FerretDB, the API and the consumer on bench ports (so
# stacks from `make up` and `make test` keep running undisturbed), runs wiber-loadgen against them,
# and stops everything it started whatever the outcome.
#
#   dev/bench.sh [wiber-loadgen options]    e.g. dev/bench.sh --messages 10000 (see its --help)
#
# First, the limits on this machine: the broker's, Kafka's ProducerPerformance (BENCH_LIMIT_RECORDS,
# 500000, acks=all, idempotent, 200-byte records), and the store's raw insert rate
# (BENCH_RAW_DOCUMENTS, 30000, wiber-readbench raw-insert in the consumer's batches); the report
# gives Wiber's throughput, the broker's CPU per message and the consumer's store rate as ratios.
#
# After the standard load, the consumer's capacity: a second consumer (group and database of its
# own) stores everything the topic holds from a standing start, as a share of the raw insert rate.
#
# Bench ports: Kafka 31092 (controller 32092), MongoDB protocol 31017 (on PostgreSQL 31432), API
# 31000 (admin 31002), consumer 31001; the capacity phase's API 31010, consumer 31011, admin 31012. Every run starts from empty Kafka and store data, so figures do not drift as earlier runs'
# messages pile up. The binaries' own variables pass through, e.g. CONSUMER_BATCH_SIZE=2000.
# Reports are kept in $WIBER_CACHE/run/bench-31000/.
#
# AUTH_MODE (jwt): the API verifies bearer tokens from the local issuer (dev/auth.sh), which
# wiber-loadgen signs, one per user; AUTH_MODE=none measures the open API. AUTH_MODE=compare (make
# bench-auth) measures what authentication costs: on one stack, BENCH_ROUNDS (2) rounds of each,
# ordered none, jwt, jwt, none, ... so drift over the run falls on both alike, each round's API
# restarted in its mode; it defaults to --messages 20000 --e2e-messages 0 and ends with a summary.
#
# BENCH_PUSH=1 (make bench-push): push delivery, four rounds on one stack, each with its API
# restarted: (1) the standard POST load while a probe message goes every 20 ms to one of 10
# recipients holding a stream, then 200 probes one at a time on the idle system; (2) the same with
# 10,000 idle streams held through it (RSS per connection, and the POST figures beside round 1's);
# (3) the load paced at BENCH_PUSH_RATE (3000) msg/s, about half the standard load's rate, so the
# latency is the push path's own rather than a saturated machine's; (4) the standard load while
# the probes go to a group of 100 members, each holding a stream (every event, and each probe's
# last member). Ends with a summary.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# KAFKA_PORT, POSTGRES_PORT, WIBER_PROFILE=release, KAFKA_RUN, RELEASE_DIR and the bench_* steps.
source "$WIBER_DEV_DIR/bench-lib.sh"
cd "$WIBER_ROOT"

export FERRETDB_PORT="${WIBER_BENCH_FERRETDB_PORT:-31017}"
export API_PORT="${WIBER_BENCH_API_PORT:-31000}"
export CONSUMER_PORT="${WIBER_BENCH_CONSUMER_PORT:-31001}"
export API_ADMIN_PORT="${WIBER_BENCH_API_ADMIN_PORT:-31002}"
# The capacity phase's stack: its API, API + 1 (consumer), API + 2 (admin).
CAPACITY_API_PORT="${WIBER_BENCH_CAPACITY_PORT:-31010}"
export KAFKA_NODES="${KAFKA_NODES:-1}"
BENCH_AUTH="${AUTH_MODE:-jwt}"
[[ $BENCH_AUTH =~ ^(jwt|none|compare)$ ]] || die "AUTH_MODE must be jwt, none or compare, not '$BENCH_AUTH'"
# Each user's rate limit stays on, so its bookkeeping is measured, but high enough that the load
# generator's 200 users at thousands of messages a second are never refused (the default is 20/s).
export API_RATE_LIMIT_PER_SECOND="${API_RATE_LIMIT_PER_SECOND:-100000}"
export API_RATE_LIMIT_BURST="${API_RATE_LIMIT_BURST:-100000}"
ROUNDS="${BENCH_ROUNDS:-2}"
PUSH="${BENCH_PUSH:-0}"
[[ $PUSH =~ ^[01]$ ]] || die "BENCH_PUSH must be 0 or 1, not '$PUSH'"
PUSH_RATE="${BENCH_PUSH_RATE:-3000}"
[[ $PUSH_RATE =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_PUSH_RATE must be 1-999999 msg/s, not '$PUSH_RATE'"
if ((PUSH)); then
  [[ $BENCH_AUTH != compare ]] || die "BENCH_PUSH=1 runs with AUTH_MODE jwt or none, not compare"
  # 10,000 idle streams and the recipients', past the API's default limit of 10,000 per replica.
  export API_PUSH_MAX_STREAMS="${API_PUSH_MAX_STREAMS:-20000}"
  # Every stream is a socket in the API and in wiber-loadgen, both started from this shell.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (($(ulimit -n) >= 10500)) || die "BENCH_PUSH=1 needs 10500 open files per process; ulimit -n is $(ulimit -n)"
fi
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "BENCH_ROUNDS must be 1-99, not '$ROUNDS'"

# Where dev/ferretdb.sh and dev/wiber.sh keep the state of a stack on these ports (Kafka's: KAFKA_RUN).
FERRETDB_RUN="$WIBER_CACHE/run/ferretdb-$FERRETDB_PORT"
WIBER_RUN="$WIBER_CACHE/run/wiber-$API_PORT"
REPORTS="$WIBER_CACHE/run/bench-$API_PORT"
BIN="$RELEASE_DIR/wiber-loadgen"
READBENCH="$RELEASE_DIR/wiber-readbench"
RAW_DOCUMENTS="${BENCH_RAW_DOCUMENTS:-30000}"
[[ $RAW_DOCUMENTS =~ ^[1-9][0-9]{2,7}$ ]] || die "BENCH_RAW_DOCUMENTS must be 100-99999999, not '$RAW_DOCUMENTS'"

ports=()
for ((i = 0; i < KAFKA_NODES; i++)); do ports+=($((KAFKA_PORT + i)) $((KAFKA_PORT + 1000 + i))); done
bench_ports_free " (stop it, or set WIBER_BENCH_*_PORT)" \
  "${ports[@]}" "$FERRETDB_PORT" "$POSTGRES_PORT" "$API_PORT" "$CONSUMER_PORT" "$API_ADMIN_PORT" \
  "$CAPACITY_API_PORT" $((CAPACITY_API_PORT + 1)) $((CAPACITY_API_PORT + 2))

bench_build wiber-loadgen wiber-loadgen wiber-readbench

# The consumer's capacity: during the load it keeps pace with the POSTs, so its rate there is
# theirs. A second consumer, in a group of its own and into a database of its own, then stores
# everything the topic holds from a standing start, alone on the machine (the first stack stopped).
stored_total() {
  curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^wiber_consumer_messages_stored_total / {printf "%d\n", $2}'
}
capacity_stack() {
  API_PORT=$CAPACITY_API_PORT API_ADMIN_PORT=$((CAPACITY_API_PORT + 2)) CONSUMER_PORT=$((CAPACITY_API_PORT + 1)) \
    KAFKA_CONSUMER_GROUP=bench-capacity MONGO_DB=wiber_capacity "$WIBER_DEV_DIR/wiber.sh" "$1"
}
consumer_capacity() {
  local total
  total=$(stored_total "$CONSUMER_PORT")
  [[ $total =~ ^[1-9][0-9]*$ ]] || die "the consumer's stored counter could not be read"
  "$WIBER_DEV_DIR/wiber.sh" stop
  echo
  echo "== the consumer's capacity: $total stored messages again, from a standing start (CONSUMER_BATCH_SIZE=${CONSUMER_BATCH_SIZE:-default})"
  capacity_stack start >/dev/null
  local line
  line=$("$READBENCH" wait-stored --metrics "http://127.0.0.1:$((CAPACITY_API_PORT + 1))/metrics" --count "$total")
  capacity_stack stop >/dev/null
  echo "$line"
  [[ $line =~ :\ ([0-9]+)\ messages/s ]] || die "wiber-readbench wait-stored printed no rate"
  awk -v r="${BASH_REMATCH[1]}" -v l="$STORE_LIMIT" \
    'BEGIN {printf "capacity with the read model: %.0f msg/s, %.1f %% of the raw insert rate (%.0f documents/s)\n", r, 100 * r / l, l}'
}

# Stopped on exit, after the API and consumer and before Kafka (bench_stop_on_exit).
bench_stop_servers() {
  "$WIBER_DEV_DIR/wiber.sh" stop || true
  capacity_stack stop || true
  "$WIBER_DEV_DIR/ferretdb.sh" stop || true
}
bench_stop_on_exit

bench_fresh_kafka "$FERRETDB_RUN" "$WIBER_RUN"
"$WIBER_DEV_DIR/ferretdb.sh" start
MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
export MONGO_URI

# The broker's own limit, on the same broker in the same run (so the machine's drift falls on both):
# Kafka's ProducerPerformance with the API producer's guarantees (acks=all, idempotence) and records
# the size of a Wiber message, on a topic of its own shaped like the messages topic. Prints
# RATE:CPU_MS (records per second, the brokers' CPU milliseconds per record) for wiber-loadgen
# --limit; its own report line goes to stderr.
LIMIT_RECORDS="${BENCH_LIMIT_RECORDS:-500000}"
[[ $LIMIT_RECORDS =~ ^[1-9][0-9]{3,8}$ ]] || die "BENCH_LIMIT_RECORDS must be 1000-999999999, not '$LIMIT_RECORDS'"
brokers_cpu_seconds() {
  local i stats=()
  for ((i = 1; i <= KAFKA_NODES; i++)); do stats+=("/proc/$(cat "$KAFKA_RUN/node-$i/pid")/stat"); done
  # utime + stime (fields 14 and 15; a JVM's command name has no spaces), in clock ticks.
  awk -v hz="$(getconf CLK_TCK)" '{ticks += $14 + $15} END {printf "%.3f\n", ticks / hz}' "${stats[@]}"
}
measure_limit() {
  "$WIBER_DEV_DIR/kafka.sh" topics --create --if-not-exists --topic bench.limit \
    --partitions "${KAFKA_PARTITIONS:-3}" --config message.timestamp.type=LogAppendTime >/dev/null 2>&1
  local before after line
  before=$(brokers_cpu_seconds)
  line=$("$WIBER_DEV_DIR/kafka.sh" producer-perf --topic bench.limit --num-records "$LIMIT_RECORDS" \
    --record-size 200 --throughput -1 --producer-props bootstrap.servers="$KAFKA_BOOTSTRAP_SERVERS" \
    acks=all enable.idempotence=true 2>&1 | grep 'records sent' | tail -n 1)
  after=$(brokers_cpu_seconds)
  [[ $line =~ records\ sent,\ ([0-9.]+)\ records/sec ]] || die "ProducerPerformance printed no result"
  echo "ProducerPerformance: $line" >&2
  awk -v rate="${BASH_REMATCH[1]}" -v cpu="$(awk -v a="$after" -v b="$before" 'BEGIN {print a - b}')" \
    -v n="$LIMIT_RECORDS" 'BEGIN {printf "%s:%.5f\n", rate, cpu * 1000 / n}'
}

# CPU time (all four) and the memory of Kafka and FerretDB, which have no /metrics, come from /proc.
# PostgreSQL works in one process per connection, which a pid cannot follow: its CPU is not shown.
watched() {
  local i
  echo --pid "wiber-api=$(cat "$WIBER_RUN/api.pid")" --pid "wiber-consumer=$(cat "$WIBER_RUN/consumer.pid")"
  for ((i = 1; i <= KAFKA_NODES; i++)); do echo --pid "kafka-$i=$(cat "$KAFKA_RUN/node-$i/pid")"; done
  echo --pid "ferretdb=$(cat "$FERRETDB_RUN/pid")"
}

consumer_assigned() {
  curl -fsS "http://127.0.0.1:$CONSUMER_PORT/metrics" | grep -qE '^wiber_consumer_assigned_partitions [1-9]'
}

# Starts the API and consumer with AUTH_MODE=$1 and runs wiber-loadgen against them with tokens
# when the API verifies them; the rest of the arguments go to wiber-loadgen (e.g. --summary FILE,
# its headline figures as JSON, which the summaries below read).
measure() {
  local mode=$1 signing=()
  shift
  AUTH_MODE=$mode "$WIBER_DEV_DIR/wiber.sh" start
  # The load measures a running pipeline, not the consumer's first join of its group: on a fresh
  # Kafka that takes seconds (the group's offsets topic is created first), and the consumer is
  # ready before it, so the first seconds of load would pile up behind it.
  wait_until 60 "the consumer's partitions" consumer_assigned || die "the consumer got no partitions"
  [[ $mode == none ]] || read -ra signing <<<"$("$WIBER_DEV_DIR/auth.sh" loadgen-args)"
  local watch
  read -ra watch <<<"$(watched | tr '\n' ' ')"
  "$BIN" --api "http://127.0.0.1:$API_PORT" --api-metrics "http://127.0.0.1:$API_ADMIN_PORT/metrics" \
    --consumer-metrics "http://127.0.0.1:$CONSUMER_PORT/metrics" --limit "$LIMIT" \
    --store-limit "$STORE_LIMIT" "${signing[@]}" \
    "${watch[@]}" "$@"
}

report=$(bench_report "$REPORTS")
{
  bench_header
  echo "stack: Kafka $KAFKA_BOOTSTRAP_SERVERS ($KAFKA_NODES node), FerretDB $MONGO_URI (on PostgreSQL :$POSTGRES_PORT), API :$API_PORT, consumer :$CONSUMER_PORT"
  echo "command: AUTH_MODE=$BENCH_AUTH dev/bench.sh $*"
  # Settings from the environment change the figures, so the report names them.
  echo "settings: $(env | grep -E '^(API|AUTH|CONSUMER|KAFKA|MONGO|RUST_LOG)[A-Z_]*=' | grep -vE '^(KAFKA_BOOTSTRAP_SERVERS|MONGO_URI|API_(HOST|PORT|ADMIN_PORT)|AUTH_MODE)=' | sort | tr '\n' ' ')"
  echo
} | tee "$report"
log "measuring the broker's limit (ProducerPerformance, $LIMIT_RECORDS records)"
LIMIT=$(measure_limit 2>"$report.limit")
{
  cat "$report.limit"
  echo "limit for wiber-loadgen: $LIMIT (records/s : broker CPU ms per record)"
  # The store's own limit: the consumer's batches, written one at a time as it writes them, into a
  # scratch collection with the same indexes, in the same store.
  "$READBENCH" raw-insert --mongo-uri "$MONGO_URI" --documents "$RAW_DOCUMENTS" \
    --batch "${CONSUMER_BATCH_SIZE:-5000}" | tee "$report.raw"
} | tee -a "$report"
STORE_LIMIT=$(sed -nE 's/.*: ([0-9.]+) documents\/s$/\1/p' "$report.raw")
[[ -n $STORE_LIMIT ]] || die "wiber-readbench raw-insert printed no rate"
rm -f "$report.limit" "$report.raw"
log "running wiber-loadgen; the report is also saved to $report"

# The summaries' lines, from the rounds' --summary files (wiber-loadgen's JSON; a round that
# stopped on an error has none):
#   push FILE        POST throughput and p99, push latency (answered to received) under load and
#                    idle, and the idle streams' cost
#   post FILE        throughput and POST latency
#   mean ROUNDS DIR  mean throughput of DIR/<round>-none.json and DIR/<round>-jwt.json, and the ratio
summary() {
  python3 - "$@" <<'PY'
import json, sys

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def ms(latency, key):
    return "?" if latency is None else "%.1f" % latency[key]

def p50_p99(latency):
    return "%s / %s" % (ms(latency, "p50"), ms(latency, "p99"))

def pushed(s, when):
    p = s["push"][when]
    if p is None:
        return "not measured"
    out = p50_p99(p["answered_to_received_ms"]) + " ms"
    if p.get("answered_to_last_member_ms"):
        out += " (to the last member: %s ms)" % p50_p99(p["answered_to_last_member_ms"])
    return out

def line(kind, path):
    s = load(path)
    if s is None:
        return "no figures (wiber-loadgen stopped on an error)"
    post = s["post"]
    t = "%.0f" % post["throughput_msg_per_s"]
    if kind == "push":
        out = "POST %s msg/s, p99 %s ms; pushed p50 / p99: under load %s, idle %s" % (
            t, ms(post["latency_ms"], "p99"), pushed(s, "under_load"), pushed(s, "idle"))
        idle = s["idle_streams"]
        if idle is not None:
            rss, per = idle["api_rss_after_bytes"], idle["api_bytes_per_stream"]
            out += "; API RSS %s MiB, %s bytes per idle stream" % (
                "?" if rss is None else "%.1f" % (rss / 1048576), "?" if per is None else "%.0f" % per)
    else:
        out = "%s msg/s, p50 / p99 %s ms" % (t, p50_p99(post["latency_ms"]))
    if not s["ok"]:
        out += " (FAILED: %s)" % "; ".join(s["problems"])
    return out

kind = sys.argv[1]
if kind in ("push", "post"):
    print(line(kind, sys.argv[2]))
else:
    rounds, folder = int(sys.argv[2]), sys.argv[3]
    mean = {}
    for mode in ("none", "jwt"):
        rates = [s["post"]["throughput_msg_per_s"] for r in range(1, rounds + 1)
                 for s in [load("%s/%d-%s.json" % (folder, r, mode))] if s is not None]
        mean[mode] = sum(rates) / len(rates) if rates else 0
    if mean["none"] > 0:
        print("  mean throughput: none %.0f msg/s, jwt %.0f msg/s; jwt / none = %.3f"
              % (mean["none"], mean["jwt"], mean["jwt"] / mean["none"]))
PY
}

if ((PUSH)); then
  rounds_dir=$(mktemp -d)
  failed=0
  names=("standard load" "standard load, 10,000 idle streams" "paced at $PUSH_RATE msg/s"
    "standard load, probes to a group of 100, each member listening")
  extra=("" "--idle-streams 10000" "--rate $PUSH_RATE --messages 30000" "--push-group 100")
  for r in 0 1 2 3; do
    "$WIBER_DEV_DIR/wiber.sh" stop
    echo "== round $((r + 1)): ${names[r]}" | tee -a "$report"
    read -ra round_args <<<"${extra[r]}"
    measure "$BENCH_AUTH" --push-receivers 10 --e2e-messages 0 "${round_args[@]}" "$@" \
      --summary "$rounds_dir/$r.json" | tee -a "$report" || failed=1
  done
  {
    echo
    echo "== push delivery, AUTH_MODE=$BENCH_AUTH"
    for r in 0 1 2 3; do echo "  ${names[r]}: $(summary push "$rounds_dir/$r.json")"; done
  } | tee -a "$report"
  rm -rf "$rounds_dir"
  exit "$failed"
fi

if [[ $BENCH_AUTH != compare ]]; then
  measure "$BENCH_AUTH" "$@" | tee -a "$report"
  consumer_capacity | tee -a "$report"
  exit 0
fi

rounds_dir=$(mktemp -d)
failed=0
for ((r = 1; r <= ROUNDS; r++)); do
  order=(none jwt)
  ((r % 2)) || order=(jwt none)
  for mode in "${order[@]}"; do
    "$WIBER_DEV_DIR/wiber.sh" stop
    echo "== round $r, AUTH_MODE=$mode" | tee -a "$report"
    measure "$mode" --messages 20000 --e2e-messages 0 "$@" --summary "$rounds_dir/$r-$mode.json" |
      tee -a "$report" || failed=1
  done
done
{
  echo
  echo "== authentication on (jwt) and off (none), $ROUNDS rounds each"
  for mode in none jwt; do
    for ((r = 1; r <= ROUNDS; r++)); do echo "  $mode, round $r: $(summary post "$rounds_dir/$r-$mode.json")"; done
  done
  summary mean "$ROUNDS" "$rounds_dir"
} | tee -a "$report"
rm -rf "$rounds_dir"
exit "$failed"
