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
            Some(d) => match day_text(d, &mut buf) {
                Some(t) => out.append_value(t),
                None => out.append_value(crate::domain::Date(d).to_string()),
            },
        }
    }
    out.finish()
}

/// Day `d` (since 1970-01-01) as `YYYY-MM-DD` in `buf`, for a year 0–9999 (`None`
/// for the others, which [`crate::domain::Date`]'s `Display` writes).
fn day_text(d: i32, buf: &mut [u8; 10]) -> Option<&str> {
    let (y, m, day) = crate::domain::Date(d).ymd();
    if !(0..=9999).contains(&y) {
        return None;
    }
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
    std::str::from_utf8(buf).ok()
}

/// The text [`text_of`] gives one cell of a DATE, integer or DECIMAL column, formatted
/// without polars (`None` for the other types: a cast of the one cell does it).
fn quick_cell_text(col: &Column, row: usize, is_period: bool) -> Option<String> {
    match col.dtype() {
        DataType::Date => {
            let Some(d) = col.date().ok()?.physical().get(row) else {
                return Some(String::new());
            };
            let mut buf = [0u8; 10];
            let t = match day_text(d, &mut buf) {
                Some(t) => t.to_string(),
                None => crate::domain::Date(d).to_string(),
            };
            Some(
                match t.strip_suffix("-01").filter(|m| is_period && m.len() == 7) {
                    Some(month) => month.to_string(),
                    None => t,
                },
            )
        }
        DataType::Int64 => Some(
            col.i64()
                .ok()?
                .get(row)
                .map_or(String::new(), |v| v.to_string()),
        ),
        DataType::Decimal(_, scale) => {
            let Some(v) = col.decimal().ok()?.physical().get(row) else {
                return Some(String::new());
            };
            let text = decimal_text(v, *scale);
            Some(match *scale > 2 {
                true => trim_decimal_zeros(&text).to_string(),
                false => text,
            })
        }
        _ => None,
    }
}

/// An unscaled DECIMAL value with `scale` places as polars writes it: `-12.50`,
/// `0.05`, `800` (scale 0).
fn decimal_text(v: i128, scale: usize) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{sign}{int}.{frac}")
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
    if let Some(text) = quick_cell_text(col, row, is_period) {
        return text;
    }
    text_of(&col.slice(row as i64, 1), is_period)
        .ok()
        .and_then(|c| c.get(0).map(str::to_string))
        .unwrap_or_default()
}

/// Row `line - 1` of every column, as text, joined with `,`. Each column's values of
/// those rows are gathered and formatted at once (one conversion per column, not one
/// per cell, and never a whole column for a few rows).
pub(super) fn parquet_raw_for_lines(df: &DataFrame, lines: &[u32]) -> Vec<String> {
    let rows: Vec<usize> = lines
        .iter()
        .map(|&line| (line as usize).wrapping_sub(1))
        .collect();
    // Per column: where each wanted row is among the gathered values (`None`: past
    // the column's end), and their text.
    let cols: Vec<(Vec<Option<usize>>, Option<StringChunked>)> = df
        .columns()
        .iter()
        .map(|c| {
            let (mut at, mut take) = (Vec::with_capacity(rows.len()), Vec::new());
            for &row in &rows {
                at.push((row < c.len()).then(|| {
                    take.push(row as IdxSize);
                    take.len() - 1
                }));
            }
            let text = c
                .take_slice(&take)
                .ok()
                .and_then(|t| column_as_text(&t).ok());
            (at, text)
        })
        .collect();
    (0..rows.len())
        .map(|k| {
            let mut s = String::new();
            for (i, (at, text)) in cols.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                if let Some(v) = at[k].and_then(|j| text.as_ref()?.get(j)) {
                    s.push_str(v);
                }
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of one typed cell formatted by hand is the text polars' cast gives
    /// (what a text check and `rejects.raw` saw before), for every type it covers.
    #[test]
    fn quick_cell_text_is_the_cast_text() {
        let days: Vec<Option<i32>> = vec![
            Some(0),
            Some(-1),
            Some(20_089),
            Some(20_090),
            Some(-719_162),
            Some(-800_000),
            Some(2_932_896),
            Some(3_000_000),
            None,
        ];
        let ints: Vec<Option<i64>> = vec![
            Some(0),
            Some(-1),
            Some(370_200),
            Some(i64::MAX),
            Some(i64::MIN),
            None,
        ];
        let decimals: Vec<Option<i128>> = vec![
            Some(0),
            Some(5),
            Some(-5),
            Some(80_000),
            Some(-123_456),
            Some(100),
            Some(99_999_999_999_999_999),
            Some(-1),
            None,
        ];
        let mut cols = vec![
            Int32Chunked::from_iter_options("d".into(), days.into_iter())
                .into_date()
                .into_column(),
            Int64Chunked::from_iter_options("i".into(), ints.into_iter()).into_column(),
        ];
        for scale in [0, 1, 2, 4] {
            cols.push(
                Int128Chunked::from_iter_options("m".into(), decimals.clone().into_iter())
                    .into_decimal(38, scale)
                    .unwrap()
                    .into_column(),
            );
        }
        for col in &cols {
            for row in 0..col.len() {
                for is_period in [false, true] {
                    let quick = quick_cell_text(col, row, is_period)
                        .unwrap_or_else(|| panic!("{}", col.name()));
                    let cast = text_of(&col.slice(row as i64, 1), is_period)
                        .unwrap()
                        .get(0)
                        .map(str::to_string)
                        .unwrap_or_default();
                    assert_eq!(quick, cast, "{} row {row} period {is_period}", col.dtype());
                }
            }
        }
        // Other types are left to the cast.
        let float = Column::new("f".into(), [0.1f64]);
        assert_eq!(quick_cell_text(&float, 0, false), None);
    }

    /// The raw text of chosen rows gathers each column once and gives every row's
    /// values in file order, empty past a column's end.
    #[test]
    fn raw_text_of_chosen_rows() {
        let df = DataFrame::new_infer_height(vec![
            Column::new("a".into(), ["x", "y", "z"]),
            Int128Chunked::from_vec("m".into(), vec![80_000, -5, 0])
                .into_decimal(18, 2)
                .unwrap()
                .into_column(),
            Int32Chunked::from_vec("d".into(), vec![20_089, 0, -1])
                .into_date()
                .into_column(),
        ])
        .unwrap();
        assert_eq!(
            parquet_raw_for_lines(&df, &[3, 1, 9, 3]),
            [
                "z,0.00,1969-12-31",
                "x,800.00,2025-01-01",
                ",,",
                "z,0.00,1969-12-31"
            ]
        );
    }
}
