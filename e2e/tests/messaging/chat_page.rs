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
    // The list catches up with bob's reply; the conversation open on screen has no unread badge.
    alice
        .wait_for_text("#conversations", "bob: right here, alice", SEEN_WITHIN)
        .await;
    let list = alice.text("#conversations").await;
    assert!(
        !list.contains('1'),
        "no badge on the open conversation: {list}"
    );
    assert!(log.contains("alice") && log.contains("bob"), "{log}");

    if let Some(path) = std::env::var_os("WIBER_SCREENSHOT") {
        std::fs::write(path, alice.screenshot().await).unwrap();
    }
    // A token the API does not trust (signed by another key) is refused at once, and said so.
    let untrusted = issuer::IssuerKey::ed25519(&issuer::key_dir(), "untrusted");
    let stranger = driver.browser().await;
    stranger.goto(&page).await;
    stranger
        .type_into("#token", &untrusted.sign(&issuer::claims("mallory")))
        .await;
    stranger.click("#signin").await;
    stranger
        .wait_for_text("#status", "sign-in refused", SEEN_WITHIN)
        .await;
    windows.push(stranger);
    if let Some(path) = std::env::var_os("WIBER_SCREENSHOT") {
        let mut path = std::path::PathBuf::from(path);
        path.set_extension("refused.png");
        std::fs::write(path, windows[2].screenshot().await).unwrap();
    }
    for w in windows {
        w.quit().await;
    }
}

/// Signs `user` in at `page` in a browser of their own, and waits for the stream.
async fn signed_in(driver: &Driver, page: &str, token: &str) -> wiber_e2e::browser::Browser {
    let browser = driver.browser().await;
    browser.goto(page).await;
    browser.type_into("#token", token).await;
    browser.click("#signin").await;
    browser.wait_for_text("#status", "live", SEEN_WITHIN).await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_run_a_group_with_unread_badges_ticks_typing_edits_and_a_removal() {
    let (wiber, _consumer, key) = Wiber::with_issuer(&[]).await;
    let driver = Driver::start().await;
    let page = format!("{}/chat", wiber.api_url);
    let token = |user: &str| key.sign(&issuer::claims(user));
    let alice = signed_in(&driver, &page, &token("alice")).await;
    let bob = signed_in(&driver, &page, &token("bob")).await;
    let carol = signed_in(&driver, &page, &token("carol")).await;

    // Alice makes the group; it shows in the others' lists with its unread messages.
    alice.type_into("#group-members", "bob, carol").await;
    alice.type_into("#group-title", "Trip").await;
    alice.click("#create-group").await;
    alice.wait_for_text("#title", "Trip", SEEN_WITHIN).await;
    alice.type_into("#content", "hello group").await;
    alice.click("#send").await;
    for other in [&bob, &carol] {
        other
            .wait_for_text("#conversations", "hello group", SEEN_WITHIN)
            .await;
        other
            .wait_for_text("#conversations .badge", "2", SEEN_WITHIN)
            .await;
    }

    // Both open it: alice's message is seen by all, and the badges go.
    for other in [&bob, &carol] {
        other.click("#conversations li").await;
        other
            .wait_for_text("#log", "hello group", SEEN_WITHIN)
            .await;
    }
    alice
        .wait_for_text("#log li.mine .tick", "seen by all", SEEN_WITHIN)
        .await;
    // Its badge goes once the page has marked it read and the list refreshed.
    wiber_e2e::wait::eventually("bob's badge to go", SEEN_WITHIN, || async {
        let list = bob.text("#conversations").await;
        (list.contains("Trip") && !list.contains('2')).then_some(())
    })
    .await;

    // Bob types: alice sees it live.
    bob.type_into("#content", "on my way").await;
    alice
        .wait_for_text("#typing", "bob is typing", SEEN_WITHIN)
        .await;
    bob.click("#send").await;
    alice.wait_for_text("#log", "on my way", SEEN_WITHIN).await;

    // Alice edits her message, then sends and deletes another: the others see both changes.
    alice.click("#log li.mine button.edit").await;
    alice.type_into("#content", ", everyone").await;
    alice.click("#send").await;
    alice.type_into("#content", "oops, wrong group").await;
    alice.click("#send").await;
    carol
        .wait_for_text("#log", "oops, wrong group", SEEN_WITHIN)
        .await;
    bob.wait_for_text("#log", "hello group, everyone (edited)", SEEN_WITHIN)
        .await;
    alice
        .wait_for_text("#log", "oops, wrong group", SEEN_WITHIN)
        .await;
    alice.click("#log li.mine:last-child button.delete").await;
    for other in [&bob, &carol] {
        other.wait_for_text("#log", "(deleted)", SEEN_WITHIN).await;
        assert!(
            !other.text("#log").await.contains("oops"),
            "the content is gone"
        );
    }

    // Alice removes carol: carol sees her removal and nothing after it.
    alice
        .click("#member-list button.remove[data-user=\"carol\"]")
        .await;
    carol
        .wait_for_text("#log", "alice removed carol", SEEN_WITHIN)
        .await;
    carol
        .wait_for_text("#members", "removed", SEEN_WITHIN)
        .await;
    alice.type_into("#content", "just us now").await;
    alice.click("#send").await;
    bob.wait_for_text("#log", "just us now", SEEN_WITHIN).await;
    assert!(!carol.text("#log").await.contains("just us now"));

    // Bob reloads: still signed in (for the tab's life), the history and the edit still there.
    bob.goto(&page).await;
    bob.wait_for_text("#status", "bob: live", SEEN_WITHIN).await;
    bob.wait_for_text("#conversations", "Trip", SEEN_WITHIN)
        .await;
    bob.click("#conversations li").await;
    bob.wait_for_text("#log", "just us now", SEEN_WITHIN).await;
    let log = bob.text("#log").await;
    assert!(
        log.contains("hello group, everyone (edited)") && log.contains("(deleted)"),
        "{log}"
    );
    assert!(
        log.find("hello group").unwrap() < log.find("just us now").unwrap(),
        "{log}"
    );

    if let Some(path) = std::env::var_os("WIBER_SCREENSHOT") {
        let mut path = std::path::PathBuf::from(path);
        path.set_extension("group.png");
        std::fs::write(&path, alice.screenshot().await).unwrap();
        path.set_extension("removed.png");
        std::fs::write(path, carol.screenshot().await).unwrap();
    }
    for w in [alice, bob, carol] {
        w.quit().await;
    }
}
