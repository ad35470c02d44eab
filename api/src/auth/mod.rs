//! Who is calling, and what they may do. `AUTH_MODE=jwt` (the default): a bearer JWT (RFC 6750)
//! verified against the configured keys names the caller, who sends only as themselves and reads
//! only their own conversations; `AUTH_MODE=none`: anyone may do anything, for a trusted network.

pub mod config;
pub mod keys;
pub mod verified;
pub mod verify;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::error::{ApiError, TokenProblem};
use crate::rate_limit::{RateSlot, UserLimits};

pub use verify::Verifier;

pub enum Auth {
    /// `AUTH_MODE=none`.
    Open,
    Jwt(Box<Verifier>),
}

/// What authenticating a request takes: the mode and each user's request rate. The caller
/// extractors reach it as a sub-state of whatever state the router has (`FromRef`); cloning it
/// shares its parts.
#[derive(Clone)]
pub struct Access {
    pub auth: Arc<Auth>,
    /// Each authenticated user's request rate; `None` when API_RATE_LIMIT_PER_SECOND=0.
    pub limits: Option<Arc<UserLimits>>,
}

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// Holds the configured admin scope: may count across users.
    pub admin: bool,
    /// When the token stops being accepted (the second after `exp` plus the leeway, Unix
    /// seconds): a push stream opened with it ends then.
    pub accepted_until: Option<u64>,
}

/// The caller of a request: the extractor that authenticates it, first of a handler's extractors
/// so nothing of an unauthenticated request is even parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `AUTH_MODE=none`: no identity, no restriction.
    Anyone,
    User(Identity),
}

impl Caller {
    /// The sender of a new message: the token's user, whom the body may name but not replace.
    pub fn sender(&self, from_user: Option<String>) -> Result<String, ApiError> {
        match (self, from_user) {
            (Self::Anyone, Some(from)) => Ok(from),
            (Self::Anyone, None) => Err(ApiError::field("fromUser", "is required")),
            (Self::User(id), None) => Ok(id.user.clone()),
            (Self::User(id), Some(from)) if from == id.user => Ok(from),
            (Self::User(_), Some(_)) => Err(ApiError::Forbidden(
                "fromUser must be the authenticated user",
            )),
        }
    }

    pub fn may_read_conversation(&self, user1: &str, user2: &str) -> Result<(), ApiError> {
        match self {
            Self::Anyone => Ok(()),
            Self::User(id) if id.user == user1 || id.user == user2 => Ok(()),
            Self::User(_) => Err(ApiError::Forbidden(
                "only the two users of a conversation may read it",
            )),
        }
    }

    pub fn may_read_user(&self, user: &str) -> Result<(), ApiError> {
        match self {
            Self::Anyone => Ok(()),
            Self::User(id) if id.user == user => Ok(()),
            Self::User(_) => Err(ApiError::Forbidden("only the user may list their messages")),
        }
    }

    /// When the caller's token stops being accepted (Unix seconds); `None` without tokens.
    pub fn accepted_until(&self) -> Option<u64> {
        match self {
            Self::Anyone => None,
            Self::User(id) => id.accepted_until,
        }
    }

    /// Whose push stream: the token's user (whom `asked` may repeat), or with AUTH_MODE=none the
    /// user asked for.
    pub fn stream_user(&self, asked: Option<String>) -> Result<String, ApiError> {
        self.acting_as(
            asked,
            "a stream carries only the authenticated user's messages",
        )
    }

    /// For whom a request acts: the token's user (whom `asked`, the `user` parameter, may repeat
    /// but not replace: `refused` says why), or with AUTH_MODE=none the user asked for.
    pub fn acting_as(
        &self,
        asked: Option<String>,
        refused: &'static str,
    ) -> Result<String, ApiError> {
        match (self, asked) {
            (Self::Anyone, Some(user)) => Ok(user),
            (Self::Anyone, None) => Err(ApiError::field(
                "user",
                "is required when the API does not authenticate (AUTH_MODE=none)",
            )),
            (Self::User(id), None) => Ok(id.user.clone()),
            (Self::User(id), Some(user)) if user == id.user => Ok(user),
            (Self::User(_), Some(_)) => Err(ApiError::Forbidden(refused)),
        }
    }

    /// Counts: of the caller's own messages or conversations; across users with the admin scope.
    pub fn may_count(&self, user1: Option<&str>, user2: Option<&str>) -> Result<(), ApiError> {
        let Self::User(id) = self else { return Ok(()) };
        if id.admin {
            return Ok(());
        }
        match (user1, user2) {
            (Some(a), Some(b)) if id.user == a || id.user == b => Ok(()),
            (Some(u), None) if id.user == u => Ok(()),
            (None, _) => Err(ApiError::Forbidden(
                "counting all messages needs the admin scope",
            )),
            _ => Err(ApiError::Forbidden(
                "only a user may count their own messages and conversations",
            )),
        }
    }
}

impl<St: Send + Sync> FromRequestParts<St> for Caller
where
    Access: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let slot = parts.extensions.get::<RateSlot>();
        authenticate(&Access::from_ref(state), bearer(parts), slot).await
    }
}

async fn authenticate(
    access: &Access,
    token: Result<&str, ApiError>,
    slot: Option<&RateSlot>,
) -> Result<Caller, ApiError> {
    let verifier = match access.auth.as_ref() {
        Auth::Open => return Ok(Caller::Anyone),
        Auth::Jwt(verifier) => verifier,
    };
    let identity = verifier.verify(token?).await?;
    if let Some(limits) = &access.limits {
        limits.check(&identity.user, slot)?;
    }
    Ok(Caller::User(identity))
}

/// The caller of a push stream: as `Caller`, but the token may also come as the `access_token`
/// query parameter (RFC 6750 section 2.3), since a browser's EventSource and WebSocket cannot set
/// headers. The request log never holds the query, so the token is not logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCaller(pub Caller);

impl<St: Send + Sync> FromRequestParts<St> for StreamCaller
where
    Access: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let from_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("access_token="))
                .map(str::to_owned)
        });
        let token = match (
            &from_query,
            parts.headers.contains_key(header::AUTHORIZATION),
        ) {
            (Some(t), false) if !t.is_empty() => Ok(t.as_str()),
            _ => bearer(parts),
        };
        let slot = parts.extensions.get::<RateSlot>();
        authenticate(&Access::from_ref(state), token, slot)
            .await
            .map(Self)
    }
}

/// A token given outside a request's headers (a WebSocket's frame), checked as a bearer token is.
pub async fn authenticate_token(access: &Access, token: &str) -> Result<Caller, ApiError> {
    authenticate(access, Ok(token), None).await
}

/// The caller of a WebSocket: as `StreamCaller`, or `FirstFrame` when the upgrade carries no token
/// at all: the token then comes in the socket's first frame, out of URLs and the logs that keep
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketCaller {
    Known(Caller),
    FirstFrame,
}

impl<St: Send + Sync> FromRequestParts<St> for SocketCaller
where
    Access: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let in_query = parts
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("access_token=")));
        let open = matches!(Access::from_ref(state).auth.as_ref(), Auth::Open);
        if !open && !in_query && !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self::FirstFrame);
        }
        let caller = StreamCaller::from_request_parts(parts, state).await?;
        Ok(Self::Known(caller.0))
    }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 section 2.1).
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthenticated(TokenProblem::Missing));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthenticated(TokenProblem::Invalid(
            "the Authorization header is not visible ASCII",
        ))
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthenticated(TokenProblem::Invalid(
            "the Authorization header must be Bearer <token>",
        )));
    }
    Ok(token.trim())
}
