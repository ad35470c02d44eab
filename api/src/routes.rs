//! The HTTP routes: the message API, health, metrics and the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;
use wiber_common::message::{
    FieldError, Message, MessageRecord, StoredMessage, conversation_id, validate_content,
    validate_user,
};

use crate::error::{ApiError, Problem};
use crate::idempotency::{self, Claim};
use crate::metrics::{Metrics, track};
use crate::producer::{MessageProducer, ProduceError};
use crate::store::{ConversationPage, CountScope, Cursor, MessageStore};

/// Large enough for 5000 characters that each need a 12-byte `\uXXXX\uXXXX` escape.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
const IDEMPOTENCY_KEY_MAX: usize = 255;

pub struct AppState<P, S> {
    pub producer: P,
    pub store: S,
    pub metrics: Metrics,
}

type Shared<P, S> = State<Arc<AppState<P, S>>>;

pub fn app<P: MessageProducer, S: MessageStore>(state: Arc<AppState<P, S>>) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/messages", post(send_message::<P, S>))
        .route("/messages/count", get(count_messages::<P, S>))
        .route("/messages/user/{username}", get(user_messages::<P, S>))
        .route("/messages/{user1}/{user2}", get(conversation::<P, S>))
        .route("/health/liveness", get(liveness))
        .route("/health/readiness", get(readiness::<P, S>))
        .route("/metrics", get(metrics_text::<P, S>))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(metrics, track))
        .with_state(state)
}

/// The body of `POST /messages`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documents the body for OpenAPI; the handler validates the JSON field by field.
#[schema(rename_all = "camelCase")]
pub struct NewMessage {
    #[schema(min_length = 1, max_length = 50, pattern = "^[A-Za-z0-9._-]+$")]
    from_user: String,
    #[schema(min_length = 1, max_length = 50, pattern = "^[A-Za-z0-9._-]+$")]
    to_user: String,
    #[schema(min_length = 1, max_length = 5000)]
    content: String,
}

/// Validates the body field by field, so every error names its field and rule, and collects them all.
fn parse_new_message(body: &[u8]) -> Result<(String, String, String), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::field("body", format!("must be a JSON object ({e})")))?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut take = |object: &mut Map<String, Value>, field: &str| match object.remove(field) {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
    };
    let from = take(&mut object, "fromUser");
    let to = take(&mut object, "toUser");
    let content = take(&mut object, "content");
    let mut unknown: Vec<&String> = object.keys().collect();
    unknown.sort();
    errors.extend(unknown.into_iter().map(|k| {
        FieldError::new(
            k.as_str(),
            "is not a known field (fromUser, toUser, content)",
        )
    }));
    if let Some(from) = &from {
        errors.extend(validate_user("fromUser", from).err());
    }
    if let Some(to) = &to {
        errors.extend(validate_user("toUser", to).err());
    }
    if let Some(content) = &content {
        errors.extend(validate_content("content", content).err());
    }
    match (from, to, content) {
        (Some(from), Some(to), Some(content)) if errors.is_empty() => Ok((from, to, content)),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    // No Content-Type is accepted, as the original API did; anything else must be JSON.
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let rule = "must be 1 to 255 visible ASCII characters";
    let key = value
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", rule))?;
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::field("Idempotency-Key", rule));
    }
    Ok(Some(key.to_owned()))
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

fn to_messages(stored: &[StoredMessage]) -> Vec<Message> {
    stored
        .iter()
        .filter_map(StoredMessage::to_message)
        .collect()
}

/// Send a message
///
/// Produces the message to Kafka and answers once the broker acknowledged it (acks=all).
/// The consumer stores it shortly after. Retries that carry the same `Idempotency-Key`
/// and body from the same sender get the same `messageId`, and the message is stored once;
/// another body under a key already used gets 422. A 503 whose `type` ends in
/// `#outcome-unknown` means the message may have been written: retry with the same key.
#[utoipa::path(
    post, path = "/messages", tag = "messages",
    request_body(content = NewMessage, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1-255 visible ASCII characters")),
    responses(
        (status = 200, description = "Acknowledged by Kafka", body = Message),
        (status = 400, description = "Invalid body or header", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency-Key reused for a different message", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Kafka unavailable: not sent (type about:blank), or outcome unknown (type ending in #outcome-unknown, with messageId): retry with the same Idempotency-Key", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
async fn send_message<P: MessageProducer, S: MessageStore>(
    State(state): Shared<P, S>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Message>, ApiError> {
    check_json_content_type(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: BODY_LIMIT_BYTES,
            }
        } else {
            ApiError::field("body", "could not be read")
        }
    })?;
    let key = idempotency_key(&headers)?;
    let (from_user, to_user, content) = parse_new_message(&body)?;

    let mut record = MessageRecord {
        message_id: Uuid::nil(),
        from_user,
        to_user,
        content,
    };
    let reservation = match idempotency::claim(&state.store, key.as_deref(), &record).await? {
        Claim::Answer(message) => return Ok(Json(message)),
        Claim::Produce {
            message_id,
            reservation,
        } => {
            record.message_id = message_id;
            reservation
        }
    };
    let conversation = conversation_id(&record.from_user, &record.to_user);
    let produced = state
        .producer
        .send(&conversation, &record)
        .await
        .map_err(|e| match e {
            ProduceError::OutcomeUnknown { .. } => ApiError::OutcomeUnknown {
                message_id: record.message_id,
                cause: e.to_string(),
            },
            _ => ApiError::KafkaUnavailable(e.to_string()),
        })?;
    let timestamp = idempotency::acknowledged(&state.store, reservation.as_deref(), produced).await;
    Ok(Json(record.into_message(timestamp)))
}

fn check_user(field: &str, value: &str) -> Result<(), ApiError> {
    validate_user(field, value).map_err(|e| ApiError::Validation(vec![e]))
}

/// Query parameters parsed by hand so an unknown, repeated or malformed one is named in the error.
struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    fn new(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) =
            query.map_err(|_| ApiError::field("query", "is not a valid query string"))?;
        let mut errors = Vec::new();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                errors.push(FieldError::new(
                    name.as_str(),
                    format!("is not a known query parameter ({})", allowed.join(", ")),
                ));
            } else if pairs[..i].iter().any(|(n, _)| n == name) {
                errors.push(FieldError::new(name.as_str(), "is given more than once"));
            }
        }
        if errors.is_empty() {
            Ok(Self(pairs))
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn integer(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(ApiError::field(
                name,
                format!("must be an integer from {min} to {max}"),
            )),
        }
    }
}

fn path_error(_: PathRejection) -> ApiError {
    ApiError::field("path", "is not valid UTF-8 or misses a segment")
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query for OpenAPI; QueryParams parses it.
struct ConversationQuery {
    /// 1 to 500 (default 50)
    limit: Option<i64>,
    /// Messages to skip (default 0); prefer `after` for deep pages.
    skip: Option<i64>,
    /// The `X-Next-Cursor` of the previous page: continue just after its last message.
    after: Option<String>,
}

/// A conversation, oldest first
///
/// Both directions between the two users, in the order Kafka appended them. A full page
/// carries `X-Next-Cursor` (and a `Link: rel="next"`); pass it as `after` for the next page.
#[utoipa::path(
    get, path = "/messages/{user1}/{user2}", tag = "messages",
    params(("user1" = String, Path), ("user2" = String, Path), ConversationQuery),
    responses(
        (status = 200, description = "The page", body = Vec<Message>,
         headers(("X-Next-Cursor" = String, description = "Present when the page is full"))),
        (status = 400, description = "Invalid user, limit, skip or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn conversation<P: MessageProducer, S: MessageStore>(
    State(state): Shared<P, S>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((user1, user2)) = path.map_err(path_error)?;
    let mut errors: Vec<FieldError> = [
        validate_user("user1", &user1).err(),
        validate_user("user2", &user2).err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let query = QueryParams::new(query, &["limit", "skip", "after"])?;
    let limit = query.integer("limit", 50, 1, 500);
    let skip = query.integer("skip", 0, 0, 1_000_000);
    let after = match query.get("after") {
        None => Ok(None),
        Some(raw) => Cursor::decode(raw).map(Some).ok_or_else(|| {
            ApiError::field(
                "after",
                "must be a cursor from a previous X-Next-Cursor header",
            )
        }),
    };
    for result in [
        limit.as_ref().err(),
        skip.as_ref().err(),
        after.as_ref().err(),
    ] {
        if let Some(ApiError::Validation(e)) = result {
            errors.extend(e.iter().cloned());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (limit, skip, after) = (limit?, skip?, after?);
    let page = ConversationPage {
        conversation_id: conversation_id(&user1, &user2),
        after,
        skip: skip as u64,
        limit,
    };
    let stored = state.store.conversation(page).await.map_err(store_error)?;
    let mut response = Json(to_messages(&stored)).into_response();
    if stored.len() as i64 == limit {
        if let Some(last) = stored.last() {
            let cursor = Cursor::after(last).encode();
            let link =
                format!("</messages/{user1}/{user2}?limit={limit}&after={cursor}>; rel=\"next\"");
            let headers = response.headers_mut();
            headers.insert(
                NEXT_CURSOR_HEADER,
                HeaderValue::from_str(&cursor).expect("ascii"),
            );
            if let Ok(link) = HeaderValue::from_str(&link) {
                headers.insert(header::LINK, link);
            }
        }
    }
    Ok(response)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query for OpenAPI; QueryParams parses it.
struct UserQuery {
    /// 1 to 500 (default 100)
    limit: Option<i64>,
}

/// A user's recent messages, newest first
///
/// Messages the user sent or received, across all conversations.
#[utoipa::path(
    get, path = "/messages/user/{username}", tag = "messages",
    params(("username" = String, Path), UserQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<Message>),
        (status = 400, description = "Invalid user or limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn user_messages<P: MessageProducer, S: MessageStore>(
    State(state): Shared<P, S>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Vec<Message>>, ApiError> {
    let Path(username) = path.map_err(path_error)?;
    check_user("username", &username)?;
    let limit = QueryParams::new(query, &["limit"])?.integer("limit", 100, 1, 500)?;
    let stored = state
        .store
        .user_messages(&username, limit)
        .await
        .map_err(store_error)?;
    Ok(Json(to_messages(&stored)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageCount {
    pub count: u64,
    pub user1: Option<String>,
    pub user2: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query for OpenAPI; QueryParams parses it.
struct CountQuery {
    /// Count this user's messages (sent or received)...
    user1: Option<String>,
    /// ...or, with user1, only their conversation with this user.
    user2: Option<String>,
}

/// Count messages
///
/// All messages; with `user1`, that user's; with both, their conversation's.
#[utoipa::path(
    get, path = "/messages/count", tag = "messages",
    params(CountQuery),
    responses(
        (status = 200, description = "The count", body = MessageCount),
        (status = 400, description = "Invalid user, or user2 without user1", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn count_messages<P: MessageProducer, S: MessageStore>(
    State(state): Shared<P, S>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<MessageCount>, ApiError> {
    let query = QueryParams::new(query, &["user1", "user2"])?;
    let user1 = query.get("user1").map(str::to_owned);
    let user2 = query.get("user2").map(str::to_owned);
    let scope = match (&user1, &user2) {
        (None, None) => CountScope::All,
        (Some(u1), None) => {
            check_user("user1", u1)?;
            CountScope::User(u1.clone())
        }
        (Some(u1), Some(u2)) => {
            let errors: Vec<FieldError> = [
                validate_user("user1", u1).err(),
                validate_user("user2", u2).err(),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            CountScope::Conversation(conversation_id(u1, u2))
        }
        (None, Some(_)) => return Err(ApiError::field("user2", "needs user1")),
    };
    let count = state.store.count(scope).await.map_err(store_error)?;
    Ok(Json(MessageCount {
        count,
        user1,
        user2,
    }))
}

/// Liveness
#[utoipa::path(get, path = "/health/liveness", tag = "health",
    responses((status = 200, description = "The process serves requests", example = json!({"status": "alive"}))))]
async fn liveness() -> Json<Value> {
    Json(serde_json::json!({ "status": "alive" }))
}

/// Readiness
///
/// Ready when both Kafka (the topic exists) and MongoDB answer.
#[utoipa::path(get, path = "/health/readiness", tag = "health",
    responses(
        (status = 200, description = "Ready", example = json!({"status": "ready", "kafka": "connected", "mongodb": "connected"})),
        (status = 503, description = "A dependency is down", example = json!({"status": "not ready", "kafka": "disconnected", "mongodb": "connected"})),
    ))]
async fn readiness<P: MessageProducer, S: MessageStore>(State(state): Shared<P, S>) -> Response {
    let (kafka, mongo) = tokio::join!(state.producer.ready(), state.store.ready());
    wiber_common::health::readiness(kafka, mongo)
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text<P: MessageProducer, S: MessageStore>(State(state): Shared<P, S>) -> Response {
    let (content_type, body) = wiber_common::metrics::render(&state.metrics.registry);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wiber API",
        description = "Durable, ordered chat messages over Kafka and MongoDB."
    ),
    paths(
        send_message,
        conversation,
        user_messages,
        count_messages,
        liveness,
        readiness,
        metrics_text
    ),
    components(schemas(Message, NewMessage, MessageCount, Problem, FieldError))
)]
pub struct ApiDoc;
