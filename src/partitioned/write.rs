//! The partition step: `ledgerflow partition` reads and checks its file part and
//! writes every accepted row into the bucket file of its shard.

use super::files::*;
use super::*;
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
