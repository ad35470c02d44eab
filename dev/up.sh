#!/usr/bin/env bash
# make up: runs Wiber locally on real servers and returns once everything is ready:
# Kafka on 127.0.0.1:9092, the MongoDB-protocol server on 127.0.0.1:27017 (FerretDB on PostgreSQL,
# 127.0.0.1:15432), the API on
# http://127.0.0.1:8000 and the consumer (health and metrics on 127.0.0.1:8001).
# It stays running until `make down`. Every port is a variable: see README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$WIBER_DEV_DIR/kafka.sh" start
"$WIBER_DEV_DIR/ferretdb.sh" start
"$WIBER_DEV_DIR/topics.sh"
KAFKA_BOOTSTRAP_SERVERS=$("$WIBER_DEV_DIR/kafka.sh" bootstrap)
MONGO_URI=$("$WIBER_DEV_DIR/ferretdb.sh" uri)
export KAFKA_BOOTSTRAP_SERVERS MONGO_URI
"$WIBER_DEV_DIR/wiber.sh" start

cat <<MSG

Wiber is up.
  TOKEN=\$(dev/auth.sh token alice)
  curl -s localhost:${API_PORT:-8000}/messages -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"toUser":"bob","content":"hello"}'
  curl -s localhost:${API_PORT:-8000}/messages/alice/bob -H "authorization: Bearer \$TOKEN"
Logs: $WIBER_CACHE/run/. Stop everything with: make down
MSG
