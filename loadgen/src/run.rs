//! The run: the phases in order, each reported as it ends, and what went wrong across them.

use std::sync::Arc;

use crate::args::Args;
use crate::http::Error;
use crate::sampler::{Sampler, snapshot};
use crate::tokens::Tokens;
use crate::{e2e, post, report};

/// Runs every phase, prints the report, and returns what went wrong (empty for a valid run).
pub async fn run(args: Args) -> Result<Vec<String>, Error> {
    let mut problems = Vec::new();
    let tokens = Arc::new(Tokens::from_args(&args)?);
    report::header(&args, tokens.enabled());

    let start = snapshot(&args).await?;
    let baseline = start
        .consumer
        .stored_total
        .ok_or("the consumer's /metrics has no wiber_consumer_messages_stored_total")?;

    // Long enough for every phase to run to its deadline; the sampler is stopped once they end.
    let lifetime = args.post_deadline
        + args.drain_deadline
        + (args.visible_deadline + args.request_timeout) * (args.e2e_messages as u32 + 1);
    let sampler = Sampler::start(
        args.api_metrics.clone(),
        args.consumer_metrics.clone(),
        args.sample_interval,
        lifetime,
    );

    let (post, post_elapsed) = post::phase(&args, tokens.clone()).await;
    report::post(&args, &post, post_elapsed, &mut problems);

    // Phase 2: wait for the consumer to store every acknowledged message.
    let target = baseline + post.latencies.len() as f64;
    let drained = sampler.wait_for_stored(target, args.drain_deadline).await;
    let after_drain = snapshot(&args).await?;
    let series = sampler.stored();
    report::store(&args, &post, baseline, &series, drained, &mut problems);

    // Phase 3, only on an idle system: an undrained consumer would time every message out.
    if drained && args.e2e_messages > 0 {
        let e2e = e2e::phase(&args, &tokens).await;
        report::e2e(&args, &e2e, &mut problems);
    }

    let samples = sampler.finish().await;
    let end = snapshot(&args).await?;
    report::memory(&samples, &end);
    report::cpu(&start, &after_drain);
    report::closing(&samples);
    Ok(problems)
}
