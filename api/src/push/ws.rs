//! `GET /messages/ws`: the same stream over a WebSocket. The server sends JSON text frames:
//! `{"type":"ready","id":…}` first, then `{"type":"message","id":…,"message":{…}}` for each
//! message (and likewise `membership`, `receipt`, `typing`, `edit` and `delete`, each with its
//! data under its own name), and `{"type":"end","reason":…}` before it closes (1012 when shutting
//! down, 1008 for a reader too slow or a token expired, 1011 when the store failed). Resume with
//! `?after=<id>`. It pings every heartbeat and closes a connection whose last ping went unanswered.
//!
//! The client sends `{"type":"auth","token":…}` (`socket_auth`): as its first frame when the
//! upgrade carried no token, and whenever it has a fresh one, which moves the stream's end to that
//! token's; the server answers `renewed` or `error`. Anything else it sends is ignored.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{Stream, StreamExt};
use serde_json::json;

use super::PushMetrics;
use super::session::Item;
use super::socket_auth::{self, Renew, Reply};
use super::sse::{delivered, open};
use crate::auth::SocketCaller;
use crate::error::ApiError;
use crate::producer::MessageProducer;
use crate::requests::StreamRequest;
use crate::state::AppState;
use crate::store::MessageStore;

/// Frames from the client are pongs, closes and tokens (a JWT with many claims is a few KiB).
const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// A user's messages, pushed over a WebSocket
///
/// As `GET /messages/stream`, as JSON text frames (`ready`, `message`, ..., `end`: the
/// `WebSocketServerFrame` schema); resume with `after`. The token may come as the first frame
/// instead (`{"type":"auth","token":…}`, the `WebSocketClientFrame` schema), and a fresh one in
/// another such frame moves the stream's end to its expiry without reconnecting.
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
    caller: SocketCaller,
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
    let metrics = state.push.metrics.clone();
    let heartbeat = state.push.config().heartbeat;
    let upgrade = upgrade.max_message_size(MAX_CLIENT_FRAME);
    let caller = match caller {
        SocketCaller::Known(caller) => caller,
        // The token comes in the first frame: the refusals are frames too.
        SocketCaller::FirstFrame => {
            let signing_in = socket_auth::SigningIn::take()?;
            return Ok(upgrade.on_upgrade(move |mut socket| async move {
                let judged = socket_auth::first_frame(&mut socket, &state.access).await;
                drop(signing_in);
                let caller = match judged {
                    Ok(caller) => caller,
                    Err(refused) => return socket_auth::refuse(&mut socket, &refused).await,
                };
                match open(&state, &caller, request) {
                    Ok((items, renewal)) => {
                        let renew = Renew::new(state.access.clone(), renewal);
                        run(socket, items, metrics, heartbeat, renew).await;
                    }
                    Err(refused) => socket_auth::refuse(&mut socket, &refused).await,
                }
            }));
        }
    };
    // Authorized and subscribed before the upgrade: a refusal is an HTTP answer.
    let (items, renewal) = open(&state, &caller, request)?;
    let renew = Renew::new(state.access.clone(), renewal);
    Ok(upgrade.on_upgrade(move |socket| run(socket, items, metrics, heartbeat, renew)))
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
    renew: Renew,
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
                Some(Ok(Frame::Text(text))) => match renew.apply(&text).await {
                    Reply::Ignored => {}
                    Reply::Send(frame) => {
                        if socket.send(Frame::Text(frame.into())).await.is_err() {
                            return;
                        }
                    }
                    Reply::Refuse(refused) => return socket_auth::refuse(&mut socket, &refused).await,
                },
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

/// The frames of `GET /messages/ws`, for the document (OpenAPI has no words for a WebSocket's
/// frames): `WebSocketServerFrame` and `WebSocketClientFrame` under `components.schemas`, named by
/// the upgrade's 101 answer.
pub fn describe_frames(doc: &mut serde_json::Value, path: &str) {
    let id = json!({"type": "string", "pattern": wiber_common::stored::POSITION_PATTERN});
    let frame = |name: &str, fields: serde_json::Value| {
        let mut properties = json!({"type": {"const": name}});
        let mut required = vec![json!("type")];
        for (field, schema) in fields.as_object().into_iter().flatten() {
            properties[field] = schema.clone();
            required.push(json!(field));
        }
        json!({"type": "object", "required": required, "properties": properties})
    };
    let data = |name: &str, schema: &str| {
        let reference = json!({"$ref": format!("#/components/schemas/{schema}")});
        frame(name, json!({"id": id, name: reference}))
    };
    let reasons = super::End::TOLD.map(super::End::reason);
    let server = json!({
        "description": "A frame the server sends: `ready` first, an event per message or change (its data under its type's name), `renewed` or `error` answering an `auth` frame, and `end` before it closes.",
        "oneOf": [
            frame("ready", json!({"id": id})),
            data("message", "Message"),
            data("membership", "Message"),
            data("receipt", "Receipt"),
            data("typing", "Typing"),
            data("edit", "Changed"),
            data("delete", "Changed"),
            frame("end", json!({"reason": {"enum": reasons}})),
            frame("renewed", json!({"acceptedUntil": {"type": "integer", "description": "Unix seconds: the stream's new end"}})),
            frame("error", json!({"code": {"type": "string", "description": "The problem's `code` (`token_expired`, `token_invalid`, `forbidden`, ...)"}})),
        ],
    });
    let client = frame(
        "auth",
        json!({"token": {"type": "string", "description": "A bearer token: first frame when the upgrade carried none, or a fresh one for the same user"}}),
    );
    doc["components"]["schemas"]["WebSocketServerFrame"] = server;
    doc["components"]["schemas"]["WebSocketClientFrame"] = client;
    doc["paths"][path]["get"]["responses"]["101"]["description"] = json!(
        "Switching to the WebSocket protocol: JSON text frames, `WebSocketServerFrame` from the server, `WebSocketClientFrame` from the client"
    );
}
