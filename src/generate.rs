//! `ledgerflow generate`: a deterministic synthetic ledger for demos, tests and
//! benchmarks (CONTRACT.md §1, §2).
//!
//! People are generated one at a time from their own random stream (splitmix64 seeded
//! by the run's seed and the person's index), so memory stays bounded by one person's
//! rows plus the open month writers, and a rerun with the same seed writes the same
//! bytes. Every row goes to the file of its **settlement month**: the month of
//! `paid_on`, or the period itself for a declaration (empty `paid_on`). Rows settled
//! after the last generated month are not written; rows that would settle before the
//! first one (a resident paying in the window before the range) are moved to the
//! first days of the first month.
//!
//! The mix follows the brief of the sample data: ≈70 % employees (employer arrears,
//! job changes, a few unemployment-fund months), ≈20 % flexible workers (short gaps
//! back-paid, long gaps never paid, payments a few days late), ≈10 % residents
//! (window payments, late payments, skipped and repaired years, newborns,
//! government subsidies for special groups). On top of that, ≈0.1 % of the rows get a
//! faulty copy for every reject type of CONTRACT.md §4 (at least two of each when
//! fewer than 1000 people are generated).
//!
//! CSV months are written through one buffered writer per month. Parquet months are
//! spooled to a plain text file per month first and converted one month at a time,
//! so at most one month's columns are in memory. Parquet columns are all strings
//! (a faulty value must be representable); empty values are nulls.

use crate::domain::{Date, Fen, Month, Payer, Rate, RejectType, Scheme, SpecialGroup};
use crate::error::{Error, Result};
use crate::id::PersonId;
use polars::prelude::*;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Output format of the ledger files (the registry is always CSV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

/// Arguments of `ledgerflow generate`.
#[derive(Clone, Debug)]
pub struct GenerateArgs {
    pub persons: u64,
    pub months: u32,
    pub start: Month,
    pub seed: u64,
    pub out: PathBuf,
    pub format: Format,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Ledger files plus the registry file.
    pub files: usize,
    pub ledger_rows: u64,
    pub registry_rows: u64,
}

/// The generated ledger columns: CONTRACT.md §2.1 without `txn_id`.
const LEDGER_HEADER: [&str; 9] = {
    let c = crate::ledger::LEDGER_COLUMNS;
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]]
};
const REGISTRY_HEADER: &str = "person_id,group,valid_from,valid_to";

/// Share of rows that get a faulty copy, per reject type.
const BAD_ROW_RATE: f64 = 0.001;
/// Below this many people, every reject type is forced at least [`MIN_BAD_PER_TYPE`] times.
const FORCE_BAD_BELOW: u64 = 1000;
const MIN_BAD_PER_TYPE: u64 = 2;

/// Insuring regions (city-level division codes) with the district codes their
/// residents' ID numbers usually start with.
const CITIES: [(&str, &[u32]); 4] = [
    ("370200", &[370202, 370203, 370211, 370212, 370213]),
    ("310100", &[310101, 310104, 310105, 310110, 310115]),
    ("440100", &[440103, 440104, 440105, 440106, 440111]),
    ("320500", &[320505, 320506, 320507, 320508]),
];
/// Places of origin of people insured away from home.
const ORIGINS: [u32; 8] = [
    412726, 511321, 430524, 362201, 340823, 452123, 130182, 230103,
];

/// The national rules (the shipped rule file's `*` blocks), resolved once: the
/// generator pays what they require (RULES.md §3, §5, §6).
fn national() -> &'static crate::config::Resolver {
    static NATIONAL: std::sync::OnceLock<crate::config::Resolver> = std::sync::OnceLock::new();
    NATIONAL.get_or_init(|| crate::config::RuleSet::national().resolver(&[0]))
}

/// `rate(scheme)` of the national rules for month `m` (RULES.md §3).
fn contribution_rate(scheme: Scheme, m: Month) -> Rate {
    national().at(0, m).rate(scheme)
}

/// Government share of the resident standard per group in `year` (RULES.md §6).
fn subsidy_ratio(g: SpecialGroup, year: i32) -> Rate {
    national().at(0, Month::january(year)).subsidy_ratio(g)
}

/// Resident personal standard of a coverage year (RULES.md §5).
fn resident_standard(year: i32) -> Fen {
    national().at(0, Month::january(year)).resident_contribution
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// splitmix64: tiny, fast, good enough for synthetic data, and stable forever.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.0 ^= r.next_u64() ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        r.next_u64();
        r
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// Stream tags keep the person, ID-retry and fault streams independent.
const STREAM_PERSON: u64 = 1;
const STREAM_FAULT: u64 = 2;

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One ledger row as text, with the month whose file it goes to.
#[derive(Clone, Debug)]
struct Row {
    settle: Month,
    fields: [String; 9],
    /// A PARSE_ERROR row: written with a wrong field count (CSV only).
    ragged: bool,
}

/// Column indices of [`Row::fields`].
const PERSON_ID: usize = 0;
const PERIOD: usize = 1;
const SCHEME: usize = 2;
const PAYER: usize = 3;
const AMOUNT: usize = 4;
const PAID_ON: usize = 6;
const REGION: usize = 7;

/// The person being generated: identity, region and the rows so far.
struct Person {
    id: String,
    birth: Date,
    region: &'static str,
    groups: Vec<(SpecialGroup, Date, Option<Date>)>,
    rows: Vec<Row>,
}

/// The range of settlement months and the things every person generator needs.
struct Span {
    start: Month,
    end: Month,
}

impl Span {
    fn n(&self) -> i32 {
        self.end.0 - self.start.0 + 1
    }
    fn end_day(&self) -> Date {
        self.end.last_day()
    }
}

impl Person {
    /// Adds a row unless it settles after the range.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        span: &Span,
        period: Month,
        scheme: Scheme,
        payer: Payer,
        amount: Fen,
        base: Option<Fen>,
        paid_on: Option<Date>,
        employer: &str,
    ) {
        let settle = paid_on.map_or(period, Date::month);
        if settle > span.end {
            return;
        }
        let settle = settle.max(span.start);
        self.rows.push(Row {
            settle,
            fields: [
                self.id.clone(),
                period.to_string(),
                scheme.as_str().to_string(),
                payer.as_str().to_string(),
                amount.to_string(),
                base.map_or_else(String::new, |b| b.to_string()),
                paid_on.map_or_else(String::new, |d| d.to_string()),
                self.region.to_string(),
                employer.to_string(),
            ],
            ragged: false,
        });
    }

    /// The highest-priority special group active on `day`.
    fn group_on(&self, day: Date) -> Option<SpecialGroup> {
        self.groups
            .iter()
            .filter(|(_, from, to)| *from <= day && to.is_none_or(|t| day <= t))
            .map(|(g, _, _)| *g)
            .min()
    }
}

/// A day of month `m` between `lo` and `hi` (clamped to the month's length).
fn day_in(rng: &mut Rng, m: Month, lo: u32, hi: u32) -> Date {
    let last = m.last_day().ymd().2;
    let d = rng.range(lo as i64, hi.min(last) as i64) as u32;
    Date::from_ymd(m.year(), m.month(), d)
}

/// A base in yuan between `lo` and `hi`; one in ten has odd fen so rounding matters.
fn random_base(rng: &mut Rng, lo: i64, hi: i64) -> Fen {
    let yuan = rng.range(lo, hi);
    let fen = if rng.chance(0.1) { rng.range(1, 99) } else { 0 };
    Fen(yuan * 100 + fen)
}

fn employer_id(rng: &mut Rng, region: &str) -> String {
    format!("91{region}{:010}", rng.below(10_000_000_000))
}

// ---------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------

/// A fresh valid ID (unique within the run) for someone born on `birth`.
fn unique_id(rng: &mut Rng, city: &[u32], birth: Date, used: &mut HashSet<u64>) -> String {
    loop {
        let region = if rng.chance(0.75) {
            *rng.pick(city)
        } else {
            *rng.pick(&ORIGINS)
        };
        let seq = rng.below(1000) as u32;
        let id = crate::id::compose(region, birth, seq);
        if let Ok(p) = PersonId::parse(&id)
            && used.insert(p.0)
        {
            return id;
        }
    }
}

// ---------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Employee,
    Flexible,
    Resident,
}

fn birth_between(rng: &mut Rng, from_year: i32, to_year: i32) -> Date {
    let lo = Date::from_ymd(from_year, 1, 1).0;
    let hi = Date::from_ymd(to_year, 12, 31).0;
    Date(rng.range(lo as i64, hi as i64) as i32)
}

/// Registry entries: ≈3 % of people, more among residents.
fn special_groups(
    rng: &mut Rng,
    kind: Kind,
    span: &Span,
    birth: Date,
) -> Vec<(SpecialGroup, Date, Option<Date>)> {
    let p = if kind == Kind::Resident { 0.2 } else { 0.01 };
    if !rng.chance(p) {
        return Vec::new();
    }
    let n = if rng.chance(0.1) { 2 } else { 1 };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut g = *rng.pick(SpecialGroup::ALL);
        let lo = span.start.plus(-36).first_day().0.max(birth.0);
        let hi = span.end_day().0.max(lo);
        let from = Date(rng.range(lo as i64, hi as i64) as i32);
        let to = if rng.chance(0.3) {
            let t = from.plus_months(rng.range(6, 30) as i32);
            (t <= span.end_day()).then_some(t)
        } else {
            None
        };
        if g == SpecialGroup::Orphan && from.days_since(birth) > 18 * 365 {
            // Orphan status ends at 18: adults get another group.
            g = SpecialGroup::Dibao;
        }
        out.push((g, from, to));
    }
    out
}

/// Employee or flexible history (RULES.md §3–4 situations).
fn employee_family(rng: &mut Rng, p: &mut Person, span: &Span, flexible_first: bool) {
    let n = span.n();
    let first = if rng.chance(0.8) {
        0
    } else {
        rng.range(1, (n - 1).max(1) as i64) as i32
    };
    let last = if rng.chance(0.1) {
        rng.range(first as i64, (n - 1) as i64) as i32
    } else {
        n - 1
    };
    let mut flexible = flexible_first;
    let mut employer = employer_id(rng, p.region);
    let mut base = if flexible {
        random_base(rng, 4000, 15000)
    } else {
        random_base(rng, 3000, 30000)
    };
    let mut k = first;
    while k <= last {
        let m = span.start.plus(k);
        if m.month() == 1 && k > first {
            // Yearly base adjustment.
            base = Fen(base.0 + base.0 * rng.range(0, 8) / 100);
        }
        let scheme = if flexible {
            Scheme::Flexible
        } else {
            Scheme::Employee
        };
        let mut amount = base.times_rate(contribution_rate(scheme, m));
        if anomaly_roll(p.rows.len() as u64, m.0 as u64 * 7 + base.0 as u64) == 0
            && anomaly_roll(base.0 as u64, m.0 as u64) < 10
            && k > first
        {
            // A month paid one yuan short and never topped up (UNDERPAID, RULES.md §3).
            amount = Fen(amount.0 - 100);
        }
        if !flexible {
            if rng.chance(0.01) {
                // Job change: leave, maybe a gap (or unemployment-fund months), new job.
                let gap = match rng.below(10) {
                    0..=4 => 0,
                    5..=7 => rng.range(1, 2) as i32,
                    _ => rng.range(3, 6) as i32,
                };
                if gap > 0 && rng.chance(0.15) {
                    for j in 0..gap {
                        let mm = m.plus(j);
                        let d = day_in(rng, mm, 10, 20);
                        p.push(
                            span,
                            mm,
                            Scheme::Employee,
                            Payer::UnemploymentFund,
                            amount,
                            Some(base),
                            Some(d),
                            "",
                        );
                    }
                }
                k += gap;
                if rng.chance(0.1) {
                    flexible = true;
                    base = random_base(rng, 4000, 15000);
                } else {
                    employer = employer_id(rng, p.region);
                    base = random_base(rng, 3000, 30000);
                }
                if gap > 0 {
                    continue;
                }
                let scheme = if flexible {
                    Scheme::Flexible
                } else {
                    Scheme::Employee
                };
                let amount = base.times_rate(contribution_rate(scheme, m));
                let (payer, emp) = if flexible {
                    (Payer::Individual, "")
                } else {
                    (Payer::Employer, employer.as_str())
                };
                let d = day_in(rng, m, 5, 25);
                p.push(span, m, scheme, payer, amount, Some(base), Some(d), emp);
                k += 1;
                continue;
            }
            if rng.chance(0.006) {
                // Employer arrears: declared, unpaid, back-paid 1–8 months after the
                // episode (a tenth never), as one lump payment.
                let len = rng.range(1, 4) as i32;
                let len = len.min(last - k + 1);
                let back = if rng.chance(0.1) {
                    None
                } else {
                    Some(rng.range(1, 8) as i32)
                };
                let pay_day = back.map(|b| day_in(rng, m.plus(len - 1 + b), 3, 25));
                for j in 0..len {
                    let mm = m.plus(j);
                    p.push(
                        span,
                        mm,
                        Scheme::Employee,
                        Payer::Employer,
                        amount,
                        Some(base),
                        None,
                        &employer,
                    );
                    if let Some(d) = pay_day {
                        p.push(
                            span,
                            mm,
                            Scheme::Employee,
                            Payer::Employer,
                            amount,
                            Some(base),
                            Some(d),
                            &employer,
                        );
                    }
                }
                k += len;
                continue;
            }
            let d = if rng.chance(0.02) {
                day_in(rng, m.plus(1), 1, 10)
            } else {
                day_in(rng, m, 5, 25)
            };
            p.push(
                span,
                m,
                scheme,
                Payer::Employer,
                amount,
                Some(base),
                Some(d),
                &employer,
            );
            k += 1;
        } else {
            if rng.chance(0.01) {
                // Short gap (1–3 months), back-paid: mostly in time, some too late, some never.
                let len = (rng.range(1, 3) as i32).min(last - k + 1);
                let g2 = m.plus(len - 1);
                let pay = match rng.below(20) {
                    0..=14 => Some(rng.range(1, 3) as i32),
                    15..=17 => Some(rng.range(4, 6) as i32),
                    _ => None,
                };
                let pay = pay.map(|after| day_in(rng, g2.plus(after), 1, 28));
                if let Some(d) = pay {
                    for j in 0..len {
                        p.push(
                            span,
                            m.plus(j),
                            scheme,
                            Payer::Individual,
                            amount,
                            Some(base),
                            Some(d),
                            "",
                        );
                    }
                }
                k += len;
                continue;
            }
            if rng.chance(0.005) {
                // Long gap: never paid.
                k += rng.range(4, 12) as i32;
                continue;
            }
            let d = if rng.chance(0.04) {
                day_in(rng, m.plus(1), 1, 7)
            } else {
                day_in(rng, m, 1, 28)
            };
            p.push(
                span,
                m,
                scheme,
                Payer::Individual,
                amount,
                Some(base),
                Some(d),
                "",
            );
            k += 1;
        }
    }
}

/// A number in 0..100 from two values (for rare, rng-independent variations).
fn anomaly_roll(a: u64, b: u64) -> u64 {
    crate::partition::fnv1a64(&[a.to_le_bytes(), b.to_le_bytes()].concat()) % 100
}

/// Pays resident year `year` on `day` (with the government share for a special group).
fn pay_resident(rng: &mut Rng, p: &mut Person, span: &Span, year: i32, day: Date) {
    let start = span.start.first_day();
    let day = if day < start {
        start.plus_days(rng.range(0, 13) as i32)
    } else {
        day
    };
    let standard = resident_standard(year);
    let period = Month::january(year);
    // A few administrative slips for the findings of RULES.md §6, decided by a hash of
    // the payment (not by `rng`, so the rest of the data does not move): a group
    // member without the government row, a subsidy 10 yuan off, a subsidy for someone
    // in no group.
    let slip = anomaly_roll(day.0 as u64, year as u64);
    let payments: Vec<(Payer, Fen, Date)> = match p.group_on(day) {
        Some(_) if slip < 6 => vec![(Payer::Individual, standard, day)],
        None if slip < 5 => {
            let gov = standard.times_rate(Rate(Rate::SCALE / 2));
            vec![
                (Payer::Individual, Fen(standard.0 - gov.0), day),
                (Payer::Government, gov, day),
            ]
        }
        Some(g) => {
            let mut gov = standard.times_rate(subsidy_ratio(g, year));
            if slip < 10 {
                gov = Fen((gov.0 - 1_000).max(1));
            }
            let own = Fen(standard.0 - gov.0);
            let mut v = Vec::with_capacity(2);
            if own.0 > 0 {
                v.push((Payer::Individual, own, day));
            }
            v.push((
                Payer::Government,
                gov,
                day.plus_days(rng.range(0, 10) as i32),
            ));
            v
        }
        None => vec![(Payer::Individual, standard, day)],
    };
    for (payer, amount, paid_on) in payments {
        p.push(
            span,
            period,
            Scheme::Resident,
            payer,
            amount,
            None,
            Some(paid_on),
            "",
        );
    }
}

/// Resident history (RULES.md §5 situations).
fn resident(rng: &mut Rng, p: &mut Person, span: &Span, newborn: bool) {
    let first_year = span.start.year();
    let last_year = span.end.year() + 1;
    let mut from_year = first_year;
    if newborn {
        // First payment within 90 days of birth (a fifth later), for the birth year,
        // or for the next year when born in the last quarter.
        let y = if p.birth.month().month() >= 10 {
            p.birth.ymd().0 + 1
        } else {
            p.birth.ymd().0
        };
        let days = if rng.chance(0.8) {
            rng.range(5, 90)
        } else {
            rng.range(91, 200)
        };
        pay_resident(rng, p, span, y, p.birth.plus_days(days as i32));
        from_year = y + 1;
    }
    let mut skipped: Vec<i32> = Vec::new();
    for y in from_year..=last_year {
        if y > from_year && rng.chance(0.12) {
            skipped.push(y);
            continue;
        }
        let day = match rng.below(100) {
            0..=79 => {
                let lo = Date::from_ymd(y - 1, 9, 1).0;
                let hi = Date::from_ymd(y - 1, 12, 31).0;
                Date(rng.range(lo as i64, hi as i64) as i32)
            }
            80..=91 => {
                let m = Month::new(y, rng.range(1, 6) as u32);
                day_in(rng, m, 1, 28)
            }
            _ => {
                let m = Month::new(y, rng.range(7, 11) as u32);
                day_in(rng, m, 1, 28)
            }
        };
        // Nobody pays before being born (a newborn's next-year window can open first).
        let day = day.max(p.birth.plus_days(1));
        // Repairs for skipped years, paid with (before) this year's payment.
        for s in skipped.drain(..) {
            if rng.chance(0.35) {
                let repair_day = day.plus_days(-(rng.range(1, 20) as i32));
                if repair_day > Date::from_ymd(s, 12, 31) {
                    pay_resident(rng, p, span, s, repair_day);
                }
            }
        }
        pay_resident(rng, p, span, y, day);
    }
}

/// Generates person `index`.
fn person(seed: u64, index: u64, span: &Span, used: &mut HashSet<u64>) -> (Kind, Person) {
    let mut rng = Rng::new(seed, STREAM_PERSON, index);
    let kind = match rng.below(100) {
        0..=69 => Kind::Employee,
        70..=89 => Kind::Flexible,
        _ => Kind::Resident,
    };
    let (region, city) = *rng.pick(&CITIES);
    let newborn = kind == Kind::Resident && rng.chance(0.15);
    let birth = match kind {
        _ if newborn => {
            let lo = span.start.first_day().0;
            let hi = span.end_day().0 - 30;
            Date(rng.range(lo as i64, hi.max(lo) as i64) as i32)
        }
        Kind::Employee | Kind::Flexible => birth_between(&mut rng, 1962, 2004),
        Kind::Resident => birth_between(&mut rng, 1940, 2020),
    };
    let id = unique_id(&mut rng, city, birth, used);
    let groups = special_groups(&mut rng, kind, span, birth);
    let mut p = Person {
        id,
        birth,
        region,
        groups,
        rows: Vec::new(),
    };
    match kind {
        Kind::Employee => employee_family(&mut rng, &mut p, span, false),
        Kind::Flexible => employee_family(&mut rng, &mut p, span, true),
        Kind::Resident => resident(&mut rng, &mut p, span, newborn),
    }
    if p.rows.is_empty() {
        // Everyone has at least one row: a late-joining worker paying the last month.
        let m = span.end;
        let base = random_base(&mut rng, 4000, 15000);
        let d = day_in(&mut rng, m, 1, 20);
        p.push(
            span,
            m,
            Scheme::Flexible,
            Payer::Individual,
            base.times_rate(contribution_rate(Scheme::Flexible, m)),
            Some(base),
            Some(d),
            "",
        );
    }
    (kind, p)
}

// ---------------------------------------------------------------------------
// Faulty rows (CONTRACT.md §4 reject types)
// ---------------------------------------------------------------------------

/// A faulty copy of `row` that validation rejects with `t` (`None` for a type that
/// the format cannot carry: PARSE_ERROR in Parquet).
fn faulty(rng: &mut Rng, row: &Row, t: RejectType, format: Format) -> Option<Row> {
    let mut r = row.clone();
    let f = &mut r.fields;
    match t {
        RejectType::BadPersonId => {
            let id = f[PERSON_ID].as_bytes();
            let right = id[17];
            let wrong = loop {
                let c = *rng.pick(b"0123456789X");
                if c != right {
                    break c;
                }
            };
            let mut s = f[PERSON_ID][..17].to_string();
            s.push(wrong as char);
            f[PERSON_ID] = s;
        }
        RejectType::BadPeriod => {
            let y = &f[PERIOD][..4];
            f[PERIOD] = match rng.below(3) {
                0 => format!("{y}-13"),
                1 => format!("{y}{}", &row.fields[PERIOD][5..]),
                _ => format!("{y}-00"),
            };
        }
        RejectType::BadDate => {
            let y = &f[PERIOD][..4];
            f[PAID_ON] = match rng.below(3) {
                0 => format!("{y}-02-30"),
                1 => format!("{y}/06/15"),
                _ => format!("{y}-11-31"),
            };
        }
        RejectType::BadAmount => {
            f[AMOUNT] = match rng.below(3) {
                0 => "12.345".to_string(),
                1 => "-5".to_string(),
                _ => "0".to_string(),
            };
        }
        RejectType::BadEnum => {
            if rng.chance(0.5) {
                f[SCHEME] = "employe".to_string();
            } else {
                f[PAYER] = "company".to_string();
            }
        }
        RejectType::MissingValue => {
            let c = *rng.pick(&[PERSON_ID, AMOUNT, REGION, PERIOD]);
            f[c] = String::new();
        }
        RejectType::DuplicateRow => {}
        RejectType::BadRegion => {
            f[REGION] = if rng.chance(0.5) {
                f[REGION][..5].to_string()
            } else {
                format!("{}AB", &f[REGION][..4])
            };
        }
        RejectType::BadResidentPeriod => {
            f[SCHEME] = Scheme::Resident.as_str().to_string();
            f[PERIOD] = format!("{}-{:02}", &f[PERIOD][..4], rng.range(2, 12));
        }
        RejectType::ParseError => {
            if format == Format::Parquet {
                return None;
            }
            r.ragged = true;
        }
    }
    Some(r)
}

/// Appends faulty copies to a person's rows: each row has a [`BAD_ROW_RATE`] chance
/// per type, and `forced` types get one copy of a random row each.
fn add_faults(
    rng: &mut Rng,
    rows: &mut Vec<Row>,
    forced: &[RejectType],
    format: Format,
    counts: &mut [u64; 10],
) {
    let n = rows.len();
    let mut extra: Vec<(usize, Row, RejectType)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let u = rng.unit();
        if u < BAD_ROW_RATE * RejectType::ALL.len() as f64 {
            let t = RejectType::ALL[(u / BAD_ROW_RATE) as usize];
            if let Some(r) = faulty(rng, row, t, format) {
                extra.push((i, r, t));
            }
        }
    }
    for &t in forced {
        let i = rng.below(n as u64) as usize;
        if let Some(r) = faulty(rng, &rows[i], t, format) {
            extra.push((i, r, t));
        }
    }
    if extra.is_empty() {
        return;
    }
    // Insert each copy right after its original, keeping the order deterministic.
    extra.sort_by_key(|(i, _, _)| *i);
    let mut out = Vec::with_capacity(n + extra.len());
    let mut it = extra.into_iter().peekable();
    for (i, row) in rows.drain(..).enumerate() {
        out.push(row);
        while let Some((_, r, t)) = it.next_if(|(j, _, _)| *j == i) {
            counts[t as usize] += 1;
            out.push(r);
        }
    }
    *rows = out;
}

/// Reject types forced on person `index` so a small run still has each type twice.
fn forced_faults(index: u64, persons: u64, format: Format) -> Vec<RejectType> {
    if persons >= FORCE_BAD_BELOW {
        return Vec::new();
    }
    let types: Vec<RejectType> = RejectType::ALL
        .iter()
        .copied()
        .filter(|t| !(format == Format::Parquet && *t == RejectType::ParseError))
        .collect();
    let slots = types.len() as u64 * MIN_BAD_PER_TYPE;
    (0..slots)
        .filter(|s| s % persons == index)
        .map(|s| types[(s / MIN_BAD_PER_TYPE) as usize])
        .collect()
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

fn write_line(w: &mut impl Write, row: &Row) -> std::io::Result<()> {
    let f = &row.fields;
    if row.ragged {
        // Alternate between one field too many and two too few.
        if f[AMOUNT].len().is_multiple_of(2) {
            writeln!(w, "{},EXTRA", f.join(","))
        } else {
            writeln!(w, "{}", f[..7].join(","))
        }
    } else {
        writeln!(w, "{}", f.join(","))
    }
}

/// One buffered writer per settlement month (CSV files or Parquet spool files).
struct MonthWriters {
    paths: Vec<PathBuf>,
    writers: Vec<BufWriter<File>>,
}

impl MonthWriters {
    fn open(paths: Vec<PathBuf>, header: bool) -> Result<MonthWriters> {
        let mut writers = Vec::with_capacity(paths.len());
        for p in &paths {
            let f = File::create(p).map_err(|e| Error::output(p, e))?;
            let mut w = BufWriter::with_capacity(64 * 1024, f);
            if header {
                writeln!(w, "{}", LEDGER_HEADER.join(",")).map_err(|e| Error::output(p, e))?;
            }
            writers.push(w);
        }
        Ok(MonthWriters { paths, writers })
    }
    fn write(&mut self, k: usize, row: &Row) -> Result<()> {
        write_line(&mut self.writers[k], row).map_err(|e| Error::output(&self.paths[k], e))
    }
    fn finish(self) -> Result<Vec<PathBuf>> {
        for (w, p) in self.writers.into_iter().zip(&self.paths) {
            w.into_inner().map_err(|e| Error::output(p, e.error()))?;
        }
        Ok(self.paths)
    }
}

/// Converts one spooled month (lines of 9 comma-separated fields) to Parquet.
fn spool_to_parquet(spool: &Path, target: &Path) -> Result<()> {
    let file = File::open(spool).map_err(|e| Error::output(spool, e))?;
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); LEDGER_HEADER.len()];
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::output(spool, e))?;
        let mut n = 0;
        for (c, v) in cols.iter_mut().zip(line.split(',')) {
            c.push((!v.is_empty()).then(|| v.to_string()));
            n += 1;
        }
        if n != LEDGER_HEADER.len() {
            return Err(Error::Internal(format!(
                "{}: spooled row with {n} fields",
                spool.display()
            )));
        }
    }
    let height = cols[0].len();
    let columns: Vec<Column> = LEDGER_HEADER
        .iter()
        .zip(cols)
        .map(|(name, values)| Column::new((*name).into(), values))
        .collect();
    let mut df = DataFrame::new(height, columns)?;
    let f = File::create(target).map_err(|e| Error::output(target, e))?;
    ParquetWriter::new(f)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df)
        .map_err(|e| Error::output(target, e))?;
    fs::remove_file(spool).map_err(|e| Error::output(spool, e))?;
    Ok(())
}

/// Removes ledger files of an earlier run (`ledger-*.csv|parquet`), so a rerun with
/// fewer months or another format leaves exactly its own files.
fn clear_old_ledger(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::output(dir, e))? {
        let entry = entry.map_err(|e| Error::output(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("ledger-")
            && (name.ends_with(".csv") || name.ends_with(".parquet") || name.ends_with(".spool"));
        if ours {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| Error::output(&p, e))?;
        }
    }
    Ok(())
}

/// Writes the synthetic ledger and registry under `args.out` (see the module docs).
pub fn generate(args: &GenerateArgs, say: &mut dyn FnMut(&str)) -> Result<Generated> {
    generate_with_stats(args, say).map(|(g, _)| g)
}

/// What a run generated beyond [`Generated`]: people per kind and faulty rows per
/// reject type (indexed by `RejectType as usize`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Stats {
    kinds: [u64; 3],
    faults: [u64; 10],
}

fn generate_with_stats(
    args: &GenerateArgs,
    say: &mut dyn FnMut(&str),
) -> Result<(Generated, Stats)> {
    if args.persons == 0 || args.months == 0 {
        return Err(Error::Usage(
            "--persons and --months must be at least 1".into(),
        ));
    }
    if args.months > 1200 {
        return Err(Error::Usage("--months must be at most 1200".into()));
    }
    let span = Span {
        start: args.start,
        end: args.start.plus(args.months as i32 - 1),
    };
    let ledger_dir = args.out.join("ledger");
    fs::create_dir_all(&ledger_dir).map_err(|e| Error::output(&ledger_dir, e))?;
    clear_old_ledger(&ledger_dir)?;
    let months: Vec<Month> = (0..span.n()).map(|k| span.start.plus(k)).collect();
    let ext = match args.format {
        Format::Csv => "csv",
        Format::Parquet => "spool",
    };
    let paths: Vec<PathBuf> = months
        .iter()
        .map(|m| ledger_dir.join(format!("ledger-{m}.{ext}")))
        .collect();
    let mut writers = MonthWriters::open(paths, args.format == Format::Csv)?;
    let registry_path = args.out.join("special_groups.csv");
    let reg_file = File::create(&registry_path).map_err(|e| Error::output(&registry_path, e))?;
    let mut registry = BufWriter::new(reg_file);
    writeln!(registry, "{REGISTRY_HEADER}").map_err(|e| Error::output(&registry_path, e))?;

    say(&format!(
        "generating {} people, {} months {}..{}, seed {}, {} → {}",
        args.persons,
        args.months,
        span.start,
        span.end,
        args.seed,
        ext_name(args.format),
        args.out.display()
    ));
    let mut used = HashSet::with_capacity(args.persons.min(1 << 26) as usize);
    let mut fault_counts = [0u64; 10];
    let mut kinds = [0u64; 3];
    let mut ledger_rows = 0u64;
    let mut registry_rows = 0u64;
    let step = (args.persons / 10).max(1);
    for index in 0..args.persons {
        let (kind, mut p) = person(args.seed, index, &span, &mut used);
        kinds[kind as usize] += 1;
        let mut frng = Rng::new(args.seed, STREAM_FAULT, index);
        let forced = forced_faults(index, args.persons, args.format);
        add_faults(
            &mut frng,
            &mut p.rows,
            &forced,
            args.format,
            &mut fault_counts,
        );
        for row in &p.rows {
            writers.write((row.settle.0 - span.start.0) as usize, row)?;
        }
        ledger_rows += p.rows.len() as u64;
        for (g, from, to) in &p.groups {
            let to = to.map_or_else(String::new, |d| d.to_string());
            writeln!(registry, "{},{},{from},{to}", p.id, g.as_str())
                .map_err(|e| Error::output(&registry_path, e))?;
            registry_rows += 1;
        }
        if (index + 1) % step == 0 && index + 1 < args.persons {
            say(&format!("  {} people, {ledger_rows} rows", index + 1));
        }
    }
    let spools = writers.finish()?;
    registry
        .into_inner()
        .map_err(|e| Error::output(&registry_path, e.error()))?;
    if args.format == Format::Parquet {
        for (spool, m) in spools.iter().zip(&months) {
            spool_to_parquet(spool, &ledger_dir.join(format!("ledger-{m}.parquet")))?;
        }
    }
    say(&format!(
        "people: {} employee, {} flexible, {} resident; {registry_rows} special-group rows",
        kinds[0], kinds[1], kinds[2]
    ));
    let faults: Vec<String> = RejectType::ALL
        .iter()
        .map(|t| format!("{} {}", t.as_str(), fault_counts[*t as usize]))
        .collect();
    say(&format!("faulty rows: {}", faults.join(", ")));
    say(&format!(
        "wrote {ledger_rows} ledger rows in {} files",
        months.len()
    ));
    Ok((
        Generated {
            files: months.len() + 1,
            ledger_rows,
            registry_rows,
        },
        Stats {
            kinds,
            faults: fault_counts,
        },
    ))
}

fn ext_name(f: Format) -> &'static str {
    match f {
        Format::Csv => "CSV",
        Format::Parquet => "Parquet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ledgerflow-gen-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn args(out: PathBuf, persons: u64, months: u32, format: Format) -> GenerateArgs {
        GenerateArgs {
            persons,
            months,
            start: Month::new(2024, 1),
            seed: 7,
            out,
            format,
        }
    }

    fn run(a: &GenerateArgs) -> Generated {
        generate(a, &mut |_| {}).expect("generate")
    }

    /// Every file under `dir`, relative path → bytes, sorted.
    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).expect("prefix").display().to_string();
                    out.push((rel, fs::read(&p).expect("read")));
                }
            }
        }
        out.sort();
        out
    }

    /// All data lines of the CSV ledger files, split into fields.
    fn ledger_lines(dir: &Path) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for (name, bytes) in snapshot(&dir.join("ledger")) {
            assert!(name.ends_with(".csv"), "{name}");
            let text = String::from_utf8(bytes).expect("utf-8");
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some(LEDGER_HEADER.join(",").as_str()));
            out.extend(lines.map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>()));
        }
        out
    }

    #[test]
    fn same_seed_same_bytes() {
        for format in [Format::Csv, Format::Parquet] {
            let (a, b) = (
                temp_dir(&format!("det-a-{format:?}")),
                temp_dir(&format!("det-b-{format:?}")),
            );
            let ra = run(&args(a.clone(), 300, 14, format));
            let rb = run(&args(b.clone(), 300, 14, format));
            assert_eq!(ra, rb);
            assert_eq!(snapshot(&a), snapshot(&b));
            // A rerun into the same folder rewrites the same bytes.
            run(&args(a.clone(), 300, 14, format));
            assert_eq!(snapshot(&a), snapshot(&b));
            let mut other = args(temp_dir(&format!("det-c-{format:?}")), 300, 14, format);
            other.seed = 8;
            run(&other);
            assert_ne!(snapshot(&a), snapshot(&other.out));
            for d in [a, b, other.out] {
                let _ = fs::remove_dir_all(d);
            }
        }
    }

    #[test]
    fn one_file_per_month_and_rows_within_range() {
        let dir = temp_dir("files");
        let g = run(&args(dir.clone(), 200, 18, Format::Csv));
        assert_eq!(g.files, 19);
        let names: Vec<String> = snapshot(&dir.join("ledger"))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let expected: Vec<String> = (0..18)
            .map(|k| format!("ledger-{}.csv", Month::new(2024, 1).plus(k)))
            .collect();
        assert_eq!(names, expected);
        // Every well-formed row with a valid paid_on sits in its settlement month's file.
        let end = Month::new(2025, 6).last_day();
        for (name, bytes) in snapshot(&dir.join("ledger")) {
            let month = Month::parse(&name[7..14]).expect("month in file name");
            for line in String::from_utf8(bytes).expect("utf-8").lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                if f.len() != 9 {
                    continue;
                }
                if let Some(d) = Date::parse(f[PAID_ON]) {
                    assert!(d <= end, "{line}");
                    assert_eq!(d.month().max(Month::new(2024, 1)), month, "{line}");
                } else if f[PAID_ON].is_empty()
                    && let Some(p) = Month::parse(f[PERIOD])
                {
                    assert_eq!(p, month, "declaration in its period's file: {line}");
                }
            }
        }
        let rows = ledger_lines(&dir).len() as u64;
        assert_eq!(rows, g.ledger_rows);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn ids_valid_except_the_intended_faults_and_scheme_mix() {
        let dir = temp_dir("ids");
        let g = run(&args(dir.clone(), 2000, 24, Format::Csv));
        let lines = ledger_lines(&dir);
        let mut bad_ids = 0;
        let mut x_checks = 0;
        let mut people: [HashSet<String>; 3] = Default::default();
        for f in &lines {
            if f.len() != 9 || f[PERSON_ID].is_empty() {
                continue;
            }
            match PersonId::parse(&f[PERSON_ID]) {
                Ok(_) => {
                    x_checks += f[PERSON_ID].ends_with('X') as usize;
                    if let Some(s) = Scheme::parse(&f[SCHEME]) {
                        people[s as usize].insert(f[PERSON_ID].clone());
                    }
                }
                Err(e) => {
                    assert_eq!(e, crate::id::IdError::CheckCharacter, "{f:?}");
                    bad_ids += 1;
                }
            }
        }
        // ≈0.1 % BAD_PERSON_ID copies.
        let rate = bad_ids as f64 / g.ledger_rows as f64;
        assert!((0.0003..0.003).contains(&rate), "bad id rate {rate}");
        assert!(x_checks > 0, "some IDs end in X");
        // The registry's IDs are all valid.
        let reg = fs::read_to_string(dir.join("special_groups.csv")).expect("registry");
        let mut reg_rows = 0;
        for line in reg.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            assert!(PersonId::parse(f[0]).is_ok(), "{line}");
            assert!(SpecialGroup::parse(f[1]).is_some(), "{line}");
            reg_rows += 1;
        }
        assert_eq!(reg_rows, g.registry_rows);
        let share = reg_rows as f64 / 2000.0;
        assert!((0.015..0.06).contains(&share), "registry share {share}");
        // Scheme mix by person (a worker who went flexible counts in both).
        let [emp, flex, res] = people.map(|s| s.len() as f64 / 2000.0);
        assert!((0.62..0.78).contains(&emp), "employee {emp}");
        assert!((0.16..0.30).contains(&flex), "flexible {flex}");
        assert!((0.06..0.14).contains(&res), "resident {res}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn small_runs_carry_every_fault_type_twice() {
        let mut counts = [0u64; 10];
        let mut rng = Rng::new(1, 2, 3);
        let row = Row {
            settle: Month::new(2024, 3),
            fields: [
                "370202198503120113",
                "2024-03",
                "employee",
                "employer",
                "800.00",
                "8000.00",
                "2024-03-15",
                "370200",
                "",
            ]
            .map(str::to_string),
            ragged: false,
        };
        let mut all = Vec::new();
        for index in 0..7 {
            let mut rows = vec![row.clone()];
            add_faults(
                &mut rng,
                &mut rows,
                &forced_faults(index, 7, Format::Csv),
                Format::Csv,
                &mut counts,
            );
            all.extend(rows);
        }
        assert!(counts.iter().all(|&c| c >= MIN_BAD_PER_TYPE), "{counts:?}");
        // Each faulty copy breaks the field it is meant to break.
        for r in &all {
            let f = &r.fields;
            let broken = [
                PersonId::parse(&f[PERSON_ID]).is_err(),
                Month::parse(&f[PERIOD]).is_none(),
                !f[PAID_ON].is_empty() && Date::parse(&f[PAID_ON]).is_none(),
                Fen::parse(&f[AMOUNT]).is_none_or(|a| a.0 <= 0),
                Scheme::parse(&f[SCHEME]).is_none() || Payer::parse(&f[PAYER]).is_none(),
                f[REGION].len() != 6 || !f[REGION].bytes().all(|c| c.is_ascii_digit()),
                f[SCHEME] == "resident" && !f[PERIOD].ends_with("-01"),
                r.ragged,
            ];
            assert!(broken.iter().filter(|&&b| b).count() <= 1, "{r:?}");
        }
        // Parquet runs never force a PARSE_ERROR.
        let forced: Vec<RejectType> = (0..3)
            .flat_map(|i| forced_faults(i, 3, Format::Parquet))
            .collect();
        assert!(!forced.contains(&RejectType::ParseError));
        assert_eq!(forced.len(), 18);
    }

    #[test]
    fn generated_ids_follow_gb11643() {
        let id = crate::id::compose(110105, Date::from_ymd(1949, 12, 31), 2);
        assert_eq!(id, "11010519491231002X");
        assert!(
            PersonId::parse(&crate::id::compose(370202, Date::from_ymd(1985, 3, 12), 11)).is_ok()
        );
    }

    #[test]
    fn validation_rejects_exactly_the_faulty_rows() {
        for format in [Format::Csv, Format::Parquet] {
            let dir = temp_dir(&format!("validate-{format:?}"));
            let (g, stats) = generate_with_stats(&args(dir.clone(), 1500, 20, format), &mut |_| {})
                .expect("generate");
            let inputs = crate::validate::read_inputs(
                &dir.join("ledger"),
                Some(&dir.join("special_groups.csv")),
                None,
                crate::domain::Encoding::Utf8,
            )
            .expect("read_inputs");
            let mut rejected = [0u64; 10];
            for r in &inputs.rejects {
                rejected[r.error_type as usize] += 1;
            }
            assert_eq!(
                rejected, stats.faults,
                "{format:?}: rejects per type vs faulty rows"
            );
            for t in RejectType::ALL {
                let expect = !(format == Format::Parquet && *t == RejectType::ParseError);
                assert_eq!(stats.faults[*t as usize] > 0, expect, "{format:?} {t}");
            }
            let faulty: u64 = stats.faults.iter().sum();
            assert_eq!(inputs.ledger.person.len() as u64, g.ledger_rows - faulty);
            assert_eq!(inputs.registry.person.len() as u64, g.registry_rows);
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// Writes `sample_data/` (run with `cargo test --lib -- --ignored`).
    #[test]
    #[ignore]
    fn write_sample_data() {
        let a = GenerateArgs {
            persons: 400,
            months: 30,
            start: Month::new(2024, 1),
            seed: 20260101,
            out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data"),
            format: Format::Csv,
        };
        generate(&a, &mut |m| eprintln!("{m}")).expect("generate");
    }
}
