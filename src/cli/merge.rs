//! `ledgerflow merge-manifests PIPELINE --as-of M --shards N`: the commit of the N
//! shard runs of one month ([`crate::run::commit::merge`]). Shards that read a
//! partition first have their shares of the rejects gathered into shard 0's
//! manifest and `rejects` part ([`crate::partitioned::before_merge`]). Exits with the
//! merged manifest's `exit_status`: 3 when the snapshot fails the quality gate.

use crate::domain::Month;
use crate::error::Result;
use crate::partitioned;
use crate::run::{commit, load};
use crate::store::LockMode;
use std::path::Path;

pub fn merge_manifests(
    pipeline: &Path,
    out: Option<&Path>,
    as_of: Month,
    shards: u32,
    wait_lock: bool,
) -> Result<u8> {
    commit::check_shard_count(shards)?;
    let (p, _lock) = load::locked(pipeline, out, LockMode::Exclusive, wait_lock, false)?;
    let keys = load::key_mode(&p)?;
    let gate = partitioned::before_merge(&p, &keys, as_of, shards)?;
    let merged = commit::merge(&p.out_dir, as_of, shards)?;
    partitioned::after_merge(&p, as_of);
    // Shards that read a partition recount the gate over all shares (`gate`);
    // unpartitioned shards each saw every reject, and the merged manifest holds them.
    match gate {
        Some(totals) => commit::report_quality_gate(&p, &totals),
        None if merged.exit_status == 3 => commit::report_quality_gate(&p, &merged.totals),
        None => {}
    }
    // The merged snapshot's status is the command's: 3 when its quality gate failed
    // (the tables are published all the same, as for `run`).
    Ok(merged.exit_status)
}
