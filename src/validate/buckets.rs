//! Bounded-memory reading (`run --memory-budget`): the checked ledger rows are spilled
//! to one file per person bucket, and the engine then takes one bucket at a time.
//!
//! Ledger files are read one after the other (each with its own parallel check); every
//! accepted row goes to bucket `splitmix64(person) mod N` as a fixed-width record
//! (the cache record of [`super::cache`] plus file and line). Within a bucket the rows
//! therefore stay in input order, and since exact duplicates have the same person they
//! meet in the same bucket: [`Buckets::rows`] removes them exactly as the in-memory
//! read does. Registry and claims stay in memory (they are small).

use super::cache::{get_value, put_value};
use super::{
    Found, LedgerValue, Plausibility, Reading, Rej, check_ledger, discover_inputs, file_index,
    plausible, plausible_row, push_ledger, read_file,
};
use crate::binfmt::Reader;
use crate::domain::{Encoding, Month};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::{
    ClaimRows, InputFile, InputKind, LEDGER_COLUMNS, LedgerRows, RegistryRows, Reject,
};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes of one spilled row.
const RECORD: usize = 56;

/// The bucket of a person: [`crate::partition::part_of`], shared with the shards.
pub use crate::partition::part_of as bucket_of;

/// A spill folder, removed with everything in it when dropped: on success, on an
/// error and on a panic alike (a killed run's is removed by the next run, see
/// [`crate::privacy::state_dirs`] and [`crate::output::clean_leftovers`]).
struct SpillDir(PathBuf);

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Inputs read into spilled buckets.
pub struct Buckets {
    reading: Reading,
    spills: Vec<PathBuf>,
    /// Last, so that it is removed after the files in it are closed.
    _dir: SpillDir,
    pub registry: RegistryRows,
    pub claims: ClaimRows,
    /// The latest period of the accepted ledger rows (the default `as_of`).
    pub max_period: Option<Month>,
    /// The regions of the accepted ledger rows.
    pub regions: BTreeSet<u32>,
    plausibility: Plausibility,
    /// The plausibility reference month (see `plausible`).
    reference: Option<plausible::Reference>,
}

/// Reads every input like [`super::read_inputs`], spilling ledger rows into `count`
/// bucket files under `dir`.
// The run engine (issue "One run engine") is to fold these into one read plan.
#[allow(clippy::too_many_arguments)]
pub fn read_inputs_bucketed(
    ledger: &Path,
    special_groups: Option<&Path>,
    claims: Option<&Path>,
    encoding: Encoding,
    sheet: Option<&str>,
    count: u32,
    dir: &Path,
    plausibility: &Plausibility,
) -> Result<Buckets> {
    let found: Found = discover_inputs(ledger, special_groups, claims)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::output(dir, format!("cannot create the spill folder: {e}")))?;
    let guard = SpillDir(dir.to_path_buf());
    let spills: Vec<PathBuf> = (0..count)
        .map(|b| dir.join(format!("bucket-{b:05}.rows")))
        .collect();
    let mut writers = spills
        .iter()
        .map(|p| {
            File::create(p)
                .map(|f| BufWriter::with_capacity(1 << 16, f))
                .map_err(|e| Error::output(p, format!("cannot create spill file: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut reading = Reading {
        encoding,
        sheet: sheet.map(str::to_string),
        files: Vec::new(),
        paths: Vec::new(),
        rejects: Vec::new(),
    };
    let mut regions = BTreeSet::new();
    // (period, paid_on month) of the rows spilled: the default as_of is the latest
    // period among those that also pass the check against the reference month.
    let mut months: BTreeSet<(Month, Option<Month>)> = BTreeSet::new();
    let (mut latest, mut implausible) = (None, Vec::<Rej>::new());
    let mut record = Vec::with_capacity(RECORD);
    for path in &found.ledger {
        let file = file_index(reading.files.len())?;
        let out = read_file(
            path,
            file,
            InputKind::Ledger,
            (encoding, sheet),
            &LEDGER_COLUMNS,
            check_ledger,
        )?;
        for part in &out.parts {
            for (v, line) in part.values.iter().zip(&part.lines) {
                let row = value_row(v);
                if let Err(f) = plausibility.check_row(&row) {
                    implausible.push(Rej {
                        file,
                        line: *line,
                        column: Some(f.column),
                        kind: f.kind,
                        message: f.message,
                        raw: String::new(),
                    });
                    continue;
                }
                latest = latest.max(plausibility.reference_of(&row));
                months.insert((v.period, v.paid_on.map(|d| d.month())));
                regions.insert(v.region);
                record.clear();
                put_value(&mut record, v);
                record.extend_from_slice(&file.to_le_bytes());
                record.extend_from_slice(&line.to_le_bytes());
                let b = bucket_of(v.person, count) as usize;
                writers[b]
                    .write_all(&record)
                    .map_err(|e| Error::output(&spills[b], format!("cannot spill: {e}")))?;
            }
        }
        reading.add_file(out.file, path, out.rejects);
    }
    for (w, p) in writers.into_iter().zip(&spills) {
        w.into_inner()
            .map_err(|e| Error::output(p, format!("cannot spill: {e}")))?;
    }
    reading.fill_raw(&mut implausible, None)?;
    reading.rejects.extend(implausible);
    let reference = plausibility.reference(latest);
    let max_period = months
        .iter()
        .rev()
        .find(|(period, paid)| {
            let row = plausible::Row {
                person: PersonId(0),
                period: *period,
                amount: crate::domain::Fen::ZERO,
                base: None,
                paid_on: paid.map(Month::first_day),
            };
            plausibility.check_ahead(reference, &row).is_ok()
        })
        .map(|(period, _)| *period);
    let (registry, claims) = reading.read_registry_and_claims(&found)?;
    Ok(Buckets {
        reading,
        spills,
        _dir: guard,
        registry,
        claims,
        max_period,
        regions,
        plausibility: plausibility.clone(),
        reference,
    })
}

fn value_row(v: &LedgerValue) -> plausible::Row {
    plausible::Row {
        person: v.person,
        period: v.period,
        amount: v.amount,
        base: v.base,
        paid_on: v.paid_on,
    }
}

impl Buckets {
    pub fn count(&self) -> u32 {
        self.spills.len() as u32
    }

    /// The input files read (counts final only after [`Buckets::finish`]).
    pub fn files(&self) -> &[InputFile] {
        &self.reading.files
    }

    /// The accepted ledger rows of bucket `b` in input order, duplicates removed (their
    /// rejects are recorded); the spill file is deleted.
    pub fn rows(&mut self, b: u32) -> Result<LedgerRows> {
        let path = &self.spills[b as usize];
        let data = std::fs::read(path)
            .map_err(|e| Error::output(path, format!("cannot read spill file: {e}")))?;
        let n = data.len() / RECORD;
        let mut rows = LedgerRows::default();
        let mut text: Vec<u64> = Vec::with_capacity(n);
        let mut r = Reader::new(&data);
        for _ in 0..n {
            let decoded: Option<(LedgerValue, u32, u32)> = (|| {
                let v = get_value(&mut r)?;
                Some((v, r.u32()?, r.u32()?))
            })();
            let (v, file, line) = decoded.ok_or_else(|| {
                Error::Internal(format!("{}: damaged spill file", path.display()))
            })?;
            push_ledger(&mut rows, &mut text, v, file, line);
        }
        let _ = std::fs::remove_file(path);
        let (p, reference) = (&self.plausibility, self.reference);
        let (ahead, _) = self.reading.check_rows(&mut rows, &mut text, None, |r| {
            p.check_ahead(reference, &plausible_row(r))?;
            Ok(None)
        })?;
        self.reading.rejects.extend(ahead);
        self.reading.drop_duplicates(&mut rows, text, None)?;
        Ok(rows)
    }

    /// Why no ledger row was accepted (see [`super::no_rows_cause`]); counts as far
    /// as read (before the buckets' duplicates).
    pub fn no_rows_cause(&self) -> String {
        let files = &self.reading.files;
        let mut files = files.clone();
        for f in &mut files {
            f.rows_rejected = 0;
        }
        for r in &self.reading.rejects {
            if let Some(f) = files.get_mut(r.file as usize) {
                f.rows_rejected += 1;
            }
        }
        let names: Vec<&str> = self.reading.files.iter().map(|f| f.path.as_str()).collect();
        super::no_rows_cause(
            &files,
            self.reading.rejects.iter().map(|r| {
                (
                    names.get(r.file as usize).copied().unwrap_or(""),
                    r.message.as_str(),
                )
            }),
        )
    }

    /// Per-file counts and all rejects in input order.
    pub fn finish(self) -> (Vec<InputFile>, Vec<Reject>) {
        self.reading.finish()
    }
}
