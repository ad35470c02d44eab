//! `GET /messages/stream`: a user's messages as Server-Sent Events. Each message is an event
//! `message` whose id is the stream's position after it, so a browser's EventSource resumes by
//! itself (`Last-Event-ID`); the first event, `ready`, carries the starting position; `end` says
//! why the server closed the stream.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::json;
use wiber_common::stored::POSITION_PATTERN;

use super::event::End;
use super::hub::Refused;
use super::session::{Item, items};
use crate::auth::{Caller, StreamCaller};
use crate::error::ApiError;
use crate::producer::MessageProducer;
use crate::requests::StreamRequest;
use crate::state::AppState;
use crate::store::MessageStore;

pub fn refused(refused: Refused) -> ApiError {
    ApiError::PushUnavailable(match refused {
        Refused::NotReady => "push streams are starting",
        Refused::Full => "this replica holds as many streams as it takes",
        Refused::ShuttingDown => "this replica is shutting down",
    })
}

/// What moves an open stream's end: its user, and the sender of when its token stops being
/// accepted (a WebSocket's renewal; an SSE stream drops it).
pub struct Renewal {
    pub user: String,
    pub until: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
}

/// Opens a stream's items for the caller: the one place a stream is authorized.
pub fn open<P: MessageProducer, S: MessageStore>(
    state: &Arc<AppState<P, S>>,
    caller: &Caller,
    request: StreamRequest,
) -> Result<(impl futures::Stream<Item = Item> + use<P, S>, Renewal), ApiError> {
    let user = caller.stream_user(request.user)?;
    let subscription = state
        .push
        .subscribe(&user, request.with.as_deref())
        .map_err(refused)?;
    let (until, watched) = tokio::sync::watch::channel(caller.accepted_until().map(instant_at));
    let items = items(
        state.clone(),
        subscription,
        user.clone(),
        request.with,
        request.after,
        watched,
    );
    Ok((items, Renewal { user, until }))
}

/// How long a client told its stream ended waits before reconnecting (SSE `retry:`): 1 to 5 s
/// at random, so that a rollout's clients do not all come back to the next replica in the same
/// second.
fn reconnect_after() -> std::time::Duration {
    let spread = (uuid::Uuid::new_v4().as_u128() % 4_000) as u64;
    std::time::Duration::from_millis(1_000 + spread)
}

/// The instant of `unix_seconds` on the monotonic clock (now, for a time already past).
pub fn instant_at(unix_seconds: u64) -> tokio::time::Instant {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    tokio::time::Instant::now()
        + std::time::Duration::from_secs(unix_seconds).saturating_sub(since_epoch)
}

/// One event of the stream as an SSE client parses it (`event`, `data`, `id`), for the document:
/// `ready` first, with the position the stream starts from; a `message` per message, its id the
/// position just after it; `end` when the server ends the stream, saying why.
pub fn event_schema() -> serde_json::Value {
    let id = json!({"type": "string", "pattern": POSITION_PATTERN});
    let event = |name: &str, data: serde_json::Value, id_required: bool| {
        let mut required = vec!["event", "data"];
        if id_required {
            required.push("id");
        }
        json!({
            "type": "object",
            "required": required,
            "properties": {
                "event": {"const": name},
                "id": id,
                "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
            },
        })
    };
    let mut end = event(
        "end",
        json!({
            "type": "object",
            "required": ["reason"],
            "properties": {"reason": {"enum": End::TOLD.map(End::reason)}},
        }),
        false,
    );
    // The reconnection time EventSource takes from it: 1 to 5 s, spread.
    end["properties"]["retry"] = json!({"type": "integer", "minimum": 1000, "maximum": 4999});
    end["required"] = json!(["event", "data", "retry"]);
    json!({"oneOf": [
        event("ready", json!({"type": "object", "maxProperties": 0}), true),
        event("message", json!({"$ref": "#/components/schemas/Message"}), true),
        event("membership", json!({"$ref": "#/components/schemas/Message"}), true),
        event("receipt", json!({"$ref": "#/components/schemas/Receipt"}), true),
        event("typing", json!({"$ref": "#/components/schemas/Typing"}), true),
        event("edit", json!({"$ref": "#/components/schemas/Changed"}), true),
        event("delete", json!({"$ref": "#/components/schemas/Changed"}), true),
        end,
    ]})
}

/// Counts a message written to a stream, and its read-to-pushed latency when live.
pub fn delivered(metrics: &super::PushMetrics, released_at: Option<std::time::Instant>) {
    metrics.push_events.inc();
    if let Some(at) = released_at {
        metrics.push_latency.observe(at.elapsed().as_secs_f64());
    }
}

/// A user's messages, pushed
///
/// Every message of the caller's conversations (or, with `with`, of one), once Kafka has
/// acknowledged it, in Kafka's order within a conversation. Reconnecting with `Last-Event-ID` (or
/// `after`) first replays what was missed. A stream whose client reads too slowly is ended with
/// `end` (`slow_reader`).
#[utoipa::path(
    get, path = "/messages/stream", tag = "push",
    security(("bearer" = [])),
    params(crate::requests::StreamQuery, crate::requests::ResumeHeader),
    responses(
        (status = 200, description = "text/event-stream of `ready`, `message` (a Message) and `end` events (`event_schema`)", content_type = "text/event-stream"),
        (status = 400, description = "Invalid user, with or event id"),
        (status = 403, description = "`user` is not the caller"),
        crate::answers::StreamsUnavailable,
    )
)]
pub async fn stream<P: MessageProducer, S: MessageStore>(
    caller: StreamCaller,
    State(state): State<Arc<AppState<P, S>>>,
    request: StreamRequest,
) -> Result<Response, ApiError> {
    let (items, _renewal) = open(&state, &caller.0, request)?;
    let metrics = state.push.metrics.clone();
    let events = items.map(move |item| {
        let event = match item {
            Item::Ready { id } => Event::default().event("ready").id(id).data("{}"),
            Item::Event {
                id,
                pushed,
                released_at,
            } => {
                delivered(&metrics, released_at);
                Event::default()
                    .event(pushed.name())
                    .id(id)
                    .json_data(pushed.data())
                    .expect("an event serializes")
            }
            Item::End(ended) => Event::default()
                .event("end")
                .retry(reconnect_after())
                .data(json!({ "reason": ended.reason() }).to_string()),
        };
        Ok::<_, Infallible>(event)
    });
    let heartbeat = state.push.config().heartbeat;
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat))
        .into_response();
    // Proxies such as nginx buffer responses unless told not to, which would hold events back.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_told_to_come_back_after_one_to_five_seconds_spread() {
        let waits: Vec<u128> = (0..200).map(|_| reconnect_after().as_millis()).collect();
        assert!(
            waits.iter().all(|w| (1_000..5_000).contains(w)),
            "{waits:?}"
        );
        let (min, max) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        assert!(max - min > 2_000, "spread: {min}..{max}");
    }
}
