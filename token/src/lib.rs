//! Signing Wiber's bearer tokens: the command `wiber-token` (for a developer's curl against
//! `make up`), the load generator and the tests all sign with this, so a token's header and claims
//! are written in one place. Verification is the API's (`wiber_api::auth`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub use jsonwebtoken::errors::Error;

/// The scope that lets a caller count across users (the API's AUTH_ADMIN_SCOPE default).
pub const ADMIN_SCOPE: &str = "wiber:admin";

/// A key and the header that names it.
pub struct Signer {
    key: EncodingKey,
    header: Header,
}

impl Signer {
    pub fn new(key: EncodingKey, algorithm: Algorithm, kid: &str) -> Self {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        Self { key, header }
    }

    /// An Ed25519 private key in PEM, as `dev/auth.sh` makes the local issuer's.
    pub fn ed25519_pem(pem: &[u8], kid: &str) -> Result<Self, Error> {
        Ok(Self::new(
            EncodingKey::from_ed_pem(pem)?,
            Algorithm::EdDSA,
            kid,
        ))
    }

    pub fn sign(&self, claims: &Value) -> Result<String, Error> {
        encode(&self.header, claims, &self.key)
    }

    /// Signs with a `crit` header naming `extensions` (RFC 7515 section 4.1.11), for tests of
    /// verifiers that must refuse what they do not understand.
    pub fn sign_critical(&self, extensions: &[&str], claims: &Value) -> Result<String, Error> {
        let mut header = self.header.clone();
        header.crit = Some(extensions.iter().map(|e| (*e).to_owned()).collect());
        encode(&header, claims, &self.key)
    }
}

/// What a token says: whom it names, who issued it for whom, and for how long.
#[derive(Debug, Clone)]
pub struct Claims<'a> {
    pub user: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
    /// From now until it expires.
    pub ttl: Duration,
    /// Carries `ADMIN_SCOPE`.
    pub admin: bool,
}

impl Claims<'_> {
    /// The JWT claims, issued now.
    pub fn to_json(&self) -> Value {
        let now = now();
        let mut claims = json!({
            "sub": self.user, "iss": self.issuer, "aud": self.audience,
            "iat": now, "exp": now + self.ttl.as_secs(),
        });
        if self.admin {
            claims["scope"] = json!(ADMIN_SCOPE);
        }
        claims
    }
}

/// Seconds since the Unix epoch (0 for a clock before it).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_name_the_user_and_expire_after_the_ttl_with_the_admin_scope_only_when_asked() {
        let claims = Claims {
            user: "alice",
            issuer: "https://issuer.test",
            audience: "wiber",
            ttl: Duration::from_secs(300),
            admin: false,
        };
        let plain = claims.to_json();
        assert_eq!(plain["sub"], "alice");
        assert_eq!(plain["aud"], "wiber");
        assert_eq!(
            plain["exp"].as_u64().unwrap() - plain["iat"].as_u64().unwrap(),
            300
        );
        assert!(plain.get("scope").is_none());
        let admin = Claims {
            admin: true,
            ..claims
        }
        .to_json();
        assert_eq!(admin["scope"], ADMIN_SCOPE);
    }

    #[test]
    fn a_key_that_is_not_ed25519_pem_is_refused() {
        assert!(Signer::ed25519_pem(b"not a key", "k").is_err());
    }
}
