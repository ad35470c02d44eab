//! The operator's configuration, read once from the environment at start-up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use wiber_common::config::{ConfigError, ensure, parse, parse_in, string};

#[derive(Debug, Clone)]
pub struct Config {
    /// OPERATOR_HOST (0.0.0.0) and OPERATOR_PORT (8080): health and metrics.
    pub listen: SocketAddr,
    /// WATCH_NAMESPACE: the namespaces to reconcile, comma-separated; all when empty.
    pub watch_namespaces: Vec<String>,
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
        let watch = watch_namespaces(&string("WATCH_NAMESPACE", ""))?;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "wiber-operator".to_owned());
        Ok(Self {
            listen: SocketAddr::new(host, port),
            watch_namespaces: watch,
            leader_election: parse("LEADER_ELECTION", true)?,
            lease_namespace: string("POD_NAMESPACE", "default"),
            lease_name: string("LEASE_NAME", "wiber-operator"),
            lease_duration: Duration::from_secs(lease_secs),
            identity: format!("{}-{}", string("POD_NAME", &hostname), std::process::id()),
        })
    }
}

/// `a,b` into its namespaces, each a DNS label as Kubernetes requires, no duplicates.
fn watch_namespaces(raw: &str) -> Result<Vec<String>, ConfigError> {
    let mut namespaces: Vec<String> = Vec::new();
    for ns in raw.split(',').map(str::trim).filter(|ns| !ns.is_empty()) {
        let label = ns.len() <= 63
            && ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !ns.starts_with('-')
            && !ns.ends_with('-');
        ensure(
            "WATCH_NAMESPACE",
            &raw,
            label,
            &format!(
                "{ns:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
            ),
        )?;
        ensure(
            "WATCH_NAMESPACE",
            &raw,
            !namespaces.iter().any(|n| n == ns),
            &format!("{ns} is listed twice"),
        )?;
        namespaces.push(ns.to_owned());
    }
    Ok(namespaces)
}

#[cfg(test)]
mod tests {
    use super::watch_namespaces;

    #[test]
    fn watch_namespace_takes_a_comma_separated_list_and_empty_means_all() {
        assert!(watch_namespaces("").unwrap().is_empty());
        assert_eq!(watch_namespaces("team-a").unwrap(), ["team-a"]);
        assert_eq!(
            watch_namespaces(" team-a, team-b ,").unwrap(),
            ["team-a", "team-b"]
        );
    }

    #[test]
    fn a_bad_or_repeated_namespace_is_refused_naming_the_variable() {
        for bad in ["Team_A", "team-a,team-a", "-a", &"a".repeat(64)] {
            let error = watch_namespaces(bad).expect_err(bad).to_string();
            assert!(error.contains("WATCH_NAMESPACE"), "{error}");
        }
    }
}
