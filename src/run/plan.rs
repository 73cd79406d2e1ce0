//! The plan of a run: which people, in which parts, for which `as_of` months, with
//! which carried-forward results. Every run mode is a setting of a [`Plan`], chosen
//! here and nowhere else, from the options and the size of the inputs:
//!
//! | mode | people | parts | months | carry |
//! |---|---|---|---|---|
//! | `run` | all | one | one | no |
//! | `run --memory-budget` (or inputs larger than the default budget) | all | N buckets | one | no |
//! | `run --incremental` | all (the touched ones evaluated) | one | one | yes |
//! | `run --shard K/N` | shard K of N | one | one | with `--incremental` |
//! | `backfill --from --to` | all | one | `from ..= to` | no |
//!
//! [`super::execute`] runs any plan; `merge-manifests` is [`super::commit::merge`].
//! A mode the operator did not ask for (an incremental or full run that goes bucketed
//! because its inputs look larger than memory) is said on stderr always and recorded
//! in the manifest (`run_mode`).

use super::memory::{self, Parts};
use super::progress::Progress;
use crate::config::Pipeline;
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::manifest::RunMode;
use crate::partition::Shard;
use std::path::PathBuf;

/// Options of `ledgerflow run`.
pub struct RunOptions {
    pub pipeline: PathBuf,
    pub as_of: Option<Month>,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    /// Evaluate and write only this shard's people (see [`crate::partition`]).
    pub shard: Option<Shard>,
    /// Reuse the checked rows of unchanged ledger files (`OUT/_cache/ledger/`) and the
    /// results of untouched people (`OUT/_cache/results.state`, see [`crate::carry`]);
    /// with `[privacy] state_dir` both live there ([`crate::privacy::state_dirs`]).
    pub incremental: bool,
    /// Process people in spilled buckets to stay under this many bytes (see
    /// [`super::memory`]); without it, buckets are used only when the inputs look
    /// larger than 70 % of the available memory.
    pub memory_budget: Option<u64>,
    /// Wait for another run on the same output folder instead of failing.
    pub wait_lock: bool,
}

/// Options of `ledgerflow backfill`.
pub struct BackfillOptions {
    pub pipeline: PathBuf,
    pub from: Month,
    pub to: Month,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    /// Recompute months whose manifest says they are up to date.
    pub force: bool,
    /// Wait for another run on the same output folder instead of failing.
    pub wait_lock: bool,
}

/// Which people a run evaluates and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum People {
    All,
    /// `--shard K/N`: staged under `OUT/_shards/`, published by `merge-manifests`.
    Shard(Shard),
}

impl People {
    pub fn shard(self) -> Option<Shard> {
        match self {
            People::All => None,
            People::Shard(s) => Some(s),
        }
    }
}

/// Which `as_of` months a run writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Months {
    /// One month: the given one, else the latest period in the accepted rows.
    One(Option<Month>),
    /// `backfill`: every month `from ..= to`; one that is up to date is skipped
    /// unless `force`. A failure names the month; finished months stay.
    Range { from: Month, to: Month, force: bool },
}

impl Months {
    /// `backfill --from --to`: an error when `from` is after `to`.
    pub fn range(from: Month, to: Month, force: bool) -> Result<Months> {
        if from > to {
            return Err(Error::Usage(format!("--from {from} is after --to {to}")));
        }
        Ok(Months::Range { from, to, force })
    }
}

/// What a run does (see the module docs).
pub struct Plan {
    /// The pipeline, with `--out` applied.
    pub pipeline: Pipeline,
    pub people: People,
    pub parts: Parts,
    pub months: Months,
    /// `--incremental`: the ledger cache, and the results of people whose rows did not
    /// change carried forward from the last state (the touched ones are found once the
    /// inputs are read, [`crate::carry::touched`]).
    pub carry: bool,
    /// Set when the run goes another way than asked (recorded in the manifest).
    pub run_mode: Option<RunMode>,
    pub quiet: bool,
}

impl Plan {
    /// The plan of `ledgerflow run`. Says (always) when the mode differs from the one
    /// asked for, or when a `--memory-budget` cannot be kept.
    pub fn run(opts: &RunOptions, pipeline: Pipeline, progress: &Progress) -> Result<Plan> {
        let parts = if opts.memory_budget.is_some() || opts.shard.is_none() {
            memory::parts(&pipeline, opts.memory_budget, opts.incremental)?
        } else {
            Parts::one()
        };
        let mut plan = Plan {
            people: opts.shard.map_or(People::All, People::Shard),
            parts,
            months: Months::One(opts.as_of),
            carry: opts.incremental,
            run_mode: None,
            quiet: opts.quiet,
            pipeline,
        };
        if plan.parts.count > 1 {
            // Chosen for the operator, not asked for: said always (a nightly job has
            // no terminal) and recorded in the manifest.
            plan.run_mode = changed_mode(opts.incremental, opts.memory_budget, plan.parts.count);
            if let Some(m) = &plan.run_mode {
                progress.notice(format!(
                    "{}: run mode {} instead of {}: {}",
                    plan.pipeline.path.display(),
                    m.used,
                    m.requested,
                    m.why
                ));
            }
            if let Some(w) = &plan.parts.warning {
                progress.notice(w);
            }
            if opts.shard.is_some() || opts.incremental && opts.memory_budget.is_some() {
                return Err(Error::Usage(
                    "a bucketed run (--memory-budget) cannot be combined with --shard or --incremental"
                        .into(),
                ));
            }
            // A bucketed run is a full run: the carried results need the inputs in memory.
            plan.carry = false;
        }
        Ok(plan)
    }

    /// The plan of `ledgerflow backfill`: everyone, in memory, month by month.
    pub fn backfill(months: Months, pipeline: Pipeline, quiet: bool) -> Plan {
        Plan {
            pipeline,
            people: People::All,
            parts: Parts::one(),
            months,
            carry: false,
            run_mode: None,
            quiet,
        }
    }

    /// The month the plausibility checks take as "now" (validate::Plausibility): the
    /// given `as_of`, or backfill's last month.
    pub fn reference_month(&self) -> Option<Month> {
        match self.months {
            Months::One(m) => m,
            Months::Range { to, .. } => Some(to),
        }
    }
}

/// The run mode when a run goes bucketed without being asked to (`--memory-budget`)
/// because its inputs look larger than the default budget
/// ([`memory::DEFAULT_BUDGET`]; `--incremental`: 70 % of the available memory);
/// `None` when it runs as asked. The part
/// files are the same as a full run of these inputs would write.
pub fn changed_mode(
    incremental: bool,
    memory_budget: Option<u64>,
    buckets: u32,
) -> Option<RunMode> {
    memory_budget.is_none().then(|| RunMode {
        requested: if incremental { "incremental" } else { "full" }.into(),
        used: "bucketed".into(),
        why: match incremental {
            true => format!(
                "the inputs look larger than 70 % of the available memory: a full run in {buckets} person buckets (--incremental needs the inputs in memory)"
            ),
            false => format!(
                "the inputs look larger than the default memory budget ({} or 70 % of the available memory, whichever is less): a full run in {buckets} person buckets; pass --memory-budget to choose another",
                memory::show_size(memory::DEFAULT_BUDGET)
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automatic_bucketed_run_says_what_was_asked_for() {
        let m = changed_mode(true, None, 3).expect("changed");
        assert_eq!(
            (m.requested.as_str(), m.used.as_str()),
            ("incremental", "bucketed")
        );
        assert!(m.why.contains("3 person buckets"), "{}", m.why);
        assert!(m.why.contains("--incremental needs"), "{}", m.why);
        let m = changed_mode(false, None, 2).expect("changed");
        assert_eq!(m.requested, "full");
        assert!(!m.why.contains("--incremental"), "{}", m.why);
        assert_eq!(changed_mode(false, Some(1 << 20), 2), None, "asked for");
    }
}
