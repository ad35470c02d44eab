# Sourced by dev/test.sh and dev/soak.sh: the servers the message path's tests need, on test ports
# (so a stack from `make up` keeps running undisturbed), and the variables the tests read.
# Kafka 29092 (controller 30092, SASL_SSL 29192, mutual TLS 29292), a three-node Kafka (RF 3,
# min.insync.replicas=2) for broker faults on 19092-19094 (controllers 20092-20094, secured
# 19192-19194 and 19292-19294), MongoDB protocol 28017 on PostgreSQL 25432 (a fresh cluster every run).

export KAFKA_PORT="${WIBER_TEST_KAFKA_PORT:-29092}"
export FERRETDB_PORT="${WIBER_TEST_FERRETDB_PORT:-28017}"
export POSTGRES_PORT="${WIBER_TEST_POSTGRES_PORT:-25432}"
export FERRETDB_HANDLER=postgresql
REPLICATED_KAFKA_PORT="${WIBER_TEST_REPLICATED_KAFKA_PORT:-19092}"
# The three-node cluster is its own kafka.sh instance: these settings belong to it alone.
replicated_kafka() {
  KAFKA_PORT=$REPLICATED_KAFKA_PORT KAFKA_NODES=3 KAFKA_CONTROLLER_PORT= KAFKA_POD_HOST= "$WIBER_DEV_DIR/kafka.sh" "$@"
}

stop_messaging_servers() {
  "$WIBER_DEV_DIR/ferretdb.sh" stop || true
  "$WIBER_DEV_DIR/kafka.sh" stop || true
  replicated_kafka stop || true
}

start_messaging_servers() {
  "$WIBER_DEV_DIR/kafka.sh" start
  replicated_kafka start
  # Each run's databases are its own: last run's would only slow FerretDB's start and PostgreSQL's scans.
  "$WIBER_DEV_DIR/postgres.sh" wipe
  "$WIBER_DEV_DIR/ferretdb.sh" start
}

export_messaging_env() {
  KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
  MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
  # Fault tests start private FerretDB instances they can stop, each on a PostgreSQL database of its
  # own (named after WIBER_POSTGRES_URL); e2e tests run the real binaries. The index tests read
  # PostgreSQL's plans through FerretDB's explain.
  WIBER_FERRETDB_BIN=$("$WIBER_DEV_DIR/ferretdb.sh" bin)
  WIBER_POSTGRES_URL=$("$WIBER_DEV_DIR/postgres.sh" url "")
  # The backup test dumps and restores a private store with PostgreSQL's own tools.
  WIBER_POSTGRES_BIN_DIR=$("$WIBER_DEV_DIR/postgres.sh" bindir)
  WIBER_BIN_DIR="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}/debug"
  export KAFKA_BOOTSTRAP_SERVERS MONGO_URI WIBER_FERRETDB_BIN WIBER_POSTGRES_URL WIBER_POSTGRES_BIN_DIR WIBER_BIN_DIR
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
}
