//! Bounded-memory reading (`run --memory-budget`): the checked ledger rows are spilled
//! to one file per person bucket, and the engine then takes one bucket at a time.
//!
//! Ledger files are read one after the other (each with its own parallel check); every
//! accepted row goes to bucket `splitmix64(person) mod N` as a fixed-width record
//! (the cache record of [`super::cache`] plus file and line). Within a bucket the rows
//! therefore stay in input order, and since exact duplicates have the same person they
//! meet in the same bucket: [`Buckets::rows`] removes them exactly as the in-memory
//! read does. Registry and claims stay in memory (they are small).

use super::CHUNK_ROWS;
use super::cache::{get_value, put_value};
use super::plausible::Passed;
use super::{
    Found, LedgerValue, Plausibility, Reading, Rej, check_alone, check_ledger, discover_inputs,
    file_index, plausible, plausible_row, push_ledger, read_file, reserve_ledger,
};
use crate::binfmt::Reader;
use crate::domain::{Encoding, Month};
use crate::error::{Error, Result};
use crate::ledger::{
    ClaimRows, InputFile, InputKind, LEDGER_COLUMNS, LedgerRows, RegistryRows, Reject,
};
use rayon::prelude::*;
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
/// [`crate::privacy::state_dirs`] and [`crate::store`]'s sweep).
struct SpillDir(PathBuf);

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Inputs read into spilled buckets.
pub struct Buckets {
    reading: Reading,
    /// The rejects found while the buckets are read (rows ahead of the reference
    /// month, duplicates), whose raw text [`Buckets::finish`] fills in once for all
    /// buckets: each ledger file with such rejects is read again once, not once per
    /// bucket (at 1 M × 60 in 10 buckets that was 6–7 s per bucket).
    unfilled: Vec<Rej>,
    /// The spill files of each bucket, read one after the other.
    spills: Vec<Vec<PathBuf>>,
    /// Last, so that it is removed after the files in it are closed; `None` when the
    /// files belong to a partition ([`open_partition`]) and stay.
    _dir: Option<SpillDir>,
    pub registry: RegistryRows,
    pub claims: ClaimRows,
    /// The latest period of the accepted ledger rows (the default `as_of`).
    pub max_period: Option<Month>,
    /// The regions of the accepted ledger rows.
    pub regions: BTreeSet<u32>,
    plausibility: Plausibility,
    /// The plausibility reference month (see `plausible`).
    reference: Option<plausible::Reference>,
    /// Whether some spilled row lies ahead of the reference month (else the buckets
    /// skip that check).
    any_ahead: bool,
}

/// What spilling ledger files found besides the rows: the plausibility reference
/// month they offer, their (period, paid_on month) pairs and regions, the rows
/// written to each bucket.
#[derive(Clone, Debug, Default)]
pub struct Spilled {
    pub latest: Option<Month>,
    pub months: BTreeSet<(Month, Option<Month>)>,
    pub regions: BTreeSet<u32>,
    pub bucket_rows: Vec<u64>,
}

/// The bucket spill files `bucket-KKKKK.rows` of `count` buckets under `dir`.
pub fn spill_paths(dir: &Path, count: u32) -> Vec<PathBuf> {
    (0..count)
        .map(|b| dir.join(format!("bucket-{b:05}.rows")))
        .collect()
}

/// Reads and checks the ledger files `paths` into `reading` (file by file, each row
/// alone: field checks and [`Plausibility::check_row`]) and appends every accepted row
/// to the spill file of its person's bucket, its file numbered from `file_offset`
/// (the index of `paths[0]` among all ledger files of the pipeline).
fn spill_ledger(
    reading: &mut Reading,
    paths: &[PathBuf],
    file_offset: u32,
    spills: &[PathBuf],
    plausibility: &Plausibility,
) -> Result<Spilled> {
    let count = spills.len() as u32;
    let mut writers = spills
        .iter()
        .map(|p| {
            File::create(p)
                .map(|f| BufWriter::with_capacity(1 << 16, f))
                .map_err(|e| Error::output(p, format!("cannot create spill file: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut found = Spilled {
        bucket_rows: vec![0; spills.len()],
        ..Spilled::default()
    };
    let mut implausible = Vec::<Rej>::new();
    let (encoding, sheet) = (reading.encoding, reading.sheet.clone());
    for path in paths {
        let file = file_index(reading.files.len())?;
        let out = read_file(
            path,
            file,
            InputKind::Ledger,
            (encoding, sheet.as_deref()),
            &LEDGER_COLUMNS,
            check_ledger,
        )?;
        let global = file
            .checked_add(file_offset)
            .ok_or_else(|| Error::input(path, "too many input files"))?;
        // Each range of the file is checked and encoded in parallel into its own
        // per-bucket buffers; the buffers are then written in range order, so each
        // bucket keeps the rows in input order.
        let spilled: Vec<RangeSpill> = out
            .parts
            .par_iter()
            .map(|part| spill_range(&part.values, &part.lines, file, global, count, plausibility))
            .collect();
        for range in spilled {
            for (b, buffer) in range.buckets.iter().enumerate() {
                if buffer.is_empty() {
                    continue;
                }
                found.bucket_rows[b] += (buffer.len() / RECORD) as u64;
                writers[b]
                    .write_all(buffer)
                    .map_err(|e| Error::output(&spills[b], format!("cannot spill: {e}")))?;
            }
            found.latest = found.latest.max(range.passed.latest);
            found.months.extend(range.passed.months);
            found.regions.extend(range.regions);
            implausible.extend(range.implausible);
        }
        reading.add_file(out.file, path, out.rejects);
    }
    for (w, p) in writers.into_iter().zip(spills) {
        w.into_inner()
            .map_err(|e| Error::output(p, format!("cannot spill: {e}")))?;
    }
    reading.fill_raw(&mut implausible, None)?;
    reading.rejects.extend(implausible);
    Ok(found)
}

/// The rows in these spill files, by their sizes (0 for a file that cannot be read:
/// reading it then fails).
fn spilled_rows(paths: &[PathBuf]) -> usize {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len() as usize) / RECORD)
        .sum()
}

/// The spilled rows of `records` (whole records), or `None` when one is damaged or
/// names a file beyond the `files` read.
fn decode_records(records: &[u8], files: usize) -> Option<Vec<(LedgerValue, u32, u32)>> {
    let mut r = Reader::new(records);
    let mut out = Vec::with_capacity(records.len() / RECORD);
    for _ in 0..records.len() / RECORD {
        let v = get_value(&mut r)?;
        let (file, line) = (r.u32()?, r.u32()?);
        if file as usize >= files {
            return None;
        }
        out.push((v, file, line));
    }
    Some(out)
}

/// One checked row range of a ledger file, encoded for the bucket files.
struct RangeSpill {
    /// The records of each bucket, in input order.
    buckets: Vec<Vec<u8>>,
    implausible: Vec<Rej>,
    passed: Passed,
    regions: BTreeSet<u32>,
}

/// The row-alone bounds ([`Plausibility::check_row`]) and the spill records of one
/// range of accepted rows of file `file` (`global` among all ledger files).
fn spill_range(
    values: &[LedgerValue],
    lines: &[u32],
    file: u32,
    global: u32,
    count: u32,
    plausibility: &Plausibility,
) -> RangeSpill {
    let mut out = RangeSpill {
        buckets: vec![Vec::new(); count as usize],
        implausible: Vec::new(),
        passed: Passed::default(),
        regions: BTreeSet::new(),
    };
    // Rows of a file mostly share their region: the set is only touched when the
    // value changes.
    let mut last_region = None;
    for (v, line) in values.iter().zip(lines) {
        if let Some(rej) = check_alone(plausibility, v, file, *line, &mut out.passed) {
            out.implausible.push(rej);
            continue;
        }
        if last_region != Some(v.region) {
            out.regions.insert(v.region);
            last_region = Some(v.region);
        }
        let record = &mut out.buckets[bucket_of(v.person, count) as usize];
        put_value(record, v);
        record.extend_from_slice(&global.to_le_bytes());
        record.extend_from_slice(&line.to_le_bytes());
    }
    out
}

/// The default `as_of`: the latest period among the spilled (period, paid_on month)
/// pairs that also pass the check against the reference month.
fn max_period(
    months: &BTreeSet<(Month, Option<Month>)>,
    plausibility: &Plausibility,
    reference: Option<plausible::Reference>,
) -> Option<Month> {
    months
        .iter()
        .rev()
        .find(|&&pair| plausibility.pair_passes(reference, pair))
        .map(|(period, _)| *period)
}

fn new_reading(encoding: Encoding, sheet: Option<&str>) -> Reading {
    Reading {
        encoding,
        sheet: sheet.map(str::to_string),
        files: Vec::new(),
        paths: Vec::new(),
        rejects: Vec::new(),
    }
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
    let spills = spill_paths(dir, count);
    let mut reading = new_reading(encoding, sheet);
    let spilled = spill_ledger(&mut reading, &found.ledger, 0, &spills, plausibility)?;
    let reference = plausibility.reference(spilled.latest);
    let max_period = max_period(&spilled.months, plausibility, reference);
    let (registry, claims) = reading.read_registry_and_claims(&found)?;
    Ok(Buckets {
        reading,
        unfilled: Vec::new(),
        spills: spills.into_iter().map(|p| vec![p]).collect(),
        _dir: Some(guard),
        registry,
        claims,
        max_period,
        any_ahead: plausibility.any_ahead(reference, &spilled.months),
        regions: spilled.regions,
        plausibility: plausibility.clone(),
        reference,
    })
}

/// The ledger files of a pipeline in input order (a registry or claims file in the
/// ledger folder is not one), as a run finds them.
pub fn ledger_files(
    ledger: &Path,
    special_groups: Option<&Path>,
    claims: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    Ok(discover_inputs(ledger, special_groups, claims)?.ledger)
}

/// One file part of a partition ([`partition_ledger`]).
pub struct LedgerPart {
    /// All ledger files of the pipeline, sorted (what a shard checks the partition
    /// against).
    pub all_files: Vec<PathBuf>,
    /// The index of this part's first file among `all_files`.
    pub first_file: usize,
    /// This part's files with their counts (rows read; rejects found so far).
    pub files: Vec<InputFile>,
    /// The rejects of this part's files (field checks and the row-alone bounds), in
    /// input order.
    pub rejects: Vec<Reject>,
    pub spilled: Spilled,
}

/// `ledgerflow partition --files I/M`: reads and checks the ledger files of part
/// `part` of `parts` (contiguous in path order: files `⌊F·I/M⌋ … ⌊F·(I+1)/M⌋ − 1`)
/// and spills the accepted rows into `count` bucket files under `dir`, numbering
/// files among all ledger files. The checks that need the whole ledger (rows ahead of
/// the reference month, exact duplicates) wait for the shard that reads the bucket
/// ([`open_partition`], [`Buckets::rows_of_all`]).
#[allow(clippy::too_many_arguments)]
pub fn partition_ledger(
    ledger: &Path,
    special_groups: Option<&Path>,
    claims: Option<&Path>,
    (encoding, sheet): (Encoding, Option<&str>),
    (part, parts): (u32, u32),
    count: u32,
    dir: &Path,
    plausibility: &Plausibility,
) -> Result<LedgerPart> {
    let all_files = ledger_files(ledger, special_groups, claims)?;
    let n = all_files.len();
    let bound = |i: u32| n * i as usize / parts.max(1) as usize;
    let (first, end) = (bound(part), bound(part + 1));
    let mut reading = new_reading(encoding, sheet);
    let spilled = spill_ledger(
        &mut reading,
        &all_files[first..end],
        file_index(first)?,
        &spill_paths(dir, count),
        plausibility,
    )?;
    let (files, rejects) = reading.finish();
    Ok(LedgerPart {
        all_files,
        first_file: first,
        files,
        rejects,
        spilled,
    })
}

/// What a shard reads of a partition: every ledger file (with the counts the
/// partition found), the spill files of its bucket in every file part, and what
/// the parts found besides the rows (the reference month is the latest of all).
pub struct PartitionBucket {
    pub files: Vec<(PathBuf, InputFile)>,
    pub spills: Vec<PathBuf>,
    pub latest: Option<Month>,
    pub months: BTreeSet<(Month, Option<Month>)>,
}

/// The inputs of one shard of a partition: its bucket of ledger rows (read with
/// [`Buckets::rows_of_all`]), the registry and the claims read from their files.
/// The partition's files stay.
pub fn open_partition(
    special_groups: Option<&Path>,
    claims: Option<&Path>,
    (encoding, sheet): (Encoding, Option<&str>),
    bucket: PartitionBucket,
    plausibility: &Plausibility,
) -> Result<Buckets> {
    let mut reading = new_reading(encoding, sheet);
    for (path, file) in bucket.files {
        reading.add_file(file, &path, Vec::new());
    }
    let found = Found {
        ledger: Vec::new(),
        special_groups: match special_groups {
            Some(p) => crate::ingest::discover_as(p, "special-groups")?,
            None => Vec::new(),
        },
        claims: match claims {
            Some(p) => crate::ingest::discover_as(p, "claims")?,
            None => Vec::new(),
        },
    };
    let (registry, claims) = reading.read_registry_and_claims(&found)?;
    let reference = plausibility.reference(bucket.latest);
    Ok(Buckets {
        reading,
        unfilled: Vec::new(),
        spills: vec![bucket.spills],
        _dir: None,
        registry,
        claims,
        max_period: max_period(&bucket.months, plausibility, reference),
        any_ahead: plausibility.any_ahead(reference, &bucket.months),
        regions: BTreeSet::new(),
        plausibility: plausibility.clone(),
        reference,
    })
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
        let paths = self.spills.get(b as usize).cloned().unwrap_or_default();
        let rows = self.read_rows(&paths)?;
        for p in &paths {
            let _ = std::fs::remove_file(p);
        }
        Ok(rows)
    }

    /// The accepted ledger rows of every bucket spill file, one after the other (a
    /// shard's bucket in every file part of a partition: input order), rows ahead of
    /// the reference month and exact duplicates removed (their rejects are recorded),
    /// and how many rows were read from the files. The files stay.
    pub fn rows_of_all(&mut self) -> Result<(LedgerRows, u64)> {
        let paths: Vec<PathBuf> = self.spills.concat();
        let read = spilled_rows(&paths) as u64;
        let rows = self.read_rows(&paths)?;
        Ok((rows, read))
    }

    fn read_rows(&mut self, paths: &[PathBuf]) -> Result<LedgerRows> {
        let n = spilled_rows(paths);
        let mut rows = LedgerRows::default();
        let mut text: Vec<u64> = Vec::with_capacity(n);
        reserve_ledger(&mut rows, n);
        let files = self.reading.files.len();
        // Decoded in parallel ranges a window at a time (the decoded values of one
        // window are held besides the columns), appended in order; one spill file is
        // held at a time.
        let range = RECORD * CHUNK_ROWS;
        let window = range * 2 * rayon::current_num_threads().max(1);
        for path in paths {
            let data = std::fs::read(path)
                .map_err(|e| Error::input(path, format!("cannot read spill file: {e}")))?;
            if data.len() % RECORD != 0 {
                return Err(Error::input(path, "damaged spill file (torn record)"));
            }
            for w in data.chunks(window) {
                let decoded: Vec<Option<Vec<(LedgerValue, u32, u32)>>> = w
                    .par_chunks(range)
                    .map(|records| decode_records(records, files))
                    .collect();
                for values in decoded {
                    let values = values.ok_or_else(|| Error::input(path, "damaged spill file"))?;
                    for (v, file, line) in values {
                        push_ledger(&mut rows, &mut text, v, file, line);
                    }
                }
            }
        }
        if self.any_ahead {
            let (p, reference) = (&self.plausibility, self.reference);
            let ahead = self.reading.check_rows(&mut rows, &mut text, |r| {
                p.check_ahead(reference, &plausible_row(r))
            });
            self.unfilled.extend(ahead);
        }
        let duplicates = self.reading.drop_duplicates(&mut rows, text)?;
        self.unfilled.extend(duplicates);
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
        for r in self.reading.rejects.iter().chain(&self.unfilled) {
            if let Some(f) = files.get_mut(r.file as usize) {
                f.rows_rejected += 1;
            }
        }
        let names: Vec<&str> = self.reading.files.iter().map(|f| f.path.as_str()).collect();
        super::no_rows_cause(
            &files,
            self.reading.rejects.iter().chain(&self.unfilled).map(|r| {
                (
                    names.get(r.file as usize).copied().unwrap_or(""),
                    r.message.as_str(),
                )
            }),
        )
    }

    /// Per-file counts and all rejects in input order.
    pub fn finish(mut self) -> Result<(Vec<InputFile>, Vec<Reject>)> {
        let mut unfilled = std::mem::take(&mut self.unfilled);
        self.reading.fill_raw(&mut unfilled, None)?;
        self.reading.rejects.extend(unfilled);
        Ok(self.reading.finish())
    }
}
