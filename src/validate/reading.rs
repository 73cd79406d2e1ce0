//! The files of one run being read: ledger files in parallel windows, then the
//! plausibility checks, the duplicate check and the raw text of rejects.

use super::plausible::Passed;
use super::{
    CHUNK_ROWS, CLAIMS_COLUMNS, Fault, Field, FileOut, Found, LEDGER_COLUMNS, LedgerValue, Lookup,
    Plausibility, REGISTRY_COLUMNS, Rej, cache, check_claim, check_ledger, check_registry,
    columns_of, file_index, ledger_duplicates, plausible, push_ledger, read_file,
    remove_ledger_rows, reserve_ledger, small_duplicates, small_lookup,
};
use crate::domain::{Encoding, RejectType};
use crate::error::{Error, Result};
use crate::ingest;
use crate::ledger::{ClaimRows, InputFile, InputKind, LedgerRows, RegistryRows, Reject};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[cfg(test)]
thread_local! {
    /// How often this thread read a file again for the raw text of rejects.
    pub(super) static RAW_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The files read so far and their rejects.
pub(super) struct Reading {
    pub(super) encoding: Encoding,
    /// `[inputs].sheet`: the sheet of Excel ledger files (`None`: the first).
    pub(super) sheet: Option<String>,
    pub(super) files: Vec<InputFile>,
    /// The path of each of `files`, to read it again for duplicates' raw text.
    pub(super) paths: Vec<PathBuf>,
    pub(super) rejects: Vec<Rej>,
}

impl Reading {
    pub(super) fn add_file(&mut self, info: InputFile, path: &Path, rejects: Vec<Rej>) {
        self.files.push(info);
        self.paths.push(path.to_path_buf());
        self.rejects.extend(rejects);
    }

    /// The registry and claims files (after the ledger, in that order).
    pub(super) fn read_registry_and_claims(
        &mut self,
        found: &Found,
    ) -> Result<(RegistryRows, ClaimRows)> {
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

    /// The ledger files, in parallel; accepted rows appended in file order, rows that
    /// fail the plausibility bounds and exact duplicates removed. Files are checked one
    /// per thread at a time while the ones before them are appended, so the
    /// checked-but-not-yet-appended rows of only those files are held at once.
    pub(super) fn read_ledger(
        &mut self,
        paths: &[PathBuf],
        cache: Option<&cache::LedgerCache>,
        plausibility: &Plausibility,
    ) -> Result<LedgerRows> {
        // One file per thread is read while the files before them are appended, so
        // the checked rows of at most two windows are held besides the columns.
        let window = rayon::current_num_threads().max(1);
        let mut got = Gathered::default();
        crate::log::reading_started(paths.len() as u64);
        let (encoding, sheet) = (self.encoding, self.sheet.clone());
        let start = self.files.len();
        let mut pending: Option<(Vec<Result<Checked>>, &[PathBuf])> = None;
        for (b, batch) in paths.chunks(window).enumerate() {
            let first = start + b * window;
            let (outs, appended) = rayon::join(
                || {
                    read_window(
                        batch,
                        first,
                        (encoding, sheet.as_deref()),
                        cache,
                        plausibility,
                    )
                },
                || match pending.take() {
                    Some((outs, done)) => self.append_window(outs, done, &mut got),
                    None => Ok(()),
                },
            );
            appended?;
            pending = Some((outs, batch));
        }
        if let Some((outs, done)) = pending {
            self.append_window(outs, done, &mut got)?;
        }
        crate::log::reading_finished();
        let Gathered {
            mut rows,
            mut text_keys,
            mut rejects,
            passed,
        } = got;
        let reference = plausibility.reference(passed.latest);
        // Step 2 looks only at a row's (period, paid_on month): when no pair seen
        // fails it, the pass over every row is skipped.
        if plausibility.any_ahead(reference, &passed.months) {
            let ahead = self.check_rows(&mut rows, &mut text_keys, |r| {
                plausibility.check_ahead(reference, &plausible_row(r))
            });
            rejects.extend(ahead);
        }
        rejects.extend(self.drop_duplicates(&mut rows, text_keys)?);
        // One more read of each file with such rejects, for all of them at once.
        self.fill_raw(&mut rejects, cache)?;
        self.rejects.extend(rejects);
        Ok(rows)
    }

    /// Appends the checked files of one window, in order, to `got`.
    fn append_window(
        &mut self,
        outs: Vec<Result<Checked>>,
        paths: &[PathBuf],
        got: &mut Gathered,
    ) -> Result<()> {
        let Gathered {
            rows,
            text_keys,
            rejects,
            passed,
        } = got;
        let accepted: usize = outs
            .iter()
            .map(|o| o.as_ref().map_or(0, |(out, ..)| out.accepted()))
            .sum();
        reserve_ledger(rows, accepted);
        text_keys.reserve(accepted);
        for (out, path) in outs.into_iter().zip(paths) {
            let (out, implausible, seen) = out?;
            let file = file_index(self.files.len())?;
            crate::log::file_read(out.file.rows_read);
            self.add_file(out.file, path, out.rejects);
            rejects.extend(implausible);
            passed.merge(seen);
            // Each part is freed once copied, so a file's rows are held once.
            for part in out.parts {
                for (v, line) in part.values.into_iter().zip(part.lines) {
                    push_ledger(rows, text_keys, v, file, line);
                }
            }
        }
        Ok(())
    }

    /// Removes the rows `check` finds fault with (in input order) from `rows` and
    /// `text_keys`, and returns their rejects (raw text not yet filled in: see
    /// [`Reading::fill_raw`]). Rows are checked in parallel.
    pub(super) fn check_rows(
        &self,
        rows: &mut LedgerRows,
        text_keys: &mut Vec<u64>,
        check: impl Fn(RowAt) -> Result<(), Fault> + Sync,
    ) -> Vec<Rej> {
        let view: &LedgerRows = rows;
        let starts: Vec<usize> = (0..view.len()).step_by(CHUNK_ROWS).collect();
        let chunks: Vec<Vec<(usize, Fault)>> = starts
            .par_iter()
            .map(|&start| {
                (start..(start + CHUNK_ROWS).min(view.len()))
                    .filter_map(|i| check(RowAt(view, i)).err().map(|f| (i, f)))
                    .collect()
            })
            .collect();
        let mut rejects = Vec::new();
        let mut bad = Vec::new();
        for (i, f) in chunks.into_iter().flatten() {
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
        if bad.is_empty() {
            return rejects;
        }
        let mut next = bad.iter().peekable();
        let mut i = 0;
        text_keys.retain(|_| {
            let drop = next.next_if_eq(&&i).is_some();
            i += 1;
            !drop
        });
        remove_ledger_rows(rows, bad.into_iter());
        rejects
    }

    /// Removes exact duplicates from `rows` (in input order, keeping the first copy)
    /// and returns their `DUPLICATE_ROW` rejects (raw text not yet filled in).
    pub(super) fn drop_duplicates(
        &self,
        rows: &mut LedgerRows,
        text_keys: Vec<u64>,
    ) -> Result<Vec<Rej>> {
        let dups = ledger_duplicates(rows, &text_keys)?;
        drop(text_keys);
        let pairs: Lookup = dups
            .iter()
            .map(|&(d, f)| ((rows.file[d], rows.line[d]), (rows.file[f], rows.line[f])))
            .collect();
        remove_ledger_rows(rows, dups.iter().map(|d| d.0));
        Ok(self.duplicate_rejects(&pairs))
    }

    /// The files of a small input (registry, claims) one after the other, exact
    /// duplicates dropped: the accepted values with their (file, line).
    pub(super) fn read_small<V: Send, K: Ord>(
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
        let mut dup_rejects = self.duplicate_rejects(&small_lookup(&values, &dups));
        self.fill_raw(&mut dup_rejects, None)?;
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

    /// `DUPLICATE_ROW` rejects (raw text not yet filled in).
    pub(super) fn duplicate_rejects(&self, pairs: &Lookup) -> Vec<Rej> {
        pairs
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
            .collect()
    }

    /// Sorts `rejects` by (file, line) and fills in their raw text: each file is read
    /// again once, unless the cache has the text of those lines from an earlier run.
    /// Files are read side by side (one per worker thread at a time).
    pub(super) fn fill_raw(
        &self,
        rejects: &mut [Rej],
        cache: Option<&cache::LedgerCache>,
    ) -> Result<()> {
        rejects.sort_by_key(|r| (r.file, r.line));
        let mut groups: Vec<&mut [Rej]> = rejects.chunk_by_mut(|a, b| a.file == b.file).collect();
        // A window of files at a time: a thread waiting inside polars' reader takes
        // on other tasks of ours, so an unbounded parallel loop would decode every
        // file at once (8 GB at 1 M × 60).
        let window = rayon::current_num_threads().max(1);
        let mut reads: Vec<Result<bool>> = Vec::with_capacity(groups.len());
        for some in groups.chunks_mut(window) {
            reads.par_extend(
                some.par_iter_mut()
                    .map(|group| self.fill_raw_of_file(group, cache)),
            );
        }
        // The first file's error, whichever thread met it first.
        let reads = reads.into_iter().collect::<Result<Vec<bool>>>()?;
        #[cfg(test)]
        RAW_READS.with(|n| n.set(n.get() + reads.iter().filter(|r| **r).count()));
        drop(reads);
        Ok(())
    }

    /// [`Reading::fill_raw`] of the rejects of one file; whether the file was read.
    fn fill_raw_of_file(
        &self,
        group: &mut [Rej],
        cache: Option<&cache::LedgerCache>,
    ) -> Result<bool> {
        let Some(file) = group.first().map(|r| r.file as usize) else {
            return Ok(false);
        };
        let (Some(path), Some(info)) = (self.paths.get(file), self.files.get(file)) else {
            return Ok(false);
        };
        let mut known = cache.map(|c| c.load_raw(&info.sha256)).unwrap_or_default();
        let missing: Vec<u32> = group
            .iter()
            .map(|r| r.line)
            .filter(|l| !known.contains_key(l))
            .collect();
        let read = !missing.is_empty();
        if read {
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
        Ok(read)
    }

    /// Per-file counts, and the rejects in input order (file, line).
    pub(super) fn finish(self) -> (Vec<InputFile>, Vec<Reject>) {
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

/// The ledger files appended so far: their accepted rows (with the hash of each row's
/// `employer_id` and `txn_id`), the rejects of step 1 and what step 1 saw.
#[derive(Default)]
struct Gathered {
    rows: LedgerRows,
    text_keys: Vec<u64>,
    rejects: Vec<Rej>,
    passed: Passed,
}

/// A ledger file read and checked: its accepted rows and field rejects, the rejects
/// of step 1 of the plausibility check and what step 1 saw of the rows it passed.
type Checked = (FileOut<LedgerValue>, Vec<Rej>, Passed);

/// Reads and checks the ledger files `paths` (numbered from `first`) side by side.
/// Each file's rows are checked against the row-alone bounds where the file was read,
/// after the cache: its entries hold the rows before the rule file's bounds.
fn read_window(
    paths: &[PathBuf],
    first: usize,
    (encoding, sheet): (Encoding, Option<&str>),
    cache: Option<&cache::LedgerCache>,
    plausibility: &Plausibility,
) -> Vec<Result<Checked>> {
    paths
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
            let mut out = match cache {
                None => check()?,
                Some(cache) => {
                    let bytes = std::fs::read(p)
                        .map_err(|e| Error::input(p, format!("cannot read: {e}")))?;
                    let sha256 = crate::digest::sha256_hex(&bytes);
                    drop(bytes);
                    match cache.load(&sha256, Some(p), file) {
                        Some(out) => out,
                        None => {
                            let out = check()?;
                            cache.store(&out, p)?;
                            out
                        }
                    }
                }
            };
            let (implausible, passed) = drop_implausible(&mut out, file, plausibility);
            Ok((out, implausible, passed))
        })
        .collect()
}

/// Step 1 of the plausibility check ([`Plausibility::check_row`]) on an accepted
/// row of file `file`: its reject, or `None` once it is noted in `passed`.
pub(super) fn check_alone(
    plausibility: &Plausibility,
    v: &LedgerValue,
    file: u32,
    line: u32,
    passed: &mut Passed,
) -> Option<Rej> {
    let row = plausible::Row {
        person: v.person,
        period: v.period,
        amount: v.amount,
        base: v.base,
        paid_on: v.paid_on,
    };
    match plausibility.check_row(&row) {
        Ok(()) => {
            passed.add(plausibility, &row);
            None
        }
        Err(f) => Some(Rej {
            file,
            line,
            column: Some(f.column),
            kind: f.kind,
            message: f.message,
            raw: String::new(),
        }),
    }
}

/// Removes the rows of a checked file that fail step 1 (each range in parallel, in
/// place) and returns their rejects (raw text not yet filled in) and what step 1
/// saw of the others.
fn drop_implausible(
    out: &mut FileOut<LedgerValue>,
    file: u32,
    p: &Plausibility,
) -> (Vec<Rej>, Passed) {
    let found: Vec<(Vec<Rej>, Passed)> = out
        .parts
        .par_iter_mut()
        .map(|part| {
            let (mut rejects, mut passed) = (Vec::new(), Passed::default());
            let mut kept = 0;
            for i in 0..part.values.len() {
                match check_alone(p, &part.values[i], file, part.lines[i], &mut passed) {
                    Some(rej) => rejects.push(rej),
                    None => {
                        part.values.swap(kept, i);
                        part.lines.swap(kept, i);
                        kept += 1;
                    }
                }
            }
            part.values.truncate(kept);
            part.lines.truncate(kept);
            (rejects, passed)
        })
        .collect();
    let (mut rejects, mut passed) = (Vec::new(), Passed::default());
    for (r, p) in found {
        rejects.extend(r);
        passed.merge(p);
    }
    (rejects, passed)
}

/// Row `.1` of a set of ledger rows.
#[derive(Clone, Copy)]
pub(super) struct RowAt<'a>(&'a LedgerRows, usize);

pub(super) fn plausible_row(RowAt(r, i): RowAt) -> plausible::Row {
    plausible::Row {
        person: r.person[i],
        period: r.period[i],
        amount: r.amount[i],
        base: r.base[i],
        paid_on: r.paid_on[i],
    }
}
