//! Status conditions as Kubernetes API conventions want them: one per type, with reason and
//! message, and a `lastTransitionTime` that moves only when the status really changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const KAFKA_READY: &str = "KafkaReady";
pub const MONGO_READY: &str = "MongoReady";
pub const API_AVAILABLE: &str = "ApiAvailable";
pub const CONSUMERS_AVAILABLE: &str = "ConsumersAvailable";
pub const RECONCILIATION_PAUSED: &str = "ReconciliationPaused";

/// Every condition type a WiberCluster's status holds: the bounded `type` label of
/// `wiber_operator_cluster_condition`.
pub const ALL: [&str; 6] = [
    READY,
    KAFKA_READY,
    MONGO_READY,
    API_AVAILABLE,
    CONSUMERS_AVAILABLE,
    RECONCILIATION_PAUSED,
];

/// A condition as a reconcile computed it, before times and generations are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: String,
    pub message: String,
}

impl Observed {
    pub fn new(type_: &'static str, ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// `Ready` summarises the others: true only when all are, naming the first that is not.
pub fn ready(parts: &[Observed]) -> Observed {
    match parts.iter().find(|c| !c.ok) {
        None => Observed::new(
            READY,
            true,
            "AllComponentsReady",
            "Wiber is serving and consuming",
        ),
        Some(c) => Observed::new(READY, false, c.type_, format!("{}: {}", c.type_, c.message)),
    }
}

/// The new condition list: observed conditions replace old ones of the same type, keeping the
/// old `lastTransitionTime` when the status did not flip.
pub fn merge(
    previous: &[Condition],
    observed: &[Observed],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    observed
        .iter()
        .map(|o| {
            let status = if o.ok { "True" } else { "False" }.to_owned();
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == o.type_ && p.status == status)
                .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
            Condition {
                type_: o.type_.to_owned(),
                status,
                reason: o.reason.clone(),
                message: o.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let first = merge(
            &[],
            &[Observed::new(
                KAFKA_READY,
                false,
                "Unreachable",
                "no broker",
            )],
            Some(1),
            &time(100),
        );
        assert_eq!(first[0].last_transition_time, time(100));

        let same = merge(
            &first,
            &[Observed::new(
                KAFKA_READY,
                false,
                "Unreachable",
                "still none",
            )],
            Some(2),
            &time(200),
        );
        assert_eq!(
            same[0].last_transition_time,
            time(100),
            "no flip, no new time"
        );
        assert_eq!(same[0].message, "still none");
        assert_eq!(same[0].observed_generation, Some(2));

        let flipped = merge(
            &same,
            &[Observed::new(KAFKA_READY, true, "Connected", "ok")],
            Some(2),
            &time(300),
        );
        assert_eq!(flipped[0].last_transition_time, time(300));
        assert_eq!(flipped[0].status, "True");
    }

    #[test]
    fn ready_names_the_first_failing_part() {
        let parts = [
            Observed::new(KAFKA_READY, true, "Connected", "ok"),
            Observed::new(
                MONGO_READY,
                false,
                "SecretMissing",
                "secret mongo not found",
            ),
        ];
        let r = ready(&parts);
        assert!(!r.ok);
        assert_eq!(r.reason, MONGO_READY);
        assert!(r.message.contains("secret mongo not found"));
        assert!(ready(&parts[..1]).ok);
    }
}
