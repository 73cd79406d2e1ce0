//! Input files → tables of columns (CONTRACT.md §2), plus the line of every row.
//!
//! This module knows file formats, not rules: it finds the input files
//! ([`discover`]), reads one file into a [`Table`] of `String` columns, Parquet
//! DATE / DECIMAL / integer / DOUBLE columns kept in their stored type ([`Cells`])
//! ([`read_table`]), and can give back the text of chosen rows for `rejects.raw`
//! ([`Table::raw_rows`], [`raw_records`]). Checking the values is `validate`'s job.
//!
//! CSV is read in two steps. A quote-aware pre-scan over the (decoded) bytes finds
//! every record, its first physical line and its field count; records that cannot be
//! split into the header's fields (ragged rows, unterminated or stray quotes, bytes
//! that are not valid text) become [`ParseError`]s and are left out of the buffer
//! handed to polars, so one bad line never stops a file. The clean buffer (the file
//! itself when every record is good, no copy) is then parsed by polars' CSV reader
//! with every column typed `String`, and row `i` maps back to `lines[i]`.
//!
//! The pre-scan is deliberately strict (RFC 4180): a quote may only open a field and
//! must close it. polars finds record boundaries by quote parity, so a stray quote
//! would shift every later record; rejecting such a record keeps both readers in step.
//! A bad record is reported on the line it starts on and covers that line only: the
//! lines after it are scanned again, so one broken quote costs one row.

use crate::domain::Encoding;
use crate::error::{Error, Result};
use polars::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

mod csv;
mod discover;
mod parquet;
mod xlsx;
pub use discover::{discover, discover_as};
pub use xlsx::CellFault;

use self::csv::{CsvText, csv_raw_for_lines, decode, read_csv};
use self::parquet::{parquet_frame, parquet_raw_for_lines, read_parquet};

/// The arrow array behind a `String` column chunk.
pub type StrArray = <StringType as PolarsDataType>::Array;

/// Longest `raw` text kept for a record that cannot be parsed.
const MAX_RAW_CHARS: usize = 4096;

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// File format, told by content (Parquet magic `PAR1`), else by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    /// `.xlsx` / `.xls` workbook (one sheet of it).
    Excel,
}

/// A record that could not be split into the header's fields (`PARSE_ERROR`).
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: u32,
    pub message: String,
    /// The record's text (lossy for bytes that are not valid text).
    pub raw: String,
}

/// One input file as columns: text, or (Parquet) a column in its stored type.
pub struct Table {
    pub path: PathBuf,
    pub format: Format,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Header names, trimmed and lowercased, in file order.
    pub header: Vec<String>,
    /// The requested columns read as text, in request order; `None` when the file
    /// lacks one or holds it in [`Table::typed`]. Each present column is one chunk of
    /// `height()` values; null = empty.
    pub columns: Vec<Option<StringChunked>>,
    /// Parquet: the requested columns kept in their stored type (DATE, DECIMAL, an
    /// integer as `Int64`, DOUBLE), one chunk each; empty for CSV and Excel.
    typed: Vec<Option<Column>>,
    /// The requested column names (Parquet), for the text of typed values.
    wanted: Vec<String>,
    /// 1-based line of each row (CSV: the physical line a record starts on, header =
    /// line 1; Parquet: row index + 1; Excel: the sheet row).
    pub lines: Vec<u32>,
    /// Records left out because they could not be parsed, in line order.
    pub parse_errors: Vec<ParseError>,
    /// Header names the caller did not ask for, sorted and de-duplicated.
    pub unknown_columns: Vec<String>,
    source: Source,
}

enum Source {
    Csv(CsvText),
    Parquet(DataFrame),
    Excel(xlsx::SheetRows),
}

impl Table {
    /// Number of parsed rows (the rows of `columns`).
    pub fn height(&self) -> usize {
        self.lines.len()
    }

    /// Records read: parsed rows plus parse errors (header and blank lines excluded).
    pub fn rows_read(&self) -> u64 {
        (self.lines.len() + self.parse_errors.len()) as u64
    }

    /// A text column by request index, as an array view (`None` when the file lacks
    /// it or holds it typed).
    pub fn column(&self, idx: usize) -> Option<&StrArray> {
        self.columns.get(idx)?.as_ref()?.downcast_get(0)
    }

    /// Whether the file has the requested column `idx` (as text or typed).
    pub fn has_column(&self, idx: usize) -> bool {
        self.columns.get(idx).is_some_and(Option::is_some)
            || self.typed.get(idx).is_some_and(Option::is_some)
    }

    /// A column by request index as a view of its cells: text, or the stored type of
    /// a typed Parquet column (`None` when the file lacks it).
    pub fn cells(&self, idx: usize) -> Option<Cells<'_>> {
        if let Some(a) = self.column(idx) {
            return Some(Cells::Text(a));
        }
        let col = self.typed.get(idx)?.as_ref()?;
        let cells = match col.dtype() {
            DataType::Date => Cells::Days(col.date().ok()?.physical().downcast_get(0)?),
            DataType::Decimal(_, _) => {
                let d = col.decimal().ok()?;
                Cells::Decimal(d.physical().downcast_get(0)?, d.scale())
            }
            DataType::Int64 => Cells::Int(col.i64().ok()?.downcast_get(0)?),
            DataType::Float64 => Cells::Float(col.f64().ok()?.downcast_get(0)?),
            _ => return None,
        };
        Some(cells)
    }

    /// Turns the typed column `idx` into text (what a reader that cannot use its type
    /// checks); a text or absent column stays as it is.
    pub fn typed_to_text(&mut self, idx: usize) -> Result<()> {
        let Some(col) = self.typed.get_mut(idx).and_then(Option::take) else {
            return Ok(());
        };
        let is_period = self.wanted.get(idx).is_some_and(|w| w == "period");
        let text = parquet::text_of(&col, is_period).map_err(|e| {
            Error::input(
                &self.path,
                format!("column {}: cannot read as text: {e}", col.name()),
            )
        })?;
        self.columns[idx] = Some(text);
        Ok(())
    }

    /// The text of one cell as a text column would hold it (`""` for null or absent):
    /// for a typed value, only that value is formatted.
    pub fn cell_text(&self, idx: usize, row: usize) -> String {
        if let Some(a) = self.column(idx) {
            return a.get(row).unwrap_or("").to_string();
        }
        match self.typed.get(idx) {
            Some(Some(col)) => {
                let is_period = self.wanted.get(idx).is_some_and(|w| w == "period");
                parquet::cell_text(col, row, is_period)
            }
            _ => String::new(),
        }
    }

    /// The sheet read from a workbook (`None` for CSV and Parquet).
    pub fn sheet(&self) -> Option<&str> {
        match &self.source {
            Source::Excel(s) => Some(s.name()),
            _ => None,
        }
    }

    /// The cells of a workbook that cannot be read as values, by (row, column).
    pub fn cell_faults(&self) -> &[CellFault] {
        match &self.source {
            Source::Excel(s) => &s.faults,
            _ => &[],
        }
    }

    /// The text of the given rows for `rejects.raw`, in the order asked: CSV the
    /// record's original text, Parquet the row's values of the requested columns
    /// (file order), Excel the row's cells, joined with `,`.
    pub fn raw_rows(&self, rows: &[usize]) -> Vec<String> {
        let lines: Vec<u32> = rows
            .iter()
            .map(|&r| self.lines.get(r).copied().unwrap_or(0))
            .collect();
        self.source.raw_for_lines(&lines)
    }
}

/// The arrow arrays behind typed columns.
pub type DaysArray = <Int32Type as PolarsDataType>::Array;
pub type DecimalArray = <Int128Type as PolarsDataType>::Array;
pub type IntArray = <Int64Type as PolarsDataType>::Array;
pub type FloatArray = <Float64Type as PolarsDataType>::Array;

/// A requested column as a view of its cells.
#[derive(Clone, Copy)]
pub enum Cells<'a> {
    Text(&'a StrArray),
    /// DATE (a DATETIME by its day).
    Days(&'a DaysArray),
    /// DECIMAL with this scale.
    Decimal(&'a DecimalArray, usize),
    /// Any integer type but UINT64.
    Int(&'a IntArray),
    /// DOUBLE.
    Float(&'a FloatArray),
}

/// One cell of a requested column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// Null, or a row past the column's end.
    Null,
    Text(&'a str),
    /// Days since 1970-01-01.
    Days(i32),
    /// The unscaled value and the scale of a DECIMAL.
    Decimal(i128, usize),
    Int(i64),
    Float(f64),
}

impl<'a> Cells<'a> {
    /// Row `row` (`Cell::Null` past the end).
    pub fn get(&self, row: usize) -> Cell<'a> {
        // Every arrow array's `get` checks validity but not bounds.
        macro_rules! at {
            ($a:expr) => {
                if row < $a.len() { $a.get(row) } else { None }
            };
        }
        let cell = match *self {
            Cells::Text(a) => at!(a).map(Cell::Text),
            Cells::Days(a) => at!(a).map(Cell::Days),
            Cells::Decimal(a, scale) => at!(a).map(|v| Cell::Decimal(v, scale)),
            Cells::Int(a) => at!(a).map(Cell::Int),
            Cells::Float(a) => at!(a).map(Cell::Float),
        };
        cell.unwrap_or(Cell::Null)
    }
}

impl Source {
    fn raw_for_lines(&self, lines: &[u32]) -> Vec<String> {
        match self {
            Source::Csv(t) => csv_raw_for_lines(t, lines),
            Source::Parquet(df) => parquet_raw_for_lines(df, lines),
            Source::Excel(s) => s.raw_for_lines(lines),
        }
    }
}

/// Reads `path` (CSV in `encoding`, Parquet, or the first sheet of a workbook) into
/// string columns; `wanted` are the column names to return, matched against the
/// trimmed, lowercased header.
///
/// Unreadable or corrupt files, a broken header and a column named twice are errors;
/// bad records are [`ParseError`]s.
pub fn read_table(path: &Path, encoding: Encoding, wanted: &[&str]) -> Result<Table> {
    read_table_sheet(path, encoding, None, wanted)
}

/// [`read_table`], reading the sheet named `sheet` of a workbook (`None`: the first;
/// ignored for CSV and Parquet).
pub fn read_table_sheet(
    path: &Path,
    encoding: Encoding,
    sheet: Option<&str>,
    wanted: &[&str],
) -> Result<Table> {
    let data =
        Arc::new(std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?);
    let bytes = data.len() as u64;
    let format = detect_format(path, &data);
    // The checksum runs beside the parse.
    let (sha256, table) = rayon::join(
        || crate::digest::sha256_hex(data.as_slice()),
        || {
            guarded(path, || match format {
                Format::Csv => read_csv(path, Arc::clone(&data), encoding, wanted),
                Format::Parquet => read_parquet(path, &data, wanted),
                Format::Excel => xlsx::read_excel(path, &data, sheet, wanted),
            })
        },
    );
    let mut table = table?;
    table.bytes = bytes;
    table.sha256 = sha256;
    Ok(table)
}

/// The raw text of the records starting on `lines` (any order) of a file read before
/// with this SHA-256 and the columns `wanted`, for rejects found after the file's
/// [`Table`] was dropped (duplicates across files). A file that changed since is an
/// error.
pub fn raw_records(
    path: &Path,
    encoding: Encoding,
    wanted: &[&str],
    sha256: &str,
    lines: &[u32],
) -> Result<Vec<String>> {
    raw_records_sheet(path, encoding, None, wanted, sha256, lines)
}

/// [`raw_records`] of the sheet `sheet` of a workbook, as for [`read_table_sheet`].
pub fn raw_records_sheet(
    path: &Path,
    encoding: Encoding,
    sheet: Option<&str>,
    wanted: &[&str],
    sha256: &str,
    lines: &[u32],
) -> Result<Vec<String>> {
    let data =
        Arc::new(std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?);
    if crate::digest::sha256_hex(&data) != sha256 {
        return Err(Error::input(
            path,
            "the file changed while the run was reading it; run again once it is complete",
        ));
    }
    guarded(path, || {
        let source = match detect_format(path, &data) {
            Format::Csv => Source::Csv(decode(Arc::clone(&data), encoding)),
            Format::Parquet => Source::Parquet(parquet_frame(path, &data, wanted)?.0),
            Format::Excel => xlsx::excel_source(path, &data, sheet)?,
        };
        Ok(source.raw_for_lines(lines))
    })
}

fn detect_format(path: &Path, data: &[u8]) -> Format {
    let magic = data.len() >= 8 && data.starts_with(b"PAR1") && data.ends_with(b"PAR1");
    let ext = path.extension().and_then(|e| e.to_str());
    if magic || ext.is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        Format::Parquet
    } else if ext.is_some_and(xlsx::is_excel_extension) {
        Format::Excel
    } else {
        Format::Csv
    }
}

/// Runs a reader, turning a panic inside a library on corrupt input into an error
/// (with the library's message when the binary keeps it, see
/// [`crate::log::quiet_panics`]).
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(Error::input(
            path,
            match crate::log::take_panic() {
                Some((message, _)) => {
                    format!("corrupt or unreadable file (the reader failed: {message})")
                }
                None => "corrupt or unreadable file".into(),
            },
        )),
    }
}

/// Maps header names to the requested columns: (file index of each wanted column,
/// unknown names). A wanted name given twice is an error.
fn match_header(
    path: &Path,
    header: &[String],
    wanted: &[&str],
) -> Result<(Vec<Option<usize>>, Vec<String>)> {
    let mut found: Vec<Option<usize>> = vec![None; wanted.len()];
    let mut unknown = Vec::new();
    for (i, name) in header.iter().enumerate() {
        match wanted.iter().position(|w| w == name) {
            Some(w) if found[w].is_some() => {
                return Err(Error::input(
                    path,
                    format!("column \"{name}\" appears twice in the header"),
                ));
            }
            Some(w) => found[w] = Some(i),
            None => unknown.push(name.clone()),
        }
    }
    unknown.sort();
    unknown.dedup();
    Ok((found, unknown))
}

fn normalise_name(s: &str) -> String {
    s.trim_start_matches('\u{feff}').trim().to_lowercase()
}

fn truncate_raw(s: String) -> String {
    match s.char_indices().nth(MAX_RAW_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

/// A string column as one chunk.
fn single_chunk(ca: &StringChunked) -> StringChunked {
    ca.rechunk().into_owned()
}

#[cfg(test)]
pub(crate) mod tests;
