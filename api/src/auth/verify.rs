//! Verifying a bearer token: its key by `kid`, the key's own algorithm, no critical extension
//! (Wiber understands none), signature, `exp`/`nbf`/`iat` with leeway, `iss`, `aud`, and the user
//! claim, which must be a valid Wiber user name.

use std::time::Instant;

use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};
use wiber_common::message::validate_user;

use super::Identity;
use super::config::JwtConfig;
use super::keys::{KeyError, Keys, Lookup};
use super::verified::VerifiedTokens;
use crate::error::{ApiError, TokenProblem};

pub struct Verifier {
    config: JwtConfig,
    keys: Keys,
    verified: VerifiedTokens,
}

fn invalid(reason: &'static str) -> ApiError {
    ApiError::Unauthenticated(TokenProblem::Invalid(reason))
}

/// Whether `scope` (space-separated, RFC 8693) or `scp` (a list, as some issuers send) holds `wanted`.
fn has_scope(claims: &Map<String, Value>, wanted: &str) -> bool {
    let in_string = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(' ').any(|x| x == wanted));
    let in_list = claims
        .get("scp")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(wanted)));
    in_string || in_list
}

impl Verifier {
    pub async fn new(config: JwtConfig) -> Result<Self, KeyError> {
        let keys = Keys::load(config.keys.clone(), config.refresh_interval).await?;
        Ok(Self {
            config,
            keys,
            verified: VerifiedTokens::default(),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let now = Instant::now();
        if let Some(identity) = self.verified.get(token, now) {
            return Ok(identity);
        }
        // The header is read unverified only to pick the key; the key then fixes the algorithm.
        let header = decode_header(token)
            .map_err(|_| invalid("the token is malformed or its algorithm is not supported"))?;
        let key = match self.keys.find(header.kid.as_deref()).await {
            Lookup::Found(key) => key,
            Lookup::Unknown => return Err(invalid("the token's key is not known")),
            Lookup::Unavailable => return Err(ApiError::AuthUnavailable),
        };
        if header.alg != key.algorithm {
            return Err(invalid("the token's algorithm is not its key's"));
        }
        // RFC 7515 section 4.1.11: extensions the recipient does not understand make it invalid.
        if header.crit.is_some() {
            return Err(invalid(
                "the token names critical extensions (crit) this API does not understand",
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            decode::<Map<String, Value>>(token, &key.decoding, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                if matches!(e.kind(), ErrorKind::ExpiredSignature) {
                    return ApiError::Unauthenticated(TokenProblem::Expired);
                }
                invalid(match e.kind() {
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    ErrorKind::InvalidIssuer => "the token's issuer is not trusted",
                    ErrorKind::InvalidAudience => "the token is not meant for this API",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks exp, iss or aud",
                    ErrorKind::InvalidSignature => "the token's signature is not valid",
                    _ => "the token is not valid",
                })
            })?;
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let leeway = self.config.leeway.as_secs();
        let issued = data.claims.get("iat").and_then(Value::as_f64);
        if issued.is_some_and(|iat| iat > (unix_now + leeway) as f64) {
            return Err(invalid("the token is issued in the future"));
        }
        let user = data
            .claims
            .get(&self.config.user_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the token names no user"))?;
        validate_user(&self.config.user_claim, user)
            .map_err(|_| invalid("the token's user is not a valid Wiber user name"))?;
        // `exp` is required and was checked; a fractional one is truncated, which only shortens trust.
        let exp = data
            .claims
            .get("exp")
            .and_then(Value::as_f64)
            .map(|exp| exp.max(0.0) as u64);
        let identity = Identity {
            user: user.to_owned(),
            admin: has_scope(&data.claims, &self.config.admin_scope),
            // Checked in whole seconds: accepted through the second `exp + leeway`.
            accepted_until: exp.map(|exp| exp + leeway + 1),
        };
        if let Some(exp) = exp {
            self.verified
                .insert(token, &identity, exp, self.config.leeway, now);
        }
        Ok(identity)
    }
}
