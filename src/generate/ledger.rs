//! Ledger rows of `generate`: the row and person being built, and the faulty copies
//! that give every reject type of CONTRACT.md §4.

use super::rng::*;
use super::*;
// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One ledger row as text, with the month whose file it goes to.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub(super) settle: Month,
    pub(super) fields: [String; 9],
    /// A PARSE_ERROR row: written with a wrong field count (CSV only).
    pub(super) ragged: bool,
}

/// Column indices of [`Row::fields`].
pub(super) const PERSON_ID: usize = 0;
pub(super) const PERIOD: usize = 1;
pub(super) const SCHEME: usize = 2;
pub(super) const PAYER: usize = 3;
pub(super) const AMOUNT: usize = 4;
pub(super) const PAID_ON: usize = 6;
pub(super) const REGION: usize = 7;

/// The person being generated: identity, region and the rows so far.
pub(super) struct Person {
    pub(super) id: String,
    pub(super) birth: Date,
    pub(super) region: &'static str,
    pub(super) groups: Vec<(SpecialGroup, Date, Option<Date>)>,
    pub(super) rows: Vec<Row>,
}

/// The range of settlement months and the things every person generator needs.
pub(super) struct Span {
    pub(super) start: Month,
    pub(super) end: Month,
}

impl Span {
    pub(super) fn n(&self) -> i32 {
        self.end.0 - self.start.0 + 1
    }
    pub(super) fn end_day(&self) -> Date {
        self.end.last_day()
    }
}

impl Person {
    /// Adds a row unless it settles after the range.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
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
    pub(super) fn group_on(&self, day: Date) -> Option<SpecialGroup> {
        self.groups
            .iter()
            .filter(|(_, from, to)| *from <= day && to.is_none_or(|t| day <= t))
            .map(|(g, _, _)| *g)
            .min()
    }
}

/// A day of month `m` between `lo` and `hi` (clamped to the month's length).
pub(super) fn day_in(rng: &mut Rng, m: Month, lo: u32, hi: u32) -> Date {
    let last = m.days();
    let d = rng.range(lo as i64, hi.min(last) as i64) as u32;
    Date::from_ymd(m.year(), m.month(), d)
}

/// A base in yuan between `lo` and `hi`; one in ten has odd fen so rounding matters.
pub(super) fn random_base(rng: &mut Rng, lo: i64, hi: i64) -> Fen {
    let yuan = rng.range(lo, hi);
    let fen = if rng.chance(0.1) { rng.range(1, 99) } else { 0 };
    Fen(yuan * 100 + fen)
}

pub(super) fn employer_id(rng: &mut Rng, region: &str) -> String {
    format!("91{region}{:010}", rng.below(10_000_000_000))
}

// ---------------------------------------------------------------------------
// Faulty rows (CONTRACT.md §4 reject types)
// ---------------------------------------------------------------------------

/// A faulty copy of `row` that validation rejects with `t` (`None` for a type that
/// the format cannot carry: PARSE_ERROR in Parquet).
pub(super) fn faulty(rng: &mut Rng, row: &Row, t: RejectType, format: Format) -> Option<Row> {
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
pub(super) fn add_faults(
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
pub(super) fn forced_faults(index: u64, persons: u64, format: Format) -> Vec<RejectType> {
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
