//! The API's state: what the handlers reach, built once by `main`. A part that some module needs
//! on its own is a sub-state (`FromRef`), so that module knows the part and not the whole: the
//! caller extractors take `auth::Access`. Nothing here imports a handler or the router.

use std::sync::Arc;

use axum::extract::{FromRef, State};

use crate::auth::Access;
use crate::metrics::Metrics;
use crate::push::hub::Hub;

pub struct AppState<P, S> {
    pub producer: P,
    pub store: S,
    pub metrics: Metrics,
    /// How long a request body may take to arrive (API_READ_TIMEOUT_MS).
    pub body_timeout: std::time::Duration,
    /// How long a read may take in all (API_REQUEST_TIMEOUT_MS).
    pub request_timeout: std::time::Duration,
    /// Who may call, and how often.
    pub access: Access,
    /// API_MAX_IN_FLIGHT: requests (other than push streams) served at once.
    pub max_in_flight: usize,
    pub push: Arc<Hub>,
    /// GROUP_MAX_MEMBERS: the most members a group may have.
    pub group_max_members: usize,
    /// Set at SIGTERM: readiness fails first, so the Service stops sending new clients here
    /// before this replica's streams are told to reconnect (API_SHUTDOWN_DELAY_MS).
    pub stopping: std::sync::atomic::AtomicBool,
}

/// The state as handlers take it.
pub type Shared<P, S> = State<Arc<AppState<P, S>>>;

impl<P, S> FromRef<Arc<AppState<P, S>>> for Access {
    fn from_ref(state: &Arc<AppState<P, S>>) -> Self {
        state.access.clone()
    }
}
