//! The dashboards and alerts on a real Prometheus: it scrapes the api, consumer and operator that
//! `exported` ran traffic through, with the labels a Kubernetes scrape gives them, and every
//! panel's query must find series there (a ratio of failures shows 0 without any, not "No data"),
//! and every alert's expression must evaluate. Steady load runs meanwhile, and the dashboards are
//! drawn from the same Prometheus (`pictures`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wiber_e2e::prometheus::{Prometheus, Target};
use wiber_e2e::stack::Wiber;

use super::pictures::{self, Load};
use super::{alert_rules, dashboards, panels};

/// How long the scrapes get to fill every panel.
const FILLED_WITHIN: Duration = Duration::from_secs(90);

/// The `$__rate_interval` Grafana would use on these 1 s scrapes, in seconds.
const RATE_INTERVAL: f64 = 30.0;

/// A panel's query as Grafana sends it with every namespace and cluster selected.
fn as_sent(expr: &str) -> String {
    expr.replace("$__rate_interval", &format!("{RATE_INTERVAL}s"))
        .replace("$namespace", ".*")
        .replace("$cluster", ".*")
}

/// Starts Prometheus on the three processes (`host:port` each) under load, checks every query
/// there and draws the dashboards.
pub(super) async fn on_a_real_prometheus(wiber: &Wiber, api: &str, consumer: &str, operator: &str) {
    let load = Load::start(wiber).await;
    let target = |address: &str, labels, honor_labels| Target {
        address: address.to_owned(),
        labels,
        honor_labels,
    };
    let pod = |component: &str| {
        json!({"namespace": "shop", "pod": format!("chat-{component}-0"),
               "container": component, "wibercluster": "chat"})
    };
    let prometheus = Prometheus::start(&[
        target(api, pod("api"), false),
        target(consumer, pod("consumer"), false),
        target(
            operator,
            json!({"namespace": "wiber-system", "pod": "wiber-operator-0", "container": "operator"}),
            true,
        ),
    ])
    .await;
    let from = pictures::now();

    let mut queries: BTreeMap<String, String> = BTreeMap::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or_default();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = as_sent(target["expr"].as_str().unwrap_or_default());
                let refid = target["refId"].as_str().unwrap_or_default();
                queries.insert(format!("{file} {title:?} {refid}"), expr);
            }
        }
    }
    // Every panel's query finds series once a few scrapes are in (a rate needs two).
    let deadline = Instant::now() + FILLED_WITHIN;
    let empty = loop {
        let mut empty = Vec::new();
        for (place, expr) in &queries {
            match prometheus.query(expr).await {
                Ok(series) if !series.is_empty() => {}
                Ok(_) => empty.push(format!("{place}: {expr}")),
                Err(e) => panic!("{place}: Prometheus refused {expr}: {e}"),
            }
        }
        if empty.is_empty() || Instant::now() > deadline {
            break empty;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert!(
        empty.is_empty(),
        "panels with no series on a real Prometheus after {FILLED_WITHIN:?} of scrapes:\n  {}",
        empty.join("\n  ")
    );
    // Every alert's expression evaluates (firing or not is the unit tests' business).
    for rule in alert_rules() {
        let expr = rule["expr"].as_str().expect("an expr");
        if let Err(e) = prometheus.query(expr).await {
            panic!("{}: Prometheus refused its expression: {e}", rule["alert"]);
        }
    }
    // The pictures: written after the load asked for, or drawn from this run's window and checked.
    let write_after = pictures::write_after();
    if let Some(load_for) = write_after {
        let elapsed = Duration::from_secs_f64(pictures::now() - from);
        let drawn_for = load_for + Duration::from_secs_f64(RATE_INTERVAL);
        tokio::time::sleep(drawn_for.saturating_sub(elapsed)).await;
    }
    // The written pictures begin once a rate has a whole interval of scrapes behind it. A panel
    // whose series are all NaN so far (a quantile before its second scrape) gets more scrapes.
    let drawn_from = from + write_after.map_or(0.0, |_| RATE_INTERVAL);
    let deadline = Instant::now() + FILLED_WITHIN;
    let (drawn, no_data) = loop {
        let drawn = pictures::draw(&prometheus, drawn_from, as_sent).await;
        let no_data: Vec<String> = drawn
            .iter()
            .flat_map(|(file, p)| {
                p.no_data
                    .iter()
                    .map(move |title| format!("{file} {title:?}"))
            })
            .collect();
        if no_data.is_empty() || Instant::now() > deadline {
            break (drawn, no_data);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    load.stop().await;
    assert!(
        no_data.is_empty(),
        "panels drawn with no data from a real Prometheus under load: {no_data:?}"
    );
    if write_after.is_some() {
        pictures::write(&drawn);
    }
}
