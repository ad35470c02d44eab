#!/usr/bin/env python3
"""The sizing chapter's arithmetic (docs/operations/sizing.md): what one WiberCluster needs at
10k, 100k and 1M messages a second with 10M users connected, from costs measured on this
machine, and which resource gives out first.

Every input below is a measurement named by the command and report it came from; change one and
run it again: python3 dev/sizing.py [FEED_US_PER_RECORD RECORD_BYTES]
"""

import math

# --- measured here (a 2-core VM; CPU as one core's time) ------------------------------------
# make bench, 20261207-101531: CPU per message during the standard load, each process alone.
API_MS_PER_POST = 0.080  # wiber-api: the POST, its produce, and its one feed reading it back
BROKER_MS_PER_MESSAGE = 0.170  # one Kafka node, the API's small produce requests (RF 1)
CONSUMER_MS_PER_MESSAGE = 0.029  # wiber-consumer itself (the store's side is the store's)
STORE_MS_PER_MESSAGE = 0.138 + 0.189  # FerretDB, and PostgreSQL among "everything else"
# make bench-feed, 20261207-134951: a feed's CPU per record read (fetch, decode, release to the
# hub), per replica (3.20 / 2.73 / 2.64 us with 1 / 2 / 4 replicas reading one topic).
FEED_US_PER_RECORD = 2.7
# same run: the broker's CPU serving the feeds grows by about this per replica and record
# (1.40 / 2.27 / 3.43 us per record with 1 / 2 / 4 replicas).
BROKER_US_PER_RECORD_PER_FEED = 0.7
# make bench-hub: the hub's share of that with 100 000 streams held (flat with streams).
HUB_US_PER_RECORD = 0.441
# make bench-push, round 2: memory per idle stream held.
STREAM_KIB = 16.5
# same run: bytes per record of #30's dataset as the brokers hold them.
RECORD_BYTES = 202
# make bench (as above): Kafka's ProducerPerformance, the broker's CPU per record in full batches.
BROKER_MS_PER_BATCHED_RECORD = 0.007

# --- choices, not measurements ----------------------------------------------------------------
STREAMS_PER_REPLICA = 50_000  # memory 50k x 16.5 KiB = 0.8 GiB; API_PUSH_MAX_STREAMS to match
USERS = 10_000_000
RATES = [10_000, 100_000, 1_000_000]
REPLICATION = 3  # Strimzi's topic, as the WiberCluster asks
FANOUT = 2  # deliveries per message when routed: a 1:1 message's two users (groups raise it)


def cores(rate, ms_per_message):
    return rate * ms_per_message / 1000.0


def plan(rate, feed_us, record_bytes):
    api_replicas = math.ceil(USERS / STREAMS_PER_REPLICA)
    # Today every replica reads every record: the feeds' CPU and the brokers' egress grow with
    # the replicas as well as the rate.
    feed_cores_each = rate * feed_us / 1e6
    # Routed (the design past the limit): a delivery per recipient, keyed by recipient, each
    # read by the one replica its user's streams are routed to.
    deliveries = rate * FANOUT
    return {
        "rate": rate,
        "api replicas (streams)": api_replicas,
        "POST cores": cores(rate, API_MS_PER_POST),
        "broker cores, produce (x RF)": cores(rate, BROKER_MS_PER_MESSAGE) * REPLICATION,
        "consumer cores": cores(rate, CONSUMER_MS_PER_MESSAGE),
        "store cores (FerretDB+PostgreSQL)": cores(rate, STORE_MS_PER_MESSAGE),
        "stream memory, GiB in all": USERS * STREAM_KIB / 1024 / 1024,
        "today: feed cores per replica": feed_cores_each,
        "today: feed cores in all": feed_cores_each * api_replicas,
        "today: broker cores serving feeds": rate * BROKER_US_PER_RECORD_PER_FEED * api_replicas / 1e6,
        "today: broker egress to feeds, Gbit/s": rate * record_bytes * 8 * api_replicas / 1e9,
        "routed: feed cores per replica": deliveries * feed_us / 1e6 / api_replicas,
        "routed: feed cores in all": deliveries * feed_us / 1e6,
        "routed: broker cores serving feeds": deliveries * BROKER_US_PER_RECORD_PER_FEED / 1e6,
        "routed: broker egress, Gbit/s": deliveries * record_bytes * 8 / 1e9,
        "routed: extra broker cores, deliveries (x RF)": cores(deliveries, BROKER_MS_PER_BATCHED_RECORD)
        * REPLICATION,
    }


def main():
    import sys

    feed_us = float(sys.argv[1]) if len(sys.argv) > 1 else FEED_US_PER_RECORD
    record_bytes = float(sys.argv[2]) if len(sys.argv) > 2 else RECORD_BYTES
    rows = [plan(rate, feed_us, record_bytes) for rate in RATES]
    width = max(len(k) for k in rows[0])
    print(f"{USERS:,} users connected, {STREAMS_PER_REPLICA:,} streams per API replica")
    print(f"{'messages/s':<{width}}" + "".join(f"{r['rate']:>14,}" for r in rows))
    for key in rows[0]:
        if key == "rate":
            continue
        print(f"{key:<{width}}" + "".join(f"{r[key]:>14,.1f}" for r in rows))


if __name__ == "__main__":
    main()
