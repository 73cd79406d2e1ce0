//! The executor: runs any [`Plan`]. It reads the inputs once ([`Source::open`]); for
//! each `as_of` month of the plan, and each part of it, it takes the part's inputs
//! ([`Source::load_part`]), keeps the planned people, prepares and evaluates them
//! (merging carried-forward results for `--incremental`), stages the part's files;
//! then hands the month to [`commit::snapshot`], the only step that publishes.
//!
//! One part is prepared once and reused for every month (`backfill`); with N parts
//! (one month) each bucket is loaded, evaluated, staged and freed before the next, so
//! peak memory follows the largest bucket. A person table of N parts has N part files
//! `part-<K>.parquet`, each sorted by `person_key`; the rows are those of one part.

use super::carried::Carried;
use super::commit::{self, Snapshot, Staged};
use super::load::{self, Source};
use super::memory;
use super::plan::{Months, People, Plan};
use super::prepare::{Prepared, evaluate, future_rows_per_file, prepare, select};
use super::progress::{Progress, Timings};
use crate::config::{OutputTable, RuleSet};
use crate::domain::Month;
use crate::engine::Batch;
use crate::error::{Error, Result};
use crate::ledger::{InputFile, Inputs, Reject};
use crate::output::{self, KeyMode, Target};
use crate::report::Summary;
use crate::{manifest, store};
use rayon::prelude::*;
use std::path::Path;

/// What a run did, month by month.
pub struct Outcome {
    pub written: Vec<Month>,
    /// Backfill months whose snapshot was up to date.
    pub skipped: Vec<Month>,
    pub quality_gate_failed: bool,
}

/// Runs `plan` (see the module docs).
pub fn execute(plan: &Plan, progress: &Progress) -> Result<Outcome> {
    let pipeline = &plan.pipeline;
    let count = plan.parts.count.max(1);
    if count > 1 {
        memory::one_arena();
    }
    let keys = load::key_mode(pipeline)?;
    load::check_state_dir(pipeline)?;
    let mut timings = Timings::default();
    let rules = load::rules(pipeline, progress)?;
    let out = &pipeline.out_dir;
    output::check_writable(out)?;
    // This run's own staging folder (spill files included), removed however it ends.
    let own = store::Staging::new(out);
    let mut source = Source::open(plan, &rules, own.dir(), progress, &mut timings)?;
    let months: Vec<Month> = match plan.months {
        Months::One(Some(m)) => vec![m],
        Months::One(None) => vec![source.default_as_of(pipeline)?],
        Months::Range { from, to, .. } => (from.0..=to.0).map(Month).collect(),
    };
    if let (Some(latest), Some(&last)) = (source.latest_period(), months.last()) {
        check_not_far_ahead(
            &rules,
            latest,
            last,
            matches!(plan.months, Months::Range { .. }),
            progress,
        )?;
    }
    let mut carried = match (&source, plan.carry) {
        (Source::Memory(inputs), true) => Some(Carried::open(
            pipeline,
            &rules,
            inputs,
            months[0],
            plan.people.shard(),
            &mut timings,
        )?),
        _ => None,
    };
    // One part: loaded and prepared once, for every month.
    let mut whole = match count {
        1 => Some(Part::load(
            &mut source,
            0,
            plan,
            &months,
            carried.as_ref(),
            progress,
            &mut timings,
        )?),
        _ => None,
    };
    let mut outcome = Outcome {
        written: Vec::new(),
        skipped: Vec::new(),
        quality_gate_failed: false,
    };
    for (i, &as_of) in months.iter().enumerate() {
        let range = matches!(plan.months, Months::Range { .. });
        if let Months::Range { force: false, .. } = plan.months
            && up_to_date(plan, &rules, source.files(), as_of)
        {
            progress.say(format!(
                "[{}/{}] {as_of}: up to date, skipped",
                i + 1,
                months.len()
            ));
            outcome.skipped.push(as_of);
            continue;
        }
        if range {
            progress.say(format!("[{}/{}] {as_of}", i + 1, months.len()));
        }
        let month = MonthRun {
            months: &months,
            index: i,
            as_of,
            rules: &rules,
            keys: &keys,
            staging: own.dir(),
        };
        let failed = month
            .run(
                plan,
                &mut source,
                &mut whole,
                carried.as_mut(),
                progress,
                timings.clone(),
            )
            .map_err(|e| match range {
                true => Error::Output {
                    path: format!("backfill month {as_of}"),
                    message: e.to_string(),
                },
                false => e,
            })?;
        outcome.quality_gate_failed |= failed;
        outcome.written.push(as_of);
    }
    Ok(outcome)
}

/// One `as_of` of a plan being run.
struct MonthRun<'a> {
    /// The plan's months, and this one's position among them.
    months: &'a [Month],
    index: usize,
    as_of: Month,
    rules: &'a RuleSet,
    keys: &'a KeyMode,
    staging: &'a Path,
}

impl MonthRun<'_> {
    /// Evaluates and stages every part of this month, then commits it; returns
    /// whether the data-quality gate failed.
    fn run(
        &self,
        plan: &Plan,
        source: &mut Source,
        whole: &mut Option<Part>,
        mut carried: Option<&mut Carried>,
        progress: &Progress,
        mut timings: Timings,
    ) -> Result<bool> {
        let pipeline = &plan.pipeline;
        let out = &pipeline.out_dir;
        let count = plan.parts.count.max(1);
        let (as_of, shard) = (self.as_of, plan.people.shard());
        // A shard stages straight into its waiting folder under `OUT/_shards/`.
        let (dir, shard_part) = match shard {
            Some(s) => {
                commit::reopen_shard(out, as_of, s)?;
                (s.dir(out, as_of), Some(s.part_name()))
            }
            None => (self.staging.to_path_buf(), None),
        };
        let target = Target {
            out,
            as_of,
            tables: &pipeline.tables,
            keys: self.keys,
            rules_sha256: &self.rules.sha256,
        };
        let mut staged = Staged::default();
        let mut summary = Summary::default();
        let mut future = vec![0u64; source.files().len()];
        let mut everyone = None;
        for k in 0..count {
            let mut loaded = None;
            let part = match whole.as_mut() {
                Some(p) => p,
                None => loaded.insert(Part::load(
                    source,
                    k,
                    plan,
                    self.months,
                    carried.as_deref(),
                    progress,
                    &mut timings,
                )?),
            };
            for (sum, n) in future.iter_mut().zip(&part.future[self.index]) {
                *sum += n;
            }
            let batch = part.batch(
                plan,
                self.rules,
                as_of,
                carried.as_deref_mut(),
                progress,
                &mut timings,
            );
            summary.add(&Summary::of(&batch));
            if count == 1 {
                progress.say(format!(
                    "{} person-months, {} gaps, {} findings",
                    batch.months.len(),
                    batch.gaps.len(),
                    batch.findings.len()
                ));
            }
            // The rejects are complete once the last part is loaded (a bucket's
            // duplicates are found when it is read back); they are one part file,
            // written once (by shard 0 of a sharded run: rejects have no person).
            let last = k + 1 == count;
            let rejects: &[Reject] = match last {
                true => &source.finish()?.rejects,
                false => &[],
            };
            let name = shard_part
                .clone()
                .unwrap_or_else(|| format!("part-{k:05}.parquet"));
            let rejects_name = shard_part
                .clone()
                .unwrap_or_else(|| "part-00000.parquet".to_string());
            let wanted: Vec<OutputTable> = pipeline
                .tables
                .iter()
                .copied()
                .filter(|&t| {
                    t != OutputTable::Rejects || last && shard.is_none_or(|s| s.index == 0)
                })
                .collect();
            // The tables are built and encoded side by side (as many as there are
            // worker threads, each at most two row groups at a time).
            let files = timings.time("write", || {
                wanted
                    .par_iter()
                    .map(|&t| {
                        let name = if t == OutputTable::Rejects {
                            &rejects_name
                        } else {
                            &name
                        };
                        output::stage_table(&target, t, &dir, name, &batch, rejects).map(|f| (t, f))
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            for (t, (path, file)) in files {
                staged.add(t, path, file);
            }
            if count > 1 {
                progress.say(format!(
                    "bucket {}/{count}: {} people",
                    k + 1,
                    part.prep.persons.len()
                ));
            }
            if carried.is_some() {
                everyone = Some(batch);
            }
            // The next bucket starts from the fixed base, not from this one's free pages.
            drop(loaded);
            if whole.is_none() {
                memory::release_free_memory();
            }
        }
        let partition = source.share(as_of, &future)?;
        let snapshot = Snapshot {
            pipeline,
            rules: self.rules,
            inputs: source.finish()?,
            as_of,
            future: &future,
            summary: &summary,
            shard,
            run_mode: plan.run_mode.clone(),
            bucketed: (count > 1).then(|| manifest::Bucketed {
                buckets: count,
                memory_budget: plan.parts.budget,
                budget_warning: plan.parts.warning.as_deref().map(crate::privacy::shown),
            }),
            incremental: carried.as_ref().map(|c| c.counts),
            partition,
        };
        let failed = commit::snapshot(&snapshot, staged, progress, &mut timings)?;
        if let (Some(c), Some(batch)) = (carried, everyone) {
            c.store(&batch)?;
        }
        Ok(failed)
    }
}

/// One part's engine input, prepared for every month of the plan.
struct Part {
    prep: Prepared,
    /// Accepted rows paid after each month of the plan, per input file: every row of
    /// the part counts, whichever people are evaluated.
    future: Vec<Vec<u64>>,
    /// `--incremental` with a usable state: everyone's inputs, in case the state
    /// turns out damaged.
    everyone: Option<Inputs>,
}

impl Part {
    /// Loads part `k` of the plan and prepares the people the plan evaluates in it:
    /// all, one shard's, or (incremental) the ones touched since the last state.
    fn load(
        source: &mut Source,
        k: u32,
        plan: &Plan,
        months: &[Month],
        carried: Option<&Carried>,
        progress: &Progress,
        timings: &mut Timings,
    ) -> Result<Part> {
        // Reading a bucket back (its rows ahead of the reference month and its
        // duplicates removed) is part of reading and validating.
        let inputs = timings.time("read_and_validate", || {
            source.load_part(k, plan.parts.count.max(1))
        })?;
        let n = inputs.files.len();
        let future = months
            .iter()
            .map(|m| future_rows_per_file(&inputs.ledger, m.last_day(), n))
            .collect();
        let shard = plan.people.shard();
        let in_shard = |p| shard.is_none_or(|s| s.contains(p));
        let touched = carried.and_then(Carried::touched);
        let (mut chosen, everyone) = match touched {
            Some(t) => (
                select(&inputs, |p| in_shard(p) && t.binary_search(&p).is_ok()),
                Some(inputs),
            ),
            None if shard.is_some() => (select(&inputs, in_shard), None),
            None => (inputs, None),
        };
        let prep = timings.time("prepare", || prepare(&mut chosen));
        drop(chosen);
        if let People::Shard(s) = plan.people {
            progress.say(format!(
                "shard {}/{}: {} people",
                s.index,
                s.count,
                prep.persons.len()
            ));
        }
        if touched.is_some() {
            progress.say(format!(
                "incremental: {} people touched by changed inputs",
                prep.persons.len()
            ));
        }
        Ok(Part {
            prep,
            future,
            everyone,
        })
    }

    /// Everyone's results as of `as_of`: the prepared people evaluated, and with
    /// `carried` the results of the untouched people merged in.
    fn batch(
        &mut self,
        plan: &Plan,
        rules: &RuleSet,
        as_of: Month,
        carried: Option<&mut Carried>,
        progress: &Progress,
        timings: &mut Timings,
    ) -> Batch {
        progress.say(format!(
            "evaluating {} people as of {as_of}",
            self.prep.persons.len()
        ));
        let resolver = rules.resolver(&self.prep.regions);
        let fresh = timings.time("engine", || evaluate(&self.prep, &resolver, as_of));
        let Some(c) = carried else {
            return fresh;
        };
        let evaluated = self.prep.persons.len() as u64;
        let batch = match c.touched() {
            Some(_) => match c.merge(fresh, evaluated, timings) {
                Some(b) => b,
                None => {
                    progress.say(format!(
                        "incremental: {} is damaged; evaluating everyone",
                        c.state_path().display()
                    ));
                    let everyone = self.everyone.take().unwrap_or_default();
                    let mut all = match plan.people.shard() {
                        Some(s) => select(&everyone, |p| s.contains(p)),
                        None => everyone,
                    };
                    self.prep = timings.time("prepare", || prepare(&mut all));
                    let resolver = rules.resolver(&self.prep.regions);
                    let b = timings.time("engine", || evaluate(&self.prep, &resolver, as_of));
                    c.evaluated_everyone(self.prep.persons.len() as u64);
                    b
                }
            },
            None => {
                progress.say(format!(
                    "incremental: no usable state of an earlier run of {as_of} with these inputs and rules; evaluating everyone"
                ));
                c.evaluated_everyone(evaluated);
                fresh
            }
        };
        progress.say(format!(
            "incremental: {} people recomputed, {} carried forward",
            c.counts.people_recomputed, c.counts.people_carried_forward
        ));
        batch
    }
}

/// Whether the snapshot of `as_of` was written by this version from the same
/// pipeline, rules and input files, and all its output files are still there.
fn up_to_date(plan: &Plan, rules: &RuleSet, files: &[InputFile], as_of: Month) -> bool {
    let pipeline = &plan.pipeline;
    let out = &pipeline.out_dir;
    let Ok(m) = manifest::read(&manifest::path(out, as_of)) else {
        return false;
    };
    let same_inputs = m.inputs.len() == files.len()
        && m.inputs
            .iter()
            .zip(files)
            .all(|(a, b)| a.path == crate::privacy::shown(&b.path) && a.sha256 == b.sha256);
    let tables: Vec<&str> = pipeline.tables.iter().map(|t| t.as_str()).collect();
    let same_outputs = m
        .outputs
        .iter()
        .map(|o| o.table.as_str())
        .eq(tables.iter().copied())
        && m.outputs
            .iter()
            .all(|o| std::fs::metadata(out.join(&o.path)).is_ok_and(|md| md.len() == o.bytes));
    m.build == crate::BUILD
        && m.pipeline.sha256 == pipeline.sha256
        && m.rules.sha256 == rules.sha256
        && same_inputs
        && same_outputs
}

/// `--as-of` (backfill: `--to`) far after the latest period of the accepted rows.
/// More than `max_months_ahead` months after it is said (a notice): a run as of this
/// month on a ledger whose rows stopped earlier is legitimate (every history runs to
/// `as_of`, an open gap grows). More than ten times that (240 months, 20 years, by
/// default) is taken for a typo (2205-06 or 2052-06 for 2025-06: every person's
/// history would run to it) and refused as a usage error. Both bounds come from the
/// rule file's national blocks, the bound rows themselves are held to.
fn check_not_far_ahead(
    rules: &RuleSet,
    latest: Month,
    as_of: Month,
    backfill: bool,
    progress: &Progress,
) -> Result<()> {
    let ahead = rules.params(0, latest).max_months_ahead as i64;
    let after = as_of.0 as i64 - latest.0 as i64;
    let flag = if backfill { "--to" } else { "--as-of" };
    if after > 10 * ahead {
        return Err(Error::Usage(format!(
            "{flag} {as_of} is more than {} months (10 x max_months_ahead) after {latest}, the latest period of the accepted ledger rows: a typo?",
            10 * ahead
        )));
    }
    if after > ahead {
        progress.notice(format!(
            "{flag} {as_of} is {after} months after {latest}, the latest period of the accepted ledger rows (more than max_months_ahead, {ahead}): every history runs to {as_of}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pipeline;
    use crate::partition::Shard;
    use crate::run::memory::Parts;
    use crate::run::plan::changed_mode;

    fn plan(out: &Path, people: People, parts: u32, months: Months, carry: bool) -> Plan {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/sample.toml");
        let mut pipeline = Pipeline::load(&sample).expect("sample pipeline");
        pipeline.out_dir = out.to_path_buf();
        Plan {
            pipeline,
            people,
            parts: Parts {
                count: parts,
                ..Parts::one()
            },
            months,
            carry,
            run_mode: (parts > 1)
                .then(|| changed_mode(carry, None, parts))
                .flatten(),
            quiet: true,
        }
    }

    fn stages(m: &manifest::Manifest) -> Vec<&str> {
        m.stage_timings_ms.keys().map(String::as_str).collect()
    }

    /// Every mode's manifest has the timing of every stage it ran: reading, prepare,
    /// engine and write in all of them, the carry-forward stages when results were
    /// carried; a bucketed run also records the mode it was switched to.
    #[test]
    fn every_mode_records_every_stage_timing() {
        let root = std::env::temp_dir().join(format!("ledgerflow-stages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let progress = Progress::new(true);
        let core = ["engine", "prepare", "read_and_validate", "write"];
        let one = Months::One(None);

        let out = root.join("full");
        let done = execute(&plan(&out, People::All, 1, one, false), &progress).expect("full");
        let as_of = done.written[0];
        let m = manifest::read(&manifest::path(&out, as_of)).expect("manifest");
        assert_eq!(stages(&m), core, "full");
        assert_eq!((m.run_mode, m.bucketed, m.incremental), (None, None, None));

        let out = root.join("bucketed");
        let p = plan(&out, People::All, 3, one, true);
        execute(&p, &progress).expect("bucketed");
        let m = manifest::read(&manifest::path(&out, as_of)).expect("manifest");
        assert_eq!(stages(&m), core, "bucketed");
        assert_eq!(m.run_mode, changed_mode(true, None, 3));
        assert_eq!(m.bucketed.map(|b| b.buckets), Some(3));

        let out = root.join("incremental");
        let p = plan(&out, People::All, 1, one, true);
        for _ in 0..2 {
            execute(&p, &progress).expect("incremental");
        }
        let m = manifest::read(&manifest::path(&out, as_of)).expect("manifest");
        let carried = [
            "carry_forward",
            "carry_forward_load",
            "carry_forward_touched",
            "engine",
            "prepare",
            "read_and_validate",
            "write",
        ];
        assert_eq!(stages(&m), carried, "incremental, second night");
        let people = m.incremental.map(|i| i.people_carried_forward);
        assert!(people.is_some_and(|n| n > 0), "{:?}", m.incremental);

        let out = root.join("shard");
        for index in 0..2 {
            let shard = People::Shard(Shard { index, count: 2 });
            execute(&plan(&out, shard, 1, one, false), &progress).expect("shard");
            let path = Shard { index, count: 2 }.manifest_path(&out, as_of);
            assert_eq!(stages(&manifest::read(&path).expect("shard")), core);
        }
        let merged = commit::merge(&out, as_of, 2).expect("merge");
        assert_eq!(stages(&merged), core, "merged shards");

        let out = root.join("backfill");
        let months = Months::Range {
            from: Month(as_of.0 - 1),
            to: as_of,
            force: false,
        };
        let done =
            execute(&plan(&out, People::All, 1, months, false), &progress).expect("backfill");
        assert_eq!(done.written.len(), 2);
        for m in done.written {
            let m = manifest::read(&manifest::path(&out, m)).expect("manifest");
            assert_eq!(stages(&m), core, "backfill {}", m.as_of);
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
