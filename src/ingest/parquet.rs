//! Parquet: the wanted columns of a file, strings as text and dates, decimals,
//! integers and doubles in their stored types (see [`super::Cells`]).

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
    // A wanted column of a type that holds no single value is refused by name before
    // reading: polars' reader panics on some (a map), fails obscurely on others.
    for (&i, field) in projection
        .iter()
        .zip(projection.iter().map(|&i| schema.get_at_index(i)))
    {
        if let Some((_, field)) = field
            && let Some(kind) = unreadable(&field.dtype)
        {
            return Err(Error::input(
                path,
                format!(
                    "column {}: a Parquet {kind} column cannot hold a ledger value (expected text, a number or a date)",
                    header[i]
                ),
            ));
        }
    }
    let df = reader
        .with_projection(Some(projection))
        .finish()
        .map_err(bad)?;
    Ok((df, header, height))
}

/// The kind of a stored type that is no single value (nested, interval), by name;
/// `None` for every type [`column_as_text`] or the typed checks read.
fn unreadable(t: &ArrowDataType) -> Option<&'static str> {
    use ArrowDataType as A;
    match t {
        A::Dictionary(_, values, _) => unreadable(values),
        A::List(_) | A::LargeList(_) | A::FixedSizeList(..) => Some("list"),
        A::Struct(_) => Some("struct"),
        A::Map(..) => Some("map"),
        A::Union(_) => Some("union"),
        A::Interval(_) => Some("interval"),
        A::Unknown => Some("unknown-type"),
        _ => None,
    }
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
    let mut typed: Vec<Option<Column>> = vec![None; wanted.len()];
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
            let cannot = |e: PolarsError| {
                Error::input(
                    path,
                    format!("column {}: cannot read as text: {e}", header[idx]),
                )
            };
            match stored_type(col).map_err(cannot)? {
                Some(t) => typed[w] = Some(t),
                None => columns[w] = Some(text_of(col, wanted[w] == "period").map_err(cannot)?),
            }
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
        typed,
        wanted: wanted.iter().map(|w| w.to_string()).collect(),
        lines: (1..=last).collect(),
        parse_errors: Vec::new(),
        unknown_columns,
        source: Source::Parquet(df),
    })
}

/// A column kept in its stored type, as one chunk: DATE (a DATETIME by its day),
/// DECIMAL, integers (as `Int64`) and DOUBLE; `None` for every other type (strings
/// and the rest are read as text).
fn stored_type(col: &Column) -> PolarsResult<Option<Column>> {
    let one_chunk = |c: Column| if c.n_chunks() > 1 { c.rechunk() } else { c };
    Ok(match col.dtype() {
        DataType::Date | DataType::Decimal(_, _) | DataType::Float64 => {
            Some(one_chunk(col.clone()))
        }
        DataType::Datetime(_, _) => Some(one_chunk(col.cast(&DataType::Date)?)),
        DataType::Int64 => Some(one_chunk(col.clone())),
        // Every other integer widens to `Int64` without loss.
        t if t.is_integer() && !matches!(t, DataType::UInt64 | DataType::Int128) => {
            Some(one_chunk(col.strict_cast(&DataType::Int64)?))
        }
        _ => None,
    })
}

/// A column as the text it is checked as: [`column_as_text`], and for `period`
/// (`is_period`) a DATE on the 1st of a month as that month: our own outputs store
/// `period` as a DATE; any other day stays a full date and is a BAD_PERIOD.
pub(super) fn text_of(col: &Column, is_period: bool) -> PolarsResult<StringChunked> {
    let ca = column_as_text(col)?;
    if !(is_period && matches!(col.dtype(), DataType::Date | DataType::Datetime(_, _))) {
        return Ok(ca);
    }
    Ok(ca
        .iter()
        .map(|v| v.map(|t| t.strip_suffix("-01").filter(|m| m.len() == 7).unwrap_or(t)))
        .collect::<StringChunked>()
        .with_name(ca.name().clone()))
}

/// The text of row `row` of a column, as [`text_of`] gives it (`""` for null):
/// only that value is formatted.
pub(super) fn cell_text(col: &Column, row: usize, is_period: bool) -> String {
    if row >= col.len() {
        return String::new();
    }
    text_of(&col.slice(row as i64, 1), is_period)
        .ok()
        .and_then(|c| c.get(0).map(str::to_string))
        .unwrap_or_default()
}

/// Row `line - 1` of every column, as text, joined with `,`. A few rows format only
/// their own values; many rows format the columns once.
pub(super) fn parquet_raw_for_lines(df: &DataFrame, lines: &[u32]) -> Vec<String> {
    let join = |row: usize, value: &dyn Fn(usize, usize) -> Option<String>| {
        let mut s = String::new();
        for i in 0..df.width() {
            if i > 0 {
                s.push(',');
            }
            if let Some(v) = value(i, row) {
                s.push_str(&v);
            }
        }
        s
    };
    let rows = lines.iter().map(|&line| (line as usize).wrapping_sub(1));
    if lines.len().saturating_mul(64) < df.height() {
        let cell = |i: usize, row: usize| {
            let c = &df.columns()[i];
            (row < c.len())
                .then(|| column_as_text(&c.slice(row as i64, 1)).ok())
                .flatten()
                .and_then(|t| t.get(0).map(str::to_string))
        };
        return rows.map(|row| join(row, &cell)).collect();
    }
    let cols: Vec<Option<StringChunked>> = df
        .columns()
        .iter()
        .map(|c| column_as_text(c).ok())
        .collect();
    let cell = |i: usize, row: usize| {
        cols[i]
            .as_ref()
            .filter(|c| row < c.len())
            .and_then(|c| c.get(row))
            .map(str::to_string)
    };
    rows.map(|row| join(row, &cell)).collect()
}
