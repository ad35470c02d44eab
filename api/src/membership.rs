//! Which conversation a route names, and what its caller may see of it: a 1:1 conversation's two
//! users see all of it; a group's members see all of it, and its former members up to the place
//! where they went. Everyone else is refused alike, whether or not the conversation exists, so a
//! refusal tells nothing.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use utoipa::IntoParams;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use wiber_common::group::{GroupState, is_group_id};
use wiber_common::message::{conversation_id, conversation_users, validate_user};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_error};
use crate::store::MessageStore;

/// A conversation id as a route takes it: a pair of users (either order) or a group's id.
pub const CONVERSATION_ID_PATTERN: &str =
    "^([A-Za-z0-9._-]{1,50}:[A-Za-z0-9._-]{1,50}|g-[0-9a-f]{32})$";

/// The conversation a path names, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationId {
    /// As stored: a pair's users sorted, or the group's id.
    pub id: String,
    /// A pair's two users, sorted; `None` for a group.
    pub users: Option<(String, String)>,
}

impl ConversationId {
    pub fn parse(raw: &str) -> Option<Self> {
        if is_group_id(raw) {
            return Some(Self {
                id: raw.to_owned(),
                users: None,
            });
        }
        let (a, b) = conversation_users(raw)?;
        Some(Self {
            id: conversation_id(a, b),
            users: Some((a.to_owned(), b.to_owned())),
        })
    }
}

fn conversation_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(CONVERSATION_ID_PATTERN))
}

/// For the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ConversationIdPath {
    /// `user1:user2` (the two users, in either order) or a group's id.
    #[param(rename = "conversationId", schema_with = conversation_schema)]
    conversation_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ConversationId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Routes with more in their path take the conversation first.
        let Path(raw) = Path::<Vec<String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| path_error())?;
        let first = raw.first().map(String::as_str).unwrap_or_default();
        Self::parse(first).ok_or_else(|| {
            ApiError::field(
                "conversationId",
                "must be two users joined by ':' or a group's id",
            )
        })
    }
}

/// What a reader may see of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The group, for a group.
    pub group: Option<GroupState>,
    /// The last place the reader may see; `None` for all of it.
    pub until: Option<i64>,
}

impl Seen {
    pub fn is_member(&self, user: &str) -> bool {
        self.group.as_ref().is_none_or(|g| g.is_member(user))
    }
}

const NOT_A_MEMBER: &str = "only the members of a conversation may read it";

/// For whom a read acts: the token's user, or with AUTH_MODE=none the `user` asked for, if any
/// (none: every place of the conversation).
pub fn reader(caller: &Caller, asked: Option<String>) -> Result<Option<String>, ApiError> {
    match caller {
        Caller::Anyone => Ok(asked),
        Caller::User(_) => caller
            .acting_as(asked, "user must be the authenticated user")
            .map(Some),
    }
}

/// What `user` may see of `conversation`; refused, the same way, when that is nothing.
pub async fn seen<S: MessageStore>(
    store: &S,
    conversation: &ConversationId,
    user: Option<&str>,
) -> Result<Seen, ApiError> {
    if let Some((a, b)) = &conversation.users {
        return match user {
            Some(u) if u != a && u != b => Err(ApiError::NotMember(NOT_A_MEMBER)),
            _ => Ok(Seen {
                group: None,
                until: None,
            }),
        };
    }
    let group = store
        .group(&conversation.id)
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
    let Some(group) = group else {
        return Err(match user {
            Some(_) => ApiError::NotMember(NOT_A_MEMBER),
            None => ApiError::NotFound,
        });
    };
    let until = user.and_then(|u| group.readable_until(u));
    if until == Some(0) {
        return Err(ApiError::NotMember(NOT_A_MEMBER));
    }
    Ok(Seen {
        group: Some(group),
        until,
    })
}

/// Who acts on a conversation (with AUTH_MODE=none): the `user` parameter of its routes.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReaderQuery {
    /// With AUTH_MODE=none, who acts (required to act, optional to read); otherwise, if given,
    /// the token's user.
    #[param(required = false, schema_with = wiber_common::message::openapi::user)]
    pub user: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ReaderQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = QueryParams::from_parts(parts, &["user"])?;
        let user = match q.get("user") {
            None => None,
            Some(user) => {
                validate_user("user", user).map_err(|e| ApiError::Validation(vec![e]))?;
                Some(user.to_owned())
            }
        };
        Ok(Self { user })
    }
}
