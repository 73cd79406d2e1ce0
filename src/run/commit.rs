//! The one step that publishes: what changed since the previous month
//! ([`crate::changes`], from the staged parts), the run report and the manifest are
//! written beside their places first; only then do the snapshot's staged part files
//! move into `OUT/<table>/as_of=M/` ([`crate::store::publish`]), then the report and
//! last the manifest (renames only), so that once it is there everything it lists is
//! (CONTRACT §4), and a full disk fails the run before any part of the old snapshot
//! is replaced; then the data-quality gate. Every run mode ends here: a plain or bucketed run and each month
//! of `backfill` through [`snapshot`], a shard through [`snapshot`] into its waiting
//! folder (published later), and `merge-manifests` through [`merge`], the commit of
//! all shards' staged files.

use super::progress::{Progress, Timings};
use crate::changes;
use crate::config::{OutputTable, Pipeline, RuleSet};
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::ledger::Inputs;
use crate::manifest::{self, Manifest};
use crate::partition::Shard;
use crate::report::{self, Summary};
use crate::store::{self, OutputFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The part files staged for one snapshot, per table, with their manifest entries.
#[derive(Default)]
pub struct Staged {
    pub tables: BTreeMap<OutputTable, Vec<PathBuf>>,
    pub outputs: Vec<OutputFile>,
}

impl Staged {
    pub fn add(&mut self, table: OutputTable, path: PathBuf, file: OutputFile) {
        self.tables.entry(table).or_default().push(path);
        self.outputs.push(file);
    }
}

/// Everything a snapshot's manifest is made of besides its files.
pub struct Snapshot<'a> {
    pub pipeline: &'a Pipeline,
    pub rules: &'a RuleSet,
    /// The input files (final counts) and every reject.
    pub inputs: &'a Inputs,
    pub as_of: Month,
    /// Accepted rows paid after `as_of`, per input file.
    pub future: &'a [u64],
    /// The report's figures, added up over the parts.
    pub summary: &'a Summary,
    /// `Some`: the snapshot of one shard, waiting for `merge-manifests`.
    pub shard: Option<Shard>,
    pub run_mode: Option<manifest::RunMode>,
    pub bucketed: Option<manifest::Bucketed>,
    pub incremental: Option<manifest::Incremental>,
    /// A shard that read a partition: what it read.
    pub partition: Option<manifest::PartitionRead>,
}

/// A shard's waiting manifest says its parts are complete: a rerun of the shard
/// removes it before overwriting them, so a rerun killed halfway leaves a shard that
/// `merge-manifests` reports as not finished.
pub fn reopen_shard(out: &Path, as_of: Month, shard: Shard) -> Result<()> {
    let old = shard.manifest_path(out, as_of);
    if old.exists() {
        std::fs::remove_file(&old).map_err(store::io_err(&old, "cannot remove"))?;
    }
    Ok(())
}

/// Commits one snapshot (see the module docs); returns whether the data-quality gate
/// failed. The publishing is timed as part of `write`.
pub fn snapshot(
    s: &Snapshot,
    mut staged: Staged,
    progress: &Progress,
    timings: &mut Timings,
) -> Result<bool> {
    let Snapshot {
        pipeline, as_of, ..
    } = *s;
    let out = &pipeline.out_dir;
    let rank = |t: &str| pipeline.tables.iter().position(|x| x.as_str() == t);
    staged
        .outputs
        .sort_by(|x, y| (rank(&x.table), &x.path).cmp(&(rank(&y.table), &y.path)));
    let totals = manifest::totals(s.inputs, s.future);
    // A shard that read a partition holds only its share of the rejects: the gate is
    // decided by `merge-manifests` over the gathered rejects, not here.
    let quality_gate_failed = s.partition.is_none()
        && pipeline
            .max_reject_ratio
            .is_some_and(|max| totals.reject_ratio() > max);
    let mut m = manifest::build(&manifest::ManifestInput {
        as_of,
        pipeline,
        rules: s.rules,
        inputs: s.inputs,
        future_rows: s.future,
        outputs: &staged.outputs,
        exit_status: if quality_gate_failed { 3 } else { 0 },
        timings: &timings.0,
    });
    m.run_mode = s.run_mode.clone();
    m.bucketed = s.bucketed.clone();
    m.incremental = s.incremental;
    m.partition = s.partition.clone();
    match s.shard {
        None => {
            let of = |t: OutputTable| staged.tables.get(&t).map(Vec::as_slice);
            let now = changes::Staged {
                person_status: of(OutputTable::PersonStatus),
                gaps: of(OutputTable::Gaps),
            };
            let publish = || {
                timings.time("write", || {
                    pipeline
                        .tables
                        .iter()
                        .try_for_each(|t| match staged.tables.get(t) {
                            Some(paths) => store::publish(out, t.as_str(), as_of, paths),
                            None => Ok(()),
                        })
                })?;
                progress.say(format!(
                    "wrote {} files under {}",
                    staged.outputs.len(),
                    out.display()
                ));
                Ok(())
            };
            let (manifest, report) = record(out, as_of, Some(s.summary), &mut m, now, publish)?;
            progress.say(format!(
                "manifest {}, report {}",
                manifest.display(),
                report.unwrap_or_default().display()
            ));
        }
        // A shard's manifest and report summary wait in its shard folder for
        // `merge-manifests`, which adds the summaries up into the run report.
        Some(shard) => {
            progress.say(format!(
                "wrote {} files under {}",
                staged.outputs.len(),
                out.display()
            ));
            let summary = serde_json::to_vec(s.summary)
                .map_err(|e| Error::Internal(format!("report summary: {e}")))?;
            store::write_file_atomically(&shard.summary_path(out, as_of), &summary)?;
            let path = manifest::write_to(&shard.manifest_path(out, as_of), &m)?;
            progress.say(format!("shard manifest {}", path.display()));
        }
    }
    if quality_gate_failed {
        report_quality_gate(pipeline, &totals);
    }
    Ok(quality_gate_failed)
}

/// Adds the changes since the previous month (from the `now` parts) to `m` and writes
/// the report and the manifest beside their places; then `publish`es the parts, moves
/// the report in (or removes an older one when there is no `summary`) and last the
/// manifest; returns their paths. Whatever fails for want of space fails before
/// `publish`, so the previous snapshot stays whole.
fn record(
    out: &Path,
    as_of: Month,
    summary: Option<&Summary>,
    m: &mut Manifest,
    now: changes::Staged,
    publish: impl FnOnce() -> Result<()>,
) -> Result<(PathBuf, Option<PathBuf>)> {
    m.changes_since_previous = changes::since_previous(out, as_of, now)?;
    let report = match summary {
        Some(s) => Some(report::prepare(out, as_of, s, m)?),
        None => None,
    };
    let prepared = manifest::prepare(out, m)?;
    publish()?;
    let report = match report {
        Some(r) => Some(r.commit()?),
        // No report rather than an earlier one beside this manifest.
        None => {
            let _ = std::fs::remove_file(report::path(out, as_of));
            None
        }
    };
    let path = prepared.commit()?;
    manifest::committed(m);
    Ok((path, report))
}

/// `merge-manifests --shards N`: a usage error outside `1 ..= MAX_PARTS` (checked
/// before anything is read: a huge N would ask for room for N manifests).
pub fn check_shard_count(count: u32) -> Result<()> {
    if !(1..=crate::partition::MAX_PARTS).contains(&count) {
        return Err(Error::Usage(format!(
            "--shards must be between 1 and {}, got {count}",
            crate::partition::MAX_PARTS
        )));
    }
    Ok(())
}

pub fn merge(out: &Path, as_of: Month, count: u32) -> Result<Manifest> {
    check_shard_count(count)?;
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
    // Shards that read a partition: shard 0's manifest carries the gate recounted over
    // all shares (`partitioned::before_merge`); otherwise every shard saw every reject.
    merged.exit_status = match first.partition {
        Some(_) => first.exit_status,
        None => parts.iter().map(|m| m.exit_status).max().unwrap_or(0),
    };
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
    let mut tables: Vec<String> = merged.outputs.iter().map(|o| o.table.clone()).collect();
    tables.dedup();
    let staged: Vec<(String, Vec<PathBuf>)> = tables
        .into_iter()
        .map(|table| {
            let parts = (0..count)
                .map(|index| {
                    let s = Shard { index, count };
                    store::partition_dir(&s.dir(out, as_of), &table, as_of).join(s.part_name())
                })
                .filter(|p| p.exists())
                .collect();
            (table, parts)
        })
        .collect();
    let of = |t: &str| {
        staged
            .iter()
            .find(|(table, _)| table == t)
            .map(|(_, parts)| parts.as_slice())
    };
    let now = changes::Staged {
        person_status: of("person_status"),
        gaps: of("gaps"),
    };
    let publish = || {
        staged
            .iter()
            .try_for_each(|(table, parts)| store::publish(out, table, as_of, parts))
    };
    record(out, as_of, summary.as_ref(), &mut merged, now, publish)?;
    let root = Shard::root(out, as_of);
    std::fs::remove_dir_all(&root)
        .map_err(|e| Error::output(&root, format!("cannot remove merged shards: {e}")))?;
    // The parent goes too once no other month's shards wait there.
    let _ = std::fs::remove_dir(out.join("_shards"));
    Ok(merged)
}

fn table_rank(t: &str) -> usize {
    OutputTable::ALL
        .iter()
        .position(|x| x.as_str() == t)
        .unwrap_or(usize::MAX)
}

/// The one-line message of a failed data-quality gate (exit code 3), on stderr.
pub fn report_quality_gate(pipeline: &Pipeline, totals: &manifest::Totals) {
    let msg = format!(
        "{}: reject ratio {:.4} ({} of {} ledger rows) exceeds [quality] max_reject_ratio = {}",
        crate::privacy::shown(&pipeline.path.display().to_string()),
        totals.reject_ratio(),
        totals.rows_rejected,
        totals.rows_read,
        pipeline.max_reject_ratio.unwrap_or(1.0)
    );
    crate::log::error(&msg, 3);
}
