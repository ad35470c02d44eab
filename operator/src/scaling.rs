//! The consumer-sizing decision: a pure function of measured lag, partitions, history and bounds.
//!
//! Compared with KEDA's Kafka scaler: the cap at the partition count is exact (never one more
//! consumer than partitions, never stuck one short by an HPA tolerance), partitions the group has
//! never committed count by what they hold rather than as 1 or 0, scale-down waits for a whole
//! stabilization window of lower demand, and demand can be sized by time to drain.

use std::time::Duration;

/// What the operator measured for one consumer group on one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct LagSample {
    /// Seconds since the epoch when measured.
    pub at: u64,
    pub partitions: i32,
    /// Sum over partitions of records not yet committed by the group.
    pub total_lag: i64,
    /// Sum of the group's committed positions (for partitions without a commit, the low
    /// watermark); successive samples give the consumption rate.
    pub committed_total: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub target_lag_per_replica: i64,
    pub scale_down_window: Duration,
    /// When set, size so the backlog drains within this time at the measured per-replica rate.
    pub target_drain: Option<Duration>,
}

/// A recommendation remembered for the stabilization window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    pub at: u64,
    pub replicas: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Demand above the current size: scaled up at once.
    ScaleUp,
    /// Demand stayed lower for the whole window: scaled down.
    ScaleDown,
    /// Demand is lower, but not for the whole window yet: held.
    Stabilizing,
    /// Nothing to change.
    Steady,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaleUp => "ScaleUp",
            Self::ScaleDown => "ScaleDown",
            Self::Stabilizing => "Stabilizing",
            Self::Steady => "Steady",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What the lag asks for now, within the bounds.
    pub recommended: i32,
    /// What the consumer Deployment should have.
    pub desired: i32,
    pub reason: Reason,
    /// The partition count lowered `max_replicas` (more consumers would sit idle).
    pub capped_by_partitions: bool,
}

/// Records per second the group committed between two samples, if they can tell.
pub fn consumption_rate(previous: &LagSample, current: &LagSample) -> Option<f64> {
    let seconds = current.at.checked_sub(previous.at).filter(|s| *s > 0)?;
    let consumed = current.committed_total - previous.committed_total;
    // A negative delta means offsets were reset or the topic recreated: no rate.
    (consumed >= 0).then(|| consumed as f64 / seconds as f64)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    debug_assert!(b > 0);
    if a <= 0 { 0 } else { (a + b - 1) / b }
}

/// The upper bound that applies: `max_replicas`, lowered to the partition count.
pub fn effective_max(policy: &Policy, partitions: i32) -> (i32, bool) {
    let partitions = partitions.max(1);
    if partitions < policy.max_replicas {
        (partitions, true)
    } else {
        (policy.max_replicas, false)
    }
}

/// Replicas the current lag calls for, within `[min, min(max, partitions)]`, exactly.
pub fn recommend(
    policy: &Policy,
    sample: &LagSample,
    current_replicas: i32,
    rate: Option<f64>,
) -> (i32, bool) {
    let by_lag = ceil_div(sample.total_lag, policy.target_lag_per_replica.max(1));
    let by_drain = match (policy.target_drain, rate) {
        (Some(drain), Some(rate)) if rate > 0.0 && current_replicas > 0 && drain.as_secs() > 0 => {
            let per_replica = rate / f64::from(current_replicas);
            let needed = sample.total_lag as f64 / (per_replica * drain.as_secs() as f64);
            Some(needed.ceil() as i64)
        }
        _ => None,
    };
    // Time-to-drain sizing, when it can be computed, replaces the lag threshold; until a rate is
    // known (first sample, or nothing consumed yet) the lag threshold decides.
    let wanted = by_drain.unwrap_or(by_lag);
    let (max, capped) = effective_max(policy, sample.partitions);
    let min = policy.min_replicas.min(max);
    let bounded = wanted.clamp(i64::from(min), i64::from(max)) as i32;
    (bounded, capped && wanted >= i64::from(max))
}

/// Applies scale-up-at-once and scale-down-after-the-window to a fresh recommendation.
/// `history` holds earlier recommendations (any order); the caller keeps those within the window.
pub fn decide(
    policy: &Policy,
    current_replicas: i32,
    recommended: i32,
    capped_by_partitions: bool,
    history: &[Recommendation],
    now: u64,
) -> Decision {
    let window_start = now.saturating_sub(policy.scale_down_window.as_secs());
    let decision = |desired, reason| Decision {
        recommended,
        desired,
        reason,
        capped_by_partitions,
    };
    if recommended > current_replicas {
        return decision(recommended, Reason::ScaleUp);
    }
    if recommended == current_replicas {
        return decision(current_replicas, Reason::Steady);
    }
    // Scale down only to the highest demand in effect during the window. A recommendation stands
    // until the next one, so the newest one at or before the window start counts too; without one
    // (e.g. right after the operator started) the window is not covered yet: hold.
    let Some(anchor) = history
        .iter()
        .filter(|r| r.at <= window_start)
        .max_by_key(|r| r.at)
    else {
        return decision(current_replicas, Reason::Stabilizing);
    };
    let highest = history
        .iter()
        .filter(|r| r.at > window_start)
        .map(|r| r.replicas)
        .chain([anchor.replicas, recommended])
        .max()
        .unwrap_or(recommended);
    // The bounds may have moved since a remembered recommendation (e.g. max lowered).
    let target = highest.min(current_replicas).max(recommended);
    if target < current_replicas {
        decision(target, Reason::ScaleDown)
    } else {
        decision(current_replicas, Reason::Stabilizing)
    }
}

/// Drops recommendations too old to matter, keeping the newest one at or before the window start
/// so the next decision can tell the window is covered.
pub fn prune(history: &mut Vec<Recommendation>, window: Duration, now: u64) {
    let window_start = now.saturating_sub(window.as_secs());
    history.sort_by_key(|r| r.at);
    let anchor = history.iter().rposition(|r| r.at <= window_start);
    if let Some(i) = anchor {
        history.drain(..i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: i32, max: i32, target: i64) -> Policy {
        Policy {
            min_replicas: min,
            max_replicas: max,
            target_lag_per_replica: target,
            scale_down_window: Duration::from_secs(300),
            target_drain: None,
        }
    }

    fn sample(partitions: i32, lag: i64) -> LagSample {
        LagSample {
            at: 1_000,
            partitions,
            total_lag: lag,
            committed_total: 0,
        }
    }

    #[test]
    fn recommendation_is_the_exact_ceiling_within_bounds_and_partitions() {
        // (min, max, target, partitions, lag) -> (replicas, capped by partitions)
        let table = [
            ((1, 10, 100, 12, 0), (1, false)),
            ((1, 10, 100, 12, 1), (1, false)),
            ((1, 10, 100, 12, 100), (1, false)),
            ((1, 10, 100, 12, 101), (2, false)),
            ((1, 10, 100, 12, 999), (10, false)),
            ((1, 10, 100, 12, 5_000), (10, false)),
            // KEDA's integer division overshoots here; the cap is exactly the partition count.
            ((1, 10, 100, 3, 5_000), (3, true)),
            ((1, 10, 100, 3, 300), (3, true)),
            ((1, 10, 100, 3, 201), (3, true)),
            ((1, 10, 100, 3, 200), (2, false)),
            ((2, 10, 100, 12, 0), (2, false)),
            // min above the partition count: idle consumers help nobody.
            ((5, 10, 100, 3, 0), (3, false)),
            ((0, 4, 10, 8, 0), (0, false)),
            ((0, 4, 10, 8, 1), (1, false)),
        ];
        for ((min, max, target, partitions, lag), expected) in table {
            let got = recommend(&policy(min, max, target), &sample(partitions, lag), 1, None);
            assert_eq!(
                got, expected,
                "min {min} max {max} target {target} partitions {partitions} lag {lag}"
            );
        }
    }

    #[test]
    fn time_to_drain_sizes_by_the_measured_rate() {
        let mut p = policy(1, 10, 1_000_000);
        p.target_drain = Some(Duration::from_secs(60));
        // 2 replicas consume 200/s together: 100/s each. 30 000 records in 60 s need 5.
        assert_eq!(
            recommend(&p, &sample(12, 30_000), 2, Some(200.0)),
            (5, false)
        );
        // Unknown rate: the lag threshold decides (here: 1).
        assert_eq!(recommend(&p, &sample(12, 30_000), 2, None), (1, false));
        assert_eq!(recommend(&p, &sample(12, 30_000), 2, Some(0.0)), (1, false));
        // Still capped by partitions.
        assert_eq!(recommend(&p, &sample(4, 30_000), 2, Some(200.0)), (4, true));
    }

    #[test]
    fn consumption_rate_comes_from_committed_progress() {
        let a = LagSample {
            at: 100,
            partitions: 3,
            total_lag: 0,
            committed_total: 1_000,
        };
        let b = LagSample {
            at: 110,
            partitions: 3,
            total_lag: 0,
            committed_total: 3_000,
        };
        assert_eq!(consumption_rate(&a, &b), Some(200.0));
        assert_eq!(consumption_rate(&b, &a), None);
        assert_eq!(consumption_rate(&a, &a), None);
    }

    #[test]
    fn scale_up_happens_at_once() {
        let d = decide(&policy(1, 10, 100), 2, 6, false, &[], 1_000);
        assert_eq!((d.desired, d.reason), (6, Reason::ScaleUp));
    }

    #[test]
    fn scale_down_waits_for_a_whole_window_of_lower_demand() {
        let p = policy(1, 10, 100);
        let at = |at, replicas| Recommendation { at, replicas };
        // Window is 300 s; now = 1000, so it starts at 700.
        let table: [(&[Recommendation], i32, (i32, Reason)); 6] = [
            // No history back to the window start: hold (e.g. the operator just restarted).
            (&[at(900, 2)], 2, (6, Reason::Stabilizing)),
            // 6 was still asked for at 700 (it stood from 650 to 800): hold.
            (
                &[at(650, 6), at(800, 5), at(950, 3)],
                2,
                (6, Reason::Stabilizing),
            ),
            // A peak of 5 inside the window: go down to 5, not 2.
            (
                &[at(650, 3), at(800, 5), at(950, 3)],
                2,
                (5, Reason::ScaleDown),
            ),
            // Lower demand throughout the window: down to the highest of it.
            (
                &[at(600, 4), at(750, 3), at(900, 2)],
                2,
                (4, Reason::ScaleDown),
            ),
            // The window still holds the current size: hold.
            (&[at(600, 2), at(800, 6)], 2, (6, Reason::Stabilizing)),
            // Never below the fresh recommendation.
            (&[at(100, 1)], 4, (4, Reason::ScaleDown)),
        ];
        for (history, recommended, expected) in table {
            let d = decide(&p, 6, recommended, false, history, 1_000);
            assert_eq!((d.desired, d.reason), expected, "{history:?}");
        }
    }

    #[test]
    fn steady_demand_changes_nothing() {
        let d = decide(&policy(1, 10, 100), 3, 3, true, &[], 1_000);
        assert_eq!(
            (d.desired, d.reason, d.capped_by_partitions),
            (3, Reason::Steady, true)
        );
    }

    #[test]
    fn pruning_keeps_one_anchor_before_the_window() {
        let mut h = vec![
            Recommendation {
                at: 100,
                replicas: 1,
            },
            Recommendation {
                at: 600,
                replicas: 2,
            },
            Recommendation {
                at: 650,
                replicas: 3,
            },
            Recommendation {
                at: 900,
                replicas: 4,
            },
        ];
        prune(&mut h, Duration::from_secs(300), 1_000);
        assert_eq!(h.iter().map(|r| r.at).collect::<Vec<_>>(), [650, 900]);
    }

    #[test]
    fn flapping_demand_does_not_flap_replicas() {
        let p = policy(1, 10, 100);
        let mut history = Vec::new();
        let mut replicas = 1;
        let mut changes = 0;
        // Demand alternates 5, 1, 5, 1 every 30 s for 20 minutes.
        for step in 0..40u64 {
            let now = step * 30;
            let recommended = if step % 2 == 0 { 5 } else { 1 };
            let d = decide(&p, replicas, recommended, false, &history, now);
            if d.desired != replicas {
                changes += 1;
                replicas = d.desired;
            }
            history.push(Recommendation {
                at: now,
                replicas: recommended,
            });
            prune(&mut history, p.scale_down_window, now);
        }
        assert_eq!(changes, 1, "one scale-up, then held at 5");
        assert_eq!(replicas, 5);
    }
}
