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

/// The version of `meta.json` and of the `.bin` files.
const FORMAT: u32 = 1;
const META: &str = "meta.json";
const REJECTS: &str = "rejects.bin";
/// The most shards a partition writes bucket files for (as many as memory buckets).
const MAX_SHARDS: u32 = 4096;

/// What one file part was made from and found (`meta.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Meta {
    format: u32,
    build: String,
    rules_sha256: String,
    encoding: String,
    sheet: Option<String>,
    shards: u32,
    file_part: u32,
    file_parts: u32,
    /// Every ledger file of the pipeline, in input order.
    all_files: Vec<String>,
    /// The index of this part's first file among `all_files`.
    first_file: u32,
    files: Vec<MetaFile>,
    /// The latest month this part's rows offer as the plausibility reference.
    latest: Option<i32>,
    /// The (period, paid_on month) pairs of the spilled rows (the default as_of).
    months: Vec<(i32, Option<i32>)>,
    /// Rows written to each bucket.
    bucket_rows: Vec<u64>,
    rejects: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct MetaFile {
    path: String,
    bytes: u64,
    sha256: String,
    rows_read: u64,
    unknown_columns: Vec<String>,
}

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

/// What `ledgerflow partition` wrote.
pub struct PartitionOutcome {
    pub dir: PathBuf,
    pub files: usize,
    pub rows: u64,
    pub rejects: u64,
}

/// `--shards N` of `ledgerflow partition`: a usage error outside `1 ..= 4096`.
pub fn check_shards(shards: u32) -> Result<()> {
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(Error::Usage(format!(
            "--shards must be between 1 and {MAX_SHARDS} (one bucket file per shard in every file part), got {shards}"
        )));
    }
    Ok(())
}

/// `ledgerflow partition` (see the module docs): file part `files` (I of M) of the
/// ledger of `pipeline` into `shards` bucket files. The caller holds the output
/// folder's shared lock (file parts run side by side, like shards).
pub fn partition(pipeline: &Pipeline, shards: u32, files: Shard) -> Result<PartitionOutcome> {
    check_shards(shards)?;
    if pipeline.state_dir.is_some() || pipeline.pseudonymize {
        // Checks (and makes private) the state folder; a pseudonymised pipeline
        // without one stops here, naming the key.
        crate::privacy::state_dirs(pipeline)?;
    }
    let root = root(pipeline)
        .ok_or_else(|| Error::config(&pipeline.path, "[privacy] key `state_dir`: missing"))?;
    std::fs::create_dir_all(&root).map_err(store::io_err(&root, "cannot create folder"))?;
    remove_dead_leftovers(&root);
    let rules = RuleSet::load(&pipeline.rules_path)?;
    let Shard {
        index: part,
        count: parts,
    } = files;
    // One partition per process: the pid names its staging folder.
    let pid = std::process::id();
    let staging = Scratch(root.join(format!(".staging-{pid}")));
    let _ = std::fs::remove_dir_all(&staging.0);
    std::fs::create_dir_all(&staging.0)
        .map_err(store::io_err(&staging.0, "cannot create staging folder"))?;
    let read = buckets::partition_ledger(
        &pipeline.ledger,
        pipeline.special_groups.as_deref(),
        pipeline.claims.as_deref(),
        (pipeline.encoding, pipeline.sheet.as_deref()),
        (part, parts),
        shards,
        &staging.0,
        &Plausibility::new(&rules, None),
    )?;
    for p in buckets::spill_paths(&staging.0, shards) {
        std::fs::File::open(&p)
            .and_then(|f| f.sync_all())
            .map_err(store::io_err(&p, "cannot sync"))?;
    }
    let first = read.first_file as u32;
    let names: Vec<&str> = read.files.iter().map(|f| f.path.as_str()).collect();
    let indexed: Vec<(u32, &Reject)> = read
        .rejects
        .iter()
        .map(|r| {
            let i = names.iter().position(|n| *n == r.source_file).unwrap_or(0);
            (first + i as u32, r)
        })
        .collect();
    store::write_file_atomically(&staging.0.join(REJECTS), &encode_rejects(&indexed))?;
    let meta = Meta {
        format: FORMAT,
        build: crate::BUILD.into(),
        rules_sha256: rules.sha256.clone(),
        encoding: format!("{:?}", pipeline.encoding),
        sheet: pipeline.sheet.clone(),
        shards,
        file_part: part,
        file_parts: parts,
        all_files: read
            .all_files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        first_file: first,
        files: read
            .files
            .iter()
            .map(|f| MetaFile {
                path: f.path.clone(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
                rows_read: f.rows_read,
                unknown_columns: f.unknown_columns.clone(),
            })
            .collect(),
        latest: read.spilled.latest.map(|m| m.0),
        months: read
            .spilled
            .months
            .iter()
            .map(|(p, m)| (p.0, m.map(|m| m.0)))
            .collect(),
        bucket_rows: read.spilled.bucket_rows.clone(),
        rejects: read.rejects.len() as u64,
    };
    let text = serde_json::to_vec_pretty(&meta)
        .map_err(|e| Error::Internal(format!("partition meta: {e}")))?;
    // The meta last: a folder without it is never read as a file part.
    store::write_file_atomically(&staging.0.join(META), &text)?;
    let target = part_dir(&root, part, parts);
    if target.exists() {
        let old = root.join(format!(".old-{pid}"));
        store::rename(&target, &old, "cannot move the old file part away")?;
        let _ = std::fs::remove_dir_all(&old);
    }
    store::rename(&staging.0, &target, "cannot move the file part in")?;
    store::fsync_dir(&root)?;
    // File parts of another split (another M) are from an older partition.
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("files-") && !name.ends_with(&format!("-of-{parts}")) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(PartitionOutcome {
        dir: target,
        files: meta.files.len(),
        rows: meta.bucket_rows.iter().sum(),
        rejects: meta.rejects,
    })
}

/// Appends rejects with their file's index (count first).
fn put_rejects(w: &mut Vec<u8>, rejects: &[(u32, &Reject)]) {
    binfmt::put_u64(w, rejects.len() as u64);
    for (file, r) in rejects {
        binfmt::put_u32(w, *file);
        binfmt::put_u64(w, r.line);
        binfmt::put_u8(w, r.column.is_some() as u8);
        binfmt::put_str(w, r.column.as_deref().unwrap_or(""));
        binfmt::put_str(w, r.error_type.as_str());
        binfmt::put_str(w, &r.source_file);
        binfmt::put_str(w, &r.message);
        binfmt::put_str(w, &r.raw);
    }
}

/// A file part's `rejects.bin`: the format, the rejects, a checksum.
fn encode_rejects(rejects: &[(u32, &Reject)]) -> Vec<u8> {
    let mut w = Vec::new();
    binfmt::put_u32(&mut w, FORMAT);
    put_rejects(&mut w, rejects);
    binfmt::seal(&mut w);
    w
}

fn read_rejects(r: &mut Reader) -> Option<Vec<(u32, Reject)>> {
    let n = r.u64()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let file = r.u32()?;
        let line = r.u64()?;
        let has_column = r.flag()?;
        let column = r.string()?;
        let kind = r.string()?;
        let error_type = *RejectType::ALL.iter().find(|t| t.as_str() == kind)?;
        out.push((
            file,
            Reject {
                source_file: r.string()?,
                line,
                column: has_column.then_some(column),
                error_type,
                message: r.string()?,
                raw: r.string()?,
            },
        ));
    }
    Some(out)
}

fn decode_rejects(path: &Path) -> Result<Vec<(u32, Reject)>> {
    let data = std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    binfmt::unseal(&data)
        .and_then(|body| {
            let mut r = Reader::new(body);
            (r.u32()? == FORMAT).then_some(())?;
            let v = read_rejects(&mut r)?;
            r.done().then_some(v)
        })
        .ok_or_else(|| {
            Error::input(
                path,
                "damaged partition file; re-run `ledgerflow partition`",
            )
        })
}

/// A shard's share for `merge-manifests`: rows read, future rows per input file,
/// its rejects (with their file's index).
struct ShareFile {
    inputs_sha256: Vec<String>,
    rows_read: u64,
    file_parts: u32,
    future: Vec<u64>,
    rejects: Vec<(u32, Reject)>,
}

fn encode_share(s: &ShareFile) -> Vec<u8> {
    let mut w = Vec::new();
    binfmt::put_u32(&mut w, FORMAT);
    binfmt::put_u32(&mut w, s.inputs_sha256.len() as u32);
    for h in &s.inputs_sha256 {
        binfmt::put_str(&mut w, h);
    }
    binfmt::put_u64(&mut w, s.rows_read);
    binfmt::put_u32(&mut w, s.file_parts);
    binfmt::put_u32(&mut w, s.future.len() as u32);
    for f in &s.future {
        binfmt::put_u64(&mut w, *f);
    }
    let refs: Vec<(u32, &Reject)> = s.rejects.iter().map(|(i, r)| (*i, r)).collect();
    put_rejects(&mut w, &refs);
    binfmt::seal(&mut w);
    w
}

fn decode_share(path: &Path) -> Result<ShareFile> {
    let data = std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    binfmt::unseal(&data)
        .and_then(|body| {
            let mut r = Reader::new(body);
            (r.u32()? == FORMAT).then_some(())?;
            let n = r.u32()?;
            let inputs_sha256 = (0..n).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
            let rows_read = r.u64()?;
            let file_parts = r.u32()?;
            let n = r.u32()?;
            let future = (0..n).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
            let rejects = read_rejects(&mut r)?;
            r.done().then_some(ShareFile {
                inputs_sha256,
                rows_read,
                file_parts,
                future,
                rejects,
            })
        })
        .ok_or_else(|| Error::input(path, "damaged shard file; re-run this shard"))
}

/// The file parts of the partition at `root` (none: `None`), checked against the
/// current ledger files, rule file and shard count.
fn matching_parts(
    pipeline: &Pipeline,
    rules: &RuleSet,
    root: &Path,
    shard: Shard,
) -> Result<Option<Vec<(PathBuf, Meta)>>> {
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(root) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("files-"))
            .map(|e| e.path())
            .collect(),
        Err(_) => return Ok(None),
    };
    if dirs.is_empty() {
        return Ok(None);
    }
    dirs.sort();
    let remake = format!(
        "re-run `ledgerflow partition --shards {}` for every file part",
        shard.count
    );
    let mut parts = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let path = dir.join(META);
        let text = std::fs::read(&path).map_err(|e| {
            Error::input(
                &path,
                format!("cannot read the partition's file part: {e}; {remake}"),
            )
        })?;
        let meta: Meta = serde_json::from_slice(&text).map_err(|e| {
            Error::input(
                &path,
                format!("not a ledgerflow partition file part: {e}; {remake}"),
            )
        })?;
        parts.push((dir, meta));
    }
    let stale = |path: &Path, what: String| -> Error {
        Error::input(
            path,
            format!("the partition does not match this run: {what}; {remake}"),
        )
    };
    let m = parts[0].1.file_parts;
    parts.sort_by_key(|(_, meta)| meta.file_part);
    for (dir, meta) in &parts {
        let path = dir.join(META);
        if meta.format != FORMAT || meta.build != crate::BUILD {
            return Err(stale(
                &path,
                format!("made by build {}, this is {}", meta.build, crate::BUILD),
            ));
        }
        if meta.shards != shard.count {
            return Err(stale(
                &path,
                format!(
                    "made for {} shards, this run is --shard {}/{}",
                    meta.shards, shard.index, shard.count
                ),
            ));
        }
        if meta.rules_sha256 != rules.sha256 {
            return Err(stale(&path, "made with another rule file".into()));
        }
        if meta.encoding != format!("{:?}", pipeline.encoding) || meta.sheet != pipeline.sheet {
            return Err(stale(
                &path,
                "made with another [inputs] encoding or sheet".into(),
            ));
        }
        if meta.file_parts != m || meta.all_files != parts[0].1.all_files {
            return Err(stale(
                &path,
                "its file parts come from different partition runs".into(),
            ));
        }
    }
    let have: Vec<u32> = parts.iter().map(|(_, meta)| meta.file_part).collect();
    if have != (0..m).collect::<Vec<u32>>() {
        let missing: Vec<String> = (0..m)
            .filter(|i| !have.contains(i))
            .map(|i| format!("{i}/{m}"))
            .collect();
        return Err(Error::input(
            root,
            format!(
                "the partition is incomplete: file part {} has not finished; run it",
                missing.join(", ")
            ),
        ));
    }
    let current = buckets::ledger_files(
        &pipeline.ledger,
        pipeline.special_groups.as_deref(),
        pipeline.claims.as_deref(),
    )?;
    let names: Vec<String> = current.iter().map(|p| p.display().to_string()).collect();
    let first = &parts[0].1;
    if names != first.all_files {
        let added: Vec<&String> = names
            .iter()
            .filter(|n| !first.all_files.contains(n))
            .collect();
        let gone: Vec<&String> = first
            .all_files
            .iter()
            .filter(|n| !names.contains(n))
            .collect();
        return Err(stale(
            root,
            format!(
                "the ledger files changed (new: {}; gone: {})",
                show_list(&added),
                show_list(&gone)
            ),
        ));
    }
    let recorded: Vec<&MetaFile> = parts.iter().flat_map(|(_, meta)| &meta.files).collect();
    if recorded.len() != current.len() {
        return Err(stale(
            root,
            "its file parts do not cover the ledger files".into(),
        ));
    }
    // Sizes first (cheap), then the SHA-256 of every file, in parallel.
    current
        .par_iter()
        .zip(recorded.par_iter())
        .try_for_each(|(path, f)| {
            let size = std::fs::metadata(path)
                .map_err(|e| Error::input(path, format!("cannot read: {e}")))?
                .len();
            if size != f.bytes {
                return Err(stale(
                    path,
                    format!("the file has {size} bytes, the partition read {}", f.bytes),
                ));
            }
            let bytes =
                std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
            if crate::digest::sha256_hex(&bytes) != f.sha256 {
                return Err(stale(
                    path,
                    "the file changed since the partition read it (SHA-256)".into(),
                ));
            }
            Ok(())
        })?;
    Ok(Some(parts))
}

fn show_list(v: &[&String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// The partition a shard run reads (see the module docs), found and checked by
/// [`for_shard`]; the run engine opens it as its input source ([`Partition::open`]).
pub struct Partition {
    root: PathBuf,
    shard: Shard,
    parts: Vec<(PathBuf, Meta)>,
}

/// The partition of `run --shard K/N`: `None` when the pipeline has none (the shard
/// reads its inputs as before, and a share it left in an earlier partitioned run is
/// removed so that it is not merged); an error naming what differs when it does not
/// match the current inputs, rule file or shard count.
pub fn for_shard(pipeline: &Pipeline, rules: &RuleSet, shard: Shard) -> Result<Option<Partition>> {
    let Some(root) = root(pipeline) else {
        return Ok(None);
    };
    match matching_parts(pipeline, rules, &root, shard)? {
        Some(parts) => Ok(Some(Partition { root, shard, parts })),
        None => {
            remove_own_shares(&root, shard);
            Ok(None)
        }
    }
}

impl Partition {
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Not read (`--incremental` reads its cache): this shard's old shares go.
    pub fn set_aside(self) {
        remove_own_shares(&self.root, self.shard);
    }

    /// Opens bucket K of every file part, in file-part order (input order), with
    /// the registry and claims read from their files; `reference` is the given
    /// `--as-of` (the plausibility reference, validate::Plausibility).
    pub fn open(
        self,
        pipeline: &Pipeline,
        rules: &RuleSet,
        reference: Option<Month>,
    ) -> Result<ShardRead> {
        let Partition { root, shard, parts } = self;
        let current = buckets::ledger_files(
            &pipeline.ledger,
            pipeline.special_groups.as_deref(),
            pipeline.claims.as_deref(),
        )?;
        let mut files = Vec::new();
        let mut months = BTreeSet::new();
        let mut latest = None;
        let mut spills = Vec::new();
        for (dir, meta) in &parts {
            for f in &meta.files {
                let path = current
                    .get(files.len())
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from(&f.path));
                let info = InputFile {
                    kind: InputKind::Ledger,
                    path: f.path.clone(),
                    bytes: f.bytes,
                    sha256: f.sha256.clone(),
                    rows_read: f.rows_read,
                    rows_accepted: 0,
                    rows_rejected: 0,
                    unknown_columns: f.unknown_columns.clone(),
                };
                files.push((path, info));
            }
            months.extend(meta.months.iter().map(|(p, m)| (Month(*p), m.map(Month))));
            latest = latest.max(meta.latest.map(Month));
            spills.push(buckets::spill_paths(dir, shard.count).swap_remove(shard.index as usize));
        }
        let n_ledger = files.len();
        let b = buckets::open_partition(
            pipeline.special_groups.as_deref(),
            pipeline.claims.as_deref(),
            (pipeline.encoding, pipeline.sheet.as_deref()),
            buckets::PartitionBucket {
                files,
                spills,
                latest,
                months,
            },
            &Plausibility::new(rules, reference),
        )?;
        Ok(ShardRead {
            root,
            shard,
            parts,
            n_ledger,
            buckets: Some(b),
            rows_read: 0,
            finished: Inputs::default(),
            share: Vec::new(),
        })
    }
}

/// A shard's bucket of a partition, as the run engine's input source: one part
/// ([`ShardRead::load`]), then the shard's share of the rejects ([`ShardRead::finish`]),
/// written for `merge-manifests` before the shard's manifest ([`ShardRead::write_share`]).
pub struct ShardRead {
    root: PathBuf,
    shard: Shard,
    parts: Vec<(PathBuf, Meta)>,
    /// The ledger files (the first `n_ledger` input files).
    n_ledger: usize,
    /// Until [`ShardRead::finish`].
    buckets: Option<Buckets>,
    rows_read: u64,
    /// After [`ShardRead::finish`]: the files with the share's counts and its rejects.
    finished: Inputs,
    share: Vec<(u32, Reject)>,
}

impl ShardRead {
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn file_parts(&self) -> u32 {
        self.parts.len() as u32
    }

    /// The input files (their counts are final only after [`ShardRead::finish`]).
    pub fn files(&self) -> &[InputFile] {
        match &self.buckets {
            Some(b) => b.files(),
            None => &self.finished.files,
        }
    }

    /// The buckets being read (`None` once finished).
    pub fn buckets(&self) -> Option<&Buckets> {
        self.buckets.as_ref()
    }

    /// The shard's accepted rows of every file part (rows ahead of the reference
    /// month and exact duplicates removed), its registry entries and claims; an error
    /// when the bucket files hold another number of rows than their file parts wrote.
    pub fn load(&mut self) -> Result<Inputs> {
        let shard = self.shard;
        let b = self
            .buckets
            .as_mut()
            .ok_or_else(|| Error::Internal("partition bucket read twice".into()))?;
        let (ledger, rows_read) = b.rows_of_all()?;
        let expected: u64 = self
            .parts
            .iter()
            .map(|(_, meta)| {
                meta.bucket_rows
                    .get(shard.index as usize)
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        if rows_read != expected {
            return Err(Error::input(
                &self.root,
                format!(
                    "bucket {} of the partition holds {rows_read} rows, its file parts wrote {expected}; re-run `ledgerflow partition`",
                    shard.index
                ),
            ));
        }
        self.rows_read = rows_read;
        Ok(Inputs {
            files: b.files().to_vec(),
            ledger,
            registry: b.registry.filtered(|p| shard.contains(p)),
            claims: b.claims.filtered(|p| shard.contains(p)),
            rejects: Vec::new(),
        })
    }

    /// The shard's share of the rejects once its bucket is loaded: the duplicates
    /// and rows ahead of its people, shard 0 also the registry's and claims' and the
    /// file parts' own; the per-file counts recounted from them.
    pub fn finish(&mut self) -> Result<&Inputs> {
        if let Some(b) = self.buckets.take() {
            let (mut files, own) = b.finish();
            let index: HashMap<String, u32> = files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.path.clone(), i as u32))
                .collect();
            let (shard, n_ledger) = (self.shard, self.n_ledger);
            let mut share: Vec<(u32, Reject)> = own
                .into_iter()
                .map(|r| (index.get(&r.source_file).copied().unwrap_or(0), r))
                .filter(|(i, _)| shard.index == 0 || (*i as usize) < n_ledger)
                .collect();
            if shard.index == 0 {
                for (dir, _) in &self.parts {
                    share.extend(decode_rejects(&dir.join(REJECTS))?);
                }
            }
            share.sort_by_key(|(i, r)| (*i, r.line));
            recount(&mut files, share.iter().map(|(i, _)| *i));
            self.finished = Inputs {
                files,
                rejects: share.iter().map(|(_, r)| r.clone()).collect(),
                ..Inputs::default()
            };
            self.share = share;
        }
        Ok(&self.finished)
    }

    /// Writes the share (rows read, `future` rows per input file, the rejects) to
    /// `ROOT/shards/as_of=M/shard-K-of-N.bin`; returns what the shard's manifest
    /// records of the partition. Called after [`ShardRead::finish`], before the
    /// shard's manifest is written (a shard with a manifest has its share there).
    pub fn write_share(&self, as_of: Month, future: &[u64]) -> Result<manifest::PartitionRead> {
        if self.buckets.is_some() {
            return Err(Error::Internal("partition share before its rejects".into()));
        }
        let share = ShareFile {
            inputs_sha256: self
                .finished
                .files
                .iter()
                .map(|f| f.sha256.clone())
                .collect(),
            rows_read: self.rows_read,
            file_parts: self.file_parts(),
            future: future.to_vec(),
            rejects: self.share.clone(),
        };
        let path = share_path(&self.root, as_of, self.shard);
        store::write_file_atomically(&path, &encode_share(&share))?;
        Ok(manifest::PartitionRead {
            file_parts: self.file_parts(),
            rows_read: self.rows_read,
            rows_read_by_shard: Vec::new(),
        })
    }
}

/// Per-file counts from the rejects' file indexes: rejected as counted, accepted the
/// rest of the rows read.
fn recount(files: &mut [InputFile], rejects: impl Iterator<Item = u32>) {
    for f in files.iter_mut() {
        f.rows_rejected = 0;
    }
    for i in rejects {
        if let Some(f) = files.get_mut(i as usize) {
            f.rows_rejected += 1;
        }
    }
    for f in files.iter_mut() {
        f.rows_accepted = f.rows_read.saturating_sub(f.rows_rejected);
    }
}

/// Removes the shares this shard left for any month (it now reads the inputs).
fn remove_own_shares(root: &Path, shard: Shard) {
    let Ok(months) = std::fs::read_dir(root.join("shards")) else {
        return;
    };
    for m in months.flatten() {
        let _ = std::fs::remove_file(
            m.path()
                .join(format!("shard-{}-of-{}.bin", shard.index, shard.count)),
        );
    }
}

/// Before `merge-manifests` publishes shards that read a partition: gathers their
/// shares of the rejects into one `rejects` part in shard 0's folder and recounts
/// the per-file counts, totals, rejects by type, quality gate and rows read into
/// shard 0's manifest, which the merge starts from. Shards that read their inputs
/// (no shares) are left as they are; a mix is refused. Rerunning it gives the same
/// result (everything is recomputed from the shares). Returns the recounted totals
/// when they fail the data-quality gate (the caller says so once the merge is done).
pub fn before_merge(
    pipeline: &Pipeline,
    keys: &KeyMode,
    as_of: Month,
    count: u32,
) -> Result<Option<manifest::Totals>> {
    let Some(root) = root(pipeline) else {
        return Ok(None);
    };
    let out = &pipeline.out_dir;
    let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
    if shards.iter().any(|s| !s.manifest_path(out, as_of).exists()) {
        // `shard::merge` names the shard that has not finished.
        return Ok(None);
    }
    let have: Vec<bool> = shards
        .iter()
        .map(|s| share_path(&root, as_of, *s).exists())
        .collect();
    if !have.iter().any(|h| *h) {
        return Ok(None);
    }
    if let Some(k) = have.iter().position(|h| !h) {
        return Err(Error::input(
            shards[k].manifest_path(out, as_of),
            format!(
                "shard {k}/{count} read the whole ledger while others read the partition {}; re-run it",
                root.display()
            ),
        ));
    }
    let mut manifests = Vec::with_capacity(shards.len());
    let mut shares = Vec::with_capacity(shards.len());
    for s in &shards {
        let m = manifest::read(&s.manifest_path(out, as_of))?;
        let path = share_path(&root, as_of, *s);
        let share = decode_share(&path)?;
        if !share
            .inputs_sha256
            .iter()
            .eq(m.inputs.iter().map(|f| &f.sha256))
        {
            return Err(Error::input(
                &path,
                format!(
                    "shard {}/{count} left this from other inputs than its manifest lists; re-run it",
                    s.index
                ),
            ));
        }
        manifests.push(m);
        shares.push(share);
    }
    let mut rejects: Vec<(u32, Reject)> = shares
        .iter_mut()
        .flat_map(|s| std::mem::take(&mut s.rejects))
        .collect();
    rejects.sort_by_key(|(i, r)| (*i, r.line));
    let mut m0: Manifest = manifests[0].clone();
    let mut by_file = vec![0u64; m0.inputs.len()];
    for (i, _) in &rejects {
        if let Some(n) = by_file.get_mut(*i as usize) {
            *n += 1;
        }
    }
    let mut totals = manifest::Totals::default();
    for (i, e) in m0.inputs.iter_mut().enumerate() {
        e.rows_rejected = by_file[i];
        e.rows_accepted = e.rows_read.saturating_sub(e.rows_rejected);
        e.future_rows = shares
            .iter()
            .map(|s| s.future.get(i).copied().unwrap_or(0))
            .sum();
        if e.kind == InputKind::Ledger.as_str() {
            totals.rows_read += e.rows_read;
            totals.rows_accepted += e.rows_accepted;
            totals.rows_rejected += e.rows_rejected;
            totals.future_rows += e.future_rows;
        }
    }
    m0.totals = totals;
    let rejects: Vec<Reject> = rejects.into_iter().map(|(_, r)| r).collect();
    m0.rejects_by_type = manifest::rejects_by_type(&Inputs {
        rejects: rejects.clone(),
        ..Inputs::default()
    });
    let gate = pipeline
        .max_reject_ratio
        .is_some_and(|max| totals.reject_ratio() > max);
    m0.exit_status = if gate { 3 } else { 0 };
    let by_shard: Vec<u64> = shares.iter().map(|s| s.rows_read).collect();
    m0.partition = Some(manifest::PartitionRead {
        file_parts: shares[0].file_parts,
        rows_read: by_shard.iter().sum(),
        rows_read_by_shard: by_shard,
    });
    if pipeline.tables.contains(&OutputTable::Rejects) {
        let rules_sha256 = m0.rules.sha256.clone();
        let target = crate::output::Target {
            out,
            as_of,
            tables: &pipeline.tables,
            keys,
            rules_sha256: &rules_sha256,
        };
        let own = store::Staging::new(out);
        let part = shards[0].part_name();
        let (staged, file) = crate::output::stage_table(
            &target,
            OutputTable::Rejects,
            own.dir(),
            &part,
            &crate::engine::Batch::default(),
            &rejects,
        )?;
        let dest = store::partition_dir(&shards[0].dir(out, as_of), "rejects", as_of);
        std::fs::create_dir_all(&dest).map_err(store::io_err(&dest, "cannot create folder"))?;
        store::rename(&staged, &dest.join(&part), "cannot replace part file")?;
        store::fsync_dir(&dest)?;
        m0.outputs
            .retain(|o| o.table != OutputTable::Rejects.as_str());
        m0.outputs.push(manifest::OutputEntry {
            table: file.table,
            path: file.path,
            rows: file.rows,
            bytes: file.bytes,
            sha256: file.sha256,
        });
    }
    manifest::write_to(&shards[0].manifest_path(out, as_of), &m0)?;
    Ok(gate.then_some(totals))
}

/// After `merge-manifests`: the shares of the merged month are no longer needed.
pub fn after_merge(pipeline: &Pipeline, as_of: Month) {
    if let Some(root) = root(pipeline) {
        let _ = std::fs::remove_dir_all(root.join("shards").join(format!("as_of={as_of}")));
        let _ = std::fs::remove_dir(root.join("shards"));
    }
}

#[cfg(test)]
mod tests {
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
