//! How many parts a run needs to stay in memory (`run --memory-budget SIZE`, and
//! automatically when the inputs look larger than the memory available), and the
//! allocator settings of a bucketed run.
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
//! The estimate of an in-memory run is the fixed base ([`FIXED_BASE`]) plus 8 × the
//! CSV bytes and 10 × the Parquet bytes of the ledger. Measured (peak RSS above the
//! base, per input byte): 40 000 people × 36 months, 102 MB of CSV, peak 789 MB
//! (7.3 ×); 200 000 people × 60 months, 199 MB of typed Parquet, peak 1640 MiB
//! (release, 8.4 ×); 20 000 people × 60 months, 22 MB of Parquet, peak 263 MB
//! (debug, 9.8 ×).
//! When it exceeds the budget, `N` = ⌈estimate / ((budget − [`FIXED_BASE`]) / 2)⌉. A budget
//! below [`MIN_BUDGET`], or one that the checking of the largest ledger file alone
//! would exceed, is said (a notice) and recorded in the manifest. The bucketed run keeps the allocator to one arena
//! and returns each bucket's freed memory before the next (see `docs/decisions.md`,
//! "Honest memory", for the measurements). Peak memory is the fixed base plus one
//! ledger file being checked, or plus one bucket's rows and outputs. The run report
//! adds up one
//! `report::Summary` per bucket.

use crate::config::Pipeline;
use crate::error::Result;
use crate::ingest;
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
            bytes.saturating_mul(if parquet { 10 } else { 8 })
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

/// The budget of a full run without `--memory-budget` (70 % of the available memory
/// when that is less): bounded memory by default. A ledger whose in-memory estimate
/// fits runs in one part, as before; a larger one (from about 210 MB of Parquet or
/// 260 MB of CSV) runs in person buckets sized so the process stays near it (see
/// docs/decisions.md, "One run engine"). `--incremental` keeps 70 % of the available
/// memory: its carried results need the inputs in memory.
pub const DEFAULT_BUDGET: u64 = 2 << 30;

/// The parts of a run: 1 means in memory, more are person buckets spilled to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    pub count: u32,
    /// `--memory-budget`; `None` when the budget was the default (not asked for, so
    /// not recorded: 70 % of the available memory changes from run to run).
    pub budget: Option<u64>,
    /// Set when `--memory-budget` cannot be kept: the run goes on in as many buckets
    /// as it can, says so (a notice) and records it in the manifest.
    pub warning: Option<String>,
}

impl Parts {
    /// One part: everything in memory.
    pub fn one() -> Parts {
        Parts {
            count: 1,
            budget: None,
            warning: None,
        }
    }
}

/// How many buckets a run needs (1 means in memory) and the budget they were sized
/// for: `--memory-budget`, else [`DEFAULT_BUDGET`] (or 70 % of the available memory
/// when less; for an `incremental` run 70 % of it, whatever it is). A `--memory-budget`
/// that cannot be kept (below [`MIN_BUDGET`], or smaller than the checking of the
/// largest ledger file needs) gives [`Parts::warning`].
pub fn parts(pipeline: &Pipeline, asked: Option<u64>, incremental: bool) -> Result<Parts> {
    let mut warning = asked.filter(|b| *b < MIN_BUDGET).map(|b| {
        format!(
            "{}: --memory-budget {} cannot be kept: the process itself needs about {}; the minimum is {}",
            pipeline.path.display(),
            show_size(b),
            show_size(FIXED_BASE),
            show_size(MIN_BUDGET)
        )
    });
    let available = || memory_available().map(|m| m / 10 * 7);
    let default = || match incremental {
        true => available(),
        false => Some(available().map_or(DEFAULT_BUDGET, |a| a.min(DEFAULT_BUDGET))),
    };
    let budget = match asked.or_else(default) {
        Some(b) => b.max(1),
        None => {
            return Ok(Parts {
                count: 1,
                budget: None,
                warning,
            });
        }
    };
    let files = ingest::discover(&pipeline.ledger)?;
    let rows = estimate(&files);
    if FIXED_BASE.saturating_add(rows) <= budget {
        return Ok(Parts {
            count: 1,
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
    Ok(Parts {
        count: rows.div_ceil(usable).clamp(2, 4096) as u32,
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
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Without `--memory-budget` a full run is planned from [`DEFAULT_BUDGET`]: a
    /// ledger estimated above it goes into buckets even on a machine with far more
    /// memory; a small one stays in one part; `--incremental` keeps 70 % of the
    /// available memory. (The estimate reads only file sizes: a sparse file will do.)
    #[test]
    fn a_full_run_is_bounded_by_the_default_budget() {
        let dir = std::env::temp_dir().join(format!("ledgerflow-default-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let big = dir.join("ledger.csv");
        let size = DEFAULT_BUDGET / 8 + (64 << 20);
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(size))
            .expect("sparse file");
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/sample.toml");
        let mut pipeline = Pipeline::load(&sample).expect("sample");
        let small = parts(&pipeline, None, false).expect("small");
        assert_eq!(small.count, 1, "the sample runs in one part");
        pipeline.ledger = big;
        let full = parts(&pipeline, None, false).expect("full");
        assert!(full.count >= 2, "{full:?}");
        assert_eq!((full.budget, full.warning.as_deref()), (None, None));
        if memory_available().is_some_and(|m| m / 10 * 7 > size * 8) {
            let incremental = parts(&pipeline, None, true).expect("incremental");
            assert_eq!(incremental.count, 1, "--incremental: 70 % of the memory");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The issue-15 bench ledgers by their sizes: 200 000 people × 60 months of typed
    /// Parquet (198 918 464 bytes, peak 1640 MiB in memory) runs in one part under the
    /// default budget (the 13 × estimate of before spilled it into 3 buckets, 1.5 ×
    /// slower); 1 000 000 × 60 (996 072 382 bytes) runs in 10 buckets of about 1 GB.
    #[test]
    fn the_bench_ledgers_are_planned_from_measured_sizes() {
        if memory_available().is_none_or(|m| m / 10 * 7 < DEFAULT_BUDGET) {
            return; // the default budget is lower on this machine
        }
        let dir = std::env::temp_dir().join(format!("ledgerflow-sizes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/sample.toml");
        let mut pipeline = Pipeline::load(&sample).expect("sample");
        let mut count = |name: &str, size: u64| {
            let path = dir.join(name);
            std::fs::File::create(&path)
                .and_then(|f| f.set_len(size))
                .expect("sparse file");
            pipeline.ledger = path;
            parts(&pipeline, None, false).expect("parts").count
        };
        assert_eq!(count("200k.parquet", 198_918_464), 1);
        assert_eq!(count("1m.parquet", 996_072_382), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
