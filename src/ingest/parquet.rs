//! Parquet: the wanted columns of a file, as text.

use super::{Format, Source, Table, match_header, normalise_name, single_chunk};
use crate::error::{Error, Result};
use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;

/// The columns of a Parquet file that are in `wanted` (by trimmed, lowercased name),
/// read without the others: an unknown column of a type polars cannot turn into a
/// series (a struct, a list) is never read. Returns the frame, every column name of the
/// file (normalised, file order) and the file's row count.
pub(super) fn parquet_frame(
    path: &Path,
    data: &[u8],
    wanted: &[&str],
) -> Result<(DataFrame, Vec<String>, usize)> {
    let bad = |e: PolarsError| Error::input(path, format!("cannot read Parquet: {e}"));
    let mut reader = ParquetReader::new(Cursor::new(data));
    let schema = reader.schema().map_err(bad)?;
    let header: Vec<String> = schema.iter_names().map(|n| normalise_name(n)).collect();
    let height = reader.num_rows().map_err(bad)?;
    let projection: Vec<usize> = (0..header.len())
        .filter(|&i| wanted.contains(&header[i].as_str()))
        .collect();
    let df = reader
        .with_projection(Some(projection))
        .finish()
        .map_err(bad)?;
    Ok((df, header, height))
}

/// A column as text: dates `YYYY-MM-DD` (datetimes by their date), numbers and
/// decimals as decimal text (a decimal's zeros past 2 places dropped: `800.0000` of a
/// `DECIMAL(18,4)` reads `800.00`), nulls stay null.
pub(super) fn column_as_text(col: &Column) -> PolarsResult<StringChunked> {
    let col = match col.dtype() {
        DataType::Datetime(_, _) => col.cast(&DataType::Date)?,
        _ => col.clone(),
    };
    if col.dtype() == &DataType::Date {
        return Ok(dates_as_text(col.name().clone(), col.date()?.physical()));
    }
    let wide_decimal = matches!(col.dtype(), DataType::Decimal(_, scale) if *scale > 2);
    let s = col.cast(&DataType::String)?;
    let ca = single_chunk(s.str()?);
    if !wide_decimal {
        return Ok(ca);
    }
    let trimmed: StringChunked = ca.iter().map(|v| v.map(trim_decimal_zeros)).collect();
    Ok(trimmed.with_name(ca.name().clone()))
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (formatting by hand: polars' strftime path
/// costs more than reading the file).
pub(super) fn dates_as_text(name: PlSmallStr, days: &Int32Chunked) -> StringChunked {
    let mut out = StringChunkedBuilder::new(name, days.len());
    let mut buf = [0u8; 10];
    for d in days.iter() {
        match d {
            None => out.append_null(),
            Some(d) => {
                let (y, m, day) = crate::domain::Date(d).ymd();
                if (0..=9999).contains(&y) {
                    let y = y as u32;
                    for (i, v) in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10]
                        .into_iter()
                        .enumerate()
                    {
                        buf[i] = b'0' + v as u8;
                    }
                    buf[4] = b'-';
                    buf[5] = b'0' + (m / 10) as u8;
                    buf[6] = b'0' + (m % 10) as u8;
                    buf[7] = b'-';
                    buf[8] = b'0' + (day / 10) as u8;
                    buf[9] = b'0' + (day % 10) as u8;
                    out.append_value(std::str::from_utf8(&buf).unwrap_or(""));
                } else {
                    out.append_value(crate::domain::Date(d).to_string());
                }
            }
        }
    }
    out.finish()
}

/// `800.0000` → `800.00`; significant places are kept (`0.0050` → `0.005`).
pub(super) fn trim_decimal_zeros(v: &str) -> &str {
    match v.find('.') {
        Some(dot) => {
            let keep = v.trim_end_matches('0').len().max(dot + 3).min(v.len());
            &v[..keep]
        }
        None => v,
    }
}

pub(super) fn read_parquet(path: &Path, data: &[u8], wanted: &[&str]) -> Result<Table> {
    let (df, header, height) = parquet_frame(path, data, wanted)?;
    let (found, unknown_columns) = match_header(path, &header, wanted)?;
    if df.width() > 0 && df.height() != height {
        return Err(Error::input(
            path,
            format!(
                "Parquet reader found {} rows where the footer says {height}",
                df.height()
            ),
        ));
    }
    let mut columns: Vec<Option<StringChunked>> = vec![None; wanted.len()];
    for (w, idx) in found.iter().enumerate() {
        if let Some(&idx) = idx.as_ref() {
            // The frame holds only the wanted columns, in file order.
            let at = found.iter().flatten().filter(|&&i| i < idx).count();
            let col = df.columns().get(at).ok_or_else(|| {
                Error::input(
                    path,
                    format!("column {}: missing from the Parquet reader", header[idx]),
                )
            })?;
            let mut ca = column_as_text(col).map_err(|e| {
                Error::input(
                    path,
                    format!("column {}: cannot read as text: {e}", header[idx]),
                )
            })?;
            // A `period` stored as DATE (as our own outputs store it) is the month of
            // its first day; any other day stays a full date and is a BAD_PERIOD.
            if wanted[w] == "period"
                && matches!(col.dtype(), DataType::Date | DataType::Datetime(_, _))
            {
                ca = ca
                    .iter()
                    .map(|v| v.map(|t| t.strip_suffix("-01").filter(|m| m.len() == 7).unwrap_or(t)))
                    .collect::<StringChunked>()
                    .with_name(ca.name().clone());
            }
            columns[w] = Some(ca);
        }
    }
    let last = u32::try_from(height).map_err(|_| Error::input(path, "file has too many rows"))?;
    Ok(Table {
        path: path.to_path_buf(),
        format: Format::Parquet,
        bytes: 0,
        sha256: String::new(),
        header,
        columns,
        lines: (1..=last).collect(),
        parse_errors: Vec::new(),
        unknown_columns,
        source: Source::Parquet(df),
    })
}

/// Row `line - 1` of every column, as text, joined with `,`.
pub(super) fn parquet_raw_for_lines(df: &DataFrame, lines: &[u32]) -> Vec<String> {
    let cols: Vec<Option<StringChunked>> = df
        .columns()
        .iter()
        .map(|c| column_as_text(c).ok())
        .collect();
    lines
        .iter()
        .map(|&line| {
            let row = (line as usize).wrapping_sub(1);
            let mut s = String::new();
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                if let Some(v) = c
                    .as_ref()
                    .filter(|c| row < c.len())
                    .and_then(|c| c.get(row))
                {
                    s.push_str(v);
                }
            }
            s
        })
        .collect()
}
