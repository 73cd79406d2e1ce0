//! `ledgerflow run PIPELINE [--as-of M] [--incremental] [--memory-budget SIZE]
//! [--shard K/N]`: evaluate everyone (or one shard) as of a month and commit the
//! snapshot (a shard: stage it for `merge-manifests`).

use crate::error::Result;
use crate::run::{self, Outcome, Plan, Progress, RunOptions, load};
use crate::store::LockMode;

/// Runs `opts`; the outcome says whether the data-quality gate failed.
pub fn run(opts: &RunOptions) -> Result<Outcome> {
    let progress = Progress::new(opts.quiet);
    // Shards of one month may run side by side; a run that publishes runs alone.
    let mode = match opts.shard {
        Some(_) => LockMode::Shared,
        None => LockMode::Exclusive,
    };
    let (pipeline, _lock) = load::locked(
        &opts.pipeline,
        opts.out.as_deref(),
        mode,
        opts.wait_lock,
        opts.quiet,
    )?;
    let plan = Plan::run(opts, pipeline, &progress)?;
    run::execute(&plan, &progress)
}
