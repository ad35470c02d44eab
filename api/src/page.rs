//! The chat page: plain HTML and JavaScript built into the binary (nothing fetched from
//! elsewhere), served at `/chat` from the API's own origin, so it needs no CORS. Its script is a
//! module on the TypeScript client's own sources (`clients/typescript/src`), served unchanged.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const HTML: &str = include_str!("../static/chat.html");
const SCRIPT: &str = include_str!("../static/chat.js");
const LOG_SCRIPT: &str = include_str!("../static/chat-log.js");
/// The TypeScript client's modules, as the page imports them (`/chat/client/<name>`).
const CLIENT: [(&str, &str); 4] = [
    (
        "index.js",
        include_str!("../../clients/typescript/src/index.js"),
    ),
    (
        "client.js",
        include_str!("../../clients/typescript/src/client.js"),
    ),
    (
        "stream.js",
        include_str!("../../clients/typescript/src/stream.js"),
    ),
    (
        "errors.js",
        include_str!("../../clients/typescript/src/errors.js"),
    ),
];

/// Only this origin's script runs; the page's one stylesheet is inline.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}

pub fn routes<St: Clone + Send + Sync + 'static>() -> Router<St> {
    let mut router = Router::new();
    for (name, source) in CLIENT {
        router = router.route(
            &format!("/chat/client/{name}"),
            get(move || async move { asset("text/javascript; charset=utf-8", source) }),
        );
    }
    router
        .route(
            "/chat",
            get(|| async { asset("text/html; charset=utf-8", HTML) }),
        )
        .route(
            "/chat.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/chat-log.js",
            get(|| async { asset("text/javascript; charset=utf-8", LOG_SCRIPT) }),
        )
}
