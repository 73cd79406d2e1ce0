//! `ledgerflow merge-manifests PIPELINE --as-of M --shards N`: the commit of the N
//! shard runs of one month ([`crate::run::commit::merge`]).

use crate::domain::Month;
use crate::error::Result;
use crate::run::{commit, load};
use crate::store::LockMode;
use std::path::Path;

pub fn merge_manifests(
    pipeline: &Path,
    out: Option<&Path>,
    as_of: Month,
    shards: u32,
    wait_lock: bool,
) -> Result<()> {
    let (p, _lock) = load::locked(pipeline, out, LockMode::Exclusive, wait_lock, false)?;
    commit::merge(&p.out_dir, as_of, shards)?;
    Ok(())
}
