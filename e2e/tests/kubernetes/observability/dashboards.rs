//! The Grafana dashboards: well-formed, unique panel ids, every query on the datasource variable
//! and every variable it uses defined.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{dashboards, panels};

/// Variables Grafana defines itself.
const GRAFANA_BUILTINS: &[&str] = &["__rate_interval", "__interval", "__interval_ms", "__range"];

#[test]
fn dashboards_are_valid_json_with_unique_panel_ids_and_the_datasource_variable() {
    let mut uids = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().expect("a stable uid");
        assert_eq!(format!("{uid}.json"), file, "uid and file name");
        assert!(uids.insert(uid.to_owned()));
        assert!(
            dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{file} schemaVersion"
        );
        assert!(
            dashboard["id"].is_null(),
            "{file}: id must be null to import"
        );
        let variables = dashboard["templating"]["list"]
            .as_array()
            .expect("variables");
        let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
        let datasource = variable("datasource").unwrap_or_else(|| panic!("{file}: no datasource"));
        assert_eq!(
            (&datasource["type"], &datasource["query"]),
            (&json!("datasource"), &json!("prometheus")),
            "{file} datasource variable"
        );
        assert!(
            variable("namespace").is_some(),
            "{file}: no namespace variable"
        );
        let defined: BTreeSet<&str> = variables
            .iter()
            .filter_map(|v| v["name"].as_str())
            .chain(GRAFANA_BUILTINS.iter().copied())
            .collect();
        let uses_datasource = |v: &Value| v["uid"] == "${datasource}";
        for v in variables.iter().filter(|v| v["type"] == "query") {
            assert!(
                uses_datasource(&v["datasource"]),
                "{file} variable {} ignores the datasource variable",
                v["name"]
            );
        }
        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let title = &panel["title"];
            let id = panel["id"].as_u64().expect("a panel id");
            assert!(ids.insert(id), "{file}: panel id {id} used twice");
            assert!(panel["gridPos"]["w"].is_u64(), "{file} {title}: gridPos");
            if panel["type"] == "row" {
                continue;
            }
            assert!(
                uses_datasource(&panel["datasource"]),
                "{file} {title}: panel datasource is not ${{datasource}}"
            );
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{file} {title}: no query");
            for target in targets {
                assert!(
                    target["datasource"].is_null() || uses_datasource(&target["datasource"]),
                    "{file} {title}: a target overrides the datasource"
                );
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "{file} {title}: empty query");
                for used in grafana_variables(expr) {
                    assert!(
                        defined.contains(used.as_str()),
                        "{file} {title}: ${used} is not defined"
                    );
                }
            }
            assert!(
                panel["fieldConfig"]["defaults"]["unit"].is_string(),
                "{file} {title}: no unit"
            );
        }
    }
}

/// The Grafana variables (`$name`, `${name}`) an expression uses.
fn grafana_variables(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    out
}
