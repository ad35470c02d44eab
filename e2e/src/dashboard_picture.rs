//! A picture of a Grafana dashboard drawn from Prometheus query results: each panel where its
//! `gridPos` puts it (24 columns, rows of 30 px), a stat panel as its last value in its threshold
//! colour, a time series as lines with their legend. No registry here serves Grafana, so the
//! README's pictures are these: what the dashboards' queries returned on a real Prometheus, laid
//! out as Grafana lays them out, not Grafana's exact look.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::dashboard_series::{Series, line_path, max_of, span};
use crate::dashboard_units::{format_value, nice_ceiling, time_label, time_step};

const WIDTH: f64 = 1200.0;
const COLUMN: f64 = WIDTH / 24.0;
const ROW: f64 = 30.0;
const HEADER: f64 = 58.0;
const GAP: f64 = 6.0;
const BACKGROUND: &str = "#111217";
const PANEL: &str = "#181b1f";
const BORDER: &str = "#2c3235";
const TEXT: &str = "#ccccdc";
const MUTED: &str = "#8e8e9e";
const GRID: &str = "#2c3235";
/// Grafana's classic palette, in its order.
const PALETTE: [&str; 10] = [
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0",
    "#37872d", "#fade2a",
];
const LEGEND_LINE: f64 = 14.0;
const LEGEND_ROWS: usize = 2;
/// About how wide a character of the 11 px legend font is.
const CHAR: f64 = 6.8;

/// The time the queries covered and their step, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: f64,
    pub to: f64,
    pub step: f64,
}

/// A drawn dashboard, and the titles of the panels it drew as "No data".
pub struct Picture {
    pub svg: String,
    pub no_data: Vec<String>,
}

/// Draws `dashboard`; `results` holds each panel's series by panel id, its targets' in order.
pub fn render(
    dashboard: &Value,
    results: &BTreeMap<u64, Vec<Series>>,
    window: Window,
    caption: &str,
) -> Picture {
    let panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let bottom = panels
        .iter()
        .map(|p| grid(p, "y") + grid(p, "h"))
        .fold(0.0, f64::max);
    let height = HEADER + bottom * ROW + GAP;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Inter, Helvetica, Arial, sans-serif">"#
    );
    let title = escape(dashboard["title"].as_str().unwrap_or_default());
    let _ = write!(
        svg,
        r#"<title>{title}</title><rect width="100%" height="100%" fill="{BACKGROUND}"/><text x="{GAP}" y="24" font-size="18" fill="{TEXT}">{title}</text><text x="{GAP}" y="44" font-size="11" fill="{MUTED}">{}</text>"#,
        escape(caption)
    );
    let mut no_data = Vec::new();
    for panel in panels {
        let empty = Vec::new();
        let data = panel["id"]
            .as_u64()
            .and_then(|id| results.get(&id))
            .unwrap_or(&empty);
        let drawn = match panel["type"].as_str() {
            Some("row") => {
                row(&mut svg, panel);
                true
            }
            Some("stat") => stat(&mut svg, panel, data),
            _ => timeseries(&mut svg, panel, data, window),
        };
        if !drawn {
            no_data.push(panel["title"].as_str().unwrap_or_default().to_owned());
        }
    }
    svg.push_str("</svg>\n");
    Picture { svg, no_data }
}

fn grid(panel: &Value, key: &str) -> f64 {
    panel["gridPos"][key].as_f64().unwrap_or(0.0)
}

/// The panel's box: x, y, width, height in pixels.
fn place(panel: &Value) -> (f64, f64, f64, f64) {
    (
        grid(panel, "x") * COLUMN + GAP / 2.0,
        HEADER + grid(panel, "y") * ROW + GAP / 2.0,
        grid(panel, "w") * COLUMN - GAP,
        grid(panel, "h") * ROW - GAP,
    )
}

fn unit(panel: &Value) -> &str {
    panel["fieldConfig"]["defaults"]["unit"]
        .as_str()
        .unwrap_or("short")
}

fn row(svg: &mut String, panel: &Value) {
    let (x, y, w, h) = place(panel);
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{}" font-size="14" font-weight="bold" fill="{TEXT}">{}</text><line x1="{x}" x2="{}" y1="{}" y2="{}" stroke="{BORDER}"/>"#,
        y + h * 0.7,
        escape(panel["title"].as_str().unwrap_or_default()),
        x + w,
        y + h,
        y + h,
    );
}

/// The box and title every panel has.
fn frame(svg: &mut String, panel: &Value) {
    let (x, y, w, h) = place(panel);
    let _ = write!(
        svg,
        r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2" fill="{PANEL}" stroke="{BORDER}"/><text x="{}" y="{}" font-size="12" font-weight="bold" fill="{TEXT}">{}</text>"#,
        x + 8.0,
        y + 18.0,
        escape(panel["title"].as_str().unwrap_or_default()),
    );
}

fn no_data(svg: &mut String, panel: &Value) {
    let (x, y, w, h) = place(panel);
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" font-size="13" fill="{MUTED}" text-anchor="middle">No data</text>"#,
        x + w / 2.0,
        y + h / 2.0 + 8.0,
    );
}

/// A stat panel: the first series' last value, coloured by the panel's thresholds, over a faint
/// area of its history. False when there is no value.
fn stat(svg: &mut String, panel: &Value, data: &[Series]) -> bool {
    frame(svg, panel);
    let Some(first) = data.first() else {
        no_data(svg, panel);
        return false;
    };
    let Some((_, last)) = first.finite().last() else {
        no_data(svg, panel);
        return false;
    };
    let colour = threshold_colour(panel, last);
    let (x, y, w, h) = place(panel);
    let area = (x + 1.0, y + h * 0.55, w - 2.0, h * 0.45 - 1.0);
    if let Some(path) = line_path(first, area, span(first), (0.0, max_of(first)), true) {
        let _ = write!(
            svg,
            r#"<path d="{path}" fill="{colour}" fill-opacity="0.15" stroke="{colour}" stroke-opacity="0.5"/>"#
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" font-size="{}" font-weight="bold" fill="{colour}" text-anchor="middle">{}</text>"#,
        x + w / 2.0,
        y + h * 0.62,
        (h * 0.32).min(34.0),
        escape(&format_value(last, unit(panel))),
    );
    true
}

/// The colour of the last threshold step at or below `value` (Grafana's absolute thresholds).
fn threshold_colour(panel: &Value, value: f64) -> &'static str {
    let steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = steps
        .iter()
        .rfind(|s| s["value"].as_f64().is_none_or(|at| value >= at))
        .and_then(|s| s["color"].as_str())
        .unwrap_or("green");
    match name {
        "red" => "#f2495c",
        "orange" => "#ff9830",
        "yellow" => "#fade2a",
        "blue" => "#5794f2",
        _ => "#73bf69",
    }
}

/// A time series panel: gridlines and their values, a line per series, the legend below. False
/// when no series has a value in the window.
fn timeseries(svg: &mut String, panel: &Value, data: &[Series], window: Window) -> bool {
    frame(svg, panel);
    let drawable: Vec<(usize, &Series)> = data
        .iter()
        .enumerate()
        .filter(|(_, s)| s.finite().next().is_some())
        .collect();
    if drawable.is_empty() {
        no_data(svg, panel);
        return false;
    }
    let (x, y, w, h) = place(panel);
    let legend_rows = legend_layout(&drawable, w - 16.0).len().min(LEGEND_ROWS);
    let plot = (
        x + 62.0,
        y + 28.0,
        w - 72.0,
        h - 28.0 - 34.0 - legend_rows as f64 * LEGEND_LINE,
    );
    let values = drawable
        .iter()
        .flat_map(|(_, s)| s.finite().map(|(_, v)| v));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let low = if low >= 0.0 { 0.0 } else { -nice_ceiling(-low) };
    let high = if high > low {
        nice_ceiling(high)
    } else {
        low + 1.0
    };
    axes(svg, plot, (low, high), window, unit(panel));
    for (i, series) in &drawable {
        if let Some(path) = line_path(series, plot, (window.from, window.to), (low, high), false) {
            let colour = PALETTE[i % PALETTE.len()];
            let _ = write!(
                svg,
                r#"<path class="line" d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
            );
        }
    }
    legend_entries(svg, &drawable, (x + 8.0, plot.1 + plot.3 + 32.0), w - 16.0);
    true
}

/// Gridlines with the value of each, and times along the bottom.
fn axes(
    svg: &mut String,
    (px, py, pw, ph): (f64, f64, f64, f64),
    (low, high): (f64, f64),
    window: Window,
    unit: &str,
) {
    const DIVISIONS: u32 = 4;
    for i in 0..=DIVISIONS {
        let value = low + (high - low) * f64::from(i) / f64::from(DIVISIONS);
        let at = py + ph - ph * f64::from(i) / f64::from(DIVISIONS);
        let _ = write!(
            svg,
            r#"<line x1="{px}" x2="{}" y1="{at}" y2="{at}" stroke="{GRID}" stroke-width="0.5"/><text x="{}" y="{}" font-size="10" fill="{MUTED}" text-anchor="end">{}</text>"#,
            px + pw,
            px - 6.0,
            at + 3.5,
            escape(&format_value(value, unit)),
        );
    }
    let step = time_step(window.to - window.from, 6);
    let mut t = (window.from / step).ceil() * step;
    while t <= window.to {
        let at = px + pw * (t - window.from) / (window.to - window.from).max(1.0);
        let _ = write!(
            svg,
            r#"<text x="{at}" y="{}" font-size="10" fill="{MUTED}" text-anchor="middle">{}</text>"#,
            py + ph + 13.0,
            time_label(t, step),
        );
        t += step;
    }
}

/// The legend's entries in rows that fit `width`: each row lists indexes into `entries`.
fn legend_layout(entries: &[(usize, &Series)], width: f64) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0.0;
    for (n, (_, series)) in entries.iter().enumerate() {
        let needed = legend_width(&series.name);
        if used + needed > width && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            used = 0.0;
        }
        rows.last_mut().expect("a row").push(n);
        used += needed;
    }
    rows
}

fn legend_width(name: &str) -> f64 {
    24.0 + name.chars().count() as f64 * CHAR
}

fn legend_entries(svg: &mut String, entries: &[(usize, &Series)], (x, y): (f64, f64), width: f64) {
    let rows = legend_layout(entries, width);
    let shown: usize = rows.iter().take(LEGEND_ROWS).map(Vec::len).sum();
    for (r, row) in rows.iter().take(LEGEND_ROWS).enumerate() {
        let mut at = x;
        let line_y = y + r as f64 * LEGEND_LINE;
        for &n in row {
            let (i, series) = entries[n];
            let colour = PALETTE[i % PALETTE.len()];
            let mut name = escape(&series.name);
            if r + 1 == LEGEND_ROWS && n + 1 == shown && shown < entries.len() {
                let _ = write!(name, "  (+{} more)", entries.len() - shown);
            }
            let _ = write!(
                svg,
                r#"<rect x="{at}" y="{}" width="12" height="3" fill="{colour}"/><text x="{}" y="{line_y}" font-size="11" fill="{TEXT}">{name}</text>"#,
                line_y - 4.0,
                at + 16.0,
            );
            at += legend_width(&series.name);
        }
    }
}

/// Text as SVG carries it.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
#[path = "dashboard_picture_tests.rs"]
mod tests;
