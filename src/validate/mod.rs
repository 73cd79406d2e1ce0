//! String rows → accepted typed columns | rejects (CONTRACT.md §2, §4).
//!
//! [`read_inputs`] reads every input file through `ingest`, checks each row and
//! hands `engine` the accepted rows in input order (files sorted by path, then line)
//! together with one [`Reject`] per rejected row. A row with several faults gets one
//! reject: `MISSING_VALUE` first, then the columns in the order of CONTRACT.md §2.1.
//! Exact duplicates among the rows that passed those checks keep their first copy.
//!
//! Rows are checked in parallel over row ranges straight from the `&str` values of
//! the string columns; accepted rows cost no allocation, only rejects build strings.

use crate::domain::{Date, Encoding, Fen, Month, Payer, RejectType, Scheme, SpecialGroup};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ingest::{self, StrArray};
use crate::ledger::{ClaimRows, InputFile, InputKind, Inputs, LedgerRows, RegistryRows, Reject};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub mod buckets;
mod cache;
mod plausible;

pub use plausible::Plausibility;

use crate::ledger::LEDGER_COLUMNS;
const REGISTRY_COLUMNS: [&str; 4] = ["person_id", "group", "valid_from", "valid_to"];
const CLAIMS_COLUMNS: [&str; 3] = ["person_id", "year", "fund_paid"];
/// Most columns any input has.
const MAX_COLUMNS: usize = 10;
/// Rows per parallel task.
const CHUNK_ROWS: usize = 1 << 15;
/// Longest value quoted in a reject message.
const MAX_SHOWN_CHARS: usize = 64;

/// Reads and validates all inputs: the ledger files (folder, file or pattern), the
/// optional special-group registry and the optional claims.
///
/// Files are ordered ledger files (sorted by path), then the registry, then claims;
/// a registry or claims file that also lies in the ledger folder is read only as
/// what it was named for. Unreadable files are errors; bad rows are rejects.
pub fn read_inputs(
    ledger: &Path,
    special_groups: Option<&Path>,
    claims: Option<&Path>,
    encoding: Encoding,
) -> Result<Inputs> {
    read_inputs_cached(
        ledger,
        special_groups,
        claims,
        encoding,
        None,
        None,
        &Plausibility::default(),
    )
}

/// [`read_inputs`], reading the sheet `sheet` of Excel ledger files (`None`: the
/// first), taking the checked rows of unchanged ledger files from the cache folder
/// `cache` (see [`cache`]) and storing those of new or changed files there; ledger
/// rows are checked against the bounds of `plausibility` (see [`plausible`]).
pub fn read_inputs_cached(
    ledger: &Path,
    special_groups: Option<&Path>,
    claims: Option<&Path>,
    encoding: Encoding,
    sheet: Option<&str>,
    cache: Option<&Path>,
    plausibility: &Plausibility,
) -> Result<Inputs> {
    let found = discover_inputs(ledger, special_groups, claims)?;
    let mut reading = Reading {
        encoding,
        sheet: sheet.map(str::to_string),
        files: Vec::new(),
        paths: Vec::new(),
        rejects: Vec::new(),
    };
    let cache = match cache {
        Some(dir) => Some(cache::LedgerCache::new(dir, encoding, sheet)?),
        None => None,
    };
    let ledger = reading.read_ledger(&found.ledger, cache.as_ref(), plausibility)?;
    let (registry, claim_rows) = reading.read_registry_and_claims(&found)?;
    let (files, rejects) = reading.finish();
    Ok(Inputs {
        files,
        ledger,
        registry,
        claims: claim_rows,
        rejects,
    })
}

/// The checked rows of the ledger file with this SHA-256 in the cache at `dir`, before
/// the duplicate check, in file order, with the hash of each row's `employer_id` and
/// `txn_id`; `None` when there is no undamaged entry.
pub fn cached_ledger_rows(
    dir: &Path,
    encoding: Encoding,
    sheet: Option<&str>,
    sha256: &str,
) -> Option<(LedgerRows, Vec<u64>)> {
    let cache = cache::LedgerCache::new(dir, encoding, sheet).ok()?;
    let out = cache.load(sha256, None, 0)?;
    let mut rows = LedgerRows::default();
    let mut text = Vec::new();
    for part in out.parts {
        for (v, line) in part.values.into_iter().zip(part.lines) {
            push_ledger(&mut rows, &mut text, v, 0, line);
        }
    }
    Some((rows, text))
}

/// Removes the cache entries of files other than these (by SHA-256).
pub fn retain_cached(dir: &Path, encoding: Encoding, keep: &[&str]) -> Result<()> {
    cache::LedgerCache::new(dir, encoding, None)?.retain(keep);
    Ok(())
}

/// The input files of a pipeline: ledger files (sorted), registry and claims files.
struct Found {
    ledger: Vec<PathBuf>,
    special_groups: Vec<PathBuf>,
    claims: Vec<PathBuf>,
}

/// Finds the input files; a registry or claims file that also lies in the ledger
/// folder is read only as what it was named for.
fn discover_inputs(
    ledger: &Path,
    special_groups: Option<&Path>,
    claims: Option<&Path>,
) -> Result<Found> {
    let sg_paths = match special_groups {
        Some(p) => ingest::discover_as(p, "special-groups")?,
        None => Vec::new(),
    };
    let claim_paths = match claims {
        Some(p) => ingest::discover_as(p, "claims")?,
        None => Vec::new(),
    };
    let others: Vec<PathBuf> = sg_paths
        .iter()
        .chain(&claim_paths)
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut ledger_paths = ingest::discover(ledger)?;
    ledger_paths.retain(|p| p.canonicalize().map_or(true, |c| !others.contains(&c)));
    Ok(Found {
        ledger: ledger_paths,
        special_groups: sg_paths,
        claims: claim_paths,
    })
}

/// The files read so far and their rejects.
struct Reading {
    encoding: Encoding,
    /// `[inputs].sheet`: the sheet of Excel ledger files (`None`: the first).
    sheet: Option<String>,
    files: Vec<InputFile>,
    /// The path of each of `files`, to read it again for duplicates' raw text.
    paths: Vec<PathBuf>,
    rejects: Vec<Rej>,
}

impl Reading {
    fn add_file(&mut self, info: InputFile, path: &Path, rejects: Vec<Rej>) {
        self.files.push(info);
        self.paths.push(path.to_path_buf());
        self.rejects.extend(rejects);
    }

    /// The registry and claims files (after the ledger, in that order).
    fn read_registry_and_claims(&mut self, found: &Found) -> Result<(RegistryRows, ClaimRows)> {
        let mut registry = RegistryRows::default();
        let reg_values = self.read_small(
            &found.special_groups,
            InputKind::SpecialGroups,
            &REGISTRY_COLUMNS,
            check_registry,
            |v| (v.person, v.group, v.valid_from, v.valid_to),
        )?;
        for (v, file, line) in reg_values {
            registry.person.push(v.person);
            registry.group.push(v.group);
            registry.valid_from.push(v.valid_from);
            registry.valid_to.push(v.valid_to);
            registry.file.push(file);
            registry.line.push(line);
        }

        let mut claim_rows = ClaimRows::default();
        let claim_values = self.read_small(
            &found.claims,
            InputKind::Claims,
            &CLAIMS_COLUMNS,
            check_claim,
            |v| (v.person, v.year, v.fund_paid),
        )?;
        for (v, file, _) in claim_values {
            claim_rows.person.push(v.person);
            claim_rows.year.push(v.year);
            claim_rows.fund_paid.push(v.fund_paid);
            claim_rows.file.push(file);
        }
        Ok((registry, claim_rows))
    }

    /// The ledger files, in parallel; accepted rows appended in file order, then
    /// implausible rows and exact duplicates removed. Files are checked a few at a time (two per thread),
    /// so the checked-but-not-yet-appended rows of only those files are held at once.
    fn read_ledger(
        &mut self,
        paths: &[PathBuf],
        cache: Option<&cache::LedgerCache>,
        plausibility: &Plausibility,
    ) -> Result<LedgerRows> {
        let window = 2 * rayon::current_num_threads().max(1);
        let mut rows = LedgerRows::default();
        let mut text_keys: Vec<u64> = Vec::new();
        crate::log::reading_started(paths.len() as u64);
        for batch in paths.chunks(window) {
            let first = self.files.len();
            let (encoding, sheet) = (self.encoding, self.sheet.as_deref());
            let outs: Vec<Result<FileOut<LedgerValue>>> = batch
                .par_iter()
                .enumerate()
                .map(|(i, p)| {
                    let file = file_index(first + i)?;
                    let check = || {
                        read_file(
                            p,
                            file,
                            InputKind::Ledger,
                            (encoding, sheet),
                            &LEDGER_COLUMNS,
                            check_ledger,
                        )
                    };
                    let Some(cache) = cache else {
                        return check();
                    };
                    let bytes = std::fs::read(p)
                        .map_err(|e| Error::input(p, format!("cannot read: {e}")))?;
                    let sha256 = crate::digest::sha256_hex(&bytes);
                    drop(bytes);
                    if let Some(out) = cache.load(&sha256, Some(p), file) {
                        return Ok(out);
                    }
                    let out = check()?;
                    cache.store(&out, p)?;
                    Ok(out)
                })
                .collect();
            let accepted: usize = outs
                .iter()
                .map(|o| o.as_ref().map_or(0, FileOut::accepted))
                .sum();
            reserve_ledger(&mut rows, accepted);
            text_keys.reserve(accepted);
            for (out, path) in outs.into_iter().zip(batch) {
                let out = out?;
                let file = file_index(self.files.len())?;
                crate::log::file_read(out.file.rows_read);
                self.add_file(out.file, path, out.rejects);
                // Each part is freed once copied, so a file's rows are held once.
                for part in out.parts {
                    for (v, line) in part.values.into_iter().zip(part.lines) {
                        push_ledger(&mut rows, &mut text_keys, v, file, line);
                    }
                }
            }
        }
        crate::log::reading_finished();
        let (implausible, latest) = self.check_rows(&mut rows, &mut text_keys, cache, |r| {
            let row = plausible_row(r);
            plausibility.check_row(&row)?;
            Ok(plausibility.reference_of(&row))
        })?;
        self.rejects.extend(implausible);
        let reference = plausibility.reference(latest);
        let (ahead, _) = self.check_rows(&mut rows, &mut text_keys, cache, |r| {
            plausibility.check_ahead(reference, &plausible_row(r))?;
            Ok(None)
        })?;
        self.rejects.extend(ahead);
        self.drop_duplicates(&mut rows, text_keys, cache)?;
        Ok(rows)
    }

    /// Removes the rows `check` finds fault with (in input order) from `rows` and
    /// `text_keys`, and returns their rejects with their raw text, and the latest month
    /// `check` returned for the rows it passed. Rows are checked in parallel.
    fn check_rows(
        &self,
        rows: &mut LedgerRows,
        text_keys: &mut Vec<u64>,
        cache: Option<&cache::LedgerCache>,
        check: impl Fn(RowAt) -> Result<Option<Month>, Fault> + Sync,
    ) -> Result<(Vec<Rej>, Option<Month>)> {
        let view: &LedgerRows = rows;
        let starts: Vec<usize> = (0..view.len()).step_by(CHUNK_ROWS).collect();
        type Chunk = (Vec<(usize, Fault)>, Option<Month>);
        let chunks: Vec<Chunk> = starts
            .par_iter()
            .map(|&start| {
                let (mut faults, mut latest) = (Vec::new(), None);
                for i in start..(start + CHUNK_ROWS).min(view.len()) {
                    match check(RowAt(view, i)) {
                        Ok(m) => latest = latest.max(m),
                        Err(f) => faults.push((i, f)),
                    }
                }
                (faults, latest)
            })
            .collect();
        let mut rejects = Vec::new();
        let mut bad = Vec::new();
        let mut latest = None;
        for (faults, m) in chunks {
            latest = latest.max(m);
            for (i, f) in faults {
                bad.push(i);
                rejects.push(Rej {
                    file: rows.file[i],
                    line: rows.line[i],
                    column: Some(f.column),
                    kind: f.kind,
                    message: f.message,
                    raw: String::new(),
                });
            }
        }
        if bad.is_empty() {
            return Ok((rejects, latest));
        }
        let mut next = bad.iter().peekable();
        let mut i = 0;
        text_keys.retain(|_| {
            let drop = next.next_if_eq(&&i).is_some();
            i += 1;
            !drop
        });
        remove_ledger_rows(rows, bad.into_iter());
        self.fill_raw(&mut rejects, cache)?;
        Ok((rejects, latest))
    }

    /// Removes exact duplicates from `rows` (in input order, keeping the first copy)
    /// and records their `DUPLICATE_ROW` rejects.
    fn drop_duplicates(
        &mut self,
        rows: &mut LedgerRows,
        text_keys: Vec<u64>,
        cache: Option<&cache::LedgerCache>,
    ) -> Result<()> {
        let dups = ledger_duplicates(rows, &text_keys)?;
        drop(text_keys);
        let pairs: Lookup = dups
            .iter()
            .map(|&(d, f)| ((rows.file[d], rows.line[d]), (rows.file[f], rows.line[f])))
            .collect();
        remove_ledger_rows(rows, dups.iter().map(|d| d.0));
        let dup_rejects = self.duplicate_rejects(&pairs, cache)?;
        self.rejects.extend(dup_rejects);
        Ok(())
    }

    /// The files of a small input (registry, claims) one after the other, exact
    /// duplicates dropped: the accepted values with their (file, line).
    fn read_small<V: Send, K: Ord>(
        &mut self,
        paths: &[PathBuf],
        kind: InputKind,
        columns: &'static [&'static str],
        check: fn(&[Field]) -> Result<V, Fault>,
        key: impl Fn(&V) -> K,
    ) -> Result<Vec<(V, u32, u32)>> {
        let mut values: Vec<(V, u32, u32)> = Vec::new();
        for p in paths {
            let file = file_index(self.files.len())?;
            let out = read_file(p, file, kind, (self.encoding, None), columns, check)?;
            self.add_file(out.file, p, out.rejects);
            for part in out.parts {
                values.extend(
                    part.values
                        .into_iter()
                        .zip(part.lines)
                        .map(|(v, l)| (v, file, l)),
                );
            }
        }
        let dups = small_duplicates(&values, |(v, ..)| key(v));
        let dup_rejects = self.duplicate_rejects(&small_lookup(&values, &dups), None)?;
        self.rejects.extend(dup_rejects);
        let mut next_dup = dups.iter().map(|d| d.0).peekable();
        let mut kept = Vec::with_capacity(values.len() - dups.len());
        for (i, v) in values.into_iter().enumerate() {
            if next_dup.peek() == Some(&i) {
                next_dup.next();
            } else {
                kept.push(v);
            }
        }
        Ok(kept)
    }

    /// `DUPLICATE_ROW` rejects, each file read again once for the rows' raw text.
    fn duplicate_rejects(
        &self,
        pairs: &Lookup,
        cache: Option<&cache::LedgerCache>,
    ) -> Result<Vec<Rej>> {
        let mut rejects: Vec<Rej> = pairs
            .iter()
            .map(|&((file, line), (first_file, first_line))| {
                let message = if file == first_file {
                    format!("exact duplicate of line {first_line}")
                } else {
                    let name = self
                        .files
                        .get(first_file as usize)
                        .map_or("", |f| f.path.as_str());
                    format!("exact duplicate of line {first_line} of {name}")
                };
                Rej {
                    file,
                    line,
                    column: None,
                    kind: RejectType::DuplicateRow,
                    message,
                    raw: String::new(),
                }
            })
            .collect();
        self.fill_raw(&mut rejects, cache)?;
        Ok(rejects)
    }

    /// Sorts `rejects` by (file, line) and fills in their raw text: each file is read
    /// again once, unless the cache has the text of those lines from an earlier run.
    fn fill_raw(&self, rejects: &mut [Rej], cache: Option<&cache::LedgerCache>) -> Result<()> {
        rejects.sort_by_key(|r| (r.file, r.line));
        for group in rejects.chunk_by_mut(|a, b| a.file == b.file) {
            let file = group[0].file as usize;
            let (Some(path), Some(info)) = (self.paths.get(file), self.files.get(file)) else {
                continue;
            };
            let mut known = cache.map(|c| c.load_raw(&info.sha256)).unwrap_or_default();
            let missing: Vec<u32> = group
                .iter()
                .map(|r| r.line)
                .filter(|l| !known.contains_key(l))
                .collect();
            if !missing.is_empty() {
                let sheet = match info.kind {
                    InputKind::Ledger => self.sheet.as_deref(),
                    _ => None,
                };
                let raws = ingest::raw_records_sheet(
                    path,
                    self.encoding,
                    sheet,
                    columns_of(info.kind),
                    &info.sha256,
                    &missing,
                )?;
                known.extend(missing.into_iter().zip(raws));
                if let Some(c) = cache {
                    c.store_raw(&info.sha256, &known)?;
                }
            }
            for r in group.iter_mut() {
                r.raw = known.get(&r.line).cloned().unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Per-file counts, and the rejects in input order (file, line).
    fn finish(self) -> (Vec<InputFile>, Vec<Reject>) {
        let Reading {
            mut files,
            mut rejects,
            ..
        } = self;
        rejects.sort_by_key(|r| (r.file, r.line));
        for f in &mut files {
            f.rows_rejected = 0;
        }
        for r in &rejects {
            if let Some(f) = files.get_mut(r.file as usize) {
                f.rows_rejected += 1;
            }
        }
        for f in &mut files {
            f.rows_accepted = f.rows_read.saturating_sub(f.rows_rejected);
        }
        let rejects = rejects
            .into_iter()
            .map(|r| Reject {
                source_file: files
                    .get(r.file as usize)
                    .map(|f| f.path.clone())
                    .unwrap_or_default(),
                line: r.line as u64,
                column: r.column.map(str::to_string),
                error_type: r.kind,
                message: r.message,
                raw: r.raw,
            })
            .collect();
        (files, rejects)
    }
}

/// Why no ledger row was accepted, file by file, for the error that stops a run
/// without `--as-of`: `ledger/a.csv: column period is missing from the file (all 3
/// rows)`, `ledger/b.csv: no data rows (empty file or header only)`. `rejects` are
/// (source file, message) pairs; the most frequent message of a file is named.
pub fn no_rows_cause<'a>(
    files: &[InputFile],
    rejects: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut by_file: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, u64>> =
        Default::default();
    for (file, message) in rejects {
        *by_file.entry(file).or_default().entry(message).or_default() += 1;
    }
    let ledger: Vec<&InputFile> = files
        .iter()
        .filter(|f| f.kind == InputKind::Ledger)
        .collect();
    let mut parts: Vec<String> = ledger
        .iter()
        .take(5)
        .map(|f| {
            let top = by_file.get(f.path.as_str()).and_then(|m| {
                m.iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(msg, n)| (*msg, *n))
            });
            match top {
                _ if f.rows_read == 0 => {
                    format!("{}: no data rows (empty file or header only)", f.path)
                }
                Some((msg, n)) if n == f.rows_read => {
                    format!("{}: {msg} (all {n} rows)", f.path)
                }
                Some((msg, n)) => format!(
                    "{}: {} rows rejected, {n} of them: {msg}",
                    f.path, f.rows_rejected
                ),
                None => format!("{}: {} rows rejected", f.path, f.rows_rejected),
            }
        })
        .collect();
    if ledger.len() > 5 {
        parts.push(format!("and {} more files", ledger.len() - 5));
    }
    parts.join("; ")
}

/// The columns read from a file of this kind.
fn columns_of(kind: InputKind) -> &'static [&'static str] {
    match kind {
        InputKind::Ledger => &LEDGER_COLUMNS,
        InputKind::SpecialGroups => &REGISTRY_COLUMNS,
        InputKind::Claims => &CLAIMS_COLUMNS,
    }
}

/// Row `.1` of a set of ledger rows.
#[derive(Clone, Copy)]
struct RowAt<'a>(&'a LedgerRows, usize);

fn plausible_row(RowAt(r, i): RowAt) -> plausible::Row {
    plausible::Row {
        person: r.person[i],
        period: r.period[i],
        amount: r.amount[i],
        base: r.base[i],
        paid_on: r.paid_on[i],
    }
}

fn file_index(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::Internal("too many input files".into()))
}

// ---------------------------------------------------------------------------
// Fields and faults
// ---------------------------------------------------------------------------

/// One field of a row: the column is absent from the file, or its trimmed text
/// (empty for an empty or null value).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field<'a> {
    Absent,
    Value(&'a str),
}

impl<'a> Field<'a> {
    fn text(self) -> &'a str {
        match self {
            Field::Absent => "",
            Field::Value(s) => s,
        }
    }
}

/// Why a row is rejected.
#[derive(Debug, PartialEq)]
struct Fault {
    column: &'static str,
    kind: RejectType,
    message: String,
}

fn fault(column: &'static str, kind: RejectType, message: String) -> Fault {
    Fault {
        column,
        kind,
        message,
    }
}

/// A reject before its file name is attached.
#[derive(Debug)]
struct Rej {
    file: u32,
    line: u32,
    column: Option<&'static str>,
    kind: RejectType,
    message: String,
    raw: String,
}

/// A value for a message: quoted and escaped, long values cut.
fn show(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

fn missing_column(column: &'static str) -> Fault {
    fault(
        column,
        RejectType::MissingValue,
        format!("column {column} is missing from the file"),
    )
}

/// `MISSING_VALUE` when a required field is absent or empty.
fn missing(column: &'static str, f: Field) -> Option<Fault> {
    match f {
        Field::Absent => Some(missing_column(column)),
        Field::Value("") => Some(fault(
            column,
            RejectType::MissingValue,
            format!("{column} is empty"),
        )),
        Field::Value(_) => None,
    }
}

fn first_missing(fields: &[(&'static str, Field)]) -> Result<(), Fault> {
    match fields.iter().find_map(|&(c, f)| missing(c, f)) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn person(s: &str) -> Result<PersonId, Fault> {
    PersonId::parse(s).map_err(|e| {
        fault(
            "person_id",
            RejectType::BadPersonId,
            format!("person_id {}: {}", show(s), e.message()),
        )
    })
}

fn date(column: &'static str, s: &str) -> Result<Date, Fault> {
    Date::parse(s).ok_or_else(|| {
        fault(
            column,
            RejectType::BadDate,
            format!("{column} {} is not a valid YYYY-MM-DD date", show(s)),
        )
    })
}

fn optional_date(column: &'static str, s: &str) -> Result<Option<Date>, Fault> {
    if s.is_empty() {
        Ok(None)
    } else {
        date(column, s).map(Some)
    }
}

/// A decimal with at most 2 places, greater than 0 (`positive`) or at least 0.
fn money(column: &'static str, s: &str, positive: bool) -> Result<Fen, Fault> {
    let bad = |what: &str| {
        fault(
            column,
            RejectType::BadAmount,
            format!("{column} {} {what}", show(s)),
        )
    };
    let v = Fen::parse(s).ok_or_else(|| bad(&money_problem(s)))?;
    if positive && v.0 <= 0 {
        Err(bad("must be greater than 0"))
    } else if v.0 < 0 {
        Err(bad("must not be negative"))
    } else {
        Ok(v)
    }
}

/// What is wrong with a text that [`Fen::parse`] refused.
fn money_problem(s: &str) -> String {
    let body = s.trim().trim_start_matches(['-', '+']);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if body.is_empty() || body == "." || !digits(int) || !digits(frac) {
        "is not a decimal number".to_string()
    } else if frac.len() > 2 {
        format!("has {} decimal places, at most 2 are allowed", frac.len())
    } else {
        let int = int.trim_start_matches('0');
        format!(
            "has {} integer digits: too many digits, above the ceiling max_amount of the rule file",
            int.len()
        )
    }
}

fn codes<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ")
}

fn bad_enum(column: &'static str, s: &str, allowed: String) -> Fault {
    fault(
        column,
        RejectType::BadEnum,
        format!("{column} {} is not one of {allowed}", show(s)),
    )
}

fn all_digits(s: &str, len: usize) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != len || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |v, &c| v * 10 + (c - b'0') as u32))
}

// ---------------------------------------------------------------------------
// Row checks
// ---------------------------------------------------------------------------

/// A ledger row that passed the field checks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct LedgerValue {
    person: PersonId,
    period: Month,
    scheme: Scheme,
    payer: Payer,
    amount: Fen,
    base: Option<Fen>,
    paid_on: Option<Date>,
    region: u32,
    /// Hash of `employer_id` and `txn_id`, for the duplicate check.
    text: u64,
}

/// CONTRACT.md §2.1 and §4: one fault per row, `MISSING_VALUE` first.
fn check_ledger(f: &[Field]) -> Result<LedgerValue, Fault> {
    let [
        person_id,
        period,
        scheme,
        payer,
        amount,
        base,
        paid_on,
        region,
        employer_id,
        txn_id,
    ] = ledger_fields(f);
    first_missing(&[
        ("person_id", person_id),
        ("period", period),
        ("scheme", scheme),
        ("payer", payer),
        ("amount", amount),
    ])?;
    let scheme_value = Scheme::parse(scheme.text());
    if scheme_value.is_some_and(Scheme::is_employee_family) {
        match base {
            Field::Absent => return Err(missing_column("base")),
            Field::Value("") => {
                return Err(fault(
                    "base",
                    RejectType::MissingValue,
                    format!(
                        "base is empty but required for scheme {}",
                        show(scheme.text())
                    ),
                ));
            }
            Field::Value(_) => {}
        }
    }
    if paid_on == Field::Absent {
        return Err(missing_column("paid_on"));
    }
    first_missing(&[("region", region)])?;

    let person = person(person_id.text())?;
    let period_text = period.text();
    let period = Month::parse(period_text).ok_or_else(|| {
        fault(
            "period",
            RejectType::BadPeriod,
            format!("period {} is not a valid YYYY-MM month", show(period_text)),
        )
    })?;
    if scheme_value == Some(Scheme::Resident) && period.month() != 1 {
        return Err(fault(
            "period",
            RejectType::BadResidentPeriod,
            format!(
                "period {} of a resident row must be January (YYYY-01)",
                show(period_text)
            ),
        ));
    }
    let scheme = scheme_value
        .ok_or_else(|| bad_enum("scheme", scheme.text(), codes(Scheme::ALL, Scheme::as_str)))?;
    let payer = Payer::parse(payer.text())
        .ok_or_else(|| bad_enum("payer", payer.text(), codes(Payer::ALL, Payer::as_str)))?;
    let amount = money("amount", amount.text(), true)?;
    // A resident row's base is checked when given but not kept (LedgerRows::base).
    let base = match base.text() {
        "" => None,
        s => Some(money("base", s, false)?).filter(|_| scheme.is_employee_family()),
    };
    let paid_on = optional_date("paid_on", paid_on.text())?;
    let region_text = region.text();
    let region = all_digits(region_text, 6).ok_or_else(|| {
        fault(
            "region",
            RejectType::BadRegion,
            format!(
                "region {} is not a 6-digit division code",
                show(region_text)
            ),
        )
    })?;
    let text = hash_bytes(
        hash_bytes(TEXT_SEED, employer_id.text().as_bytes()),
        txn_id.text().as_bytes(),
    );
    Ok(LedgerValue {
        person,
        period,
        scheme,
        payer,
        amount,
        base,
        paid_on,
        region,
        text,
    })
}

fn ledger_fields<'a>(f: &[Field<'a>]) -> [Field<'a>; 10] {
    std::array::from_fn(|i| f.get(i).copied().unwrap_or(Field::Absent))
}

/// A registry row that passed the field checks (CONTRACT.md §2.2).
#[derive(Clone, Copy, Debug, PartialEq)]
struct RegistryValue {
    person: PersonId,
    group: SpecialGroup,
    valid_from: Date,
    valid_to: Option<Date>,
}

fn check_registry(f: &[Field]) -> Result<RegistryValue, Fault> {
    let get = |i: usize| f.get(i).copied().unwrap_or(Field::Absent);
    let (person_id, group, valid_from, valid_to) = (get(0), get(1), get(2), get(3));
    first_missing(&[
        ("person_id", person_id),
        ("group", group),
        ("valid_from", valid_from),
    ])?;
    let person = person(person_id.text())?;
    let group = SpecialGroup::parse(group.text()).ok_or_else(|| {
        bad_enum(
            "group",
            group.text(),
            codes(SpecialGroup::ALL, SpecialGroup::as_str),
        )
    })?;
    let from = date("valid_from", valid_from.text())?;
    let to = optional_date("valid_to", valid_to.text())?;
    if let Some(to) = to
        && to < from
    {
        return Err(fault(
            "valid_to",
            RejectType::BadDate,
            format!(
                "valid_to {} is before valid_from {}",
                show(valid_to.text()),
                show(valid_from.text())
            ),
        ));
    }
    Ok(RegistryValue {
        person,
        group,
        valid_from: from,
        valid_to: to,
    })
}

/// A claims row that passed the field checks (CONTRACT.md §2.3).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ClaimValue {
    person: PersonId,
    year: i32,
    fund_paid: Fen,
}

fn check_claim(f: &[Field]) -> Result<ClaimValue, Fault> {
    let get = |i: usize| f.get(i).copied().unwrap_or(Field::Absent);
    let (person_id, year, fund_paid) = (get(0), get(1), get(2));
    first_missing(&[
        ("person_id", person_id),
        ("year", year),
        ("fund_paid", fund_paid),
    ])?;
    let person = person(person_id.text())?;
    let year = all_digits(year.text(), 4)
        .filter(|&y| y > 0)
        .ok_or_else(|| {
            fault(
                "year",
                RejectType::BadPeriod,
                format!("year {} is not a 4-digit year", show(year.text())),
            )
        })? as i32;
    let fund_paid = money("fund_paid", fund_paid.text(), false)?;
    Ok(ClaimValue {
        person,
        year,
        fund_paid,
    })
}

// ---------------------------------------------------------------------------
// One file
// ---------------------------------------------------------------------------

/// Accepted values of one row range, with their lines, and the range's faults.
struct Part<V> {
    values: Vec<V>,
    lines: Vec<u32>,
    /// (row, fault) of the rejected rows.
    faults: Vec<(usize, Fault)>,
}

/// A file's accepted values and rejects, before duplicates.
struct FileOut<V> {
    file: InputFile,
    parts: Vec<Part<V>>,
    rejects: Vec<Rej>,
}

/// Reads one file (CSV in `encoding`, Parquet, or the named or first sheet of a
/// workbook) and checks its rows in parallel ranges. The accepted values stay in
/// their per-range parts (no second copy of a large file's rows). A workbook cell that
/// cannot be read as a value ([`ingest::CellFault`]) rejects its row before the field
/// checks.
fn read_file<V: Send>(
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
fn source_name(path: &Path, sheet: Option<&str>) -> String {
    match sheet {
        Some(s) => format!("{}#{s}", path.display()),
        None => path.display().to_string(),
    }
}

impl<V> FileOut<V> {
    fn accepted(&self) -> usize {
        self.parts.iter().map(|p| p.values.len()).sum()
    }
}

// ---------------------------------------------------------------------------
// Ledger columns
// ---------------------------------------------------------------------------

fn reserve_ledger(r: &mut LedgerRows, n: usize) {
    r.person.reserve(n);
    r.period.reserve(n);
    r.scheme.reserve(n);
    r.payer.reserve(n);
    r.amount.reserve(n);
    r.base.reserve(n);
    r.paid_on.reserve(n);
    r.region.reserve(n);
    r.file.reserve(n);
    r.line.reserve(n);
}

fn push_ledger(r: &mut LedgerRows, text: &mut Vec<u64>, v: LedgerValue, file: u32, line: u32) {
    r.person.push(v.person);
    r.period.push(v.period);
    r.scheme.push(v.scheme);
    r.payer.push(v.payer);
    r.amount.push(v.amount);
    r.base.push(v.base);
    r.paid_on.push(v.paid_on);
    r.region.push(v.region);
    r.file.push(file);
    r.line.push(line);
    text.push(v.text);
}

fn remove_ledger_rows(r: &mut LedgerRows, drop: impl Iterator<Item = usize>) {
    let mut mask = vec![false; r.len()];
    let mut any = false;
    for i in drop {
        if let Some(m) = mask.get_mut(i) {
            *m = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    fn retain<T>(v: &mut Vec<T>, mask: &[bool]) {
        let mut i = 0;
        v.retain(|_| {
            let keep = !mask.get(i).copied().unwrap_or(false);
            i += 1;
            keep
        });
    }
    retain(&mut r.person, &mask);
    retain(&mut r.period, &mask);
    retain(&mut r.scheme, &mask);
    retain(&mut r.payer, &mask);
    retain(&mut r.amount, &mask);
    retain(&mut r.base, &mask);
    retain(&mut r.paid_on, &mask);
    retain(&mut r.region, &mask);
    retain(&mut r.file, &mask);
    retain(&mut r.line, &mask);
}

// ---------------------------------------------------------------------------
// Duplicates
// ---------------------------------------------------------------------------

const TEXT_SEED: u64 = 0x243F_6A88_85A3_08D3;
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xD6E8_FEB8_6659_FD93;

fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A 64-bit hash of `s` continuing from `h` (folded-multiply mixing, length-aware).
fn hash_bytes(mut h: u64, s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    fold_mul(h ^ s.len() as u64, K2)
}

/// Hash of every compared value of ledger row `i` (equal rows hash equal).
fn ledger_row_hash(r: &LedgerRows, text: &[u64], i: usize) -> u64 {
    let mut h = fold_mul(r.person[i].0 ^ K1, K2);
    h = fold_mul(
        h ^ (r.period[i].0 as u32 as u64)
            ^ ((r.scheme[i] as u64) << 32)
            ^ ((r.payer[i] as u64) << 40),
        K1,
    );
    h = fold_mul(h ^ r.amount[i].0 as u64, K2);
    h = fold_mul(h ^ r.base[i].map_or(u64::MAX, |b| b.0 as u64), K1);
    h = fold_mul(
        h ^ r.paid_on[i].map_or(u64::MAX, |d| d.0 as u32 as u64) ^ ((r.region[i] as u64) << 32),
        K2,
    );
    fold_mul(h ^ text[i], K1)
}

fn same_ledger_row(r: &LedgerRows, text: &[u64], a: usize, b: usize) -> bool {
    r.person[a] == r.person[b]
        && r.period[a] == r.period[b]
        && r.scheme[a] == r.scheme[b]
        && r.payer[a] == r.payer[b]
        && r.amount[a] == r.amount[b]
        && r.base[a] == r.base[b]
        && r.paid_on[a] == r.paid_on[b]
        && r.region[a] == r.region[b]
        && text[a] == text[b]
}

/// Exact duplicates among accepted ledger rows: (duplicate, first copy) by row index,
/// sorted by duplicate.
///
/// Sorts one `u64` per row — the row hash's upper 32 bits above the row index — in
/// parallel, then compares rows exactly within each run of equal hashes. 8 bytes per
/// row and no allocation per row, for tens of millions of rows.
fn ledger_duplicates(r: &LedgerRows, text: &[u64]) -> Result<Vec<(usize, usize)>> {
    duplicates_by_hash(r, text, 0xFFFF_FFFF_0000_0000)
}

/// [`ledger_duplicates`] keeping the hash bits of `mask` (upper 32 bits at most).
fn duplicates_by_hash(r: &LedgerRows, text: &[u64], mask: u64) -> Result<Vec<(usize, usize)>> {
    let n = r.len();
    if n > u32::MAX as usize {
        return Err(Error::Internal(format!(
            "{n} ledger rows exceed the supported 4294967295"
        )));
    }
    let mut keys: Vec<u64> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(|i| (ledger_row_hash(r, text, i) & mask) | i as u64)
        .collect();
    keys.par_sort_unstable();
    let mut dups = Vec::new();
    let mut firsts: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < n {
        let hi = keys[i] & mask;
        let mut j = i + 1;
        while j < n && keys[j] & mask == hi {
            j += 1;
        }
        if j - i > 1 {
            firsts.clear();
            for &k in &keys[i..j] {
                let row = (k & 0xFFFF_FFFF) as usize;
                match firsts.iter().find(|&&f| same_ledger_row(r, text, f, row)) {
                    Some(&f) => dups.push((row, f)),
                    None => firsts.push(row),
                }
            }
        }
        i = j;
    }
    dups.sort_unstable();
    Ok(dups)
}

/// ((file, line) of a duplicate, (file, line) of its first copy) for each duplicate.
type Lookup = Vec<((u32, u32), (u32, u32))>;

/// Exact duplicates of small inputs by sorting indices on the full key.
fn small_duplicates<T, K: Ord>(values: &[T], key: impl Fn(&T) -> K) -> Vec<(usize, usize)> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| key(&values[a]).cmp(&key(&values[b])).then(a.cmp(&b)));
    let mut dups = Vec::new();
    let mut first = 0usize;
    for (k, &i) in idx.iter().enumerate() {
        if k == 0 || key(&values[i]) != key(&values[idx[k - 1]]) {
            first = i;
        } else {
            dups.push((i, first));
        }
    }
    dups.sort_unstable();
    dups
}

fn small_lookup<V>(values: &[(V, u32, u32)], dups: &[(usize, usize)]) -> Lookup {
    dups.iter()
        .map(|&(d, f)| ((values[d].1, values[d].2), (values[f].1, values[f].2)))
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tests::temp_dir;
    use polars::prelude::*;

    const HEADER: &str = "person_id,period,scheme,payer,amount,base,paid_on,region";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `line,column,error_type` per reject, as the scenario files list them.
    fn reject_table(inputs: &Inputs) -> Vec<String> {
        inputs
            .rejects
            .iter()
            .map(|r| {
                format!(
                    "{},{},{}",
                    r.line,
                    r.column.as_deref().unwrap_or(""),
                    r.error_type
                )
            })
            .collect()
    }

    fn read_ledger(path: &Path) -> Inputs {
        read_inputs(path, None, None, Encoding::Utf8).unwrap()
    }

    #[test]
    fn implausible_periods_dates_births_and_amounts_are_rejected() {
        let dir = temp_dir("v-plausible");
        let p = "370202198503120113";
        let unborn = crate::generate::make_id(370202, Date::from_ymd(2099, 1, 1), 11);
        let ledger = format!(
            "{HEADER}
{p},2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
{p},2206-06,employee,employer,800.00,8000.00,,370200
{p},0001-01,employee,employer,800.00,8000.00,2025-01-20,370200
{unborn},2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
{p},2025-02,employee,employer,999999999999999.99,8000.00,2025-02-20,370200
{p},2025-02,employee,employer,800.00,1234567890123456.00,2025-02-20,370200
{p},2025-03,employee,employer,800.00,8000.00,2206-03-01,370200
{p},2026-12,employee,employer,800.00,8000.00,,370200
{p},2025-04,employee,employer,800.00,8000.00,1989-12-31,370200
{p},2025-02,employee,employer,99999999.99,99999999.99,2025-02-21,370200
{p},2025-02,employee,employer,100000000.00,8000.00,2025-02-22,370200
"
        );
        write(&dir, "ledger/a.csv", &ledger);
        let inputs = read_ledger(&dir.join("ledger"));
        assert_eq!(
            reject_table(&inputs),
            [
                "3,period,BAD_PERIOD",
                "4,period,BAD_PERIOD",
                "5,person_id,BAD_PERSON_ID",
                "6,amount,BAD_AMOUNT",
                "7,base,BAD_AMOUNT",
                "8,paid_on,BAD_DATE",
                "10,paid_on,BAD_DATE",
                "12,amount,BAD_AMOUNT",
            ]
        );
        let m: Vec<&str> = inputs.rejects.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            m[0],
            "period 2206-06 is outside the plausible range: more than 24 months (max_months_ahead) after 2025-02, the latest paid_on month of a row paid within 24 months of its period"
        );
        assert_eq!(
            m[1],
            "period 0001-01 is outside the plausible range: before min_period 1990-01"
        );
        assert_eq!(
            m[2],
            "the birth date in person_id, 2099-01-01, is after paid_on 2025-02-20"
        );
        assert_eq!(
            m[3],
            "amount 999999999999999.99 is above the ceiling max_amount 99999999.99"
        );
        assert_eq!(
            m[4],
            "base \"1234567890123456.00\" has 16 integer digits: too many digits, above the ceiling max_amount of the rule file"
        );
        assert!(
            m[5].starts_with("paid_on 2206-03-01 is outside the plausible range"),
            "{}",
            m[5]
        );
        assert_eq!(
            m[6],
            "paid_on 1989-12-31 is outside the plausible range: before min_period 1990-01"
        );
        assert_eq!(
            inputs.rejects[0].raw,
            format!("{p},2206-06,employee,employer,800.00,8000.00,,370200")
        );
        // The default as_of comes from the plausible rows only.
        assert_eq!(
            inputs
                .ledger
                .period
                .iter()
                .max()
                .map(|m| m.to_string())
                .as_deref(),
            Some("2026-12")
        );
        let f = &inputs.files[0];
        assert_eq!((f.rows_read, f.rows_accepted, f.rows_rejected), (11, 3, 8));
        // With payments in the ledger a given --as-of changes nothing, except that a
        // month up to it is never ahead; a ledger of declarations only counts from the
        // given --as-of (and has no bound without).
        let read_as_of = |as_of: Option<&str>| {
            read_inputs_cached(
                &dir.join("ledger"),
                None,
                None,
                Encoding::Utf8,
                None,
                None,
                &Plausibility::default().with_as_of(as_of.and_then(Month::parse)),
            )
            .unwrap()
        };
        assert_eq!(
            reject_table(&read_as_of(Some("2025-06"))),
            reject_table(&inputs)
        );
        assert!(
            !reject_table(&read_as_of(Some("2206-06"))).contains(&"3,period,BAD_PERIOD".into())
        );
        write(
            &dir,
            "ledger/a.csv",
            &format!(
                "{HEADER}\n{p},2025-01,employee,employer,800.00,8000.00,,370200\n{p},2206-06,employee,employer,800.00,8000.00,,370200\n"
            ),
        );
        assert!(reject_table(&read_as_of(None)).is_empty());
        let declared = read_as_of(Some("2025-06"));
        assert_eq!(reject_table(&declared), ["3,period,BAD_PERIOD"]);
        assert!(
            declared.rejects[0]
                .message
                .ends_with("after 2025-06, the --as-of month"),
            "{}",
            declared.rejects[0].message
        );
    }

    #[test]
    fn a_lone_line_that_is_not_a_header_is_an_error() {
        let dir = temp_dir("v-lone-line");
        let p = write(
            &dir,
            "a.csv",
            "370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200",
        );
        let e = read_inputs(&p, None, None, Encoding::Utf8)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.csv: line 1 names none of the ledger columns")
                && e.contains("not a header"),
            "{e}"
        );
        // A header alone (an empty month) and an empty file stay 0 rows, no error.
        write(&dir, "a.csv", HEADER);
        assert_eq!(read_ledger(&p).files[0].rows_read, 0);
        write(&dir, "a.csv", "");
        assert_eq!(read_ledger(&p).files[0].rows_read, 0);
    }

    #[test]
    fn scenario_09_rejects() {
        let dir = temp_dir("v-scenario09");
        let ledger = format!(
            "{HEADER}
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120114,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-13,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-02,employee,employer,-5.00,8000.00,2025-02-20,370200
370202198503120113,2025-02,worker,employer,800.00,8000.00,2025-02-20,370200
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202197505050628,2025-03,resident,individual,400.00,,2025-03-01,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-30,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-20,37020
37020219850312011x,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
"
        );
        let path = write(&dir, "ledger/2025-01.csv", &ledger);
        let inputs = read_ledger(&dir.join("ledger"));
        assert_eq!(
            reject_table(&inputs),
            [
                "3,person_id,BAD_PERSON_ID",
                "4,period,BAD_PERIOD",
                "5,amount,BAD_AMOUNT",
                "6,scheme,BAD_ENUM",
                "7,,DUPLICATE_ROW",
                "8,period,BAD_RESIDENT_PERIOD",
                "9,paid_on,BAD_DATE",
                "10,region,BAD_REGION",
                "11,person_id,BAD_PERSON_ID",
            ]
        );
        let f = &inputs.files[0];
        assert_eq!((f.rows_read, f.rows_accepted, f.rows_rejected), (10, 1, 9));
        assert_eq!(f.kind, InputKind::Ledger);
        assert_eq!(f.path, path.display().to_string());
        assert_eq!(f.bytes, ledger.len() as u64);
        assert!(f.unknown_columns.is_empty());

        let l = &inputs.ledger;
        assert_eq!(l.len(), 1);
        assert_eq!(l.person[0].to_string(), "370202198503120113");
        assert_eq!(l.period[0].to_string(), "2025-01");
        assert_eq!(
            (l.scheme[0], l.payer[0]),
            (Scheme::Employee, Payer::Employer)
        );
        assert_eq!((l.amount[0], l.base[0]), (Fen(80_000), Some(Fen(800_000))));
        assert_eq!(
            l.paid_on[0].map(|d| d.to_string()).as_deref(),
            Some("2025-01-20")
        );
        assert_eq!((l.region[0], l.file[0], l.line[0]), (370200, 0, 2));

        let r = &inputs.rejects;
        assert_eq!(r[0].source_file, path.display().to_string());
        assert_eq!(
            r[0].raw,
            "370202198503120114,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200"
        );
        assert!(r[0].message.contains("check character"), "{}", r[0].message);
        assert_eq!(
            r[1].message,
            "period \"2025-13\" is not a valid YYYY-MM month"
        );
        assert_eq!(r[4].message, "exact duplicate of line 2");
        assert_eq!(
            r[4].raw,
            "370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200"
        );
        assert_eq!(r[4].column, None);
        assert_eq!(
            r[6].message,
            "paid_on \"2025-02-30\" is not a valid YYYY-MM-DD date"
        );
    }

    #[test]
    fn missing_value_comes_first_then_column_order() {
        let dir = temp_dir("v-order");
        write(
            &dir,
            "l.csv",
            &format!(
                "{HEADER}
123,2025-01,employee,employer,,8000,2025-01-20,370200
370202198503120113,2025-13,employee,employer,800,,2025-01-20,370200
370202198503120113,2025-01,worker,employer,800,,2025-01-20,370200
370202198503120113,2025-13,employee,boss,800,8000,2025-01-20,370200
370202198503120113,2025-01,resident,boss,800,,2025-01-20,370200
370202198503120113,2025-01,resident,individual,800,-1,2025-01-20,370200
370202198503120113,2025-01,flexible,individual,800,8000.001,,370200
370202198503120113,2025-01,employee,employer,0,8000,,37020a
, , , , , , ,
370202198503120113,2025-01,employee,employer,800,8000,,370200
"
            ),
        );
        let inputs = read_ledger(&dir.join("l.csv"));
        assert_eq!(
            reject_table(&inputs),
            [
                "2,amount,MISSING_VALUE",
                "3,base,MISSING_VALUE",
                "4,scheme,BAD_ENUM",
                "5,period,BAD_PERIOD",
                "6,payer,BAD_ENUM",
                "7,base,BAD_AMOUNT",
                "8,base,BAD_AMOUNT",
                "9,amount,BAD_AMOUNT",
                "10,person_id,MISSING_VALUE",
            ]
        );
        assert_eq!(inputs.rejects[0].message, "amount is empty");
        assert!(
            inputs.rejects[1]
                .message
                .contains("required for scheme \"employee\"")
        );
        // The last row is a declaration (paid_on empty).
        assert_eq!(inputs.ledger.len(), 1);
        assert_eq!(inputs.ledger.paid_on[0], None);
        assert_eq!(inputs.ledger.line[0], 11);
    }

    #[test]
    fn missing_required_column_rejects_every_row() {
        let dir = temp_dir("v-missing-col");
        write(
            &dir,
            "a.csv",
            "person_id,period,scheme,payer,amount,base,paid_on\n\
             370202198503120113,2025-01,employee,employer,800,8000,2025-01-20\n\
             370202198503120113,2025-02,employee,employer,800,8000,2025-02-20\n",
        );
        // Resident rows need no base column.
        write(
            &dir,
            "b.csv",
            "person_id,period,scheme,payer,amount,paid_on,region\n\
             370202197505050628,2025-01,resident,individual,400,2025-01-05,370200\n\
             370202198503120113,2025-01,employee,employer,800,2025-01-20,370200\n",
        );
        let inputs = read_ledger(&dir);
        assert_eq!(
            reject_table(&inputs),
            [
                "2,region,MISSING_VALUE",
                "3,region,MISSING_VALUE",
                "3,base,MISSING_VALUE"
            ]
        );
        assert_eq!(
            inputs.rejects[0].message,
            "column region is missing from the file"
        );
        assert_eq!(
            inputs.rejects[0].raw,
            "370202198503120113,2025-01,employee,employer,800,8000,2025-01-20"
        );
        assert_eq!(inputs.ledger.len(), 1);
        assert_eq!(inputs.ledger.scheme[0], Scheme::Resident);
        assert_eq!(inputs.ledger.base[0], None);
        assert_eq!(
            (inputs.files[1].rows_accepted, inputs.files[1].rows_rejected),
            (1, 1)
        );
    }

    #[test]
    fn duplicates_with_and_without_txn_id() {
        let dir = temp_dir("v-dups");
        let row = "2025-01,employee,employer,800.00,8000.00,2025-01-20,370200";
        write(
            &dir,
            "l/a.csv",
            &format!(
                "{HEADER},txn_id,employer_id
370202198503120113,{row},T1,E1
370202198503120113,{row},T2,E1
370202198503120113,{row},T1,E1
370202198503120113,{row},T1,E2
"
            ),
        );
        // No txn_id column: numbers and IDs compare after normalising.
        let b = write(
            &dir,
            "l/b.csv",
            &format!(
                "{HEADER}
11010519491231002x,2025-01,employee,employer,800,8000,2025-01-20,370200
11010519491231002X,2025-01,employee,employer,800.00,8000.0,2025-01-20,370200
11010519491231002X,2025-01,employee,employer,800.00,8000.0,,370200
"
            ),
        );
        write(
            &dir,
            "l/c.csv",
            &format!(
                "{HEADER}\n 11010519491231002X ,2025-01,employee,employer,800.0,8000,2025-01-20,370200\n"
            ),
        );
        let inputs = read_ledger(&dir.join("l"));
        assert_eq!(
            reject_table(&inputs),
            ["4,,DUPLICATE_ROW", "3,,DUPLICATE_ROW", "2,,DUPLICATE_ROW"]
        );
        let r = &inputs.rejects;
        assert_eq!(r[0].message, "exact duplicate of line 2");
        assert_eq!(r[0].raw, format!("370202198503120113,{row},T1,E1"));
        assert_eq!(
            r[1].raw,
            "11010519491231002X,2025-01,employee,employer,800.00,8000.0,2025-01-20,370200"
        );
        assert_eq!(
            r[2].message,
            format!("exact duplicate of line 2 of {}", b.display())
        );
        assert_eq!(
            r[2].raw,
            " 11010519491231002X ,2025-01,employee,employer,800.0,8000,2025-01-20,370200"
        );
        assert_eq!(inputs.ledger.len(), 5);
        assert_eq!(inputs.ledger.line, [2, 3, 5, 2, 4]);
        assert_eq!(inputs.ledger.file, [0, 0, 0, 1, 1]);
        let counts: Vec<_> = inputs
            .files
            .iter()
            .map(|f| (f.rows_read, f.rows_accepted, f.rows_rejected))
            .collect();
        assert_eq!(counts, [(4, 3, 1), (3, 2, 1), (1, 0, 1)]);
    }

    #[test]
    fn parse_errors_sit_in_line_order_among_other_rejects() {
        let dir = temp_dir("v-parse");
        let good = "370202198503120113,2025-01,employee,employer,800,8000,2025-01-20,370200";
        write(
            &dir,
            "l.csv",
            &format!(
                "{HEADER}\r
{good}\r
370202198503120113,2025-01,employee\r
\r
370202198503120113,2025-02,employee,employer,800,8000,2025-02-31,370200\r
370202198503120113,2025-03,employee,employer,800,8000,\"2025-03-20,370200\r
"
            ),
        );
        let inputs = read_ledger(&dir.join("l.csv"));
        assert_eq!(
            reject_table(&inputs),
            ["3,,PARSE_ERROR", "5,paid_on,BAD_DATE", "6,,PARSE_ERROR"]
        );
        assert_eq!(inputs.rejects[0].raw, "370202198503120113,2025-01,employee");
        assert!(inputs.rejects[2].message.contains("unterminated"));
        assert_eq!(inputs.ledger.line, [2]);
        assert_eq!(
            (inputs.files[0].rows_read, inputs.files[0].rows_rejected),
            (4, 3)
        );
    }

    #[test]
    fn gbk_ledger_with_chinese_column() {
        let dir = temp_dir("v-gbk");
        let text = format!(
            "姓名,{HEADER}\n张三,370202198503120113,2025-01,employee,employer,800,8000,2025-01-20,370200\n\
             李四,370202198503120114,2025-01,employee,employer,800,8000,2025-01-20,370200\n"
        );
        let (bytes, _, _) = encoding_rs::GBK.encode(&text);
        std::fs::write(dir.join("l.csv"), &bytes).unwrap();
        let inputs = read_inputs(&dir.join("l.csv"), None, None, Encoding::Gbk).unwrap();
        assert_eq!(inputs.files[0].unknown_columns, ["姓名"]);
        assert_eq!(inputs.ledger.len(), 1);
        assert_eq!(reject_table(&inputs), ["3,person_id,BAD_PERSON_ID"]);
        assert!(inputs.rejects[0].raw.starts_with("李四,"));
        assert_eq!(inputs.files[0].bytes, bytes.len() as u64);
    }

    #[test]
    fn parquet_with_typed_columns() {
        let dir = temp_dir("v-parquet");
        std::fs::create_dir_all(dir.join("l")).unwrap();
        let s = |name: &str, v: &[&str]| {
            Column::new(
                name.into(),
                v.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            )
        };
        let jan20 = Date::parse("2025-01-20").unwrap().0;
        let mut df = DataFrame::new(
            3,
            vec![
                s(
                    "person_id",
                    &[
                        "370202198503120113",
                        "370202198503120113",
                        "370202198503120114",
                    ],
                ),
                s("Period", &["2025-01", "2025-02", "2025-01"]),
                s("scheme", &["employee", "employee", "employee"]),
                s("payer", &["employer", "employer", "employer"]),
                Column::new("amount".into(), vec![800.0f64, 800.5, 800.0]),
                Int128Chunked::from_vec("base".into(), vec![800_000, 800_000, 800_000])
                    .into_decimal(18, 2)
                    .unwrap()
                    .into_column(),
                Int32Chunked::from_slice_options(
                    "paid_on".into(),
                    &[Some(jan20), None, Some(jan20)],
                )
                .into_date()
                .into_column(),
                Column::new("region".into(), vec![370200i64, 370200, 370200]),
            ],
        )
        .unwrap();
        let path = dir.join("l/2025-01.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        // An integer period is simply a bad period.
        let mut df2 = df.clone();
        df2.replace(
            "Period",
            Column::new("Period".into(), vec![202501i64, 202502, 202503]),
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(dir.join("l/2025-02.parquet")).unwrap())
            .finish(&mut df2)
            .unwrap();
        // A DATE period is its month when it is the 1st, else a bad period.
        let mut df3 = df.clone();
        let day = |s: &str| Some(Date::parse(s).unwrap().0);
        df3.replace(
            "Period",
            Int32Chunked::from_slice_options(
                "Period".into(),
                &[day("2025-03-01"), day("2025-04-15"), None],
            )
            .into_date()
            .into_column(),
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(dir.join("l/2025-03.parquet")).unwrap())
            .finish(&mut df3)
            .unwrap();

        let inputs = read_ledger(&dir.join("l"));
        assert_eq!(
            reject_table(&inputs),
            [
                "3,person_id,BAD_PERSON_ID",
                "1,period,BAD_PERIOD",
                "2,period,BAD_PERIOD",
                "3,person_id,BAD_PERSON_ID",
                "2,period,BAD_PERIOD",
                "3,period,MISSING_VALUE"
            ]
        );
        assert_eq!(
            inputs.rejects[1].raw,
            "370202198503120113,202501,employee,employer,800.0,8000.00,2025-01-20,370200"
        );
        let l = &inputs.ledger;
        assert_eq!(l.amount, [Fen(80_000), Fen(80_050), Fen(80_000)]);
        assert_eq!(l.period[2], crate::domain::Month::parse("2025-03").unwrap());
        assert_eq!(l.base[..2], [Some(Fen(800_000)), Some(Fen(800_000))]);
        assert_eq!(l.paid_on[..2], [Some(Date(jan20)), None]);
        assert_eq!(l.line, [1, 2, 1]);
        assert_eq!(inputs.files[0].rows_read, 3);
        assert_eq!(inputs.files[0].sha256.len(), 64);
    }

    #[test]
    fn registry_and_claims() {
        let dir = temp_dir("v-registry");
        let ledger = write(
            &dir,
            "data/ledger.csv",
            &format!(
                "{HEADER}\n370202198503120113,2025-01,employee,employer,800,8000,2025-01-20,370200\n"
            ),
        );
        let sg = write(
            &dir,
            "data/special_groups.csv",
            "person_id,group,valid_from,valid_to\n\
             370202197505050628,dibao,2024-01-01,\n\
             370202197505050628,poor,2024-01-01,\n\
             370202197505050628,orphan,2024-06-01,2024-01-01\n\
             370202197505050628,dibao,2024-01-01,\n\
             370202197505050628,tekun,,2025-01-01\n\
             370202197505050628,tekun,2024-01-01,2025-12-31\n",
        );
        let claims = write(
            &dir,
            "claims.csv",
            "person_id,year,fund_paid\n370202197505050628,2025,0\n370202197505050628,25,0\n\
             370202197505050628,2026,-1\n370202197505050628,2027,12.50\n",
        );
        // The registry file lies in the ledger folder: it is read as the registry only.
        let inputs =
            read_inputs(&dir.join("data"), Some(&sg), Some(&claims), Encoding::Utf8).unwrap();
        let kinds: Vec<_> = inputs
            .files
            .iter()
            .map(|f| (f.kind, f.path.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (InputKind::Ledger, ledger.display().to_string()),
                (InputKind::SpecialGroups, sg.display().to_string()),
                (InputKind::Claims, claims.display().to_string()),
            ]
        );
        assert_eq!(
            reject_table(&inputs),
            [
                "3,group,BAD_ENUM",
                "4,valid_to,BAD_DATE",
                "5,,DUPLICATE_ROW",
                "6,valid_from,MISSING_VALUE",
                "3,year,BAD_PERIOD",
                "4,fund_paid,BAD_AMOUNT",
            ]
        );
        assert_eq!(inputs.rejects[2].source_file, sg.display().to_string());
        let g = &inputs.registry;
        assert_eq!(g.group, [SpecialGroup::Dibao, SpecialGroup::Tekun]);
        assert_eq!(g.valid_to, [None, Date::parse("2025-12-31")]);
        assert_eq!(g.line, [2, 7]);
        assert_eq!(g.file, [1, 1]);
        assert_eq!(inputs.claims.year, [2025, 2027]);
        assert_eq!(inputs.claims.fund_paid, [Fen(0), Fen(1250)]);
        assert_eq!(inputs.ledger.len(), 1);
    }

    #[test]
    fn header_only_and_resident_base() {
        let dir = temp_dir("v-header-only");
        write(&dir, "l/a.csv", &format!("{HEADER}\n"));
        write(
            &dir,
            "l/b.csv",
            &format!("{HEADER}\n370202197505050628,2025-01,resident,individual,400,350,,370200\n"),
        );
        let inputs = read_ledger(&dir.join("l"));
        assert!(inputs.rejects.is_empty());
        assert_eq!(inputs.files[0].rows_read, 0);
        assert_eq!(inputs.ledger.file, [1]);
        assert_eq!(inputs.ledger.base, [None]);
    }

    #[test]
    fn unreadable_inputs_are_errors() {
        let dir = temp_dir("v-errors");
        let e = read_inputs(&dir.join("nope"), None, None, Encoding::Utf8).unwrap_err();
        assert!(matches!(e, Error::Input { .. }), "{e}");
        write(&dir, "l.parquet", "not parquet at all");
        let e = read_inputs(&dir.join("l.parquet"), None, None, Encoding::Utf8).unwrap_err();
        assert!(e.to_string().contains("l.parquet"), "{e}");
    }

    #[test]
    fn many_rows_across_ranges_keep_input_order() {
        let dir = temp_dir("v-many");
        let n = 3 * CHUNK_ROWS + 123;
        let mut text = format!("{HEADER},txn_id\n");
        let mut expect = Vec::new();
        for i in 0..n {
            let line = i + 2;
            // Every 1000th row repeats the row before it; some amounts are bad.
            let copy = if i % 1000 == 999 { i - 1 } else { i };
            let month = copy % 12 + 1;
            let amount = if i % 5000 == 17 { "-1" } else { "800" };
            if amount == "-1" {
                expect.push(format!("{line},amount,BAD_AMOUNT"));
            } else if copy != i {
                expect.push(format!("{line},,DUPLICATE_ROW"));
            }
            text.push_str(&format!(
                "370202198503120113,2024-{month:02},employee,employer,{amount},8000,\
                 2024-{month:02}-15,370200,T{copy}\n"
            ));
        }
        let path = write(&dir, "l.csv", &text);
        let inputs = read_ledger(&path);
        assert_eq!(reject_table(&inputs), expect);
        assert!(
            inputs.rejects[1]
                .message
                .starts_with("exact duplicate of line 1000")
        );
        let lines = &inputs.ledger.line;
        assert!(lines.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(lines.len() + inputs.rejects.len(), n);
        assert_eq!(inputs.files[0].rows_accepted as usize, lines.len());
    }

    #[test]
    fn duplicate_search_is_exact_whatever_the_hash_width() {
        let mut r = LedgerRows::default();
        let mut text = Vec::new();
        let p = PersonId::parse("370202198503120113").unwrap();
        for i in 0..3000u32 {
            let v = LedgerValue {
                person: p,
                period: Month::new(2020, 1).plus((i % 40) as i32),
                scheme: Scheme::Employee,
                payer: Payer::Employer,
                amount: Fen(80_000 + (i % 7) as i64),
                base: Some(Fen(800_000)),
                paid_on: None,
                region: 370200,
                text: (i % 3) as u64,
            };
            push_ledger(&mut r, &mut text, v, 0, i + 2);
        }
        let full = ledger_duplicates(&r, &text).unwrap();
        // 40 × 7 × 3 = 840 distinct rows (lcm 840): the rest repeat an earlier one.
        assert_eq!(full.len(), 3000 - 840);
        assert!(
            full.iter()
                .all(|&(d, f)| f < d && f < 840 && same_ledger_row(&r, &text, d, f))
        );
        assert!(full.iter().all(|&(d, f)| d % 840 == f));
        let coarse = duplicates_by_hash(&r, &text, 0xF000_0000_0000_0000).unwrap();
        assert_eq!(full, coarse);
    }

    /// Speed check: `cargo test --release --lib validate::tests::speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn speed_one_million_rows() {
        let dir = temp_dir("v-speed");
        let n = 1_000_000usize;
        let mut text = String::with_capacity(n * 90);
        text.push_str(HEADER);
        text.push_str(",txn_id\n");
        for i in 0..n {
            let m = i % 12 + 1;
            let person = if i % 2 == 0 {
                "370202198503120113"
            } else {
                "11010519491231002X"
            };
            text.push_str(&format!(
                "{person},2024-{m:02},employee,employer,{}.00,8000.00,2024-{m:02}-15,370200,T{i}\n",
                800 + i % 1000
            ));
        }
        let path = write(&dir, "big.csv", &text);
        let t = std::time::Instant::now();
        let inputs = read_ledger(&path);
        let el = t.elapsed();
        eprintln!(
            "validated {} rows ({} MB) in {:?}",
            inputs.ledger.len(),
            text.len() >> 20,
            el
        );
        assert_eq!(inputs.ledger.len(), n);
    }
}
