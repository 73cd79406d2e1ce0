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

use crate::domain::Encoding;
use crate::error::{Error, Result};
use crate::ingest;
use crate::ledger::{InputFile, InputKind, Inputs, LedgerRows};
use std::path::{Path, PathBuf};

pub mod buckets;
mod cache;
mod columns;
mod dedup;
mod fields;
mod file;
mod plausible;
mod reading;
mod schema;
mod typed;

pub use plausible::Plausibility;

use self::columns::{push_ledger, remove_ledger_rows, reserve_ledger};
use self::dedup::{Lookup, ledger_duplicates, small_duplicates, small_lookup};
use self::fields::{Fault, Field, Rej, fault};
use self::file::{FileOut, Part, read_file};
use self::reading::{Reading, check_alone, plausible_row};
use self::schema::{LedgerValue, check_claim, check_ledger, check_registry};

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
    if ledger_paths.is_empty() {
        return Err(Error::input(
            ledger,
            "every file found for the ledger is named as special_groups or claims: no ledger file is left",
        ));
    }
    Ok(Found {
        ledger: ledger_paths,
        special_groups: sg_paths,
        claims: claim_paths,
    })
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

fn file_index(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::Internal("too many input files".into()))
}

#[cfg(test)]
mod tests;
