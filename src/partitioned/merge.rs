//! Before and after `merge-manifests`: gather the shards' shares into one `rejects`
//! part and recount shard 0's manifest; then remove the shares.

use super::files::*;
use super::*;
/// Per-file counts from the rejects' file indexes: rejected as counted, accepted the
/// rest of the rows read.
pub(super) fn recount(files: &mut [InputFile], rejects: impl Iterator<Item = u32>) {
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
pub(super) fn remove_own_shares(root: &Path, shard: Shard) {
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
