//! One trace per message: with OTEL_EXPORTER_OTLP_ENDPOINT set, the API's spans for a POST and
//! its produce, and the consumer's span for the record and its store write, reach a collector in
//! one trace, the context crossing Kafka in the record's `traceparent` header.

use std::time::Duration;

use wiber_e2e::otlp::Collector;
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messages_spans_share_one_trace_from_the_api_through_kafka_to_the_store() {
    let collector = Collector::start().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.clone()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
        // Export within a fraction of a second rather than the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let wiber = Wiber::spawn(wiber_e2e::mongo_uri(), &env).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    wiber.send("alice", "bob", "traced").await;

    let (produce, consume) = eventually(
        "the produce and consume spans at the collector",
        STORED_WITHIN,
        || async {
            let spans = collector.spans();
            let produce = spans
                .iter()
                .find(|s| s.service == "wiber-api" && s.name == "kafka.produce")?;
            let consume = spans.iter().find(|s| {
                s.service == "wiber-consumer"
                    && s.name == "kafka.consume"
                    && s.trace_id == produce.trace_id
            })?;
            Some((produce.clone(), consume.clone()))
        },
    )
    .await;
    assert_eq!(consume.parent_span_id, produce.span_id, "{consume:?}");
    assert_eq!(produce.trace_id.len(), 32, "{produce:?}");

    // The API's request span is the trace's root, and the store write links the message's span.
    let spans = collector.spans();
    let request = spans
        .iter()
        .find(|s| s.span_id == produce.parent_span_id)
        .unwrap_or_else(|| panic!("no parent of {produce:?} in {spans:#?}"));
    assert_eq!(
        (
            request.service.as_str(),
            request.name.as_str(),
            request.parent_span_id.as_str()
        ),
        ("wiber-api", "request", "")
    );
    let store = eventually("the store span", Duration::from_secs(10), || async {
        collector
            .spans()
            .into_iter()
            .find(|s| s.name == "mongodb.insert_many" && s.links.contains(&consume.span_id))
    })
    .await;
    assert_eq!(store.service, "wiber-consumer");
    // The trace as the collector received it (`--nocapture` shows it; BENCHMARKS.md quotes one).
    for s in [request, &produce, &consume, &store] {
        println!(
            "{} {:<20} {:<15} span {} parent {:<16} links {:?}",
            s.trace_id, s.name, s.service, s.span_id, s.parent_span_id, s.links
        );
    }
}
