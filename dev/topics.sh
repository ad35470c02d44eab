#!/usr/bin/env bash
# Creates Wiber's topics on the running local Kafka if they are missing:
# $KAFKA_TOPIC (default wiber.messages) and its dead-letter topic $KAFKA_TOPIC.dlq.
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
log "topics ready: $topic, $topic.dlq ($partitions partitions)"
