//! The keys that sign tokens, by `kid`, each with the one algorithm it may verify: the key decides
//! the algorithm, never the token (RFC 8725 section 3.1). Kept fresh from their source: a JWKS URL
//! refetched for an unknown `kid` at most once per interval, a JWKS file reloaded when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::config::KeySource;

/// Shortest secret accepted for HS256 (RFC 7518 section 3.2: at least the hash's size).
const MIN_SECRET_BYTES: usize = 32;
/// How often a JWKS file's modification time is looked at.
const FILE_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("not a JWKS: {0}")]
    Parse(String),
    #[error("no usable signing key in the set")]
    Empty,
    #[error("the HS256 secret must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
}

pub struct Key {
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
}

/// One snapshot of the keys.
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    /// The key used by tokens without a `kid`: only when the set holds exactly one key.
    only: Option<Arc<Key>>,
}

/// The algorithm a JWK verifies: its `alg` when given, else the one its type implies.
fn algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let given = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        // HMAC keys in a published set, encryption keys and unknown ones never verify a token.
        Some(_) => return None,
    };
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    // A given `alg` must belong to the key's own family (no RS256 label on an EC key).
    match given {
        Some(alg) if alg.family() != implied.family() => None,
        Some(alg) => Some(alg),
        None => Some(implied),
    }
}

impl KeySet {
    pub fn from_jwks(json: &[u8]) -> Result<Self, KeyError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| KeyError::Parse(e.to_string()))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let (Some(algorithm), Ok(decoding)) = (algorithm(jwk), DecodingKey::from_jwk(jwk))
            else {
                tracing::warn!(kid = ?jwk.common.key_id, "skipping a JWK that cannot verify tokens");
                continue;
            };
            keys.push((
                jwk.common.key_id.clone(),
                Arc::new(Key {
                    algorithm,
                    decoding,
                }),
            ));
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let only = (keys.len() == 1).then(|| keys[0].1.clone());
        let by_kid = keys
            .into_iter()
            .filter_map(|(kid, key)| Some((kid?, key)))
            .collect();
        Ok(Self { by_kid, only })
    }

    pub fn secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::ShortSecret);
        }
        let key = Arc::new(Key {
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
        });
        Ok(Self {
            by_kid: HashMap::new(),
            only: Some(key),
        })
    }

    /// A token's `kid` picks among named keys; a set whose keys have no `kid` (or a secret) has
    /// just the one, for every token. An unknown `kid` finds nothing, so the source is asked again.
    fn find(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        match kid {
            Some(kid) if !self.by_kid.is_empty() => self.by_kid.get(kid).cloned(),
            _ => self.only.clone(),
        }
    }
}

/// What a lookup found.
pub enum Lookup {
    Found(Arc<Key>),
    /// No such key, even after looking again at the source (or too soon to look again).
    Unknown,
    /// The source could not be read and no key is known: the tokens cannot be judged.
    Unavailable,
}

struct Refresh {
    last: Option<Instant>,
    /// The JWKS file's modification time when it was last read.
    modified: Option<SystemTime>,
}

pub struct Keys {
    source: KeySource,
    set: RwLock<Option<Arc<KeySet>>>,
    refresh: tokio::sync::Mutex<Refresh>,
    interval: Duration,
    http: reqwest::Client,
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Keys {
    /// Loads the keys. A file or secret that cannot be read is a start-up error; an issuer that
    /// does not answer is not (it is asked again on the first token), so the API can start first.
    pub async fn load(source: KeySource, interval: Duration) -> Result<Self, KeyError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| KeyError::Fetch {
                url: String::new(),
                reason: e.to_string(),
            })?;
        let keys = Self {
            set: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(Refresh {
                last: None,
                modified: None,
            }),
            source,
            interval,
            http,
        };
        let mut refresh = keys.refresh.lock().await;
        match (&keys.source, keys.reload(&mut refresh).await) {
            (KeySource::Url(url), Err(e)) => {
                tracing::warn!(%url, error = %e, "JWKS not fetched at start; asked again on the first token");
                refresh.last = None;
            }
            (_, Err(e)) => return Err(e),
            (_, Ok(())) => {}
        }
        drop(refresh);
        Ok(keys)
    }

    async fn reload(&self, refresh: &mut Refresh) -> Result<(), KeyError> {
        refresh.last = Some(Instant::now());
        let set = match &self.source {
            KeySource::Secret(path) => KeySet::secret(read(path)?.trim_ascii())?,
            KeySource::File(path) => {
                refresh.modified = modified(path);
                KeySet::from_jwks(&read(path)?)?
            }
            KeySource::Url(url) => {
                let fetch = |reason: String| KeyError::Fetch {
                    url: url.clone(),
                    reason,
                };
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| fetch(e.to_string()))?;
                if !response.status().is_success() {
                    return Err(fetch(format!("status {}", response.status())));
                }
                KeySet::from_jwks(&response.bytes().await.map_err(|e| fetch(e.to_string()))?)?
            }
        };
        *self.set.write().expect("key set lock") = Some(Arc::new(set));
        Ok(())
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.set.read().expect("key set lock").clone()
    }

    /// The key for a token's `kid`, looking at the source again when that may find it.
    pub async fn find(&self, kid: Option<&str>) -> Lookup {
        if let KeySource::File(path) = &self.source {
            self.reload_changed_file(path).await;
        }
        if let Some(key) = self.current().and_then(|set| set.find(kid)) {
            return Lookup::Found(key);
        }
        if let KeySource::Url(_) = &self.source {
            let mut refresh = self.refresh.lock().await;
            // Another request may have fetched while this one waited for the lock.
            if let Some(key) = self.current().and_then(|set| set.find(kid)) {
                return Lookup::Found(key);
            }
            if refresh.last.is_none_or(|t| t.elapsed() >= self.interval) {
                match self.reload(&mut refresh).await {
                    Ok(()) => tracing::info!(kid = ?kid, "JWKS fetched for an unknown kid"),
                    Err(e) => tracing::warn!(error = %e, "JWKS fetch failed"),
                }
            }
        }
        match self.current() {
            None => Lookup::Unavailable,
            Some(set) => set.find(kid).map_or(Lookup::Unknown, Lookup::Found),
        }
    }

    async fn reload_changed_file(&self, path: &Path) {
        // Every request passes here: one that finds another already checking goes on with the
        // keys it has rather than queueing behind it.
        let Ok(mut refresh) = self.refresh.try_lock() else {
            return;
        };
        if refresh.last.is_some_and(|t| t.elapsed() < FILE_CHECK) {
            return;
        }
        refresh.last = Some(Instant::now());
        if modified(path) == refresh.modified {
            return;
        }
        match self.reload(&mut refresh).await {
            Ok(()) => tracing::info!(path = %path.display(), "JWKS file reloaded"),
            // The keys read before stay in use: a half-written file must not lock everyone out.
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "JWKS file not reloaded"),
        }
    }
}
