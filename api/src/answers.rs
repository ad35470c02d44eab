//! Error answers that several routes give for the same reason, for their `#[utoipa::path]`
//! responses. Every error answer is a `Problem` (`openapi::finish` says so once, for all of them),
//! and the edge's own answers (401, 429, the issuer's keys, load shedding) are added there too.

use utoipa::IntoResponses;

/// The reads' answer while MongoDB cannot be reached.
#[derive(IntoResponses)]
#[response(status = 503, description = "Store unavailable")]
pub struct StoreUnavailable;

/// The push streams' answer when this replica cannot open one.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "Streams are starting, full or shutting down on this replica"
)]
pub struct StreamsUnavailable;
