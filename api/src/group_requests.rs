//! What the group routes take (`groups`): a new group's body, new members, and the member a
//! removal names; each parses and validates itself, naming every field it refuses.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use wiber_common::group::{TITLE_MAX_CHARS, validate_title, validate_users};
use wiber_common::message::{openapi, validate_user};

use crate::body::BodyFields;
use crate::error::ApiError;
use crate::extract::{FromJsonBody, path_error};
use crate::membership::ConversationId;

fn users_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(openapi::user())
        .min_items(Some(1))
        .unique_items(true)
}

fn title_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(TITLE_MAX_CHARS))
        .pattern(Some(wiber_common::group::TITLE_PATTERN))
}

/// The body of `POST /conversations`.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewGroup {
    /// The other members (the creator is one without being named): each once, and with the
    /// creator at most GROUP_MAX_MEMBERS (256 by default).
    #[schema(schema_with = users_schema)]
    pub members: Vec<String>,
    #[schema(schema_with = title_schema)]
    pub title: Option<String>,
}

impl FromJsonBody for NewGroup {
    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut body = BodyFields::parse(body)?;
        let members = body.strings("members");
        let title = body.string("title", false);
        if let Some(members) = &members {
            body.check(validate_users("members", members));
        }
        if let Some(title) = &title {
            body.check(validate_title("title", title));
        }
        body.finish("members, title", || {
            Some(Self {
                members: members?,
                title,
            })
        })
    }
}

/// The body of `POST /conversations/{conversationId}/members`.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
pub struct NewMembers {
    /// Users to add: each once.
    #[schema(schema_with = users_schema)]
    pub users: Vec<String>,
}

impl FromJsonBody for NewMembers {
    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut body = BodyFields::parse(body)?;
        let users = body.strings("users");
        if let Some(users) = &users {
            body.check(validate_users("users", users));
        }
        body.finish("users", || Some(Self { users: users? }))
    }
}

/// `DELETE /conversations/{conversationId}/members/{user}`: the group and the member who goes.
pub struct MemberPath {
    pub conversation: ConversationId,
    pub user: String,
}

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((raw, user)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| path_error())?;
        let conversation = ConversationId::parse(&raw).ok_or_else(|| {
            ApiError::field(
                "conversationId",
                "must be two users joined by ':' or a group's id",
            )
        })?;
        validate_user("user", &user).map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(Self { conversation, user })
    }
}

/// For the document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct MemberUserPath {
    /// The member who goes: the caller leaves, the owner removes anyone else.
    #[param(schema_with = openapi::user)]
    user: String,
}
