//! Matching a partition: are all file parts there, made by this build for N shards
//! from the current rule file and the same ledger files? ([`for_shard`])

use super::files::*;
use super::read::*;
use super::*;
/// The file parts of the partition at `root` (none: `None`), checked against the
/// current ledger files, rule file and shard count.
pub(super) fn matching_parts(
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

pub(super) fn show_list(v: &[&String]) -> String {
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
