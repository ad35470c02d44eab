//! Tokens over a WebSocket, in its frames rather than its URL: the first frame
//! (`{"type":"auth","token":…}`) when the upgrade carried none, and a fresh token later, which
//! moves the stream's end to that token's expiry without a reconnect. A refusal is an `error`
//! frame naming the problem's `code`, then close 1008 (policy violation).

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket};
use serde::Deserialize;
use serde_json::json;

use super::sse::{Renewal, instant_at};
use crate::auth::{Access, Caller, authenticate_token};
use crate::error::{ApiError, TokenProblem};

/// How long a socket opened without a token may take to send it.
const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(10);

/// Sockets a replica holds open while they have not said who they are: beyond it, 503 before the
/// upgrade, so connections that never authenticate cannot pile up (each is let go within
/// `FIRST_FRAME_WITHIN`).
const MAX_SIGNING_IN: usize = 1024;

static SIGNING_IN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One of the `MAX_SIGNING_IN` places, held until the socket's first frame was judged.
pub struct SigningIn(());

impl SigningIn {
    pub fn take() -> Result<Self, ApiError> {
        use std::sync::atomic::Ordering::SeqCst;
        let taken =
            SIGNING_IN.fetch_update(SeqCst, SeqCst, |n| (n < MAX_SIGNING_IN).then_some(n + 1));
        taken
            .map(|_| Self(()))
            .map_err(|_| ApiError::PushUnavailable("too many sockets are signing in at once"))
    }
}

impl Drop for SigningIn {
    fn drop(&mut self) {
        SIGNING_IN.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A client frame: only `auth` means anything.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientFrame {
    Auth { token: String },
}

fn token_of(text: &str) -> Option<String> {
    match serde_json::from_str(text) {
        Ok(ClientFrame::Auth { token }) => Some(token),
        Err(_) => None,
    }
}

/// The caller named by the socket's first frame, which must be `auth` and come in time.
pub async fn first_frame(socket: &mut WebSocket, access: &Access) -> Result<Caller, ApiError> {
    let first = tokio::time::timeout(FIRST_FRAME_WITHIN, async {
        loop {
            match socket.recv().await {
                Some(Ok(Frame::Text(text))) => return token_of(&text),
                Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                _ => return None,
            }
        }
    });
    let token = first
        .await
        .ok()
        .flatten()
        .ok_or(ApiError::Unauthenticated(TokenProblem::Missing))?;
    authenticate_token(access, &token).await
}

/// Says why in an `error` frame, then closes.
pub async fn refuse(socket: &mut WebSocket, refused: &ApiError) {
    let frame = json!({"type": "error", "code": refused.code()}).to_string();
    let _ = socket.send(Frame::Text(frame.into())).await;
    let close = CloseFrame {
        code: 1008,
        reason: refused.code().into(),
    };
    let _ = socket.send(Frame::Close(Some(close))).await;
}

/// What the stream does with a client's text frame.
pub enum Reply {
    Ignored,
    /// A frame for the client: `renewed`, or an `error` that leaves the stream as it was.
    Send(String),
    /// Ends the stream: a token for someone else.
    Refuse(ApiError),
}

/// What renews an open stream's token.
pub struct Renew {
    access: Access,
    renewal: Renewal,
}

impl Renew {
    pub fn new(access: Access, renewal: Renewal) -> Self {
        Self { access, renewal }
    }

    /// A fresh token for the stream's own user moves its end; a refused one leaves the stream
    /// until its present token expires, and says why.
    pub async fn apply(&self, text: &str) -> Reply {
        let Some(token) = token_of(text) else {
            return Reply::Ignored;
        };
        match authenticate_token(&self.access, &token).await {
            Ok(Caller::User(id)) if id.user == self.renewal.user => {
                self.renewal
                    .until
                    .send_replace(id.accepted_until.map(instant_at));
                let frame = json!({"type": "renewed", "acceptedUntil": id.accepted_until});
                Reply::Send(frame.to_string())
            }
            Ok(Caller::User(_)) => Reply::Refuse(ApiError::Forbidden(
                "a stream's token may only be renewed for its own user",
            )),
            Ok(Caller::Anyone) => Reply::Ignored,
            Err(refused) => {
                Reply::Send(json!({"type": "error", "code": refused.code()}).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_signing_in_are_bounded_and_a_judged_one_frees_its_place() {
        let held: Vec<SigningIn> = (0..MAX_SIGNING_IN)
            .map(|_| SigningIn::take().unwrap())
            .collect();
        assert!(matches!(
            SigningIn::take(),
            Err(ApiError::PushUnavailable(_))
        ));
        drop(held);
        assert!(SigningIn::take().is_ok());
    }

    #[test]
    fn only_an_auth_frame_with_a_token_carries_one() {
        assert_eq!(
            token_of(r#"{"type":"auth","token":"t.o.k"}"#).as_deref(),
            Some("t.o.k")
        );
        for other in [
            r#"{"type":"auth"}"#,
            r#"{"type":"hello","token":"t"}"#,
            r#"{"token":"t"}"#,
            "auth t",
        ] {
            assert_eq!(token_of(other), None, "{other}");
        }
    }
}
