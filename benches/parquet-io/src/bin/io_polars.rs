//! polars 0.55 (ledgerflow's version and features) on ledgerflow's reads and writes.

use parquet_io::*;
use polars::prelude::*;
use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};

fn err(path: &Path) -> impl Fn(PolarsError) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// As src/ingest.rs: the whole file in memory, the ledger columns projected.
fn read_file(path: &Path) -> IoResult<Sums> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = ParquetReader::new(Cursor::new(data));
    let schema = reader.schema().map_err(err(path))?;
    let projection: Vec<usize> = schema
        .iter_names()
        .enumerate()
        .filter(|(_, n)| LEDGER.contains(&n.as_str()))
        .map(|(i, _)| i)
        .collect();
    let df = reader
        .with_projection(Some(projection))
        .finish()
        .map_err(err(path))?;
    let mut s = Sums {
        rows: df.height() as u64,
        ..Sums::default()
    };
    for col in df.columns() {
        let name = col.name().as_str();
        s.nulls += col.null_count() as u64;
        if DECIMALS.contains(&name) {
            s.fen += col
                .decimal()
                .map_err(err(path))?
                .physical()
                .iter()
                .flatten()
                .sum::<i128>();
        } else if DATES.contains(&name) {
            s.days += col
                .date()
                .map_err(err(path))?
                .physical()
                .iter()
                .flatten()
                .map(i64::from)
                .sum::<i64>();
        } else if DOUBLES.contains(&name) {
            s.base += col.f64().map_err(err(path))?.iter().flatten().sum::<f64>();
        } else {
            s.string_bytes += col
                .str()
                .map_err(err(path))?
                .iter()
                .flatten()
                .map(|v| v.len() as u64)
                .sum::<u64>();
        }
    }
    Ok(s)
}

fn load(parts: &[PathBuf]) -> IoResult<DataFrame> {
    let mut all: Option<DataFrame> = None;
    for p in parts {
        let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let df = ParquetReader::new(f).finish().map_err(err(p))?;
        match &mut all {
            None => all = Some(df),
            Some(a) => {
                a.vstack_mut(&df).map_err(err(p))?;
            }
        }
    }
    let mut df = all.ok_or("a table without part files")?;
    df.rechunk_mut();
    Ok(df)
}

/// As src/output.rs: zstd, full statistics, row groups of ROW_GROUP rows.
fn write_table(df: &mut DataFrame, path: &Path) -> IoResult<u64> {
    let f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ParquetWriter::new(f)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::full())
        .with_row_group_size(Some(ROW_GROUP))
        .finish(df)
        .map_err(err(path))
}

struct Polars;

impl Io for Polars {
    const NAME: &'static str = "polars";
    type Table = DataFrame;
    fn read_file(path: &Path) -> IoResult<Sums> {
        read_file(path)
    }
    fn load(parts: &[PathBuf]) -> IoResult<DataFrame> {
        load(parts)
    }
    fn rows(table: &DataFrame) -> usize {
        table.height()
    }
    fn write_table(table: &mut DataFrame, path: &Path) -> IoResult<u64> {
        write_table(table, path)
    }
}

fn main() -> IoResult<()> {
    main_for::<Polars>()
}
