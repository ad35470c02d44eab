//! The shape every Wiber binary's `main` shares: `--version` and `--help` answered before anything
//! starts, then telemetry, config parsed once, then the run, with exit code 2 for bad arguments or
//! configuration and 1 for a failure.

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
    match arguments(service, std::env::args().skip(1)) {
        Arguments::Run => {}
        Arguments::Answer(text) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Arguments::Refuse(text) => {
            eprintln!("error: {text}");
            return ExitCode::from(2);
        }
    }
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

/// The version every binary reports: the workspace's, which is also the images' tag.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, PartialEq, Eq)]
enum Arguments {
    Run,
    /// Print this on stdout and exit 0.
    Answer(String),
    /// Print this on stderr and exit 2.
    Refuse(String),
}

/// Configuration comes from the environment only, so the one argument a binary takes is a
/// question about itself: an image check runs `--version` without Kafka or a store.
fn arguments(service: &str, mut args: impl Iterator<Item = String>) -> Arguments {
    let Some(first) = args.next() else {
        return Arguments::Run;
    };
    match first.as_str() {
        "--version" | "-V" => Arguments::Answer(format!("{service} {VERSION}")),
        "--help" | "-h" => Arguments::Answer(format!(
            "{service} {VERSION}\n\nUsage: {service} [--version | --help]\n\n\
             Configured by environment variables only; docs/reference/configuration.md lists them with their defaults."
        )),
        other => Arguments::Refuse(format!(
            "unexpected argument '{other}'; {service} is configured by environment variables \
             (try --help)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Arguments {
        arguments("wiber-api", list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn no_argument_runs_the_service() {
        assert_eq!(args(&[]), Arguments::Run);
    }

    #[test]
    fn version_names_the_binary_and_the_workspace_version() {
        let expected = Arguments::Answer(format!("wiber-api {}", env!("CARGO_PKG_VERSION")));
        assert_eq!(args(&["--version"]), expected);
        assert_eq!(args(&["-V"]), expected);
    }

    #[test]
    fn help_points_at_the_environment() {
        let Arguments::Answer(text) = args(&["--help"]) else {
            panic!("--help must answer");
        };
        assert!(text.contains("environment variables"), "{text}");
    }

    #[test]
    fn an_unknown_argument_is_refused_naming_it() {
        let Arguments::Refuse(text) = args(&["--port=80"]) else {
            panic!("an unknown argument must be refused");
        };
        assert!(text.contains("'--port=80'"), "{text}");
    }
}
