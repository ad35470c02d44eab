//! The OpenAPI document: its frame, and the rules that hold for many routes at once, each stated
//! once here rather than on every route.
//! Routes add themselves from their `#[utoipa::path]` (`routes::documented`); `finish` then
//! completes the document, so it describes exactly what the server does, answers included.

use serde_json::{Value, json};
use utoipa::OpenApi;
use wiber_common::health::{Alive, Link, Liveness, Readiness, Verdict};
use wiber_common::message::{FieldError, Message};

use crate::changes::NewContent;
use crate::conversations::{Conversation, ReadMark};
use crate::error::Problem;
use crate::groups::{Group, GroupChange, NewGroup, NewMembers};
use crate::history::ConversationInfo;
use crate::read::MessageCount;
use crate::requests::NewMessage;
use crate::signals::ReadPosition;
use wiber_common::change::Changed;
use wiber_common::group::{Action, Membership};
use wiber_common::signal::{Receipt, Typing};

/// The document's frame; `routes::documented` adds every path.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wiber API",
        description = "Durable, ordered chat messages over Kafka and MongoDB."
    ),
    components(schemas(
        Message, NewMessage, MessageCount, Conversation, ReadMark, Problem, FieldError, Liveness,
        Alive, Readiness, Verdict, Link, NewGroup, NewMembers, Group, GroupChange,
        ConversationInfo, Membership, Action, Receipt, Typing, ReadPosition, Changed, NewContent,
        crate::whoami::Me
    )),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// The `bearer` security scheme the message routes name (AUTH_MODE=jwt).
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as served: `doc` with every error answer a `Problem`, every answer the edge gives
/// (authentication, rate limit, load shedding), the closed request body and the stream's events.
pub fn finish(doc: &utoipa::openapi::OpenApi, stream_path: &str, stream_events: Value) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the document serializes");
    for operation in operations(&mut doc) {
        let authenticated = operation.get("security").is_some();
        let responses = &mut operation["responses"];
        for (status, response) in responses.as_object_mut().into_iter().flatten() {
            if status.as_str() >= "400" {
                problem(response);
            }
        }
        if authenticated {
            add(
                responses,
                "401",
                "No valid bearer token (see WWW-Authenticate)",
                CHALLENGE,
            );
            add(
                responses,
                "429",
                "Over this user's request rate (API_RATE_LIMIT_PER_SECOND)",
                RETRY_AFTER,
            );
            add(
                responses,
                "503",
                "The token issuer's keys are unavailable",
                RETRY_AFTER,
            );
        }
        add(
            responses,
            "503",
            "Overloaded: more requests in flight than API_MAX_IN_FLIGHT",
            RETRY_AFTER,
        );
        if authenticated {
            rate_limit_told(responses);
        }
        // In status order, whichever rule added an answer.
        if let Some(answers) = responses.as_object_mut() {
            let mut sorted: Vec<_> = std::mem::take(answers).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            answers.extend(sorted);
        }
        // OpenAPI requires it of every path parameter; utoipa drops it beside `schema_with`.
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            if parameter["in"] == "path" {
                parameter["required"] = json!(true);
            }
        }
    }
    // Unknown fields are refused (400 naming them), so a client learns of a misspelt one.
    for body in [
        "NewMessage",
        "ReadMark",
        "NewGroup",
        "NewMembers",
        "NewContent",
    ] {
        doc["components"]["schemas"][body]["additionalProperties"] = json!(false);
    }
    // A message goes to a user or to a group: exactly one of the two.
    doc["components"]["schemas"]["NewMessage"]["oneOf"] =
        json!([{"required": ["toUser"]}, {"required": ["conversationId"]}]);
    doc["paths"][stream_path]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"] =
        stream_events;
    doc
}

fn operations(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| METHODS.contains(&method.as_str()))
        .map(|(_, operation)| operation)
}

/// Says that `response` can be a problem (`error.rs` renders every error answer so).
fn problem(response: &mut Value) {
    response["content"]["application/problem+json"] =
        json!({"schema": {"$ref": "#/components/schemas/Problem"}});
}

const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before retrying");
const CHALLENGE: (&str, &str) = ("WWW-Authenticate", "The bearer challenge (RFC 6750)");

/// The caller's bucket, told on every answer once the token named the caller (`rate_limit.rs`);
/// absent when the limit is off.
fn rate_limit_told(responses: &mut Value) {
    let fields = [
        (
            "RateLimit-Policy",
            "The caller's quota: `\"user\";q=<requests>;w=<seconds>` (IETF RateLimit fields)",
        ),
        (
            "RateLimit",
            "What is left of it: `\"user\";r=<requests left>;t=<seconds until full>`",
        ),
    ];
    for (status, response) in responses.as_object_mut().into_iter().flatten() {
        if status == "401" {
            continue;
        }
        for (name, about) in fields {
            response["headers"][name] = json!({"schema": {"type": "string"}, "description": about});
        }
    }
}

/// Documents that the route can answer `status` for this reason too, with the header `error.rs`
/// sets on every such answer.
fn add(responses: &mut Value, status: &str, reason: &str, (header, about): (&str, &str)) {
    let response = &mut responses[status];
    match response["description"].as_str() {
        Some(own) if own.contains(reason) => {}
        Some(own) => response["description"] = json!(format!("{own}; or: {reason}")),
        None => response["description"] = json!(reason),
    }
    problem(response);
    response["headers"][header] = json!({"schema": {"type": "string"}, "description": about});
}
