//! Dashboards and alerts cannot rot: the alert rules pass `promtool check rules` and their
//! `promtool test rules` unit tests, every alert has a case that fires and one that stays silent,
//! the Grafana dashboards are well-formed and all read the datasource variable, and every metric a
//! dashboard or alert queries is exported by the real binaries (api, consumer and operator, run
//! against the local Kafka, MongoDB-protocol server and kube-apiserver, scraped on `/metrics`),
//! and the pictures of the dashboards are drawn from a real Prometheus's answers.

mod alert_overrides;
mod alerts;
mod dashboards;
mod evaluated;
mod exported;
mod pictures;
mod runbooks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wiber_e2e::repo;

const DASHBOARDS: &[&str] = &[
    "wiber-api.json",
    "wiber-operator.json",
    "wiber-pipeline.json",
];

fn chart() -> PathBuf {
    repo().join("charts/wiber-operator")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    yaml_serde::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

/// Every dashboard in files/dashboards, by file name; exactly the three Wiber ships.
fn dashboards() -> BTreeMap<String, Value> {
    let dir = chart().join("files/dashboards");
    let found: BTreeMap<String, Value> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let dashboard = serde_json::from_str(&read(&p))
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name, dashboard)
        })
        .collect();
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        DASHBOARDS,
        "dashboards in {}",
        dir.display()
    );
    found
}

/// Every panel of a dashboard, the panels of collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn alert_rules() -> Vec<Value> {
    let alerts = yaml(&chart().join("files/alerts.yaml"));
    alerts["groups"]
        .as_array()
        .expect("alerts.yaml has groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("a group has rules").clone())
        .collect()
}
