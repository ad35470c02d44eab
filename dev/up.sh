#!/usr/bin/env bash
# make up: runs Wiber locally on real servers and returns once everything is ready.
# It stays running until `make down`. Ports: Kafka 9092, MongoDB protocol 27017
# (override with KAFKA_PORT / FERRETDB_PORT).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$WIBER_DEV_DIR/kafka.sh" start
"$WIBER_DEV_DIR/ferretdb.sh" start
"$WIBER_DEV_DIR/topics.sh"

cat <<MSG

Wiber's servers are up. Use them with:
  export KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
  export MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
Logs: $WIBER_CACHE/run/. Stop everything with: make down
MSG
