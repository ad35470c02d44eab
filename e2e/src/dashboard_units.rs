//! Values and times as a dashboard picture writes them: Grafana's units (the ones Wiber's
//! dashboards use), gridline values that are round numbers, and time ticks on round seconds.

/// `value` in the panel's Grafana unit.
pub fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "s" => seconds(value),
        "bytes" => bytes(value),
        "percentunit" => format!("{}%", number(value * 100.0)),
        "ops" => format!("{} ops/s", si(value)),
        "reqps" => format!("{} req/s", si(value)),
        _ => si(value),
    }
}

fn seconds(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0 s".to_owned()
    } else if magnitude < 1e-3 {
        format!("{} µs", number(value * 1e6))
    } else if magnitude < 1.0 {
        format!("{} ms", number(value * 1e3))
    } else if magnitude < 120.0 {
        format!("{} s", number(value))
    } else {
        format!("{} min", number(value / 60.0))
    }
}

fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{} {}", number(scaled), UNITS[unit])
}

fn si(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "K")
    } else {
        (value, "")
    };
    format!("{}{suffix}", number(scaled))
}

/// Three significant digits at most, no trailing zeros.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if text == "-0" { "0".to_owned() } else { text }
}

/// The smallest round number (1, 2, 2.5 or 5 times a power of ten, times four gridlines) at or
/// above `value`, so the gridlines fall on round values.
pub fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let raw = value / 4.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| step * 4.0 >= value)
        .unwrap_or(10.0 * power);
    step * 4.0
}

/// A round tick interval (seconds) giving at most `ticks` ticks over `span` seconds.
pub fn time_step(span: f64, ticks: u32) -> f64 {
    const STEPS: [f64; 12] = [
        1.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ];
    STEPS
        .into_iter()
        .find(|step| span / step <= f64::from(ticks))
        .unwrap_or(7200.0)
}

/// The UTC time of day of unix time `t`: seconds shown only when ticks are under a minute apart.
pub fn time_label(t: f64, step: f64) -> String {
    let of_day = t.rem_euclid(86_400.0) as u64;
    let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    if step < 60.0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// The UTC date and minute of unix time `t`, e.g. `2026-12-07 23:10 UTC`.
pub fn date_label(t: f64) -> String {
    let days = (t / 86_400.0).floor() as i64;
    // Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day count from 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year}-{month:02}-{day:02} {} UTC", time_label(t, 60.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_in_the_panels_units() {
        assert_eq!(format_value(0.0123, "s"), "12.3 ms");
        assert_eq!(format_value(0.000_45, "s"), "450 µs");
        assert_eq!(format_value(2.5, "s"), "2.5 s");
        assert_eq!(format_value(0.0, "s"), "0 s");
        assert_eq!(format_value(31_457_280.0, "bytes"), "30 MiB");
        assert_eq!(format_value(0.0213, "percentunit"), "2.13%");
        assert_eq!(format_value(1234.0, "ops"), "1.23K ops/s");
        assert_eq!(format_value(42.0, "reqps"), "42 req/s");
        assert_eq!(format_value(3.0, "short"), "3");
        assert_eq!(format_value(-0.001, "none"), "0");
    }

    #[test]
    fn gridlines_fall_on_round_values_above_the_highest() {
        for (highest, ceiling) in [(3.0, 4.0), (37.0, 40.0), (0.013, 0.02), (900.0, 1000.0)] {
            let got = nice_ceiling(highest);
            assert!(
                (got - ceiling).abs() < 1e-9,
                "{highest}: {got}, not {ceiling}"
            );
        }
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        assert_eq!(time_step(240.0, 6), 60.0);
        assert_eq!(time_step(25.0, 6), 5.0);
        assert_eq!(time_label(1_765_000_000.0, 60.0), "05:46");
        assert_eq!(time_label(1_765_000_005.0, 5.0), "05:46:45");
        assert_eq!(date_label(1_765_000_000.0), "2025-12-06 05:46 UTC");
        assert_eq!(date_label(951_782_400.0), "2000-02-29 00:00 UTC");
    }
}
