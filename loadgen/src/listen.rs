//! A user's event stream as wiber-loadgen holds one: opened once the API says `ready`, then read
//! to its end, each message event timed on arrival.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::sync::mpsc;

use crate::http::{Error, Target};
use crate::sse::{self, EventStream};
use crate::tokens::Tokens;

const RETRY_AFTER_503: Duration = Duration::from_millis(100);
fn stream_request(tokens: &Tokens, user: &str) -> Result<(String, Option<Arc<str>>), Error> {
    let authorization = tokens.authorization(user)?;
    let path = match authorization {
        Some(_) => "/messages/stream".to_owned(),
        // An open API (AUTH_MODE=none) is told whose stream it is.
        None => format!("/messages/stream?user={user}"),
    };
    Ok((path, authorization))
}

/// A stream of `user`'s messages, returned once the API has sent `ready`, so it is subscribed.
pub async fn open_one(
    api: &Target,
    tokens: &Tokens,
    user: &str,
    timeout: Duration,
) -> Result<EventStream, Error> {
    let (path, authorization) = stream_request(tokens, user)?;
    let deadline = Instant::now() + timeout;
    // A just-started API answers 503 until its feed has found where the topic stands.
    let mut stream = loop {
        match sse::open(api, &path, authorization.as_deref(), timeout).await {
            Ok(stream) => break stream,
            Err(e) => match e.downcast_ref::<sse::Refused>() {
                Some(r)
                    if r.status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline =>
                {
                    tokio::time::sleep(RETRY_AFTER_503).await;
                }
                _ => return Err(e),
            },
        }
    };
    match tokio::time::timeout(timeout, stream.next()).await {
        Ok(Ok(Some(event))) if event.kind == "ready" => Ok(stream),
        Ok(Ok(Some(event))) => Err(format!("first event was '{}', not ready", event.kind).into()),
        Ok(Ok(None)) => Err("the stream ended before ready".into()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no ready within {} ms", timeout.as_millis()).into()),
    }
}

pub fn message_id(json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    value.get("messageId")?.as_str().map(str::to_owned)
}

/// Reads a stream until it ends: messages are handed to `arrivals` (timed on arrival) or, for an
/// idle stream (`arrivals` = None), counted as unexpected.
pub async fn read(
    mut stream: EventStream,
    arrivals: Option<mpsc::UnboundedSender<(String, Instant)>>,
    ended: Arc<AtomicUsize>,
    unexpected: Arc<AtomicUsize>,
) {
    while let Ok(Some(event)) = stream.next().await {
        let at = Instant::now();
        match (event.kind.as_str(), &arrivals) {
            ("message", Some(tx)) => {
                if let Some(id) = message_id(event.data.as_bytes()) {
                    let _ = tx.send((id, at));
                }
            }
            ("message", None) => {
                unexpected.fetch_add(1, Ordering::Relaxed);
            }
            ("end", _) => break,
            _ => {}
        }
    }
    ended.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_is_read_from_a_post_answer_or_an_event() {
        let answer =
            br#"{"messageId":"4b1c","fromUser":"a","toUser":"b","content":"x","timestamp":1}"#;
        assert_eq!(message_id(answer).as_deref(), Some("4b1c"));
        assert_eq!(message_id(b"{}"), None);
        assert_eq!(message_id(b"not json"), None);
    }
}
