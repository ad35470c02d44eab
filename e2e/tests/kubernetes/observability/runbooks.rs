//! The runbooks' commands work as written on Wiber's shell-less pods: every `kubectl` verb exists
//! (asked of kubectl itself, and of the plugin for `kubectl wiber`'s subcommands), every port-forward reaches a port the operator gives the pods, every
//! `curl` of a forwarded port asks a route the admin port serves, and every Deployment named is
//! one the operator makes. Runbooks in the shape of CloudNativePG's (meaning, impact, diagnosis,
//! mitigation) must give at least one command to diagnose with.

use std::collections::BTreeSet;
use std::process::Command;

use wiber_e2e::command::plugin_knows;
use wiber_e2e::repo;
use wiber_operator::resources::{API_ADMIN_PORT, API_PORT, CONSUMER_PORT};

/// The operator's Deployment as the README installs it (`helm install wiber-operator`).
const OPERATOR_DEPLOYMENT: &str = "wiber-operator";

/// What the admin port (and the consumer's) serve: `api/src/routes.rs`, `consumer/src/health.rs`.
const ADMIN_ROUTES: &[&str] = &["/health/readiness", "/health/liveness", "/metrics"];

/// The shell lines of a page's fenced `sh` blocks, comments cut.
fn shell_lines(page: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in page.lines() {
        if line.starts_with("```") {
            inside = !inside && line.trim_start_matches('`').trim() == "sh";
            continue;
        }
        if inside {
            let code = line.split(" #").next().unwrap_or_default().trim();
            if !code.is_empty() {
                lines.push(code.to_owned());
            }
        }
    }
    lines
}

/// The words of each command on a line (split at pipes and `&`/`&&`).
fn commands(line: &str) -> Vec<Vec<String>> {
    line.split(['|', '&'])
        .map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .collect()
}

/// kubectl's verb: the first word after it that is neither a flag nor a flag's value.
fn verb(words: &[String]) -> Option<&str> {
    let mut rest = words.iter().skip(1);
    while let Some(word) = rest.next() {
        if word == "-n" || word == "--namespace" || word == "-l" || word == "--context" {
            rest.next();
        } else if !word.starts_with('-') {
            return Some(word);
        }
    }
    None
}

fn kubectl_knows(verb: &str) -> bool {
    let bin = std::env::var("WIBER_KUBECTL_BIN").unwrap_or_else(|_| "kubectl".to_owned());
    Command::new(&bin)
        .args([verb, "--help"])
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e} (make test sets WIBER_KUBECTL_BIN)"))
        .status
        .success()
}

#[test]
fn every_runbook_command_names_a_real_verb_port_route_and_deployment() {
    let pod_ports: BTreeSet<u16> = [API_PORT, API_ADMIN_PORT, CONSUMER_PORT]
        .iter()
        .map(|p| u16::try_from(*p).expect("a port"))
        .collect();
    let mut verbs = BTreeSet::new();
    let mut checked = 0;
    let mut plugins = 0;
    for entry in std::fs::read_dir(repo().join("docs/runbooks")).expect("docs/runbooks") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("Wiber") {
            continue;
        }
        let page = std::fs::read_to_string(&path).expect("a runbook");
        let lines = shell_lines(&page);
        if page.contains("\n## Diagnosis\n") {
            for section in ["## Meaning", "## Impact", "## Mitigation"] {
                assert!(page.contains(section), "{name}: no {section}");
            }
            assert!(!lines.is_empty(), "{name}: a diagnosis with no command");
        }
        let mut forwarded = BTreeSet::new();
        for line in &lines {
            for words in commands(line) {
                checked += 1;
                match words[0].as_str() {
                    "kubectl" => {
                        let verb = verb(&words).unwrap_or_else(|| panic!("{name}: {line}"));
                        if verb == "wiber" {
                            assert!(
                                plugin_knows(&words),
                                "{name}: no such plugin command: {line}"
                            );
                            plugins += 1;
                            continue;
                        }
                        verbs.insert(verb.to_owned());
                        if verb == "port-forward" {
                            let ports = words.last().expect("ports");
                            let (local, remote) = ports.split_once(':').unwrap_or((ports, ports));
                            let remote: u16 =
                                remote.parse().unwrap_or_else(|_| panic!("{name}: {line}"));
                            assert!(
                                pod_ports.contains(&remote),
                                "{name}: port-forward to {remote}, not a port of Wiber's pods {pod_ports:?}"
                            );
                            forwarded.insert(local.to_owned());
                        }
                        for word in &words {
                            if let Some(deployment) = word.strip_prefix("deploy/") {
                                assert!(
                                    deployment.ends_with("-api")
                                        || deployment.ends_with("-consumer")
                                        || deployment == OPERATOR_DEPLOYMENT,
                                    "{name}: {deployment} is not a Deployment the operator makes, nor the operator's"
                                );
                            }
                        }
                    }
                    "curl" => {
                        let url = words
                            .iter()
                            .find(|w| w.contains("localhost:"))
                            .unwrap_or_else(|| panic!("{name}: {line}"));
                        let (port, route) = url
                            .split_once("localhost:")
                            .and_then(|(_, rest)| rest.split_once('/'))
                            .map(|(port, route)| (port.to_owned(), format!("/{route}")))
                            .unwrap_or_else(|| panic!("{name}: {line}"));
                        assert!(
                            forwarded.contains(&port),
                            "{name}: curl of {port}, which the page never forwards"
                        );
                        assert!(
                            ADMIN_ROUTES.contains(&route.as_str()),
                            "{name}: {route} is not served on the admin port"
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "the runbooks' commands were read ({checked})"
    );
    assert!(plugins >= 1, "the runbooks use kubectl wiber");
    for verb in &verbs {
        assert!(kubectl_knows(verb), "kubectl has no verb {verb:?}");
    }
}
