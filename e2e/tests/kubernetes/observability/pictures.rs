//! Pictures of the dashboards, `docs/images/dashboards/<uid>.svg`, drawn from what the real
//! Prometheus of `evaluated` answered for every panel's query over a window of steady load
//! (`wiber_e2e::dashboard_picture`; Grafana is in no registry here). `make dashboards` writes them
//! after `WIBER_DASHBOARD_PICTURES` seconds of load; every run draws them from its own shorter
//! window and checks that each panel drew data; and the committed pictures must show every panel
//! the dashboards have, so a new panel without a new picture fails.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use wiber_e2e::dashboard_picture::{Picture, Window, render};
use wiber_e2e::dashboard_series::{Series, series};
use wiber_e2e::dashboard_units::date_label;
use wiber_e2e::prometheus::Prometheus;
use wiber_e2e::repo;
use wiber_e2e::stack::Wiber;

use super::{dashboards, panels, read};

/// Where the pictures live, from the repository's root.
const DIR: &str = "docs/images/dashboards";
/// The page that shows them all.
const PAGE: &str = "docs/operations/dashboards-and-alerts.md";
/// The load's pace: messages per second, half of them to users holding a push stream.
const MESSAGES_PER_SECOND: u64 = 20;
/// At most this many points per line.
const POINTS: f64 = 240.0;

/// Seconds of load before the pictures are written into the repository, when asked.
pub(super) fn write_after() -> Option<Duration> {
    let seconds = std::env::var("WIBER_DASHBOARD_PICTURES").ok()?;
    let seconds: u64 = seconds
        .parse()
        .unwrap_or_else(|_| panic!("WIBER_DASHBOARD_PICTURES={seconds:?} is not whole seconds"));
    Some(Duration::from_secs(seconds))
}

pub(super) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Steady traffic of every kind the API dashboard shows: sends to users holding push streams and
/// to users without, history pages, counts, and now and then a send the API refuses (400).
pub(super) struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    pub(super) async fn start(wiber: &Wiber) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for user in ["bob", "erin"] {
            let mut stream = wiber.live_stream(None, &format!("user={user}")).await;
            let stop = stop.clone();
            // A stream read as it arrives, as a client would: a reader that falls behind is cut.
            // Its end is the API's business here; the pictures show what the API counted.
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    match stream.try_next(Duration::from_millis(500)).await {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(quiet) if quiet.starts_with("no event") => {}
                        Err(_) => break,
                    }
                }
            }));
        }
        let (http, api) = (wiber.http.clone(), wiber.api_url.clone());
        let stop_sending = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / MESSAGES_PER_SECOND));
            let pairs = [("alice", "bob"), ("dave", "erin"), ("carol", "frank")];
            for n in 0u64.. {
                if stop_sending.load(Ordering::SeqCst) {
                    break;
                }
                tick.tick().await;
                let (from, to) = pairs[(n % 3) as usize];
                let body = if n % 40 == 39 {
                    json!({"fromUser": from})
                } else {
                    json!({"fromUser": from, "toUser": to, "content": format!("load {n}")})
                };
                // Answers are the dashboards' business here, not this loop's.
                let _ = http
                    .post(format!("{api}/messages"))
                    .json(&body)
                    .send()
                    .await;
                if n % 5 == 0 {
                    let _ = http
                        .get(format!("{api}/messages/{from}/{to}?limit=20"))
                        .send()
                        .await;
                }
                if n % 20 == 0 {
                    let _ = http
                        .get(format!("{api}/messages/count?user1={from}"))
                        .send()
                        .await;
                }
            }
        }));
        Self { stop, tasks }
    }

    pub(super) async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a load task");
        }
    }
}

/// Every dashboard drawn from `prometheus` over `from`..now, with each query sent as `as_sent`
/// makes it; by file name.
pub(super) async fn draw(
    prometheus: &Prometheus,
    from: f64,
    as_sent: fn(&str) -> String,
) -> BTreeMap<String, Picture> {
    let to = now();
    let window = Window {
        from,
        to,
        step: ((to - from) / POINTS).ceil().max(1.0),
    };
    let caption = format!(
        "Drawn from a real Prometheus's answers to each panel's query, not by Grafana: {:.0} min of \
         {MESSAGES_PER_SECOND} messages/s (2 push streams) on a local stack, {}. `make dashboards` redraws it.",
        ((to - from) / 60.0).round().max(1.0),
        date_label(to),
    );
    let mut pictures = BTreeMap::new();
    for (file, dashboard) in dashboards() {
        let mut results: BTreeMap<u64, Vec<Series>> = BTreeMap::new();
        for panel in panels(&dashboard) {
            let id = panel["id"].as_u64().expect("a panel id");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = as_sent(target["expr"].as_str().unwrap_or_default());
                let matrix = prometheus
                    .query_range(&expr, window.from, window.to, window.step)
                    .await
                    .unwrap_or_else(|e| panic!("{file}: Prometheus refused {expr}: {e}"));
                let legend = target["legendFormat"].as_str().unwrap_or_default();
                results
                    .entry(id)
                    .or_default()
                    .extend(series(&matrix, legend));
            }
        }
        pictures.insert(file, render(&dashboard, &results, window, &caption));
    }
    pictures
}

/// Writes the pictures into the repository.
pub(super) fn write(pictures: &BTreeMap<String, Picture>) {
    let dir = repo().join(DIR);
    std::fs::create_dir_all(&dir).expect("the pictures' directory");
    for (file, picture) in pictures {
        let path = dir.join(file.replace(".json", ".svg"));
        std::fs::write(&path, &picture.svg)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// How a panel's title reads in a picture.
fn drawn_title(panel: &Value) -> String {
    wiber_e2e::dashboard_picture::escape(panel["title"].as_str().unwrap_or_default())
}

#[test]
fn every_dashboard_has_a_picture_showing_each_of_its_panels_on_the_docs_page() {
    let page = read(&repo().join(PAGE));
    let mut expected = Vec::new();
    for (file, dashboard) in dashboards() {
        let name = file.replace(".json", ".svg");
        let path = repo().join(DIR).join(&name);
        let svg = read(&path);
        let title = drawn_title(&dashboard);
        assert!(
            svg.contains(&format!("<title>{title}</title>")),
            "{name} is not a picture of {title}"
        );
        let missing: Vec<String> = panels(&dashboard)
            .into_iter()
            .map(drawn_title)
            .filter(|t| !svg.contains(&format!(">{t}</text>")))
            .collect();
        assert!(
            missing.is_empty(),
            "{name} lacks panels {missing:?}: redraw the pictures with `make dashboards`"
        );
        assert!(
            page.contains(&format!("../images/dashboards/{name}")),
            "{PAGE} does not show {name}"
        );
        expected.push(name);
    }
    let mut found: Vec<String> = std::fs::read_dir(repo().join(DIR))
        .expect("the pictures' directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    found.sort();
    assert_eq!(
        found, expected,
        "a picture for each dashboard and nothing else in {DIR}"
    );
}
