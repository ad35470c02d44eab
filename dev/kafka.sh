#!/usr/bin/env bash
# Apache Kafka in KRaft mode as plain local processes, from Maven Central jars.
#
#   dev/kafka.sh install                 fetch the jars into $WIBER_CACHE/kafka/<version>/libs
#   dev/kafka.sh start|stop|status       one node on 127.0.0.1:$KAFKA_PORT, or KAFKA_NODES=3 for three
#   dev/kafka.sh bootstrap               print the bootstrap servers of the running cluster
#   dev/kafka.sh pod-bootstrap           the bootstrap servers for the local cluster's pods (below)
#   dev/kafka.sh secure-bootstrap sasl_ssl|ssl
#                                        the secured listeners' bootstrap servers (below)
#   dev/kafka.sh tls-dir                 where the CA, broker and client certificates (PEM) are
#   dev/kafka.sh topics ARGS...          kafka-topics         (bootstrap server filled in)
#   dev/kafka.sh groups ARGS...          kafka-consumer-groups (bootstrap server filled in)
#   dev/kafka.sh producer-perf ARGS...   kafka-producer-perf-test
#   dev/kafka.sh consumer-perf ARGS...   kafka-consumer-perf-test (bootstrap server filled in)
#   dev/kafka.sh offsets ARGS...         kafka-get-offsets    (bootstrap server filled in)
#   dev/kafka.sh stop-node|start-node N  take node N down and back (broker-loss tests)
#   dev/kafka.sh freeze-node|thaw-node N SIGSTOP / SIGCONT node N: its sockets stay open but nothing
#                                        answers, as with a broker stuck in a long GC pause
#
# Variables (defaults): KAFKA_VERSION (4.1.1), KAFKA_NODES (1; 3 gives RF 3 and min.insync.replicas=2),
# KAFKA_PORT (9092: node i listens on KAFKA_PORT+i-1), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1000),
# KAFKA_HEAP_OPTS (-Xms256m -Xmx512m), WIBER_CACHE (~/.cache/wiber).
# Secured listeners, as a Strimzi cluster offers them, beside the plain one: node i serves SASL_SSL
# with SCRAM-SHA-512 on KAFKA_PORT+100+i-1 (user $KAFKA_SCRAM_USER, password $KAFKA_SCRAM_PASSWORD;
# defaults wiber / wiber-secret) and SSL with required client certificates (mutual TLS) on
# KAFKA_PORT+200+i-1. Certificates come from a local CA made with openssl, valid for 127.0.0.1 and
# localhost; `tls-dir` prints where (ca.crt, client.crt, client.key).
# KAFKA_POD_HOST (none): an address of this machine where the local cluster's pods reach it
# (`dev/cluster.sh host-ip`); node i then also serves plain Kafka there on KAFKA_PORT+300+i-1,
# advertised under that address, for the pods of a WiberCluster.
# State, data and logs of a cluster live in $WIBER_CACHE/run/kafka-$KAFKA_PORT, so clusters on
# different ports never collide.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_NODES="${KAFKA_NODES:-1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1000))}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_HOME="$WIBER_CACHE/kafka/$KAFKA_VERSION"
KAFKA_RUN="$WIBER_CACHE/run/kafka-$KAFKA_PORT"
KAFKA_TLS="$KAFKA_RUN/tls"
KAFKA_SCRAM_USER="${KAFKA_SCRAM_USER:-wiber}"
KAFKA_SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-wiber-secret}"
MAVEN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

[[ $KAFKA_NODES =~ ^[13]$ ]] || die "KAFKA_NODES must be 1 or 3 (got '$KAFKA_NODES')"

installed() { [[ -f $KAFKA_HOME/.complete ]]; }

install() {
  if installed; then return 0; fi
  command -v java >/dev/null || die "java (17 or newer) is needed to run Kafka"
  command -v mvn >/dev/null || die "mvn is needed to fetch the Kafka jars from Maven Central"
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME"
  rm -rf "$KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  # A scratch copy of the pom: Maven writes target/ next to it, and the repo stays clean.
  local scratch
  scratch=$(mktemp -d)
  cp "$WIBER_DEV_DIR/kafka/pom.xml" "$scratch/pom.xml"
  if ! mvn -B -q -f "$scratch/pom.xml" "$MAVEN_DEPENDENCY_PLUGIN:copy-dependencies" \
      -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_HOME/libs" >"$scratch/mvn.log" 2>&1; then
    tail -n 40 "$scratch/mvn.log" >&2
    die "could not fetch the Kafka jars (Maven log above)"
  fi
  rm -rf "$scratch"
  cat >"$KAFKA_HOME/log4j2-tools.properties" <<'EOF'
# The CLI tools log only warnings, to stderr, so their output stays parseable.
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %-5p %c{1}: %m%n
EOF
  touch "$KAFKA_HOME/.complete"
  log "Kafka $KAFKA_VERSION installed ($(ls "$KAFKA_HOME/libs" | wc -l) jars)"
}

# Short-lived CLIs start faster on the client compiler alone; a benchmark tool gets the full JIT.
tool() { java_tool -XX:TieredStopAtLevel=1 "$@"; }
java_tool() {
  installed || install
  java -Xmx256m -XX:+UseSerialGC -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2-tools.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

bootstrap() {
  if [[ -f $KAFKA_RUN/bootstrap ]]; then cat "$KAFKA_RUN/bootstrap"; return; fi
  local i out=()
  for ((i = 0; i < KAFKA_NODES; i++)); do out+=("127.0.0.1:$((KAFKA_PORT + i))"); done
  (IFS=,; echo "${out[*]}")
}

pod_bootstrap() {
  [[ -s $KAFKA_RUN/pod-bootstrap ]] || die "kafka on port $KAFKA_PORT serves no pods: start it with KAFKA_POD_HOST set (make servers-up after make cluster-up)"
  cat "$KAFKA_RUN/pod-bootstrap"
}

# secure-bootstrap sasl_ssl|ssl: the bootstrap servers of one of the secured listeners.
secure_bootstrap() {
  local offset i out=()
  case "$1" in
    sasl_ssl) offset=100 ;;
    ssl) offset=200 ;;
    *) die "secure-bootstrap takes sasl_ssl or ssl (got '$1')" ;;
  esac
  for ((i = 0; i < $(cat "$KAFKA_RUN/nodes" 2>/dev/null || echo "$KAFKA_NODES"); i++)); do
    out+=("127.0.0.1:$((KAFKA_PORT + offset + i))")
  done
  (IFS=,; echo "${out[*]}")
}

# A local CA, one broker certificate for every node and one client certificate, made once per
# cluster. Keys are unencrypted PKCS#8, which both Kafka's PEM key stores and librdkafka read.
make_certificates() {
  [[ -f $KAFKA_TLS/.complete ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed to make the Kafka test certificates"
  rm -rf "$KAFKA_TLS"
  mkdir -p "$KAFKA_TLS"
  (
    cd "$KAFKA_TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=wiber-test-ca" \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.crt
    cat broker.key broker.crt >broker.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$KAFKA_SCRAM_USER" -keyout client.key -out client.csr
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -out client.crt
    rm -f ./*.csr ./*.ext
  ) >"$KAFKA_RUN/openssl.log" 2>&1 || fail_with_log "making the Kafka certificates" "$KAFKA_RUN/openssl.log"
  touch "$KAFKA_TLS/.complete"
}

# SCRAM credentials live in the cluster metadata; setting them again is harmless.
add_scram_user() {
  tool kafka.admin.ConfigCommand --bootstrap-server "$(bootstrap)" --alter \
    --add-config "SCRAM-SHA-512=[password=$KAFKA_SCRAM_PASSWORD]" \
    --entity-type users --entity-name "$KAFKA_SCRAM_USER" >/dev/null
}

node_dir() { echo "$KAFKA_RUN/node-$1"; }

write_config() {
  local id=$1 nodes=$2 dir voters="" i rf isr
  dir=$(node_dir "$id")
  for ((i = 1; i <= nodes; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:$((KAFKA_CONTROLLER_PORT + i - 1))"
  done
  if ((nodes == 1)); then rf=1 isr=1; else rf=3 isr=2; fi
  local pods=""
  [[ -z ${KAFKA_POD_HOST:-} ]] || pods=",PODS://$KAFKA_POD_HOST:$((KAFKA_PORT + 300 + id - 1))"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$((KAFKA_PORT + id - 1)),CONTROLLER://127.0.0.1:$((KAFKA_CONTROLLER_PORT + id - 1)),SASL_SSL://127.0.0.1:$((KAFKA_PORT + 100 + id - 1)),SSL://127.0.0.1:$((KAFKA_PORT + 200 + id - 1))$pods
advertised.listeners=PLAINTEXT://127.0.0.1:$((KAFKA_PORT + id - 1)),SASL_SSL://127.0.0.1:$((KAFKA_PORT + 100 + id - 1)),SSL://127.0.0.1:$((KAFKA_PORT + 200 + id - 1))$pods
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,PODS:PLAINTEXT
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.crt
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.ssl.ssl.client.auth=required
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# Topics are created on purpose (make up, tests, Strimzi in clusters), never by a typo.
auto.create.topics.enable=false
# Tests create groups constantly; the default 3 s join delay would only slow them down.
group.initial.rebalance.delay.ms=0
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

node_ready() {
  local id=$1
  port_open 127.0.0.1 $((KAFKA_PORT + id - 1)) && grep -q 'Kafka Server started' "$(node_dir "$id")/kafka.log"
}

status() {
  local i up=0 nodes
  nodes=$(cat "$KAFKA_RUN/nodes" 2>/dev/null || echo "$KAFKA_NODES")
  for ((i = 1; i <= nodes; i++)); do
    if pid_alive "$(node_dir "$i")/pid"; then
      echo "kafka node $i: running (pid $(cat "$(node_dir "$i")/pid"), port $((KAFKA_PORT + i - 1)))"
      up=$((up + 1))
    else
      echo "kafka node $i: stopped"
    fi
  done
  ((up == nodes))
}

start_node() {
  local id=$1 dir
  dir=$(node_dir "$id")
  pid_alive "$dir/pid" && return 0
  : >"$dir/kafka.log"
  local heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  start_daemon "kafka node $id" "$dir/pid" "$dir/kafka.log" \
    java "${heap[@]}" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties"
}

start() {
  install
  java_major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  ((${java_major%%.*} >= 17)) || die "Kafka 4 needs Java 17 or newer (found $java_major)"
  if [[ -f $KAFKA_RUN/nodes && $(cat "$KAFKA_RUN/nodes") != "$KAFKA_NODES" ]]; then
    pid_alive "$(node_dir 1)/pid" && die "a $(cat "$KAFKA_RUN/nodes")-node cluster already runs on port $KAFKA_PORT; stop it first"
    log "switching $KAFKA_RUN from $(cat "$KAFKA_RUN/nodes") to $KAFKA_NODES node(s): wiping its data"
    rm -rf "$KAFKA_RUN"
  fi
  mkdir -p "$KAFKA_RUN"
  local i port cluster_id pod_host=${KAFKA_POD_HOST:-} running=0
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    if pid_alive "$(node_dir "$i")/pid"; then running=1; continue; fi
    for port in $((KAFKA_PORT + i - 1)) $((KAFKA_PORT + 100 + i - 1)) $((KAFKA_PORT + 200 + i - 1)); do
      if port_open 127.0.0.1 "$port"; then
        die "port $port is taken by another process; set KAFKA_PORT to use other ports"
      fi
    done
  done
  if ((running)) && [[ $(cat "$KAFKA_RUN/pod-host" 2>/dev/null) != "$pod_host" ]]; then
    die "kafka runs on port $KAFKA_PORT for pods at '$(cat "$KAFKA_RUN/pod-host" 2>/dev/null)', not '$pod_host': stop it first"
  fi
  if [[ -n $pod_host ]] && ! has_address "$pod_host"; then
    die "KAFKA_POD_HOST=$pod_host is no address of this machine: start the cluster's node first (make cluster-up)"
  fi
  echo "$pod_host" >"$KAFKA_RUN/pod-host"
  if [[ ! -f $KAFKA_RUN/cluster-id ]]; then
    tool kafka.tools.StorageTool random-uuid >"$KAFKA_RUN/cluster-id.tmp"
    mv "$KAFKA_RUN/cluster-id.tmp" "$KAFKA_RUN/cluster-id"
  fi
  cluster_id=$(cat "$KAFKA_RUN/cluster-id")
  echo "$KAFKA_NODES" >"$KAFKA_RUN/nodes"
  make_certificates
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    write_config "$i" "$KAFKA_NODES"
    tool kafka.tools.StorageTool format -t "$cluster_id" -c "$(node_dir "$i")/server.properties" \
      --ignore-formatted >/dev/null
  done
  for ((i = 1; i <= KAFKA_NODES; i++)); do start_node "$i"; done
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    wait_until 120 "kafka node $i" node_ready "$i" || {
      pid_alive "$(node_dir "$i")/pid" || log "kafka node $i exited"
      fail_with_log "kafka node $i" "$(node_dir "$i")/kafka.log"
    }
  done
  bootstrap >"$KAFKA_RUN/bootstrap.tmp" && mv "$KAFKA_RUN/bootstrap.tmp" "$KAFKA_RUN/bootstrap"
  local out=()
  if [[ -n $pod_host ]]; then
    for ((i = 0; i < KAFKA_NODES; i++)); do out+=("$pod_host:$((KAFKA_PORT + 300 + i))"); done
  fi
  (IFS=,; echo "${out[*]}") >"$KAFKA_RUN/pod-bootstrap"
  add_scram_user
  log "kafka ready: $KAFKA_NODES node(s), bootstrap $(bootstrap)"
}

stop() {
  local i nodes
  nodes=$(cat "$KAFKA_RUN/nodes" 2>/dev/null || echo 3)
  # All at once: a last broker stopped alone waits for a controller quorum that is already gone.
  for ((i = 1; i <= nodes; i++)); do stop_daemon "kafka node $i" "$(node_dir "$i")/pid" & done
  wait
  rm -f "$KAFKA_RUN/bootstrap" "$KAFKA_RUN/pod-bootstrap" "$KAFKA_RUN/pod-host"
}

# stop-node N / start-node N: take one broker of a running cluster down and back, for broker-loss tests.
stop_one() { stop_daemon "kafka node $1" "$(node_dir "$1")/pid"; }
start_one() {
  start_node "$1"
  wait_until 120 "kafka node $1" node_ready "$1" || fail_with_log "kafka node $1" "$(node_dir "$1")/kafka.log"
}

# freeze-node N / thaw-node N: the process group stops answering but keeps its connections.
signal_one() {
  local pidfile
  pidfile="$(node_dir "$2")/pid"
  pid_alive "$pidfile" || die "kafka node $2 is not running"
  kill "-$1" -- "-$(cat "$pidfile")"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  pod-bootstrap) pod_bootstrap ;;
  secure-bootstrap) secure_bootstrap "${1:?sasl_ssl or ssl}" ;;
  tls-dir) echo "$KAFKA_TLS" ;;
  stop-node) stop_one "${1:?node id}" ;;
  start-node) start_one "${1:?node id}" ;;
  freeze-node) signal_one STOP "${1:?node id}" ;;
  thaw-node) signal_one CONT "${1:?node id}" ;;
  topics) tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" "$@" ;;
  groups) tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$(bootstrap)" "$@" ;;
  offsets) tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$(bootstrap)" "$@" ;;
  producer-perf) java_tool org.apache.kafka.tools.ProducerPerformance "$@" ;;
  consumer-perf) tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$(bootstrap)" "$@" ;;
  *) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; [[ -z $cmd ]] || exit 2 ;;
esac
