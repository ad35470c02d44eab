//! wiber-readbench: the steps of the read benchmark, run by dev/readbench.sh (`make bench-reads`),
//! which starts the stacks and calls them in order. See BENCHMARKS.md.

mod announce;
mod dataset;
mod load;
mod measure;
mod raw;
mod stored;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Steps of Wiber's read benchmark (dev/readbench.sh runs them in order)")]
struct Args {
    #[command(subcommand)]
    step: Step,
}

#[derive(Subcommand)]
enum Step {
    /// Produce messages FROM..TO of the dataset to the topic, as the API would
    Load {
        #[arg(long)]
        bootstrap: String,
        #[arg(long, default_value = "wiber.messages")]
        topic: String,
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: u64,
        /// First the groups' creations and the reference conversation of 100 messages
        #[arg(long)]
        reference: bool,
    },
    /// Announce every partition of TOPIC stored to its end on `<TOPIC>.stored`, as the consumer does
    Announce {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
    },
    /// Print how many records `load --reference` adds to the messages
    Extra,
    /// Wait until the consumer has stored COUNT messages in all; print its store rate
    WaitStored {
        /// The consumer's /metrics URL
        #[arg(long)]
        metrics: String,
        #[arg(long)]
        count: u64,
        /// Seconds without progress before giving up
        #[arg(long, default_value_t = 120)]
        stall: u64,
    },
    /// Insert DOCUMENTS into a scratch collection of the store, in the consumer's batches
    RawInsert {
        #[arg(long)]
        mongo_uri: String,
        #[arg(long, default_value = "readbench_raw")]
        db: String,
        #[arg(long, default_value_t = 50_000)]
        documents: u64,
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Time the API's reads and a keyed POST, one request at a time
    Measure {
        #[arg(long)]
        api: String,
        /// The store and size, for the report's rows
        #[arg(long)]
        label: String,
        #[arg(long, default_value_t = 40)]
        samples: usize,
        /// Seconds one operation may take in all before it stops repeating
        #[arg(long, default_value_t = 60)]
        budget: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let result: Result<(), String> = match Args::parse().step {
        Step::Load {
            bootstrap,
            topic,
            from,
            to,
            reference,
        } => {
            let load = load::Load {
                bootstrap: &bootstrap,
                topic: &topic,
                from,
                to,
                reference,
            };
            load::load(load).await.map(drop).map_err(|e| e.to_string())
        }
        Step::Announce { bootstrap, topic } => announce::announce(&bootstrap, &topic)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Step::Extra => {
            println!("{}", dataset::extra_records());
            Ok(())
        }
        Step::WaitStored {
            metrics,
            count,
            stall,
        } => stored::wait(&metrics, count, Duration::from_secs(stall))
            .await
            .map(drop),
        Step::RawInsert {
            mongo_uri,
            db,
            documents,
            batch,
        } => raw::insert(&mongo_uri, &db, documents, batch)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Step::Measure {
            api,
            label,
            samples,
            budget,
        } => {
            let budget = Duration::from_secs(budget);
            measure::measure(measure::Measure {
                api: &api,
                label: &label,
                samples,
                budget,
            })
            .await;
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
