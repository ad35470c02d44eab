//! Helpers for tests that talk to the real local servers `make test` starts.
//!
//! Servers are found through the same environment variables the Wiber binaries read
//! (`KAFKA_BOOTSTRAP_SERVERS`, `MONGO_URI`). A missing variable or an unreachable server fails
//! the test at once with a message saying how to start it, instead of hanging in a client retry loop.

pub mod brokers;
pub mod browser;
pub mod command;
pub mod dashboard_picture;
pub mod dashboard_series;
pub mod dashboard_units;
pub mod deployed;
pub mod group_traffic;
pub mod kafka;
pub mod kube;
pub mod metrics;
pub mod node;
pub mod oci;
pub mod otlp;
pub mod own_store;
pub mod process;
pub mod prometheus;
pub mod promql;
pub mod readiness;
pub mod soak;
pub mod sse;
pub mod stack;
pub mod tallies;
pub mod traffic;
pub mod verify;

pub use wiber_testkit::{issuer, wait};

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

const HOW_TO_RUN: &str =
    "run the tests with `make test`, which starts the local servers and sets it";

/// Reads a required variable or panics naming it and how to set it.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("{name} is not set: {HOW_TO_RUN}"),
    }
}

/// Panics unless every `host:port` in the comma-separated list accepts a TCP connection.
pub fn assert_reachable(what: &str, var: &str, addresses: &str) {
    for address in addresses.split(',').map(str::trim) {
        let resolved = address
            .to_socket_addrs()
            .unwrap_or_else(|e| panic!("{var}: cannot resolve {address}: {e}"))
            .next()
            .unwrap_or_else(|| panic!("{var}: {address} resolves to nothing"));
        if let Err(e) = std::net::TcpStream::connect_timeout(&resolved, Duration::from_secs(3)) {
            panic!("{what} is not reachable at {address} ({var}): {e}; {HOW_TO_RUN}");
        }
    }
}

/// Bootstrap servers of the local Kafka, checked to be reachable.
pub fn kafka_bootstrap() -> String {
    let servers = required_env("KAFKA_BOOTSTRAP_SERVERS");
    assert_reachable("Kafka", "KAFKA_BOOTSTRAP_SERVERS", &servers);
    servers
}

/// Connection string of the local MongoDB-protocol server, checked to be reachable.
pub fn mongo_uri() -> String {
    let uri = required_env("MONGO_URI");
    let hosts = uri
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_reachable("The MongoDB-protocol server", "MONGO_URI", &hosts);
    uri
}

/// The workspace root: scripts, charts and manifests the tests read are found from here.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A name no other test run uses, so tests share servers without sharing state.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "WIBER_E2E_SURELY_UNSET is not set: run the tests with `make test`")]
    fn missing_server_variable_names_itself_and_how_to_set_it() {
        required_env("WIBER_E2E_SURELY_UNSET");
    }

    #[test]
    #[should_panic(expected = "is not reachable at 127.0.0.1:1")]
    fn unreachable_server_fails_at_once_instead_of_hanging() {
        assert_reachable("Kafka", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1");
    }
}
