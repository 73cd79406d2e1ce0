//! Input files → tables of string columns (CONTRACT.md §2), plus the line of every row.
//!
//! This module knows file formats, not rules: it finds the input files
//! ([`discover`]), reads one file into a [`Table`] of `String` columns
//! ([`read_table`]) and can give back the text of chosen rows for `rejects.raw`
//! ([`Table::raw_rows`], [`raw_records`]). Typing and checking the values is
//! `validate`'s job.
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
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

mod xlsx;
pub use xlsx::CellFault;

/// The arrow array behind a `String` column chunk.
pub type StrArray = <StringType as PolarsDataType>::Array;

/// Largest folder depth [`discover`] descends.
const MAX_DEPTH: u32 = 32;
/// Longest `raw` text kept for a record that cannot be parsed.
const MAX_RAW_CHARS: usize = 4096;

// ---------------------------------------------------------------------------
// Finding the input files
// ---------------------------------------------------------------------------

/// The ledger files named by `spec` (CONTRACT.md §2.1), sorted by path bytes.
///
/// `spec` is a folder (every `*.csv` / `*.parquet` / `*.xlsx` / `*.xls` below it,
/// recursively, extension case-insensitive, names starting with `.` and Excel lock
/// files `~$…` skipped), a single file, or a
/// pattern with `*` / `?` in its components (`ledger/2025-*.csv`, `data/*/ledger`);
/// folders matched by a pattern are searched like a folder spec.
pub fn discover(spec: &Path) -> Result<Vec<PathBuf>> {
    discover_as(spec, "ledger")
}

/// [`discover`] for any input; `what` names the input in error messages
/// (`"ledger"`, `"special-groups"`, `"claims"`).
pub fn discover_as(spec: &Path, what: &str) -> Result<Vec<PathBuf>> {
    let mut walker = Walker::default();
    if has_wildcard(&spec.to_string_lossy()) {
        for m in expand_glob(spec)? {
            match std::fs::metadata(&m) {
                Ok(md) if md.is_dir() => walker.walk(&m, &md, 0)?,
                Ok(md) if has_data_extension(&m) => walker.add_file(&m, &md)?,
                _ => {}
            }
        }
        if walker.files.is_empty() {
            return Err(Error::input(
                spec,
                format!("no {what} file matches the pattern"),
            ));
        }
    } else {
        match std::fs::metadata(spec) {
            Ok(md) if md.is_dir() => {
                walker.walk(spec, &md, 0)?;
                if walker.files.is_empty() {
                    return Err(Error::input(
                        spec,
                        format!("no .csv, .parquet, .xlsx or .xls file in the {what} folder"),
                    ));
                }
            }
            Ok(md) => walker.add_file(spec, &md)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::input(
                    spec,
                    format!("{what} folder or file not found"),
                ));
            }
            Err(e) => return Err(Error::input(spec, format!("cannot read: {e}"))),
        }
    }
    Ok(walker.finish())
}

/// The files found so far, and the real folders already walked.
#[derive(Default)]
struct Walker {
    files: Vec<(PathBuf, Option<FileId>)>,
    dirs: std::collections::HashSet<FileId>,
}

/// A file's device and inode: the same file or folder reached through links.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(md: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((md.dev(), md.ino()))
}

#[cfg(not(unix))]
fn file_id(_md: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// What a path that is neither a regular file nor a folder is, for messages.
fn special_kind(md: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = md.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    let _ = md;
    "not a regular file"
}

impl Walker {
    /// A file named by the spec or found in a folder. Anything but a regular file (a
    /// FIFO, a device, a socket) is an error: opening a FIFO would block the run.
    fn add_file(&mut self, path: &Path, md: &std::fs::Metadata) -> Result<()> {
        if !md.is_file() {
            return Err(Error::input(
                path,
                format!(
                    "is {}, not a regular file; only regular files are read",
                    special_kind(md)
                ),
            ));
        }
        self.files.push((path.to_path_buf(), file_id(md)));
        Ok(())
    }

    /// Every `*.csv` / `*.parquet` file below `dir`. Folder links are followed, but
    /// each real folder (device and inode) is walked once, so links to `.` or to a
    /// parent cannot loop.
    fn walk(&mut self, dir: &Path, md: &std::fs::Metadata, depth: u32) -> Result<()> {
        if let Some(id) = file_id(md)
            && !self.dirs.insert(id)
        {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::input(dir, format!("cannot list folder: {e}")))?;
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::input(dir, format!("cannot list folder: {e}")))?;
            if !is_hidden(&entry.file_name()) {
                listed.push(entry.path());
            }
        }
        // Sorted, so which of two links to one folder is walked does not depend on
        // the order the file system lists them in.
        listed.sort_by(|a, b| path_bytes(a).cmp(path_bytes(b)));
        for path in listed {
            match std::fs::metadata(&path) {
                Ok(md) if md.is_dir() => {
                    if depth < MAX_DEPTH {
                        self.walk(&path, &md, depth + 1)?;
                    }
                }
                Ok(md) if has_data_extension(&path) => self.add_file(&path, &md)?,
                Ok(_) => {}
                Err(e) if has_data_extension(&path) => {
                    return Err(Error::input(&path, format!("cannot read: {e}")));
                }
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The files sorted by path bytes; a file reached under several paths (links)
    /// is kept once, under its first path.
    fn finish(mut self) -> Vec<PathBuf> {
        self.files
            .sort_by(|a, b| path_bytes(&a.0).cmp(path_bytes(&b.0)));
        self.files.dedup_by(|a, b| a.0 == b.0);
        let mut seen = std::collections::HashSet::new();
        self.files
            .into_iter()
            .filter(|(_, id)| id.is_none_or(|id| seen.insert(id)))
            .map(|(p, _)| p)
            .collect()
    }
}

fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

fn has_data_extension(p: &Path) -> bool {
    let ext = p.extension().and_then(|e| e.to_str());
    ext.is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("parquet"))
        || (ext.is_some_and(xlsx::is_excel_extension)
            && !p.file_name().is_some_and(xlsx::is_lock_file))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// All existing paths matching `pattern`, component by component.
fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let text = comp.as_os_str().to_string_lossy();
        if !has_wildcard(&text) {
            for p in &mut current {
                p.push(comp.as_os_str());
            }
            continue;
        }
        let pat: Vec<char> = text.chars().collect();
        let mut next = Vec::new();
        for dir in &current {
            let listing = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            let Ok(entries) = std::fs::read_dir(listing) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if is_hidden(&name) && pat.first() != Some(&'.') {
                    continue;
                }
                let name_chars: Vec<char> = name.to_string_lossy().chars().collect();
                if wildcard_match(&pat, &name_chars) {
                    next.push(dir.join(&name));
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current.retain(|p| !p.as_os_str().is_empty() && p.exists());
    Ok(current)
}

/// `*` matches any run of characters, `?` exactly one; everything else literally.
fn wildcard_match(pat: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() && pat[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if p < pat.len() && (pat[p] == '?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == '*')
}

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

/// One input file as string columns.
pub struct Table {
    pub path: PathBuf,
    pub format: Format,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Header names, trimmed and lowercased, in file order.
    pub header: Vec<String>,
    /// The requested columns, in request order; `None` when the file lacks one.
    /// Each present column is one chunk of `height()` values; null = empty.
    pub columns: Vec<Option<StringChunked>>,
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

    /// A column by request index, as an array view (`None` when the file lacks it).
    pub fn column(&self, idx: usize) -> Option<&StrArray> {
        self.columns.get(idx)?.as_ref()?.downcast_get(0)
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

/// Runs a reader, turning a panic inside a library on corrupt input into an error.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(Error::input(path, "corrupt or unreadable file")),
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

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// Old Mac and Excel exports end lines with a bare `\r`: every `\r` not followed by
/// `\n` becomes `\n`, so `\r`, `\n` and `\r\n` each end one line (also inside
/// quoted fields). The file itself is kept (no copy) when it has no bare `\r`. Safe
/// before decoding GBK / GB18030: `\r` (0x0D) is never part of a multi-byte character.
fn cr_line_ends_to_lf(data: Arc<Vec<u8>>) -> Arc<Vec<u8>> {
    // Most files have no `\r` at all: one fast scan (memchr) settles it.
    if !data.contains(&b'\r') {
        return data;
    }
    let bare_cr = |i: usize| data[i] == b'\r' && data.get(i + 1) != Some(&b'\n');
    let Some(first) = (0..data.len()).find(|&i| bare_cr(i)) else {
        return data;
    };
    let out: Vec<u8> = data
        .iter()
        .enumerate()
        .map(|(i, &c)| if i >= first && bare_cr(i) { b'\n' } else { c })
        .collect();
    Arc::new(out)
}

/// A CSV file as UTF-8 bytes (decoded from GBK / GB18030 when asked).
struct CsvText {
    /// The file's bytes, or their UTF-8 decoding (bare `\r` line ends made `\n`).
    text: Arc<Vec<u8>>,
    /// Where the content starts (after a byte-order mark).
    start: usize,
    /// Whether all of `text[start..]` is valid UTF-8.
    valid_utf8: bool,
    /// Physical lines that held undecodable GBK bytes (sorted); their records are
    /// rejected.
    bad_lines: Vec<u32>,
    /// Name of the encoding in messages.
    encoding: &'static str,
}

fn decode(data: Arc<Vec<u8>>, encoding: Encoding) -> CsvText {
    let data = cr_line_ends_to_lf(data);
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let gb = match encoding {
        Encoding::Utf8 => None,
        Encoding::Gbk => Some(encoding_rs::GBK),
        Encoding::Gb18030 => Some(encoding_rs::GB18030),
    };
    // A UTF-8 byte-order mark wins over the configured encoding.
    let (gb, start) = if data.starts_with(BOM) {
        (None, BOM.len())
    } else {
        (gb, 0)
    };
    let Some(enc) = gb else {
        let valid_utf8 = std::str::from_utf8(&data[start..]).is_ok();
        return CsvText {
            text: data,
            start,
            valid_utf8,
            bad_lines: Vec::new(),
            encoding: "UTF-8",
        };
    };
    let name = if encoding == Encoding::Gbk {
        "GBK"
    } else {
        "GB18030"
    };
    if let Some(s) = enc.decode_without_bom_handling_and_without_replacement(&data) {
        let text = s.into_owned().into_bytes();
        let start = if text.starts_with(BOM) { BOM.len() } else { 0 };
        return CsvText {
            text: Arc::new(text),
            start,
            valid_utf8: true,
            bad_lines: Vec::new(),
            encoding: name,
        };
    }
    // Some bytes are not GBK: decode line by line (no GBK byte pair contains '\n')
    // and remember the lines that needed replacement characters.
    let mut text = Vec::with_capacity(data.len() * 3 / 2);
    let mut bad_lines = Vec::new();
    for (i, seg) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let (s, had_errors) = enc.decode_without_bom_handling(seg);
        if had_errors {
            bad_lines.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
        }
        text.extend_from_slice(s.as_bytes());
    }
    let start = if text.starts_with(BOM) { BOM.len() } else { 0 };
    CsvText {
        text: Arc::new(text),
        start,
        valid_utf8: true,
        bad_lines,
        encoding: name,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScanFault {
    Unterminated,
    StrayQuote,
}

/// One record found by the pre-scan.
#[derive(Debug)]
struct Rec {
    start: usize,
    /// End of the record's text (line break and a `\r` before it excluded).
    end: usize,
    /// Start of the next record.
    next: usize,
    fields: usize,
    /// Line breaks inside quoted fields.
    extra_lines: u32,
    fault: Option<ScanFault>,
}

/// The end of the physical line holding `from`: (text end, next line start).
fn line_end(b: &[u8], from: usize) -> (usize, usize) {
    match b[from..].iter().position(|&c| c == b'\n') {
        Some(off) => {
            let nl = from + off;
            let end = if nl > from && b[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            (end, nl + 1)
        }
        None => {
            let end = if b.len() > from && b[b.len() - 1] == b'\r' {
                b.len() - 1
            } else {
                b.len()
            };
            (end, b.len())
        }
    }
}

fn count_newlines(b: &[u8]) -> u32 {
    b.iter().filter(|&&c| c == b'\n').count() as u32
}

/// Scans the record starting at `start` (RFC 4180, `,` separator, `"` quote).
///
/// `no_close_from` makes repeated unterminated quotes linear: once a quoted field
/// opened at `a - 1` found no closing quote up to the end of the text, every quote
/// run after it has even length, so a field opened later can only close inside its
/// first quote run.
fn scan_record(b: &[u8], start: usize, no_close_from: &mut usize) -> Rec {
    let n = b.len();
    let mut i = start;
    let mut fields = 1usize;
    let mut extra_lines = 0u32;
    let fault_to_line_end = |from: usize, extra_lines: u32, fields: usize, fault: ScanFault| {
        let (end, next) = line_end(b, from);
        Rec {
            start,
            end,
            next,
            fields,
            extra_lines,
            fault: Some(fault),
        }
    };
    loop {
        if i < n && b[i] == b'"' {
            let open = i;
            i += 1;
            let closed = if open >= *no_close_from {
                let run = b[i..].iter().take_while(|&&c| c == b'"').count();
                i += run;
                run % 2 == 1
            } else {
                let mut lines = 0u32;
                let closed = loop {
                    match b[i..].iter().position(|&c| c == b'"') {
                        None => break false,
                        Some(off) => {
                            let q = i + off;
                            lines += count_newlines(&b[i..q]);
                            if q + 1 < n && b[q + 1] == b'"' {
                                i = q + 2;
                            } else {
                                i = q + 1;
                                break true;
                            }
                        }
                    }
                };
                if closed {
                    extra_lines += lines;
                }
                closed
            };
            if !closed {
                *no_close_from = (*no_close_from).min(open + 1);
                // The record ends with the physical line the open quote is on; the
                // text after it is scanned again as records of its own.
                return fault_to_line_end(open, extra_lines, fields, ScanFault::Unterminated);
            }
            match b.get(i) {
                None => {
                    return Rec {
                        start,
                        end: n,
                        next: n,
                        fields,
                        extra_lines,
                        fault: None,
                    };
                }
                Some(b',') => {
                    fields += 1;
                    i += 1;
                }
                Some(b'\n') => {
                    return Rec {
                        start,
                        end: i,
                        next: i + 1,
                        fields,
                        extra_lines,
                        fault: None,
                    };
                }
                Some(b'\r') if i + 1 == n => {
                    return Rec {
                        start,
                        end: i,
                        next: n,
                        fields,
                        extra_lines,
                        fault: None,
                    };
                }
                Some(b'\r') if b[i + 1] == b'\n' => {
                    return Rec {
                        start,
                        end: i,
                        next: i + 2,
                        fields,
                        extra_lines,
                        fault: None,
                    };
                }
                Some(_) => return fault_to_line_end(i, extra_lines, fields, ScanFault::StrayQuote),
            }
        } else {
            loop {
                if i >= n {
                    let end = if n > start && b[n - 1] == b'\r' {
                        n - 1
                    } else {
                        n
                    };
                    return Rec {
                        start,
                        end,
                        next: n,
                        fields,
                        extra_lines,
                        fault: None,
                    };
                }
                match b[i] {
                    b',' => {
                        fields += 1;
                        i += 1;
                        break;
                    }
                    b'\n' => {
                        let end = if i > start && b[i - 1] == b'\r' {
                            i - 1
                        } else {
                            i
                        };
                        return Rec {
                            start,
                            end,
                            next: i + 1,
                            fields,
                            extra_lines,
                            fault: None,
                        };
                    }
                    b'"' => {
                        return fault_to_line_end(i, extra_lines, fields, ScanFault::StrayQuote);
                    }
                    _ => i += 1,
                }
            }
        }
    }
}

/// Splits one well-formed record into unquoted field texts.
fn split_record(rec: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = Vec::new();
    let mut i = 0;
    loop {
        field.clear();
        if rec.get(i) == Some(&b'"') {
            i += 1;
            while i < rec.len() {
                if rec[i] == b'"' {
                    if rec.get(i + 1) == Some(&b'"') {
                        field.push(b'"');
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                } else {
                    field.push(rec[i]);
                    i += 1;
                }
            }
            while i < rec.len() && rec[i] != b',' {
                field.push(rec[i]);
                i += 1;
            }
        } else {
            while i < rec.len() && rec[i] != b',' {
                field.push(rec[i]);
                i += 1;
            }
        }
        out.push(String::from_utf8_lossy(&field).into_owned());
        if i >= rec.len() {
            return out;
        }
        i += 1; // the separator
    }
}

fn is_blank(rec: &[u8]) -> bool {
    rec.iter().all(|c| c.is_ascii_whitespace())
}

fn read_csv(path: &Path, data: Arc<Vec<u8>>, encoding: Encoding, wanted: &[&str]) -> Result<Table> {
    let text = decode(data, encoding);
    let b = text.text.as_slice();
    let n = b.len();
    let mut pos = text.start;
    let mut line: u32 = 1;
    let mut no_close_from = usize::MAX;
    let mut header: Option<Vec<String>> = None;
    let mut lines: Vec<u32> = Vec::new();
    let mut parse_errors = Vec::new();
    let mut bad_line_idx = 0usize;
    // The buffer for polars: a slice of the file while the good records follow each
    // other (`data_start..expect_next`), a copy once a record is left out.
    let mut data_start = n;
    let mut expect_next = n;
    let mut clean: Option<Vec<u8>> = None;

    while pos < n {
        let rec = scan_record(b, pos, &mut no_close_from);
        let rec_line = line;
        line = line
            .checked_add(1 + rec.extra_lines)
            .ok_or_else(|| Error::input(path, "file has too many lines"))?;
        pos = rec.next;
        let body = &b[rec.start..rec.end];
        if rec.fault.is_none() && rec.fields == 1 && is_blank(body) {
            continue;
        }
        let Some(names) = &header else {
            if let Some(fault) = rec.fault {
                return Err(Error::input(
                    path,
                    format!(
                        "line {rec_line}: cannot read the header row: {}",
                        scan_fault_message(fault)
                    ),
                ));
            }
            header = Some(
                split_record(body)
                    .iter()
                    .map(|s| normalise_name(s))
                    .collect(),
            );
            data_start = rec.next;
            expect_next = rec.next;
            continue;
        };
        let bad_text = if !text.bad_lines.is_empty() {
            while bad_line_idx < text.bad_lines.len() && text.bad_lines[bad_line_idx] < rec_line {
                bad_line_idx += 1;
            }
            bad_line_idx < text.bad_lines.len()
                && text.bad_lines[bad_line_idx] <= rec_line + rec.extra_lines
        } else {
            !text.valid_utf8 && std::str::from_utf8(body).is_err()
        };
        let fault = match rec.fault {
            Some(f) => Some(scan_fault_message(f).to_string()),
            None if bad_text => Some(format!("bytes that are not valid {} text", text.encoding)),
            None if rec.fields != names.len() => Some(format!(
                "record has {} fields, the header has {}",
                rec.fields,
                names.len()
            )),
            None => None,
        };
        if let Some(message) = fault {
            // A bad record is only its first physical line; the lines after it are
            // read again, so a stray quote cannot swallow the good rows below it.
            let (end, next) = line_end(b, rec.start);
            parse_errors.push(ParseError {
                line: rec_line,
                message,
                raw: truncate_raw(String::from_utf8_lossy(&b[rec.start..end]).into_owned()),
            });
            pos = next;
            line = rec_line + 1;
            continue;
        }
        lines.push(rec_line);
        match &mut clean {
            None if rec.start == expect_next => expect_next = rec.next,
            None => {
                let mut buf = Vec::with_capacity(n - data_start);
                buf.extend_from_slice(&b[data_start..expect_next]);
                if buf.last().is_some_and(|&c| c != b'\n') {
                    buf.push(b'\n');
                }
                buf.extend_from_slice(body);
                buf.push(b'\n');
                clean = Some(buf);
            }
            Some(buf) => {
                buf.extend_from_slice(body);
                buf.push(b'\n');
            }
        }
    }

    let header = header.unwrap_or_default();
    let (found, unknown_columns) = match_header(path, &header, wanted)?;
    let height = lines.len();
    let mut columns: Vec<Option<StringChunked>> = vec![None; wanted.len()];
    let mut projection: Vec<usize> = found.iter().flatten().copied().collect();
    projection.sort_unstable();
    if height > 0 && !projection.is_empty() {
        let buf: &[u8] = match &clean {
            Some(c) => c,
            None => &b[data_start..expect_next],
        };
        let df = polars_csv(buf, header.len(), &projection)
            .map_err(|e| Error::input(path, format!("cannot parse CSV: {e}")))?;
        if df.height() != height {
            return Err(Error::input(
                path,
                format!(
                    "CSV reader found {} rows where the pre-scan found {height}",
                    df.height()
                ),
            ));
        }
        for (w, idx) in found.iter().enumerate() {
            if let Some(idx) = idx {
                let col = df
                    .column(&format!("c{idx}"))
                    .map_err(|e| Error::input(path, e))?;
                columns[w] = Some(single_chunk(col.str().map_err(|e| Error::input(path, e))?));
            }
        }
    } else {
        for (w, idx) in found.iter().enumerate() {
            if idx.is_some() {
                columns[w] = Some(StringChunked::from_iter_values(
                    "".into(),
                    std::iter::repeat_n("", height),
                ));
            }
        }
    }
    Ok(Table {
        path: path.to_path_buf(),
        format: Format::Csv,
        bytes: 0,
        sha256: String::new(),
        header,
        columns,
        lines,
        parse_errors,
        unknown_columns,
        source: Source::Csv(text),
    })
}

fn scan_fault_message(f: ScanFault) -> &'static str {
    match f {
        ScanFault::Unterminated => "a quoted field is never closed (unterminated quote)",
        ScanFault::StrayQuote => "a quote inside an unquoted field or after a closing quote",
    }
}

/// Parses a clean CSV buffer (no header) with every column a `String`.
fn polars_csv(buf: &[u8], ncols: usize, projection: &[usize]) -> PolarsResult<DataFrame> {
    let schema: Schema = (0..ncols)
        .map(|i| Field::new(format!("c{i}").into(), DataType::String))
        .collect();
    CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .with_projection(Some(Arc::new(projection.to_vec())))
        .with_infer_schema_length(None)
        .with_raise_if_empty(false)
        .with_rechunk(true)
        .map_parse_options(|p| {
            p.with_null_values(None)
                .with_missing_is_null(true)
                .with_try_parse_dates(false)
        })
        .into_reader_with_file_handle(Cursor::new(buf))
        .finish()
}

fn single_chunk(ca: &StringChunked) -> StringChunked {
    ca.rechunk().into_owned()
}

/// The record text of each of `lines` (records known to be well formed).
fn csv_raw_for_lines(t: &CsvText, lines: &[u32]) -> Vec<String> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| lines[i]);
    let mut out = vec![String::new(); lines.len()];
    let b = t.text.as_slice();
    let mut pos = t.start;
    let mut line: u32 = 1;
    let mut no_close_from = usize::MAX;
    for i in order {
        let target = lines[i];
        while line < target && pos < b.len() {
            match b[pos..].iter().position(|&c| c == b'\n') {
                Some(off) => pos += off + 1,
                None => pos = b.len(),
            }
            line += 1;
        }
        if line == target && pos < b.len() {
            let rec = scan_record(b, pos, &mut no_close_from);
            out[i] = truncate_raw(String::from_utf8_lossy(&b[rec.start..rec.end]).into_owned());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parquet
// ---------------------------------------------------------------------------

/// The columns of a Parquet file that are in `wanted` (by trimmed, lowercased name),
/// read without the others: an unknown column of a type polars cannot turn into a
/// series (a struct, a list) is never read. Returns the frame, every column name of the
/// file (normalised, file order) and the file's row count.
fn parquet_frame(
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
fn column_as_text(col: &Column) -> PolarsResult<StringChunked> {
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
fn dates_as_text(name: PlSmallStr, days: &Int32Chunked) -> StringChunked {
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
fn trim_decimal_zeros(v: &str) -> &str {
    match v.find('.') {
        Some(dot) => {
            let keep = v.trim_end_matches('0').len().max(dot + 3).min(v.len());
            &v[..keep]
        }
        None => v,
    }
}

fn read_parquet(path: &Path, data: &[u8], wanted: &[&str]) -> Result<Table> {
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
fn parquet_raw_for_lines(df: &DataFrame, lines: &[u32]) -> Vec<String> {
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh, empty temporary folder for one test.
    pub(crate) fn temp_dir(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("ledgerflow-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A temporary folder, removed with its contents when dropped.
    pub(crate) struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl AsRef<Path> for TempDir {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const WANTED: &[&str] = &["a", "b", "c"];

    fn col(t: &Table, i: usize) -> Vec<String> {
        let arr = t.column(i).unwrap();
        (0..arr.len())
            .map(|r| arr.get(r).unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn decimal_zeros_past_two_places() {
        assert_eq!(trim_decimal_zeros("800.0000"), "800.00");
        assert_eq!(trim_decimal_zeros("0.0050"), "0.005");
        assert_eq!(trim_decimal_zeros("12.3400"), "12.34");
        assert_eq!(trim_decimal_zeros("-5.1000"), "-5.10");
        assert_eq!(trim_decimal_zeros("100"), "100");
    }

    #[test]
    fn wildcard_matching() {
        let m = |p: &str, n: &str| {
            wildcard_match(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("*.csv", "2025-01.csv"));
        assert!(m("2025-??.csv", "2025-01.csv"));
        assert!(!m("2025-?.csv", "2025-01.csv"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("账本*.csv", "账本一月.csv"));
        assert!(!m("*.csv", "x.csv.bak"));
    }

    #[test]
    fn discover_folder_file_and_glob() {
        let dir = temp_dir("discover");
        for p in [
            "b/2025-02.csv",
            "a/2025-01.CSV",
            "a/x.parquet",
            "a/notes.txt",
            "a/.hidden.csv",
            "a/y.xlsx",
            "a/~$y.xlsx",
            "b/old.XLS",
            "c.csv",
        ] {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "x").unwrap();
        }
        let rel = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            rel(discover(&dir).unwrap()),
            [
                "a/2025-01.CSV",
                "a/x.parquet",
                "a/y.xlsx",
                "b/2025-02.csv",
                "b/old.XLS",
                "c.csv"
            ]
        );
        assert_eq!(rel(discover(&dir.join("c.csv")).unwrap()), ["c.csv"]);
        assert_eq!(
            rel(discover(&dir.join("*/2025-*")).unwrap()),
            ["a/2025-01.CSV", "b/2025-02.csv"]
        );
        assert_eq!(
            rel(discover(&dir.join("?")).unwrap()),
            [
                "a/2025-01.CSV",
                "a/x.parquet",
                "a/y.xlsx",
                "b/2025-02.csv",
                "b/old.XLS"
            ]
        );
        assert_eq!(rel(discover(&dir.join("a/*.xlsx")).unwrap()), ["a/y.xlsx"]);
        let e = discover(&dir.join("nope")).unwrap_err().to_string();
        assert!(e.contains("ledger folder or file not found"), "{e}");
        let e = discover(&dir.join("*.parquet")).unwrap_err().to_string();
        assert!(e.contains("no ledger file matches"), "{e}");
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        assert!(discover(&dir.join("empty")).is_err());
    }

    #[test]
    fn folder_links_are_walked_once_and_files_read_once() {
        let dir = temp_dir("discover-links");
        let led = dir.join("ledger");
        std::fs::create_dir_all(led.join("sub")).unwrap();
        std::fs::write(led.join("a.csv"), "x").unwrap();
        std::fs::write(led.join("sub/b.csv"), "x").unwrap();
        // Two links to `.` (2^32 paths when followed blindly), one to the parent, one
        // to a file already in the folder.
        std::os::unix::fs::symlink(".", led.join("loop1")).unwrap();
        std::os::unix::fs::symlink(".", led.join("loop2")).unwrap();
        std::os::unix::fs::symlink("..", led.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("a.csv", led.join("same.csv")).unwrap();
        let found = discover(&led).unwrap();
        let rel: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(&led).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(rel, ["a.csv", "sub/b.csv"]);
    }

    #[test]
    fn fifos_are_errors_never_opened() {
        let dir = temp_dir("discover-fifo");
        std::fs::write(dir.join("a.csv"), "x").unwrap();
        let fifo = dir.join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let e = discover(&dir).unwrap_err().to_string();
        assert!(
            e.contains("pipe.csv") && e.contains("FIFO") && e.contains("not a regular file"),
            "{e}"
        );
        let e = discover(&fifo).unwrap_err().to_string();
        assert!(e.contains("pipe.csv: is a FIFO"), "{e}");
        let e = discover(&dir.join("p*.csv")).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        // A FIFO without a data extension is not an input: skipped like notes.txt.
        std::fs::remove_file(&fifo).unwrap();
        let other = dir.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&other).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        assert_eq!(discover(&dir).unwrap(), [dir.join("a.csv")]);
    }

    #[test]
    fn csv_lines_quotes_crlf_and_blank_lines() {
        let dir = temp_dir("csv-basic");
        let f = dir.join("t.csv");
        let text = "\u{feff} A ,B,c,extra\r\n1,\"x, \"\"y\"\"\",3,e\r\n\r\n2,\"multi\nline\",,e\r\n3,z,9,e";
        std::fs::write(&f, text).unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.header, ["a", "b", "c", "extra"]);
        assert_eq!(t.unknown_columns, ["extra"]);
        assert_eq!(t.lines, [2, 4, 6]);
        assert_eq!(col(&t, 0), ["1", "2", "3"]);
        assert_eq!(col(&t, 1), ["x, \"y\"", "multi\nline", "z"]);
        assert_eq!(col(&t, 2), ["3", "", "9"]);
        assert!(t.parse_errors.is_empty());
        assert_eq!(t.rows_read(), 3);
        assert_eq!(t.bytes, text.len() as u64);
        assert_eq!(t.sha256.len(), 64);
        assert_eq!(t.raw_rows(&[2, 0]), ["3,z,9,e", "1,\"x, \"\"y\"\"\",3,e"]);
        assert_eq!(
            raw_records(&f, Encoding::Utf8, WANTED, &t.sha256, &[4]).unwrap(),
            ["2,\"multi\nline\",,e"]
        );
        std::fs::write(&f, format!("{text}\n4,w,1,e")).unwrap();
        let changed = raw_records(&f, Encoding::Utf8, WANTED, &t.sha256, &[4]).unwrap_err();
        assert!(
            changed.to_string().contains("changed while the run"),
            "{changed}"
        );
        assert!(changed.to_string().contains("t.csv"), "{changed}");
    }

    #[test]
    fn csv_crlf_file_is_parsed_in_place() {
        let dir = temp_dir("csv-crlf");
        let f = dir.join("t.csv");
        std::fs::write(&f, "a,b,c\r\n1,\"2\r\n2\",3\r\n4,5,\"\"\r\n7,8,9").unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.lines, [2, 4, 5]);
        assert_eq!(col(&t, 1), ["2\r\n2", "5", "8"]);
        assert_eq!(col(&t, 2), ["3", "", "9"]);
        assert_eq!(t.raw_rows(&[1, 2]), ["4,5,\"\"", "7,8,9"]);
    }

    #[test]
    fn cr_only_line_ends_are_lines() {
        let dir = temp_dir("csv-cr");
        let f = dir.join("t.csv");
        // Old Mac export: `\r` only, a quoted field with a line break, a blank line,
        // then a `\r\n` and a `\n` line (counted once each).
        let text = "a,b,c\r1,\"x\ry\",3\r\r4,5,6\r\n7,8,9\n10,11,12\r";
        std::fs::write(&f, text).unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.header, ["a", "b", "c"]);
        assert_eq!(t.lines, [2, 5, 6, 7]);
        assert_eq!(col(&t, 0), ["1", "4", "7", "10"]);
        assert_eq!(col(&t, 1), ["x\ny", "5", "8", "11"]);
        assert_eq!(col(&t, 2), ["3", "6", "9", "12"]);
        assert_eq!(t.raw_rows(&[1, 3]), ["4,5,6", "10,11,12"]);
        assert!(t.parse_errors.is_empty());
        // GBK with `\r` line ends and a bad byte on line 3: only that line is lost.
        let (gbk, _, _) = encoding_rs::GBK.encode("a,b,c\r张,2,3\r李,5,6\r王,8,9");
        let mut bytes = gbk.into_owned();
        let at = bytes.iter().rposition(|&c| c == b'\r').unwrap();
        bytes.splice(at - 4..at - 4, [0x81, 0x20]);
        std::fs::write(&f, &bytes).unwrap();
        let t = read_table(&f, Encoding::Gbk, WANTED).unwrap();
        assert_eq!(t.lines, [2, 4]);
        assert_eq!(col(&t, 0), ["张", "王"]);
        assert_eq!(t.parse_errors.len(), 1);
        assert_eq!(t.parse_errors[0].line, 3);
    }

    #[test]
    fn csv_ragged_and_unterminated_rows_are_parse_errors() {
        let dir = temp_dir("csv-ragged");
        let f = dir.join("t.csv");
        let text = "a,b,c\n1,2,3\n4,5\n\"6\"7,8,9\n9,10,11\nx\"y,1,2\n12,13,\"14\n15,16,17";
        std::fs::write(&f, text).unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.lines, [2, 5, 8]);
        assert_eq!(col(&t, 0), ["1", "9", "15"]);
        let errs: Vec<(u32, &str)> = t
            .parse_errors
            .iter()
            .map(|e| (e.line, e.raw.as_str()))
            .collect();
        assert_eq!(
            errs,
            [
                (3, "4,5"),
                (4, "\"6\"7,8,9"),
                (6, "x\"y,1,2"),
                (7, "12,13,\"14")
            ]
        );
        assert!(
            t.parse_errors[0].message.contains("2 fields"),
            "{}",
            t.parse_errors[0].message
        );
        assert!(t.parse_errors[1].message.contains("quote"));
        assert!(t.parse_errors[3].message.contains("unterminated"));
        assert_eq!(t.rows_read(), 7);
        // The buffer handed to polars was a copy; the raw text still comes from the file.
        assert_eq!(t.raw_rows(&[1]), ["9,10,11"]);
    }

    /// Random small files over the bytes that matter: the pre-scan and polars must
    /// agree on every record the pre-scan accepts, and nothing panics.
    #[test]
    fn prescan_agrees_with_polars_on_random_text() {
        let dir = temp_dir("csv-random");
        let f = dir.join("t.csv");
        let alphabet = b",\"\n\r a\xff";
        let mut seed: u64 = 0x1234_5678;
        for _ in 0..1500 {
            let mut text = b"a,b,c\n".to_vec();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 58) as usize * 2;
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push(alphabet[(seed >> 59) as usize % alphabet.len()]);
            }
            std::fs::write(&f, &text).unwrap();
            let t = read_table(&f, Encoding::Utf8, WANTED)
                .unwrap_or_else(|e| panic!("{e} for {:?}", String::from_utf8_lossy(&text)));
            // Every value polars returns is the field the pre-scan saw.
            for r in 0..t.height() {
                let raw = &t.raw_rows(&[r])[0];
                let fields = split_record(raw.as_bytes());
                for (i, field) in fields.iter().enumerate() {
                    let v = t.column(i).and_then(|a| a.get(r)).unwrap_or("");
                    // polars drops a '\r' ending an unquoted field; values are trimmed.
                    let (v, field) = (v.trim(), field.trim());
                    assert_eq!(v, field, "row {r} of {:?}", String::from_utf8_lossy(&text));
                }
            }
        }
    }

    #[test]
    fn a_bad_quote_costs_only_its_own_line() {
        let dir = temp_dir("csv-resync");
        let f = dir.join("t.csv");
        let text = "a,b,c\n\"open,1,2\n3,4,5\n\"x\",6,7\n8,\"9\n9\",10\n1,2\n\"3\n4,5,6\n";
        std::fs::write(&f, text).unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.lines, [3, 4, 5, 9]);
        assert_eq!(col(&t, 1), ["4", "6", "9\n9", "5"]);
        let errs: Vec<(u32, &str)> = t
            .parse_errors
            .iter()
            .map(|e| (e.line, e.raw.as_str()))
            .collect();
        assert_eq!(errs, [(2, "\"open,1,2"), (7, "1,2"), (8, "\"3")]);
    }

    #[test]
    fn invalid_utf8_rejects_only_its_row() {
        let dir = temp_dir("csv-utf8");
        let f = dir.join("t.csv");
        std::fs::write(&f, b"a,b,c\n1,\xff\xfe,3\n4,5,6\n").unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.lines, [3]);
        assert_eq!(t.parse_errors.len(), 1);
        assert_eq!(t.parse_errors[0].line, 2);
        assert!(t.parse_errors[0].message.contains("UTF-8"));
    }

    #[test]
    fn gbk_file_with_chinese_header_and_values() {
        let dir = temp_dir("csv-gbk");
        let f = dir.join("t.csv");
        let text = "a,备注,b,c\n1,张三,2,3\n4,李四,5,6\n";
        let (bytes, _, errors) = encoding_rs::GBK.encode(text);
        assert!(!errors);
        let mut bytes = bytes.into_owned();
        std::fs::write(&f, &bytes).unwrap();
        let t = read_table(&f, Encoding::Gbk, WANTED).unwrap();
        assert_eq!(t.unknown_columns, ["备注"]);
        assert_eq!(col(&t, 1), ["2", "5"]);
        assert_eq!(t.raw_rows(&[1]), ["4,李四,5,6"]);
        // An undecodable byte spoils only its own line.
        bytes.splice(bytes.len() - 7..bytes.len() - 7, [0x81, 0x20]);
        std::fs::write(&f, &bytes).unwrap();
        let t = read_table(&f, Encoding::Gb18030, WANTED).unwrap();
        assert_eq!(t.lines, [2]);
        assert_eq!(t.parse_errors.len(), 1);
        assert_eq!(t.parse_errors[0].line, 3);
    }

    #[test]
    fn missing_columns_header_only_and_duplicates() {
        let dir = temp_dir("csv-missing");
        let f = dir.join("t.csv");
        std::fs::write(&f, "a,x\n1,2\n").unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert!(t.columns[1].is_none() && t.columns[2].is_none());
        assert_eq!(col(&t, 0), ["1"]);
        std::fs::write(&f, "x,y\n1,2\n").unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
        assert_eq!(t.height(), 1);
        assert!(t.columns.iter().all(|c| c.is_none()));
        std::fs::write(&f, "a,b,c\n").unwrap();
        assert_eq!(read_table(&f, Encoding::Utf8, WANTED).unwrap().height(), 0);
        std::fs::write(&f, "").unwrap();
        assert_eq!(read_table(&f, Encoding::Utf8, WANTED).unwrap().height(), 0);
        std::fs::write(&f, "a,b,A\n1,2,3\n").unwrap();
        assert!(read_table(&f, Encoding::Utf8, WANTED).is_err());
    }

    /// Written by DuckDB: the ledger columns as text plus `meta STRUCT(a, b)` and
    /// `tags INTEGER[]`, types this build of polars cannot turn into series.
    const STRUCT_PARQUET: &[u8] = include_bytes!("../tests/data/struct_column.parquet");

    #[test]
    fn parquet_unknown_struct_and_list_columns_are_not_read() {
        let dir = temp_dir("parquet-struct");
        let f = dir.join("t.parquet");
        std::fs::write(&f, STRUCT_PARQUET).unwrap();
        let wanted = crate::ledger::LEDGER_COLUMNS;
        let t = read_table(&f, Encoding::Utf8, &wanted).unwrap();
        assert_eq!(t.lines, [1, 2]);
        assert_eq!(t.unknown_columns, ["meta", "tags"]);
        assert_eq!(col(&t, 1), ["2025-01", "2025-02"]);
        assert_eq!(col(&t, 7), ["110100", "110100"]);
        assert!(t.column(8).is_none());
        assert_eq!(
            t.raw_rows(&[1]),
            ["110101199003071234,2025-02,employee,employer,800.00,8000.00,2025-02-15,110100"]
        );
        assert_eq!(
            raw_records(&f, Encoding::Utf8, &wanted, &t.sha256, &[2]).unwrap(),
            t.raw_rows(&[1])
        );
        // Only unknown columns: every row is read, with no column.
        let t = read_table(&f, Encoding::Utf8, &["nothing"]).unwrap();
        assert_eq!(t.rows_read(), 2);
        assert!(t.column(0).is_none());
    }

    #[test]
    fn parquet_typed_columns_become_text() {
        let dir = temp_dir("parquet");
        let f = dir.join("t.parquet");
        let days = Int32Chunked::from_vec("c".into(), vec![20108, 20109])
            .into_date()
            .into_column();
        let mut df = DataFrame::new(
            2,
            vec![
                Column::new("A".into(), vec![202501i64, 7]),
                Column::new("b".into(), vec![800.0f64, 12.5]),
                days,
                Int128Chunked::from_vec("d".into(), vec![80000, 5])
                    .into_decimal(18, 2)
                    .unwrap()
                    .into_column(),
                Int128Chunked::from_vec("e".into(), vec![8_000_000, 50])
                    .into_decimal(18, 4)
                    .unwrap()
                    .into_column(),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&f).unwrap())
            .finish(&mut df)
            .unwrap();
        let t = read_table(&f, Encoding::Utf8, &["a", "b", "c", "d", "e"]).unwrap();
        assert_eq!(t.format, Format::Parquet);
        assert_eq!(t.lines, [1, 2]);
        assert_eq!(col(&t, 0), ["202501", "7"]);
        assert_eq!(col(&t, 1), ["800.0", "12.5"]);
        assert_eq!(col(&t, 2), ["2025-01-20", "2025-01-21"]);
        assert_eq!(col(&t, 3), ["800.00", "0.05"]);
        assert_eq!(col(&t, 4), ["800.00", "0.005"]);
        assert_eq!(t.raw_rows(&[1]), ["7,12.5,2025-01-21,0.05,0.005"]);
        std::fs::write(&f, b"PAR1 not really PAR1").unwrap();
        assert!(read_table(&f, Encoding::Utf8, &["a"]).is_err());
    }
}
