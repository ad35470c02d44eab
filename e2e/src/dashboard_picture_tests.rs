use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::dashboard_series::series;

const WINDOW: Window = Window {
    from: 1000.0,
    to: 1060.0,
    step: 10.0,
};

fn dashboard() -> Value {
    json!({
        "title": "Wiber / Test <&>",
        "panels": [
            {"type": "row", "id": 1, "title": "Flow", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
            {"type": "stat", "id": 2, "title": "Lag", "gridPos": {"x": 0, "y": 1, "w": 6, "h": 4},
             "fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute",
                "steps": [{"color": "green", "value": null}, {"color": "red", "value": 1000}]}}}},
            {"type": "timeseries", "id": 3, "title": "Latency", "gridPos": {"x": 12, "y": 1, "w": 12, "h": 8},
             "fieldConfig": {"defaults": {"unit": "s"}}},
            {"type": "timeseries", "id": 4, "title": "Nothing here", "gridPos": {"x": 0, "y": 9, "w": 12, "h": 8}},
        ]
    })
}

fn points(values: &[f64]) -> Vec<(f64, f64)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (WINDOW.from + 10.0 * i as f64, *v))
        .collect()
}

fn results(lag: &[f64], latency: &[f64]) -> BTreeMap<u64, Vec<Series>> {
    BTreeMap::from([
        (
            2,
            vec![Series {
                name: String::new(),
                points: points(lag),
            }],
        ),
        (
            3,
            vec![Series {
                name: "p99".into(),
                points: points(latency),
            }],
        ),
    ])
}

#[test]
fn panels_sit_where_their_grid_position_puts_them() {
    let picture = render(
        &dashboard(),
        &results(&[1.0], &[0.1, 0.2]),
        WINDOW,
        "caption",
    );
    // Column 12 of 24 on 1200 px, row 1 below the header, inside the gap.
    assert!(
        picture
            .svg
            .contains(r#"<rect x="603" y="91" width="594" height="234""#),
        "{}",
        picture.svg
    );
    assert!(picture.svg.contains(">Flow</text>"));
    assert!(picture.svg.contains("Wiber / Test &lt;&amp;&gt;"));
    assert!(picture.svg.contains(">caption</text>"));
}

#[test]
fn a_stat_shows_its_last_value_in_its_threshold_colour() {
    let low = render(
        &dashboard(),
        &results(&[5.0, 12.0, f64::NAN], &[0.1]),
        WINDOW,
        "",
    );
    assert!(
        low.svg
            .contains(r##"fill="#73bf69" text-anchor="middle">12</text>"##),
        "{}",
        low.svg
    );
    let high = render(&dashboard(), &results(&[5.0, 1500.0], &[0.1]), WINDOW, "");
    assert!(
        high.svg
            .contains(r##"fill="#f2495c" text-anchor="middle">1.5K</text>"##),
        "{}",
        high.svg
    );
}

#[test]
fn a_line_breaks_where_values_are_missing_and_empty_panels_say_no_data() {
    let picture = render(
        &dashboard(),
        &results(&[1.0], &[0.1, 0.2, f64::NAN, 0.3, 0.4]),
        WINDOW,
        "",
    );
    let line = picture
        .svg
        .split(r#"<path class="line" d=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a line");
    assert_eq!(line.matches('M').count(), 2, "two segments: {line}");
    assert!(
        picture.svg.contains(">p99</text>"),
        "the legend names the series"
    );
    assert!(
        picture.svg.contains(">200 ms</text>"),
        "a gridline in the panel's unit"
    );
    assert_eq!(picture.no_data, ["Nothing here"]);
}

#[test]
fn a_matrix_becomes_series_named_by_the_legend_format() {
    let matrix: Vec<Value> = serde_json::from_value(json!([
        {"metric": {"topic": "t", "partition": "2"}, "values": [[1000, "3"], [1010, "NaN"]]},
        {"metric": {"pod": "a"}, "values": [[1000, "1.5"]]},
    ]))
    .unwrap();
    let named = series(&matrix, "{{topic}} [{{ partition }}]");
    assert_eq!(named[0].name, "t [2]");
    assert_eq!(named[0].points[0], (1000.0, 3.0));
    assert!(named[0].points[1].1.is_nan());
    assert_eq!(
        named[1].name, " []",
        "labels a series lacks are empty, as in Grafana"
    );
    assert_eq!(series(&matrix, "")[1].name, r#"{pod="a"}"#);
}
