//! ledgerflow's CSV reader against the `csv` crate on exactly the ledger columns.
//!
//!     csv-read ours     DIR [--per-file|--dump] # ledgerflow::ingest::read_table
//!     csv-read csv      DIR [--per-file|--dump] # csv::ReaderBuilder, one streaming pass
//!     csv-read csv-cols DIR [--per-file|--dump] # the same pass into ours' columns
//!     csv-read sha256   DIR                    # the file read + SHA-256 `ours` includes
//!     csv-read read     DIR                    # the file read alone (the floor)
//!
//! Every `*.csv` directly in DIR (sorted), files in parallel (rayon) in windows of
//! twice the threads as ledgerflow's reading stage. `ours`, `csv` and `csv-cols`
//! fold every field of the ledger columns present in the header (request order of
//! `LEDGER_COLUMNS`, an empty field as `""`) and every record's line into [`Sums`];
//! all three must print the same numbers when they read the same records on the same lines.
//! `--per-file` prints one line per file, `--dump` every record (`line: f1|f2|…`) and
//! every parse error, to find where the two disagree on small files.

use csv::{ByteRecord, ReaderBuilder};
use ledgerflow::domain::Encoding;
use ledgerflow::ingest::{StrArray, read_table};
use ledgerflow::ledger::LEDGER_COLUMNS;
use polars::prelude::{StringChunked, StringChunkedBuilder};
use rayon::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

type Res<T> = Result<T, String>;

/// A word-at-a-time hash (FxHash's step): cheap next to parsing, so it adds the same
/// small cost to both readers.
#[derive(Clone, Copy)]
struct Hash(u64);

impl Hash {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    const fn new() -> Hash {
        Hash(0xcbf2_9ce4_8422_2325)
    }
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
    /// The bytes and their length, so `"ab","c"` and `"a","bc"` differ.
    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(w));
        self.word(b.len() as u64);
    }
}

/// What one file (or all) yielded.
#[derive(Clone, Copy, PartialEq)]
struct Sums {
    files: u64,
    rows: u64,
    parse_errors: u64,
    field_bytes: u64,
    /// Over each ledger column's fields in row order, then over the lines.
    checksum: u64,
}

/// Folds one file's records: one hash per ledger column and one for the lines, so
/// `ours` can walk its columns and `csv` its records and still agree.
struct Fold {
    cols: [Hash; LEDGER_COLUMNS.len()],
    lines: Hash,
    rows: u64,
    parse_errors: u64,
    field_bytes: u64,
}

impl Fold {
    fn new() -> Fold {
        Fold {
            cols: [Hash::new(); LEDGER_COLUMNS.len()],
            lines: Hash::new(),
            rows: 0,
            parse_errors: 0,
            field_bytes: 0,
        }
    }
    fn field(&mut self, col: usize, v: &[u8]) {
        self.cols[col].bytes(v);
        self.field_bytes += v.len() as u64;
    }
    fn line(&mut self, line: u64) {
        self.lines.word(line);
        self.rows += 1;
    }
    fn finish(self) -> Sums {
        let mut h = Hash::new();
        self.cols.iter().for_each(|c| h.word(c.0));
        h.word(self.lines.0);
        Sums {
            files: 1,
            rows: self.rows,
            parse_errors: self.parse_errors,
            field_bytes: self.field_bytes,
            checksum: h.0,
        }
    }
}

/// Folds text columns (null as `""`) and their lines, column by column.
fn fold_columns(arrays: &[Option<&StrArray>], lines: &[u32]) -> Fold {
    let mut f = Fold::new();
    for (col, a) in arrays.iter().enumerate() {
        if let Some(a) = a {
            for v in a.iter() {
                f.field(col, v.unwrap_or("").as_bytes());
            }
        }
    }
    lines.iter().for_each(|&l| f.line(u64::from(l)));
    f
}

#[derive(Clone, Copy, PartialEq)]
enum Show {
    Total,
    PerFile,
    Dump,
}

/// `ours`: exactly ledgerflow's reader (pre-scan, polars' string parse, SHA-256 of the
/// file beside it), then its text columns and `lines`.
fn ours(path: &Path, show: Show) -> Res<Sums> {
    let t = read_table(path, Encoding::Utf8, &LEDGER_COLUMNS).map_err(|e| e.to_string())?;
    let arrays: Vec<Option<&StrArray>> = (0..LEDGER_COLUMNS.len()).map(|c| t.column(c)).collect();
    let mut f = fold_columns(&arrays, &t.lines);
    f.parse_errors = t.parse_errors.len() as u64;
    if show == Show::Dump {
        for (row, line) in t.lines.iter().enumerate() {
            let fields: Vec<&str> = (0..LEDGER_COLUMNS.len())
                .filter_map(|c| t.column(c).map(|a| a.get(row).unwrap_or("")))
                .collect();
            println!("  {line}: {}", fields.join("|"));
        }
        for e in &t.parse_errors {
            println!("  {}: PARSE_ERROR {} [{}]", e.line, e.message, e.raw);
        }
    }
    Ok(f.finish())
}

/// As ledgerflow's header matching: trimmed, lowercased, a BOM dropped.
fn normalise(s: &str) -> String {
    s.trim_start_matches('\u{feff}').trim().to_lowercase()
}

/// The ledger columns' texts of one good record, by ledger column (`""` where the
/// header lacks the column).
type Vals<'a> = [&'a str; LEDGER_COLUMNS.len()];

/// One streaming pass of the csv crate over the file: `row(line, vals)` for every good
/// record, with `present` (the ledger columns the header has, in request order) given
/// once. The header is mapped to the ledger columns; a record with the wrong field
/// count or bytes that are not UTF-8 is a parse error (returned: their count); a
/// record of one blank field (a line of spaces) is skipped as ledgerflow skips it (the
/// csv crate skips only empty lines).
fn csv_rows(path: &Path, show: Show, mut row: impl FnMut(&[usize], u64, &Vals<'_>)) -> Res<u64> {
    let at = |e: csv::Error| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rdr = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file);
    let header = rdr.byte_headers().map_err(at)?;
    let names: Vec<String> = header
        .iter()
        .map(|h| normalise(&String::from_utf8_lossy(h)))
        .collect();
    // The ledger column of each field (`None`: a column we do not read).
    let mut col_of: Vec<Option<usize>> = vec![None; names.len()];
    let mut present = Vec::new();
    for (col, want) in LEDGER_COLUMNS.iter().enumerate() {
        let mut at = names.iter().enumerate().filter(|(_, n)| n == want);
        if let Some((i, _)) = at.next() {
            if at.next().is_some() {
                return Err(format!(
                    "{}: column \"{want}\" appears twice in the header",
                    path.display()
                ));
            }
            col_of[i] = Some(col);
            present.push(col);
        }
    }
    let mut parse_errors = 0u64;
    let mut rec = ByteRecord::new();
    while rdr.read_byte_record(&mut rec).map_err(at)? {
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut vals: Vals<'_> = [""; LEDGER_COLUMNS.len()];
        let fault = if rec.len() != names.len() {
            Some(format!(
                "record has {} fields, the header has {}",
                rec.len(),
                names.len()
            ))
        } else {
            // Every field checked once; the ledger columns' texts kept.
            let mut bad = false;
            for (v, col) in rec.iter().zip(&col_of) {
                match (std::str::from_utf8(v), col) {
                    (Err(_), _) => bad = true,
                    (Ok(s), Some(c)) => vals[*c] = s,
                    (Ok(_), None) => {}
                }
            }
            bad.then(|| "bytes that are not valid UTF-8 text".to_string())
        };
        match fault {
            Some(message) => {
                parse_errors += 1;
                if show == Show::Dump {
                    println!("  {line}: PARSE_ERROR {message}");
                }
            }
            None => {
                if show == Show::Dump {
                    let fields: Vec<&str> = present.iter().map(|&c| vals[c]).collect();
                    println!("  {line}: {}", fields.join("|"));
                }
                row(&present, line, &vals);
            }
        }
    }
    Ok(parse_errors)
}

/// `csv`: [`csv_rows`], every field folded as it streams by (no columns built).
fn csv(path: &Path, show: Show) -> Res<Sums> {
    let mut f = Fold::new();
    f.parse_errors = csv_rows(path, show, |present, line, vals| {
        for &c in present {
            f.field(c, vals[c].as_bytes());
        }
        f.line(line);
    })?;
    Ok(f.finish())
}

/// `csv-cols`: [`csv_rows`] into the columns `ours` hands to validation (a `String`
/// column per ledger column, null for an empty field, and the `u32` lines), then the
/// same walk over them as `ours`: what a drop-in replacement of the reader would do.
fn csv_cols(path: &Path, show: Show) -> Res<Sums> {
    // Sized for the file up front (a ledger record is ~90 bytes), as polars sizes
    // its columns, so the builders do not grow by copying.
    let rows = std::fs::metadata(path).map_or(0, |m| m.len() / 80) as usize;
    let mut builders: Vec<Option<StringChunkedBuilder>> =
        (0..LEDGER_COLUMNS.len()).map(|_| None).collect();
    let mut lines: Vec<u32> = Vec::with_capacity(rows);
    let parse_errors = csv_rows(path, show, |present, line, vals| {
        for &c in present {
            let b = builders[c]
                .get_or_insert_with(|| StringChunkedBuilder::new(LEDGER_COLUMNS[c].into(), rows));
            match vals[c] {
                "" => b.append_null(),
                v => b.append_value(v),
            }
        }
        lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    })?;
    let columns: Vec<Option<StringChunked>> = builders
        .into_iter()
        .map(|b| b.map(StringChunkedBuilder::finish))
        .collect();
    let arrays: Vec<Option<&StrArray>> = columns
        .iter()
        .map(|c| c.as_ref().and_then(|c| c.downcast_get(0)))
        .collect();
    let mut f = fold_columns(&arrays, &lines);
    f.parse_errors = parse_errors;
    Ok(f.finish())
}

/// `sha256`: what `ours` does beside the parse (the file read and its SHA-256).
fn sha256(path: &Path, _: Show) -> Res<Sums> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let hex = ledgerflow::digest::sha256_hex(&data);
    let mut f = Fold::new();
    f.field(0, hex.as_bytes());
    Ok(f.finish())
}

/// `read`: the file into memory, nothing else.
fn read(path: &Path, _: Show) -> Res<Sums> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut f = Fold::new();
    f.field_bytes = data.len() as u64;
    Ok(f.finish())
}

/// `*.csv` directly in `dir`, sorted.
fn csv_files(dir: &Path) -> Res<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no *.csv", dir.display()));
    }
    Ok(files)
}

fn print(what: &str, s: &Sums) {
    println!(
        "{what}: {} files, {} rows, {} parse errors, {} field bytes, checksum {:016x}",
        s.files, s.rows, s.parse_errors, s.field_bytes, s.checksum
    );
}

fn run(args: &[String]) -> Res<()> {
    let (mode, dir, show) = match args {
        [m, d] => (m, d, Show::Total),
        [m, d, s] if s == "--per-file" => (m, d, Show::PerFile),
        [m, d, s] if s == "--dump" => (m, d, Show::Dump),
        _ => {
            return Err(
                "usage: csv-read ours|csv|csv-cols|sha256|read DIR [--per-file|--dump]".into(),
            );
        }
    };
    let reader: fn(&Path, Show) -> Res<Sums> = match mode.as_str() {
        "ours" => ours,
        "csv" => csv,
        "csv-cols" => csv_cols,
        "sha256" => sha256,
        "read" => read,
        _ => {
            return Err(format!(
                "unknown mode {mode:?}: ours, csv, csv-cols, sha256 or read"
            ));
        }
    };
    let files = csv_files(Path::new(dir))?;
    let start = Instant::now();
    let per_file: Vec<Sums> = if show == Show::Dump {
        // One file after the other, so the dump is in file order.
        files
            .iter()
            .map(|p| {
                println!("{}", p.display());
                reader(p, show)
            })
            .collect::<Res<_>>()?
    } else {
        // As ledgerflow's reading stage (src/validate/reading.rs): files in windows of
        // twice the threads, so at most that many files are in memory at once.
        let window = 2 * rayon::current_num_threads().max(1);
        let mut all = Vec::with_capacity(files.len());
        for batch in files.chunks(window) {
            let sums: Vec<Sums> = batch
                .par_iter()
                .map(|p| reader(p, show))
                .collect::<Res<_>>()?;
            all.extend(sums);
        }
        all
    };
    let secs = start.elapsed().as_secs_f64();
    // Files in sorted order, so the total does not depend on the threads.
    let mut h = Hash::new();
    let mut total = Sums {
        files: 0,
        rows: 0,
        parse_errors: 0,
        field_bytes: 0,
        checksum: 0,
    };
    for (p, s) in files.iter().zip(&per_file) {
        if show != Show::Total {
            print(&p.display().to_string(), s);
        }
        total.files += s.files;
        total.rows += s.rows;
        total.parse_errors += s.parse_errors;
        total.field_bytes += s.field_bytes;
        h.word(s.checksum);
    }
    total.checksum = h.0;
    print(&format!("{mode} ({secs:.2} s)"), &total);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("csv-read: {e}");
            ExitCode::FAILURE
        }
    }
}
