//! One function per CLI subcommand, wiring the stages together:
//! config → ingest/validate → engine (rayon over person chunks) → output → manifest.

use crate::config::{Pipeline, RuleSet};
use crate::domain::Month;
use crate::engine::{self, Batch};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs};
use crate::partition::Shard;
use crate::{carry, manifest, output, report, store, validate};
use std::path::{Path, PathBuf};

pub use crate::stages::{
    PersonSlot, Prepared, Progress, RunOptions, RunOutcome, Timings, evaluate,
    future_rows_per_file, key_mode, prepare, report_quality_gate,
};

/// The pipeline (with `--out` applied) and the lock of its output folder, held until
/// the returned guard is dropped (see [`crate::store`]). A wait for the lock is
/// announced on stderr unless `quiet`.
pub fn locked_pipeline(
    path: &Path,
    out: Option<&Path>,
    mode: store::LockMode,
    wait: bool,
    quiet: bool,
) -> Result<(Pipeline, store::Lock)> {
    let mut pipeline = Pipeline::load(path)?;
    if let Some(out) = out {
        pipeline.out_dir = out.to_path_buf();
    }
    // A pseudonymised pipeline without a strong key stops before anything is written
    // (the lock file included); with the key, this process masks what it prints.
    key_mode(&pipeline)?;
    let lock = store::lock(&pipeline.out_dir, mode, wait, |msg| {
        crate::log::notice(&crate::privacy::shown(msg), quiet);
    })?;
    Ok((pipeline, lock))
}

/// Loaded configuration and validated inputs, independent of `as_of`.
pub struct Loaded {
    pub pipeline: Pipeline,
    pub rules: RuleSet,
    pub inputs: Inputs,
}

/// Loads the pipeline, the rules and the inputs. With `incremental`, checked ledger
/// files are cached under `OUT/_cache/ledger/` and unchanged files are taken from there.
/// `as_of` is the month given on the command line, one of the plausibility references
/// (validate::Plausibility).
pub fn load(
    pipeline: &Path,
    out: Option<PathBuf>,
    incremental: bool,
    as_of: Option<Month>,
    progress: &Progress,
    timings: &mut Timings,
) -> Result<Loaded> {
    let mut pipeline = Pipeline::load(pipeline)?;
    if let Some(out) = out {
        pipeline.out_dir = out;
    }
    // Before anything is read: a missing or weak key stops here, and from here on
    // every printed line is masked.
    key_mode(&pipeline)?;
    // The state folder is checked (and a killed run's spill files removed) by every
    // run that has one; the ledger cache lives there.
    let state = if incremental || pipeline.state_dir.is_some() {
        Some(crate::privacy::state_dirs(&pipeline)?)
    } else {
        None
    };
    let rules = RuleSet::load(&pipeline.rules_path)?;
    progress.say(format!("rules {} loaded", pipeline.rules_path.display()));
    let cache = state
        .filter(|_| incremental)
        .map(|s| s.cache.join("ledger"));
    let inputs = timings.time("read_and_validate", || {
        validate::read_inputs_cached(
            &pipeline.ledger,
            pipeline.special_groups.as_deref(),
            pipeline.claims.as_deref(),
            pipeline.encoding,
            pipeline.sheet.as_deref(),
            cache.as_deref(),
            &validate::Plausibility::new(&rules, as_of),
        )
    })?;
    crate::bounded::release_free_memory();
    let counts = manifest::totals(&inputs, &[]);
    progress.say(format!(
        "read {} files: {} rows, {} accepted, {} rejected",
        inputs.files.len(),
        counts.rows_read,
        counts.rows_accepted,
        counts.rows_rejected
    ));
    Ok(Loaded {
        pipeline,
        rules,
        inputs,
    })
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
        Error::input(
            &pipeline.ledger,
            format!("no accepted ledger rows to take the default --as-of from ({cause}); pass --as-of to write the rejects"),
        )
    })
}

/// `ledgerflow run`.
pub fn run(opts: &RunOptions) -> Result<RunOutcome> {
    let progress = Progress::new(opts.quiet);
    // Shards of one month may run side by side; a run that publishes runs alone.
    let mode = match opts.shard {
        Some(_) => store::LockMode::Shared,
        None => store::LockMode::Exclusive,
    };
    let (pipeline, _lock) = locked_pipeline(
        &opts.pipeline,
        opts.out.as_deref(),
        mode,
        opts.wait_lock,
        opts.quiet,
    )?;
    if opts.memory_budget.is_some() || opts.shard.is_none() {
        let plan = crate::bounded::plan(&pipeline, opts.memory_budget)?;
        let count = plan.buckets;
        if count > 1 {
            // Chosen for the operator, not asked for: said always (a nightly job has
            // no terminal) and recorded in the manifest.
            let changed = changed_mode(opts.incremental, opts.memory_budget, count);
            if let Some(m) = &changed {
                let msg = format!(
                    "{}: run mode {} instead of {}: {}",
                    pipeline.path.display(),
                    m.used,
                    m.requested,
                    m.why
                );
                crate::log::notice(&crate::privacy::shown(&msg), opts.quiet);
            }
            return crate::bounded::run(opts, pipeline, plan, changed, &progress);
        }
    }
    // A shard of a partitioned ledger reads only its buckets (see crate::partitioned).
    if let Some(shard) = opts.shard
        && let Some(done) = crate::partitioned::run_shard(opts, shard, &pipeline, &progress)?
    {
        return Ok(done);
    }
    let mut timings = Timings::default();
    let mut loaded = load(
        &opts.pipeline,
        opts.out.clone(),
        opts.incremental,
        opts.as_of,
        &progress,
        &mut timings,
    )?;
    let as_of = match opts.as_of {
        Some(a) => a,
        None => default_as_of(&loaded.inputs, &loaded.pipeline)?,
    };
    key_mode(&loaded.pipeline)?;
    output::check_writable(&loaded.pipeline.out_dir)?;
    if opts.incremental {
        return run_incremental(&mut loaded, as_of, opts.shard, &progress, timings);
    }
    let prep = prepare_shard(&mut loaded.inputs, opts.shard, &progress, &mut timings);
    let resolver = loaded.rules.resolver(&prep.regions);
    write_snapshot(
        &loaded, &prep, &resolver, as_of, opts.shard, &progress, timings,
    )
}

/// The run mode when a run goes bucketed without being asked to (`--memory-budget`)
/// because its inputs look larger than memory; `None` when it runs as asked. The part
/// files are the same as a full run of these inputs would write.
pub fn changed_mode(
    incremental: bool,
    memory_budget: Option<u64>,
    buckets: u32,
) -> Option<manifest::RunMode> {
    memory_budget.is_none().then(|| manifest::RunMode {
        requested: if incremental { "incremental" } else { "full" }.into(),
        used: "bucketed".into(),
        why: format!(
            "the inputs look larger than 70 % of the available memory: a full run in {buckets} person buckets{}",
            if incremental {
                " (--incremental needs the inputs in memory)"
            } else {
                ""
            }
        ),
    })
}

/// [`prepare`], keeping only the people of `shard`.
fn prepare_shard(
    inputs: &mut Inputs,
    shard: Option<Shard>,
    progress: &Progress,
    timings: &mut Timings,
) -> Prepared {
    let mut prep = timings.time("prepare", || prepare(inputs));
    if let Some(s) = shard {
        prep.persons.retain(|p| s.contains(p.person));
        progress.say(format!(
            "shard {}/{}: {} people",
            s.index,
            s.count,
            prep.persons.len()
        ));
    }
    prep
}

/// `run --incremental` once the inputs are loaded: evaluates only the people whose
/// input rows changed since the last incremental run of the same `as_of`, rules and
/// pipeline, carries everyone else's results forward from its state, and stores the
/// new state after publishing (see [`crate::carry`]). Without a usable state it
/// evaluates everyone. The tables are the same bytes as a full run's either way.
fn run_incremental(
    loaded: &mut Loaded,
    as_of: Month,
    shard: Option<Shard>,
    progress: &Progress,
    mut timings: Timings,
) -> Result<RunOutcome> {
    let cache_dir = crate::privacy::state_dirs(&loaded.pipeline)?.cache;
    let state_path = carry::path(&cache_dir, shard);
    carry::clean_leftovers(&state_path);
    let inputs = &loaded.inputs;
    let claims_given = inputs.files.iter().any(|f| f.kind == InputKind::Claims);
    let context = carry::context(
        as_of,
        &loaded.pipeline.sha256,
        &loaded.rules.sha256,
        claims_given,
        shard,
    );
    let (files, state) = timings.time("carry_forward_load", || {
        (
            carry::file_people(inputs),
            carry::State::load(&state_path, &context),
        )
    });
    let future = future_rows_per_file(&inputs.ledger, as_of.last_day(), inputs.files.len());
    let mut merged = None;
    let cache = cache_dir.join("ledger");
    let (encoding, sheet) = (loaded.pipeline.encoding, loaded.pipeline.sheet.as_deref());
    let touched = state.as_ref().and_then(|s| {
        timings.time("carry_forward_touched", || {
            carry::touched(&s.files, &files, |sha| {
                carry::ledger_people(&cache, encoding, sheet, sha)
            })
        })
    });
    if let (Some(state), Some(touched)) = (state, touched) {
        let keep = |p: PersonId| touched.binary_search(&p).is_ok();
        let mut subset = Inputs {
            files: inputs.files.clone(),
            ledger: inputs.ledger.filtered(keep),
            registry: inputs.registry.filtered(keep),
            claims: inputs.claims.filtered(keep),
            rejects: Vec::new(),
        };
        let prep = prepare_shard(&mut subset, shard, progress, &mut timings);
        let resolver = loaded.rules.resolver(&prep.regions);
        progress.say(format!(
            "incremental: {} people touched by changed inputs",
            prep.persons.len()
        ));
        let fresh = timings.time("engine", || evaluate(&prep, &resolver, as_of));
        let recomputed = prep.persons.len() as u64;
        match timings.time("carry_forward", || state.merge(fresh, &touched)) {
            Some((batch, carried)) => merged = Some((batch, recomputed, carried)),
            None => progress.say(format!(
                "incremental: {} is damaged; evaluating everyone",
                state_path.display()
            )),
        }
    }
    let (batch, recomputed, carried) = match merged {
        Some(m) => m,
        None => {
            let prep = prepare_shard(&mut loaded.inputs, shard, progress, &mut timings);
            let resolver = loaded.rules.resolver(&prep.regions);
            progress.say(format!(
                "incremental: no usable state of an earlier run of {as_of} with these inputs and rules; evaluating everyone"
            ));
            let batch = timings.time("engine", || evaluate(&prep, &resolver, as_of));
            (batch, prep.persons.len() as u64, 0)
        }
    };
    progress.say(format!(
        "incremental: {recomputed} people recomputed, {carried} carried forward"
    ));
    let snapshot = Snapshot {
        as_of,
        shard,
        batch: &batch,
        future: &future,
        incremental: Some(manifest::Incremental {
            people_recomputed: recomputed,
            people_carried_forward: carried,
        }),
    };
    let outcome = publish_snapshot(loaded, &snapshot, progress, timings)?;
    carry::store(&state_path, &context, &files, &batch)?;
    // Only now may the cache forget the files of the previous state. Shards share the
    // cache and each has its own state, so shard runs leave it alone.
    if shard.is_none() {
        let keep: Vec<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
        validate::retain_cached(&cache, encoding, &keep)?;
    }
    Ok(outcome)
}

/// `ledgerflow merge-manifests`: publishes the shards of one `as_of` (see [`crate::shard`]).
pub fn merge_manifests(
    pipeline: &Path,
    out: Option<PathBuf>,
    as_of: Month,
    shards: u32,
    wait_lock: bool,
) -> Result<()> {
    let (p, _lock) = locked_pipeline(
        pipeline,
        out.as_deref(),
        store::LockMode::Exclusive,
        wait_lock,
        false,
    )?;
    crate::partitioned::before_merge(&p, as_of, shards)?;
    crate::shard::merge(&p.out_dir, as_of, shards)?;
    crate::partitioned::after_merge(&p, as_of);
    Ok(())
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

/// What a backfill did, month by month.
pub struct BackfillOutcome {
    pub written: Vec<Month>,
    pub skipped: Vec<Month>,
    pub quality_gate_failed: bool,
}

/// `ledgerflow backfill`: one snapshot per month `from ..= to`, each exactly what
/// `run --as-of` that month writes. Inputs are read, validated and sorted once; only
/// the engine and the writers run per month. A month whose manifest shows the same
/// tool version, pipeline, rules and input files (SHA-256s), with every output file
/// present, is skipped unless `force`. A failure names the month; finished months stay.
pub fn backfill(opts: &BackfillOptions) -> Result<BackfillOutcome> {
    if opts.from > opts.to {
        return Err(Error::Usage(format!(
            "--from {} is after --to {}",
            opts.from, opts.to
        )));
    }
    let progress = Progress::new(opts.quiet);
    let (_, _lock) = locked_pipeline(
        &opts.pipeline,
        opts.out.as_deref(),
        store::LockMode::Exclusive,
        opts.wait_lock,
        opts.quiet,
    )?;
    let mut timings = Timings::default();
    let mut loaded = load(
        &opts.pipeline,
        opts.out.clone(),
        false,
        Some(opts.to),
        &progress,
        &mut timings,
    )?;
    key_mode(&loaded.pipeline)?;
    output::check_writable(&loaded.pipeline.out_dir)?;
    let prep = timings.time("prepare", || prepare(&mut loaded.inputs));
    let resolver = loaded.rules.resolver(&prep.regions);
    let months = opts.to.0 - opts.from.0 + 1;
    let mut outcome = BackfillOutcome {
        written: Vec::new(),
        skipped: Vec::new(),
        quality_gate_failed: false,
    };
    for (i, m) in (opts.from.0..=opts.to.0).map(Month).enumerate() {
        if !opts.force && up_to_date(&loaded, m) {
            progress.say(format!("[{}/{months}] {m}: up to date, skipped", i + 1));
            outcome.skipped.push(m);
            continue;
        }
        progress.say(format!("[{}/{months}] {m}", i + 1));
        let done = write_snapshot(
            &loaded,
            &prep,
            &resolver,
            m,
            None,
            &progress,
            timings.clone(),
        )
        .map_err(|e| Error::Output {
            path: format!("backfill month {m}"),
            message: e.to_string(),
        })?;
        outcome.quality_gate_failed |= done.quality_gate_failed;
        outcome.written.push(m);
    }
    Ok(outcome)
}

/// Whether the snapshot of `as_of` was written by this version from the same
/// pipeline, rules and input files, and all its output files are still there.
fn up_to_date(loaded: &Loaded, as_of: Month) -> bool {
    let out = &loaded.pipeline.out_dir;
    let Ok(m) = manifest::read(&manifest::path(out, as_of)) else {
        return false;
    };
    let same_inputs = m.inputs.len() == loaded.inputs.files.len()
        && m.inputs
            .iter()
            .zip(&loaded.inputs.files)
            .all(|(a, b)| a.path == crate::privacy::shown(&b.path) && a.sha256 == b.sha256);
    let tables: Vec<&str> = loaded.pipeline.tables.iter().map(|t| t.as_str()).collect();
    let same_outputs = m
        .outputs
        .iter()
        .map(|o| o.table.as_str())
        .eq(tables.iter().copied())
        && m.outputs
            .iter()
            .all(|o| std::fs::metadata(out.join(&o.path)).is_ok_and(|md| md.len() == o.bytes));
    m.build == crate::BUILD
        && m.pipeline.sha256 == loaded.pipeline.sha256
        && m.rules.sha256 == loaded.rules.sha256
        && same_inputs
        && same_outputs
}

/// Evaluates and writes one `as_of` snapshot from loaded and prepared inputs.
pub fn write_snapshot(
    loaded: &Loaded,
    prep: &Prepared,
    resolver: &crate::config::Resolver,
    as_of: Month,
    shard: Option<Shard>,
    progress: &Progress,
    mut timings: Timings,
) -> Result<RunOutcome> {
    progress.say(format!(
        "evaluating {} people as of {as_of}",
        prep.persons.len()
    ));
    let batch = timings.time("engine", || evaluate(prep, resolver, as_of));
    let future = future_rows_per_file(&prep.rows, as_of.last_day(), loaded.inputs.files.len());
    let snapshot = Snapshot {
        as_of,
        shard,
        batch: &batch,
        future: &future,
        incremental: None,
    };
    publish_snapshot(loaded, &snapshot, progress, timings)
}

/// One evaluated snapshot, ready to be written.
struct Snapshot<'a> {
    as_of: Month,
    shard: Option<Shard>,
    /// Everyone's results, in person order.
    batch: &'a Batch,
    /// Accepted rows paid after `K`, per input file.
    future: &'a [u64],
    incremental: Option<manifest::Incremental>,
}

/// Writes a snapshot's tables, then its manifest and run report (a shard: its shard
/// manifest); applies the data-quality gate.
fn publish_snapshot(
    loaded: &Loaded,
    snapshot: &Snapshot,
    progress: &Progress,
    mut timings: Timings,
) -> Result<RunOutcome> {
    let Loaded {
        pipeline,
        rules,
        inputs,
    } = loaded;
    let &Snapshot {
        as_of,
        shard,
        batch,
        future,
        incremental,
    } = snapshot;
    let keys = key_mode(pipeline)?;
    progress.say(format!(
        "{} person-months, {} gaps, {} findings",
        batch.months.len(),
        batch.gaps.len(),
        batch.findings.len()
    ));
    let totals = manifest::totals(inputs, future);
    let quality_gate_failed = pipeline
        .max_reject_ratio
        .is_some_and(|max| totals.reject_ratio() > max);
    // A shard's manifest says its parts are complete: a rerun of the shard removes
    // the old one before overwriting them, so a rerun killed halfway leaves a shard
    // that `merge-manifests` reports as not finished.
    if let Some(s) = shard {
        let old = s.manifest_path(&pipeline.out_dir, as_of);
        if old.exists() {
            std::fs::remove_file(&old).map_err(store::io_err(&old, "cannot remove"))?;
        }
    }
    let outputs = timings.time("write", || {
        let target = output::Target {
            out: &pipeline.out_dir,
            as_of,
            tables: &pipeline.tables,
            keys: &keys,
            rules_sha256: &rules.sha256,
            shard,
        };
        output::write_tables(&target, batch, &inputs.rejects)
    })?;
    progress.say(format!(
        "wrote {} files under {}",
        outputs.len(),
        pipeline.out_dir.display()
    ));
    let mut m = manifest::build(&manifest::ManifestInput {
        as_of,
        pipeline,
        rules,
        inputs,
        future_rows: future,
        outputs: &outputs,
        exit_status: if quality_gate_failed { 3 } else { 0 },
        timings: &timings.0,
    });
    m.incremental = incremental;
    match shard {
        // The manifest last: once it is there, everything it lists is.
        None => {
            let summary = report::Summary::of(batch);
            let done = crate::commit::snapshot(&pipeline.out_dir, as_of, Some(&summary), &mut m)?;
            progress.say(format!(
                "manifest {}, report {}",
                done.manifest.display(),
                done.report.unwrap_or_default().display()
            ));
        }
        // A shard's manifest and report summary wait in its shard folder for
        // `merge-manifests`, which adds the summaries up into the run report.
        Some(s) => {
            let summary = serde_json::to_vec(&report::Summary::of(batch))
                .map_err(|e| Error::Internal(format!("report summary: {e}")))?;
            crate::store::write_file_atomically(
                &s.summary_path(&pipeline.out_dir, as_of),
                &summary,
            )?;
            let path = manifest::write_to(&s.manifest_path(&pipeline.out_dir, as_of), &m)?;
            progress.say(format!("shard manifest {}", path.display()));
        }
    }
    if quality_gate_failed {
        report_quality_gate(pipeline, &totals);
    }
    Ok(RunOutcome {
        as_of,
        quality_gate_failed,
    })
}

/// `ledgerflow validate`: the same counts as a run, printed, without writing tables.
pub fn validate(pipeline: &Path, as_of: Option<Month>) -> Result<RunOutcome> {
    let progress = Progress::new(true);
    let mut timings = Timings::default();
    let loaded = load(pipeline, None, false, as_of, &progress, &mut timings)?;
    let (as_of, shown) = match as_of
        .map(Ok)
        .unwrap_or_else(|| default_as_of(&loaded.inputs, &loaded.pipeline))
    {
        Ok(a) => (a, a.to_string()),
        // Nothing accepted: the counts are still worth printing, with the cause.
        Err(e) => (Month::default(), format!("none: {e}")),
    };
    let inputs = &loaded.inputs;
    let future = future_rows_per_file(&inputs.ledger, as_of.last_day(), inputs.files.len());
    let counts = manifest::totals(inputs, &future);
    println!("as_of: {shown}");
    for f in &loaded.inputs.files {
        println!(
            "{} {}: read {}, accepted {}, rejected {}",
            f.kind.as_str(),
            crate::privacy::shown(&f.path),
            f.rows_read,
            f.rows_accepted,
            f.rows_rejected
        );
    }
    println!("rows_read: {}", counts.rows_read);
    println!("rows_accepted: {}", counts.rows_accepted);
    println!("rows_rejected: {}", counts.rows_rejected);
    println!("future_rows: {}", counts.future_rows);
    for (t, n) in manifest::rejects_by_type(inputs) {
        if n > 0 {
            println!("rejects {t}: {n}");
        }
    }
    let quality_gate_failed = loaded
        .pipeline
        .max_reject_ratio
        .is_some_and(|max| counts.reject_ratio() > max);
    Ok(RunOutcome {
        as_of,
        quality_gate_failed,
    })
}

/// `ledgerflow explain`: one person's timeline as text or JSON.
pub fn explain(
    pipeline: &Path,
    person: &str,
    as_of: Option<Month>,
    format: crate::explain::Format,
) -> Result<String> {
    let id = PersonId::parse(person.trim())
        .map_err(|e| Error::Usage(format!("--person: {}", e.message())))?;
    let progress = Progress::new(true);
    let mut timings = Timings::default();
    let mut loaded = load(pipeline, None, false, as_of, &progress, &mut timings)?;
    let as_of = match as_of {
        Some(a) => a,
        None => default_as_of(&loaded.inputs, &loaded.pipeline)?,
    };
    let prep = prepare(&mut loaded.inputs);
    let slot = prep
        .persons
        .binary_search_by_key(&id, |s| s.person)
        .ok()
        .map(|i| &prep.persons[i])
        .ok_or_else(|| {
            Error::input(
                &loaded.pipeline.ledger,
                "this person has no accepted ledger or registry rows",
            )
        })?;
    let resolver = loaded.rules.resolver(&prep.regions);
    let mut batch = Batch::default();
    let input = prep.input(slot);
    let verdict = engine::evaluate_person(&input, &resolver, as_of, &mut batch);
    let report = crate::explain::build(&crate::explain::ExplainInput {
        person: id,
        as_of,
        rows: input.rows,
        files: &loaded.inputs.files,
        groups: input.groups,
        batch: &batch,
        verdict: &verdict,
        rules: &loaded.rules,
        params: &resolver,
    });
    crate::explain::render(&report, format)
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

    /// A bucketed run records the mode it was switched to and every stage's timing.
    #[test]
    fn bucketed_manifest_has_run_mode_and_stage_timings() {
        let out = std::env::temp_dir().join(format!("ledgerflow-runmode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/sample.toml");
        let opts = RunOptions {
            pipeline: sample.clone(),
            as_of: None,
            out: Some(out.clone()),
            quiet: true,
            shard: None,
            incremental: true,
            memory_budget: None,
            wait_lock: false,
        };
        let mut pipeline = Pipeline::load(&sample).unwrap();
        pipeline.out_dir = out.clone();
        let mode = changed_mode(true, None, 3);
        let plan = crate::bounded::Plan {
            buckets: 3,
            budget: None,
            warning: None,
        };
        let done =
            crate::bounded::run(&opts, pipeline, plan, mode.clone(), &Progress::new(true)).unwrap();
        let m = manifest::read(&manifest::path(&out, done.as_of)).unwrap();
        assert_eq!(m.run_mode, mode);
        let stages: Vec<&str> = m.stage_timings_ms.keys().map(String::as_str).collect();
        assert_eq!(stages, ["engine", "prepare", "read_and_validate", "write"]);
        let _ = std::fs::remove_dir_all(&out);
    }
}
