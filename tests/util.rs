//! Shared helpers: run the binary, temp dirs, scenario pipeline files, reading the
//! Parquet tables and the manifest back as canonical strings.

use polars::prelude::*;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The five output tables of CONTRACT.md §4.
pub const TABLES: [&str; 5] = [
    "person_status",
    "person_month",
    "gaps",
    "findings",
    "rejects",
];

/// The national rule file of the checkout under test.
pub const NATIONAL_RULES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/rules/national.toml");

/// The sample pipeline of the checkout under test.
pub const SAMPLE_PIPELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/sample.toml");

/// Exit code and captured output of one `ledgerflow` invocation.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the full invocation unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "ledgerflow {:?}: expected exit code {code}, got {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn expect_ok(&self) -> &Self {
        self.expect_code(0)
    }
}

/// Runs the binary under test with `args`, capturing the exit code, stdout and stderr.
pub fn ledgerflow<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    ledgerflow_env(args, &[])
}

/// [`ledgerflow`] with extra environment variables (`LEDGERFLOW_PSEUDONYM_KEY` is
/// removed unless given here).
pub fn ledgerflow_env<S: AsRef<std::ffi::OsStr>>(args: &[S], envs: &[(&str, &str)]) -> Run {
    let bin = env!("CARGO_BIN_EXE_ledgerflow");
    let out = Command::new(bin)
        .args(args)
        .env_remove("LEDGERFLOW_PSEUDONYM_KEY")
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    Run {
        args: args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect(),
        // A signal (no code) shows as -1 so that it never equals an expected code.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The target directory of this build (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tmp.to_path_buf())
}

/// A fresh, empty folder `target/test-tmp/<name>-<pid>-<n>`.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = target_dir()
        .join("test-tmp")
        .join(format!("{name}-{}-{n}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Text of a TOML basic string holding `s` (paths may hold backslashes or quotes).
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `dir/ledger/ledger.csv`, optionally `dir/special_groups.csv`, and a pipeline
/// file `dir/pipeline.toml` with the national rules, outputs in `dir/out` (all five
/// tables) and the given reject-ratio gate. Returns the pipeline file's path.
pub fn write_pipeline_with_gate(
    dir: &Path,
    ledger_csv: &str,
    special_groups_csv: Option<&str>,
    max_reject_ratio: f64,
) -> PathBuf {
    write_pipeline_full(
        dir,
        ledger_csv,
        special_groups_csv,
        Path::new(NATIONAL_RULES),
        max_reject_ratio,
    )
}

/// [`write_pipeline_with_gate`] with a rule file of one's own.
pub fn write_pipeline_full(
    dir: &Path,
    ledger_csv: &str,
    special_groups_csv: Option<&str>,
    rules: &Path,
    max_reject_ratio: f64,
) -> PathBuf {
    write(
        &dir.join("ledger").join("ledger.csv"),
        ledger_csv.trim_start(),
    );
    let mut toml = String::new();
    writeln!(
        toml,
        "[pipeline]\nname = \"scenario\"\nrules = {}\n",
        toml_str(&rules.to_string_lossy())
    )
    .unwrap();
    writeln!(toml, "[inputs]\nledger = \"ledger\"").unwrap();
    if let Some(sg) = special_groups_csv {
        write(&dir.join("special_groups.csv"), sg.trim_start());
        writeln!(toml, "special_groups = \"special_groups.csv\"").unwrap();
    }
    writeln!(toml, "encoding = \"utf-8\"\n").unwrap();
    let tables: Vec<String> = TABLES.iter().map(|t| format!("\"{t}\"")).collect();
    writeln!(
        toml,
        "[outputs]\ndir = \"out\"\ntables = [{}]\n",
        tables.join(", ")
    )
    .unwrap();
    writeln!(toml, "[quality]\nmax_reject_ratio = {max_reject_ratio:?}\n").unwrap();
    writeln!(toml, "[privacy]\npseudonymize = false").unwrap();
    let path = dir.join("pipeline.toml");
    write(&path, &toml);
    path
}

/// [`write_pipeline_with_gate`] with a gate that never fires (scenarios have rejects).
pub fn write_pipeline(dir: &Path, ledger_csv: &str, special_groups_csv: Option<&str>) -> PathBuf {
    write_pipeline_with_gate(dir, ledger_csv, special_groups_csv, 1.0)
}

/// A table read back as canonical strings (see [`cell`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The values of one column; panics naming the columns if it is missing.
    #[track_caller]
    pub fn column(&self, name: &str) -> Vec<&str> {
        let i = self
            .col(name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.columns));
        self.rows.iter().map(|r| r[i].as_str()).collect()
    }

    pub fn to_csv(&self) -> String {
        let mut s = self.columns.join(",");
        s.push('\n');
        for r in &self.rows {
            s.push_str(&r.join(","));
            s.push('\n');
        }
        s
    }
}

/// `OUT/<table>/as_of=<as_of>/`.
pub fn partition_dir(out: &Path, table: &str, as_of: &str) -> PathBuf {
    out.join(table).join(format!("as_of={as_of}"))
}

/// The Parquet files of a partition, sorted by name; panics if there is none.
#[track_caller]
pub fn partition_files(out: &Path, table: &str, as_of: &str) -> Vec<PathBuf> {
    let dir = partition_dir(out, table, as_of);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.parquet file in {}", dir.display());
    files
}

/// Reads one Parquet file with polars.
pub fn read_parquet(path: &Path) -> DataFrame {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    ParquetReader::new(f)
        .finish()
        .unwrap_or_else(|e| panic!("polars cannot read {}: {e}", path.display()))
}

/// Reads every part of `OUT/<table>/as_of=<as_of>/` (in file-name order) as strings.
#[track_caller]
pub fn read_table(out: &Path, table: &str, as_of: &str) -> Table {
    let mut result: Option<Table> = None;
    for file in partition_files(out, table, as_of) {
        let t = frame_to_table(&read_parquet(&file));
        match &mut result {
            None => result = Some(t),
            Some(acc) => {
                assert_eq!(
                    acc.columns,
                    t.columns,
                    "parts of {table} disagree on columns ({})",
                    file.display()
                );
                acc.rows.extend(t.rows);
            }
        }
    }
    result.expect("at least one part")
}

/// Converts a DataFrame to canonical strings, row by row.
pub fn frame_to_table(df: &DataFrame) -> Table {
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let cols = df.columns();
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let row = cols
            .iter()
            .map(|c| {
                let v = c
                    .get(i)
                    .unwrap_or_else(|e| panic!("column {}: row {i}: {e}", c.name()));
                cell(&v)
            })
            .collect();
        rows.push(row);
    }
    Table { columns, rows }
}

/// Canonical string of a cell: Date `YYYY-MM-DD`, Decimal with its scale (`1600.00`),
/// Boolean `true`/`false`, null empty, integers as integers, floats in Rust's shortest
/// round-trip form (`1`, `0.5`).
pub fn cell(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Int8(x) => x.to_string(),
        AnyValue::Int16(x) => x.to_string(),
        AnyValue::Int32(x) => x.to_string(),
        AnyValue::Int64(x) => x.to_string(),
        AnyValue::UInt8(x) => x.to_string(),
        AnyValue::UInt16(x) => x.to_string(),
        AnyValue::UInt32(x) => x.to_string(),
        AnyValue::UInt64(x) => x.to_string(),
        AnyValue::Float32(x) => x.to_string(),
        AnyValue::Float64(x) => x.to_string(),
        AnyValue::Date(days) => date_from_days(*days),
        AnyValue::Decimal(v, _precision, scale) => decimal(*v, *scale),
        other => panic!("unexpected cell type {:?}: {other:?}", other.dtype()),
    }
}

/// `YYYY-MM-DD` of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
pub fn date_from_days(days: i32) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A decimal integer `v` with `scale` digits after the point, e.g. (160000, 2) → `1600.00`.
pub fn decimal(v: i128, scale: usize) -> String {
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let s = if scale == 0 {
        digits
    } else {
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{int}.{frac}")
    };
    if neg { format!("-{s}") } else { s }
}

/// `OUT/_manifests/<as_of>.json`, parsed.
#[track_caller]
pub fn read_manifest(out: &Path, as_of: &str) -> serde_json::Value {
    let path = out.join("_manifests").join(format!("{as_of}.json"));
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `totals.<key>` of a manifest as an integer; panics naming the key if absent.
#[track_caller]
pub fn total(manifest: &serde_json::Value, key: &str) -> i64 {
    manifest
        .get("totals")
        .and_then(|t| t.get(key))
        .and_then(|v| v.as_i64())
        .unwrap_or_else(|| panic!("manifest has no integer totals.{key}: {manifest}"))
}

/// Every file under `dir`, as (path relative to `dir`, bytes), sorted by path.
pub fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, acc: &mut Vec<(String, Vec<u8>)>) {
        for entry in
            fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                walk(root, &p, acc);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes =
                    fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
                acc.push((rel, bytes));
            }
        }
    }
    let mut acc = Vec::new();
    walk(dir, dir, &mut acc);
    acc.sort_by(|a, b| a.0.cmp(&b.0));
    acc
}

/// The `*.parquet` files under `dir` (relative path, bytes), sorted by path.
pub fn parquet_files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .collect()
}

/// Removes every object key `name` anywhere in a JSON value.
pub fn strip_key(v: &mut serde_json::Value, name: &str) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove(name);
            for x in map.values_mut() {
                strip_key(x, name);
            }
        }
        serde_json::Value::Array(xs) => {
            for x in xs {
                strip_key(x, name);
            }
        }
        _ => {}
    }
}

#[test]
fn canonical_cells() {
    assert_eq!(decimal(160000, 2), "1600.00");
    assert_eq!(decimal(5, 2), "0.05");
    assert_eq!(decimal(-1240, 2), "-12.40");
    assert_eq!(decimal(0, 2), "0.00");
    assert_eq!(date_from_days(0), "1970-01-01");
    assert_eq!(date_from_days(20089), "2025-01-01");
    assert_eq!(date_from_days(20148), "2025-03-01");
    assert_eq!(date_from_days(19782), "2024-02-29");
    assert_eq!(date_from_days(-1), "1969-12-31");
    assert_eq!(cell(&AnyValue::Float64(1.0)), "1");
    assert_eq!(cell(&AnyValue::Float64(0.5)), "0.5");
    assert_eq!(cell(&AnyValue::Null), "");
    assert_eq!(cell(&AnyValue::Boolean(true)), "true");
}
