//! Reading one file and checking its rows in parallel ranges.

use super::{CHUNK_ROWS, Fault, Field, MAX_COLUMNS, Rej, fault};
use crate::domain::{Encoding, RejectType};
use crate::error::{Error, Result};
use crate::ingest::{self, StrArray};
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
    let table = ingest::read_table_sheet(path, encoding, sheet, columns)?;
    let cell_faults = table.cell_faults();
    // A file with text but no row, whose only line names none of the columns, is not
    // an empty month: it is the wrong file or one line of data without a header.
    if table.rows_read() == 0
        && !table.header.iter().all(String::is_empty)
        && table.columns.iter().all(Option::is_none)
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
    let cols: Vec<Option<&StrArray>> = (0..columns.len().min(MAX_COLUMNS))
        .map(|i| table.column(i))
        .collect();
    let present: Vec<bool> = (0..cols.len())
        .map(|i| table.columns.get(i).is_some_and(Option::is_some))
        .collect();
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
                for (i, col) in cols.iter().enumerate() {
                    fields[i] = match col {
                        Some(a) if row < a.len() => Field::Value(a.get(row).unwrap_or("").trim()),
                        _ if present[i] => Field::Value(""),
                        _ => Field::Absent,
                    };
                }
                let first_fault = cell_faults.partition_point(|f| f.row < row);
                let result = match cell_faults.get(first_fault).filter(|f| f.row == row) {
                    Some(f) => Err(fault(
                        columns.get(f.column).copied().unwrap_or(""),
                        f.kind,
                        f.message.clone(),
                    )),
                    None => check(&fields[..cols.len()]),
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
