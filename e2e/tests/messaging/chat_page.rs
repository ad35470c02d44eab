//! The chat page in headless Chromium: two people, each in a browser of their own signed in with
//! a token, chat through the real API, Kafka, consumer and store; each sees the other's message
//! appear without a reload. `WIBER_SCREENSHOT=<path>` keeps a picture of the first window.

use std::time::Duration;

use wiber_e2e::browser::Driver;
use wiber_e2e::issuer;
use wiber_e2e::stack::Wiber;

const SEEN_WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_live_in_their_browsers() {
    let (wiber, _consumer, key) = Wiber::with_issuer(&[]).await;
    let driver = Driver::start().await;
    let page = format!("{}/chat", wiber.api_url);

    let mut windows = Vec::new();
    for (user, peer) in [("alice", "bob"), ("bob", "alice")] {
        let browser = driver.browser().await;
        browser.goto(&page).await;
        browser
            .type_into("#token", &key.sign(&issuer::claims(user)))
            .await;
        browser.type_into("#peer", peer).await;
        browser.click("#open").await;
        browser.wait_for_text("#status", "live", SEEN_WITHIN).await;
        windows.push(browser);
    }
    let (alice, bob) = (&windows[0], &windows[1]);

    alice
        .type_into("#content", "hello bob, are you there?")
        .await;
    alice.click("#send").await;
    bob.wait_for_text("#log", "hello bob, are you there?", SEEN_WITHIN)
        .await;
    bob.type_into("#content", "right here, alice").await;
    bob.click("#send").await;
    alice
        .wait_for_text("#log", "right here, alice", SEEN_WITHIN)
        .await;
    let log = alice.text("#log").await;
    assert!(
        log.find("hello bob").unwrap() < log.find("right here").unwrap(),
        "in order: {log}"
    );
    assert!(log.contains("alice") && log.contains("bob"), "{log}");

    if let Some(path) = std::env::var_os("WIBER_SCREENSHOT") {
        std::fs::write(path, alice.screenshot().await).unwrap();
    }
    for w in windows {
        w.quit().await;
    }
}
