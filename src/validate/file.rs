//! Reading one file and checking its rows in parallel ranges.

use super::typed::{self, Want};
use super::{CHUNK_ROWS, Fault, Field, MAX_COLUMNS, Rej, fault};
use crate::domain::{Encoding, RejectType};
use crate::error::{Error, Result};
use crate::ingest::{self, Cell, Cells};
use crate::ledger::{InputFile, InputKind};
use rayon::prelude::*;
use std::path::Path;

/// Accepted values of one row range, with their lines, and the range's faults.
pub(super) struct Part<V> {
    pub(super) values: Vec<V>,
    pub(super) lines: Vec<u32>,
    /// (row, fault) of the rejected rows.
    pub(super) faults: Vec<(usize, Fault)>,
}

/// A file's accepted values and rejects, before duplicates.
pub(super) struct FileOut<V> {
    pub(super) file: InputFile,
    pub(super) parts: Vec<Part<V>>,
    pub(super) rejects: Vec<Rej>,
}

/// Reads one file (CSV in `encoding`, Parquet, or the named or first sheet of a
/// workbook) and checks its rows in parallel ranges. The accepted values stay in
/// their per-range parts (no second copy of a large file's rows). A workbook cell that
/// cannot be read as a value ([`ingest::CellFault`]) rejects its row before the field
/// checks.
pub(super) fn read_file<V: Send>(
    path: &Path,
    file: u32,
    kind: InputKind,
    (encoding, sheet): (Encoding, Option<&str>),
    columns: &'static [&'static str],
    check: fn(&[Field]) -> Result<V, Fault>,
) -> Result<FileOut<V>> {
    read_file_as(path, file, kind, (encoding, sheet), columns, check, true)
}

/// [`read_file`]; with `use_types` false every typed Parquet column is read as text (what
/// the typed reading must equal).
pub(super) fn read_file_as<V: Send>(
    path: &Path,
    file: u32,
    kind: InputKind,
    (encoding, sheet): (Encoding, Option<&str>),
    columns: &'static [&'static str],
    check: fn(&[Field]) -> Result<V, Fault>,
    use_types: bool,
) -> Result<FileOut<V>> {
    let mut table = ingest::read_table_sheet(path, encoding, sheet, columns)?;
    let n = columns.len().min(MAX_COLUMNS);
    let wants: Vec<Want> = columns[..n].iter().map(|c| typed::want_of(c)).collect();
    // Typed columns this check cannot read as they are are read as text.
    for (i, &want) in wants.iter().enumerate() {
        if table.cells(i).is_some_and(|c| {
            !(matches!(c, Cells::Text(_)) || use_types && typed::decodes(want, &c))
        }) {
            table.typed_to_text(i)?;
        }
    }
    let table = table;
    let cell_faults = table.cell_faults();
    // A file with text but no row, whose only line names none of the columns, is not
    // an empty month: it is the wrong file or one line of data without a header.
    if table.rows_read() == 0
        && !table.header.iter().all(String::is_empty)
        && (0..columns.len()).all(|i| !table.has_column(i))
    {
        return Err(Error::input(
            path,
            format!(
                "line 1 names none of the {} columns ({}) and no row follows: not a header",
                kind.as_str(),
                columns.join(", ")
            ),
        ));
    }
    let cols: Vec<Option<Cells>> = (0..n).map(|i| table.cells(i)).collect();
    let present: Vec<bool> = (0..n).map(|i| table.has_column(i)).collect();
    let is_typed: Vec<bool> = cols
        .iter()
        .map(|c| c.is_some_and(|c| !matches!(c, Cells::Text(_))))
        .collect();
    // A row's check on the text of its typed cells (only those values are
    // formatted), for rows the typed fields do not settle: the same faults and
    // messages as a text column gives.
    let check_as_text = |row: usize, fields: &[Field]| {
        let texts: Vec<String> = (0..n)
            .map(|i| {
                if is_typed[i] {
                    table.cell_text(i, row)
                } else {
                    String::new()
                }
            })
            .collect();
        let mut as_text = [Field::Absent; MAX_COLUMNS];
        for i in 0..n {
            as_text[i] = if is_typed[i] {
                Field::Value(texts[i].trim())
            } else {
                fields[i]
            };
        }
        check(&as_text[..n])
    };
    let height = table.height();
    let ranges: Vec<(usize, usize)> = (0..height)
        .step_by(CHUNK_ROWS)
        .map(|start| (start, (start + CHUNK_ROWS).min(height)))
        .collect();
    let mut parts: Vec<Part<V>> = ranges
        .into_par_iter()
        .map(|(start, end)| {
            let mut part = Part {
                values: Vec::with_capacity(end - start),
                lines: Vec::with_capacity(end - start),
                faults: Vec::new(),
            };
            let mut fields = [Field::Absent; MAX_COLUMNS];
            for row in start..end {
                let (mut typed_row, mut unsettled) = (false, false);
                for (i, col) in cols.iter().enumerate() {
                    fields[i] = match col.map(|c| c.get(row)) {
                        Some(Cell::Text(s)) => Field::Value(s.trim()),
                        Some(Cell::Null) => Field::Value(""),
                        Some(cell) => {
                            typed_row = true;
                            typed::decode(wants[i], cell).unwrap_or_else(|| {
                                unsettled = true;
                                Field::Absent
                            })
                        }
                        None if present[i] => Field::Value(""),
                        None => Field::Absent,
                    };
                }
                let first_fault = cell_faults.partition_point(|f| f.row < row);
                let result = match cell_faults.get(first_fault).filter(|f| f.row == row) {
                    Some(f) => Err(fault(
                        columns.get(f.column).copied().unwrap_or(""),
                        f.kind,
                        f.message.clone(),
                    )),
                    None if unsettled => check_as_text(row, &fields[..n]),
                    None => match check(&fields[..n]) {
                        Err(_) if typed_row => check_as_text(row, &fields[..n]),
                        r => r,
                    },
                };
                match result {
                    Ok(v) => {
                        part.values.push(v);
                        part.lines.push(table.lines.get(row).copied().unwrap_or(0));
                    }
                    Err(f) => part.faults.push((row, f)),
                }
            }
            part
        })
        .collect();

    let mut faults = Vec::new();
    for p in &mut parts {
        faults.append(&mut p.faults);
    }
    let rows: Vec<usize> = faults.iter().map(|(r, _)| *r).collect();
    let raws = table.raw_rows(&rows);
    let mut rejects: Vec<Rej> = table
        .parse_errors
        .iter()
        .map(|e| Rej {
            file,
            line: e.line,
            column: None,
            kind: RejectType::ParseError,
            message: e.message.clone(),
            raw: e.raw.clone(),
        })
        .collect();
    for ((row, f), raw) in faults.into_iter().zip(raws) {
        rejects.push(Rej {
            file,
            line: table.lines.get(row).copied().unwrap_or(0),
            column: Some(f.column),
            kind: f.kind,
            message: f.message,
            raw,
        });
    }
    rejects.sort_by_key(|r| r.line);
    let accepted: usize = parts.iter().map(|p| p.values.len()).sum();
    let info = InputFile {
        kind,
        path: source_name(path, table.sheet()),
        bytes: table.bytes,
        sha256: table.sha256.clone(),
        rows_read: table.rows_read(),
        rows_accepted: accepted as u64,
        rows_rejected: rejects.len() as u64,
        unknown_columns: table.unknown_columns.clone(),
    };
    Ok(FileOut {
        file: info,
        parts,
        rejects,
    })
}

/// A file's name in the manifest and in `rejects.source_file`: its path, for a
/// workbook `PATH#SHEET`.
pub(super) fn source_name(path: &Path, sheet: Option<&str>) -> String {
    match sheet {
        Some(s) => format!("{}#{s}", path.display()),
        None => path.display().to_string(),
    }
}

impl<V> FileOut<V> {
    pub(super) fn accepted(&self) -> usize {
        self.parts.iter().map(|p| p.values.len()).sum()
    }
}
