//! The shape every Wiber binary's `main` shares: telemetry, config parsed once, then the run, with
//! exit code 2 for bad configuration and 1 for a failure.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// `service` names the process in traces (the default of OTEL_SERVICE_NAME).
pub async fn main<C, E, F, Fut>(
    service: &'static str,
    config: impl FnOnce() -> Result<C, E>,
    run: F,
) -> ExitCode
where
    E: Display,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let telemetry = match crate::telemetry::init(service) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match config() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let code = match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    };
    // The exporter's blocking client must not run on a runtime thread.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}
