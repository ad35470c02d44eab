//! The alert rules: promtool checks them and runs their unit tests, every alert is complete and
//! has a case that fires and one that stays silent.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use wiber_e2e::command::run;

use super::{alert_rules, chart, yaml};

pub(super) fn promtool() -> PathBuf {
    if let Some(bin) = std::env::var_os("WIBER_PROMTOOL_BIN") {
        return PathBuf::from(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool is not on PATH: `dev/cluster.sh install` installs it (Debian's prometheus \
                 package), or set WIBER_PROMTOOL_BIN to its path"
            )
        })
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let promtool = promtool();
    let checked = run(
        "promtool check rules",
        Command::new(&promtool)
            .current_dir(chart())
            .args(["check", "rules", "files/alerts.yaml"]),
        Duration::from_secs(60),
    )
    .success("promtool check rules files/alerts.yaml");
    let rules = alert_rules().len();
    assert!(
        checked.contains(&format!("SUCCESS: {rules} rules found")),
        "{checked}"
    );
    let tested = run(
        "promtool test rules",
        Command::new(&promtool).current_dir(chart()).args([
            "test",
            "rules",
            "tests/alerts_test.yaml",
        ]),
        Duration::from_secs(120),
    )
    .success("promtool test rules tests/alerts_test.yaml");
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn alerts_file_is_a_prometheusrule_spec_of_complete_alerts() {
    let alerts = yaml(&chart().join("files/alerts.yaml"));
    // A PrometheusRule's spec holds `groups` and nothing else; the chart nests this file under it.
    let keys: Vec<&String> = alerts.as_object().expect("a mapping").keys().collect();
    assert_eq!(keys, ["groups"], "top-level keys of alerts.yaml");
    let mut names = BTreeSet::new();
    for rule in alert_rules() {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        assert!(names.insert(name.to_owned()), "{name} defined twice");
        assert!(
            rule["for"].as_str().is_some_and(|f| !f.is_empty()),
            "{name} has no `for`"
        );
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name} severity {severity:?}"
        );
        for annotation in ["summary", "description", "runbook"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|a| !a.trim().is_empty()),
                "{name} has no {annotation} annotation"
            );
        }
    }
    for wanted in [
        "WiberConsumerLagGrowing",
        "WiberConsumersAtMaxAndLagRising",
        "WiberDeadLettersAppearing",
        "WiberApiErrorRatioHigh",
        "WiberKafkaProduceFailures",
        "WiberOperatorReconcileErrors",
        "WiberTargetDown",
    ] {
        assert!(names.contains(wanted), "no {wanted} alert");
    }
}

#[test]
fn every_alert_has_a_promtool_case_that_fires_and_one_that_stays_silent() {
    let tests = yaml(&chart().join("tests/alerts_test.yaml"));
    assert_eq!(tests["rule_files"], json!(["../files/alerts.yaml"]));
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests["tests"].as_array().expect("tests") {
        for check in case["alert_rule_test"].as_array().into_iter().flatten() {
            let name = check["alertname"].as_str().expect("alertname").to_owned();
            let expected = check["exp_alerts"].as_array().expect("exp_alerts");
            if expected.is_empty() {
                silent.insert(name);
            } else {
                for alert in expected {
                    assert!(
                        alert["exp_labels"]["severity"].is_string(),
                        "{name}: a firing case must state its labels"
                    );
                    assert!(
                        alert["exp_annotations"]["summary"].is_string(),
                        "{name}: a firing case must state its annotations"
                    );
                }
                firing.insert(name);
            }
        }
    }
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        assert!(firing.contains(name), "{name} has no case where it fires");
        assert!(
            silent.contains(name),
            "{name} has no case where it is silent"
        );
    }
}
