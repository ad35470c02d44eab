//! What a process serves on `/metrics` (the Prometheus text format), read as the tests need it:
//! the samples with their names, labels and values, and one metric's value summed over its series.

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// Whether the sample carries every one of `labels` (name, value).
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.iter().any(|(lk, lv)| lk == k && lv == v))
    }
}

/// Every sample of `text`; comments, blank lines and lines that are not samples are left out.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines().filter_map(sample).collect()
}

/// The value of the metric `name` summed over its series that carry every one of `labels`: all
/// its series when `labels` is empty, one series when they name it. `None` when there is none.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .filter(|s| s.name == name && s.has_labels(labels))
        .map(|s| s.value)
        .reduce(|a, b| a + b)
}

/// The text served on `{base_url}/metrics`; `None` when nothing answers.
pub async fn scrape(http: &reqwest::Client, base_url: &str) -> Option<String> {
    let response = http.get(format!("{base_url}/metrics")).send().await.ok()?;
    response.text().await.ok()
}

/// `value` of what `base_url` serves now; `None` also when nothing answers.
pub async fn metric(
    http: &reqwest::Client,
    base_url: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    value(&scrape(http, base_url).await?, name, labels)
}

fn sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let (name, rest) = line.split_at(name_end);
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inside) => label_set(inside)?,
        None => (Vec::new(), rest),
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels after a sample's `{`, and what follows its `}`. Values are quoted and may hold any
/// character, `\"`, `\\` and `\n` escaped.
fn label_set(inside: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = inside;
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once('=')?;
        let mut chars = after.trim_start().strip_prefix('"')?.chars();
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        labels.push((key.trim().to_owned(), value));
        rest = chars.as_str();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP wiber_consumer_lag Records not yet stored.
# TYPE wiber_consumer_lag gauge
wiber_consumer_lag{partition="0"} 3
wiber_consumer_lag{partition="1"} 4.5
wiber_consumer_lag_seconds 99
wiber_api_http_requests_total{route="/messages/{from}/{to}",status="200"} 7
wiber_api_http_requests_total{route="/messages",status="400"} 2 1700000000000

wiber_operator_leader 0
"#;

    #[test]
    fn a_metric_is_summed_over_its_series_or_those_with_the_given_labels() {
        assert_eq!(value(TEXT, "wiber_consumer_lag", &[]), Some(7.5));
        assert_eq!(
            value(TEXT, "wiber_consumer_lag", &[("partition", "1")]),
            Some(4.5)
        );
        let requests = "wiber_api_http_requests_total";
        assert_eq!(value(TEXT, requests, &[]), Some(9.0));
        assert_eq!(
            value(TEXT, requests, &[("route", "/messages/{from}/{to}")]),
            Some(7.0)
        );
        // A series at 0 is there; a metric or label set without a series is not.
        assert_eq!(value(TEXT, "wiber_operator_leader", &[]), Some(0.0));
        assert_eq!(value(TEXT, "wiber_consumer", &[]), None);
        assert_eq!(
            value(TEXT, "wiber_consumer_lag", &[("partition", "2")]),
            None
        );
        let names: Vec<String> = samples(TEXT).into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "wiber_consumer_lag",
                "wiber_consumer_lag",
                "wiber_consumer_lag_seconds",
                requests,
                requests,
                "wiber_operator_leader"
            ]
        );
    }

    #[test]
    fn label_values_may_hold_braces_commas_spaces_and_escapes() {
        let text = "m{a=\"x} y, z\",b=\"say \\\"hi\\\"\\n\\\\\"} +Inf\nn{} NaN\nnot a sample\n";
        let found = samples(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].labels,
            [
                ("a".to_owned(), "x} y, z".to_owned()),
                ("b".to_owned(), "say \"hi\"\n\\".to_owned())
            ]
        );
        assert_eq!(found[0].value, f64::INFINITY);
        assert!(found[0].has_labels(&[("a", "x} y, z")]));
        assert!(!found[0].has_labels(&[("a", "x")]));
        assert_eq!(
            (found[1].name.as_str(), found[1].value.is_nan()),
            ("n", true)
        );
    }
}
