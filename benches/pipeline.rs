//! End-to-end benchmark (issue 6): `ledgerflow run` against its DuckDB peer and the
//! polars I/O floor, on the same generated Parquet ledger in the same run.
//!
//!     cargo bench --bench pipeline
//!
//! Sizes (people; 60 months each) come from `LEDGERFLOW_BENCH_SIZES`, default
//! `200000,1000000`. Data is generated once per size under `target/bench-data/` by
//! `ledgerflow generate` and reused. For each size it prints and appends to
//! `target/bench-results.md`:
//!   1. ours: `ledgerflow run --quiet` (a child process), wall time, rows/s, peak RSS;
//!   2. the peer: `benches/duckdb_peer.sql` run by DuckDB (pinned, Python venv) on the
//!      same files, wall time and peak RSS, and the ratio peer / ours;
//!   3. the floor: polars reading the same inputs and writing outputs of the same shape
//!      (one row per input row, one per person) with no logic, and ours / floor.
//!
//! Peak RSS is the child's `ru_maxrss` from `wait4`.

#[path = "../tests/duckdb_env.rs"]
mod duckdb_env;

use polars::prelude::*;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ledgerflow");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const MONTHS: u32 = 60;
const START: &str = "2021-01";
const AS_OF: &str = "2025-12";
const SEED: &str = "20261122";

type BenchResult<T> = Result<T, String>;

fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tmp.to_path_buf())
}

/// Wall time, peak RSS (bytes) and success of one child process.
struct Measured {
    wall: Duration,
    peak_rss: u64,
}

fn measure(cmd: &mut Command) -> BenchResult<Measured> {
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we just spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if waited != pid {
        return Err(format!("wait4 on {cmd:?} failed"));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("{cmd:?} failed (wait status {status})"));
    }
    Ok(Measured {
        wall,
        peak_rss: usage.ru_maxrss as u64 * 1024,
    })
}

/// `target/bench-data/<persons>x60/` with `ledger/*.parquet`, `special_groups.csv` and
/// a pipeline file, generated on first use.
fn dataset(persons: u64) -> BenchResult<PathBuf> {
    let dir = target_dir()
        .join("bench-data")
        .join(format!("{persons}x{MONTHS}"));
    let done = dir.join(".complete");
    if !done.exists() {
        let _ = fs::remove_dir_all(&dir);
        eprintln!(
            "generating {persons} people x {MONTHS} months into {}",
            dir.display()
        );
        let m = measure(Command::new(BIN).args([
            "generate",
            "--persons",
            &persons.to_string(),
            "--months",
            &MONTHS.to_string(),
            "--start",
            START,
            "--seed",
            SEED,
            "--format",
            "parquet",
            "--out",
            &dir.display().to_string(),
        ]))?;
        eprintln!(
            "generated in {:.1} s, peak RSS {}",
            m.wall.as_secs_f64(),
            mib(m.peak_rss)
        );
        let rules = Path::new(MANIFEST_DIR).join("pipelines/rules/national.toml");
        let pipeline = format!(
            "[pipeline]\nname = \"bench\"\nrules = \"{}\"\n\n[inputs]\nledger = \"ledger\"\n\
             special_groups = \"special_groups.csv\"\n\n[outputs]\ndir = \"out\"\n\
             tables = [\"person_status\", \"person_month\", \"gaps\", \"findings\", \"rejects\"]\n\n\
             [quality]\nmax_reject_ratio = 1.0\n",
            rules.display()
        );
        fs::write(dir.join("pipeline.toml"), pipeline).map_err(|e| e.to_string())?;
        fs::write(&done, "").map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

fn ledger_files(dir: &Path) -> BenchResult<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("ledger"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// Ours: the release binary, as an operator runs it. Returns the measurement and the
/// number of ledger rows read (from the manifest).
fn run_ours(dir: &Path) -> BenchResult<(Measured, u64)> {
    let out = dir.join("out");
    let _ = fs::remove_dir_all(&out);
    let m = measure(Command::new(BIN).args([
        "run",
        &dir.join("pipeline.toml").display().to_string(),
        "--as-of",
        AS_OF,
        "--quiet",
    ]))?;
    let manifest = out.join("_manifests").join(format!("{AS_OF}.json"));
    let text = fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let rows = json["totals"]["rows_read"]
        .as_u64()
        .ok_or_else(|| format!("{}: no totals.rows_read", manifest.display()))?;
    Ok((m, rows))
}

const PEER_DRIVER: &str = r#"
import sys, duckdb
sql_file, glob, out, a, k = sys.argv[1:6]
sql = open(sql_file).read()
for key, value in (("{{LEDGER_GLOB}}", glob), ("{{OUT}}", out), ("{{A}}", a), ("{{K}}", k)):
    sql = sql.replace(key, value)
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(sql)
con.close()
"#;

fn run_peer(python: &Path, dir: &Path) -> BenchResult<Measured> {
    let out = dir.join("peer-out");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    measure(
        Command::new(python).args([
            "-c",
            PEER_DRIVER,
            &Path::new(MANIFEST_DIR)
                .join("benches/duckdb_peer.sql")
                .display()
                .to_string(),
            &dir.join("ledger/*.parquet").display().to_string(),
            &out.display().to_string(),
            &format!("{AS_OF}-01"),
            &format!("{AS_OF}-31"),
        ]),
    )
}

/// The floor: read every input file with polars, write one zstd Parquet file with a row
/// per input row (the shape of `person_month`) and one with a row per person (the
/// shape of `person_status`). No parsing, no logic.
fn run_floor(dir: &Path, persons: u64) -> BenchResult<Duration> {
    let out = dir.join("floor-out");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut all: Option<DataFrame> = None;
    for path in ledger_files(dir)? {
        let f = File::open(&path).map_err(|e| e.to_string())?;
        let df = ParquetReader::new(f).finish().map_err(|e| e.to_string())?;
        match &mut all {
            None => all = Some(df),
            Some(a) => {
                a.vstack_mut(&df).map_err(|e| e.to_string())?;
            }
        }
    }
    let mut all = all.ok_or("no ledger files")?;
    all.rechunk_mut();
    let mut status = all.head(Some(persons as usize));
    for (name, df) in [("month", &mut all), ("status", &mut status)] {
        let f = File::create(out.join(format!("{name}.parquet"))).map_err(|e| e.to_string())?;
        ParquetWriter::new(f)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(df)
            .map_err(|e| e.to_string())?;
    }
    Ok(start.elapsed())
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let sizes: Vec<u64> = std::env::var("LEDGERFLOW_BENCH_SIZES")
        .unwrap_or_else(|_| "200000,1000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|e| format!("LEDGERFLOW_BENCH_SIZES: {s:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let python = duckdb_env::duckdb_python(&target_dir())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| people × months | rows | ours | rows/s | ours peak RSS | DuckDB peer | peer peak RSS | peer / ours | floor | ours / floor |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|---|---|---|");
    for &persons in &sizes {
        let dir = dataset(persons)?;
        eprintln!("{persons} people: ours …");
        let (ours, rows) = run_ours(&dir)?;
        eprintln!("{persons} people: DuckDB peer …");
        let peer = run_peer(&python, &dir)?;
        eprintln!("{persons} people: floor …");
        let floor = run_floor(&dir, persons)?;
        let o = ours.wall.as_secs_f64();
        let line = format!(
            "| {persons} × {MONTHS} | {rows} | {o:.2} s | {:.0} | {} | {:.2} s | {} | {:.2}× | {:.2} s | {:.2}× |",
            rows as f64 / o,
            mib(ours.peak_rss),
            peer.wall.as_secs_f64(),
            mib(peer.peak_rss),
            peer.wall.as_secs_f64() / o,
            floor.as_secs_f64(),
            o / floor.as_secs_f64(),
        );
        eprintln!("{line}");
        let _ = writeln!(table, "{line}");
    }
    let header = format!(
        "ledgerflow {} — {cores} cores — DuckDB {} — `cargo bench --bench pipeline`\n\n",
        env!("CARGO_PKG_VERSION"),
        duckdb_env::DUCKDB_VERSION
    );
    println!("\n{header}{table}");
    let results = target_dir().join("bench-results.md");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results)
        .map_err(|e| e.to_string())?;
    writeln!(f, "{header}{table}").map_err(|e| e.to_string())?;
    eprintln!("appended to {}", results.display());
    Ok(())
}
