//! A real Prometheus (Debian's `prometheus`; `WIBER_PROMETHEUS_BIN` names another) scraping
//! processes of the test's own every second, with the target labels a Kubernetes scrape would
//! give them, and answering PromQL over its HTTP API: what proves that a dashboard's panels and
//! the alerts' expressions find series on real scrapes.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{Process, free_port};
use crate::wait::eventually;

/// One scrape target: `host:port` and the labels Prometheus gives its series.
pub struct Target {
    pub address: String,
    pub labels: Value,
    /// Keep the series' own labels where they clash with the target's (the operator's per-cluster
    /// `namespace`), as the chart's ServiceMonitor does with honorLabels.
    pub honor_labels: bool,
}

pub struct Prometheus {
    pub url: String,
    http: reqwest::Client,
    _process: Process,
    data: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn binary() -> PathBuf {
    std::env::var_os("WIBER_PROMETHEUS_BIN")
        .map_or_else(|| "/usr/bin/prometheus".into(), Into::into)
}

impl Prometheus {
    /// Starts it scraping `targets` every second, once it answers.
    pub async fn start(targets: &[Target]) -> Self {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} is missing: `make test` installs Debian's prometheus package",
            bin.display()
        );
        let data = std::env::temp_dir().join(crate::unique_name("wiber-prometheus"));
        std::fs::create_dir_all(&data).expect("a data directory");
        let jobs: Vec<Value> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "job_name": format!("target-{i}"),
                    "honor_labels": t.honor_labels,
                    "static_configs": [{"targets": [t.address], "labels": t.labels}],
                })
            })
            .collect();
        let config = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": jobs,
        });
        // JSON is YAML: Prometheus reads it as its configuration file.
        let file = data.join("prometheus.yml");
        std::fs::write(&file, config.to_string()).expect("write the configuration");
        let port = free_port();
        let args = [
            format!("--config.file={}", file.display()),
            format!("--storage.tsdb.path={}", data.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = Process::spawn(bin, &args, &[], "prometheus");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually(
            "Prometheus to be ready",
            Duration::from_secs(60),
            || async {
                let answer = http.get(format!("{url}/-/ready")).send().await.ok()?;
                answer.status().is_success().then_some(())
            },
        )
        .await;
        Self {
            url,
            http,
            _process: process,
            data,
        }
    }

    /// The instant query's result vector (or scalar, as one item), or the error it answered.
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        self.api("query", &[("query", expr.to_owned())]).await
    }

    /// The range query's matrix from `from` to `to` (unix seconds) every `step` seconds.
    pub async fn query_range(
        &self,
        expr: &str,
        from: f64,
        to: f64,
        step: f64,
    ) -> Result<Vec<Value>, String> {
        let params = [
            ("query", expr.to_owned()),
            ("start", from.to_string()),
            ("end", to.to_string()),
            ("step", step.to_string()),
        ];
        self.api("query_range", &params).await
    }

    async fn api(&self, endpoint: &str, params: &[(&str, String)]) -> Result<Vec<Value>, String> {
        let answer: Value = self
            .http
            .get(format!("{}/api/v1/{endpoint}", self.url))
            .query(params)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if answer["status"] != "success" {
            return Err(answer.to_string());
        }
        match &answer["data"]["result"] {
            Value::Array(items) => Ok(items.clone()),
            Value::Null => Ok(Vec::new()),
            scalar => Ok(vec![scalar.clone()]),
        }
    }
}
