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
//! Format ([`crate::sealed`]: magic, postcard values, checksum): a [`Header`] (context
//! and files), then one [`Record`] per person in person order, its rows derived from
//! the engine's row types (a new column needs no codec change, only a new magic).

use crate::domain::Month;
use crate::engine::{Batch, FindingRow, GapRow, MonthRow, StatusRow};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs};
use crate::sealed;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"LFCARRY3";

/// One input file of a run: for registry and claims files also their people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// The start of a state: the context it was made in and the files of its run.
#[derive(Serialize, Deserialize)]
struct Header<'a> {
    context: Cow<'a, str>,
    files: Cow<'a, [FilePeople]>,
}

/// One person's results; the rows leave their `person` out (it is this one).
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    person: PersonId,
    months: Cow<'a, [MonthRow]>,
    gaps: Cow<'a, [GapRow]>,
    status: Cow<'a, [StatusRow]>,
    findings: Cow<'a, [FindingRow]>,
}

impl Record<'_> {
    /// Appends the rows to `out`, each with the record's person.
    fn append_to(self, out: &mut Batch) {
        fn rows<T: Clone>(rows: Cow<'_, [T]>, out: &mut Vec<T>, set: impl Fn(&mut T)) {
            out.extend(rows.into_owned().into_iter().map(|mut r| {
                set(&mut r);
                r
            }));
        }
        let p = self.person;
        rows(self.months, &mut out.months, |r| r.person = p);
        rows(self.gaps, &mut out.gaps, |r| r.person = p);
        rows(self.status, &mut out.status, |r| r.person = p);
        rows(self.findings, &mut out.findings, |r| r.person = p);
    }
}

/// A state read back: its files and its per-person records (not yet decoded).
pub struct State {
    pub files: Vec<FilePeople>,
    data: Vec<u8>,
    /// Where the records start in `data`.
    records: usize,
}

impl State {
    /// The state at `path` if it exists, is undamaged and was made in `context`.
    pub fn load(path: &Path, context: &str) -> Option<State> {
        let data = std::fs::read(path).ok()?;
        let body = sealed::open(&data, MAGIC)?;
        let mut at = body;
        let header: Header = sealed::take(&mut at)?;
        if header.context != context {
            return None;
        }
        let records = data.len() - 8 - at.len();
        let files = header.files.into_owned();
        Some(State {
            files,
            data,
            records,
        })
    }

    /// The stored results of everyone not in `touched` (sorted), merged in person order
    /// with `fresh` (the results of the touched people); `None` if the state is damaged.
    pub fn merge(&self, fresh: Batch, touched: &[PersonId]) -> Option<(Batch, u64)> {
        let mut at = self
            .data
            .get(self.records..self.data.len().checked_sub(8)?)?;
        let mut out = Batch::default();
        let mut fresh = Fresh::new(fresh);
        let mut carried = 0u64;
        while !at.is_empty() {
            let record: Record = sealed::take(&mut at)?;
            fresh.move_before(record.person, &mut out);
            if touched.binary_search(&record.person).is_err() {
                record.append_to(&mut out);
                carried += 1;
            }
        }
        fresh.move_rest(&mut out);
        Some((out, carried))
    }
}

/// Stores `batch` (everyone's results, in person order) and the files it came from.
pub fn store(path: &Path, context: &str, files: &[FilePeople], batch: &Batch) -> Result<()> {
    let fail = |e: String| Error::output(path, format!("carry-forward state: {e}"));
    let header = Header {
        context: Cow::Borrowed(context),
        files: Cow::Borrowed(files),
    };
    let capacity = 64 + batch.months.len() * 24 + batch.status.len() * 64;
    let mut w = sealed::begin(MAGIC, capacity);
    sealed::put(&mut w, &header).map_err(fail)?;
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
        let record = Record {
            person,
            months: Cow::Borrowed(&batch.months[m..m1]),
            gaps: Cow::Borrowed(&batch.gaps[g..g1]),
            status: Cow::Borrowed(&batch.status[s..s1]),
            findings: Cow::Borrowed(&batch.findings[f..f1]),
        };
        sealed::put(&mut w, &record).map_err(fail)?;
        (m, g, s, f) = (m1, g1, s1, f1);
    }
    crate::store::write_file_atomically(path, &sealed::finish(w))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Benefit, Date, Fen, FindingCode, GapKind, GapState, Gender, Payer, Reason, Scheme,
        SpecialGroup,
    };

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
