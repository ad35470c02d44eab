//! Groups: `POST /conversations` makes one, `POST /conversations/{id}/members` adds members,
//! `DELETE /conversations/{id}/members/{user}` removes one (the owner) or leaves (anyone). Each
//! change is produced to Kafka on the group's key, so it takes its place among the group's
//! messages, and is answered once the consumer applied it (or 202 if it has not within
//! `applied::APPLY_WAIT`). The checks here read the group as last applied; the consumer checks again in
//! Kafka's order and sets aside what a concurrent change made invalid (`wiber_common::group`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use wiber_common::group::{Action, GroupState, Membership, new_group_id};
use wiber_common::message::{FieldError, Message, MessageRecord};

use crate::applied::applied;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::JsonBody;
pub use crate::group_requests::{MemberPath, MemberUserPath, NewGroup, NewMembers};
use crate::membership::{ConversationId, ConversationIdPath, ReaderQuery, seen};
use crate::producer::MessageProducer;
use crate::send::produce;
use crate::state::{AppState, Shared};
use crate::store::MessageStore;

/// A group as the consumer last applied it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[schema(pattern = "^g-[0-9a-f]{32}$")]
    pub conversation_id: String,
    pub title: Option<String>,
    /// The creator, who alone removes members.
    pub owner: String,
    /// Everyone in it now, sorted.
    pub members: Vec<String>,
}

impl Group {
    pub fn of(conversation_id: &str, group: GroupState) -> Self {
        Self {
            conversation_id: conversation_id.to_owned(),
            title: group.title,
            owner: group.owner,
            members: group.members,
        }
    }
}

/// A membership change as Kafka acknowledged it, and the group once it was applied.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupChange {
    /// The change's item in the conversation (its `membership` says what changed).
    pub change: Message,
    /// The group after it; absent in a 202, before the consumer applied it.
    pub group: Option<Group>,
}

/// Create a group
///
/// The caller creates a group with `members` (and an optional `title`) and owns it. It gets a
/// server-made `conversationId`; its messages are sent with `conversationId` instead of
/// `toUser`. Answered once the group exists (201), or 202 if it is still on its way.
#[utoipa::path(
    post, path = "/conversations", tag = "conversations",
    security(("bearer" = [])),
    params(ReaderQuery),
    request_body(content = NewGroup, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = GroupChange),
        (status = 202, description = "Accepted, not yet applied: it will be, in order", body = GroupChange),
        (status = 400, description = "Invalid body (an empty or repeated member, say) or user"),
        (status = 403, description = "user is not the token's user"),
        (status = 422, description = "More members than GROUP_MAX_MEMBERS"),
        (status = 503, description = "Kafka or the store unavailable"),
    )
)]
pub async fn create_group<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    query: ReaderQuery,
    JsonBody(new): JsonBody<NewGroup>,
) -> Result<Response, ApiError> {
    let creator = caller.acting_as(query.user, "only the caller creates a group")?;
    let mut users = new.members;
    if !users.contains(&creator) {
        users.push(creator.clone());
    }
    users.sort();
    bound("members", users.len(), state.group_max_members)?;
    let change = Membership {
        action: Action::Created,
        users,
        title: new.title,
        limit: Some(state.group_max_members),
    };
    let recipients = change.users.clone();
    change_group(
        &state,
        &new_group_id(),
        &creator,
        change,
        recipients,
        StatusCode::CREATED,
    )
    .await
}

/// Add members to a group
///
/// Any member adds users; each sees the whole conversation. Users already members are left as
/// they are.
#[utoipa::path(
    post, path = "/conversations/{conversationId}/members", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, ReaderQuery),
    request_body(content = NewMembers, content_type = "application/json"),
    responses(
        (status = 200, description = "Added", body = GroupChange),
        (status = 202, description = "Accepted, not yet applied: it will be, in order", body = GroupChange),
        (status = 400, description = "Invalid conversationId, body or user"),
        (status = 403, description = "The caller is not a member of the group"),
        (status = 422, description = "The group would pass GROUP_MAX_MEMBERS, every user is a member already, or conversationId is a 1:1 conversation"),
        (status = 503, description = "Kafka or the store unavailable"),
    )
)]
pub async fn add_members<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    conversation: ConversationId,
    query: ReaderQuery,
    JsonBody(new): JsonBody<NewMembers>,
) -> Result<Response, ApiError> {
    let by = caller.acting_as(query.user, "only the caller adds members")?;
    let group = member_of(&state.store, &conversation, &by).await?;
    let mut users: Vec<String> = new
        .users
        .into_iter()
        .filter(|u| !group.is_member(u))
        .collect();
    if users.is_empty() {
        return Err(ApiError::Refused(FieldError::new(
            "users",
            "are all members already",
        )));
    }
    users.sort();
    bound(
        "users",
        group.members.len() + users.len(),
        state.group_max_members,
    )?;
    let mut recipients = group.members.clone();
    recipients.extend(users.iter().cloned());
    let change = Membership {
        action: Action::Added,
        users,
        title: None,
        limit: Some(state.group_max_members),
    };
    change_group(
        &state,
        &conversation.id,
        &by,
        change,
        recipients,
        StatusCode::OK,
    )
    .await
}

/// Remove a member, or leave
///
/// The caller leaves (always allowed), or the group's owner removes another member. Whoever goes
/// keeps reading the conversation up to their going, and nothing after it.
#[utoipa::path(
    delete, path = "/conversations/{conversationId}/members/{user}", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, MemberUserPath, ReaderQuery),
    responses(
        (status = 200, description = "Gone", body = GroupChange),
        (status = 202, description = "Accepted, not yet applied: it will be, in order", body = GroupChange),
        (status = 400, description = "Invalid conversationId, user or query"),
        (status = 403, description = "The caller is not a member, or not the owner removing another"),
        (status = 422, description = "user is not a member of the group, or conversationId is a 1:1 conversation"),
        (status = 503, description = "Kafka or the store unavailable"),
    )
)]
pub async fn remove_member<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    path: MemberPath,
    query: ReaderQuery,
) -> Result<Response, ApiError> {
    let by = caller.acting_as(query.user, "only the caller removes members")?;
    let group = member_of(&state.store, &path.conversation, &by).await?;
    let action = if path.user == by {
        Action::Left
    } else if group.owner != by {
        return Err(ApiError::Forbidden(
            "only the group's owner removes members",
        ));
    } else if !group.is_member(&path.user) {
        return Err(ApiError::Unknown(FieldError::new(
            "user",
            "is not a member of the group",
        )));
    } else {
        Action::Removed
    };
    let change = Membership {
        action,
        users: vec![path.user],
        title: None,
        limit: None,
    };
    let recipients = group.members.clone();
    change_group(
        &state,
        &path.conversation.id,
        &by,
        change,
        recipients,
        StatusCode::OK,
    )
    .await
}

fn bound(field: &str, members: usize, max: usize) -> Result<(), ApiError> {
    if members > max {
        return Err(ApiError::Refused(FieldError::new(
            field,
            format!("would make a group of {members}, over its bound of {max} (GROUP_MAX_MEMBERS)"),
        )));
    }
    Ok(())
}

/// The group `user` is a member of, refused as any read would be otherwise.
async fn member_of<S: MessageStore>(
    store: &S,
    conversation: &ConversationId,
    user: &str,
) -> Result<GroupState, ApiError> {
    if conversation.users.is_some() {
        return Err(ApiError::Refused(FieldError::new(
            "conversationId",
            "is a 1:1 conversation, whose members never change",
        )));
    }
    let seen = seen(store, conversation, Some(user)).await?;
    match seen.group {
        Some(group) if group.is_member(user) => Ok(group),
        _ => Err(ApiError::NotMember("only a group's members change it")),
    }
}

/// Produces `change` to the group and waits for the consumer to apply it.
async fn change_group<P: MessageProducer, S: MessageStore>(
    state: &AppState<P, S>,
    group: &str,
    by: &str,
    change: Membership,
    recipients: Vec<String>,
    applied_status: StatusCode,
) -> Result<Response, ApiError> {
    let record = MessageRecord {
        message_id: Uuid::new_v4(),
        from_user: by.to_owned(),
        content: change.summary(by),
        conversation_id: Some(group.to_owned()),
        membership: Some(change),
        recipients,
        ..MessageRecord::default()
    };
    let produced = produce(&state.producer, &record).await?;
    let message_id = record.message_id.to_string();
    let change = MessageRecord {
        recipients: Vec::new(),
        ..record
    }
    .into_message(produced.timestamp);
    // A store that fails meanwhile only costs the wait: the change is in Kafka.
    let seen = applied(|| async {
        let (now, at) = state.store.group_applied(group).await.ok()??;
        (at.applied_in(produced.partition) >= produced.offset).then_some(now)
    })
    .await;
    if let Some(now) = seen {
        return if state.store.is_stored(&message_id).await.unwrap_or(false) {
            let group = Some(Group::of(group, now));
            Ok((applied_status, Json(GroupChange { change, group })).into_response())
        } else {
            Err(ApiError::Refused(FieldError::new(
                "membership",
                "a change appended just before it made it invalid: it was not applied",
            )))
        };
    }
    let body = GroupChange {
        change,
        group: None,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
