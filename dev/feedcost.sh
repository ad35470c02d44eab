#!/usr/bin/env bash
# make bench-feed: what the API's push feed costs per record, and in all as API replicas are added
# (the sizing chapter's inputs, docs/operations/sizing.md). Every replica reads every record of
# the topic, so the total grows with the replicas: this measures how much.
#
# On the bench ports, from empty data: one Kafka node; for K in FEED_REPLICAS (1 2 4), a topic of
# its own (three partitions) filled with the first FEED_RECORDS (300000) records of #30's dataset
# as the API produces them (wiber-readbench load), then K API processes started together, each a
# new feed reading the whole topic (no group has committed there). For each: its CPU (utime +
# stime, /proc) from its start until its feed has read every record
# (wiber_api_push_feed_lag_seconds_count), less an API's start-up CPU measured alone on an empty
# topic, per record; and the round's total. The limit beside it, in the same run: Kafka's
# ConsumerPerformance reading the first round's topic (its fetch rate), against each feed's rate.
#
#   dev/feedcost.sh
#
# Ports: Kafka 31092 (controller 32092), the APIs 31200-31207 (admin ports +1). The store is not
# needed (the feed never asks it): the APIs point at a closed port and report it down.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$WIBER_DEV_DIR/bench-lib.sh"
cd "$WIBER_ROOT"

export KAFKA_NODES=1
RECORDS="${FEED_RECORDS:-300000}"
[[ $RECORDS =~ ^[1-9][0-9]{3,7}$ ]] || die "FEED_RECORDS must be 1000-99999999, not '$RECORDS'"
read -r -a REPLICAS <<<"${FEED_REPLICAS:-1 2 4}"
for k in "${REPLICAS[@]}"; do [[ $k =~ ^[1-4]$ ]] || die "FEED_REPLICAS are 1 to 4 each, not '$k'"; done
FIRST_PORT=31200
REPORTS="$WIBER_CACHE/run/feedcost"
HZ=$(getconf CLK_TCK)

bench_ports_free "" "$KAFKA_PORT" $((KAFKA_PORT + 1000)) $(seq "$FIRST_PORT" $((FIRST_PORT + 7)))
bench_build wiber-readbench wiber-readbench

pids=()
stop_apis() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
bench_stop_servers() { stop_apis; }
bench_stop_on_exit
bench_fresh_kafka
BOOTSTRAP=$KAFKA_BOOTSTRAP_SERVERS
LOGS=$(mktemp -d)

report=$(bench_report "$REPORTS")
exec > >(tee "$report") 2>&1
bench_header
echo "command: dev/feedcost.sh; $RECORDS records per round, API replicas: ${REPLICAS[*]}"

# topic NAME: a messages topic as dev/topics.sh makes them, and its announcements topic.
topic() {
  "$WIBER_DEV_DIR/kafka.sh" topics --create --topic "$1" --partitions 3 --replication-factor 1 \
    --config message.timestamp.type=LogAppendTime >/dev/null
  "$WIBER_DEV_DIR/kafka.sh" topics --create --topic "$1.stored" --partitions 1 --replication-factor 1 >/dev/null
}
# start_api I TOPIC: the I-th API process on TOPIC, reading it as a new feed.
start_api() {
  local port=$((FIRST_PORT + 2 * $1))
  KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP KAFKA_TOPIC=$2 KAFKA_CONSUMER_GROUP="$2-feed" \
    MONGO_URI="mongodb://127.0.0.1:1/" AUTH_MODE=none API_HOST=127.0.0.1 API_PORT=$port \
    API_ADMIN_PORT=$((port + 1)) RUST_LOG=warn "$RELEASE_DIR/wiber-api" >"$LOGS/api-$1.log" 2>&1 &
  pids+=($!)
}
cpu_seconds() { awk -v hz="$HZ" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$1/stat"; }
# metric I NAME: NAME's value at API I, or nothing while it does not answer yet.
metric() {
  { curl -fsS "http://127.0.0.1:$((FIRST_PORT + 2 * $1 + 1))/metrics" 2>/dev/null || true; } |
    awk -v name="$2" '$1 == name {printf "%d\n", $2}'
}
ready() { curl -fsS -o /dev/null "http://127.0.0.1:$((FIRST_PORT + 2 * $1 + 1))/health/readiness" 2>/dev/null; }
now() { date +%s.%N; }
# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds, dying after SECONDS.
wait_for() {
  local what=$1 deadline=$(($(date +%s) + $2))
  shift 2
  until "$@"; do
    (($(date +%s) < deadline)) || die "$what: not within the deadline (logs in $LOGS)"
    sleep 0.1
  done
}

log "an API's start-up alone, on an empty topic"
topic feedcost-empty
start_api 0 feedcost-empty
wait_for "the API ready" 60 ready 0
STARTUP=$(cpu_seconds "${pids[0]}")
stop_apis
echo "start-up: ${STARTUP} s of CPU until ready"

limit_rate=""
for k in "${REPLICAS[@]}"; do
  name="feedcost-k$k"
  log "round: $k API replicas reading $RECORDS records"
  topic "$name"
  "$RELEASE_DIR/wiber-readbench" load --bootstrap "$BOOTSTRAP" --topic "$name" --from 0 --to "$RECORDS" >/dev/null
  # Bytes per record as the brokers hold them (batches included), from the partitions' segments.
  bytes=$(cat "$KAFKA_RUN"/node-1/data/"$name"-[0-9]*/*.log | wc -c)
  awk -v b="$bytes" -v n="$RECORDS" 'BEGIN {printf "records: %.0f bytes each in the log\n", b / n}'
  if [[ -z $limit_rate ]]; then
    line=$("$WIBER_DEV_DIR/kafka.sh" consumer-perf --topic "$name" --messages "$RECORDS" --group feedcost-perf 2>/dev/null | tail -n 1)
    # The last field: fetch.nMsg.sec, the rate once the consumer had its partitions.
    limit_rate=$(awk -F', *' '{printf "%.0f\n", $NF}' <<<"$line")
    [[ $limit_rate =~ ^[0-9]+$ ]] || die "ConsumerPerformance printed no rate: $line"
    echo "limit: Kafka's ConsumerPerformance reads $limit_rate records/s"
  fi
  # As if a consumer had stored it all: the hubs keep nothing and never pause a partition.
  "$RELEASE_DIR/wiber-readbench" announce --bootstrap "$BOOTSTRAP" --topic "$name"
  broker_before=$(cpu_seconds "$(cat "$KAFKA_RUN/node-1/pid")")
  started=$(now)
  for ((i = 0; i < k; i++)); do start_api "$i" "$name"; done
  took=() cpu=()
  while ((${#took[@]} < k)); do
    for ((i = 0; i < k; i++)); do
      [[ -z ${took[$i]:-} ]] || continue
      n=$(metric "$i" wiber_api_push_feed_lag_seconds_count)
      if [[ -n $n ]] && ((n >= RECORDS)); then
        cpu[i]=$(cpu_seconds "${pids[$i]}")
        took[i]=$(awk -v a="$(now)" -v b="$started" 'BEGIN {print a - b}')
      fi
    done
    awk -v a="$(now)" -v b="$started" 'BEGIN {exit !(a - b > 300)}' && die "the feeds did not read $RECORDS records in 5 min (logs in $LOGS)"
    sleep 0.1
  done
  broker=$(awk -v a="$(cpu_seconds "$(cat "$KAFKA_RUN/node-1/pid")")" -v b="$broker_before" 'BEGIN {print a - b}')
  total=0
  for ((i = 0; i < k; i++)); do
    total=$(awk -v t="$total" -v c="${cpu[$i]}" -v s="$STARTUP" 'BEGIN {print t + c - s}')
    awk -v c="${cpu[$i]}" -v s="$STARTUP" -v n="$RECORDS" -v t="${took[$i]}" -v l="$limit_rate" -v i="$i" 'BEGIN {
      printf "  replica %d: %.2f us of CPU per record, read in %.1f s (%.0f records/s, %.1f %% of ConsumerPerformance)\n",
        i, (c - s) * 1e6 / n, t, n / t, 100 * n / t / l }'
  done
  awk -v t="$total" -v n="$RECORDS" -v k="$k" -v b="$broker" 'BEGIN {
    printf "feed CPU with %d replicas: %.2f us per record in all, %.2f per replica; the broker serving them: %.2f us per record\n",
      k, t * 1e6 / n, t * 1e6 / n / k, b * 1e6 / n }'
  stop_apis
done
log "report saved to $report"
