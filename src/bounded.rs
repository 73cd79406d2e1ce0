//! Runs in bounded memory (`run --memory-budget SIZE`, and automatically when the
//! inputs look larger than the memory available).
//!
//! The checked ledger rows are spilled into `N` person buckets
//! ([`crate::validate::buckets`]) under `OUT/_staging/<run>/spill/`, or with `[privacy]
//! state_dir` under that folder's `spill/run-<pid>/` ([`crate::privacy::state_dirs`]),
//! removed on every exit path; then one bucket at a time is deduplicated, evaluated
//! and written as `part-<bucket>.parquet` of every person table, staged under
//! `OUT/_staging/<run>/`. When all buckets are done the rejects are
//! written (one part) and every table's parts are published together, as in a plain
//! run. The rows are exactly those of an in-memory run, spread over `N` part files,
//! each sorted by `person_key`.
//!
//! The estimate of an in-memory run is 8 × the CSV bytes and 13 × the Parquet bytes
//! of the ledger (measured on generated ledgers: 40 000 people × 36 months, 102 MB of
//! CSV, peak 789 MB; 200 000 people × 60 months, 217 MB of Parquet, peak 1.8 GB
//! (release); 20 000 people × 60 months, 22 MB of Parquet, peak 263 MB (debug)).
//! When it exceeds the budget, `N` = ⌈estimate / ((budget − [`FIXED_BASE`]) / 2)⌉. A budget
//! below [`MIN_BUDGET`], or one that the checking of the largest ledger file alone
//! would exceed, is said (a notice) and recorded in the manifest. The bucketed run keeps the allocator to one arena
//! and returns each bucket's freed memory before the next (see `docs/decisions.md`,
//! "Honest memory", for the measurements). Peak memory is the fixed base plus one
//! ledger file being checked, or plus one bucket's rows and outputs. The run report
//! adds up one
//! `report::Summary` per bucket.

use crate::config::{OutputTable, Pipeline, RuleSet};
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::ledger::Inputs;
use crate::output::{self, Target};
use crate::partition::part_of as bucket_of;
use crate::stages::{self, Progress, RunOptions, RunOutcome, Timings};
use crate::store::{self, OutputFile};
use crate::validate::buckets;
use crate::{ingest, manifest, report};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Hands memory the allocator keeps after large temporary structures are freed back
/// to the operating system. glibc keeps freed blocks in its per-thread arenas: after
/// checking a 200 000-person ledger in parallel, 1.7 GB of the 2.3 GB resident was
/// free memory that later (single-threaded, `mmap`ped) allocations never reuse.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Parses a size like `512M`, `4G`, `800k` or a plain number of bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// `MemAvailable` of `/proc/meminfo` in bytes, if readable.
fn memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Estimated peak memory of an in-memory run over these ledger files.
fn estimate(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::metadata(p).map_or(0, |m| m.len());
            let parquet = p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
            bytes.saturating_mul(if parquet { 13 } else { 8 })
        })
        .sum()
}

/// The fixed resident memory of a bucketed run that no bucket count lowers: the
/// binary, polars and its thread pool, the allocator, the registry and claims, and
/// the reading of one ledger file. Measured (debug build, 2 cores, one allocator
/// arena): 36 MB peak for a 50-row ledger, the reading phase of 30 000 people × 60
/// monthly files at 30–38 MB (see docs/decisions.md, "Honest memory").
pub const FIXED_BASE: u64 = 48 << 20;

/// The smallest `--memory-budget` accepted: the fixed base plus 16 MiB for a bucket.
pub const MIN_BUDGET: u64 = FIXED_BASE + (16 << 20);

/// The plan of a run: 1 bucket means in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub buckets: u32,
    /// `--memory-budget`; `None` when the budget was 70 % of the available memory
    /// (which changes from run to run, so it is not recorded).
    pub budget: Option<u64>,
    /// Set when `--memory-budget` cannot be kept: the run goes on in as many buckets
    /// as it can, says so ([`crate::log::notice`]) and records it in the manifest.
    pub warning: Option<String>,
}

/// How many buckets a run needs (1 means in memory) and the budget they were sized
/// for: `--memory-budget`, else 70 % of the available memory. A `--memory-budget`
/// that cannot be kept (below [`MIN_BUDGET`], or smaller than the checking of the
/// largest ledger file needs) gives [`Plan::warning`].
pub fn plan(pipeline: &Pipeline, asked: Option<u64>) -> Result<Plan> {
    let mut warning = asked.filter(|b| *b < MIN_BUDGET).map(|b| {
        format!(
            "{}: --memory-budget {} cannot be kept: the process itself needs about {}; the minimum is {}",
            pipeline.path.display(),
            show_size(b),
            show_size(FIXED_BASE),
            show_size(MIN_BUDGET)
        )
    });
    let budget = match asked.or_else(|| memory_available().map(|m| m / 10 * 7)) {
        Some(b) => b.max(1),
        None => {
            return Ok(Plan {
                buckets: 1,
                budget: None,
                warning,
            });
        }
    };
    let files = ingest::discover(&pipeline.ledger)?;
    let need = estimate(&files);
    if need <= budget {
        return Ok(Plan {
            buckets: 1,
            budget: asked,
            warning,
        });
    }
    // What one bucket may use: half of the budget less the fixed base. The other half
    // is the margin for what the estimate misses (measured: a bucket's peak reached
    // 1.25 × its share of the estimate on Parquet inputs) and for the allocator.
    // Below the minimum (already said) a quarter of the budget, as before.
    let usable = if budget < MIN_BUDGET {
        budget / 4
    } else {
        (budget - FIXED_BASE) / 2
    }
    .max(1);
    // One ledger file is checked whole: a file whose reading alone needs more than
    // the usable part cannot be kept to the budget by any bucket count.
    if asked.is_some()
        && warning.is_none()
        && let Some((path, largest)) = files
            .iter()
            .map(|p| (p, estimate(std::slice::from_ref(p))))
            .max_by_key(|(_, n)| *n)
        && largest > usable
    {
        warning = Some(format!(
            "{}: --memory-budget {} cannot be kept: checking this ledger file needs about {}, twice that with the margin, plus the {} the process needs; split the file or raise the budget to at least {}",
            path.display(),
            show_size(budget),
            show_size(largest),
            show_size(FIXED_BASE),
            show_size(largest.saturating_mul(2).saturating_add(FIXED_BASE))
        ));
    }
    Ok(Plan {
        buckets: need.div_ceil(usable).clamp(2, 4096) as u32,
        budget: asked,
        warning,
    })
}

/// A size in whole MiB, as `--memory-budget` takes it (`64M`).
pub fn show_size(bytes: u64) -> String {
    format!("{}M", bytes.div_ceil(1 << 20))
}

/// Keeps the allocator to one arena for the rest of the process. glibc gives each
/// thread that meets contention its own arena (up to 8 per core), and freed memory in
/// them is not reused by the other threads: measured on 30 000 people × 60 months
/// (Parquet) with `--memory-budget 100M`, peak RSS 110 MiB with the default arenas,
/// 77 MiB with one, at about the same time.
fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// A `run` in `count` buckets (see the module docs).
pub fn run(
    opts: &RunOptions,
    pipeline: Pipeline,
    plan: Plan,
    run_mode: Option<manifest::RunMode>,
    progress: &Progress,
) -> Result<RunOutcome> {
    let count = plan.buckets;
    if let Some(w) = &plan.warning {
        crate::log::notice(&crate::privacy::shown(w), opts.quiet);
    }
    if opts.shard.is_some() || opts.incremental && opts.memory_budget.is_some() {
        return Err(Error::Usage(
            "a bucketed run (--memory-budget) cannot be combined with --shard or --incremental"
                .into(),
        ));
    }
    one_arena();
    let mut timings = Timings::default();
    let rules = RuleSet::load(&pipeline.rules_path)?;
    let keys = stages::key_mode(&pipeline)?;
    let out = pipeline.out_dir.clone();
    output::check_writable(&out)?;
    // This run's own staging folder (spill files included), removed however it ends.
    let own = store::Staging::new(&out);
    let staging = own.dir().to_path_buf();
    progress.say(format!("bounded memory: {count} person buckets"));
    let mut b = timings.time("read_and_validate", || {
        buckets::read_inputs_bucketed(
            &pipeline.ledger,
            pipeline.special_groups.as_deref(),
            pipeline.claims.as_deref(),
            pipeline.encoding,
            pipeline.sheet.as_deref(),
            count,
            &crate::privacy::state_dirs(&pipeline)?
                .spill
                .unwrap_or_else(|| staging.join("spill")),
            &crate::validate::Plausibility::new(&rules, opts.as_of),
        )
    })?;
    let as_of: Month = b.as_of(opts.as_of, &pipeline.ledger)?;
    let mut regions: Vec<u32> = b.regions.iter().copied().collect();
    regions.extend(b.registry.person.iter().map(|p| p.id_region()));
    let resolver = rules.resolver(&regions);
    let target = Target {
        out: &out,
        as_of,
        tables: &pipeline.tables,
        keys: &keys,
        rules_sha256: &rules.sha256,
        shard: None,
    };
    let mut staged: BTreeMap<OutputTable, Vec<PathBuf>> = BTreeMap::new();
    let mut outputs: Vec<OutputFile> = Vec::new();
    let n_files = b.files().len();
    let mut future = vec![0u64; n_files];
    let mut summary = report::Summary::default();
    for i in 0..count {
        let ledger = b.rows(i)?;
        let mut inputs = Inputs {
            files: b.files().to_vec(),
            ledger,
            registry: b.registry.filtered(|p| bucket_of(p, count) == i),
            claims: b.claims.filtered(|p| bucket_of(p, count) == i),
            rejects: Vec::new(),
        };
        let prep = timings.time("prepare", || stages::prepare(&mut inputs));
        let batch = timings.time("engine", || stages::evaluate(&prep, &resolver, as_of));
        summary.add(&report::Summary::of(&batch));
        for (f, n) in stages::future_rows_per_file(&prep.rows, as_of.last_day(), n_files)
            .into_iter()
            .enumerate()
        {
            future[f] += n;
        }
        let part = format!("part-{i:05}.parquet");
        for &t in pipeline
            .tables
            .iter()
            .filter(|t| **t != OutputTable::Rejects)
        {
            let (path, file) = timings.time("write", || {
                output::stage_table(&target, t, &staging, &part, &batch, &[])
            })?;
            staged.entry(t).or_default().push(path);
            outputs.push(file);
        }
        progress.say(format!(
            "bucket {}/{count}: {} people",
            i + 1,
            prep.persons.len()
        ));
        drop((prep, batch, inputs));
        // The next bucket starts from the fixed base, not from this one's free pages.
        release_free_memory();
    }
    let (files, rejects) = b.finish();
    if pipeline.tables.contains(&OutputTable::Rejects) {
        let empty = crate::engine::Batch::default();
        let (path, file) = timings.time("write", || {
            output::stage_table(
                &target,
                OutputTable::Rejects,
                &staging,
                "part-00000.parquet",
                &empty,
                &rejects,
            )
        })?;
        staged.entry(OutputTable::Rejects).or_default().push(path);
        outputs.push(file);
    }
    timings.time("write", || {
        staged
            .iter()
            .try_for_each(|(t, paths)| store::publish(&out, t.as_str(), as_of, paths))
    })?;
    drop(own);
    outputs.sort_by(|x, y| {
        let rank = |o: &OutputFile| pipeline.tables.iter().position(|t| t.as_str() == o.table);
        (rank(x), &x.path).cmp(&(rank(y), &y.path))
    });
    let inputs = Inputs {
        files,
        rejects,
        ..Inputs::default()
    };
    let totals = manifest::totals(&inputs, &future);
    let quality_gate_failed = pipeline
        .max_reject_ratio
        .is_some_and(|max| totals.reject_ratio() > max);
    let mut m = manifest::build(&manifest::ManifestInput {
        as_of,
        pipeline: &pipeline,
        rules: &rules,
        inputs: &inputs,
        future_rows: &future,
        outputs: &outputs,
        exit_status: if quality_gate_failed { 3 } else { 0 },
        timings: &timings.0,
    });
    m.run_mode = run_mode;
    m.bucketed = Some(manifest::Bucketed {
        buckets: count,
        memory_budget: plan.budget,
        budget_warning: plan.warning.as_deref().map(crate::privacy::shown),
    });
    crate::commit::snapshot(&out, as_of, Some(&summary), &mut m)?;
    if quality_gate_failed {
        stages::report_quality_gate(&pipeline, &totals);
    }
    Ok(RunOutcome {
        as_of,
        quality_gate_failed,
    })
}
