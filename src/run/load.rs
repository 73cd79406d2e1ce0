//! Reading a run's inputs, once: the pipeline (with `--out`), the lock of its output
//! folder, the rules, and the checked inputs as a [`Source`] the executor takes its
//! parts from ([`Source::load_part`]).
//!
//! A new kind of input is one more [`Source`] variant: [`Source::open`] picks it from
//! the plan, [`Source::load_part`] yields the rows of one part, and nothing above
//! changes. The person-bucket files written by `ledgerflow partition` and read by
//! `run --shard K/N` are one ([`Source::Partition`], [`crate::partitioned`]).

use super::memory;
use super::plan::{People, Plan};
use super::progress::{Progress, Timings};
use crate::config::{Pipeline, RuleSet};
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::ledger::{InputFile, Inputs};
use crate::manifest::PartitionRead;
use crate::output::KeyMode;
use crate::partition::{Shard, part_of};
use crate::partitioned::{self, ShardRead};
use crate::store;
use crate::validate::{self, buckets::Buckets};
use std::path::{Path, PathBuf};

/// The pipeline file with `--out` applied. A pseudonymised pipeline without a strong
/// key stops here, before anything is read or written; with the key, this process
/// masks what it prints from here on.
pub fn open(path: &Path, out: Option<&Path>) -> Result<Pipeline> {
    let mut pipeline = Pipeline::load(path)?;
    if let Some(out) = out {
        pipeline.out_dir = out.to_path_buf();
    }
    key_mode(&pipeline)?;
    check_out_outside_ledger(&pipeline)?;
    Ok(pipeline)
}

/// An output folder inside the ledger folder is refused before anything is written:
/// the next run would read its Parquet parts as ledger files (and fail on them).
/// Only a ledger folder (not a pattern) that exists is checked; an output folder
/// not made yet is resolved through its nearest existing parent.
fn check_out_outside_ledger(pipeline: &Pipeline) -> Result<()> {
    if pipeline.ledger.to_string_lossy().contains(['*', '?']) || !pipeline.ledger.is_dir() {
        return Ok(());
    }
    let (Ok(ledger), Some(out)) = (pipeline.ledger.canonicalize(), resolved(&pipeline.out_dir))
    else {
        return Ok(());
    };
    if out.starts_with(&ledger) {
        return Err(Error::config(
            &pipeline.path,
            format!(
                "[outputs] key `dir`: the output folder {} lies inside the ledger folder {}: its tables would be read back as ledger files; put it outside",
                crate::privacy::shown(&pipeline.out_dir.display().to_string()),
                crate::privacy::shown(&pipeline.ledger.display().to_string())
            ),
        ));
    }
    Ok(())
}

/// `path` with links resolved, also when it does not exist yet: its longest existing
/// prefix canonicalized, the rest applied by name (no link can be in a part that
/// does not exist, so a `..` there is the parent).
fn resolved(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(path).ok()?;
    let parts: Vec<Component> = absolute.components().collect();
    let mut known = parts.len();
    while known > 0 && !parts[..known].iter().collect::<PathBuf>().exists() {
        known -= 1;
    }
    let mut out = parts[..known]
        .iter()
        .collect::<PathBuf>()
        .canonicalize()
        .ok()?;
    for part in &parts[known..] {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    Some(out)
}

/// [`open`], then the lock of the output folder, held until the returned guard is
/// dropped (see [`crate::store`]). A wait for the lock is announced unless `quiet`.
pub fn locked(
    path: &Path,
    out: Option<&Path>,
    mode: store::LockMode,
    wait: bool,
    quiet: bool,
) -> Result<(Pipeline, store::Lock)> {
    let pipeline = open(path, out)?;
    let lock = store::lock(&pipeline.out_dir, mode, wait, |msg| {
        crate::log::notice(&crate::privacy::shown(msg), quiet);
    })?;
    Ok((pipeline, lock))
}

/// The `person_key` mode of a pipeline: pseudonyms need `LEDGERFLOW_PSEUDONYM_KEY`
/// (checked before anything is read or written).
pub fn key_mode(pipeline: &Pipeline) -> Result<KeyMode> {
    if !pipeline.pseudonymize {
        crate::privacy::set_process_plain();
        return Ok(KeyMode::Raw);
    }
    let key = crate::privacy::key_from_env().map_err(|p| {
        Error::config(
            &pipeline.path,
            format!("[privacy] key `pseudonymize` is true but {}", p.message()),
        )
    })?;
    crate::privacy::set_process_key(&key);
    Ok(KeyMode::Pseudonym(key))
}

/// Configuration and inputs read whole into memory (`validate`, `explain`, `verify`).
pub struct Loaded {
    pub pipeline: Pipeline,
    pub rules: RuleSet,
    pub inputs: Inputs,
}

/// Reads the pipeline, the rules and every input into memory, without caches.
/// `as_of` is the month given on the command line, one of the plausibility
/// references (validate::Plausibility).
pub fn load(
    path: &Path,
    out: Option<&Path>,
    as_of: Option<Month>,
    progress: &Progress,
    timings: &mut Timings,
) -> Result<Loaded> {
    let pipeline = open(path, out)?;
    check_state_dir(&pipeline)?;
    let rules = rules(&pipeline, progress)?;
    let inputs = read_all(&pipeline, &rules, None, as_of, progress, timings)?;
    Ok(Loaded {
        pipeline,
        rules,
        inputs,
    })
}

/// The state folder is checked (and a killed run's spill files removed) by every
/// command that reads inputs of a pipeline that has one.
pub fn check_state_dir(pipeline: &Pipeline) -> Result<()> {
    if pipeline.state_dir.is_some() {
        crate::privacy::state_dirs(pipeline)?;
    }
    Ok(())
}

/// The rule file of a pipeline.
pub fn rules(pipeline: &Pipeline, progress: &Progress) -> Result<RuleSet> {
    let rules = RuleSet::load(&pipeline.rules_path)?;
    progress.say(format!("rules {} loaded", pipeline.rules_path.display()));
    Ok(rules)
}

/// Every input read and checked into memory; with `cache`, unchanged ledger files'
/// checked rows come from that folder and new ones are stored there.
fn read_all(
    pipeline: &Pipeline,
    rules: &RuleSet,
    cache: Option<&Path>,
    reference: Option<Month>,
    progress: &Progress,
    timings: &mut Timings,
) -> Result<Inputs> {
    let inputs = timings.time("read_and_validate", || {
        validate::read_inputs_cached(
            &pipeline.ledger,
            pipeline.special_groups.as_deref(),
            pipeline.claims.as_deref(),
            pipeline.encoding,
            pipeline.sheet.as_deref(),
            cache,
            &validate::Plausibility::new(rules, reference),
        )
    })?;
    memory::release_free_memory();
    let counts = crate::manifest::totals(&inputs, &[]);
    progress.say(format!(
        "read {} files: {} rows, {} accepted, {} rejected",
        inputs.files.len(),
        counts.rows_read,
        counts.rows_accepted,
        counts.rows_rejected
    ));
    Ok(inputs)
}

/// `as_of` defaults to the latest period present in the accepted ledger rows.
pub fn default_as_of(inputs: &Inputs, pipeline: &Pipeline) -> Result<Month> {
    inputs.ledger.period.iter().max().copied().ok_or_else(|| {
        let cause = validate::no_rows_cause(
            &inputs.files,
            inputs
                .rejects
                .iter()
                .map(|r| (r.source_file.as_str(), r.message.as_str())),
        );
        no_default_as_of(pipeline, &cause)
    })
}

fn no_default_as_of(pipeline: &Pipeline, cause: &str) -> Error {
    Error::input(
        &pipeline.ledger,
        format!(
            "no accepted ledger rows to take the default --as-of from ({cause}); pass --as-of to write the rejects"
        ),
    )
}

/// The checked inputs of a run, from which the executor takes one part at a time.
pub enum Source {
    /// Everything in memory: one part.
    Memory(Box<Inputs>),
    /// Ledger rows spilled into person buckets (one per part) under `staging`;
    /// registry and claims in memory.
    Spill(Box<Buckets>),
    /// `run --shard K/N` (not `--incremental`) of a pipeline with a partition
    /// (`ledgerflow partition`): bucket K of every file part, one part.
    Partition(Box<ShardRead>),
}

impl Source {
    /// Reads and checks the inputs of `plan` once: into memory, or (more than one
    /// part) into one spill file per part under `staging` (or the private state
    /// folder's `spill/`); a shard of a pipeline with a partition reads its bucket
    /// of it instead (`open_partition`).
    pub fn open(
        plan: &Plan,
        rules: &RuleSet,
        staging: &Path,
        progress: &Progress,
        timings: &mut Timings,
    ) -> Result<Source> {
        let pipeline = &plan.pipeline;
        let reference = plan.reference_month();
        let count = plan.parts.count;
        if let People::Shard(shard) = plan.people
            && count <= 1
            && let Some(read) = open_partition(plan, rules, shard, progress, timings)?
        {
            return Ok(Source::Partition(Box::new(read)));
        }
        if count <= 1 {
            let cache = match plan.carry {
                true => Some(crate::privacy::state_dirs(pipeline)?.cache.join("ledger")),
                false => None,
            };
            let inputs = read_all(
                pipeline,
                rules,
                cache.as_deref(),
                reference,
                progress,
                timings,
            )?;
            return Ok(Source::Memory(Box::new(inputs)));
        }
        progress.say(format!("bounded memory: {count} person buckets"));
        let spill = crate::privacy::state_dirs(pipeline)?
            .spill
            .unwrap_or_else(|| staging.join("spill"));
        let b = timings.time("read_and_validate", || {
            validate::buckets::read_inputs_bucketed(
                &pipeline.ledger,
                pipeline.special_groups.as_deref(),
                pipeline.claims.as_deref(),
                pipeline.encoding,
                pipeline.sheet.as_deref(),
                count,
                &spill,
                &validate::Plausibility::new(rules, reference),
            )
        })?;
        Ok(Source::Spill(Box::new(b)))
    }

    /// The input files read (their counts are final only after [`Source::finish`]).
    pub fn files(&self) -> &[InputFile] {
        match self {
            Source::Memory(i) => &i.files,
            Source::Spill(b) => b.files(),
            Source::Partition(r) => r.files(),
        }
    }

    /// The latest period of the accepted ledger rows, when it is known before a part
    /// is loaded (not for a partition's shard before its buckets are read).
    pub fn latest_period(&self) -> Option<Month> {
        match self {
            Source::Memory(i) => i.ledger.period.iter().max().copied(),
            Source::Spill(b) => b.max_period,
            Source::Partition(r) => r.buckets().and_then(|b| b.max_period),
        }
    }

    /// The latest period in the accepted ledger rows (the default `as_of`); an error
    /// naming the cause when no row was accepted. Asked before any part is loaded.
    pub fn default_as_of(&self, pipeline: &Pipeline) -> Result<Month> {
        let b = match self {
            Source::Memory(i) => return default_as_of(i, pipeline),
            Source::Spill(b) => b,
            Source::Partition(r) => r
                .buckets()
                .ok_or_else(|| Error::Internal("partition read before its as_of".into()))?,
        };
        b.max_period
            .ok_or_else(|| no_default_as_of(pipeline, &b.no_rows_cause()))
    }

    /// The accepted rows, registry entries and claims of part `part` of `count`: all
    /// of them in memory (one part, moved out), else the people of bucket `part`
    /// ([`part_of`]), its duplicates removed and their rejects recorded. The files
    /// are listed, the rejects are left for [`Source::finish`].
    pub fn load_part(&mut self, part: u32, count: u32) -> Result<Inputs> {
        match self {
            Source::Memory(i) => Ok(Inputs {
                files: i.files.clone(),
                ledger: std::mem::take(&mut i.ledger),
                registry: std::mem::take(&mut i.registry),
                claims: std::mem::take(&mut i.claims),
                rejects: Vec::new(),
            }),
            Source::Spill(b) => Ok(Inputs {
                files: b.files().to_vec(),
                ledger: b.rows(part)?,
                registry: b.registry.filtered(|p| part_of(p, count) == part),
                claims: b.claims.filtered(|p| part_of(p, count) == part),
                rejects: Vec::new(),
            }),
            Source::Partition(r) => r.load(),
        }
    }

    /// The files with their final counts and every reject, in input order, once all
    /// parts are loaded (what the manifest and the `rejects` table are made of).
    pub fn finish(&mut self) -> Result<&Inputs> {
        if let Source::Spill(_) = self
            && let Source::Spill(b) = std::mem::replace(self, Source::Memory(Box::default()))
        {
            let (files, rejects) = b.finish()?;
            *self = Source::Memory(Box::new(Inputs {
                files,
                rejects,
                ..Inputs::default()
            }));
        }
        match self {
            Source::Memory(i) => Ok(i),
            Source::Partition(r) => r.finish(),
            Source::Spill(_) => Err(Error::Internal("spilled inputs not finished".into())),
        }
    }

    /// A shard of a partition writes its share of the rejects for `merge-manifests`
    /// (after [`Source::finish`], before its manifest) and returns what its manifest
    /// records of the partition; `None` for every other source.
    pub fn share(&self, as_of: Month, future: &[u64]) -> Result<Option<PartitionRead>> {
        match self {
            Source::Partition(r) => r.write_share(as_of, future).map(Some),
            _ => Ok(None),
        }
    }
}

/// The partition a shard reads instead of the inputs, when the pipeline has one that
/// matches them (one that does not is an error naming what differs); `--incremental`
/// reads its cache instead, with a notice. Its check is the stage `partition_check`.
fn open_partition(
    plan: &Plan,
    rules: &RuleSet,
    shard: Shard,
    progress: &Progress,
    timings: &mut Timings,
) -> Result<Option<ShardRead>> {
    let pipeline = &plan.pipeline;
    // Timed apart: a shard without a partition has no `partition_check` stage.
    let mut own = Timings::default();
    let found = own.time("partition_check", || {
        partitioned::for_shard(pipeline, rules, shard)
    })?;
    let Some(found) = found else {
        return Ok(None);
    };
    if plan.carry {
        progress.notice(format!(
            "{}: --incremental reads the inputs (its cache), not the partition",
            found.root().display()
        ));
        found.set_aside();
        return Ok(None);
    }
    timings.0.extend(own.0);
    let read = timings.time("read_and_validate", || {
        found.open(pipeline, rules, plan.reference_month())
    })?;
    progress.say(format!(
        "shard {}/{}: reading bucket {} of the partition {} ({} file parts)",
        shard.index,
        shard.count,
        shard.index,
        read.root().display(),
        read.file_parts()
    ));
    Ok(Some(read))
}
