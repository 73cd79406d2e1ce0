//! The stages every run mode shares, below the subcommands: progress and stage
//! timings, the options and outcome of a run, the `person_key` mode, preparing the
//! engine's input (sort + person join), evaluating everyone, future rows per file and
//! the quality-gate message. `commands` (plain, incremental, shard, backfill runs)
//! and `bounded` (bucketed runs) both build on these, so neither imports the other's
//! internals.

use crate::config::Pipeline;
use crate::domain::{Date, Fen, Month};
use crate::engine::{self, Batch, GroupInterval, PersonInput, PersonRows};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs, LedgerRows};
use crate::partition::Shard;
use crate::{manifest, output};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

/// Progress messages of one command; [`crate::log`] decides how they are shown
/// (lines on a terminal, JSON objects with `--log-format json`, nothing with `--quiet`).
pub struct Progress {
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet }
    }
    pub fn say(&self, msg: impl AsRef<str>) {
        crate::log::progress(&crate::privacy::shown(msg.as_ref()), self.quiet);
    }
}

/// Options shared by `run` (and, later, `backfill`).
pub struct RunOptions {
    pub pipeline: PathBuf,
    pub as_of: Option<Month>,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    /// Evaluate and write only this shard's people (see [`crate::shard`]).
    pub shard: Option<Shard>,
    /// Reuse the checked rows of unchanged ledger files (`OUT/_cache/ledger/`) and the
    /// results of untouched people (`OUT/_cache/results.state`, see [`crate::carry`]);
    /// with `[privacy] state_dir` both live there ([`crate::privacy::state_dirs`]).
    pub incremental: bool,
    /// Process people in spilled buckets to stay under this many bytes (see
    /// [`crate::bounded`]); without it, buckets are used only when the inputs look
    /// larger than 70 % of the available memory.
    pub memory_budget: Option<u64>,
    /// Wait for another run on the same output folder instead of failing.
    pub wait_lock: bool,
}

/// What a finished run reports back to `main` (which maps it to an exit code).
pub struct RunOutcome {
    pub as_of: Month,
    pub quality_gate_failed: bool,
}

/// Per-stage wall times in milliseconds (the manifest's only non-deterministic part).
#[derive(Clone, Default)]
pub struct Timings(pub BTreeMap<String, u64>);

impl Timings {
    /// Runs `f`, adding its wall time to `stage` (a stage run in parts, like a bucketed
    /// run's engine, shows the sum).
    pub fn time<T>(&mut self, stage: &str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let v = f();
        let ms = t.elapsed().as_millis() as u64;
        *self.0.entry(stage.to_string()).or_default() += ms;
        crate::log::stage(stage, ms);
        v
    }
}

/// Accepted rows paid after `K`, per input file (RULES.md §1).
pub fn future_rows_per_file(rows: &LedgerRows, k: Date, files: usize) -> Vec<u64> {
    let mut per = vec![0u64; files];
    for (i, p) in rows.paid_on.iter().enumerate() {
        if p.is_some_and(|d| d > k) {
            per[rows.file[i] as usize] += 1;
        }
    }
    per
}

/// The engine's input, prepared once per set of inputs (sorted, grouped by person) and
/// reusable for any `as_of` (backfill evaluates many months from one preparation).
/// [`prepare`] moves the accepted ledger rows out of the inputs into `rows`.
pub struct Prepared {
    pub rows: LedgerRows,
    pub persons: Vec<PersonSlot>,
    pub groups: Vec<GroupInterval>,
    pub claims: Vec<(i32, Fen)>,
    pub claims_given: bool,
    pub regions: Vec<u32>,
}

/// One person's ranges into [`Prepared`]'s sorted vectors.
pub struct PersonSlot {
    pub person: PersonId,
    pub rows: Range<usize>,
    pub groups: Range<usize>,
    pub claims: Range<usize>,
}

pub fn prepare(inputs: &mut Inputs) -> Prepared {
    let (rows, ranges) = engine::sort_for_engine(std::mem::take(&mut inputs.ledger));
    // Registry and claims, grouped by person in input order.
    let reg = &inputs.registry;
    let mut gidx: Vec<usize> = (0..reg.person.len()).collect();
    gidx.sort_by_key(|&i| (reg.person[i], i));
    let groups: Vec<GroupInterval> = gidx
        .iter()
        .map(|&i| GroupInterval {
            group: reg.group[i],
            valid_from: reg.valid_from[i],
            valid_to: reg.valid_to[i],
        })
        .collect();
    let gpersons: Vec<PersonId> = gidx.iter().map(|&i| reg.person[i]).collect();
    let cl = &inputs.claims;
    let mut cidx: Vec<usize> = (0..cl.person.len()).collect();
    cidx.sort_by_key(|&i| (cl.person[i], i));
    let claims: Vec<(i32, Fen)> = cidx
        .iter()
        .map(|&i| (cl.year[i], cl.fund_paid[i]))
        .collect();
    let cpersons: Vec<PersonId> = cidx.iter().map(|&i| cl.person[i]).collect();

    // Union of people with ledger rows and people in the registry (registry-only people
    // still get STATUS_GAP findings, RULES §6). Claims alone make no person.
    let mut persons = Vec::with_capacity(ranges.len());
    let (mut li, mut gi, mut ci) = (0usize, 0usize, 0usize);
    loop {
        let lp = ranges.get(li).map(|r| rows.person[r.start]);
        let gp = gpersons.get(gi).copied();
        let person = match (lp, gp) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let row_range = if lp == Some(person) {
            li += 1;
            ranges[li - 1].clone()
        } else {
            0..0
        };
        let g0 = gi;
        while gi < gpersons.len() && gpersons[gi] == person {
            gi += 1;
        }
        while ci < cpersons.len() && cpersons[ci] < person {
            ci += 1;
        }
        let c0 = ci;
        while ci < cpersons.len() && cpersons[ci] == person {
            ci += 1;
        }
        persons.push(PersonSlot {
            person,
            rows: row_range,
            groups: g0..gi,
            claims: c0..ci,
        });
    }
    let mut regions: Vec<u32> = rows.region.clone();
    regions.extend(gpersons.iter().map(|p| p.id_region()));
    regions.sort_unstable();
    regions.dedup();
    let claims_given = inputs.files.iter().any(|f| f.kind == InputKind::Claims);
    Prepared {
        rows,
        persons,
        groups,
        claims,
        claims_given,
        regions,
    }
}

impl Prepared {
    pub fn input(&self, slot: &PersonSlot) -> PersonInput<'_> {
        PersonInput {
            person: slot.person,
            rows: PersonRows::slice(&self.rows, slot.rows.clone()),
            groups: &self.groups[slot.groups.clone()],
            claims: &self.claims[slot.claims.clone()],
            claims_given: self.claims_given,
        }
    }
}

/// People per rayon task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 2048;

/// Evaluates everyone as of `as_of`, in parallel over contiguous person chunks; the
/// batch is in person order whatever the thread count.
pub fn evaluate<P: engine::ParamSource>(prep: &Prepared, params: &P, as_of: Month) -> Batch {
    let batches: Vec<Batch> = prep
        .persons
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut b = Batch::default();
            for slot in chunk {
                engine::evaluate_person(&prep.input(slot), params, as_of, &mut b);
            }
            b
        })
        .collect();
    let mut all = Batch::default();
    all.months
        .reserve(batches.iter().map(|b| b.months.len()).sum());
    for b in batches {
        all.append(b);
    }
    all
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

/// The `person_key` mode of a pipeline: pseudonyms need `LEDGERFLOW_PSEUDONYM_KEY`
/// (checked before anything is read or written).
pub fn key_mode(pipeline: &Pipeline) -> Result<output::KeyMode> {
    if !pipeline.pseudonymize {
        return Ok(output::KeyMode::Raw);
    }
    let key = crate::privacy::key_from_env().map_err(|p| {
        Error::config(
            &pipeline.path,
            format!("[privacy] key `pseudonymize` is true but {}", p.message()),
        )
    })?;
    crate::privacy::set_process_key(&key);
    Ok(output::KeyMode::Pseudonym(key))
}
