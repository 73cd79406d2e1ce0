//! CSV: the quote-aware pre-scan that finds every record and its line, then polars'
//! string-typed parse of the clean records (see the module doc of [`super`]).

use super::{
    Format, ParseError, Source, Table, match_header, normalise_name, single_chunk, truncate_raw,
};
use crate::domain::Encoding;
use crate::error::{Error, Result};
use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;

/// Old Mac and Excel exports end lines with a bare `\r`: every `\r` not followed by
/// `\n` becomes `\n`, so `\r`, `\n` and `\r\n` each end one line (also inside
/// quoted fields). The file itself is kept (no copy) when it has no bare `\r`. Safe
/// before decoding GBK / GB18030: `\r` (0x0D) is never part of a multi-byte character.
pub(super) fn cr_line_ends_to_lf(data: Arc<Vec<u8>>) -> Arc<Vec<u8>> {
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
pub(super) struct CsvText {
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

pub(super) fn decode(data: Arc<Vec<u8>>, encoding: Encoding) -> CsvText {
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
pub(super) enum ScanFault {
    Unterminated,
    StrayQuote,
}

/// One record found by the pre-scan.
#[derive(Debug)]
pub(super) struct Rec {
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
pub(super) fn line_end(b: &[u8], from: usize) -> (usize, usize) {
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

pub(super) fn count_newlines(b: &[u8]) -> u32 {
    b.iter().filter(|&&c| c == b'\n').count() as u32
}

/// Scans the record starting at `start` (RFC 4180, `,` separator, `"` quote).
///
/// `no_close_from` makes repeated unterminated quotes linear: once a quoted field
/// opened at `a - 1` found no closing quote up to the end of the text, every quote
/// run after it has even length, so a field opened later can only close inside its
/// first quote run.
pub(super) fn scan_record(b: &[u8], start: usize, no_close_from: &mut usize) -> Rec {
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
pub(super) fn split_record(rec: &[u8]) -> Vec<String> {
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

pub(super) fn is_blank(rec: &[u8]) -> bool {
    rec.iter().all(|c| c.is_ascii_whitespace())
}

pub(super) fn read_csv(
    path: &Path,
    data: Arc<Vec<u8>>,
    encoding: Encoding,
    wanted: &[&str],
) -> Result<Table> {
    // Excel's "Unicode text": read as UTF-8 it would give rows of NULs, each rejected.
    if data.starts_with(b"\xFF\xFE") || data.starts_with(b"\xFE\xFF") {
        return Err(Error::input(
            path,
            "the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8 or GBK CSV",
        ));
    }
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
        typed: Vec::new(),
        wanted: Vec::new(),
        lines,
        parse_errors,
        unknown_columns,
        source: Source::Csv(text),
    })
}

pub(super) fn scan_fault_message(f: ScanFault) -> &'static str {
    match f {
        ScanFault::Unterminated => "a quoted field is never closed (unterminated quote)",
        ScanFault::StrayQuote => "a quote inside an unquoted field or after a closing quote",
    }
}

/// Parses a clean CSV buffer (no header) with every column a `String`.
pub(super) fn polars_csv(
    buf: &[u8],
    ncols: usize,
    projection: &[usize],
) -> PolarsResult<DataFrame> {
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

/// The record text of each of `lines` (records known to be well formed).
pub(super) fn csv_raw_for_lines(t: &CsvText, lines: &[u32]) -> Vec<String> {
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
