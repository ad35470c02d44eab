//! kubectl-wiber: a kubectl plugin (kubectl finds `kubectl-wiber` on PATH and runs it as
//! `kubectl wiber`). It reads what the operator and the cluster report through the Kubernetes
//! API only, with the caller's kubeconfig, so it needs no port-forward and no shell in a pod.

mod dlq;
mod error;
mod status;
mod support;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubectl wiber",
    version,
    about = "Look after Wiber's WiberClusters"
)]
struct Args {
    /// The namespace (default: the kubeconfig context's)
    #[arg(short, long, global = true)]
    namespace: Option<String>,
    /// The kubeconfig context (default: the current one)
    #[arg(long, global = true)]
    context: Option<String>,
    /// The kubeconfig file (default: KUBECONFIG, else ~/.kube/config)
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Conditions, replicas, lag by partition, the last scaling decision, dead letters and recent
    /// events of a WiberCluster; without NAME, one line per WiberCluster in the namespace.
    Status {
        name: Option<String>,
        /// One line per WiberCluster in every namespace
        #[arg(short = 'A', long, conflicts_with = "name")]
        all_namespaces: bool,
    },
    /// The dead letters (records the consumers could not store) with their reasons, and their
    /// replay to the messages topic.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// A .tar.gz for a bug report: the WiberCluster, its objects, events, pod logs and metrics,
    /// the operator's logs, and the versions. Never a Secret's data.
    Support {
        name: String,
        /// Where to write it (default: wiber-support-<namespace>-<name>-<time>.tar.gz here)
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Log lines kept per container
        #[arg(long, default_value_t = 2000)]
        log_lines: i64,
    },
}

/// A client as kubectl would make one: the given file or the usual ones, the given context or
/// the current one.
async fn client(
    file: Option<PathBuf>,
    context: Option<String>,
) -> Result<kube::Client, error::Error> {
    let kubeconfig = match file {
        Some(path) => kube::config::Kubeconfig::read_from(path),
        None => kube::config::Kubeconfig::read(),
    }
    .map_err(error::Error::Kubeconfig)?;
    let options = kube::config::KubeConfigOptions {
        context,
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(error::Error::Kubeconfig)?;
    kube::Client::try_from(config).map_err(error::Error::Connect)
}

#[derive(Subcommand)]
enum DlqAction {
    /// The newest dead letters, oldest first: where each is, when, its category, where it came
    /// from, its message id and the reason.
    List {
        name: String,
        /// At most this many per partition
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Kafka's bootstrap servers as reachable from here (default: the status's)
        #[arg(long)]
        bootstrap: Option<String>,
    },
    /// Writes the chosen dead letters back to the messages topic, key and message id kept, so
    /// the store keeps each once however often it is replayed.
    Replay {
        name: String,
        /// Positions as `dlq list` shows them: <partition>:<offset>
        #[arg(required = true)]
        at: Vec<String>,
        #[arg(long)]
        bootstrap: Option<String>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = async {
        let client = client(args.kubeconfig, args.context).await?;
        let ns = args
            .namespace
            .unwrap_or_else(|| client.default_namespace().to_owned());
        match args.command {
            Command::Status {
                name: Some(name), ..
            } => status::one(&client, &ns, &name).await,
            Command::Status {
                name: None,
                all_namespaces,
            } => status::all(&client, (!all_namespaces).then_some(ns.as_str())).await,
            Command::Dlq {
                action:
                    DlqAction::List {
                        name,
                        limit,
                        bootstrap,
                    },
            } => dlq::list(&client, &ns, &name, limit, bootstrap).await,
            Command::Dlq {
                action:
                    DlqAction::Replay {
                        name,
                        at,
                        bootstrap,
                    },
            } => dlq::replay_chosen(&client, &ns, &name, at, bootstrap).await,
            Command::Support {
                name,
                output,
                log_lines,
            } => support::write(&client, &ns, &name, output, log_lines).await,
        }
    }
    .await;
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
