//! The state file: the results of the last run per person and the files they came from.
//!
//! Format ([`crate::sealed`]: magic, postcard values, checksum): a [`Header`] (context
//! and files), then one [`Record`] per person in person order, its rows derived from
//! the engine's row types (a new column needs no codec change, only a new magic).

use super::FilePeople;
use crate::domain::Month;
use crate::engine::{Batch, FindingRow, GapRow, MonthRow, StatusRow};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::sealed;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::Path;

const MAGIC: &[u8; 8] = b"LFCARRY4";

/// The start of a state: the context it was made in and the files of its run.
#[derive(Serialize, Deserialize)]
struct Header<'a> {
    context: Cow<'a, str>,
    files: Cow<'a, [FilePeople]>,
    /// How many months, gaps, status and finding rows the records hold (the merge
    /// reserves room for them once).
    rows: [u64; 4],
}

/// One person's results; the rows leave their `person` out (it is this one), the months
/// also their `period` and `region`, stored beside them as columns: periods as steps
/// (one byte for the next month), regions as runs (once while it stays the same).
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    person: PersonId,
    #[serde(with = "sealed::steps")]
    periods: Cow<'a, [i32]>,
    #[serde(with = "sealed::runs")]
    regions: Cow<'a, [u32]>,
    months: Cow<'a, [MonthRow]>,
    gaps: Cow<'a, [GapRow]>,
    status: Cow<'a, [StatusRow]>,
    findings: Cow<'a, [FindingRow]>,
}

impl Record<'_> {
    /// Appends the rows to `out`, each with the record's person (and period); `None` if
    /// the periods do not match the months (a damaged state).
    fn append_to(self, out: &mut Batch) -> Option<()> {
        fn rows<T: Clone>(rows: Cow<'_, [T]>, out: &mut Vec<T>, set: impl Fn(usize, &mut T)) {
            out.extend(rows.into_owned().into_iter().enumerate().map(|(i, mut r)| {
                set(i, &mut r);
                r
            }));
        }
        let (p, periods, regions) = (self.person, &self.periods, &self.regions);
        if periods.len() != self.months.len() || regions.len() != self.months.len() {
            return None;
        }
        rows(self.months, &mut out.months, |i, r| {
            r.person = p;
            r.period = Month(periods[i]);
            r.region = regions[i];
        });
        rows(self.gaps, &mut out.gaps, |_, r| r.person = p);
        rows(self.status, &mut out.status, |_, r| r.person = p);
        rows(self.findings, &mut out.findings, |_, r| r.person = p);
        Some(())
    }
}

/// A state read back: its files and its per-person records (not yet decoded).
pub struct State {
    pub files: Vec<FilePeople>,
    rows: [u64; 4],
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
            rows: header.rows,
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
        // Room for the stored rows and the fresh ones; a stored row takes a byte or
        // more, so a damaged count cannot reserve more than the file can hold.
        let room = |i: usize, fresh: usize| {
            usize::try_from(self.rows[i]).map_or(at.len(), |n| n.min(at.len())) + fresh
        };
        let mut out = Batch {
            months: Vec::with_capacity(room(0, fresh.months.len())),
            gaps: Vec::with_capacity(room(1, fresh.gaps.len())),
            status: Vec::with_capacity(room(2, fresh.status.len())),
            findings: Vec::with_capacity(room(3, fresh.findings.len())),
        };
        let mut fresh = Fresh::new(fresh);
        let mut carried = 0u64;
        while !at.is_empty() {
            let record: Record = sealed::take(&mut at)?;
            fresh.move_before(record.person, &mut out);
            if touched.binary_search(&record.person).is_err() {
                record.append_to(&mut out)?;
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
        rows: [
            &batch.months.len(),
            &batch.gaps.len(),
            &batch.status.len(),
            &batch.findings.len(),
        ]
        .map(|n| *n as u64),
    };
    let capacity = 64 + batch.months.len() * 16 + batch.status.len() * 64;
    let mut w = sealed::begin(MAGIC, capacity);
    sealed::put(&mut w, &header).map_err(fail)?;
    let (mut m, mut g, mut s, mut f) = (0usize, 0usize, 0usize, 0usize);
    let (mut periods, mut regions) = (Vec::new(), Vec::new());
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
        let months = &batch.months[m..m1];
        periods.clear();
        periods.extend(months.iter().map(|x| x.period.0));
        regions.clear();
        regions.extend(months.iter().map(|x| x.region));
        let record = Record {
            person,
            periods: Cow::Borrowed(&periods),
            regions: Cow::Borrowed(&regions),
            months: Cow::Borrowed(months),
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
    use crate::carry::clean_leftovers;
    use crate::domain::{
        Benefit, Date, Fen, FindingCode, GapKind, GapState, Gender, Payer, Reason, Scheme,
        SpecialGroup,
    };
    use crate::ledger::InputKind;
    use std::path::PathBuf;

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
    fn a_state_of_the_old_format_or_no_state_is_a_miss() {
        let d = dir("old-format");
        let path = d.join("results.state");
        store(&path, "ctx", &[], &batch()).unwrap();
        let data = std::fs::read(&path).unwrap();
        // The same bytes under the magic of the hand-written format and of the first
        // derived one (rows with their periods, ratios as 8 bytes), sealed again.
        for old in [b"LFCARRY2", b"LFCARRY3"] {
            let mut data = data[..data.len() - 8].to_vec();
            data[..8].copy_from_slice(old);
            crate::binfmt::seal(&mut data);
            std::fs::write(&path, &data).unwrap();
            assert!(State::load(&path, "ctx").is_none());
        }
        // Well-sealed bytes that are no state: a miss, never a panic.
        let mut junk = MAGIC.to_vec();
        junk.extend_from_slice(&[0xff; 40]);
        crate::binfmt::seal(&mut junk);
        std::fs::write(&path, &junk).unwrap();
        assert!(State::load(&path, "ctx").is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_record_whose_columns_do_not_match_its_rows_is_a_miss() {
        let d = dir("columns");
        let path = d.join("results.state");
        let months = batch().months;
        let mut w = sealed::begin(MAGIC, 0);
        let header = Header {
            context: "ctx".into(),
            files: Cow::Borrowed(&[]),
            rows: [3, 0, 0, 0],
        };
        sealed::put(&mut w, &header).unwrap();
        let record = Record {
            person: PersonId(1),
            periods: Cow::Borrowed(&[1, 2]),
            regions: Cow::Borrowed(&[1, 1, 1]),
            months: Cow::Borrowed(&months[..3]),
            gaps: Cow::Borrowed(&[]),
            status: Cow::Borrowed(&[]),
            findings: Cow::Borrowed(&[]),
        };
        sealed::put(&mut w, &record).unwrap();
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(&path, sealed::finish(w)).unwrap();
        let state = State::load(&path, "ctx").unwrap();
        assert!(state.merge(Batch::default(), &[]).is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn two_years_of_paid_months_take_a_few_bytes_each() {
        let d = dir("size");
        let path = d.join("results.state");
        let months = (0..24)
            .map(|i| month(1, Month(24_290 + i), 370200, 1.0, Some(20_300 + 30 * i)))
            .collect();
        let one = |months| Batch {
            months,
            gaps: Vec::new(),
            status: Vec::new(),
            findings: Vec::new(),
        };
        store(&path, "ctx", &[], &one(Vec::new())).unwrap();
        let empty = std::fs::metadata(&path).unwrap().len();
        store(&path, "ctx", &[], &one(months)).unwrap();
        let per_month = (std::fs::metadata(&path).unwrap().len() - empty) / 24;
        // 14: flags and codes a byte each, paid_on 4, ratio 2, the period's step 1 (rows
        // with their period, region and an 8-byte ratio took 25).
        assert!(per_month <= 14, "{per_month} bytes a month");
        let _ = std::fs::remove_dir_all(&d);
    }
}
