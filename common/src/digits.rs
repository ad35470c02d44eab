//! Integers in push positions and page cursors as the API's document spells them: an optional
//! minus where allowed, then one to so many digits and nothing else (no `+`, no spaces), so each
//! documented pattern accepts exactly what its decoder does.

use std::str::FromStr;

pub fn integer<T: FromStr>(s: &str, signed: bool, max_digits: usize) -> Option<T> {
    let digits = if signed {
        s.strip_prefix('-').unwrap_or(s)
    } else {
        s
    };
    let well_formed =
        (1..=max_digits).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| s.parse().ok()).flatten()
}

/// Tests that a documented pattern and a decoder agree, on numbers (up to 20 digits, past every
/// limit, some with a minus) joined by the `separators`, so that both well-formed and near-miss
/// values come up.
#[cfg(test)]
pub fn assert_pattern_matches_decoder(
    pattern: &str,
    separators: &'static [&'static str],
    decodes: impl Fn(&str) -> bool,
) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let regex = regex::Regex::new(pattern).unwrap();
    let number = (proptest::bool::weighted(0.2), "[0-9]{1,20}")
        .prop_map(|(minus, digits)| if minus { format!("-{digits}") } else { digits });
    let separator = proptest::sample::select(separators);
    let strings = proptest::collection::vec((number, separator), 0..5).prop_map(|parts| {
        let mut s = String::new();
        for (i, (number, separator)) in parts.iter().enumerate() {
            if i > 0 {
                s.push_str(separator);
            }
            s.push_str(number);
        }
        s
    });
    let matched = std::cell::Cell::new(0);
    TestRunner::new(Config::with_cases(5000))
        .run(&strings, |s| {
            matched.set(matched.get() + usize::from(regex.is_match(&s)));
            prop_assert_eq!(regex.is_match(&s), decodes(&s), "{:?}", s);
            Ok(())
        })
        .unwrap();
    let matched = matched.get();
    assert!(matched > 100, "too few well-formed cases ({matched})");
}
