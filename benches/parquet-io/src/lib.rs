//! What both binaries share: the command line, the file lists, the report line.
//!
//!     io-polars read LEDGER_DIR            # every *.parquet, the ledger columns
//!     io-polars write TABLES_DIR OUT_DIR   # rewrite ledgerflow's output tables
//!
//! (`io-arrow` the same.) `read` decodes the columns ledgerflow reads and folds every
//! value into [`Sums`], so both libraries must produce the same numbers. `write`
//! loads every `TABLES_DIR/<table>/*/*.parquet` (a ledgerflow OUT), then writes each
//! table as one zstd file with full statistics and row groups of [`ROW_GROUP`] rows,
//! the tables side by side, and times only the writing.

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The ledger columns ledgerflow reads (CONTRACT.md §2.1; the bench data has no
/// `txn_id`).
pub const LEDGER: [&str; 9] = [
    "person_id",
    "period",
    "scheme",
    "payer",
    "amount",
    "base",
    "paid_on",
    "region",
    "employer_id",
];
/// Decimal columns (fen), DATE columns (days) and the DOUBLE column of the ledger.
pub const DECIMALS: [&str; 1] = ["amount"];
pub const DATES: [&str; 1] = ["paid_on"];
pub const DOUBLES: [&str; 1] = ["base"];
/// ledgerflow's output tables and their row-group size (src/output.rs).
pub const TABLES: [&str; 5] = [
    "person_status",
    "person_month",
    "gaps",
    "findings",
    "rejects",
];
pub const ROW_GROUP: usize = 122_880;
/// zstd level: polars' `Zstd(None)` is zstd's default, 3; arrow-rs' default is 1.
pub const ZSTD_LEVEL: i32 = 3;

pub type IoResult<T> = Result<T, String>;

/// Every value read, folded: both libraries must agree on all of it.
#[derive(Default, Debug, PartialEq, Clone, Copy)]
pub struct Sums {
    pub rows: u64,
    pub nulls: u64,
    pub string_bytes: u64,
    pub days: i64,
    pub fen: i128,
    pub base: f64,
}

impl Sums {
    pub fn add(&mut self, o: &Sums) {
        self.rows += o.rows;
        self.nulls += o.nulls;
        self.string_bytes += o.string_bytes;
        self.days += o.days;
        self.fen += o.fen;
        self.base += o.base;
    }
}

/// One library's side: how it reads a ledger file and loads and writes a table.
pub trait Io {
    const NAME: &'static str;
    type Table: Send + Sync;
    /// Decodes the [`LEDGER`] columns of one file into [`Sums`].
    fn read_file(path: &Path) -> IoResult<Sums>;
    /// One output table from its part files (not timed).
    fn load(parts: &[PathBuf]) -> IoResult<Self::Table>;
    fn rows(table: &Self::Table) -> usize;
    /// Writes `table` to `path` as ledgerflow does; returns the bytes written.
    fn write_table(table: &mut Self::Table, path: &Path) -> IoResult<u64>;
}

/// The command line of both binaries (module docs).
pub fn main_for<I: Io>() -> IoResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "read" => {
            let files = parquet_files(Path::new(dir))?;
            let start = Instant::now();
            let parts: Vec<Sums> = files
                .par_iter()
                .map(|p| I::read_file(p))
                .collect::<IoResult<_>>()?;
            let mut s = Sums::default();
            parts.iter().for_each(|p| s.add(p));
            report(
                I::NAME,
                "read",
                start,
                &format!("{} files, {s:?}", files.len()),
            );
        }
        [cmd, tables, out] if cmd == "write" => {
            let (tables, out) = (Path::new(tables), Path::new(out));
            std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
            let mut loaded: Vec<(&str, I::Table)> = TABLES
                .iter()
                .map(|t| Ok((*t, I::load(&table_parts(tables, t)?)?)))
                .collect::<IoResult<_>>()?;
            let rows: usize = loaded.iter().map(|(_, t)| I::rows(t)).sum();
            let start = Instant::now();
            // The tables side by side, as ledgerflow writes them.
            let bytes: Vec<u64> = loaded
                .par_iter_mut()
                .map(|(name, t)| I::write_table(t, &out.join(format!("{name}.parquet"))))
                .collect::<IoResult<_>>()?;
            let detail = format!(
                "{} tables, {rows} rows, {} bytes",
                loaded.len(),
                bytes.iter().sum::<u64>()
            );
            report(I::NAME, "write", start, &detail);
        }
        _ => return Err("usage: read LEDGER_DIR | write TABLES_DIR OUT_DIR".into()),
    }
    Ok(())
}

/// `*.parquet` directly in `dir`, sorted.
pub fn parquet_files(dir: &Path) -> IoResult<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no *.parquet", dir.display()));
    }
    Ok(files)
}

/// The part files of one output table: `TABLES_DIR/<table>/as_of=*/part-*.parquet`.
pub fn table_parts(tables: &Path, table: &str) -> IoResult<Vec<PathBuf>> {
    let dir = tables.join(table);
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let sub = entry.map_err(|e| e.to_string())?.path();
        if sub.is_dir() {
            parts.extend(parquet_files(&sub)?);
        }
    }
    parts.sort();
    Ok(parts)
}

pub fn report(lib: &str, what: &str, start: Instant, detail: &str) {
    println!(
        "{lib} {what}: {:.2} s — {detail}",
        start.elapsed().as_secs_f64()
    );
}
