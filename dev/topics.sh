#!/usr/bin/env bash
# Creates Wiber's topics on the running local Kafka if they are missing:
# $KAFKA_TOPIC (default wiber.messages), its dead-letter topic $KAFKA_TOPIC.dlq, and
# $KAFKA_TOPIC.stored, where the consumer announces what it stored (one partition, kept an hour).
# Variables: KAFKA_TOPIC, KAFKA_PARTITIONS (3), plus those of dev/kafka.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

topic="${KAFKA_TOPIC:-wiber.messages}"
partitions="${KAFKA_PARTITIONS:-3}"
# LogAppendTime: the broker stamps each message, so API replicas' clocks cannot reorder a
# conversation (the API answers with this timestamp, the consumer stores it).
for t in "$topic" "$topic.dlq"; do
  "$WIBER_DEV_DIR/kafka.sh" topics --create --if-not-exists --topic "$t" --partitions "$partitions" \
    --config message.timestamp.type=LogAppendTime >/dev/null
done
"$WIBER_DEV_DIR/kafka.sh" topics --create --if-not-exists --topic "$topic.stored" --partitions 1 \
  --config retention.ms=3600000 >/dev/null
log "topics ready: $topic, $topic.dlq ($partitions partitions), $topic.stored"
