//! The resident scheme (城乡居民医保), per coverage year `Y` — RULES.md §5 and the
//! newborn case of §9. Coverage of the employee family (for continuity, break years
//! and incentives) comes in through [`OtherCoverage`].

use super::employee::EmployeeHistory;
use super::rows::{GroupInterval, ParamSource, PersonRows, group_on_day};
use crate::config::{MonthDay, Params};
use crate::domain::{Benefit, Date, Fen, Month, Payer, Reason, Scheme};

/// What the ledger says about one resident year (RULES.md §5).
#[derive(Clone, Debug, PartialEq)]
pub struct ResidentYear {
    pub year: i32,
    pub region: u32,
    /// `required(Y) = resident_contribution(Y)`.
    pub required: Fen,
    pub paid_sum: Fen,
    /// `P(Y)`: `paid_on` at which the running sum over all payers reaches `required`.
    pub paid_date: Option<Date>,
    /// Government rows paid by `K` for this year, and the last such `paid_on`.
    pub government_sum: Fen,
    pub government_rows: u32,
    pub last_government_paid_on: Option<Date>,
}

impl ResidentYear {
    /// Paid after the year was over: covers nothing, may repair a break year (§5).
    pub fn is_repair(&self) -> bool {
        self.paid_date
            .is_some_and(|p| p > Date::from_ymd(self.year, 12, 31))
    }
    /// Paid in time to cover (part of) the year.
    pub fn is_covering(&self) -> bool {
        self.paid_date.is_some() && !self.is_repair()
    }
}

/// How a covered year is covered: when the wait starts, when benefits start, why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    pub year: i32,
    pub paid_date: Date,
    pub in_window: bool,
    /// Break years `N` before `Y` and repair years among them.
    pub break_years: i32,
    pub repair_years: i32,
    /// `W(Y)` in months.
    pub wait_months: i32,
    /// Start of the wait (or of cover when there is no wait).
    pub wait_start: Date,
    /// First day of benefits.
    pub benefits_start: Date,
    /// `RESIDENT_COVERED`, `NEWBORN` or `SPECIAL_GROUP_EXEMPT`.
    pub reason: Reason,
}

/// One run of break years, for the `gaps` table (CONTRACT.md §4).
#[derive(Clone, Debug, PartialEq)]
pub struct ResidentBreak {
    pub first_year: i32,
    pub last_year: i32,
    pub open: bool,
    pub wait_months: Option<i32>,
    pub benefits_from: Option<Date>,
    /// Repair payments for these years.
    pub backpay_amount: Fen,
}

/// One resident month's verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResidentMonth {
    pub period: Month,
    pub region: u32,
    pub paid: bool,
    pub paid_on: Option<Date>,
    pub on_time: bool,
    pub benefit: Benefit,
    pub benefit_ratio: f64,
    pub reason: Reason,
    /// Index into [`ResidentHistory::breaks`] for months of a break year.
    pub break_index: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResidentHistory {
    /// First month of the resident history (when the first wait or cover starts).
    pub start: Month,
    pub years: Vec<ResidentYear>,
    pub coverages: Vec<Coverage>,
    pub months: Vec<ResidentMonth>,
    pub breaks: Vec<ResidentBreak>,
    /// When benefits start again, given the status of month `A`.
    pub benefits_from: Option<Date>,
}

impl ResidentHistory {
    pub fn month(&self, m: Month) -> Option<&ResidentMonth> {
        let i = m.0 - self.start.0;
        (i >= 0).then(|| self.months.get(i as usize)).flatten()
    }
}

/// Employee-family coverage, as resident rules need it.
pub struct OtherCoverage<'a> {
    pub employee: Option<&'a EmployeeHistory>,
}

impl OtherCoverage<'_> {
    /// Any employee-family month paid in `from ..= to`.
    fn paid_between(&self, from: Month, to: Month) -> bool {
        self.employee.is_some_and(|e| e.paid_in(from, to))
    }
    fn covers_year(&self, y: i32) -> bool {
        self.paid_between(Month::january(y), Month::new(y, 12))
    }
    fn any_before(&self, y: i32) -> bool {
        self.employee
            .is_some_and(|e| e.first_paid < Month::january(y))
    }
}

fn day_in(year: i32, md: MonthDay) -> Date {
    // Clamp (a `02-29` in a common year means Feb 28).
    let last = Month::new(year, md.month).days();
    Date::from_ymd(year, md.month, md.day.min(last))
}

/// The close date of `Y`'s collection window (opens in `Y−1`; closes in `Y−1` when
/// `close ≥ open`, else in `Y`).
pub fn window_close(p: &Params, year: i32) -> Date {
    if p.resident_window_close >= p.resident_window_open {
        day_in(year - 1, p.resident_window_close)
    } else {
        day_in(year, p.resident_window_close)
    }
}

/// Aggregates resident rows per year (rows sorted by period, then paid_on, input order).
pub fn resident_years<P: ParamSource>(rows: &PersonRows, params: &P, k: Date) -> Vec<ResidentYear> {
    let mut years: Vec<ResidentYear> = Vec::new();
    for i in 0..rows.len() {
        if rows.scheme[i] != Scheme::Resident || !rows.visible(i, k) {
            continue;
        }
        let year = rows.period[i].year();
        if years.last().is_none_or(|y| y.year != year) {
            let required = params
                .at(rows.region[i], Month::january(year))
                .resident_contribution;
            years.push(ResidentYear {
                year,
                region: rows.region[i],
                required,
                paid_sum: Fen::ZERO,
                paid_date: None,
                government_sum: Fen::ZERO,
                government_rows: 0,
                last_government_paid_on: None,
            });
        }
        let Some(y) = years.last_mut() else { continue };
        if let Some(d) = rows.paid_on[i] {
            y.paid_sum = y.paid_sum.plus(rows.amount[i]);
            if y.paid_date.is_none() && y.paid_sum >= y.required {
                y.paid_date = Some(d);
            }
            if rows.payer[i] == Payer::Government {
                y.government_sum = y.government_sum.plus(rows.amount[i]);
                y.government_rows += 1;
                y.last_government_paid_on = y.last_government_paid_on.max(Some(d));
            }
        }
    }
    years
}

struct YearIndex<'a> {
    years: &'a [ResidentYear],
}

impl YearIndex<'_> {
    fn get(&self, y: i32) -> Option<&ResidentYear> {
        self.years
            .binary_search_by_key(&y, |r| r.year)
            .ok()
            .map(|i| &self.years[i])
    }
    fn covering(&self, y: i32) -> bool {
        self.get(y).is_some_and(ResidentYear::is_covering)
    }
    fn any_covering_before(&self, y: i32) -> bool {
        self.years.iter().any(|r| r.year < y && r.is_covering())
    }
}

/// Coverage of any scheme in calendar year `y` (§5 break years, incentives).
fn covered_any(idx: &YearIndex, other: &OtherCoverage, y: i32) -> bool {
    idx.covering(y) || other.covers_year(y)
}

/// Consecutive break years right before `year`: no coverage of any scheme, counting
/// only years `≥ break_years_count_from` and not before the birth year (§5).
fn break_years_before(
    idx: &YearIndex,
    other: &OtherCoverage,
    year: i32,
    p: &Params,
    birth_year: i32,
) -> (i32, i32) {
    let floor = p.break_years_count_from.max(birth_year);
    let (mut n, mut repairs) = (0, 0);
    let mut y = year - 1;
    while y >= floor && !covered_any(idx, other, y) {
        n += 1;
        if idx.get(y).is_some_and(ResidentYear::is_repair) {
            repairs += 1;
        }
        y -= 1;
    }
    (n, repairs)
}

/// `W(Y)` for a person who is neither newborn, exempt, nor continuous-in-window:
/// `fixed + max(0, N − free − repairs)` — a repair year removes variable months only,
/// the fixed months cannot be repaired (38号; RULES.md §5 as of 2026-12-01) — and with
/// `N ≥ repair_floor_break_years` at least `repair_floor_months`, but never above the
/// unrepaired `fixed + max(0, N − free)`.
pub fn wait_months(p: &Params, break_years: i32, repair_years: i32) -> i32 {
    let fixed = p.resident_fixed_wait_months;
    let raw = fixed + (break_years - p.variable_free_break_years).max(0);
    let mut w = fixed + (break_years - p.variable_free_break_years - repair_years).max(0);
    if break_years >= p.repair_floor_break_years {
        w = w.max(p.repair_floor_months.min(raw));
    }
    w
}

/// Decides how a covering year is covered (RULES.md §5).
#[allow(clippy::too_many_arguments)]
fn coverage(
    ry: &ResidentYear,
    p: &Params,
    idx: &YearIndex,
    other: &OtherCoverage,
    birth: Date,
    groups: &[GroupInterval],
) -> Option<Coverage> {
    let paid = ry.paid_date?;
    let y = ry.year;
    let jan1 = Date::from_ymd(y, 1, 1);
    let in_window = paid <= window_close(p, y);
    let mk = |wait_start: Date, w: i32, benefits_start: Date, reason: Reason, n: i32, rep: i32| {
        Coverage {
            year: y,
            paid_date: paid,
            in_window,
            break_years: n,
            repair_years: rep,
            wait_months: w,
            wait_start,
            benefits_start,
            reason,
        }
    };
    // Newborn: paid within the window after birth; born in Y → from the birth date,
    // born in Y−1 → year Y from Jan 1 (§5, §9).
    let (birth_year, _, _) = birth.ymd();
    if paid <= birth.plus_days(p.newborn_window_days) && (birth_year == y || birth_year == y - 1) {
        let start = if birth_year == y { birth } else { jan1 };
        return Some(mk(start, 0, start, Reason::Newborn, 0, 0));
    }
    let from_window_or_next_day = if in_window { jan1 } else { paid.plus_days(1) };
    if y < p.resident_wait_from {
        return Some(mk(
            from_window_or_next_day,
            0,
            from_window_or_next_day,
            Reason::ResidentCovered,
            0,
            0,
        ));
    }
    if group_on_day(groups, paid).is_some_and(|g| p.is_exempt(g)) {
        let s = from_window_or_next_day;
        return Some(mk(s, 0, s, Reason::SpecialGroupExempt, 0, 0));
    }
    let switch_from = Month::new(y - 1, 12).plus(1 - p.switch_gap_max_months.max(0));
    let first_enrolment = !idx.any_covering_before(y) && !other.any_before(y);
    let continuous = first_enrolment
        || idx.covering(y - 1)
        || other.paid_between(switch_from, Month::new(y - 1, 12));
    if continuous && in_window {
        return Some(mk(jan1, 0, jan1, Reason::ResidentCovered, 0, 0));
    }
    if continuous && p.resident_grace_until.is_some_and(|g| paid <= day_in(y, g)) {
        return Some(mk(paid, 0, paid, Reason::ResidentCovered, 0, 0));
    }
    let (n, repairs) = break_years_before(idx, other, y, p, birth_year);
    let w = wait_months(p, n, repairs);
    let start = if in_window { jan1 } else { paid };
    Some(mk(
        start,
        w,
        start.plus_months(w),
        Reason::ResidentCovered,
        n,
        repairs,
    ))
}

/// Evaluates the resident family of one person as of `as_of`. `None` when no
/// resident year `≤ year(A)` is covered, or its cover starts after `A`.
pub fn evaluate<P: ParamSource>(
    rows: &PersonRows,
    params: &P,
    as_of: Month,
    birth: Date,
    groups: &[GroupInterval],
    other: &OtherCoverage,
    history_start_hint: Option<Month>,
) -> Option<ResidentHistory> {
    let k = as_of.last_day();
    let years = resident_years(rows, params, k);
    let idx = YearIndex { years: &years };
    let last_year = as_of.year();
    let mut coverages = Vec::new();
    for ry in years
        .iter()
        .filter(|r| r.year <= last_year && r.is_covering())
    {
        let p = params.at(ry.region, Month::january(ry.year));
        if let Some(c) = coverage(ry, p, &idx, other, birth, groups) {
            coverages.push(c);
        }
    }
    let start = coverages
        .iter()
        .map(|c| c.wait_start.min(c.benefits_start).month())
        .min()?;
    if start > as_of {
        return None;
    }
    let history_start = history_start_hint.map_or(start, |h| h.min(start));
    let (birth_year, _, _) = birth.ymd();

    // Break-year runs inside the history (for `gaps`), counted like §5's N.
    let mut breaks: Vec<ResidentBreak> = Vec::new();
    let mut y = history_start.year();
    while y <= last_year {
        let p = params.at(region_for_year(&years, y), Month::january(y));
        let is_break =
            |y: i32| y >= p.break_years_count_from.max(birth_year) && !covered_any(&idx, other, y);
        if !is_break(y) {
            y += 1;
            continue;
        }
        let first = y;
        while y <= last_year && is_break(y) {
            y += 1;
        }
        let last = y - 1;
        let open = last == last_year;
        let next_cov = coverages.iter().find(|c| c.year == y);
        let backpay = Fen::sum(
            years
                .iter()
                .filter(|r| r.year >= first && r.year <= last && r.is_repair())
                .map(|r| r.paid_sum),
        );
        breaks.push(ResidentBreak {
            first_year: first,
            last_year: last,
            open,
            wait_months: if open {
                None
            } else {
                next_cov.map(|c| c.wait_months)
            },
            benefits_from: if open {
                None
            } else {
                next_cov.map(|c| c.benefits_start)
            },
            backpay_amount: backpay,
        });
    }

    // Months start … A.
    let mut months = Vec::with_capacity((as_of.0 - start.0 + 1) as usize);
    let mut region = region_for_year(&years, start.year());
    let mut m = start;
    while m <= as_of {
        let y = m.year();
        let ry = idx.get(y);
        if let Some(r) = ry {
            region = r.region;
        }
        let p = params.at(region, m);
        let cov = coverages.iter().find(|c| c.year == y);
        let last_day = m.last_day();
        let (benefit, reason) = match cov {
            Some(c) if c.benefits_start <= last_day => (Benefit::Active, c.reason),
            Some(c) if c.paid_date <= last_day => (Benefit::Waiting, Reason::ResidentWait),
            _ => (Benefit::Suspended, Reason::NotEnrolled),
        };
        let benefit_ratio = match benefit {
            Benefit::Active => 1.0,
            Benefit::Waiting => p.waiting_benefit_ratio.as_f64(),
            _ => 0.0,
        };
        let paid_date = ry.and_then(|r| r.paid_date);
        months.push(ResidentMonth {
            period: m,
            region,
            paid: paid_date.is_some(),
            paid_on: paid_date,
            on_time: cov.is_some_and(|c| c.in_window),
            benefit,
            benefit_ratio,
            reason,
            break_index: breaks
                .iter()
                .position(|b| b.first_year <= y && y <= b.last_year),
        });
        m = m.plus(1);
    }
    let last = months.last()?;
    let benefits_from = match last.benefit {
        Benefit::Active => None,
        _ => coverages
            .iter()
            .find(|c| c.year == last_year)
            .map(|c| c.benefits_start),
    };
    Some(ResidentHistory {
        start,
        years,
        coverages,
        months,
        breaks,
        benefits_from,
    })
}

fn region_for_year(years: &[ResidentYear], y: i32) -> u32 {
    years
        .iter()
        .rev()
        .find(|r| r.year <= y)
        .or(years.first())
        .map_or(0, |r| r.region)
}

/// Consecutive covered years (any scheme) back from `year(A)`, only years
/// `≥ break_years_count_from` (§5 incentives).
pub fn continuous_years<P: ParamSource>(
    years: &[ResidentYear],
    other: &OtherCoverage,
    as_of: Month,
    params: &P,
    region: u32,
) -> i32 {
    let idx = YearIndex { years };
    let p = params.at(region, as_of);
    let mut n = 0;
    let mut y = as_of.year();
    while y >= p.break_years_count_from && covered_any(&idx, other, y) {
        n += 1;
        y -= 1;
    }
    n
}

/// The catastrophic-cap raise (大病保险 incentives, §5): `incentive_step` per covered
/// year beyond `incentive_after_years`, plus one step per consecutive zero-claim year
/// before `year(A)` when claims data is given; capped at
/// `incentive_cap_ratio × catastrophic_cap`.
pub fn incentive_raise(p: &Params, continuous_years: i32, zero_claim_years: i32) -> Fen {
    let steps = (continuous_years - p.incentive_after_years).max(0) + zero_claim_years.max(0);
    let raise = p.incentive_step.times(steps as i64);
    let cap = p.catastrophic_cap.times_rate(p.incentive_cap_ratio);
    raise.min(cap)
}
