//! Tokens over a WebSocket's frames instead of its URL: the first frame signs the socket in, a
//! fresh token later moves the stream's end without a reconnect, and every refusal is a frame
//! naming its code, then close 1008.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use wiber_e2e::issuer::{self, IssuerKey};
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn token(key: &IssuerKey, user: &str, ttl_seconds: u64) -> String {
    let mut claims = issuer::claims(user);
    claims["exp"] = json!(issuer::now() + ttl_seconds);
    key.sign(&claims)
}

/// A socket opened with no token at all, once the feed has started.
async fn bare_socket(wiber: &Wiber) -> Socket {
    let url = format!("{}/messages/ws", wiber.api_url.replace("http://", "ws://"));
    eventually("a WebSocket to open", STORED_WITHIN, || async {
        tokio_tungstenite::connect_async(&url)
            .await
            .ok()
            .map(|(s, _)| s)
    })
    .await
}

async fn say(socket: &mut Socket, frame: Value) {
    socket
        .send(Frame::Text(frame.to_string().into()))
        .await
        .expect("a frame sent");
}

/// The next text frame, or the close frame's code and reason as `{"closed": code}`.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(STORED_WITHIN, socket.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Frame::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
            Some(Ok(Frame::Close(close))) => {
                let close = close.expect("a close code");
                return json!({"closed": u16::from(close.code), "reason": close.reason.as_str()});
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return json!({"closed": null}),
        }
    }
}

/// Bob sends alice `content`, which must be the next frame on her socket; bob's token is returned.
async fn bob_tells(wiber: &Wiber, key: &IssuerKey, alice: &mut Socket, content: &str) -> String {
    let bob = token(key, "bob", 300);
    let sent = wiber
        .http
        .post(format!("{}/messages", wiber.api_url))
        .bearer_auth(&bob)
        .json(&json!({"toUser": "alice", "content": content}))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.status());
    let pushed = next(alice).await;
    assert_eq!(pushed["message"]["content"], content, "{pushed}");
    bob
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_signs_in_with_its_first_frame_and_a_bad_or_missing_one_is_refused_by_code() {
    let (wiber, _consumer, key) = Wiber::with_issuer(&[]).await;
    let mut alice = bare_socket(&wiber).await;
    say(
        &mut alice,
        json!({"type": "auth", "token": token(&key, "alice", 300)}),
    )
    .await;
    assert_eq!(next(&mut alice).await["type"], "ready");
    bob_tells(&wiber, &key, &mut alice, "signed in by frame").await;

    for (first, code) in [
        (
            json!({"type": "auth", "token": "not-a-token"}),
            "token_invalid",
        ),
        (
            json!({"type": "auth", "token": token(&key, "alice", 0).replace('.', ".x")}),
            "token_invalid",
        ),
        (json!({"type": "hello"}), "token_missing"),
    ] {
        let mut socket = bare_socket(&wiber).await;
        say(&mut socket, first.clone()).await;
        assert_eq!(
            next(&mut socket).await,
            json!({"type": "error", "code": code}),
            "{first}"
        );
        assert_eq!(
            next(&mut socket).await,
            json!({"closed": 1008, "reason": code})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_token_in_a_frame_keeps_the_stream_past_the_old_ones_expiry_and_only_for_its_user()
{
    let (wiber, _consumer, key) = Wiber::with_issuer(&[("AUTH_LEEWAY_SECONDS", "0")]).await;
    let mut alice = bare_socket(&wiber).await;
    let first_end = issuer::now() + 4;
    say(
        &mut alice,
        json!({"type": "auth", "token": token(&key, "alice", 4)}),
    )
    .await;
    assert_eq!(next(&mut alice).await["type"], "ready");
    // A refused renewal says so and leaves the stream as it was.
    say(&mut alice, json!({"type": "auth", "token": "garbage"})).await;
    assert_eq!(
        next(&mut alice).await,
        json!({"type": "error", "code": "token_invalid"})
    );
    let fresh = token(&key, "alice", 300);
    say(&mut alice, json!({"type": "auth", "token": fresh})).await;
    let renewed = next(&mut alice).await;
    assert_eq!(renewed["type"], "renewed", "{renewed}");
    assert!(renewed["acceptedUntil"].as_u64().unwrap() >= issuer::now() + 290);

    // Past the first token's end (no leeway): still live.
    eventually("the first token's end to pass", STORED_WITHIN, || async {
        (issuer::now() > first_end + 1).then_some(())
    })
    .await;
    let bob = bob_tells(&wiber, &key, &mut alice, "after the first token's end").await;

    // Another user's token does not take the stream over: refused, and closed.
    say(&mut alice, json!({"type": "auth", "token": bob})).await;
    assert_eq!(
        next(&mut alice).await,
        json!({"type": "error", "code": "forbidden"})
    );
    assert_eq!(
        next(&mut alice).await,
        json!({"closed": 1008, "reason": "forbidden"})
    );
}
