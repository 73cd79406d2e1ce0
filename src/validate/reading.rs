//! The files of one run being read: ledger files in parallel windows, then the
//! plausibility checks, the duplicate check and the raw text of rejects.

use super::{
    CHUNK_ROWS, CLAIMS_COLUMNS, Fault, Field, FileOut, Found, LEDGER_COLUMNS, LedgerValue, Lookup,
    Plausibility, REGISTRY_COLUMNS, Rej, cache, check_claim, check_ledger, check_registry,
    columns_of, file_index, ledger_duplicates, plausible, push_ledger, read_file,
    remove_ledger_rows, reserve_ledger, small_duplicates, small_lookup,
};
use crate::domain::{Encoding, Month, RejectType};
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

    /// The ledger files, in parallel; accepted rows appended in file order, then
    /// implausible rows and exact duplicates removed. Files are checked a few at a time (two per thread),
    /// so the checked-but-not-yet-appended rows of only those files are held at once.
    pub(super) fn read_ledger(
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
        let (mut rejects, latest) = self.check_rows(&mut rows, &mut text_keys, |r| {
            let row = plausible_row(r);
            plausibility.check_row(&row)?;
            Ok(plausibility.reference_of(&row))
        });
        let reference = plausibility.reference(latest);
        let (ahead, _) = self.check_rows(&mut rows, &mut text_keys, |r| {
            plausibility.check_ahead(reference, &plausible_row(r))?;
            Ok(None)
        });
        rejects.extend(ahead);
        rejects.extend(self.drop_duplicates(&mut rows, text_keys)?);
        // One more read of each file with such rejects, for all of them at once.
        self.fill_raw(&mut rejects, cache)?;
        self.rejects.extend(rejects);
        Ok(rows)
    }

    /// Removes the rows `check` finds fault with (in input order) from `rows` and
    /// `text_keys`, and returns their rejects (raw text not yet filled in: see
    /// [`Reading::fill_raw`]), and the latest month `check` returned for the rows it
    /// passed. Rows are checked in parallel.
    pub(super) fn check_rows(
        &self,
        rows: &mut LedgerRows,
        text_keys: &mut Vec<u64>,
        check: impl Fn(RowAt) -> Result<Option<Month>, Fault> + Sync,
    ) -> (Vec<Rej>, Option<Month>) {
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
            return (rejects, latest);
        }
        let mut next = bad.iter().peekable();
        let mut i = 0;
        text_keys.retain(|_| {
            let drop = next.next_if_eq(&&i).is_some();
            i += 1;
            !drop
        });
        remove_ledger_rows(rows, bad.into_iter());
        (rejects, latest)
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
    pub(super) fn fill_raw(
        &self,
        rejects: &mut [Rej],
        cache: Option<&cache::LedgerCache>,
    ) -> Result<()> {
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
                #[cfg(test)]
                RAW_READS.with(|n| n.set(n.get() + 1));
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
