//! The real API with AUTH_MODE=jwt: the token names the sender and only a conversation's users
//! read it, through Kafka and the store; keys rotate at a JWKS URL without a restart, and made-up
//! `kid`s cannot make the API fetch the JWKS more than once per AUTH_JWKS_REFRESH_SECONDS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::RwLock;
use wiber_e2e::issuer::{self, AUDIENCE, ISSUER, IssuerKey};
use wiber_e2e::mongo_uri;
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

/// The API's settings for tokens from the test issuer, with keys from `source` (a variable and
/// its value) and any `extra` settings.
fn jwt_env(
    source: (&'static str, String),
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AUTH_MODE", "jwt".to_owned()),
        ("AUTH_ISSUER", ISSUER.to_owned()),
        ("AUTH_AUDIENCE", AUDIENCE.to_owned()),
        source,
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

/// A key of the test issuer, published in a JWKS file, and the API's settings trusting it.
fn file_issuer(extra: &[(&'static str, &str)]) -> (IssuerKey, Vec<(&'static str, String)>) {
    let dir = issuer::key_dir();
    let key = IssuerKey::ed25519(&dir, "k1");
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, issuer::jwks(&[&key])).unwrap();
    (
        key,
        jwt_env(("AUTH_JWKS_FILE", jwks.display().to_string()), extra),
    )
}

async fn call(
    wiber: &Wiber,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", wiber.api_url);
    let mut request = if method == "POST" {
        wiber.http.post(url)
    } else {
        wiber.http.get(url)
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_names_the_sender_and_only_the_conversations_users_read_what_is_stored() {
    let (key, env) = file_issuer(&[]);
    let wiber = Wiber::spawn(mongo_uri(), &env).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    let alice = key.sign(&issuer::claims("alice"));
    let carol = key.sign(&issuer::claims("carol"));

    let (status, sent) = call(
        &wiber,
        Some(&alice),
        "POST",
        "/messages",
        Some(json!({"toUser": "bob", "content": "hi bob"})),
    )
    .await;
    assert_eq!(
        (status, &sent["fromUser"]),
        (200, &json!("alice")),
        "{sent}"
    );
    let spoof = json!({"fromUser": "bob", "toUser": "alice", "content": "it's bob, honest"});
    assert_eq!(
        call(
            &wiber,
            Some(&carol),
            "POST",
            "/messages",
            Some(spoof.clone())
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&wiber, None, "POST", "/messages", Some(spoof)).await.0,
        401
    );

    let page = eventually(
        "alice's message to be readable by alice",
        STORED_WITHIN,
        || async {
            let (status, page) =
                call(&wiber, Some(&alice), "GET", "/messages/alice/bob", None).await;
            (status == 200 && page.as_array().is_some_and(|p| p.len() == 1)).then_some(page)
        },
    )
    .await;
    assert_eq!(page[0]["messageId"], sent["messageId"]);
    for path in [
        "/messages/alice/bob",
        "/messages/user/alice",
        "/messages/count?user1=alice&user2=bob",
        "/messages/count",
    ] {
        let (status, body) = call(&wiber, Some(&carol), "GET", path, None).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.to_string().contains("hi bob"), "{path}: {body}");
        assert_eq!(call(&wiber, None, "GET", path, None).await.0, 401, "{path}");
    }
    assert_eq!(
        wiber.stored_ids().await.len(),
        1,
        "the refused sends stored nothing"
    );
}

/// A JWKS endpoint whose key set can be swapped, counting the fetches.
struct JwksServer {
    url: String,
    body: Arc<RwLock<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(initial: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = Arc::new(RwLock::new(initial));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, count) = (body.clone(), fetches.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (served, count) = (served.clone(), count.clone());
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = served.read().await.clone();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { url, body, fetches }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_at_the_jwks_url_works_without_a_restart_and_bogus_kids_cannot_hammer_the_issuer()
 {
    let dir = issuer::key_dir();
    let old = IssuerKey::ed25519(&dir, "old");
    let new = IssuerKey::rsa(&dir, "new");
    let server = JwksServer::start(issuer::jwks(&[&old])).await;
    let env = jwt_env(
        ("AUTH_JWKS_URL", server.url.clone()),
        &[("AUTH_JWKS_REFRESH_SECONDS", "3")],
    );
    let wiber = Wiber::spawn(mongo_uri(), &env).await;
    wiber.wait_ready().await;
    let message = json!({"toUser": "bob", "content": "rotating"});
    let old_token = old.sign(&issuer::claims("alice"));
    assert_eq!(
        call(
            &wiber,
            Some(&old_token),
            "POST",
            "/messages",
            Some(message.clone())
        )
        .await
        .0,
        200
    );

    *server.body.write().await = issuer::jwks(&[&old, &new]);
    let new_token = new.sign(&issuer::claims("alice"));
    eventually(
        "the new key to be trusted",
        Duration::from_secs(30),
        || async {
            let status = call(
                &wiber,
                Some(&new_token),
                "POST",
                "/messages",
                Some(message.clone()),
            )
            .await
            .0;
            (status == 200).then_some(())
        },
    )
    .await;

    let before = server.fetches.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    for i in 0..50 {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = issuer::hs256(&format!("bogus-{i}"), secret, &issuer::claims("mallory"));
        let (status, body) = call(
            &wiber,
            Some(&token),
            "POST",
            "/messages",
            Some(message.clone()),
        )
        .await;
        assert_eq!(status, 401, "a made-up kid: {body}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let fetched = server.fetches.load(Ordering::SeqCst) - before;
    let allowed = (elapsed / 3.0).ceil() as usize + 1;
    assert!(
        fetched <= allowed,
        "{fetched} fetches in {elapsed:.1} s for unknown kids; at most {allowed}"
    );
}

#[tokio::test]
async fn bad_auth_settings_stop_the_api_at_start_naming_the_variable() {
    let dir = issuer::key_dir();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, issuer::jwks(&[&IssuerKey::ed25519(&dir, "k")])).unwrap();
    let file = jwks.display().to_string();
    let missing = dir.join("absent.json").display().to_string();
    // The settings, the exit code, and what the error must name.
    type Case<'a> = (Vec<(&'a str, &'a str)>, i32, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("AUTH_MODE", "jwt")], 2, "AUTH_JWKS_URL"),
        (vec![("AUTH_MODE", "open")], 2, "AUTH_MODE"),
        (
            vec![("AUTH_JWKS_FILE", &file), ("AUTH_AUDIENCE", "wiber")],
            2,
            "AUTH_ISSUER",
        ),
        (
            vec![("AUTH_JWKS_FILE", &file), ("AUTH_ISSUER", "i")],
            2,
            "AUTH_AUDIENCE",
        ),
        (
            vec![
                ("AUTH_JWKS_FILE", &file),
                ("AUTH_JWKS_URL", "https://i/jwks"),
            ],
            2,
            "only one key source",
        ),
        (vec![("AUTH_JWKS_URL", "ftp://i/jwks")], 2, "AUTH_JWKS_URL"),
        (
            vec![
                ("AUTH_JWKS_FILE", &file),
                ("AUTH_ISSUER", "i"),
                ("AUTH_AUDIENCE", "a"),
                ("AUTH_LEEWAY_SECONDS", "999"),
            ],
            2,
            "AUTH_LEEWAY_SECONDS",
        ),
        (
            vec![
                ("AUTH_JWKS_FILE", &missing),
                ("AUTH_ISSUER", "i"),
                ("AUTH_AUDIENCE", "a"),
            ],
            1,
            "absent.json",
        ),
    ];
    for (settings, code, named) in cases {
        let mut env: Vec<(String, String)> = vec![
            (
                "KAFKA_BOOTSTRAP_SERVERS".into(),
                wiber_e2e::kafka_bootstrap(),
            ),
            ("API_HOST".into(), "127.0.0.1".into()),
            (
                "API_PORT".into(),
                wiber_e2e::process::free_port().to_string(),
            ),
            (
                "API_ADMIN_PORT".into(),
                wiber_e2e::process::free_port().to_string(),
            ),
        ];
        env.extend(
            settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let binary = wiber_e2e::process::binary("wiber-api");
        let mut api = wiber_e2e::process::Process::spawn(binary, &[], &env, "api-bad-auth");
        let exit = api.wait_exit(Duration::from_secs(30));
        let log = api.log_text();
        assert_eq!(exit, Some(code), "{settings:?}: {log}");
        assert!(
            log.contains(named),
            "{settings:?} should name {named}: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_token_expires_saying_so_and_a_fresh_token_resumes_it() {
    let (key, env) = file_issuer(&[("AUTH_LEEWAY_SECONDS", "1")]);
    let wiber = Wiber::spawn(mongo_uri(), &env).await;
    wiber.wait_ready().await;
    let fresh = key.sign(&issuer::claims("alice"));
    eventually("streams served", STORED_WITHIN, || async {
        let r = wiber.open_stream(None, "", Some(&fresh), None).await;
        (r.status() == 200).then_some(())
    })
    .await;
    let mut claims = issuer::claims("alice");
    claims["exp"] = json!(issuer::now() + 3);
    let short = key.sign(&claims);
    let opened = wiber.open_stream(None, "", Some(&short), None).await;
    assert_eq!(opened.status(), 200);
    let mut stream = wiber_e2e::sse::SseStream::new(opened);
    let ready = stream.next(STORED_WITHIN).await.expect("ready");
    let last = ready.id.clone().expect("an id");
    let end = stream
        .next(std::time::Duration::from_secs(15))
        .await
        .expect("an end, not silence");
    assert_eq!(
        (end.event.as_str(), end.json()["reason"].clone()),
        ("end", json!("token_expired")),
        "{end:?}"
    );
    let ended = wiber_e2e::metrics::metric(
        &wiber.http,
        &wiber.admin_url,
        "wiber_api_push_disconnects_total",
        &[("reason", "token_expired")],
    )
    .await;
    assert_eq!(ended, Some(1.0));
    // The same token is refused now; a fresh one resumes from the last id.
    let refused = wiber.open_stream(None, "", Some(&short), Some(&last)).await;
    assert_eq!(refused.status(), 401);
    let resumed = wiber.open_stream(None, "", Some(&fresh), Some(&last)).await;
    assert_eq!(resumed.status(), 200);
}
