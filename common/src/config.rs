//! Reading configuration from the environment once at start-up, failing with the variable's name.

use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

/// The variable's value, or `default` when it is unset or empty.
pub fn string(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => default.to_owned(),
    }
}

/// The variable parsed as `T`, or `default` when it is unset or empty.
pub fn parse<T>(var: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_value(var, std::env::var(var).ok().as_deref(), default)
}

fn parse_value<T>(var: &str, raw: Option<&str>, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match raw.map(str::trim) {
        Some(v) if !v.is_empty() => v.parse().map_err(|e: T::Err| ConfigError {
            var: var.to_owned(),
            value: v.to_owned(),
            reason: e.to_string(),
        }),
        _ => Ok(default),
    }
}

/// The variable parsed as `T` within `range` (inclusive), or `default` when it is unset or empty.
pub fn parse_in<T>(
    var: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    in_range(var, parse(var, default)?, &range)
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    var: &str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    let reason = format!("must be {} to {}", range.start(), range.end());
    ensure(var, &value, range.contains(&value), &reason)?;
    Ok(value)
}

/// Fails unless `check` holds for an already parsed value.
pub fn ensure<T: std::fmt::Display>(
    var: &str,
    value: &T,
    check: bool,
    reason: &str,
) -> Result<(), ConfigError> {
    if check {
        Ok(())
    } else {
        Err(ConfigError {
            var: var.to_owned(),
            value: value.to_string(),
            reason: reason.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_number_names_the_variable() {
        let err = parse_value::<u16>("API_PORT", Some("80a"), 8000).unwrap_err();
        assert_eq!(err.var, "API_PORT");
        assert!(err.to_string().contains("API_PORT=\"80a\""), "{err}");
    }

    #[test]
    fn a_value_out_of_range_names_the_variable_and_the_range() {
        // Unset: nothing sets it, so the default comes back.
        assert_eq!(
            parse_in::<u64>("WIBER_COMMON_TEST_UNSET", 7, 1..=10).unwrap(),
            7
        );
        assert_eq!(in_range("API_PORT", 10, &(1..=10)).unwrap(), 10);
        let err = in_range("API_MAX_CONNECTIONS", 0usize, &(1..=1024)).unwrap_err();
        assert_eq!(err.var, "API_MAX_CONNECTIONS");
        assert!(
            err.to_string()
                .contains("API_MAX_CONNECTIONS=\"0\": must be 1 to 1024"),
            "{err}"
        );
    }

    #[test]
    fn unset_or_empty_variable_takes_the_default() {
        assert_eq!(parse_value::<u16>("API_PORT", None, 8000).unwrap(), 8000);
        assert_eq!(
            parse_value::<u16>("API_PORT", Some(" "), 8000).unwrap(),
            8000
        );
        assert_eq!(string("WIBER_COMMON_TEST_UNSET", "wiber"), "wiber");
    }
}
