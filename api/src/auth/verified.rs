//! Tokens already verified. A client sends the same token with every request for its lifetime, and
//! the signature check is most of what authentication costs, so a token verified once is trusted
//! again without it until its `exp` (plus the leeway) or `TRUST_FOR`, whichever comes first:
//! a key withdrawn from the JWKS stops being honoured within `TRUST_FOR`. Only successes are kept,
//! by the token's SHA-256, so memory is bounded by `CAPACITY` entries whatever the tokens' size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::Identity;

/// The longest a verified token is trusted without verifying it again.
pub const TRUST_FOR: Duration = Duration::from_secs(60);
const CAPACITY: usize = 10_000;

type Fingerprint = [u8; 32];

#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Fingerprint, (Identity, Instant)>>,
}

fn fingerprint(token: &str) -> Fingerprint {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The identity of `token` if it was verified and is still trusted at `now`.
    pub fn get(&self, token: &str, now: Instant) -> Option<Identity> {
        let key = fingerprint(token);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&key) {
            Some((identity, until)) if now < *until => Some(identity.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Trusts `token`, just verified at `now`, until `exp + leeway` (a Unix time) or `TRUST_FOR`.
    pub fn insert(
        &self,
        token: &str,
        identity: &Identity,
        exp: u64,
        leeway: Duration,
        now: Instant,
    ) {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let left = Duration::from_secs((exp + leeway.as_secs()).saturating_sub(unix_now));
        let until = now + left.min(TRUST_FOR);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= CAPACITY {
                // More live tokens than the cap within a minute: start over rather than grow.
                entries.clear();
            }
        }
        entries.insert(fingerprint(token), (identity.clone(), until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            user: "alice".into(),
            admin: false,
            accepted_until: None,
        }
    }

    fn unix_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn a_verified_token_is_trusted_until_trust_for_and_another_token_is_not() {
        let cache = VerifiedTokens::default();
        let now = Instant::now();
        cache.insert("t1", &alice(), unix_now() + 3600, Duration::ZERO, now);
        assert_eq!(cache.get("t1", now), Some(alice()));
        assert_eq!(cache.get("t2", now), None);
        assert_eq!(
            cache.get("t1", now + TRUST_FOR - Duration::from_secs(1)),
            Some(alice())
        );
        assert_eq!(cache.get("t1", now + TRUST_FOR), None);
        assert_eq!(cache.get("t1", now), None, "an expired entry is dropped");
    }

    #[test]
    fn a_token_is_never_trusted_past_its_exp_and_leeway() {
        let cache = VerifiedTokens::default();
        let now = Instant::now();
        cache.insert(
            "soon",
            &alice(),
            unix_now() + 5,
            Duration::from_secs(2),
            now,
        );
        assert!(cache.get("soon", now + Duration::from_secs(6)).is_some());
        assert!(cache.get("soon", now + Duration::from_secs(8)).is_none());
        // Accepted within the leeway only: trusted no longer than the leeway allows.
        cache.insert(
            "late",
            &alice(),
            unix_now().saturating_sub(1),
            Duration::from_secs(3),
            now,
        );
        assert!(cache.get("late", now + Duration::from_secs(3)).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedTokens::default();
        let now = Instant::now();
        for i in 0..CAPACITY + 10 {
            cache.insert(
                &format!("t{i}"),
                &alice(),
                unix_now() + 3600,
                Duration::ZERO,
                now,
            );
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= CAPACITY, "{len} entries");
        assert!(cache.get(&format!("t{}", CAPACITY + 9), now).is_some());
    }
}
