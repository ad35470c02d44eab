//! The alerts as the operator chart renders them into a PrometheusRule: each links its runbook in
//! the repository, and the chart's per-alert overrides (threshold, `for`, severity, enabled) and
//! cluster label give rules promtool still accepts.

use std::process::Command;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use wiber_e2e::command::run;
use wiber_e2e::kube::helm;
use wiber_e2e::{repo, unique_name};

use super::alerts::promtool;
use super::{alert_rules, chart};
use crate::KUBE_VERSION;

const RUNBOOKS: &str = "https://github.com/wiber-io/wiber/blob/main/docs/runbooks";

/// The rendered PrometheusRule's rules, by alert name order of the file; `Err` is helm's message.
fn rendered(values: &[&str]) -> Result<Vec<Value>, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        "ops",
        chart.to_str().expect("utf-8 path"),
        "--kube-version",
        KUBE_VERSION,
        "--show-only",
        "templates/prometheusrule.yaml",
        "--set",
        "prometheusRule.enabled=true",
    ];
    args.extend_from_slice(values);
    let out = helm(&args, Duration::from_secs(60));
    if !out.status.success() {
        return Err(out.stderr);
    }
    let rule = Value::deserialize(yaml_serde::Deserializer::from_str(&out.stdout))
        .expect("a PrometheusRule");
    Ok(rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect())
}

fn find<'a>(rules: &'a [Value], alert: &str) -> Option<&'a Value> {
    rules.iter().find(|r| r["alert"] == alert)
}

#[test]
fn every_rendered_alert_links_its_runbook_and_is_otherwise_the_tested_file() {
    let rules = rendered(&[]).expect("helm template");
    let file = alert_rules();
    assert_eq!(rules.len(), file.len());
    for (mut rule, tested) in rules.into_iter().zip(file) {
        let alert = tested["alert"].as_str().unwrap().to_owned();
        let url = rule["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("runbook_url");
        assert_eq!(url, Some(Value::from(format!("{RUNBOOKS}/{alert}.md"))));
        assert_eq!(rule, tested, "{alert} differs from files/alerts.yaml");
        let runbook = repo().join("docs/runbooks").join(format!("{alert}.md"));
        let text = std::fs::read_to_string(&runbook)
            .unwrap_or_else(|e| panic!("{alert} has no runbook at {}: {e}", runbook.display()));
        assert!(
            text.starts_with(&format!("# {alert}\n")),
            "{}",
            runbook.display()
        );
    }
}

#[test]
fn overridden_alerts_keep_passing_promtool() {
    let rules = rendered(&[
        "--set",
        "prometheusRule.clusterLabel=eu-1",
        "--set",
        "prometheusRule.runbookBaseUrl=https://runbooks.example/wiber/",
        "--set",
        "prometheusRule.alerts.WiberApiSlow.threshold=2.5",
        "--set-json",
        "prometheusRule.alerts.WiberConsumerLagGrowing={\"threshold\":5000,\"for\":\"30m\",\"severity\":\"critical\"}",
        "--set",
        "prometheusRule.alerts.WiberTargetDown.enabled=false",
    ])
    .expect("helm template with overrides");
    assert!(
        find(&rules, "WiberTargetDown").is_none(),
        "a disabled alert is dropped"
    );
    let slow = find(&rules, "WiberApiSlow").unwrap();
    let expr = slow["expr"].as_str().unwrap();
    assert!(expr.trim_end().ends_with(") > 2.5"), "{expr}");
    let lag = find(&rules, "WiberConsumerLagGrowing").unwrap();
    assert!(
        lag["expr"]
            .as_str()
            .unwrap()
            .contains("wiber_operator_consumer_lag > 5000")
    );
    assert!(
        lag["expr"]
            .as_str()
            .unwrap()
            .contains("deriv(wiber_operator_consumer_lag[15m]) > 0")
    );
    assert_eq!(lag["for"], "30m");
    assert_eq!(lag["labels"]["severity"], "critical");
    for rule in &rules {
        assert_eq!(rule["labels"]["cluster"], "eu-1", "{}", rule["alert"]);
        let url = rule["annotations"]["runbook_url"].as_str().unwrap();
        assert!(
            url.starts_with("https://runbooks.example/wiber/Wiber"),
            "{url}"
        );
    }

    // What the overrides produce is still a valid rule file.
    let file = std::env::temp_dir().join(format!("{}.yaml", unique_name("wiber-rules")));
    let groups = serde_json::json!({"groups": [{"name": "wiber", "rules": rules}]});
    std::fs::write(&file, yaml_serde::to_string(&groups).unwrap()).unwrap();
    let checked = run(
        "promtool check rules",
        Command::new(promtool()).args(["check", "rules"]).arg(&file),
        Duration::from_secs(60),
    )
    .success("promtool check rules of the overridden alerts");
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", alert_rules().len() - 1)),
        "{checked}"
    );
    let _ = std::fs::remove_file(file);

    // A threshold for an alert without one is refused, naming it.
    let refused = rendered(&[
        "--set",
        "prometheusRule.alerts.WiberOperatorAbsent.threshold=3",
    ])
    .expect_err("WiberOperatorAbsent has no threshold");
    assert!(
        refused.contains("prometheusRule.alerts.WiberOperatorAbsent.threshold"),
        "{refused}"
    );
}
