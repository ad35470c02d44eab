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
    fn unset_or_empty_variable_takes_the_default() {
        assert_eq!(parse_value::<u16>("API_PORT", None, 8000).unwrap(), 8000);
        assert_eq!(
            parse_value::<u16>("API_PORT", Some(" "), 8000).unwrap(),
            8000
        );
        assert_eq!(string("WIBER_COMMON_TEST_UNSET", "wiber"), "wiber");
    }
}
