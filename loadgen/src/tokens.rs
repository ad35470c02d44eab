//! Bearer tokens for an API that verifies them (AUTH_MODE=jwt): each user's token is signed once,
//! with the local issuer's key (dev/auth.sh), and reused, as an app's client reuses its token, so
//! signing never runs inside a timed request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiber_token::{Claims, Signer};

use crate::args::Args;
use crate::http::Error;

/// Longer than any run's deadlines add up to, so no token expires mid-run.
const TTL: Duration = Duration::from_secs(24 * 3600);

struct Issuer {
    signer: Signer,
    issuer: String,
    audience: String,
}

/// `Authorization` values by user; empty when the API under load is open (no `--token-key`).
pub struct Tokens {
    signer: Option<Issuer>,
    signed: Mutex<HashMap<String, Arc<str>>>,
}

impl Tokens {
    pub fn from_args(args: &Args) -> Result<Self, Error> {
        let signer = match &args.token_key {
            None => None,
            Some(path) => Some(Issuer {
                signer: read_key(path, &args.token_kid)?,
                issuer: args.token_issuer.clone(),
                audience: args.token_audience.clone(),
            }),
        };
        Ok(Self {
            signer,
            signed: Mutex::new(HashMap::new()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.signer.is_some()
    }

    /// `Bearer <token>` naming `user`, signed on first use; `None` for an open API.
    pub fn authorization(&self, user: &str) -> Result<Option<Arc<str>>, Error> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let mut signed = self.signed.lock().map_err(|_| "token cache poisoned")?;
        if let Some(value) = signed.get(user) {
            return Ok(Some(value.clone()));
        }
        let claims = Claims {
            user,
            issuer: &signer.issuer,
            audience: &signer.audience,
            ttl: TTL,
            admin: false,
        };
        let token = signer.signer.sign(&claims.to_json())?;
        let value: Arc<str> = format!("Bearer {token}").into();
        signed.insert(user.to_owned(), value.clone());
        Ok(Some(value))
    }
}

fn read_key(path: &Path, kid: &str) -> Result<Signer, Error> {
    let pem = std::fs::read(path).map_err(|e| format!("--token-key {}: {e}", path.display()))?;
    Signer::ed25519_pem(&pem, kid).map_err(|e| {
        format!(
            "--token-key {}: not an Ed25519 private key (PEM): {e}",
            path.display()
        )
        .into()
    })
}
