//! `ledgerflow partition` and the shards that read only their share of it.
//!
//! **Partition.** `partition PIPE --shards N --files I/M` reads and checks the ledger
//! files of file part `I` of `M` (contiguous in path order) with the same checks as a
//! run, and writes every accepted row into the person-bucket file of its shard
//! (bucket `K` of `N` = shard `K` of `N`, [`crate::partition::part_of`]) in the spill
//! format of the memory buckets ([`crate::validate::buckets`]). A file part's folder
//! `ROOT/files-I-of-M/` holds `bucket-KKKKK.rows` × N, `rejects.bin` (the rejects its
//! files gave alone) and `meta.json` (what it was made from: the build, the rule
//! file's SHA-256, N, M, every ledger file of the pipeline and this part's files with
//! their sizes, SHA-256s and row counts). It is written under `ROOT/.staging-<pid>-<n>/`
//! and moved in whole with one `rename(2)`: a killed partition leaves nothing that is
//! read as done. `ROOT` is `OUT/_partition/`, or with `[privacy] state_dir` that
//! folder's `partition/` (the bucket files hold raw IDs).
//!
//! **Shards.** `run --shard K/N` looks for a partition ([`for_shard`]): with none it
//! reads the inputs as before. With one it checks that every file part `0 … M−1` is
//! there, that all were made by this build for N shards from the current rule file,
//! and that the ledger files are the same (names, sizes, SHA-256s) — else it stops
//! (exit 1) naming what differs. Then it reads only bucket `K` of every file part, in
//! file-part order (which is input order), applies the checks that need the whole
//! ledger (rows ahead of the reference month, the latest month any part offered;
//! exact duplicates, which are the same person and so in the same bucket), reads the
//! registry and claims itself ([`ShardRead`], the run engine's partition source in
//! `run::load`), and evaluates and stages its part as any shard does.
//!
//! **Rejects.** Each shard knows only its people's duplicates and rows ahead, so each
//! writes its share (shard 0 also the file parts' rejects and the registry's and
//! claims') with its row count and future rows per file to
//! `ROOT/shards/as_of=M/shard-K-of-N.bin` before its manifest. `merge-manifests`
//! ([`before_merge`]) gathers the shares into one `rejects` part sorted as a single
//! run sorts it, recounts the per-file counts, totals, rejects by type and the
//! quality gate into shard 0's manifest, which the merge starts from; the published
//! `rejects` table is byte-identical to a single run's.

use crate::binfmt::{self, Reader};
use crate::config::{OutputTable, Pipeline, RuleSet};
use crate::domain::{Month, RejectType};
use crate::error::{Error, Result};
use crate::ledger::{InputFile, InputKind, Inputs, Reject};
use crate::manifest::{self, Manifest};
use crate::output::KeyMode;
use crate::partition::Shard;
use crate::store;
use crate::validate::{Plausibility, buckets, buckets::Buckets};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

mod check;
mod files;
mod merge;
mod read;
mod write;

use merge::*;

pub use check::{Partition, for_shard};
pub use merge::{after_merge, before_merge};
pub use read::ShardRead;
pub use write::{PartitionOutcome, check_shards, partition};

/// The version of `meta.json` and of the `.bin` files.
const FORMAT: u32 = 1;
const META: &str = "meta.json";
const REJECTS: &str = "rejects.bin";
/// The most shards a partition writes bucket files for (as many as memory buckets).
const MAX_SHARDS: u32 = crate::partition::MAX_PARTS;

/// The folder of a pipeline's partition; `None` for a pseudonymised pipeline without
/// `[privacy] state_dir` (it can have none: the bucket files hold raw IDs).
fn root(pipeline: &Pipeline) -> Option<PathBuf> {
    match &pipeline.state_dir {
        Some(dir) => Some(dir.join("partition")),
        None if pipeline.pseudonymize => None,
        None => Some(pipeline.out_dir.join("_partition")),
    }
}

fn part_dir(root: &Path, part: u32, parts: u32) -> PathBuf {
    root.join(format!("files-{part}-of-{parts}"))
}

fn share_path(root: &Path, as_of: Month, shard: Shard) -> PathBuf {
    root.join("shards")
        .join(format!("as_of={as_of}"))
        .join(format!("shard-{}-of-{}.bin", shard.index, shard.count))
}

/// A folder removed with everything in it when dropped (a partition's staging).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Staging and displaced folders `ROOT/.staging-<pid>`, `ROOT/.old-<pid>` of
/// processes no longer alive (killed partitions).
fn remove_dead_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(".staging-")
            .or_else(|| name.strip_prefix(".old-"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new("/proc").join(pid.to_string()).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::files::*;
    use super::*;

    #[test]
    fn shares_read_back_and_damage_is_an_error_naming_the_file() {
        let reject = Reject {
            source_file: "ledger/断缴.csv".into(),
            line: 7,
            column: Some("period".into()),
            error_type: RejectType::BadPeriod,
            message: "period 2031-01 is outside the plausible range".into(),
            raw: "370202198503120113,2031-01".into(),
        };
        let whole_row = Reject {
            column: None,
            error_type: RejectType::DuplicateRow,
            ..reject.clone()
        };
        let share = ShareFile {
            inputs_sha256: vec!["ab".repeat(32), "cd".repeat(32)],
            rows_read: 12_345,
            file_parts: 2,
            future: vec![3, 0],
            rejects: vec![(0, reject.clone()), (1, whole_row.clone())],
        };
        let dir = std::env::temp_dir().join(format!("ledgerflow-share-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("shard-0-of-2.bin");
        let bytes = encode_share(&share);
        std::fs::write(&path, &bytes).unwrap();
        let back = decode_share(&path).unwrap();
        assert_eq!(back.inputs_sha256, share.inputs_sha256);
        assert_eq!((back.rows_read, back.file_parts), (12_345, 2));
        assert_eq!(back.future, [3, 0]);
        assert_eq!(back.rejects, [(0, reject.clone()), (1, whole_row)]);
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let e = decode_share(&path).err().unwrap().to_string();
        assert!(
            e.contains("shard-0-of-2.bin") && e.contains("damaged"),
            "{e}"
        );
        // A partition's rejects file: read back, and cut short it is an error.
        let rejects_path = dir.join(REJECTS);
        let mut w = encode_rejects(&[(4, &reject)]);
        std::fs::write(&rejects_path, &w).unwrap();
        assert_eq!(decode_rejects(&rejects_path).unwrap(), [(4, reject)]);
        w[5] ^= 0x10;
        std::fs::write(&rejects_path, &w).unwrap();
        assert!(decode_rejects(&rejects_path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
