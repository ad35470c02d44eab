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

async fn count(http: &reqwest::Client, url: String) -> Option<u64> {
    let body: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
    body["count"].as_u64()
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
    let page = http
        .get(format!("{api}/messages/{a}/{b}?limit=1&skip={}", size / 2))
        .send()
        .await
        .ok()?;
    page.headers()
        .get("x-next-cursor")?
        .to_str()
        .ok()
        .map(str::to_owned)
}

pub async fn measure(m: Measure<'_>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let api = m.api;
    let (a, b) = dataset::typical_conversation();
    let (ra, rb) = dataset::REFERENCE;
    let hot = dataset::hot_user();
    let cold = dataset::cold_user();
    println!(
        "{:<10} {:<34} {:>4} {:>9} {:>9} {:>9} {:>6}",
        "store", "operation (ms)", "n", "p50", "p99", "max", "not200"
    );
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{api}{path}");
        move |_| http.get(url.clone()).send()
    };
    time(
        &m,
        "conversation page (1/1000 of store)",
        get(format!("/messages/{a}/{b}?limit=50")),
    )
    .await;
    match middle_cursor(&http, api, &a, &b).await {
        Some(cursor) => {
            time(
                &m,
                "deep page by cursor (halfway)",
                get(format!("/messages/{a}/{b}?limit=50&after={cursor}")),
            )
            .await
        }
        None => println!(
            "{:<10} deep page by cursor: no cursor could be read",
            m.label
        ),
    }
    time(
        &m,
        "reference conversation page (100)",
        get(format!("/messages/{ra}/{rb}?limit=50")),
    )
    .await;
    time(
        &m,
        "user page, hot (20/1000 of store)",
        get(format!("/messages/user/{hot}?limit=50")),
    )
    .await;
    time(
        &m,
        "user page, cold (1/1000)",
        get(format!("/messages/user/{cold}?limit=50")),
    )
    .await;
    time(
        &m,
        "user page, reference (100)",
        get(format!("/messages/user/{ra}?limit=50")),
    )
    .await;
    // A chat app's first screen: the inbox, newest activity first, with unread counts.
    time(
        &m,
        "inbox first page, hot user",
        get(format!("/conversations?user={hot}&limit=20")),
    )
    .await;
    time(
        &m,
        "inbox first page, cold user",
        get(format!("/conversations?user={cold}&limit=20")),
    )
    .await;
    match next_cursor(&http, &format!("{api}/conversations?user={hot}&limit=5")).await {
        Some(cursor) => {
            time(
                &m,
                "inbox second page, hot user",
                get(format!("/conversations?user={hot}&limit=5&before={cursor}")),
            )
            .await
        }
        None => println!("{:<10} inbox second page: no cursor could be read", m.label),
    }
    match count(&http, format!("{api}/messages/count?user1={a}&user2={b}")).await {
        Some(size) => {
            time(
                &m,
                "newest page of a conversation",
                get(format!(
                    "/messages/{a}/{b}?limit=50&skip={}",
                    size.saturating_sub(50)
                )),
            )
            .await
        }
        None => println!("{:<10} newest page: no count could be read", m.label),
    }
    time(
        &m,
        "count, conversation",
        get(format!("/messages/count?user1={a}&user2={b}")),
    )
    .await;
    time(
        &m,
        "count, reference conversation",
        get(format!("/messages/count?user1={ra}&user2={rb}")),
    )
    .await;
    time(
        &m,
        "count, hot user",
        get(format!("/messages/count?user1={hot}")),
    )
    .await;
    time(
        &m,
        "count, cold user",
        get(format!("/messages/count?user1={cold}")),
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
    let few = Measure { samples: 3, ..m };
    time(
        &few,
        "count, all messages",
        get("/messages/count".to_owned()),
    )
    .await;
}
