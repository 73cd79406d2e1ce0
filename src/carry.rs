//! The carry-forward state of `run --incremental`: the engine results of the last
//! incremental run, per person, with the input files they came from, so that the next
//! run evaluates only the people its new or changed input rows touch.
//!
//! A person's results are a function of their own accepted rows (ledger, registry,
//! claims), the rules, the pipeline and `as_of` — nothing else (not line numbers, not
//! other people). So when the tool version, the pipeline, the rules, whether claims
//! were given, the shard and `as_of` are those of the state (its *context*), a person
//! whose rows are the same in every input file is carried forward as stored. The
//! touched people are found per file (kind and path): ledger files with the same
//! SHA-256 are skipped; for the others, each person's rows are hashed (values in file
//! order) in the old and the new version — from the ledger cache, whose entries hold
//! a file's checked rows *before* the cross-file duplicate check, so a list depends
//! only on the file's bytes; the exact-duplicate check keeps a first copy, and which
//! copy is first changes only with a changed file holding a copy, i.e. a row of the
//! same person. Registry and claims lists (accepted rows) are kept in the state.
//! A person in neither version of any changed file has the same rows as before.
//!
//! When the context differs — a new month, new rules — everyone is evaluated
//! (advancing to a new `as_of` is itself an evaluation: deadlines pass, waits end,
//! every person gains a month) and the state is replaced. So are a missing or damaged
//! state and a changed file without a cache entry: the result never depends on the
//! state, only the work does.
//!
//! Stored at `OUT/_cache/results[-<k>of<n>].state` (with `[privacy] state_dir`, in
//! that folder's `cache/`) after the snapshot is published, written atomically;
//! results and file list always belong together, so a crash between publishing and
//! storing only means a larger next run. The ledger cache keeps
//! the entries of the state's files until the new state is stored.
//!
//! Format (little-endian, [`crate::binfmt`], sealed with a checksum): magic, context, files (`kind u8, path,
//! sha256, n u64, (person u64, hash u64) × n`), then per person in person order:
//! `person u64, months u32, gaps u32, status u8, findings u32` and those rows (months
//! packed as flag bits, see `put_months`).

use crate::binfmt::{
    Reader, put_f64, put_i32, put_i64, put_opt_i32, put_opt_i64, put_str, put_u8, put_u32, put_u64,
    seal, unseal,
};
use crate::domain::{
    Benefit, Date, Fen, FindingCode, GapKind, GapState, Gender, Month, Payer, Reason, Scheme,
    SpecialGroup,
};
use crate::engine::{Batch, FindingRow, GapRow, MonthRow, StatusRow};
use crate::error::Result;
use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"LFCARRY2";

/// One input file of a run: for registry and claims files also their people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePeople {
    pub kind: InputKind,
    pub path: String,
    pub sha256: String,
    /// Registry and claims files: sorted by person, each once, the hash of the
    /// person's accepted rows in the file (values in file order; lines left out, as
    /// results do not depend on them). Empty for ledger files, whose people are read
    /// from the ledger cache when needed ([`ledger_people`]).
    pub people: Vec<(PersonId, u64)>,
}

/// The input files of a run, with the people of the registry and claims files.
pub fn file_people(inputs: &Inputs) -> Vec<FilePeople> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); inputs.files.len()];
    let (r, c) = (&inputs.registry, &inputs.claims);
    for (i, f) in r.file.iter().enumerate() {
        if let Some(v) = rows.get_mut(*f as usize) {
            v.push(i);
        }
    }
    for (i, f) in c.file.iter().enumerate() {
        if let Some(v) = rows.get_mut(*f as usize) {
            v.push(i);
        }
    }
    inputs
        .files
        .iter()
        .zip(rows)
        .map(|(f, rows)| FilePeople {
            kind: f.kind,
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            people: match f.kind {
                InputKind::Ledger => Vec::new(),
                InputKind::SpecialGroups => hash_people(rows, &r.person, |i| {
                    [
                        r.group[i] as u64,
                        r.valid_from[i].0 as u64,
                        r.valid_to[i].is_some() as u64,
                        r.valid_to[i].map_or(0, |d| d.0 as u64),
                    ]
                }),
                InputKind::Claims => hash_people(rows, &c.person, |i| {
                    [c.year[i] as u64, c.fund_paid[i].0 as u64]
                }),
            },
        })
        .collect()
}

/// The people of the ledger file with this SHA-256, from its ledger-cache entry: every
/// checked row *before* the duplicate check (so the list depends only on the file's
/// bytes; a row that is a duplicate in one run and the kept copy in the next belongs
/// to a person who has the other copy in a changed file). `None` without an entry.
pub fn ledger_people(
    cache: &Path,
    encoding: crate::domain::Encoding,
    sheet: Option<&str>,
    sha256: &str,
) -> Option<Vec<(PersonId, u64)>> {
    let (l, text) = crate::validate::cached_ledger_rows(cache, encoding, sheet, sha256)?;
    Some(hash_people((0..l.len()).collect(), &l.person, |i| {
        [
            l.period[i].0 as u64,
            l.scheme[i] as u64,
            l.payer[i] as u64,
            l.amount[i].0 as u64,
            l.base[i].is_some() as u64,
            l.base[i].map_or(0, |b| b.0 as u64),
            l.paid_on[i].is_some() as u64,
            l.paid_on[i].map_or(0, |d| d.0 as u64),
            l.region[i] as u64,
            text[i],
        ]
    }))
}

/// The people of these rows (indices in file order), each with the hash of their rows.
fn hash_people<const N: usize>(
    mut rows: Vec<usize>,
    person: &[PersonId],
    values: impl Fn(usize) -> [u64; N],
) -> Vec<(PersonId, u64)> {
    rows.sort_by_key(|&i| person[i]);
    let mut out: Vec<(PersonId, u64)> = Vec::new();
    for i in rows {
        let h = values(i).into_iter().fold(0x243f_6a88_85a3_08d3, mix);
        match out.last_mut() {
            Some((p, acc)) if *p == person[i] => *acc = mix(*acc, h),
            _ => out.push((person[i], mix(0x1319_8a2e_0370_7344, h))),
        }
    }
    out
}

/// Order-sensitive 64-bit mixing (splitmix64's finalizer on both sides).
fn mix(h: u64, v: u64) -> u64 {
    fn fin(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fin(h.rotate_left(23) ^ fin(v.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// The people whose rows differ between two runs' input files (a file is its kind and
/// path): per file, the people added, removed or with other rows; every person of a
/// file that is new or gone. Ledger files with the same SHA-256 are skipped; the
/// people of the others come from `ledger` (by SHA-256). Sorted, each once; `None`
/// when `ledger` has no list for a file.
pub fn touched(
    before: &[FilePeople],
    now: &[FilePeople],
    ledger: impl Fn(&str) -> Option<Vec<(PersonId, u64)>>,
) -> Option<Vec<PersonId>> {
    let mut out = Vec::new();
    let index = |list: &[FilePeople]| -> HashMap<(InputKind, String), usize> {
        let key = |(i, f): (usize, &FilePeople)| ((f.kind, f.path.clone()), i);
        list.iter().enumerate().map(key).collect()
    };
    let (before_at, now_at) = (index(before), index(now));
    let at = |map: &HashMap<(InputKind, String), usize>, f: &FilePeople| {
        map.get(&(f.kind, f.path.clone())).copied()
    };
    let people = |f: &FilePeople| -> Option<Vec<(PersonId, u64)>> {
        match f.kind {
            InputKind::Ledger => ledger(&f.sha256),
            _ => Some(f.people.clone()),
        }
    };
    for f in now {
        match at(&before_at, f).map(|b| &before[b]) {
            Some(b) if f.kind == InputKind::Ledger && b.sha256 == f.sha256 => {}
            Some(b) => differing(&people(b)?, &people(f)?, &mut out),
            None => out.extend(people(f)?.iter().map(|x| x.0)),
        }
    }
    for b in before {
        if at(&now_at, b).is_none() {
            out.extend(people(b)?.iter().map(|x| x.0));
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Appends the people of two sorted lists whose entries differ (or exist in one only).
fn differing(a: &[(PersonId, u64)], b: &[(PersonId, u64)], out: &mut Vec<PersonId>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                if x.1 != y.1 {
                    out.push(x.0);
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(x.0);
                i += 1;
            }
            (Some(x), None) => {
                out.push(x.0);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(y.0);
                j += 1;
            }
            (None, None) => break,
        }
    }
}

/// Where the state of a run (or of one shard's runs) is kept, in the cache folder
/// `cache` (`OUT/_cache`, or the pipeline's state folder: [`crate::privacy::state_dirs`]).
pub fn path(cache: &Path, shard: Option<crate::partition::Shard>) -> PathBuf {
    let name = match shard {
        None => "results.state".to_string(),
        Some(s) => format!("results-{}of{}.state", s.index, s.count),
    };
    cache.join(name)
}

/// Removes what a killed run left while storing this state (its temporary files).
pub fn clean_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Everything besides a person's own rows that their results depend on.
pub fn context(
    as_of: Month,
    pipeline_sha256: &str,
    rules_sha256: &str,
    claims_given: bool,
    shard: Option<crate::partition::Shard>,
) -> String {
    let shard = shard.map_or("all".to_string(), |s| format!("{}/{}", s.index, s.count));
    format!(
        "build={} as_of={as_of} pipeline={pipeline_sha256} rules={rules_sha256} claims={claims_given} shard={shard}",
        crate::BUILD
    )
}

/// A state read back: its files and its per-person records (not yet decoded).
pub struct State {
    pub files: Vec<FilePeople>,
    data: Vec<u8>,
    records: usize,
}

impl State {
    /// The state at `path` if it exists, is undamaged and was made in `context`.
    pub fn load(path: &Path, context: &str) -> Option<State> {
        let mut data = std::fs::read(path).ok()?;
        data.truncate(unseal(&data)?.len());
        let mut r = Reader::new(&data);
        if r.take(MAGIC.len())? != MAGIC || r.string()? != context {
            return None;
        }
        let n = r.u32()?;
        let mut files = Vec::new();
        for _ in 0..n {
            let kind = match r.u8()? {
                0 => InputKind::Ledger,
                1 => InputKind::SpecialGroups,
                2 => InputKind::Claims,
                _ => return None,
            };
            let (path, sha256) = (r.string()?, r.string()?);
            let count = usize::try_from(r.u64()?).ok()?;
            let mut people = Vec::with_capacity(count.min(data.len() / 16));
            for _ in 0..count {
                people.push((PersonId(r.u64()?), r.u64()?));
            }
            files.push(FilePeople {
                kind,
                path,
                sha256,
                people,
            });
        }
        let records = r.at;
        Some(State {
            files,
            data,
            records,
        })
    }

    /// The stored results of everyone not in `touched` (sorted), merged in person order
    /// with `fresh` (the results of the touched people); `None` if the state is damaged.
    pub fn merge(&self, fresh: Batch, touched: &[PersonId]) -> Option<(Batch, u64)> {
        let mut r = Reader::new(&self.data);
        r.take(self.records)?;
        let mut out = Batch::default();
        let mut scratch = Batch::default();
        let mut fresh = Fresh::new(fresh);
        let mut carried = 0u64;
        while !r.done() {
            let person = PersonId(r.u64()?);
            fresh.move_before(person, &mut out);
            if touched.binary_search(&person).is_ok() {
                get_person(&mut r, person, &mut scratch)?;
                scratch = Batch::default();
            } else {
                get_person(&mut r, person, &mut out)?;
                carried += 1;
            }
        }
        fresh.move_rest(&mut out);
        Some((out, carried))
    }
}

/// Stores `batch` (everyone's results, in person order) and the files it came from.
pub fn store(path: &Path, context: &str, files: &[FilePeople], batch: &Batch) -> Result<()> {
    let mut w = Vec::with_capacity(64 + batch.months.len() * 40 + batch.gaps.len() * 64);
    w.extend_from_slice(MAGIC);
    put_str(&mut w, context);
    put_u32(&mut w, files.len() as u32);
    for f in files {
        put_u8(&mut w, f.kind as u8);
        put_str(&mut w, &f.path);
        put_str(&mut w, &f.sha256);
        put_u64(&mut w, f.people.len() as u64);
        for (p, h) in &f.people {
            put_u64(&mut w, p.0);
            put_u64(&mut w, *h);
        }
    }
    let (mut m, mut g, mut s, mut f) = (0usize, 0usize, 0usize, 0usize);
    loop {
        let next = [
            batch.months.get(m).map(|x| x.person),
            batch.gaps.get(g).map(|x| x.person),
            batch.status.get(s).map(|x| x.person),
            batch.findings.get(f).map(|x| x.person),
        ];
        let Some(person) = next.into_iter().flatten().min() else {
            break;
        };
        let end = |from: usize, len: usize, at: &dyn Fn(usize) -> PersonId| {
            (from..len).find(|&i| at(i) != person).unwrap_or(len)
        };
        let m1 = end(m, batch.months.len(), &|i| batch.months[i].person);
        let g1 = end(g, batch.gaps.len(), &|i| batch.gaps[i].person);
        let s1 = end(s, batch.status.len(), &|i| batch.status[i].person);
        let f1 = end(f, batch.findings.len(), &|i| batch.findings[i].person);
        put_u64(&mut w, person.0);
        put_u32(&mut w, (m1 - m) as u32);
        put_u32(&mut w, (g1 - g) as u32);
        put_u8(&mut w, (s1 - s) as u8);
        put_u32(&mut w, (f1 - f) as u32);
        put_months(&mut w, &batch.months[m..m1]);
        batch.gaps[g..g1].iter().for_each(|x| put_gap(&mut w, x));
        batch.status[s..s1]
            .iter()
            .for_each(|x| put_status(&mut w, x));
        batch.findings[f..f1]
            .iter()
            .for_each(|x| put_finding(&mut w, x));
        (m, g, s, f) = (m1, g1, s1, f1);
    }
    seal(&mut w);
    crate::store::write_file_atomically(path, &w)
}

/// The fresh results, handed over person by person in order.
struct Fresh {
    months: std::iter::Peekable<std::vec::IntoIter<MonthRow>>,
    gaps: std::iter::Peekable<std::vec::IntoIter<GapRow>>,
    status: std::iter::Peekable<std::vec::IntoIter<StatusRow>>,
    findings: std::iter::Peekable<std::vec::IntoIter<FindingRow>>,
}

impl Fresh {
    fn new(b: Batch) -> Fresh {
        Fresh {
            months: b.months.into_iter().peekable(),
            gaps: b.gaps.into_iter().peekable(),
            status: b.status.into_iter().peekable(),
            findings: b.findings.into_iter().peekable(),
        }
    }
    /// Moves the rows of people before `p` to `out`.
    fn move_before(&mut self, p: PersonId, out: &mut Batch) {
        out.months
            .extend(std::iter::from_fn(|| self.months.next_if(|x| x.person < p)));
        out.gaps
            .extend(std::iter::from_fn(|| self.gaps.next_if(|x| x.person < p)));
        out.status
            .extend(std::iter::from_fn(|| self.status.next_if(|x| x.person < p)));
        out.findings.extend(std::iter::from_fn(|| {
            self.findings.next_if(|x| x.person < p)
        }));
    }
    fn move_rest(self, out: &mut Batch) {
        out.months.extend(self.months);
        out.gaps.extend(self.gaps);
        out.status.extend(self.status);
        out.findings.extend(self.findings);
    }
}

/// An optional code's index, 255 when absent.
fn opt_code(v: Option<u8>) -> u8 {
    v.unwrap_or(255)
}

fn code<T: Copy>(all: &[T], i: u8) -> Option<T> {
    all.get(i as usize).copied()
}

fn get_opt_code<T: Copy>(r: &mut Reader, all: &[T]) -> Option<Option<T>> {
    match r.u8()? {
        255 => Some(None),
        i => Some(Some(code(all, i)?)),
    }
}

/// A person's months, most fields as flag bits; period, region and ratio only where
/// they do not follow from the previous month (next period, same region and ratio).
fn put_months(w: &mut Vec<u8>, rows: &[MonthRow]) {
    let mut prev: Option<&MonthRow> = None;
    for x in rows {
        let new_period = prev.is_none_or(|p| x.period.0 != p.period.0 + 1);
        let new_region = prev.is_none_or(|p| x.region != p.region);
        let new_ratio = prev.is_none_or(|p| x.benefit_ratio.to_bits() != p.benefit_ratio.to_bits());
        let flags = (x.paid as u8)
            | (x.on_time as u8) << 1
            | (x.paid_on.is_some() as u8) << 2
            | (x.gap_id.is_some() as u8) << 3
            | (x.special_group.is_some() as u8) << 4
            | (new_period as u8) << 5
            | (new_region as u8) << 6
            | (new_ratio as u8) << 7;
        put_u8(w, flags);
        put_u8(w, (x.scheme as u8) << 4 | x.benefit as u8);
        put_u8(w, x.reason as u8);
        if new_period {
            put_i32(w, x.period.0);
        }
        if new_region {
            put_u32(w, x.region);
        }
        if new_ratio {
            put_f64(w, x.benefit_ratio);
        }
        if let Some(d) = x.paid_on {
            put_i32(w, d.0);
        }
        if let Some(g) = x.gap_id {
            put_i32(w, g);
        }
        if let Some(g) = x.special_group {
            put_u8(w, g as u8);
        }
        prev = Some(x);
    }
}

/// Reads `n` months written by [`put_months`].
fn get_months(r: &mut Reader, n: u32, person: PersonId, out: &mut Vec<MonthRow>) -> Option<()> {
    let (mut period, mut region, mut ratio) = (Month(0), 0u32, 0f64);
    for i in 0..n {
        let (flags, codes, reason) = (r.u8()?, r.u8()?, r.u8()?);
        let bit = |b: u8| flags & (1 << b) != 0;
        if i == 0 && flags & 0b1110_0000 != 0b1110_0000 {
            return None;
        }
        period = if bit(5) {
            Month(r.i32()?)
        } else {
            Month(period.0 + 1)
        };
        if bit(6) {
            region = r.u32()?;
        }
        if bit(7) {
            ratio = r.f64()?;
        }
        let paid_on = if bit(2) { Some(Date(r.i32()?)) } else { None };
        let gap_id = if bit(3) { Some(r.i32()?) } else { None };
        let special_group = if bit(4) {
            Some(code(SpecialGroup::ALL, r.u8()?)?)
        } else {
            None
        };
        out.push(MonthRow {
            person,
            period,
            scheme: code(Scheme::ALL, codes >> 4)?,
            region,
            paid: bit(0),
            paid_on,
            on_time: bit(1),
            special_group,
            benefit: code(Benefit::ALL, codes & 0x0f)?,
            benefit_ratio: ratio,
            reason: code(Reason::ALL, reason)?,
            gap_id,
        });
    }
    Some(())
}

fn put_gap(w: &mut Vec<u8>, x: &GapRow) {
    put_i32(w, x.gap_id);
    put_u8(w, x.kind as u8);
    put_i32(w, x.gap_start.0);
    put_i32(w, x.gap_end.0);
    put_i32(w, x.months);
    put_u8(w, x.open as u8);
    put_u8(w, opt_code(x.payer.map(|p| p as u8)));
    put_u8(w, x.state as u8);
    put_opt_i32(w, x.backpaid_on.map(|d| d.0));
    put_opt_i32(w, x.deadline.map(|d| d.0));
    put_i64(w, x.backpay_amount.0);
    put_i64(w, x.late_fee_amount.0);
    put_opt_i32(w, x.wait_months);
    put_opt_i32(w, x.benefits_from.map(|d| d.0));
}

fn put_status(w: &mut Vec<u8>, x: &StatusRow) {
    put_u8(w, x.gender as u8);
    put_i32(w, x.birth_date.0);
    put_u32(w, x.region);
    put_u8(w, x.scheme as u8);
    put_u8(w, opt_code(x.special_group.map(|g| g as u8)));
    put_u8(w, x.benefit as u8);
    put_f64(w, x.benefit_ratio);
    put_opt_i32(w, x.benefits_from.map(|d| d.0));
    put_i32(w, x.first_period.0);
    put_opt_i32(w, x.last_paid_period.map(|m| m.0));
    for v in [
        x.cumulative_months,
        x.continuous_months,
        x.gap_count,
        x.open_gap_months,
        x.longest_gap_months,
        x.arrears_months,
        x.retirement_min_months,
        x.months_short,
        x.resident_continuous_years,
    ] {
        put_i32(w, v);
    }
    put_u8(w, x.continuity_at_risk as u8);
    put_i64(w, x.arrears_amount.0);
    put_i64(w, x.late_fee_amount.0);
    put_opt_i64(w, x.lump_sum_estimate.map(|f| f.0));
    put_i64(w, x.incentive_raise.0);
}

fn put_finding(w: &mut Vec<u8>, x: &FindingRow) {
    put_i32(w, x.period.0);
    put_u8(w, x.code as u8);
    put_str(w, &x.detail);
}

/// Reads one person's record (after its person ID) and appends its rows to `out`.
fn get_person(r: &mut Reader, person: PersonId, out: &mut Batch) -> Option<()> {
    let (months, gaps, status, findings) = (r.u32()?, r.u32()?, r.u8()?, r.u32()?);
    get_months(r, months, person, &mut out.months)?;
    for _ in 0..gaps {
        out.gaps.push(GapRow {
            person,
            gap_id: r.i32()?,
            kind: code(GapKind::ALL, r.u8()?)?,
            gap_start: Date(r.i32()?),
            gap_end: Date(r.i32()?),
            months: r.i32()?,
            open: r.flag()?,
            payer: get_opt_code(r, Payer::ALL)?,
            state: code(GapState::ALL, r.u8()?)?,
            backpaid_on: r.opt_i32()?.map(Date),
            deadline: r.opt_i32()?.map(Date),
            backpay_amount: Fen(r.i64()?),
            late_fee_amount: Fen(r.i64()?),
            wait_months: r.opt_i32()?,
            benefits_from: r.opt_i32()?.map(Date),
        });
    }
    for _ in 0..status {
        let gender = code(Gender::ALL, r.u8()?)?;
        let birth_date = Date(r.i32()?);
        let region = r.u32()?;
        let scheme = code(Scheme::ALL, r.u8()?)?;
        let special_group = get_opt_code(r, SpecialGroup::ALL)?;
        let benefit = code(Benefit::ALL, r.u8()?)?;
        let benefit_ratio = r.f64()?;
        let benefits_from = r.opt_i32()?.map(Date);
        let first_period = Month(r.i32()?);
        let last_paid_period = r.opt_i32()?.map(Month);
        let mut n = [0i32; 9];
        for v in &mut n {
            *v = r.i32()?;
        }
        out.status.push(StatusRow {
            person,
            gender,
            birth_date,
            region,
            scheme,
            special_group,
            benefit,
            benefit_ratio,
            benefits_from,
            first_period,
            last_paid_period,
            cumulative_months: n[0],
            continuous_months: n[1],
            gap_count: n[2],
            open_gap_months: n[3],
            longest_gap_months: n[4],
            arrears_months: n[5],
            retirement_min_months: n[6],
            months_short: n[7],
            resident_continuous_years: n[8],
            continuity_at_risk: r.flag()?,
            arrears_amount: Fen(r.i64()?),
            late_fee_amount: Fen(r.i64()?),
            lump_sum_estimate: r.opt_i64()?.map(Fen),
            incentive_raise: Fen(r.i64()?),
        });
    }
    for _ in 0..findings {
        out.findings.push(FindingRow {
            person,
            period: Month(r.i32()?),
            code: code(FindingCode::ALL, r.u8()?)?,
            detail: r.string()?,
        });
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(p: u64, period: Month, region: u32, ratio: f64, paid_on: Option<i32>) -> MonthRow {
        MonthRow {
            person: PersonId(p),
            period,
            scheme: Scheme::Flexible,
            region,
            paid: paid_on.is_some(),
            paid_on: paid_on.map(Date),
            on_time: paid_on.is_some_and(|d| d % 2 == 0),
            special_group: (region == 2).then_some(SpecialGroup::LowIncome),
            benefit: Benefit::Reduced,
            benefit_ratio: ratio,
            reason: Reason::PostBreakReduced,
            gap_id: paid_on.is_none().then_some(3),
        }
    }

    fn status(p: u64, lump: Option<Fen>) -> StatusRow {
        StatusRow {
            person: PersonId(p),
            gender: Gender::Female,
            birth_date: Date(-4000),
            region: 370200,
            scheme: Scheme::Resident,
            special_group: Some(SpecialGroup::Dibao),
            benefit: Benefit::Waiting,
            benefit_ratio: 0.6,
            benefits_from: Some(Date(20_000)),
            first_period: Month(24_000),
            last_paid_period: None,
            cumulative_months: 1,
            continuous_months: 2,
            continuity_at_risk: true,
            gap_count: 3,
            open_gap_months: 4,
            longest_gap_months: 5,
            arrears_months: 6,
            arrears_amount: Fen(700),
            late_fee_amount: Fen(8),
            retirement_min_months: 300,
            months_short: 10,
            lump_sum_estimate: lump,
            resident_continuous_years: 11,
            incentive_raise: Fen(12),
        }
    }

    fn gap(p: u64, payer: Option<Payer>) -> GapRow {
        GapRow {
            person: PersonId(p),
            gap_id: 1,
            kind: GapKind::Employee,
            gap_start: Date(19_000),
            gap_end: Date(19_100),
            months: 3,
            open: payer.is_none(),
            payer,
            state: GapState::Pending,
            backpaid_on: payer.map(|_| Date(19_200)),
            deadline: Some(Date(19_300)),
            backpay_amount: Fen(1234),
            late_fee_amount: Fen(-0),
            wait_months: None,
            benefits_from: None,
        }
    }

    fn finding(p: u64, detail: &str) -> FindingRow {
        FindingRow {
            person: PersonId(p),
            period: Month(24_100),
            code: FindingCode::ALL[1],
            detail: detail.to_string(),
        }
    }

    /// Three people: months with a skipped period, a region and a ratio change, every
    /// optional field both ways; person 3 has only a finding.
    fn batch() -> Batch {
        let m = |i| Month(24_000 + i);
        Batch {
            months: vec![
                month(1, m(0), 1, 1.0, Some(10)),
                month(1, m(1), 1, 1.0, None),
                month(1, m(3), 2, 0.5, Some(11)),
                month(2, m(5), 2, 0.5, Some(12)),
                month(2, m(6), 1, 0.0, None),
            ],
            gaps: vec![gap(1, None), gap(2, Some(Payer::Employer))],
            status: vec![status(1, None), status(2, Some(Fen(99)))],
            findings: vec![finding(2, "a"), finding(2, "断缴 b"), finding(3, "")],
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("ledgerflow-carry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_stored_state_gives_back_the_same_results() {
        let d = dir("roundtrip");
        let path = d.join("results.state");
        let files = vec![FilePeople {
            kind: InputKind::SpecialGroups,
            path: "sg.csv".into(),
            sha256: "ab".into(),
            people: vec![(PersonId(2), 7)],
        }];
        store(&path, "ctx", &files, &batch()).unwrap();
        assert!(State::load(&path, "other ctx").is_none());
        let state = State::load(&path, "ctx").unwrap();
        assert_eq!(state.files, files);
        let (all, carried) = state.merge(Batch::default(), &[]).unwrap();
        assert_eq!(all, batch());
        assert_eq!(carried, 3);

        // Person 2 recomputed (new rows), person 0 new, person 3 gone.
        let fresh = Batch {
            months: vec![
                month(0, Month(1), 5, 1.0, None),
                month(2, Month(2), 5, 1.0, None),
            ],
            gaps: Vec::new(),
            status: vec![status(0, None), status(2, None)],
            findings: Vec::new(),
        };
        let (all, carried) = state
            .merge(fresh, &[PersonId(0), PersonId(2), PersonId(3)])
            .unwrap();
        assert_eq!(carried, 1);
        let people = |rows: Vec<PersonId>| rows.into_iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(
            people(all.months.iter().map(|r| r.person).collect()),
            [0, 1, 1, 1, 2]
        );
        assert_eq!(all.months[4].period, Month(2));
        assert_eq!(
            people(all.status.iter().map(|r| r.person).collect()),
            [0, 1, 2]
        );
        assert_eq!(all.status[2].lump_sum_estimate, None);
        assert_eq!(people(all.gaps.iter().map(|r| r.person).collect()), [1]);
        assert!(all.findings.is_empty());

        // A killed store leaves a temporary file; the next run removes it.
        let tmp = d.join(".results.state.99-0.tmp");
        std::fs::write(&tmp, b"partial").unwrap();
        clean_leftovers(&path);
        assert!(!tmp.exists() && path.exists());

        // A damaged state is a miss, never a panic.
        let data = std::fs::read(&path).unwrap();
        for cut in [10, data.len() / 2, data.len() - 1] {
            std::fs::write(&path, &data[..cut]).unwrap();
            let merged = State::load(&path, "ctx").and_then(|s| s.merge(Batch::default(), &[]));
            assert!(merged.is_none(), "cut at {cut}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn touched_people_are_those_whose_rows_differ() {
        let file = |kind, path: &str, sha: &str, people: Vec<(u64, u64)>| FilePeople {
            kind,
            path: path.into(),
            sha256: sha.into(),
            people: people.into_iter().map(|(p, h)| (PersonId(p), h)).collect(),
        };
        let ledger = |sha: &str| -> Option<Vec<(PersonId, u64)>> {
            let v: Vec<(u64, u64)> = match sha {
                "a1" => vec![(1, 10), (2, 20), (3, 30)],
                "a2" => vec![(1, 10), (2, 21), (4, 40)],
                "b" => vec![(5, 50)],
                "c" => vec![(6, 60), (7, 70)],
                "d" => vec![(8, 80)],
                _ => return None,
            };
            Some(v.into_iter().map(|(p, h)| (PersonId(p), h)).collect())
        };
        let before = vec![
            file(InputKind::Ledger, "a", "a1", vec![]),
            file(InputKind::Ledger, "b", "b", vec![]),
            file(InputKind::Ledger, "c", "c", vec![]),
            file(InputKind::SpecialGroups, "sg", "s1", vec![(9, 1), (10, 1)]),
        ];
        let now = vec![
            file(InputKind::Ledger, "a", "a2", vec![]),
            file(InputKind::Ledger, "b", "b", vec![]),
            file(InputKind::Ledger, "d", "d", vec![]),
            file(
                InputKind::SpecialGroups,
                "sg",
                "s2",
                vec![(9, 1), (10, 2), (11, 1)],
            ),
        ];
        let t: Vec<u64> = touched(&before, &now, ledger)
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        // a: 2 changed, 3 gone, 4 new; c gone: 6, 7; d new: 8; registry: 10, 11.
        assert_eq!(t, [2, 3, 4, 6, 7, 8, 10, 11]);
        assert_eq!(touched(&before, &before, ledger), Some(vec![]));
        assert_eq!(touched(&before, &now, |_| None), None);
    }

    #[test]
    fn row_hashes_see_values_and_their_order() {
        let person = [PersonId(1), PersonId(2), PersonId(1)];
        let h = |vals: [[u64; 2]; 3]| hash_people(vec![0, 1, 2], &person, |i| vals[i]);
        let base = h([[1, 2], [3, 4], [5, 6]]);
        assert_eq!(base.len(), 2);
        assert_eq!(
            base[0],
            h([[1, 2], [9, 9], [5, 6]])[0],
            "another person's row"
        );
        assert_ne!(
            base[0],
            h([[5, 6], [3, 4], [1, 2]])[0],
            "order of a person's rows"
        );
        assert_ne!(base[0], h([[1, 2], [3, 4], [5, 7]])[0], "a value");
        assert_eq!(
            base[1],
            h([[1, 2], [3, 4], [5, 7]])[1],
            "other people unaffected"
        );
    }
}
