//! Bearer tokens against keys from a JWKS file: every way a token can be bad answers 401 with a
//! Bearer challenge and nothing is produced or read; a good one sends only as its user, and reads
//! and counts only what is that user's.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use wiber_api::auth::config::{JwtConfig, KeySource};
use wiber_api::auth::{Auth, Verifier};
use wiber_testkit::issuer::{self, AUDIENCE, ISSUER, IssuerKey};

use crate::fakes::*;

pub(crate) struct Setup {
    pub(crate) state: State,
    rsa: IssuerKey,
    pub(crate) ed: IssuerKey,
    jwks_file: PathBuf,
}

pub(crate) async fn setup(store: FakeStore) -> Setup {
    let dir = issuer::key_dir();
    let rsa = IssuerKey::rsa(&dir, "rsa-1");
    let ed = IssuerKey::ed25519(&dir, "ed-1");
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, issuer::jwks(&[&rsa, &ed])).unwrap();
    let verifier = Verifier::new(JwtConfig::new(
        ISSUER,
        AUDIENCE,
        KeySource::File(jwks_file.clone()),
    ))
    .await
    .unwrap();
    let state = state_with(
        FakeProducer::default(),
        store,
        Auth::Jwt(Box::new(verifier)),
    );
    Setup {
        state,
        rsa,
        ed,
        jwks_file,
    }
}

impl Setup {
    /// Whose inbox pages the store was asked for.
    fn store_pages(&self) -> Vec<String> {
        let pages = self.state.store.inbox_pages.lock().unwrap();
        pages.iter().map(|(user, _, _)| user.clone()).collect()
    }
}

fn with(claims: &Value, changes: Value) -> Value {
    let mut claims = claims.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn message() -> String {
    json!({"toUser": "bob", "content": "hi"}).to_string()
}

#[tokio::test]
async fn every_bad_token_answers_401_with_a_bearer_challenge_and_nothing_is_produced() {
    let s = setup(FakeStore::default()).await;
    let dir = issuer::key_dir();
    let stranger = IssuerKey::ed25519(&dir, "ed-1");
    let good = issuer::claims("alice");
    let now = issuer::now();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some("Basic YWxpY2U6c2VjcmV0".into())),
        ("malformed", Some("Bearer not.a.token".into())),
        (
            "forged: another key under a known kid",
            Some(format!("Bearer {}", stranger.sign(&good))),
        ),
        (
            "expired beyond the leeway",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"exp": now - 120})))
            )),
        ),
        (
            "not valid yet",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"nbf": now + 300})))
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"iss": "https://evil.test"})))
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"aud": "other"})))
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"exp": null})))
            )),
        ),
        (
            "no user",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"sub": null})))
            )),
        ),
        (
            "not a Wiber user",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"sub": "a b"})))
            )),
        ),
        (
            "issued ten years from now",
            Some(format!(
                "Bearer {}",
                s.ed.sign(&with(&good, json!({"iat": now + 10 * 365 * 86_400})))
            )),
        ),
        (
            "a critical extension it does not understand",
            Some(format!(
                "Bearer {}",
                s.ed.sign_critical(&["exp-binding"], &good)
            )),
        ),
        (
            "alg none",
            Some(format!("Bearer {}", issuer::unsigned("ed-1", &good))),
        ),
        (
            "HS256 signed with the RSA public key",
            Some(format!(
                "Bearer {}",
                issuer::hs256("rsa-1", &s.rsa.public_pem, &good)
            )),
        ),
        (
            "unknown kid",
            Some(format!(
                "Bearer {}",
                IssuerKey::ed25519(&dir, "ed-9").sign(&good)
            )),
        ),
    ];
    for (what, authorization) in cases {
        for request in [
            post(message()),
            get("/messages/alice/bob"),
            get("/messages/count?user1=alice"),
        ] {
            let mut request = request;
            if let Some(value) = &authorization {
                request
                    .headers_mut()
                    .insert(header::AUTHORIZATION, value.parse().unwrap());
            }
            let (status, headers, body) = call(router(&s.state), request).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
            let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert!(
                challenge.starts_with("Bearer realm=\"wiber\""),
                "{what}: {challenge}"
            );
            assert_eq!(
                challenge.contains("error=\"invalid_token\""),
                authorization.is_some(),
                "{what}: {challenge}"
            );
            assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
            let code = match what {
                "missing" => "token_missing",
                "expired beyond the leeway" => "token_expired",
                _ => "token_invalid",
            };
            assert_eq!(body["code"], code, "{what}");
            assert!(
                !body.to_string().contains("alice"),
                "{what}: a refusal carries no data: {body}"
            );
        }
    }
    assert!(s.state.producer.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_good_token_sends_as_its_user_whom_the_body_may_repeat_but_not_replace() {
    let s = setup(FakeStore::default()).await;
    let token = s.rsa.sign(&issuer::claims("alice"));
    let (status, _, answer) = call(router(&s.state), bearer(post(message()), &token)).await;
    assert_eq!(
        (status, &answer["fromUser"]),
        (StatusCode::OK, &json!("alice")),
        "{answer}"
    );
    let same = json!({"fromUser": "alice", "toUser": "bob", "content": "again"}).to_string();
    assert_eq!(
        call(router(&s.state), bearer(post(same), &token)).await.0,
        StatusCode::OK
    );
    let spoofed = json!({"fromUser": "mallory", "toUser": "bob", "content": "it's me"}).to_string();
    let (status, _, body) = call(router(&s.state), bearer(post(spoofed), &token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let sent = s.state.producer.sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, r)| r.from_user == "alice"));
}

#[tokio::test]
async fn a_token_just_past_exp_is_accepted_within_the_leeway() {
    let s = setup(FakeStore::default()).await;
    let token = s.ed.sign(&with(
        &issuer::claims("alice"),
        json!({"exp": issuer::now() - 10}),
    ));
    assert_eq!(
        call(router(&s.state), bearer(post(message()), &token))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn only_a_conversations_users_read_and_count_it_and_only_admins_count_everything() {
    let store = FakeStore {
        messages: vec![stored(
            "6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11",
            "alice",
            "bob",
            "secret",
            1,
        )],
        ..FakeStore::default()
    };
    let s = setup(store).await;
    let alice = s.ed.sign(&issuer::claims("alice"));
    let carol = s.ed.sign(&issuer::claims("carol"));
    let admin = s.ed.sign(&with(
        &issuer::claims("ops"),
        json!({"scope": "openid wiber:admin"}),
    ));
    let expect = [
        (&carol, "/messages/alice/bob", StatusCode::FORBIDDEN),
        (&carol, "/messages/user/alice", StatusCode::FORBIDDEN),
        (&carol, "/messages/count?user1=alice", StatusCode::FORBIDDEN),
        (
            &carol,
            "/messages/count?user1=alice&user2=bob",
            StatusCode::FORBIDDEN,
        ),
        (&carol, "/messages/count", StatusCode::FORBIDDEN),
        (&alice, "/messages/count", StatusCode::FORBIDDEN),
        (&carol, "/messages/user/carol", StatusCode::OK),
        (&alice, "/messages/alice/bob", StatusCode::OK),
        (&alice, "/messages/bob/alice", StatusCode::OK),
        (&alice, "/messages/user/alice", StatusCode::OK),
        (
            &alice,
            "/messages/count?user1=bob&user2=alice",
            StatusCode::OK,
        ),
        (&admin, "/messages/count", StatusCode::OK),
        (&admin, "/messages/count?user1=alice", StatusCode::OK),
    ];
    for (token, path, wanted) in expect {
        let (status, _, body) = call(router(&s.state), bearer(get(path), token)).await;
        assert_eq!(status, wanted, "{path}: {body}");
        if status == StatusCode::FORBIDDEN {
            assert!(!body.to_string().contains("secret"), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn only_members_list_and_mark_a_conversation_and_nobody_lists_anothers_inbox() {
    let id = "6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11";
    let store = FakeStore {
        messages: vec![stored(id, "alice", "bob", "secret", 1)],
        ..FakeStore::default()
    };
    let s = setup(store).await;
    let alice = s.ed.sign(&issuer::claims("alice"));
    let carol = s.ed.sign(&issuer::claims("carol"));
    let mark = |token: &str| {
        let request = axum::http::Request::post("/conversations/alice:bob/read")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                json!({ "messageId": id }).to_string(),
            ))
            .unwrap();
        bearer(request, token)
    };
    let (status, _, body) = call(router(&s.state), mark(&carol)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.to_string().contains("secret"), "{body}");
    for (token, path, wanted) in [
        (&carol, "/conversations?user=alice", StatusCode::FORBIDDEN),
        (&alice, "/conversations?user=alice", StatusCode::OK),
        (&alice, "/conversations", StatusCode::OK),
    ] {
        let (status, _, body) = call(router(&s.state), bearer(get(path), token)).await;
        assert_eq!(status, wanted, "{path}: {body}");
    }
    let asked = s.store_pages();
    assert!(asked.iter().all(|user| user == "alice"), "{asked:?}");
    let (status, _, _) = call(router(&s.state), get("/conversations")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_added_to_the_jwks_file_is_trusted_without_a_restart_and_a_removed_one_is_not() {
    let s = setup(FakeStore::default()).await;
    let dir = issuer::key_dir();
    let rotated = IssuerKey::ed25519(&dir, "ed-2");
    let new_token = rotated.sign(&issuer::claims("alice"));
    let old_token = s.ed.sign(&issuer::claims("alice"));
    assert_eq!(
        call(router(&s.state), bearer(post(message()), &new_token))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    std::fs::write(&s.jwks_file, issuer::jwks(&[&s.rsa, &rotated])).unwrap();
    wiber_testkit::wait::eventually(
        "the rotated key to be trusted",
        Duration::from_secs(10),
        || async {
            let status = call(router(&s.state), bearer(post(message()), &new_token))
                .await
                .0;
            (status == StatusCode::OK).then_some(())
        },
    )
    .await;
    assert_eq!(
        call(router(&s.state), bearer(post(message()), &old_token))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn me_answers_whom_the_token_names_and_until_when_and_no_one_else() {
    let s = setup(FakeStore::default()).await;
    let claims = issuer::claims("alice");
    let token = s.ed.sign(&claims);
    let (status, _, body) = call(router(&s.state), bearer(get("/me"), &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["admin"], false);
    let exp = claims["exp"].as_u64().unwrap();
    let until = body["acceptedUntil"].as_u64().unwrap();
    assert!(until > exp, "the leeway counts: {until} after {exp}");
    let (status, _, body) = call(router(&s.state), bearer(get("/me?user=bob"), &token)).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, _, body) = call(router(&s.state), get("/me")).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("token_missing"))
    );
    // Without authentication, the user asked for, and a user must be asked for.
    let open = state(FakeProducer::default(), FakeStore::default());
    let (status, _, body) = call(router(&open), get("/me?user=carol")).await;
    assert_eq!((status, &body["user"]), (StatusCode::OK, &json!("carol")));
    assert_eq!(
        call(router(&open), get("/me")).await.0,
        StatusCode::BAD_REQUEST
    );
}
