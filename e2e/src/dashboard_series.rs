//! A dashboard panel's series: named from Prometheus' answers as Grafana names them, and drawn as
//! SVG paths.

use std::fmt::Write;

use serde_json::Value;

/// One series of a panel's query: its legend and its (unix seconds, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub(crate) fn finite(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.points.iter().copied().filter(|(_, v)| v.is_finite())
    }
}

/// The series of a `query_range` answer (a matrix), named by the target's `legendFormat` as
/// Grafana names them (`{{label}}` replaced; without a format, the label set).
pub fn series(matrix: &[Value], legend_format: &str) -> Vec<Series> {
    matrix
        .iter()
        .map(|item| {
            let labels = item["metric"].as_object().cloned().unwrap_or_default();
            let points = item["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    let t = pair[0].as_f64()?;
                    // Prometheus sends values as strings, NaN and ±Inf included.
                    let v = pair[1].as_str()?.parse::<f64>().ok()?;
                    Some((t, v))
                })
                .collect();
            Series {
                name: legend(&labels, legend_format),
                points,
            }
        })
        .collect()
}

fn legend(labels: &serde_json::Map<String, Value>, format: &str) -> String {
    let value = |name: &str| labels.get(name).and_then(Value::as_str).unwrap_or_default();
    if format.is_empty() {
        let pairs: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
            .collect();
        return if pairs.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", pairs.join(", "))
        };
    }
    let mut out = String::new();
    let mut rest = format;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(value(rest[start + 2..start + end].trim()));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn span(series: &Series) -> (f64, f64) {
    let first = series.points.first().map_or(0.0, |p| p.0);
    let last = series.points.last().map_or(first + 1.0, |p| p.0);
    (first, last.max(first + 1.0))
}

pub(crate) fn max_of(series: &Series) -> f64 {
    series.finite().map(|(_, v)| v).fold(0.0, f64::max)
}

/// The SVG path of a series in `area` (x, y, width, height) for the given time and value ranges,
/// broken where a value is missing; closed down to the axis when `filled`.
pub(crate) fn line_path(
    series: &Series,
    (ax, ay, aw, ah): (f64, f64, f64, f64),
    (from, to): (f64, f64),
    (low, high): (f64, f64),
    filled: bool,
) -> Option<String> {
    let gap = series
        .points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(f64::INFINITY, f64::min)
        * 1.5;
    let x = |t: f64| ax + aw * (t - from) / (to - from).max(1e-9);
    let y = |v: f64| ay + ah - ah * ((v - low) / (high - low).max(1e-12)).clamp(0.0, 1.0);
    let mut path = String::new();
    let mut previous: Option<f64> = None;
    for (t, v) in &series.points {
        if !v.is_finite() {
            previous = None;
            continue;
        }
        let joined = previous.is_some_and(|p| t - p <= gap);
        if !joined {
            if filled && previous.is_some() {
                let _ = write!(path, "L{:.1},{:.1}Z", x(previous.unwrap_or(*t)), ay + ah);
            }
            if filled {
                let _ = write!(
                    path,
                    "M{:.1},{:.1}L{:.1},{:.1}",
                    x(*t),
                    ay + ah,
                    x(*t),
                    y(*v)
                );
            } else {
                let _ = write!(path, "M{:.1},{:.1}", x(*t), y(*v));
            }
        } else {
            let _ = write!(path, "L{:.1},{:.1}", x(*t), y(*v));
        }
        previous = Some(*t);
    }
    if filled && let Some(p) = previous {
        let _ = write!(path, "L{:.1},{:.1}Z", x(p), ay + ah);
    }
    (!path.is_empty()).then_some(path)
}
