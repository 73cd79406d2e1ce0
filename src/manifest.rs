//! The run manifest `OUT/_manifests/<as_of>.json` (CONTRACT.md §4): what went in
//! (files, bytes, SHA-256s, row counts), what came out, with which rules, how long each
//! stage took and how the run ended. Everything but `stage_timings_ms` is a function
//! of the inputs, rules and `as_of`.

use crate::config::{Pipeline, RuleSet};
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::ledger::{InputKind, Inputs};
use crate::store::OutputFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    /// The version and a fingerprint of the sources (`crate::BUILD`).
    #[serde(default)]
    pub build: String,
    pub as_of: String,
    pub pipeline: FileRef,
    pub rules: FileRef,
    pub inputs: Vec<InputEntry>,
    pub outputs: Vec<OutputEntry>,
    pub totals: Totals,
    pub rejects_by_type: BTreeMap<String, u64>,
    pub exit_status: u8,
    pub stage_timings_ms: BTreeMap<String, u64>,
    /// Set on a snapshot merged from `N` shard runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    /// Set by `run --incremental`: how the snapshot was made (like the timings, not
    /// part of what it holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<Incremental>,
    /// Against the previous month's snapshot in the same OUT ([`crate::changes`]);
    /// `null` when OUT holds none. Like the timings, it describes the folder the
    /// snapshot was written into, not what the snapshot holds.
    #[serde(default)]
    pub changes_since_previous: Option<crate::changes::Changes>,
    /// Set when the run chose another mode than the one asked for (an incremental or
    /// full run made bucketed because the inputs look larger than memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_mode: Option<RunMode>,
    /// Only on a bucketed run: the memory budget and the buckets chosen for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketed: Option<Bucketed>,
    /// Only on a shard that read its buckets of a partition (`ledgerflow partition`),
    /// and on the snapshot merged from such shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionRead>,
}

/// What shards read of a partition (`ledgerflow partition`, src/partitioned.rs).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PartitionRead {
    /// The file parts (`--files I/M`: M) the partition was written in.
    pub file_parts: u32,
    /// The ledger rows read from the bucket files: this shard's, or (merged) all
    /// shards' together.
    pub rows_read: u64,
    /// Merged: each shard's `rows_read`, by shard index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows_read_by_shard: Vec<u64>,
}

/// How a bucketed run was sized (by the run engine's memory plan, `run::memory`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Bucketed {
    /// The person buckets the rows were spilled into.
    pub buckets: u32,
    /// `--memory-budget` in bytes; `null` when the run was made bucketed because its
    /// inputs look larger than the default budget (see `run_mode`).
    pub memory_budget: Option<u64>,
    /// Why the budget cannot be kept, when it cannot (below the minimum, or a ledger
    /// file too large for it); the run still went on in `buckets` buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_warning: Option<String>,
}

/// The mode a run was asked for, the one it used, and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RunMode {
    pub requested: String,
    pub used: String,
    pub why: String,
}

/// People evaluated by an incremental run, and people whose results were carried
/// forward from the previous run (see [`crate::carry`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Incremental {
    pub people_recomputed: u64,
    pub people_carried_forward: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FileRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct InputEntry {
    pub kind: String,
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub future_rows: u64,
    pub unknown_columns: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OutputEntry {
    pub table: String,
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Ledger rows only (CONTRACT §4): `rows_read = rows_accepted + rows_rejected`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub future_rows: u64,
}

impl Totals {
    pub fn reject_ratio(&self) -> f64 {
        if self.rows_read == 0 {
            0.0
        } else {
            self.rows_rejected as f64 / self.rows_read as f64
        }
    }
}

/// What a manifest is made of.
pub struct ManifestInput<'a> {
    pub as_of: Month,
    pub pipeline: &'a Pipeline,
    pub rules: &'a RuleSet,
    pub inputs: &'a Inputs,
    /// Accepted rows paid after `K`, per entry of `inputs.files`.
    pub future_rows: &'a [u64],
    pub outputs: &'a [OutputFile],
    pub exit_status: u8,
    pub timings: &'a BTreeMap<String, u64>,
}

/// Ledger totals of a set of inputs, with the per-file future rows.
pub fn totals(inputs: &Inputs, future_rows: &[u64]) -> Totals {
    let mut t = Totals::default();
    for (i, f) in inputs.files.iter().enumerate() {
        if f.kind == InputKind::Ledger {
            t.rows_read += f.rows_read;
            t.rows_accepted += f.rows_accepted;
            t.rows_rejected += f.rows_rejected;
            t.future_rows += future_rows.get(i).copied().unwrap_or(0);
        }
    }
    t
}

/// Reject counts per `error_type`, every type listed (zeros included).
pub fn rejects_by_type(inputs: &Inputs) -> BTreeMap<String, u64> {
    let mut by: BTreeMap<String, u64> = crate::domain::RejectType::ALL
        .iter()
        .map(|t| (t.as_str().to_string(), 0))
        .collect();
    for r in &inputs.rejects {
        *by.entry(r.error_type.as_str().to_string()).or_default() += 1;
    }
    by
}

pub fn build(m: &ManifestInput) -> Manifest {
    // Paths and header names may hold IDs: shown masked in a pseudonymised run.
    let shown = crate::privacy::shown;
    let path = |p: &Path| shown(&p.display().to_string());
    Manifest {
        tool: "ledgerflow".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        build: crate::BUILD.into(),
        as_of: m.as_of.to_string(),
        pipeline: FileRef {
            path: path(&m.pipeline.path),
            sha256: m.pipeline.sha256.clone(),
        },
        rules: FileRef {
            path: path(&m.rules.path),
            sha256: m.rules.sha256.clone(),
        },
        inputs: m
            .inputs
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| InputEntry {
                kind: f.kind.as_str().into(),
                path: shown(&f.path),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
                rows_read: f.rows_read,
                rows_accepted: f.rows_accepted,
                rows_rejected: f.rows_rejected,
                future_rows: m.future_rows.get(i).copied().unwrap_or(0),
                unknown_columns: f.unknown_columns.iter().map(|c| shown(c)).collect(),
            })
            .collect(),
        outputs: m
            .outputs
            .iter()
            .map(|o| OutputEntry {
                table: o.table.clone(),
                path: o.path.clone(),
                rows: o.rows,
                bytes: o.bytes,
                sha256: o.sha256.clone(),
            })
            .collect(),
        totals: totals(m.inputs, m.future_rows),
        rejects_by_type: rejects_by_type(m.inputs),
        exit_status: m.exit_status,
        stage_timings_ms: m.timings.clone(),
        shards: None,
        incremental: None,
        run_mode: None,
        bucketed: None,
        partition: None,
        changes_since_previous: None,
    }
}

pub fn path(out: &Path, as_of: Month) -> PathBuf {
    out.join("_manifests").join(format!("{as_of}.json"))
}

/// Writes the manifest atomically; returns its path.
impl Manifest {
    /// What the run's summary line reports about this snapshot.
    pub fn log_snapshot(&self) -> crate::log::Snapshot {
        let rows = |table: &str| {
            self.outputs
                .iter()
                .filter(|o| o.table == table)
                .map(|o| o.rows)
                .sum()
        };
        crate::log::Snapshot {
            as_of: self.as_of.clone(),
            people: rows("person_status"),
            rows_read: self.totals.rows_read,
            rows_accepted: self.totals.rows_accepted,
            rows_rejected: self.totals.rows_rejected,
            future_rows: self.totals.future_rows,
            findings: rows("findings"),
        }
    }
}

/// Writes the manifest atomically to `p`; returns `p`.
pub fn write_to(p: &Path, manifest: &Manifest) -> Result<PathBuf> {
    prepare_at(p, manifest)?.commit()
}

/// The snapshot's manifest written beside its place, to be moved in once the parts
/// it lists are published ([`committed`] then says so on the log).
pub fn prepare(out: &Path, manifest: &Manifest) -> Result<crate::store::Prepared> {
    let as_of =
        Month::parse(&manifest.as_of).ok_or_else(|| Error::Internal("manifest as_of".into()))?;
    prepare_at(&path(out, as_of), manifest)
}

/// Reports a manifest moved into place by [`prepare`]'s commit.
pub fn committed(manifest: &Manifest) {
    crate::log::snapshot(manifest.log_snapshot());
}

fn prepare_at(p: &Path, manifest: &Manifest) -> Result<crate::store::Prepared> {
    let mut text = serde_json::to_string_pretty(manifest)
        .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
    text.push('\n');
    crate::store::prepare_file(p, text.as_bytes())
}

/// Reads a manifest written before (backfill resume, incremental runs).
pub fn read(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(path, format!("cannot read manifest: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::input(path, format!("not a ledgerflow manifest: {e}")))
}
