//! The chat page where a person meets the edges: a long conversation (it opens at the newest
//! messages, older ones load on scrolling up), a long unbroken word, a reload, a bad token at
//! sign-in, and a token expiring while the page is open, each said in words.

use std::time::Duration;

use serde_json::json;
use wiber_e2e::browser::{Browser, Driver};
use wiber_e2e::issuer::{self, IssuerKey};
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;

const SEEN_WITHIN: Duration = Duration::from_secs(60);

fn token(key: &IssuerKey, user: &str, ttl: Duration) -> String {
    let mut claims = issuer::claims(user);
    claims["exp"] = json!(issuer::now() + ttl.as_secs());
    key.sign(&claims)
}

async fn sign_in(browser: &Browser, page: &str, token: &str) {
    browser.goto(page).await;
    browser.type_into("#token", token).await;
    browser.click("#signin").await;
}

/// How many messages the log shows, and the text of its first and last.
async fn log_ends(browser: &Browser) -> (u64, String, String) {
    let ends = browser
        .execute(
            "const items = [...document.querySelectorAll('#log li .text')];
             return [items.length, items[0]?.textContent ?? '', items.at(-1)?.textContent ?? ''];",
        )
        .await;
    (
        ends[0].as_u64().unwrap_or(0),
        ends[1].as_str().unwrap_or_default().to_owned(),
        ends[2].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_of_300_opens_at_its_newest_and_scrolls_back_to_its_first() {
    let (wiber, _consumer, key) = Wiber::with_issuer(&[("API_RATE_LIMIT_PER_SECOND", "0")]).await;
    let alice = token(&key, "alice", Duration::from_secs(600));
    for i in 1..=300 {
        let sent = wiber
            .http
            .post(format!("{}/messages", wiber.api_url))
            .bearer_auth(&alice)
            .json(&json!({"toUser": "bob", "content": format!("m{i}")}))
            .send()
            .await
            .expect("POST /messages");
        assert!(sent.status().is_success(), "{}", sent.status());
    }
    let long_word = format!("https://example.com/{}", "x".repeat(400));
    let driver = Driver::start().await;
    let page = format!("{}/chat", wiber.api_url);
    let bob = driver.browser().await;
    sign_in(&bob, &page, &token(&key, "bob", Duration::from_secs(600))).await;
    bob.wait_for_text("#status", "bob: live", SEEN_WITHIN).await;
    bob.wait_for_text("#conversations", "m300", SEEN_WITHIN)
        .await;
    bob.click("#conversations li").await;
    eventually("the newest hundred", SEEN_WITHIN, || async {
        (log_ends(&bob).await == (100, "m201".into(), "m300".into())).then_some(())
    })
    .await;

    // Scrolled to the top, twice: the older pages come in above, oldest first.
    eventually("all 300, back to the first", SEEN_WITHIN, || async {
        bob.execute("document.getElementById('log').scrollTop = 0; document.getElementById('log').dispatchEvent(new Event('scroll')); return null;")
            .await;
        (log_ends(&bob).await == (300, "m1".into(), "m300".into())).then_some(())
    })
    .await;
    assert!(
        bob.text("#older").await.is_empty(),
        "no older messages are offered past the first"
    );

    // A long unbroken word stays inside its bubble.
    bob.type_into("#content", &long_word).await;
    bob.click("#send").await;
    bob.wait_for_text("#log", "https://example.com/xxx", SEEN_WITHIN)
        .await;
    let overflow = bob
        .execute(
            "const log = document.getElementById('log');
             const last = log.querySelector('li:last-child');
             return [log.scrollWidth - log.clientWidth, last.scrollWidth - last.clientWidth];",
        )
        .await;
    assert_eq!(
        overflow,
        json!([0, 0]),
        "the log and the bubble do not scroll sideways"
    );

    // A reload in the same tab keeps who you are.
    bob.goto(&page).await;
    bob.wait_for_text("#status", "bob: live", SEEN_WITHIN).await;
    bob.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_at_sign_in_and_an_expiring_one_is_said_when_it_expires() {
    let (wiber, _consumer, key) = Wiber::with_issuer(&[("AUTH_LEEWAY_SECONDS", "0")]).await;
    let driver = Driver::start().await;
    let page = format!("{}/chat", wiber.api_url);
    let browser = driver.browser().await;
    for (bad, said) in [
        ("garbage".to_owned(), "this token is not accepted here"),
        (
            token(&key, "alice", Duration::ZERO).replace('.', ".x"),
            "this token is not accepted here",
        ),
    ] {
        sign_in(&browser, &page, &bad).await;
        browser.wait_for_text("#status", said, SEEN_WITHIN).await;
        assert!(
            !browser.text("#status").await.contains("reconnecting"),
            "a refused token is said, not retried"
        );
    }

    // Signed in with a token for ten more seconds: live, then told plainly once it expired.
    sign_in(
        &browser,
        &page,
        &token(&key, "alice", Duration::from_secs(10)),
    )
    .await;
    browser
        .wait_for_text("#status", "alice: live", SEEN_WITHIN)
        .await;
    browser
        .wait_for_text("#status", "your token has expired", SEEN_WITHIN)
        .await;
    // Back to sign-in, with a fresh token: live again.
    sign_in(
        &browser,
        &page,
        &token(&key, "alice", Duration::from_secs(600)),
    )
    .await;
    browser
        .wait_for_text("#status", "alice: live", SEEN_WITHIN)
        .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browsable_reference_shows_every_route_from_the_served_document() {
    let (wiber, _consumer, _key) = Wiber::with_issuer(&[]).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&format!("{}/docs/", wiber.api_url)).await;
    for route in [
        "/conversations/{conversationId}/messages",
        "/messages/ws",
        "/me",
    ] {
        browser.wait_for_text("body", route, SEEN_WITHIN).await;
    }
    browser.quit().await;
}
