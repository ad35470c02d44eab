//! Each authenticated user's request rate (a token bucket, API_RATE_LIMIT_PER_SECOND refilling
//! API_RATE_LIMIT_BURST), and its state told on every answer in the IETF RateLimit header fields
//! (draft-ietf-httpapi-ratelimit-headers-10): `RateLimit-Policy: "user";q=<burst>;w=<seconds to
//! refill>` and `RateLimit: "user";r=<left>;t=<seconds until full>`, so a client slows down before
//! it is refused. The caller extractor takes from the bucket; `tell` writes what it found.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

pub struct UserLimits {
    limiter: Limiter,
    clock: DefaultClock,
    per_second: u32,
    burst: u32,
}

/// A user's bucket as one request left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub burst: u32,
    pub per_second: u32,
    pub remaining: u32,
}

impl RateState {
    /// Seconds until the bucket is full again (rounded up).
    fn until_full(&self) -> u32 {
        (self.burst - self.remaining).div_ceil(self.per_second)
    }

    fn policy(&self) -> HeaderValue {
        let window = self.burst.div_ceil(self.per_second).max(1);
        HeaderValue::from_str(&format!("\"user\";q={};w={window}", self.burst))
            .expect("digits are a header value")
    }

    fn current(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "\"user\";r={};t={}",
            self.remaining,
            self.until_full()
        ))
        .expect("digits are a header value")
    }
}

impl UserLimits {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
            per_second: per_second.get(),
            burst: burst.get(),
        }
    }

    /// Takes one request from `user`'s bucket, or says how long until one is there; either way
    /// the bucket's state goes to `slot` for the answer's headers.
    pub fn check(&self, user: &str, slot: Option<&RateSlot>) -> Result<(), ApiError> {
        let state = |remaining| RateState {
            burst: self.burst,
            per_second: self.per_second,
            remaining,
        };
        let (found, outcome) = match self.limiter.check_key(&user.to_owned()) {
            Ok(snapshot) => (state(snapshot.remaining_burst_capacity()), Ok(())),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = wait.as_secs().max(1);
                (state(0), Err(ApiError::RateLimited { retry_after }))
            }
        };
        if let Some(slot) = slot {
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
        }
        outcome
    }

    /// Forgets users whose buckets are full again, so idle users cost no memory.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

/// Where the caller extractor leaves the bucket's state for `tell` (a request extension).
#[derive(Clone, Default)]
pub struct RateSlot(Arc<Mutex<Option<RateState>>>);

/// Middleware: gives the request a `RateSlot`, and its answer the RateLimit fields when a
/// user's bucket was consulted (not for health, the document or unauthenticated calls).
pub async fn tell(mut request: Request, next: Next) -> Response {
    let slot = RateSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let found = *slot.0.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(state) = found {
        let headers = response.headers_mut();
        headers.insert("ratelimit-policy", state.policy());
        headers.insert("ratelimit", state.current());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32) -> UserLimits {
        UserLimits::new(
            NonZeroU32::new(per_second).unwrap(),
            NonZeroU32::new(burst).unwrap(),
        )
    }

    #[test]
    fn each_request_leaves_one_less_in_the_users_bucket_and_says_so() {
        let limits = limits(20, 40);
        let slot = RateSlot::default();
        limits.check("alice", Some(&slot)).unwrap();
        let first = slot.0.lock().unwrap().unwrap();
        assert_eq!(first.remaining, 39);
        assert_eq!(first.policy(), "\"user\";q=40;w=2");
        assert_eq!(first.current(), "\"user\";r=39;t=1");
        limits.check("alice", Some(&slot)).unwrap();
        assert_eq!(slot.0.lock().unwrap().unwrap().remaining, 38);
        limits.check("bob", Some(&slot)).unwrap();
        assert_eq!(slot.0.lock().unwrap().unwrap().remaining, 39);
    }

    #[test]
    fn a_refused_request_is_told_nothing_is_left() {
        let limits = limits(1, 2);
        let slot = RateSlot::default();
        limits.check("alice", None).unwrap();
        limits.check("alice", None).unwrap();
        let refused = limits.check("alice", Some(&slot));
        assert!(matches!(refused, Err(ApiError::RateLimited { .. })));
        let state = slot.0.lock().unwrap().unwrap();
        assert_eq!(state.current(), "\"user\";r=0;t=2");
    }
}
