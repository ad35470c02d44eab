//! `GET /messages/ws`: the same stream over a WebSocket. The server sends JSON text frames:
//! `{"type":"ready","id":…}` first, then `{"type":"message","id":…,"message":{…}}` for each
//! message (and likewise `membership`, `receipt` and `typing`, each with its data under its own
//! name), and `{"type":"end","reason":…}` before it closes (1012 when shutting down, 1008 for
//! a reader too slow, 1011 when the store failed). Resume with `?after=<id>`. It pings every
//! heartbeat and closes a connection whose last ping went unanswered. What the client sends is
//! ignored, beyond pongs and its close.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{Stream, StreamExt};
use serde_json::json;

use super::PushMetrics;
use super::session::Item;
use super::sse::{delivered, open};
use crate::auth::StreamCaller;
use crate::error::ApiError;
use crate::producer::MessageProducer;
use crate::requests::StreamRequest;
use crate::state::AppState;
use crate::store::MessageStore;

/// Frames from the client are pongs and closes; nothing larger is expected.
const MAX_CLIENT_FRAME: usize = 4096;

/// A user's messages, pushed over a WebSocket
///
/// As `GET /messages/stream`, as JSON text frames (`ready`, `message`, `end`); resume with `after`.
#[utoipa::path(
    get, path = "/messages/ws", tag = "push",
    security(("bearer" = [])),
    params(crate::requests::StreamQuery,
        ("Connection" = String, Header, description = "Includes `Upgrade`", pattern = "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]"),
        ("Upgrade" = String, Header, pattern = "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$"),
        ("Sec-WebSocket-Version" = String, Header, pattern = "^13$"),
        ("Sec-WebSocket-Key" = String, Header, description = "The client's nonce (RFC 6455)", pattern = "^[A-Za-z0-9+/]{22}==$")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Invalid user, with or after, or not a WebSocket upgrade"),
        (status = 403, description = "`user` is not the caller"),
        crate::answers::StreamsUnavailable,
    )
)]
pub async fn socket<P: MessageProducer, S: MessageStore>(
    caller: StreamCaller,
    State(state): State<Arc<AppState<P, S>>>,
    request: StreamRequest,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::field(
            "Upgrade",
            "must be a WebSocket upgrade (GET with Upgrade: websocket)",
        )
    })?;
    // Authorized and subscribed before the upgrade: a refusal is an HTTP answer.
    let items = open(&state, &caller, request)?;
    let metrics = state.push.metrics.clone();
    let heartbeat = state.push.config().heartbeat;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| run(socket, items, metrics, heartbeat)))
}

/// The frame for an item, and the close that follows it when it ends the stream.
fn frame(item: Item, metrics: &PushMetrics) -> (String, Option<CloseFrame>) {
    let close = |code, reason: &'static str| {
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    };
    match item {
        Item::Ready { id } => (json!({ "type": "ready", "id": id }).to_string(), None),
        Item::Event {
            id,
            pushed,
            released_at,
        } => {
            delivered(metrics, released_at);
            // The data under the type's own name: `{"type":"receipt","id":…,"receipt":{…}}`.
            let mut frame = json!({ "type": pushed.name(), "id": id });
            frame[pushed.name()] = pushed.data();
            (frame.to_string(), None)
        }
        Item::End(ended) => {
            let text = json!({ "type": "end", "reason": ended.reason() }).to_string();
            (text, close(ended.close_code(), ended.reason()))
        }
    }
}

async fn run(
    mut socket: WebSocket,
    items: impl Stream<Item = Item>,
    metrics: PushMetrics,
    heartbeat: Duration,
) {
    let mut items = std::pin::pin!(items);
    let mut ping = tokio::time::interval(heartbeat);
    ping.tick().await;
    let mut unanswered = false;
    loop {
        tokio::select! {
            item = items.next() => {
                let Some(item) = item else { return };
                let (text, close) = frame(item, &metrics);
                if socket.send(Frame::Text(text.into())).await.is_err() {
                    return;
                }
                if let Some(close) = close {
                    let _ = socket.send(Frame::Close(Some(close))).await;
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Frame::Close(_))) => return,
                Some(Ok(Frame::Pong(_))) => unanswered = false,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if unanswered {
                    let gone = CloseFrame { code: 1001, reason: "heartbeat unanswered".into() };
                    let _ = socket.send(Frame::Close(Some(gone))).await;
                    return;
                }
                if socket.send(Frame::Ping(Default::default())).await.is_err() {
                    return;
                }
                unanswered = true;
            }
        }
    }
}
