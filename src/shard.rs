//! Sharded runs (`run --shard K/N`, then `merge-manifests`).
//!
//! A person's shard is [`crate::partition::part_of`] (FNV-1a of the normalised ID,
//! shared with the memory buckets). Each shard reads all inputs, evaluates only
//! its people and writes `part-<K>.parquet` files (and its manifest) into
//! `OUT/_shards/as_of=M/shard-K-of-N/`; nothing is visible to readers yet. The
//! finishing step `merge-manifests` checks that all N shards ran on the same inputs and
//! rules, moves every part into `OUT/<table>/as_of=M/` (removing parts of an older
//! snapshot) and writes the snapshot's manifest.

use crate::domain::Month;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::report::Summary;
use std::path::{Path, PathBuf};

pub use crate::partition::{Shard, fnv1a64};

/// `merge-manifests`: publishes the N shards of `as_of` as one snapshot.
pub fn merge(out: &Path, as_of: Month, count: u32) -> Result<Manifest> {
    if count == 0 {
        return Err(Error::Usage("--shards must be at least 1".into()));
    }
    let mut parts: Vec<Manifest> = Vec::with_capacity(count as usize);
    for index in 0..count {
        let shard = Shard { index, count };
        let path = shard.manifest_path(out, as_of);
        if !path.exists() {
            return Err(Error::input(
                &path,
                format!("shard {index}/{count} of {as_of} has not finished (no manifest)"),
            ));
        }
        parts.push(manifest::read(&path)?);
    }
    let first = &parts[0];
    for (i, m) in parts.iter().enumerate() {
        let same = m.rules.sha256 == first.rules.sha256
            && m.pipeline.sha256 == first.pipeline.sha256
            && m.build == first.build
            && m.inputs
                .iter()
                .map(|f| &f.sha256)
                .eq(first.inputs.iter().map(|f| &f.sha256));
        if !same {
            let path = Shard {
                index: i as u32,
                count,
            }
            .manifest_path(out, as_of);
            return Err(Error::input(
                &path,
                "this shard ran on other inputs, rules or build than shard 0; re-run it",
            ));
        }
    }
    let mut merged = first.clone();
    merged.outputs = parts
        .iter()
        .flat_map(|m| m.outputs.iter().cloned())
        .collect();
    merged
        .outputs
        .sort_by(|a, b| (table_rank(&a.table), &a.path).cmp(&(table_rank(&b.table), &b.path)));
    merged.exit_status = parts.iter().map(|m| m.exit_status).max().unwrap_or(0);
    // Shards run side by side: a stage took as long as its slowest shard.
    merged.stage_timings_ms.clear();
    for m in &parts {
        for (k, v) in &m.stage_timings_ms {
            let e = merged.stage_timings_ms.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
    merged.shards = Some(count);
    merged.incremental = parts
        .iter()
        .try_fold(manifest::Incremental::default(), |sum, m| {
            let i = m.incremental?;
            Some(manifest::Incremental {
                people_recomputed: sum.people_recomputed + i.people_recomputed,
                people_carried_forward: sum.people_carried_forward + i.people_carried_forward,
            })
        });
    // The report adds up the shards' summaries (a shard of an older build has none:
    // then there is no report, and an earlier report of this month is removed).
    let mut summary = Some(Summary::default());
    for index in 0..count {
        let path = Shard { index, count }.summary_path(out, as_of);
        let part = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Summary>(&b).ok());
        match (&mut summary, part) {
            (Some(s), Some(p)) => s.add(&p),
            _ => summary = None,
        }
    }
    let mut tables: Vec<&str> = merged.outputs.iter().map(|o| o.table.as_str()).collect();
    tables.dedup();
    for table in tables {
        let staged: Vec<PathBuf> = (0..count)
            .map(|index| {
                let s = Shard { index, count };
                crate::store::partition_dir(&s.dir(out, as_of), table, as_of).join(s.part_name())
            })
            .filter(|p| p.exists())
            .collect();
        crate::store::publish(out, table, as_of, &staged)?;
    }
    crate::commit::snapshot(out, as_of, summary.as_ref(), &mut merged)?;
    let root = Shard::root(out, as_of);
    std::fs::remove_dir_all(&root)
        .map_err(|e| Error::output(&root, format!("cannot remove merged shards: {e}")))?;
    // The parent goes too once no other month's shards wait there.
    let _ = std::fs::remove_dir(out.join("_shards"));
    Ok(merged)
}

fn table_rank(t: &str) -> usize {
    crate::config::OutputTable::ALL
        .iter()
        .position(|x| x.as_str() == t)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PersonId;

    #[test]
    fn fnv1a64_reference_values_and_shard_parse() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(Shard::parse("1/4"), Some(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse("4/4"), None);
        assert_eq!(Shard::parse("x/4"), None);
        let p = PersonId::parse("370202198503120113").unwrap();
        let owners: Vec<u32> = (0..4)
            .filter(|&k| Shard { index: k, count: 4 }.contains(p))
            .collect();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0], (fnv1a64(b"370202198503120113") % 4) as u32);
    }
}
