//! `ledgerflow backfill PIPELINE --from M --to M [--force]`: one snapshot per month,
//! each exactly what `run --as-of` that month writes. Inputs are read, validated and
//! sorted once; only the engine and the writers run per month. A month whose manifest
//! shows the same tool version, pipeline, rules and input files (SHA-256s), with
//! every output file present, is skipped unless `--force`. A failure names the
//! month; finished months stay.

use crate::error::Result;
use crate::run::plan::Months;
use crate::run::{self, BackfillOptions, Outcome, Plan, Progress, load};
use crate::store::LockMode;

pub fn backfill(opts: &BackfillOptions) -> Result<Outcome> {
    let months = Months::range(opts.from, opts.to, opts.force)?;
    let progress = Progress::new(opts.quiet);
    let (pipeline, _lock) = load::locked(
        &opts.pipeline,
        opts.out.as_deref(),
        LockMode::Exclusive,
        opts.wait_lock,
        opts.quiet,
    )?;
    let plan = Plan::backfill(months, pipeline, opts.quiet);
    run::execute(&plan, &progress)
}
