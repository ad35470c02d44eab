//! The router: every route is registered once, from its handler's `#[utoipa::path]`, so the
//! routes served and the OpenAPI document (`openapi`) cannot disagree. Health lives here too,
//! and the admin port's router (health and `/metrics`, for the kubelet and Prometheus).

use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Extension, Json, Router, middleware};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use utoipa::OpenApi;
use utoipa::openapi::path::HttpMethod;
use wiber_common::health::{Liveness, Needs, Readiness};

use crate::changes;
use crate::conversations;
use crate::error::ApiError;
use crate::extract::{BODY_LIMIT_BYTES, BodyTimeout};
use crate::groups;
use crate::history;
use crate::metrics::track;
use crate::openapi::ApiDoc;
use crate::producer::MessageProducer;
use crate::push;
use crate::read;
use crate::send;
use crate::signals;
use crate::state::{AppState, Shared};
use crate::store::MessageStore;

/// A router that documents each route as it adds it.
struct Documented<St> {
    router: Router<St>,
    doc: utoipa::openapi::OpenApi,
}

impl<St: Clone + Send + Sync + 'static> Documented<St> {
    /// Serves `handler` at the path and methods its `#[utoipa::path]` (`D`) declares.
    fn route<D: utoipa::Path, H: Handler<T, St>, T: 'static>(mut self, handler: H) -> Self {
        let methods = D::methods();
        let service = methods.iter().fold(MethodRouter::new(), |r, m| {
            r.on(method_filter(m), handler.clone())
        });
        self.router = self.router.route(&D::path(), service);
        self.doc
            .paths
            .add_path_operation(D::path(), methods, D::operation());
        self
    }
}

fn method_filter(method: &HttpMethod) -> MethodFilter {
    match method {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}

/// The routes and the OpenAPI document that describes exactly them.
fn documented<P: MessageProducer, S: MessageStore>() -> Documented<Arc<AppState<P, S>>> {
    Documented {
        router: Router::new(),
        doc: ApiDoc::openapi(),
    }
    .route::<send::__path_send_message, _, _>(send::send_message::<P, S>)
    .route::<read::__path_count_messages, _, _>(read::count_messages::<P, S>)
    .route::<read::__path_user_messages, _, _>(read::user_messages::<P, S>)
    .route::<read::__path_conversation, _, _>(read::conversation::<P, S>)
    .route::<conversations::__path_conversations, _, _>(conversations::conversations::<P, S>)
    .route::<conversations::__path_mark_read, _, _>(conversations::mark_read::<P, S>)
    .route::<groups::__path_create_group, _, _>(groups::create_group::<P, S>)
    .route::<groups::__path_add_members, _, _>(groups::add_members::<P, S>)
    .route::<groups::__path_remove_member, _, _>(groups::remove_member::<P, S>)
    .route::<history::__path_conversation_info, _, _>(history::conversation_info::<P, S>)
    .route::<history::__path_conversation_messages, _, _>(history::conversation_messages::<P, S>)
    .route::<signals::__path_typing, _, _>(signals::typing::<P, S>)
    .route::<changes::__path_edit_message, _, _>(changes::edit_message::<P, S>)
    .route::<changes::__path_delete_message, _, _>(changes::delete_message::<P, S>)
    .route::<signals::__path_reads, _, _>(signals::reads::<P, S>)
    .route::<crate::whoami::__path_me, _, _>(crate::whoami::me)
    .route::<__path_liveness, _, _>(liveness)
    .route::<__path_readiness, _, _>(readiness::<P, S>)
}

pub fn app<P: MessageProducer, S: MessageStore>(state: Arc<AppState<P, S>>) -> Router {
    let metrics = state.metrics.clone();
    let Documented { router, doc } = documented::<P, S>();
    // Push streams stay open: neither the read deadline nor the in-flight bound applies to them.
    let Documented {
        router: streams,
        doc,
    } = Documented {
        router: Router::new(),
        doc,
    }
    .route::<push::sse::__path_stream, _, _>(push::sse::stream::<P, S>)
    .route::<push::ws::__path_socket, _, _>(push::ws::socket::<P, S>);
    let mut doc = crate::openapi::finish(
        &doc,
        &<push::sse::__path_stream as utoipa::Path>::path(),
        push::sse::event_schema(),
    );
    push::ws::describe_frames(&mut doc, &<push::ws::__path_socket as utoipa::Path>::path());
    let doc = Arc::new(doc);
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::Overloaded.into_response()
        }))
        .load_shed()
        // One semaphore shared by every route the layer wraps.
        .layer(GlobalConcurrencyLimitLayer::new(state.max_in_flight));
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .merge(crate::page::routes())
        .merge(reference())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.request_timeout,
            read_deadline,
        ))
        .layer(shed)
        .merge(streams)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(Extension(BodyTimeout(state.body_timeout)))
        .layer(middleware::from_fn(crate::rate_limit::tell))
        .layer(middleware::from_fn_with_state(metrics, track))
        .with_state(state)
}

/// The browsable reference at `/docs/`: Swagger UI (built in, nothing fetched) on the served
/// document, where a developer can also try each route with a token.
fn reference<St: Clone + Send + Sync + 'static>() -> Router<St> {
    use utoipa_swagger_ui::{Config, SwaggerUi};
    let config = Config::new(["/openapi.json"]).try_it_out_enabled(true);
    Router::from(SwaggerUi::new("/docs").config(config))
}

/// Liveness
#[utoipa::path(get, path = "/health/liveness", tag = "health",
    responses((status = 200, description = "The process serves requests", body = Liveness, example = json!({"status": "alive"}))))]
async fn liveness() -> Response {
    wiber_common::health::alive()
}

/// Readiness
///
/// Ready when Kafka can take a message (a partition of the topic has a leader and
/// `min.insync.replicas` in sync) and not stopping: accepting messages needs nothing else. MongoDB's state is reported beside it (and as `wiber_api_store_up`); while it is down,
/// reads answer 503 but the replica stays in its Service for sends.
#[utoipa::path(get, path = "/health/readiness", tag = "health",
    responses(
        (status = 200, description = "Ready to accept messages; `mongodb` says whether reads can be served", body = Readiness, example = json!({"status": "ready", "kafka": "connected", "mongodb": "disconnected"})),
        (status = 503, description = "Kafka cannot take a message (unreachable, or no partition with enough replicas in sync), or the process is stopping", body = Readiness, example = json!({"status": "not ready", "kafka": "disconnected", "mongodb": "connected"})),
    ))]
async fn readiness<P: MessageProducer, S: MessageStore>(State(state): Shared<P, S>) -> Response {
    if state.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return wiber_common::health::stopping();
    }
    let (kafka, mongo) = tokio::join!(state.producer.ready(), state.store.ready());
    state.metrics.store_up.set(i64::from(mongo));
    wiber_common::health::readiness(Needs::Kafka, kafka, mongo)
}

/// Cuts a read off at `limit` with 503. Only reads: a POST past the point of handing its message
/// to the producer must not be abandoned, or a message that was sent would be answered as not sent;
/// it is bounded by KAFKA_PRODUCE_TIMEOUT_MS and MONGO_TIMEOUT_MS instead.
async fn read_deadline(
    State(limit): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::ReadTimeout { limit }.into_response(),
    }
}

/// The admin port: the kubelet's health checks and Prometheus's `/metrics`, which the public port
/// does not serve (and the API Service does not expose).
pub fn admin<P: MessageProducer, S: MessageStore>(state: Arc<AppState<P, S>>) -> Router {
    let registry = state.metrics.registry.clone();
    wiber_common::health::router(registry, move || {
        let state = state.clone();
        async move { readiness(State(state)).await }
    })
}
