//! How the report writes a line: the few helpers every phase's module also uses while it runs, kept
//! apart from `report` so those modules need not import the report that imports them.

use std::time::Duration;

/// Failure samples printed in full; the rest are only counted by kind.
pub const FAILURE_SAMPLES: usize = 10;

pub fn section(title: &str) {
    println!("\n{title}");
}

pub fn row(label: &str, value: impl std::fmt::Display) {
    println!("  {label:<38} {value}");
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
