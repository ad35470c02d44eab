//! What each chart's NOTES.txt tells a user after `helm install`, rendered with the values that
//! change it: every repository path it names exists, the ports it names are the ones that answer
//! (kind's mapping in kind-config.yaml, or the port-forward it gives), and no deprecated value
//! is named. Helm renders NOTES only on install, so the test renders them as a template of a copy
//! of the chart (`tpl` of the same text, with the chart's helpers).

use std::path::{Path, PathBuf};

use wiber_e2e::command::plugin_knows;
use wiber_e2e::{repo, unique_name};

use super::{KUBE_VERSION, WIBER_AUTH, chart, copy_dir, documents, helm_run};

/// The chart's NOTES.txt as `helm install` would print it with `values`.
fn notes(chart_name: &str, values: &[&str]) -> String {
    let copy: PathBuf = std::env::temp_dir().join(unique_name("wiber-notes"));
    copy_dir(Path::new(&chart(chart_name)), &copy);
    std::fs::rename(copy.join("templates/NOTES.txt"), copy.join("notes.txt")).expect("move NOTES");
    std::fs::write(
        copy.join("templates/zz-notes.yaml"),
        "notes: {{ tpl (.Files.Get \"notes.txt\") . | toJson }}\n",
    )
    .expect("write the notes template");
    let copy_path = copy.to_str().expect("utf-8 path").to_owned();
    let mut args = vec![
        "template",
        "chat",
        copy_path.as_str(),
        "--namespace",
        "shop",
        "--kube-version",
        KUBE_VERSION,
        "--show-only",
        "templates/zz-notes.yaml",
    ];
    if chart_name == "wiber" {
        args.extend_from_slice(WIBER_AUTH);
    }
    args.extend_from_slice(values);
    let rendered = documents(&helm_run(&args).success("helm template (NOTES)"));
    let _ = std::fs::remove_dir_all(&copy);
    rendered[0]["notes"]
        .as_str()
        .expect("rendered notes")
        .to_owned()
}

/// The repository paths a text names (`charts/...`, `crds/...`, `examples/...`, `docs/...`).
fn repo_paths(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '`' | '"' | '\''))
        .filter(|word| {
            ["charts/", "crds/", "examples/", "docs/"]
                .iter()
                .any(|p| word.starts_with(p))
        })
        .map(|word| word.trim_end_matches(['.', ',', ';', ':']).to_owned())
        .collect()
}

/// The host port kind-config.yaml maps the API's NodePort 30080 to.
fn kind_host_port() -> u16 {
    let config = std::fs::read_to_string(repo().join("kind-config.yaml")).expect("kind-config");
    let config: serde_json::Value = yaml_serde::from_str(&config).expect("kind-config YAML");
    let mappings = config["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|n| {
            n["extraPortMappings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        });
    mappings
        .filter(|m| m["containerPort"] == 30080)
        .find_map(|m| m["hostPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .expect("kind-config.yaml maps NodePort 30080")
}

/// The ports of `localhost:<port>` in a text.
fn localhost_ports(text: &str) -> Vec<u16> {
    text.match_indices("localhost:")
        .filter_map(|(at, found)| {
            let rest = &text[at + found.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn the_notes_name_paths_that_exist_and_no_deprecated_value() {
    let cases: [(&str, &[&str]); 6] = [
        ("wiber-operator", &[]),
        ("wiber-operator", &["--set", "crds.enabled=false"]),
        (
            "wiber-operator",
            &[
                "--set",
                "watchNamespaces={shop,chat}",
                "--set",
                "prometheusRule.enabled=true",
                "--set",
                "grafana.dashboards.enabled=true",
            ],
        ),
        ("wiber", &[]),
        (
            "wiber",
            &[
                "--set",
                "kafka.enabled=true",
                "--set",
                "mongodb.enabled=true",
                "--set",
                "akhq.enabled=true",
            ],
        ),
        (
            "wiber",
            &[
                "--set",
                "cluster.api.service.type=NodePort",
                "--set",
                "cluster.api.service.nodePort=30080",
            ],
        ),
    ];
    for (chart_name, values) in cases {
        let text = notes(chart_name, values);
        let paths = repo_paths(&text);
        for path in &paths {
            assert!(
                repo().join(path).exists(),
                "{chart_name} {values:?}: NOTES name {path}, which does not exist:\n{text}"
            );
        }
        assert!(
            !text.contains("watchNamespace ") && !text.contains("watchNamespace\n"),
            "{chart_name} {values:?}: NOTES name the deprecated watchNamespace:\n{text}"
        );
        if chart_name == "wiber-operator" {
            assert!(
                !paths.is_empty(),
                "the operator's NOTES name the chart to install next"
            );
        }
        // Every plugin command they give is one the plugin has.
        let plugin: Vec<Vec<String>> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("kubectl wiber "))
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect();
        for words in &plugin {
            assert!(
                plugin_knows(words),
                "{chart_name}: no plugin command {words:?}"
            );
        }
        if chart_name == "wiber-operator" {
            assert!(
                !plugin.is_empty(),
                "the operator's NOTES name the plugin:
{text}"
            );
        }
    }
    let crd_outside = notes("wiber-operator", &["--set", "crds.enabled=false"]);
    assert!(
        crd_outside.contains("crds/wibercluster.yaml"),
        "{crd_outside}"
    );
}

#[test]
fn the_notes_curl_the_port_that_answers_on_kind_and_through_a_port_forward() {
    let kind = notes(
        "wiber",
        &[
            "--set",
            "cluster.api.service.type=NodePort",
            "--set",
            "cluster.api.service.nodePort=30080",
        ],
    );
    let ports = localhost_ports(&kind);
    assert!(!ports.is_empty(), "{kind}");
    assert!(
        ports.iter().all(|p| *p == kind_host_port()),
        "kind maps NodePort 30080 to {}, the NOTES say {ports:?}:\n{kind}",
        kind_host_port()
    );
    let forwarded = notes("wiber", &[]);
    let local = forwarded
        .lines()
        .find_map(|l| l.split("port-forward").nth(1))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|ports| ports.split(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("a port-forward with its local port:\n{forwarded}"));
    let ports = localhost_ports(&forwarded);
    assert!(
        !ports.is_empty() && ports.iter().all(|p| *p == local),
        "port-forward to {local}, the NOTES say {ports:?}:\n{forwarded}"
    );
}
