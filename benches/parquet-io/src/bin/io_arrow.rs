//! The `parquet` and `arrow` crates (arrow-rs) on ledgerflow's reads and writes.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Float64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet_io::*;
use std::fs::File;
use std::path::{Path, PathBuf};

fn err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// The batches of one file: the columns `wanted` (all when `None`), by their Parquet
/// types (no embedded Arrow schema, as ledgerflow would build its own arrays).
fn batches(path: &Path, wanted: Option<&[&str]>) -> IoResult<Vec<RecordBatch>> {
    let f = File::open(path).map_err(err(path))?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(f, options).map_err(err(path))?;
    let builder = match wanted {
        Some(wanted) => {
            let schema = builder.parquet_schema();
            let roots: Vec<usize> = (0..schema.root_schema().get_fields().len())
                .filter(|&i| wanted.contains(&schema.root_schema().get_fields()[i].name()))
                .collect();
            let mask = ProjectionMask::roots(schema, roots);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder
        .with_batch_size(ROW_GROUP)
        .build()
        .map_err(err(path))?;
    reader.map(|b| b.map_err(err(path))).collect()
}

fn read_file(path: &Path) -> IoResult<Sums> {
    let mut s = Sums::default();
    for batch in batches(path, Some(&LEDGER))? {
        s.rows += batch.num_rows() as u64;
        for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
            let name = field.name().as_str();
            s.nulls += col.null_count() as u64;
            let bad = || format!("{}: column {name} is {}", path.display(), col.data_type());
            if DECIMALS.contains(&name) {
                let a = col.as_primitive_opt::<Decimal128Type>().ok_or_else(bad)?;
                s.fen += a.iter().flatten().sum::<i128>();
            } else if DATES.contains(&name) {
                let a = col.as_primitive_opt::<Date32Type>().ok_or_else(bad)?;
                s.days += a.iter().flatten().map(i64::from).sum::<i64>();
            } else if DOUBLES.contains(&name) {
                let a = col.as_primitive_opt::<Float64Type>().ok_or_else(bad)?;
                s.base += a.iter().flatten().sum::<f64>();
            } else if *col.data_type() == DataType::Utf8 {
                let a = col.as_string::<i32>();
                s.string_bytes += a.iter().flatten().map(|v| v.len() as u64).sum::<u64>();
            } else {
                return Err(bad());
            }
        }
    }
    Ok(s)
}

fn load(parts: &[PathBuf]) -> IoResult<Vec<RecordBatch>> {
    let mut all = Vec::new();
    for p in parts {
        all.extend(batches(p, None)?);
    }
    Ok(all)
}

/// As src/output.rs: zstd (polars' level), full statistics, row groups of ROW_GROUP
/// rows; arrow-rs' other defaults (dictionary encoding on).
fn write_table(batches: &[RecordBatch], path: &Path) -> IoResult<u64> {
    let first = batches
        .first()
        .ok_or_else(|| format!("{}: no rows", path.display()))?;
    let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(err(path))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let f = File::create(path).map_err(err(path))?;
    let mut w = ArrowWriter::try_new(f, first.schema(), Some(props)).map_err(err(path))?;
    for b in batches {
        w.write(b).map_err(err(path))?;
    }
    w.close().map_err(err(path))?;
    std::fs::metadata(path).map(|m| m.len()).map_err(err(path))
}

struct ArrowRs;

impl Io for ArrowRs {
    const NAME: &'static str = "arrow-rs";
    type Table = Vec<RecordBatch>;
    fn read_file(path: &Path) -> IoResult<Sums> {
        read_file(path)
    }
    fn load(parts: &[PathBuf]) -> IoResult<Vec<RecordBatch>> {
        load(parts)
    }
    fn rows(table: &Vec<RecordBatch>) -> usize {
        table.iter().map(|b| b.num_rows()).sum()
    }
    fn write_table(table: &mut Vec<RecordBatch>, path: &Path) -> IoResult<u64> {
        write_table(table, path)
    }
}

fn main() -> IoResult<()> {
    main_for::<ArrowRs>()
}
