//! Timing the API's reads (and a keyed POST) at one store size: each operation repeated, one
//! request at a time, reported as p50/p99/max with any answer other than 200 counted apart.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::dataset;

pub struct Measure<'a> {
    pub api: &'a str,
    pub label: &'a str,
    pub samples: usize,
    /// An operation stops repeating after this long, so a slow one cannot hold the run for hours.
    pub budget: Duration,
}

struct Timings {
    ok: Vec<Duration>,
    failed: usize,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn time<F, Fut>(m: &Measure<'_>, what: &str, mut request: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut t = Timings {
        ok: Vec::new(),
        failed: 0,
    };
    let started = Instant::now();
    for i in 0..m.samples {
        let begun = Instant::now();
        let answer = request(i).await;
        let ok = match answer {
            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            t.ok.push(begun.elapsed())
        } else {
            t.failed += 1
        }
        if started.elapsed() > m.budget {
            break;
        }
    }
    t.ok.sort();
    let row = if t.ok.is_empty() {
        "-".to_owned()
    } else {
        format!(
            "{:>9} {:>9} {:>9}",
            ms(percentile(&t.ok, 0.5)),
            ms(percentile(&t.ok, 0.99)),
            ms(*t.ok.last().expect("one"))
        )
    };
    println!(
        "{:<10} {what:<34} {:>4} {row} {:>6}",
        m.label,
        t.ok.len(),
        t.failed
    );
}

async fn json(http: &reqwest::Client, url: String) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

async fn count(http: &reqwest::Client, url: String) -> Option<u64> {
    json(http, url).await?["count"].as_u64()
}

async fn next_cursor(http: &reqwest::Client, url: &str) -> Option<String> {
    let page = http.get(url).send().await.ok()?;
    page.headers()
        .get("x-next-cursor")?
        .to_str()
        .ok()
        .map(str::to_owned)
}

/// The cursor halfway through a conversation, found by a skip (not timed).
async fn middle_cursor(http: &reqwest::Client, api: &str, a: &str, b: &str) -> Option<String> {
    let size = count(http, format!("{api}/messages/count?user1={a}&user2={b}")).await?;
    next_cursor(
        http,
        &format!("{api}/messages/{a}/{b}?limit=1&skip={}", size / 2),
    )
    .await
}

/// The inbox cursor `pages` pages of 100 deep (not timed), past the recent lists of a user in
/// more than `RECENT_KEPT` conversations per partition.
async fn deep_inbox_cursor(
    http: &reqwest::Client,
    api: &str,
    user: &str,
    pages: usize,
) -> Option<String> {
    let mut cursor: Option<String> = None;
    for _ in 0..pages {
        let before = cursor.map(|c| format!("&before={c}")).unwrap_or_default();
        cursor = Some(
            next_cursor(
                http,
                &format!("{api}/conversations?user={user}&limit=100{before}"),
            )
            .await?,
        );
    }
    cursor
}

fn skipped(label: &str, what: &str) {
    println!("{label:<10} {what}: could not be set up");
}

pub async fn measure(m: Measure<'_>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let api = m.api;
    let (a, b) = dataset::typical_conversation();
    let (la, lb) = dataset::LONG[0];
    let (ra, rb) = dataset::REFERENCE;
    let busy = dataset::busy_user();
    let cold = dataset::cold_user();
    let (group, member) = dataset::largest_group();
    println!(
        "{:<10} {:<34} {:>4} {:>9} {:>9} {:>9} {:>6}",
        "store", "operation (ms)", "n", "p50", "p99", "max", "not200"
    );
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{api}{path}");
        move |_| http.get(url.clone()).send()
    };
    // A chat app's first screen: the inbox, newest activity first, with unread counts.
    let inbox =
        |user: &str, extra: &str| get(format!("/conversations?user={user}&limit=20{extra}"));
    time(&m, "inbox first page, busy user", inbox(&busy, "")).await;
    time(&m, "inbox first page, cold user", inbox(&cold, "")).await;
    match next_cursor(&http, &format!("{api}/conversations?user={busy}&limit=20")).await {
        Some(c) => {
            time(
                &m,
                "inbox second page, busy user",
                inbox(&busy, &format!("&before={c}")),
            )
            .await
        }
        None => skipped(m.label, "inbox second page"),
    }
    let deep = wiber_common::readmodel::RECENT_KEPT * 3 / 100 + 2;
    match deep_inbox_cursor(&http, api, &busy, deep).await {
        Some(c) => {
            let what = format!("inbox page {}, busy user", deep * 5 + 1);
            time(&m, &what, inbox(&busy, &format!("&before={c}"))).await
        }
        None => skipped(
            m.label,
            "inbox deep page (a busy user in fewer conversations?)",
        ),
    }
    let page = |x: &str, y: &str, q: String| get(format!("/messages/{x}/{y}?limit=50{q}"));
    time(&m, "conversation first page", page(&a, &b, String::new())).await;
    for (what, (x, y)) in [
        ("conversation", (a.as_str(), b.as_str())),
        ("longest conversation", (la, lb)),
    ] {
        match count(&http, format!("{api}/messages/count?user1={x}&user2={y}")).await {
            Some(size) => {
                let skip = format!("&skip={}", size.saturating_sub(50));
                time(&m, &format!("{what}, newest page"), page(x, y, skip)).await
            }
            None => skipped(m.label, &format!("{what}, newest page")),
        }
    }
    match middle_cursor(&http, api, la, lb).await {
        Some(c) => {
            time(
                &m,
                "longest conversation, page halfway",
                page(la, lb, format!("&after={c}")),
            )
            .await
        }
        None => skipped(m.label, "longest conversation, page halfway"),
    }
    let group_size = json(
        &http,
        format!("{api}/conversations?user={member}&limit=100"),
    )
    .await
    .and_then(|inbox| {
        let entries = inbox.as_array()?.clone();
        let entry = entries
            .iter()
            .find(|e| e["conversationId"] == group.as_str())?;
        entry["messageCount"].as_u64()
    });
    match group_size {
        Some(size) => {
            let after = size.saturating_sub(50);
            let path =
                format!("/conversations/{group}/messages?user={member}&limit=50&after={after}");
            time(&m, "group of 256, newest page", get(path)).await
        }
        None => skipped(m.label, "group of 256, newest page"),
    }
    time(
        &m,
        "reference conversation page (100)",
        page(ra, rb, String::new()),
    )
    .await;
    let counted = |q: String| get(format!("/messages/count?{q}"));
    time(
        &m,
        "count, conversation",
        counted(format!("user1={a}&user2={b}")),
    )
    .await;
    time(
        &m,
        "count, longest conversation",
        counted(format!("user1={la}&user2={lb}")),
    )
    .await;
    time(&m, "count, busy user", counted(format!("user1={busy}"))).await;
    time(&m, "count, cold user", counted(format!("user1={cold}"))).await;
    time(&m, "count, all messages", counted(String::new())).await;
    mark_read(&m, &http, la, lb).await;
    time(
        &m,
        "user's recent messages, cold",
        get(format!("/messages/user/{cold}?limit=50")),
    )
    .await;
    let run = format!("{}-{}", m.label, std::process::id());
    let post = |i: usize| {
        http.post(format!("{api}/messages"))
            .header("Idempotency-Key", format!("{run}-{i}"))
            .json(&json!({"fromUser": "keyed-sender", "toUser": "keyed-peer", "content": format!("keyed {i}")}))
            .send()
    };
    time(&m, "POST with Idempotency-Key", post).await;
    time(
        &m,
        "user's recent messages, busy",
        get(format!("/messages/user/{busy}?limit=50")),
    )
    .await;
}

/// A member marking a long conversation read message by message, each mark further than the
/// last (so each moves it): the answer carries the entry with its unread count.
async fn mark_read(m: &Measure<'_>, http: &reqwest::Client, a: &str, b: &str) {
    let api = m.api;
    let page = json(http, format!("{api}/messages/{a}/{b}?limit={}", m.samples)).await;
    let ids: Vec<String> = page
        .as_ref()
        .and_then(|p| p.as_array())
        .map(|p| {
            p.iter()
                .filter_map(|x| x["messageId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ids.len() < m.samples {
        return skipped(m.label, "marked-read round trip");
    }
    let conversation = format!("{a}:{b}");
    let mark = |i: usize| {
        http.post(format!("{api}/conversations/{conversation}/read?user={a}"))
            .json(&json!({ "messageId": ids[i] }))
            .send()
    };
    time(m, "marked-read round trip", mark).await;
}
