//! Excel workbooks (`.xlsx`, `.xls`) → the same string-column [`Table`] as CSV and
//! Parquet (CONTRACT.md §2.1).
//!
//! One sheet is read: `[inputs].sheet` when given, else the first. Its rows keep the
//! numbers Excel shows (1-based), so `line` of a reject is the sheet row. The header
//! is the row that holds the most of the wanted column names among the first
//! [`HEADER_SEARCH_ROWS`] rows (titles above it are skipped), named with the CSV
//! normalisation; a header cell covered by a merge from above takes the merge's
//! value. Rows whose cells are all empty are skipped without a reject.
//!
//! Cells become text the way an operator reads them in Excel: text as it is, numbers
//! at Excel's 15 significant digits (`800.1` → `800.1`, `0.1+0.2` → `0.3`), date cells
//! as `YYYY-MM-DD` (a `period` date on the 1st as `YYYY-MM`), formulas by their cached
//! value. Two kinds of cell cannot be read as a value and reject their row
//! ([`CellFault`]): an error value (`#N/A`, `#REF!`, …) in a wanted column, and a
//! `person_id` stored as a number (Excel keeps 15 digits, an 18-digit ID has lost
//! its last ones).

use super::{Format, Source, Table, match_header, normalise_name, truncate_raw};
use crate::domain::RejectType;
use crate::error::{Error, Result};
use calamine::{Data, Dimensions, Range, Reader, Sheets, open_workbook_auto_from_rs};
use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;

/// How many rows from the top of the sheet may hold the header.
pub(super) const HEADER_SEARCH_ROWS: usize = 50;

/// A wanted cell that cannot be read as a value; its row is rejected with it.
#[derive(Clone, Debug, PartialEq)]
pub struct CellFault {
    /// Row index in the table (as for `Table::column`).
    pub row: usize,
    /// Index into the wanted columns.
    pub column: usize,
    pub kind: RejectType,
    pub message: String,
}

/// The sheet read, kept for `rejects.raw`.
pub(super) struct SheetRows {
    name: String,
    range: Range<Data>,
    /// Sheet row (0-based) of the range's first row.
    first_row: u32,
    pub(super) faults: Vec<CellFault>,
}

/// True for the extensions read as workbooks.
pub(super) fn is_excel_extension(ext: &str) -> bool {
    ext.eq_ignore_ascii_case("xlsx") || ext.eq_ignore_ascii_case("xls")
}

/// Excel's lock file beside an open workbook (`~$book.xlsx`).
pub(super) fn is_lock_file(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b"~$")
}

/// Opens the workbook in `data` and returns the chosen sheet's name and cells, with
/// the merged regions of that sheet.
fn open_sheet(
    path: &Path,
    data: &[u8],
    sheet: Option<&str>,
) -> Result<(String, Range<Data>, Vec<Dimensions>)> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(data))
        .map_err(|e| Error::input(path, format!("cannot open the workbook: {e}")))?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(want) => names
            .iter()
            .find(|n| n.as_str() == want)
            .cloned()
            .ok_or_else(|| {
                Error::input(
                    path,
                    format!(
                        "sheet {want:?} not found (the workbook has {})",
                        names
                            .iter()
                            .map(|n| format!("{n:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| Error::input(path, "the workbook has no sheet"))?,
    };
    let range = book
        .worksheet_range(&name)
        .map_err(|e| Error::input(path, format!("sheet {name:?}: cannot read: {e}")))?;
    let merged = match &mut book {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(&name).unwrap_or_default(),
        Sheets::Xls(x) => x.merge_cells_by_sheet_name(&name).unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok((name, range, merged))
}

/// Reads the sheet `sheet` (or the first) of the workbook in `data`.
pub(super) fn read_excel(
    path: &Path,
    data: &[u8],
    sheet: Option<&str>,
    wanted: &[&str],
) -> Result<Table> {
    let (name, range, merged) = open_sheet(path, data, sheet)?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let rows: Vec<&[Data]> = range.rows().collect();
    let header_idx = find_header(&range, &rows, &merged, wanted);
    let header: Vec<String> = match header_idx {
        Some(h) => header_names(&range, rows[h], h, &merged),
        None => Vec::new(),
    };
    let (found, mut unknown_columns) = match_header(path, &header, wanted)?;
    unknown_columns.retain(|n| !n.is_empty());

    let mut lines = Vec::new();
    let mut builders: Vec<Option<StringChunkedBuilder>> = found
        .iter()
        .map(|f| f.map(|_| StringChunkedBuilder::new("".into(), 0)))
        .collect();
    let mut faults = Vec::new();
    let data_rows = header_idx.map_or(0, |h| h + 1);
    let mut text = String::new();
    for (i, row) in rows.iter().enumerate().skip(data_rows) {
        if row.iter().all(is_empty_cell) {
            continue;
        }
        let sheet_row = first_row as usize + i + 1;
        let line = u32::try_from(sheet_row).map_err(|_| Error::input(path, "too many rows"))?;
        let table_row = lines.len();
        lines.push(line);
        for (w, idx) in found.iter().enumerate() {
            let (Some(idx), Some(b)) = (idx, builders[w].as_mut()) else {
                continue;
            };
            let cell = row.get(*idx).unwrap_or(&Data::Empty);
            match wanted_cell_text(cell, wanted[w], &mut text) {
                Ok(true) => b.append_value(&text),
                Ok(false) => b.append_null(),
                Err((kind, what)) => {
                    b.append_null();
                    faults.push(CellFault {
                        row: table_row,
                        column: w,
                        kind,
                        message: format!(
                            "cell {}{line} ({}) {what}",
                            column_letters(first_col as usize + idx),
                            wanted[w]
                        ),
                    });
                }
            }
        }
    }
    let columns = builders
        .into_iter()
        .map(|b| b.map(|b| b.finish()))
        .collect();
    Ok(Table {
        path: path.to_path_buf(),
        format: Format::Excel,
        bytes: 0,
        sha256: String::new(),
        header,
        columns,
        typed: Vec::new(),
        wanted: Vec::new(),
        lines,
        parse_errors: Vec::new(),
        unknown_columns,
        source: Source::Excel(SheetRows {
            name,
            range,
            first_row,
            faults,
        }),
    })
}

/// The raw text of sheet rows `lines` of the workbook in `data`.
pub(super) fn excel_source(path: &Path, data: &[u8], sheet: Option<&str>) -> Result<Source> {
    let (name, range, _) = open_sheet(path, data, sheet)?;
    let first_row = range.start().map_or(0, |s| s.0);
    Ok(Source::Excel(SheetRows {
        name,
        range,
        first_row,
        faults: Vec::new(),
    }))
}

impl SheetRows {
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Each sheet row of `lines` as its cells' text joined with `,`.
    pub(super) fn raw_for_lines(&self, lines: &[u32]) -> Vec<String> {
        let mut text = String::new();
        lines
            .iter()
            .map(|&line| {
                let idx = (line as usize)
                    .checked_sub(1 + self.first_row as usize)
                    .unwrap_or(usize::MAX);
                let mut s = String::new();
                if idx < self.range.height() {
                    for c in 0..self.range.width() {
                        if c > 0 {
                            s.push(',');
                        }
                        cell_text(
                            self.range.get((idx, c)).unwrap_or(&Data::Empty),
                            false,
                            &mut text,
                        );
                        s.push_str(&text);
                    }
                }
                truncate_raw(s)
            })
            .collect()
    }
}

/// The header row: the first of the top rows with the most wanted names; without any,
/// the first non-empty row.
fn find_header(
    range: &Range<Data>,
    rows: &[&[Data]],
    merged: &[Dimensions],
    wanted: &[&str],
) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut first_nonempty = None;
    for (i, row) in rows.iter().enumerate().take(HEADER_SEARCH_ROWS) {
        if row.iter().all(is_empty_cell) {
            continue;
        }
        first_nonempty.get_or_insert(i);
        let names = header_names(range, row, i, merged);
        let hits = names
            .iter()
            .filter(|n| wanted.contains(&n.as_str()))
            .count();
        if hits > best.map_or(0, |b| b.1) {
            best = Some((i, hits));
        }
    }
    best.map(|b| b.0).or(first_nonempty)
}

/// Row `i` of `range` as normalised header names; an empty cell under a vertical
/// merge (in the merge's first column) takes the value of the merge's top cell.
fn header_names(range: &Range<Data>, row: &[Data], i: usize, merged: &[Dimensions]) -> Vec<String> {
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let sheet_row = first_row as usize + i;
    let mut text = String::new();
    row.iter()
        .enumerate()
        .map(|(c, cell)| {
            let col = first_col as usize + c;
            let mut cell = cell;
            if is_empty_cell(cell)
                && let Some(m) = merged.iter().find(|m| {
                    m.start.1 as usize == col
                        && (m.start.0 as usize) < sheet_row
                        && sheet_row <= m.end.0 as usize
                })
                && let Some(v) = range.get_value(m.start)
            {
                cell = v;
            }
            cell_text(cell, false, &mut text);
            normalise_name(&text)
        })
        .collect()
}

fn is_empty_cell(c: &Data) -> bool {
    match c {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The text of a wanted cell into `out`: `Ok(false)` for an empty cell, `Err` for a
/// cell that cannot be read as a value (reject type and what is wrong).
fn wanted_cell_text(
    cell: &Data,
    column: &str,
    out: &mut String,
) -> std::result::Result<bool, (RejectType, String)> {
    match cell {
        Data::Error(e) => Err((
            RejectType::ParseError,
            format!("holds the Excel error {e}, not a value"),
        )),
        Data::Float(_) | Data::Int(_) if column == "person_id" => {
            cell_text(cell, false, out);
            Err((
                RejectType::BadPersonId,
                format!(
                    "was stored as a number ({out}): Excel keeps only 15 digits, so an \
                     18-digit ID loses its last ones; store IDs as text"
                ),
            ))
        }
        _ => {
            cell_text(cell, column == "period", out);
            Ok(!out.is_empty())
        }
    }
}

/// A cell as text into `out` (empty for an empty cell). With `month`, a date on the
/// 1st reads `YYYY-MM` (a `period` stored as a date).
fn cell_text(cell: &Data, month: bool, out: &mut String) {
    out.clear();
    match cell {
        Data::Empty => {}
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => out.push_str(s),
        Data::Int(i) => out.push_str(&i.to_string()),
        Data::Float(f) => out.push_str(&excel_number(*f)),
        Data::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Data::Error(e) => out.push_str(&e.to_string()),
        Data::DateTime(dt) if dt.is_duration() => out.push_str(&excel_number(dt.as_f64())),
        Data::DateTime(dt) => {
            let text = date_text(dt);
            match text.strip_suffix("-01").filter(|m| month && m.len() == 7) {
                Some(m) => out.push_str(m),
                None => out.push_str(&text),
            }
        }
    }
}

/// A date cell's day as `YYYY-MM-DD` (a time of day is dropped), in the workbook's
/// date system (1900 or 1904). The 1900 system counts the day 1900-02-29 that never
/// was (serial 60): it stays that invalid text, so it is a `BAD_DATE`.
fn date_text(dt: &calamine::ExcelDateTime) -> String {
    let (y, m, d, ..) = dt.to_ymd_hms_milli();
    format!("{y:04}-{m:02}-{d:02}")
}

/// A number cell as Excel shows it at full precision: 15 significant digits, plain
/// decimal notation, no trailing zeros (`800.1`, `0.1+0.2` → `0.3`, `1e17` →
/// `100000000000000000`).
pub(super) fn excel_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    // `d.dddddddddddddde±x`: 15 significant digits, rounded.
    let sci = format!("{:.14e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut s = String::new();
    if v < 0.0 {
        s.push('-');
    }
    // The decimal point goes after `exp + 1` digits.
    let point = exp + 1;
    if point <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-point) as usize));
        s.push_str(digits);
    } else if point as usize >= digits.len() {
        s.push_str(digits);
        s.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        s.push_str(&digits[..point as usize]);
        s.push('.');
        s.push_str(&digits[point as usize..]);
    }
    s
}

/// `A`, `B`, …, `Z`, `AA`, … for a 0-based column.
fn column_letters(mut col: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_at_fifteen_digits() {
        assert_eq!(excel_number(800.1), "800.1");
        assert_eq!(excel_number(0.1 + 0.2), "0.3");
        assert_eq!(excel_number(800.0), "800");
        assert_eq!(excel_number(440100.0), "440100");
        assert_eq!(excel_number(-12.5), "-12.5");
        assert_eq!(excel_number(0.005), "0.005");
        assert_eq!(excel_number(800.125), "800.125");
        assert_eq!(excel_number(1.0 / 3.0), "0.333333333333333");
        assert_eq!(excel_number(110101199001011234.0), "110101199001011000");
        assert_eq!(excel_number(0.0), "0");
    }

    #[test]
    fn date_cells_in_both_systems() {
        use calamine::{ExcelDateTime, ExcelDateTimeType::DateTime};
        let day =
            |serial: f64, is_1904: bool| date_text(&ExcelDateTime::new(serial, DateTime, is_1904));
        assert_eq!(day(1.0, false), "1900-01-01");
        assert_eq!(day(59.0, false), "1900-02-28");
        assert_eq!(day(60.0, false), "1900-02-29");
        assert_eq!(day(61.0, false), "1900-03-01");
        assert_eq!(day(25_569.0, false), "1970-01-01");
        assert_eq!(day(45_672.75, false), "2025-01-15");
        assert_eq!(day(0.0, true), "1904-01-01");
        assert_eq!(day(44_210.0, true), "2025-01-15");
    }

    /// The committed formula fixture (tests/fixtures/make_workbooks.py): cached values,
    /// an error cell, sheet rows as lines.
    #[test]
    fn formula_fixture_reads_cached_values() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formulas.xlsx");
        let wanted = [
            "person_id",
            "period",
            "amount",
            "paid_on",
            "region",
            "txn_id",
        ];
        let t = super::super::read_table(&path, crate::domain::Encoding::Utf8, &wanted).unwrap();
        assert_eq!(t.format, Format::Excel);
        assert_eq!(t.sheet(), Some("Sheet1"));
        assert_eq!(t.lines, [2, 3, 4]);
        assert_eq!(t.unknown_columns, ["base", "payer", "scheme"]);
        assert!(t.columns[5].is_none());
        let col = |i: usize| -> Vec<Option<String>> {
            let a = t.column(i).unwrap();
            (0..a.len()).map(|r| a.get(r).map(str::to_string)).collect()
        };
        let some = |v: &str| Some(v.to_string());
        assert_eq!(col(1), [some("2025-01"), some("2025-01"), some("2025-03")]);
        assert_eq!(col(2), [some("800.1"), None, some("0.3")]);
        assert_eq!(
            col(3),
            [some("2025-01-15"), some("2025-01-10"), some("2025-03-10")]
        );
        assert_eq!(col(4), [some("440100"), some("440100"), some("440100")]);
        assert_eq!(
            t.cell_faults(),
            [CellFault {
                row: 1,
                column: 2,
                kind: RejectType::ParseError,
                message: "cell E3 (amount) holds the Excel error #N/A, not a value".into(),
            }]
        );
        assert_eq!(
            t.raw_rows(&[1]),
            ["130182197208150990,2025-01,employee,employer,#N/A,5000,2025-01-10,440100"]
        );
        let e = super::super::read_table_sheet(
            &path,
            crate::domain::Encoding::Utf8,
            Some("Sheet9"),
            &wanted,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.contains("formulas.xlsx") && e.contains("\"Sheet9\" not found"),
            "{e}"
        );
    }

    #[test]
    fn column_names() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
