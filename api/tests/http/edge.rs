//! The HTTP edge as the binary serves it: request ids, CORS for configured origins only, gzip, and
//! each user's rate limit (429 with Retry-After, then recovery).

use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use wiber_api::app;
use wiber_api::auth::config::{JwtConfig, KeySource};
use wiber_api::auth::{Auth, Verifier};
use wiber_api::edge::{EdgeConfig, wrap};
use wiber_api::rate_limit::UserLimits;
use wiber_testkit::issuer::{self, AUDIENCE, ISSUER, IssuerKey};

use crate::fakes::*;

const ORIGIN: &str = "https://chat.example";

fn edge() -> EdgeConfig {
    EdgeConfig {
        cors_origins: vec![ORIGIN.parse().unwrap()],
        max_in_flight: 64,
        rate: None,
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_given_one_is_echoed() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (_, headers, _) = call(wrap(app(s.clone()), &edge()), get("/health/liveness")).await;
    let generated = headers["x-request-id"].to_str().unwrap();
    assert!(generated.parse::<uuid::Uuid>().is_ok(), "{generated}");
    let mut request = get("/messages/alice/bob");
    request
        .headers_mut()
        .insert("x-request-id", "client-42".parse().unwrap());
    let (_, headers, _) = call(wrap(app(s), &edge()), request).await;
    assert_eq!(headers["x-request-id"], "client-42");
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/messages")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_cors_preflight_is_allowed_for_a_configured_origin_and_refused_for_another() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (_, headers, _) = call(wrap(app(s.clone()), &edge()), preflight(ORIGIN)).await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let (_, headers, _) = call(wrap(app(s), &edge()), preflight("https://evil.example")).await;
    assert!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "{headers:?}"
    );
}

#[tokio::test]
async fn answers_are_gzipped_for_clients_that_accept_it() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let mut request = get("/openapi.json");
    request
        .headers_mut()
        .insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
    let (status, headers, _) = call(wrap(app(s), &edge()), request).await;
    assert_eq!(
        (status, &headers[header::CONTENT_ENCODING]),
        (StatusCode::OK, &"gzip".parse().unwrap())
    );
}

#[tokio::test]
async fn a_user_is_told_the_rate_left_then_over_the_limit_gets_429_with_retry_after_then_is_served_again()
 {
    let dir = issuer::key_dir();
    let key = IssuerKey::ed25519(&dir, "k");
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, issuer::jwks(&[&key])).unwrap();
    let verifier = Verifier::new(JwtConfig::new(ISSUER, AUDIENCE, KeySource::File(jwks)))
        .await
        .unwrap();
    let mut s = state_with(
        FakeProducer::default(),
        FakeStore::default(),
        Auth::Jwt(Box::new(verifier)),
    );
    let one = NonZeroU32::new(1).unwrap();
    std::sync::Arc::get_mut(&mut s).unwrap().access.limits = Some(std::sync::Arc::new(
        UserLimits::new(one, NonZeroU32::new(2).unwrap()),
    ));
    let alice = key.sign(&issuer::claims("alice"));
    let bob = key.sign(&issuer::claims("bob"));
    let read = |token: &str| bearer(get("/messages/user/alice"), token);
    for left in [1, 0] {
        let (status, headers, _) = call(router(&s), read(&alice)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["ratelimit-policy"], "\"user\";q=2;w=2");
        assert_eq!(
            headers["ratelimit"],
            format!("\"user\";r={left};t={}", 2 - left).as_str()
        );
    }
    let (status, headers, body) = call(router(&s), read(&alice)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(headers["ratelimit"], "\"user\";r=0;t=2");
    assert_eq!(body["code"], "rate_limited");
    // Another user's bucket is their own.
    assert_eq!(
        call(router(&s), bearer(get("/messages/user/bob"), &bob))
            .await
            .0,
        StatusCode::OK
    );
    wiber_testkit::wait::eventually(
        "alice's bucket to refill",
        Duration::from_secs(5),
        || async { (call(router(&s), read(&alice)).await.0 == StatusCode::OK).then_some(()) },
    )
    .await;
}
