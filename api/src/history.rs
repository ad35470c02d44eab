//! A conversation named by its id, 1:1 or group alike: what it is (`GET /conversations/{id}`)
//! and its messages by place (`GET /conversations/{id}/messages`), each as its caller may see it
//! (`membership`).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use wiber_common::message::{FieldError, Message, StoredMessage};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Fields, QueryParams};
use crate::groups::Group;
use crate::membership::{ConversationId, ConversationIdPath, reader, seen};
use crate::producer::MessageProducer;
use crate::read::{mark_next_page, mark_prev_page};
use crate::state::Shared;
use crate::store::{ConversationPage, CountScope, MessageStore, PageCursor};

/// `GET /conversations/{conversationId}/messages`: which page, and whose view.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1 to 500 (default 50)
    #[param(required = false, minimum = 1, maximum = 500, default = 50)]
    pub limit: i64,
    /// The `X-Next-Cursor` of the previous page: continue just after its last message.
    #[param(required = false, value_type = Option<String>, pattern = "^[0-9]{1,18}$")]
    pub after: Option<i64>,
    /// The `X-Prev-Cursor` of a page: the messages just before its first, oldest first.
    #[param(required = false, value_type = Option<String>, pattern = "^[0-9]{1,18}$")]
    pub before: Option<i64>,
    /// `true`: the conversation's last `limit` messages (what a chat opens at), oldest first.
    #[param(required = false, default = false)]
    pub newest: bool,
    /// With AUTH_MODE=none, whose view (a former member's ends where they went); otherwise, if
    /// given, the token's user.
    #[param(required = false, schema_with = wiber_common::message::openapi::user)]
    pub user: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for HistoryQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = QueryParams::from_parts(parts, &["limit", "after", "before", "newest", "user"])?;
        let mut fields = Fields::default();
        let limit = fields.check(q.integer("limit", 50, 1, 500));
        let place = |name: &str, header: &str| match q.get(name).map(PageCursor::decode) {
            None => Ok(None),
            Some(Some(PageCursor::Place(seq))) => Ok(Some(seq)),
            Some(_) => Err(FieldError::new(
                name,
                format!("must be a cursor from a previous {header} header"),
            )),
        };
        let after = fields.check(place("after", "X-Next-Cursor"));
        let before = fields.check(place("before", "X-Prev-Cursor"));
        let newest = fields.check(match q.get("newest") {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(FieldError::new("newest", "must be true or false")),
        });

        let user = fields.check(match q.get("user") {
            None => Ok(None),
            Some(u) => wiber_common::message::validate_user("user", u).map(|()| Some(u.to_owned())),
        });
        fields.or_invalid(|| {
            Some(Self {
                limit: limit?,
                after: after?,
                before: before?,
                newest: newest?,
                user: user?,
            })
        })
    }
}

/// A conversation's messages, oldest first
///
/// A 1:1 conversation's or a group's, by place, with a group's membership changes among them
/// (each with `membership`). Only its members read it; a former member reads up to where they
/// went. A full page carries `X-Next-Cursor` (and a `Link: rel="next"`); pass it as `after`.
/// `newest=true` gives the last messages, where a chat opens; a page with older messages before it
/// carries `X-Prev-Cursor` (and a `Link: rel="prev"`); pass it as `before` to page back. With
/// `before` (or `newest`) the page is the last `limit` messages before it (or the end), and never
/// reaches back past `after` when that is given too.
#[utoipa::path(
    get, path = "/conversations/{conversationId}/messages", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, HistoryQuery),
    responses(
        (status = 200, description = "The page", body = Vec<Message>,
         headers(("X-Next-Cursor" = String, description = "Present when the page is full"),
                 ("X-Prev-Cursor" = String, description = "Present when older messages lie before the page"))),
        (status = 400, description = "Invalid conversationId, limit, cursor or user"),
        (status = 403, description = "The caller is not (and never was) a member"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn conversation_messages<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    conversation: ConversationId,
    query: HistoryQuery,
) -> Result<Response, ApiError> {
    let user = reader(&caller, query.user.clone())?;
    let seen = seen(&state.store, &conversation, user.as_deref()).await?;
    let last = match (query.newest, seen.until) {
        (true, None) => {
            let count = state
                .store
                .count(CountScope::Conversation(conversation.id.clone()));
            let count = count
                .await
                .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
            Some(i64::try_from(count).unwrap_or(i64::MAX))
        }
        (_, until) => until,
    };
    let (after, limit) = window(&query, last);
    let stored = if limit == 0 {
        Vec::new()
    } else {
        state
            .store
            .conversation(ConversationPage {
                conversation_id: conversation.id.clone(),
                after: after.map(PageCursor::Place),
                skip: 0,
                limit,
            })
            .await
            .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
    };
    let visible: Vec<&StoredMessage> = stored
        .iter()
        .filter(|m| {
            seen.until
                .is_none_or(|until| m.seq.is_some_and(|s| s <= until))
        })
        .collect();
    let messages: Vec<Message> = visible.iter().filter_map(|m| m.to_message()).collect();
    let mut response = Json(messages).into_response();
    if visible.len() as i64 == query.limit {
        if let Some(last) = visible.last() {
            let cursor = PageCursor::after(last).encode();
            let (id, limit) = (&conversation.id, query.limit);
            let link = format!(
                "</conversations/{id}/messages?limit={limit}&after={cursor}>; rel=\"next\""
            );
            mark_next_page(&mut response, &cursor, &link);
        }
    }
    if let Some(first) = visible.first().and_then(|m| m.seq).filter(|&seq| seq > 1) {
        let (id, limit) = (&conversation.id, query.limit);
        let link =
            format!("</conversations/{id}/messages?limit={limit}&before={first}>; rel=\"prev\"");
        mark_prev_page(&mut response, &first.to_string(), &link);
    }
    Ok(response)
}

/// The places a page covers, as the store reads them: after which place, and how many. `last`
/// is the last place the reader sees (a former member's `until`, or the count for `newest`).
fn window(query: &HistoryQuery, last: Option<i64>) -> (Option<i64>, i64) {
    let end = match (query.before, query.newest) {
        (Some(before), _) => last.map_or(before, |last| before.min(last + 1)),
        (None, true) => last.unwrap_or(0) + 1,
        (None, false) => {
            let limit = match last {
                Some(until) => query.limit.min(until - query.after.unwrap_or(0)).max(0),
                None => query.limit,
            };
            return (query.after, limit);
        }
    };
    // Backwards: the `limit` places just before `end`, none at or before `after`.
    let from = (end - 1 - query.limit).max(query.after.unwrap_or(0)).max(0);
    (Some(from), (end - 1 - from).max(0))
}

/// A conversation as its reader sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationInfo {
    #[schema(pattern = "^([A-Za-z0-9._-]{1,50}:[A-Za-z0-9._-]{1,50}|g-[0-9a-f]{32})$")]
    pub conversation_id: String,
    /// Everyone in it now, sorted.
    pub members: Vec<String>,
    /// A group's title and owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    /// For a former member of a group: the last place they see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readable_until: Option<i64>,
}

/// A conversation's members
///
/// A 1:1 conversation's two users, or a group's members, title and owner. Only its members
/// (and former members) read it.
#[utoipa::path(
    get, path = "/conversations/{conversationId}", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, crate::membership::ReaderQuery),
    responses(
        (status = 200, description = "The conversation", body = ConversationInfo),
        (status = 400, description = "Invalid conversationId or user"),
        (status = 403, description = "The caller is not (and never was) a member"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn conversation_info<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    conversation: ConversationId,
    query: crate::membership::ReaderQuery,
) -> Result<Json<ConversationInfo>, ApiError> {
    let user = reader(&caller, query.user)?;
    let seen = seen(&state.store, &conversation, user.as_deref()).await?;
    let (members, group) = match (seen.group, &conversation.users) {
        (Some(group), _) => (
            group.members.clone(),
            Some(Group::of(&conversation.id, group)),
        ),
        (None, Some((a, b))) => {
            let mut pair = vec![a.clone(), b.clone()];
            pair.dedup();
            (pair, None)
        }
        (None, None) => (Vec::new(), None),
    };
    Ok(Json(ConversationInfo {
        conversation_id: conversation.id,
        members,
        group,
        readable_until: seen.until,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: i64, after: Option<i64>, before: Option<i64>, newest: bool) -> HistoryQuery {
        HistoryQuery {
            limit,
            after,
            before,
            newest,
            user: None,
        }
    }

    #[test]
    fn the_newest_page_is_the_last_places_and_older_pages_end_before_their_cursor() {
        // 300 messages, pages of 100: 201..=300, then 101..=200, then 1..=100.
        assert_eq!(
            window(&query(100, None, None, true), Some(300)),
            (Some(200), 100)
        );
        assert_eq!(
            window(&query(100, None, Some(201), false), None),
            (Some(100), 100)
        );
        assert_eq!(
            window(&query(100, None, Some(101), false), None),
            (Some(0), 100)
        );
        // A short first page, and nothing before the first place.
        assert_eq!(
            window(&query(100, None, Some(31), false), None),
            (Some(0), 30)
        );
        assert_eq!(
            window(&query(100, None, Some(1), false), None),
            (Some(0), 0)
        );
        assert_eq!(window(&query(50, None, None, true), Some(0)), (Some(0), 0));
    }

    #[test]
    fn a_former_member_pages_back_from_where_they_went_and_no_further() {
        // Gone at place 40: the newest they see ends there, and a later cursor is cut to it.
        assert_eq!(
            window(&query(25, None, None, true), Some(40)),
            (Some(15), 25)
        );
        assert_eq!(
            window(&query(25, None, Some(90), false), Some(40)),
            (Some(15), 25)
        );
        assert_eq!(
            window(&query(25, Some(30), None, false), Some(40)),
            (Some(30), 10)
        );
    }

    #[test]
    fn after_and_before_together_bound_a_page_from_both_sides() {
        let bounded =
            |limit, after, before, newest, last| window(&query(limit, after, before, newest), last);
        assert_eq!(
            bounded(100, Some(150), Some(201), false, None),
            (Some(150), 50)
        );
        assert_eq!(
            bounded(10, Some(150), Some(201), false, None),
            (Some(190), 10)
        );
        assert_eq!(
            bounded(100, Some(250), None, true, Some(300)),
            (Some(250), 50)
        );
        assert_eq!(
            bounded(100, Some(250), Some(200), false, None),
            (Some(250), 0)
        );
    }
}
