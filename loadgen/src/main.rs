//! wiber-loadgen: measures a running Wiber from the outside, through its HTTP API and /metrics.
//! `wiber-loadgen --help` lists the phases and options; `make bench` runs it on a fresh stack.

mod args;
mod cost;
mod e2e;
mod group;
mod http;
mod idle;
mod listen;
mod post;
mod probe;
mod push;
mod report;
mod run;
mod sampler;
mod sse;
mod stats;
mod summary;
mod text;
mod threads;
mod tokens;
mod workload;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Args;

// One thread: the generator competes with the system under test for this machine's cores, and a
// single thread bounds what it can take to one of them.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Prints help and exits 0 for --help; names the option and exits 2 for a bad one.
    let args = Args::parse();
    match run::run(args).await {
        Ok(problems) if problems.is_empty() => {
            println!("\nresult: OK");
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            println!("\nresult: FAILED");
            for p in problems {
                println!("  - {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
