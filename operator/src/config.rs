//! The operator's configuration, read once from the environment at start-up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use wiber_common::config::{ConfigError, parse, parse_in, string};

#[derive(Debug, Clone)]
pub struct Config {
    /// OPERATOR_HOST (0.0.0.0) and OPERATOR_PORT (8080): health and metrics.
    pub listen: SocketAddr,
    /// WATCH_NAMESPACE (all namespaces when empty).
    pub watch_namespace: Option<String>,
    /// LEADER_ELECTION (true): take the Lease before reconciling.
    pub leader_election: bool,
    /// POD_NAMESPACE (default): where the Lease lives.
    pub lease_namespace: String,
    /// LEASE_NAME (wiber-operator)
    pub lease_name: String,
    /// LEASE_DURATION_SECONDS (15): how long a silent leader keeps the lease.
    pub lease_duration: Duration,
    /// POD_NAME (hostname): this replica's identity in the Lease and in events.
    pub identity: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let host: IpAddr = parse("OPERATOR_HOST", IpAddr::from([0, 0, 0, 0]))?;
        let port: u16 = parse("OPERATOR_PORT", 8080)?;
        let lease_secs: u64 = parse_in("LEASE_DURATION_SECONDS", 15, 5..=300)?;
        let watch = string("WATCH_NAMESPACE", "");
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "wiber-operator".to_owned());
        Ok(Self {
            listen: SocketAddr::new(host, port),
            watch_namespace: (!watch.is_empty()).then_some(watch),
            leader_election: parse("LEADER_ELECTION", true)?,
            lease_namespace: string("POD_NAMESPACE", "default"),
            lease_name: string("LEASE_NAME", "wiber-operator"),
            lease_duration: Duration::from_secs(lease_secs),
            identity: format!("{}-{}", string("POD_NAME", &hostname), std::process::id()),
        })
    }
}
