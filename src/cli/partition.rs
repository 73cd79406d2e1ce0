//! `ledgerflow partition PIPELINE --shards N [--files I/M]`: read and check file part
//! I of M of the ledger once and write its accepted rows into one bucket file per
//! shard, which `run --shard K/N` then reads instead of the inputs
//! ([`crate::partitioned`]).

use crate::error::Result;
use crate::partition::Shard;
use crate::partitioned::{self, PartitionOutcome};
use crate::run::{Progress, load};
use crate::store::LockMode;
use std::path::PathBuf;

/// Options of `ledgerflow partition`.
pub struct PartitionOptions {
    pub pipeline: PathBuf,
    pub out: Option<PathBuf>,
    /// N: the shards that will read the partition.
    pub shards: u32,
    /// `--files I/M`: this process's part of the ledger files (`0/1`: all).
    pub files: Shard,
    pub quiet: bool,
    pub wait_lock: bool,
}

pub fn partition(opts: &PartitionOptions) -> Result<PartitionOutcome> {
    partitioned::check_shards(opts.shards)?;
    let progress = Progress::new(opts.quiet);
    // File parts run side by side, like shards; never beside a publishing run.
    let (pipeline, _lock) = load::locked(
        &opts.pipeline,
        opts.out.as_deref(),
        LockMode::Shared,
        opts.wait_lock,
        opts.quiet,
    )?;
    progress.say(format!(
        "partition: file part {}/{} into {} shard buckets",
        opts.files.index, opts.files.count, opts.shards
    ));
    let done = partitioned::partition(&pipeline, opts.shards, opts.files)?;
    progress.say(format!(
        "partition: {} files, {} rows into {}, {} rejects",
        done.files,
        done.rows,
        done.dir.display(),
        done.rejects
    ));
    Ok(done)
}
