//! The authentication settings, read once at start-up; each error names its variable.

use std::path::PathBuf;
use std::time::Duration;

use wiber_common::config::{ConfigError, parse_in, string};

/// Where the keys that sign tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// AUTH_JWKS_URL: the issuer's JWKS, fetched at start and again for an unknown `kid`.
    Url(String),
    /// AUTH_JWKS_FILE: a JWKS on disk (a mounted Secret, say), reloaded when it changes.
    File(PathBuf),
    /// AUTH_HS256_SECRET_FILE: a shared secret of at least 32 bytes, for HS256 only.
    Secret(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// AUTH_ISSUER (required): the `iss` every token must carry.
    pub issuer: String,
    /// AUTH_AUDIENCE (required): a value every token's `aud` must hold.
    pub audience: String,
    pub keys: KeySource,
    /// AUTH_USER_CLAIM (sub): the claim holding the Wiber user name.
    pub user_claim: String,
    /// AUTH_ADMIN_SCOPE (wiber:admin): in the token's `scope` (or `scp`), allows counts across users.
    pub admin_scope: String,
    /// AUTH_LEEWAY_SECONDS (30): clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// AUTH_JWKS_REFRESH_SECONDS (60): the least time between two fetches of AUTH_JWKS_URL for
    /// unknown `kid`s, so a flood of made-up ones cannot hammer the issuer.
    pub refresh_interval: Duration,
}

/// AUTH_MODE (jwt): `jwt`, or `none` for a trusted network (logged as a warning at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    None,
    Jwt(JwtConfig),
}

impl JwtConfig {
    /// Tokens from `issuer` for `audience`, signed by `keys`, with every other setting at its default.
    pub fn new(issuer: &str, audience: &str, keys: KeySource) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys,
            user_claim: "sub".to_owned(),
            admin_scope: "wiber:admin".to_owned(),
            leeway: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

fn error(var: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError {
        var: var.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn required(var: &str) -> Result<String, ConfigError> {
    let value = string(var, "");
    if value.is_empty() {
        return Err(error(var, "", "is required with AUTH_MODE=jwt"));
    }
    Ok(value)
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        match string("AUTH_MODE", "jwt").as_str() {
            "none" => return Ok(Self::None),
            "jwt" => {}
            other => return Err(error("AUTH_MODE", other, "must be jwt or none")),
        }
        let sources: Vec<(&str, String)> =
            ["AUTH_JWKS_URL", "AUTH_JWKS_FILE", "AUTH_HS256_SECRET_FILE"]
                .into_iter()
                .map(|var| (var, string(var, "")))
                .filter(|(_, value)| !value.is_empty())
                .collect();
        let keys = match sources.as_slice() {
            [("AUTH_JWKS_URL", url)] => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(error("AUTH_JWKS_URL", url, "must be an http(s) URL"));
                }
                KeySource::Url(url.clone())
            }
            [("AUTH_JWKS_FILE", path)] => KeySource::File(path.into()),
            [(_, path)] => KeySource::Secret(path.into()),
            [] => {
                return Err(error(
                    "AUTH_JWKS_URL",
                    "",
                    "AUTH_MODE=jwt needs one key source: AUTH_JWKS_URL, AUTH_JWKS_FILE or AUTH_HS256_SECRET_FILE",
                ));
            }
            [(first, _), (second, _), ..] => {
                return Err(error(
                    first,
                    "",
                    &format!("give only one key source, not {first} and {second}"),
                ));
            }
        };
        let defaults = JwtConfig::new(&required("AUTH_ISSUER")?, &required("AUTH_AUDIENCE")?, keys);
        let leeway = parse_in("AUTH_LEEWAY_SECONDS", defaults.leeway.as_secs(), 0..=300)?;
        let refresh = parse_in(
            "AUTH_JWKS_REFRESH_SECONDS",
            defaults.refresh_interval.as_secs(),
            1..=86_400,
        )?;
        Ok(Self::Jwt(JwtConfig {
            user_claim: string("AUTH_USER_CLAIM", &defaults.user_claim),
            admin_scope: string("AUTH_ADMIN_SCOPE", &defaults.admin_scope),
            leeway: Duration::from_secs(leeway),
            refresh_interval: Duration::from_secs(refresh),
            ..defaults
        }))
    }
}
