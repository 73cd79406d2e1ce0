//! End-to-end benchmark (issues 6 and 15): `ledgerflow run` against its DuckDB peer and
//! a Python polars read + write floor, on the same typed Parquet ledger, back to back.
//!
//!     cargo bench --bench pipeline
//!
//! Sizes (people; 60 months each) come from `LEDGERFLOW_BENCH_SIZES`, default
//! `200000,1000000`; `3000000` (≈ 144 M rows) is opt-in. Data is made once per size
//! under `target/bench-data/<people>x60-typed/` and reused: `ledgerflow generate`
//! (string columns), then rewritten by DuckDB with typed columns (`amount`
//! DECIMAL(18,2), `base` DOUBLE, `paid_on` DATE, zstd; `benches/typed_ledger.sql`).
//! For each size it prints and appends to `target/bench-results.md`:
//!   1. ours: `ledgerflow run --quiet` with default settings (a child process), wall
//!      time, rows/s, peak RSS; the rows read and the rejects per type are checked
//!      against what the data was made with;
//!   2. the peer: `benches/duckdb_peer.sql` run by DuckDB (pinned, Python venv) on the
//!      same files, and the ratio peer / ours;
//!   3. the floor: `benches/polars_floor.py`, Python polars (pinned, same venv)
//!      reading the same files and writing a row per input row and a row per person as
//!      zstd Parquet with no logic, and ours / floor.
//!
//! Peak RSS is each child's `ru_maxrss` from `wait4`. Every child has a timeout
//! (`LEDGERFLOW_BENCH_TIMEOUT` seconds, default 1800): one that fails, is killed (the
//! kernel's OOM killer) or times out is reported in the table with its exit status or
//! signal and its peak RSS, and the bench goes on.

#[path = "../tests/duckdb_env.rs"]
mod duckdb_env;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ledgerflow");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const MONTHS: u32 = 60;
const START: &str = "2021-01";
const AS_OF: &str = "2025-12";
const SEED: &str = "20261122";
const DEFAULT_SIZES: &str = "200000,1000000";
const DEFAULT_TIMEOUT_S: u64 = 1800;

type BenchResult<T> = Result<T, String>;

fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tmp.to_path_buf())
}

fn bench_file(name: &str) -> String {
    Path::new(MANIFEST_DIR)
        .join("benches")
        .join(name)
        .display()
        .to_string()
}

/// Wall time and peak RSS (bytes) of one child process, and why it failed if it did.
struct Measured {
    wall: Duration,
    peak_rss: u64,
    failure: Option<String>,
}

impl Measured {
    /// The measurement of a child that must succeed (making the data).
    fn required(self, what: &str) -> BenchResult<Measured> {
        match &self.failure {
            None => Ok(self),
            Some(why) => Err(format!("{what}: {why}")),
        }
    }

    fn wall_cell(&self) -> String {
        match &self.failure {
            None => format!("{:.2} s", self.wall.as_secs_f64()),
            Some(why) => format!("{why} after {:.0} s", self.wall.as_secs_f64()),
        }
    }

    fn secs(&self) -> Option<f64> {
        self.failure.is_none().then_some(self.wall.as_secs_f64())
    }
}

/// Runs `cmd` to its end or until `timeout` (then it is killed), and measures it.
fn measure(cmd: &mut Command, timeout: Duration) -> BenchResult<Measured> {
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we just spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    let waited = loop {
        // SAFETY: as above; WNOHANG returns 0 while the child runs.
        let w = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if w != 0 {
            break w;
        }
        if !timed_out && start.elapsed() > timeout {
            // SAFETY: pid is our child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            timed_out = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = start.elapsed();
    if waited != pid {
        return Err(format!("wait4 on {cmd:?} failed"));
    }
    let failure = if timed_out {
        Some(format!("timed out ({} s), killed", timeout.as_secs()))
    } else if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let who = if sig == libc::SIGKILL {
            " (out of memory?)"
        } else {
            ""
        };
        Some(format!("killed by signal {sig}{who}"))
    } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
        Some(format!("exit status {}", libc::WEXITSTATUS(status)))
    } else {
        None
    };
    Ok(Measured {
        wall,
        peak_rss: usage.ru_maxrss as u64 * 1024,
        failure,
    })
}

fn read(path: &Path) -> BenchResult<String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> BenchResult<()> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// What a data set was made with: the ledger rows in the typed files and the rejects
/// per type a run must report on them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Expected {
    rows: u64,
    rejects_by_type: BTreeMap<String, u64>,
}

/// From `ledgerflow generate`'s log: the rows written and the faulty rows per reject
/// type (`faulty rows: BAD_PERSON_ID 12, …`).
fn generated(log: &str, path: &Path) -> BenchResult<Expected> {
    let line = |prefix: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .ok_or_else(|| format!("{}: no line {prefix:?}", path.display()))
    };
    let rows = line("wrote ")?
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{}: bad `wrote N ledger rows` line", path.display()))?;
    let mut rejects_by_type = BTreeMap::new();
    for item in line("faulty rows: ")?.split(", ") {
        let (t, n) = item
            .split_once(' ')
            .and_then(|(t, n)| Some((t, n.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("{}: bad fault count {item:?}", path.display()))?;
        rejects_by_type.insert(t.to_string(), n);
    }
    Ok(Expected {
        rows,
        rejects_by_type,
    })
}

const TYPED_DRIVER: &str = r#"
import sys, glob, os, duckdb
sql_file, src_dir, dst_dir, counts_dir = sys.argv[1:5]
sql = open(sql_file).read()
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
for src in sorted(glob.glob(os.path.join(src_dir, "*.parquet"))):
    name = os.path.basename(src)
    text = sql
    for key, value in (("{{SRC}}", src), ("{{DST}}", os.path.join(dst_dir, name)),
                       ("{{COUNTS}}", os.path.join(counts_dir, name + ".csv"))):
        text = text.replace(key, value)
    con.execute(text)
con.close()
"#;

/// Sums the `rows_kept,dropped_bad_date,dropped_bad_amount` lines of `typed_ledger.sql`.
fn typed_counts(dir: &Path) -> BenchResult<[u64; 3]> {
    let mut sum = [0u64; 3];
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text = read(&path)?;
        let fields: Vec<u64> = text
            .trim()
            .split(',')
            .map(|n| n.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {text:?}: {e}", path.display()))?;
        if fields.len() != 3 {
            return Err(format!(
                "{}: expected 3 counts, got {text:?}",
                path.display()
            ));
        }
        for (s, n) in sum.iter_mut().zip(fields) {
            *s += n;
        }
    }
    Ok(sum)
}

/// `target/bench-data/<persons>x60-typed/` with `ledger/*.parquet` (typed),
/// `special_groups.csv`, a pipeline file and `expected.json`, made on first use.
fn dataset(python: &Path, persons: u64, timeout: Duration) -> BenchResult<(PathBuf, Expected)> {
    let dir = target_dir()
        .join("bench-data")
        .join(format!("{persons}x{MONTHS}-typed"));
    let done = dir.join(".complete");
    if !done.exists() {
        let _ = fs::remove_dir_all(&dir);
        let text = dir.join("text");
        fs::create_dir_all(&text).map_err(|e| format!("{}: {e}", text.display()))?;
        eprintln!(
            "generating {persons} people x {MONTHS} months into {}",
            text.display()
        );
        let log_path = dir.join("generate.log");
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let m = measure(
            Command::new(BIN)
                .args(["generate", "--persons", &persons.to_string()])
                .args(["--months", &MONTHS.to_string(), "--start", START])
                .args(["--seed", SEED, "--format", "parquet", "--out"])
                .arg(&text)
                .stderr(Stdio::from(log)),
            timeout,
        )?
        .required("ledgerflow generate")?;
        eprintln!(
            "generated in {:.1} s, peak RSS {}",
            m.wall.as_secs_f64(),
            mib(m.peak_rss)
        );
        let mut expected = generated(&read(&log_path)?, &log_path)?;

        let ledger = dir.join("ledger");
        let counts = dir.join("typed-counts");
        for d in [&ledger, &counts] {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let m = measure(
            Command::new(python)
                .args(["-c", TYPED_DRIVER, &bench_file("typed_ledger.sql")])
                .args([text.join("ledger"), ledger.clone(), counts.clone()]),
            timeout,
        )?
        .required("typed ledger (DuckDB)")?;
        let [kept, bad_date, bad_amount] = typed_counts(&counts)?;
        eprintln!(
            "typed in {:.1} s: {kept} rows kept, {bad_date} BAD_DATE and {bad_amount} \
             BAD_AMOUNT rows left out (a typed column cannot hold them)",
            m.wall.as_secs_f64()
        );
        if kept + bad_date + bad_amount != expected.rows {
            return Err(format!(
                "typed ledger: {kept} + {bad_date} + {bad_amount} rows, generated {}",
                expected.rows
            ));
        }
        expected.rows = kept;
        for (t, dropped) in [("BAD_DATE", bad_date), ("BAD_AMOUNT", bad_amount)] {
            let n = expected.rejects_by_type.entry(t.to_string()).or_default();
            *n = n.checked_sub(dropped).ok_or_else(|| {
                format!("typed ledger: {dropped} {t} rows left out, more than generated")
            })?;
        }
        fs::rename(
            text.join("special_groups.csv"),
            dir.join("special_groups.csv"),
        )
        .map_err(|e| format!("{}: {e}", text.display()))?;
        fs::remove_dir_all(&text).map_err(|e| format!("{}: {e}", text.display()))?;

        let rules = Path::new(MANIFEST_DIR).join("pipelines/rules/national.toml");
        let pipeline = format!(
            "[pipeline]\nname = \"bench\"\nrules = \"{}\"\n\n[inputs]\nledger = \"ledger\"\n\
             special_groups = \"special_groups.csv\"\n\n[outputs]\ndir = \"out\"\n\
             tables = [\"person_status\", \"person_month\", \"gaps\", \"findings\", \"rejects\"]\n\n\
             [quality]\nmax_reject_ratio = 1.0\n",
            rules.display()
        );
        write(&dir.join("pipeline.toml"), &pipeline)?;
        let json = serde_json::to_string_pretty(&expected).map_err(|e| e.to_string())?;
        write(&dir.join("expected.json"), &json)?;
        write(&done, "")?;
    }
    let path = dir.join("expected.json");
    let expected =
        serde_json::from_str(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((dir, expected))
}

/// Ours: the release binary with default settings, as an operator runs it. Checks the
/// manifest's rows read and rejects per type against `expected`; returns the
/// measurement and the stage timings.
fn run_ours(dir: &Path, expected: &Expected, timeout: Duration) -> BenchResult<(Measured, String)> {
    let out = dir.join("out");
    let _ = fs::remove_dir_all(&out);
    let m = measure(
        Command::new(BIN)
            .arg("run")
            .arg(dir.join("pipeline.toml"))
            .args(["--as-of", AS_OF, "--quiet"]),
        timeout,
    )?;
    if m.failure.is_some() {
        return Ok((m, String::new()));
    }
    let path = out.join("_manifests").join(format!("{AS_OF}.json"));
    let json: serde_json::Value =
        serde_json::from_str(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = json["totals"]["rows_read"].as_u64();
    if rows != Some(expected.rows) {
        return Err(format!(
            "{}: totals.rows_read {rows:?}, the typed ledger has {}",
            path.display(),
            expected.rows
        ));
    }
    let rejects: Option<BTreeMap<String, u64>> =
        serde_json::from_value(json["rejects_by_type"].clone()).ok();
    if rejects.as_ref() != Some(&expected.rejects_by_type) {
        return Err(format!(
            "{}: rejects_by_type {rejects:?}, expected {:?}",
            path.display(),
            expected.rejects_by_type
        ));
    }
    let stages = json["stage_timings_ms"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k} {:.1} s", v.as_f64().unwrap_or(0.0) / 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok((m, stages))
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

/// An empty `dir/name`, for a peer's or the floor's output.
fn fresh(dir: &Path, name: &str) -> BenchResult<PathBuf> {
    let out = dir.join(name);
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

fn run_peer(python: &Path, dir: &Path, timeout: Duration) -> BenchResult<Measured> {
    let out = fresh(dir, "peer-out")?;
    measure(
        Command::new(python)
            .args(["-c", PEER_DRIVER, &bench_file("duckdb_peer.sql")])
            .arg(dir.join("ledger/*.parquet"))
            .arg(&out)
            .args([format!("{AS_OF}-01"), format!("{AS_OF}-31")]),
        timeout,
    )
}

/// The floor: `polars_floor.py` (Python polars, streaming) reading every ledger file
/// and writing a row per input row and a row per person. No parsing, no logic.
fn run_floor(python: &Path, dir: &Path, persons: u64, timeout: Duration) -> BenchResult<Measured> {
    let out = fresh(dir, "floor-out")?;
    measure(
        Command::new(python)
            .arg(bench_file("polars_floor.py"))
            .arg(dir.join("ledger/*.parquet"))
            .arg(&out)
            .arg(persons.to_string()),
        timeout,
    )
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn commit() -> String {
    Command::new("git")
        .args(["-C", MANIFEST_DIR, "log", "-1", "--format=%h %s"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown commit".into())
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let sizes: Vec<u64> = std::env::var("LEDGERFLOW_BENCH_SIZES")
        .unwrap_or_else(|_| DEFAULT_SIZES.into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|e| format!("LEDGERFLOW_BENCH_SIZES: {s:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let timeout = match std::env::var("LEDGERFLOW_BENCH_TIMEOUT") {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|e| format!("LEDGERFLOW_BENCH_TIMEOUT: {s:?}: {e}"))?,
        Err(_) => DEFAULT_TIMEOUT_S,
    };
    let timeout = Duration::from_secs(timeout);
    let python = duckdb_env::bench_python(&target_dir())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| people × months | ledger rows | ours | rows/s | ours peak RSS | DuckDB peer | peer peak RSS | peer / ours | floor | floor peak RSS | ours / floor |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut notes = String::new();
    for &persons in &sizes {
        let (dir, expected) = dataset(&python, persons, timeout)?;
        let rows = expected.rows;
        eprintln!("{persons} people: ours …");
        let (ours, stages) = run_ours(&dir, &expected, timeout)?;
        eprintln!("{persons} people: DuckDB peer …");
        let peer = run_peer(&python, &dir, timeout)?;
        eprintln!("{persons} people: floor …");
        let floor = run_floor(&python, &dir, persons, timeout)?;
        let rows_per_s = ours
            .secs()
            .map_or_else(|| "–".into(), |o| format!("{:.0}", rows as f64 / o));
        let line = format!(
            "| {persons} × {MONTHS} | {rows} | {} | {rows_per_s} | {} | {} | {} | {} | {} | {} | {} |",
            ours.wall_cell(),
            mib(ours.peak_rss),
            peer.wall_cell(),
            mib(peer.peak_rss),
            ratio(peer.secs(), ours.secs()),
            floor.wall_cell(),
            mib(floor.peak_rss),
            ratio(ours.secs(), floor.secs()),
        );
        eprintln!("{line}");
        let _ = writeln!(table, "{line}");
        if !stages.is_empty() {
            let _ = writeln!(notes, "- {persons} × {MONTHS}, ours by stage: {stages}");
        }
    }
    let header = format!(
        "ledgerflow {} ({}) — {cores} cores — DuckDB {}, Python polars {} — `cargo bench --bench pipeline`\n\n",
        env!("CARGO_PKG_VERSION"),
        commit(),
        duckdb_env::DUCKDB_VERSION,
        duckdb_env::POLARS_VERSION,
    );
    println!("\n{header}{table}\n{notes}");
    let results = target_dir().join("bench-results.md");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results)
        .map_err(|e| format!("{}: {e}", results.display()))?;
    writeln!(f, "{header}{table}\n{notes}").map_err(|e| format!("{}: {e}", results.display()))?;
    eprintln!("appended to {}", results.display());
    Ok(())
}
