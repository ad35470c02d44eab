//! `GET /me`: whom the API takes the caller for. A client learns its user here rather than by
//! reading the token, whose user claim is the API's to choose (AUTH_USER_CLAIM).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::membership::ReaderQuery;

/// The caller as the API sees them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    #[schema(min_length = 1, max_length = 50, pattern = "^[A-Za-z0-9._-]+$")]
    pub user: String,
    /// Holds the admin scope (counts across users).
    pub admin: bool,
    /// When the token stops being accepted (Unix seconds, the leeway included): a stream opened
    /// with it ends then. Absent where the API does not authenticate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_until: Option<u64>,
}

/// Who the caller is
///
/// The user the token names (by the claim the API is configured to read), whether it holds the
/// admin scope, and until when it is accepted. With AUTH_MODE=none, the `user` parameter.
#[utoipa::path(
    get, path = "/me", tag = "auth",
    security(("bearer" = [])),
    params(ReaderQuery),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 400, description = "Invalid user, or none given with AUTH_MODE=none"),
        (status = 403, description = "`user` is not the caller"),
    )
)]
pub async fn me(caller: Caller, query: ReaderQuery) -> Result<Json<Me>, ApiError> {
    let user = caller.acting_as(query.user, "a caller may only ask who they are")?;
    let admin = matches!(&caller, Caller::User(id) if id.admin);
    Ok(Json(Me {
        user,
        admin,
        accepted_until: caller.accepted_until(),
    }))
}
