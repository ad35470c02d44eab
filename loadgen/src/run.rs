//! The run: the phases in order, each reported as it ends, and what went wrong across them.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::args::Args;
use crate::http::Error;
use crate::push::Streams;
use crate::sampler::{Sampler, snapshot};
use crate::summary::Headline;
use crate::tokens::Tokens;
use crate::{cost, e2e, post, push, report};

/// Runs every phase, prints the report (and writes the --summary file), and returns what went
/// wrong (empty for a valid run).
pub async fn run(args: Args) -> Result<Vec<String>, Error> {
    let mut problems = Vec::new();
    // Created first, so a path that cannot be written fails the run before it starts.
    let mut summary_file = match &args.summary {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create --summary {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut headline = Headline::default();
    let tokens = Arc::new(Tokens::from_args(&args)?);
    report::header(&args, tokens.enabled());

    // Streams are opened before anything is measured, so phase 1 runs against an API holding them.
    let pushing = args.push_receivers > 0 || args.push_group > 0 || args.idle_streams > 0;
    let mut streams = if pushing {
        Some(Streams::open(&args, &tokens).await?)
    } else {
        None
    };
    if let Some(streams) = &streams {
        report::streams_opened(streams, &mut problems);
        headline.idle_streams(&streams.opening);
    }

    let start = snapshot(&args).await?;
    let baseline = start
        .consumer
        .stored_total
        .ok_or("the consumer's /metrics has no wiber_consumer_messages_stored_total")?;

    // Long enough for every phase to run to its deadline; the sampler is stopped once they end.
    let lifetime = args.post_deadline
        + args.drain_deadline
        + (args.visible_deadline + args.request_timeout)
            * (args.e2e_messages as u32 + args.push_probes as u32 + 2);
    let sampler = Sampler::start(
        args.api_metrics.clone(),
        args.consumer_metrics.clone(),
        args.sample_interval,
        lifetime,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let load_probes = streams
        .as_ref()
        .filter(|s| s.receivers > 0)
        .map(|s| push::probe_during_load(&args, tokens.clone(), s.target.clone(), stop.clone()));

    let (post, post_elapsed) = post::phase(&args, tokens.clone()).await;
    let post_rate = post.latencies.len() as f64 / post_elapsed.as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    report::post(&args, &post, post_elapsed, &mut problems);
    headline.post(&args, &post, post_elapsed);
    let load_probes = match load_probes {
        Some(task) => Some(task.await.map_err(|e| format!("probe task: {e}"))?),
        None => None,
    };
    let acknowledged = post.latencies.len() + load_probes.as_ref().map_or(0, push::Probes::len);

    // Phase 2: wait for the consumer to store every acknowledged message.
    let target = baseline + acknowledged as f64;
    let drained = sampler.wait_for_stored(target, args.drain_deadline).await;
    let after_drain = snapshot(&args).await?;
    let series = sampler.stored();
    let expected = (baseline, acknowledged);
    let store_rate = report::store(&args, &post, expected, &series, drained, &mut problems);
    headline.store(store_rate);

    // Pushed once acknowledged, ahead of the store, so the drain gave every probe sent under load
    // time to arrive; `gather` still waits for a straggler.
    if let (Some(streams), Some(probes)) = (&mut streams, load_probes) {
        let latencies = streams
            .gather(probes, Instant::now() + args.visible_deadline)
            .await;
        report::pushed(streams, "during phase 1", &latencies, &mut problems);
        headline.pushed_under_load(&latencies);
    }

    // Phase 3, only on an idle system: an undrained consumer would time every message out.
    if drained && args.e2e_messages > 0 {
        let e2e = e2e::phase(&args, &tokens).await;
        report::e2e(&args, &e2e, &mut problems);
        headline.end_to_end(&e2e);
    }
    if let Some(streams) = &mut streams {
        if drained && streams.receivers > 0 && args.push_probes > 0 {
            let latencies = streams.idle_probes(&args, &tokens).await;
            report::pushed(streams, "idle, one at a time", &latencies, &mut problems);
            headline.pushed_idle(&latencies);
        }
        let end = crate::idle::api_figures(&args.api_metrics).await;
        report::streams_held(streams, &end, &mut problems);
    }

    let samples = sampler.finish().await;
    let end = snapshot(&args).await?;
    report::memory(&samples, &end);
    let cpu = cost::cpu(&start, &after_drain, post.latencies.len());
    cost::against_limits(&args, post_rate, store_rate, &cpu);
    headline.limits(&args, post_rate, store_rate, &cpu);
    report::closing(&samples);
    if let (Some(file), Some(path)) = (&mut summary_file, &args.summary) {
        let json = serde_json::to_string_pretty(&headline.to_json(&problems))?;
        writeln!(file, "{json}")
            .map_err(|e| format!("cannot write --summary {}: {e}", path.display()))?;
    }
    Ok(problems)
}
