//! A bounded fuzzing pass over what a client controls: the bearer token (random, and a good one
//! with one byte changed), the headers the API reads, the path, the query and the body. Whatever
//! arrives, the answer is never a 5xx: bad input is the client's error, never the server's.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use wiber_api::app;
use wiber_api::auth::config::{JwtConfig, KeySource};
use wiber_api::auth::{Auth, Verifier};
use wiber_testkit::issuer::{self, AUDIENCE, ISSUER, IssuerKey};

use crate::fakes::*;

#[derive(Debug, Clone)]
struct Attempt {
    method: Method,
    path: String,
    authorization: Option<Vec<u8>>,
    content_type: Option<String>,
    idempotency_key: Option<Vec<u8>>,
    body: Vec<u8>,
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        "[a-zA-Z0-9._%~-]{0,60}",
        Just("..".to_owned()),
        Just("%00".to_owned()),
        Just("%FF%FE".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let query = prop_oneof![
        Just(String::new()),
        "\\?(limit|skip|after|user1|user2)=[a-zA-Z0-9%+=_-]{0,40}",
        "\\?limit=-?[0-9]{1,25}&skip=-?[0-9]{1,25}",
    ];
    let route = prop_oneof![
        Just("/messages".to_owned()),
        Just("/messages/count".to_owned()),
        segment().prop_map(|u| format!("/messages/user/{u}")),
        (segment(), segment()).prop_map(|(a, b)| format!("/messages/{a}/{b}")),
        Just("/openapi.json".to_owned()),
        Just("/health/readiness".to_owned()),
    ];
    (route, query).prop_map(|(r, q)| format!("{r}{q}"))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just(serde_json::json!("alice")),
        Just(serde_json::json!("")),
        Just(serde_json::json!(null)),
        Just(serde_json::json!(12345678901234567890u64)),
        Just(serde_json::json!(["a"])),
        "\\PC{0,80}".prop_map(serde_json::Value::from),
    ];
    let json = (field.clone(), field.clone(), field, any::<bool>()).prop_map(|(f, t, c, extra)| {
        let mut v = serde_json::json!({ "fromUser": f, "toUser": t, "content": c });
        if extra {
            v["unexpected"] = serde_json::json!(1);
        }
        v.to_string().into_bytes()
    });
    prop_oneof![json, proptest::collection::vec(any::<u8>(), 0..200)]
}

/// A byte a header value may hold (visible ASCII, space, tab and obs-text): anything else cannot
/// be sent, so generating it would only test `http`.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'\t'),
        (0x20u8..=0xff).prop_filter("DEL", |b| *b != 0x7f)
    ]
}

/// A token: random bytes, a random `Bearer` value, or a good token with one byte changed.
fn authorization(good: String) -> impl Strategy<Value = Option<Vec<u8>>> {
    let mutated = (0..good.len(), header_byte()).prop_map(move |(at, byte)| {
        let mut t = format!("Bearer {good}").into_bytes();
        t[7 + at] = byte;
        t
    });
    prop_oneof![
        Just(None),
        proptest::collection::vec(header_byte(), 0..120).prop_map(Some),
        "Bearer [A-Za-z0-9_.=-]{0,300}".prop_map(|s| Some(s.into_bytes())),
        mutated.prop_map(Some),
    ]
}

fn attempt(good: String) -> impl Strategy<Value = Attempt> {
    let method = prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT)];
    let content_type = proptest::option::of(prop_oneof![
        Just("application/json".to_owned()),
        Just("application/json; charset=utf-8".to_owned()),
        "[a-z/;= -]{0,30}",
    ]);
    let key = proptest::option::of(proptest::collection::vec(header_byte(), 0..300));
    (
        method,
        path(),
        authorization(good),
        content_type,
        key,
        body(),
    )
        .prop_map(
            |(method, path, authorization, content_type, idempotency_key, body)| Attempt {
                method,
                path,
                authorization,
                content_type,
                idempotency_key,
                body,
            },
        )
}

/// The request, or `None` when `http` itself cannot carry it (such bytes never reach a handler).
fn request(a: &Attempt) -> Option<Request<Body>> {
    let mut builder = Request::builder().method(a.method.clone()).uri(&a.path);
    if let Some(token) = &a.authorization {
        builder = builder.header(header::AUTHORIZATION, HeaderValue::from_bytes(token).ok()?);
    }
    if let Some(ct) = &a.content_type {
        builder = builder.header(header::CONTENT_TYPE, HeaderValue::from_str(ct).ok()?);
    }
    if let Some(key) = &a.idempotency_key {
        builder = builder.header("idempotency-key", HeaderValue::from_bytes(key).ok()?);
    }
    builder.body(Body::from(a.body.clone())).ok()
}

#[test]
fn no_token_header_path_or_body_gets_a_server_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = issuer::key_dir();
    let key = IssuerKey::ed25519(&dir, "ed-fuzz");
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, issuer::jwks(&[&key])).unwrap();
    let verifier = runtime
        .block_on(Verifier::new(JwtConfig::new(
            ISSUER,
            AUDIENCE,
            KeySource::File(jwks_file),
        )))
        .unwrap();
    let state = state_with(
        FakeProducer::default(),
        FakeStore::default(),
        Auth::Jwt(Box::new(verifier)),
    );
    let good = key.sign(&issuer::claims("alice"));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let served = std::cell::Cell::new(0);
    runner
        .run(&attempt(good), |a| {
            let Some(request) = request(&a) else {
                return Ok(());
            };
            let (status, _, body) = runtime.block_on(call(app(state.clone()), request));
            served.set(served.get() + 1);
            prop_assert!(!status.is_server_error(), "{a:?} answered {status}: {body}");
            Ok(())
        })
        .unwrap();
    // Most attempts must reach the router, or the pass proves little.
    let served = served.get();
    assert!(served > 200, "only {served} of 400 attempts were requests");
}
