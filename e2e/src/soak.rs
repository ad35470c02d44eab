//! What a fault scenario reports for `make soak`'s table, once its verification has passed (a
//! failed verification panics, and dev/soak.sh counts the failed run instead).

/// One scenario run: the faults it injected, what its clients were told, and what the store holds.
#[derive(Debug, Default)]
pub struct Run {
    pub scenario: &'static str,
    pub faults: usize,
    /// Messages answered 200.
    pub acknowledged: usize,
    /// Messages stored exactly once (every acknowledged one, and outcome-unknown ones stored).
    pub stored_once: usize,
    /// Answers 500-599, 503 included.
    pub server_errors: usize,
}

/// Prints the line dev/soak.sh collects (`cargo test -- --nocapture`).
pub fn report(run: &Run) {
    eprintln!(
        "SOAK|{}|{}|{}|{}|{}",
        run.scenario, run.faults, run.acknowledged, run.stored_once, run.server_errors
    );
}
