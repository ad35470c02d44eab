//! One trace per message: each record whose producer was tracing gets a span that continues its
//! trace (`traceparent`) and stays open until its batch is stored or dead-lettered; the batch's
//! store write is one span linked to all of them. When tracing is off, no span is made.

use tracing::Span;
use wiber_common::record::Record;
use wiber_common::telemetry::{continue_trace, tracing_enabled};

pub struct BatchTrace {
    /// Open while the batch is handled: dropped, they end.
    _records: Vec<Span>,
    /// The batch's write to the store.
    pub store: Span,
}

pub fn batch(records: &[Record]) -> BatchTrace {
    if !tracing_enabled() {
        return BatchTrace {
            _records: Vec::new(),
            store: Span::none(),
        };
    }
    let store = tracing::info_span!("mongodb.insert_many", messages = records.len());
    let spans = records
        .iter()
        .filter_map(|r| {
            let traceparent = r.traceparent.as_deref()?;
            let span = tracing::info_span!(
                "kafka.consume",
                messaging.kafka.partition = r.partition,
                messaging.kafka.offset = r.offset,
            );
            continue_trace(&span, traceparent);
            store.follows_from(&span);
            Some(span)
        })
        .collect();
    BatchTrace {
        _records: spans,
        store,
    }
}
