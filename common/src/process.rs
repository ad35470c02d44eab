//! The shape every Wiber binary's `main` shares: telemetry, config parsed once, then the run, with
//! exit code 2 for bad configuration and 1 for a failure.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

pub async fn main<C, E, F, Fut>(config: impl FnOnce() -> Result<C, E>, run: F) -> ExitCode
where
    E: Display,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    crate::telemetry::init();
    let config = match config() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
