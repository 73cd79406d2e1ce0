//! The per-person rule engine: pure functions from one person's sorted rows,
//! parameters and `as_of` to months, gaps, status and findings. No I/O, no polars.
//!
//! Results are appended to a chunk-level [`Batch`] (no per-person allocation of
//! result vectors); `output` turns batches into Parquet columns.

use crate::domain::{
    Benefit, Date, Fen, FindingCode, GapKind, GapState, Gender, Month, Payer, Reason, Scheme,
    SpecialGroup,
};
use crate::id::PersonId;

/// One row of `person_month` (CONTRACT.md §4).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonthRow {
    /// Not serialized: the carry-forward state stores it once per person.
    #[serde(skip)]
    pub person: PersonId,
    /// Not serialized: the carry-forward state stores the periods beside the rows.
    #[serde(skip)]
    pub period: Month,
    pub scheme: Scheme,
    /// Not serialized: the carry-forward state stores the regions beside the rows.
    #[serde(skip)]
    pub region: u32,
    pub paid: bool,
    pub paid_on: Option<Date>,
    pub on_time: bool,
    pub special_group: Option<SpecialGroup>,
    pub benefit: Benefit,
    #[serde(with = "crate::sealed::float")]
    pub benefit_ratio: f64,
    pub reason: Reason,
    pub gap_id: Option<i32>,
}

/// One row of `gaps` (CONTRACT.md §4).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GapRow {
    /// Not serialized: the carry-forward state stores it once per person.
    #[serde(skip)]
    pub person: PersonId,
    pub gap_id: i32,
    pub kind: GapKind,
    pub gap_start: Date,
    pub gap_end: Date,
    pub months: i32,
    pub open: bool,
    pub payer: Option<Payer>,
    pub state: GapState,
    pub backpaid_on: Option<Date>,
    pub deadline: Option<Date>,
    pub backpay_amount: Fen,
    pub late_fee_amount: Fen,
    pub wait_months: Option<i32>,
    pub benefits_from: Option<Date>,
}

/// One row of `person_status` (CONTRACT.md §4); `rules_sha256` is added by `output`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusRow {
    /// Not serialized: the carry-forward state stores it once per person.
    #[serde(skip)]
    pub person: PersonId,
    pub gender: Gender,
    pub birth_date: Date,
    pub region: u32,
    pub scheme: Scheme,
    pub special_group: Option<SpecialGroup>,
    pub benefit: Benefit,
    #[serde(with = "crate::sealed::float")]
    pub benefit_ratio: f64,
    pub benefits_from: Option<Date>,
    pub first_period: Month,
    pub last_paid_period: Option<Month>,
    pub cumulative_months: i32,
    pub continuous_months: i32,
    pub continuity_at_risk: bool,
    pub gap_count: i32,
    pub open_gap_months: i32,
    pub longest_gap_months: i32,
    pub arrears_months: i32,
    pub arrears_amount: Fen,
    pub late_fee_amount: Fen,
    pub retirement_min_months: i32,
    pub months_short: i32,
    pub lump_sum_estimate: Option<Fen>,
    pub resident_continuous_years: i32,
    pub incentive_raise: Fen,
}

/// One row of `findings` (CONTRACT.md §4, RULES.md §6).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FindingRow {
    /// Not serialized: the carry-forward state stores it once per person.
    #[serde(skip)]
    pub person: PersonId,
    /// First day of the month (resident years: January).
    pub period: Month,
    pub code: FindingCode,
    pub detail: String,
}

/// Results for a contiguous run of people, rows in person order then period order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub months: Vec<MonthRow>,
    pub gaps: Vec<GapRow>,
    pub status: Vec<StatusRow>,
    pub findings: Vec<FindingRow>,
}

impl Batch {
    pub fn append(&mut self, mut other: Batch) {
        self.months.append(&mut other.months);
        self.gaps.append(&mut other.gaps);
        self.status.append(&mut other.status);
        self.findings.append(&mut other.findings);
    }
}

pub mod employee;
pub mod resident;
pub mod rows;
mod sort;
pub mod special;

pub use rows::{GroupInterval, ParamSource, PersonRows};
pub use sort::sort_for_engine;

use employee::EmployeeHistory;
use resident::{OtherCoverage, ResidentHistory};

/// Everything the engine knows about one person.
pub struct PersonInput<'a> {
    pub person: PersonId,
    /// Sorted by (period, paid_on with declarations last, input order).
    pub rows: PersonRows<'a>,
    /// Registry intervals, any order.
    pub groups: &'a [GroupInterval],
    /// (year, fund_paid) claims rows; `claims_given` says whether a claims input exists.
    pub claims: &'a [(i32, Fen)],
    pub claims_given: bool,
}

/// The full verdict for one person, kept for `explain`.
pub struct PersonVerdict {
    pub employee: Option<EmployeeHistory>,
    pub resident: Option<ResidentHistory>,
}

/// Evaluates one person as of `as_of` and appends their rows to `batch`.
pub fn evaluate_person<P: ParamSource>(
    input: &PersonInput,
    params: &P,
    as_of: Month,
    batch: &mut Batch,
) -> PersonVerdict {
    let person = input.person;
    let k = as_of.last_day();
    let birth = person.birth_date();
    let aggregates = employee::month_aggregates(&input.rows, params, as_of);
    let emp = employee::evaluate_months(&aggregates, params, as_of);
    let other = OtherCoverage {
        employee: emp.as_ref(),
    };
    let res = resident::evaluate(
        &input.rows,
        params,
        as_of,
        birth,
        input.groups,
        &other,
        emp.as_ref().map(|e| e.first_paid),
    );
    let res_years = match &res {
        Some(r) => r.years.clone(),
        None => resident::resident_years(&input.rows, params, k),
    };
    // Findings (also for people without a history, e.g. registry-only). Their
    // person-level parameters (exempt_groups, break_years_count_from for STATUS_GAP)
    // are read at A in the region of the row shown for A (docs/decisions.md); without
    // a history, in the region of the person's first row, else of the ID number.
    let push_findings = |batch: &mut Batch, region: u32| {
        let found = special::findings(
            &special::FindingInputs {
                rows: &input.rows,
                employee_months: &aggregates,
                resident_years: &res_years,
                groups: input.groups,
                region,
            },
            params,
            as_of,
        );
        batch.findings.extend(found.into_iter().map(|f| FindingRow {
            person,
            period: f.period,
            code: f.code,
            detail: f.detail,
        }));
    };
    let fallback_region = input
        .rows
        .region
        .first()
        .copied()
        .unwrap_or_else(|| person.id_region());

    let start = match (
        emp.as_ref().map(|e| e.first_paid),
        res.as_ref().map(|r| r.start),
    ) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => {
            push_findings(batch, fallback_region);
            return PersonVerdict {
                employee: emp,
                resident: res,
            };
        }
    };

    // gap_id numbers both kinds by gap_start (employee first on a tie).
    let mut starts: Vec<(Date, u8, usize)> = Vec::new();
    if let Some(e) = &emp {
        starts.extend(
            e.gaps
                .iter()
                .enumerate()
                .map(|(i, g)| (g.g1.first_day(), 0, i)),
        );
    }
    if let Some(r) = &res {
        starts.extend(
            r.breaks
                .iter()
                .enumerate()
                .map(|(i, b)| (Month::january(b.first_year).first_day(), 1, i)),
        );
    }
    starts.sort();
    let gap_id = |kind: u8, i: usize| {
        starts
            .iter()
            .position(|s| s.1 == kind && s.2 == i)
            .map(|p| p as i32 + 1)
    };

    // person_month: the better status of the two families (tie: employee family).
    let first_row = batch.months.len();
    let mut from_resident_at_a = false;
    let mut m = start;
    while m <= as_of {
        let e = emp.as_ref().and_then(|e| Some((e.facts(m)?, e.status(m)?)));
        let r = res.as_ref().and_then(|r| r.month(m));
        let special_group = rows::group_in_month(input.groups, m);
        let row = match (e, r) {
            (Some((f, s)), r) if r.is_none_or(|r| r.benefit <= s.benefit) => {
                from_resident_at_a = false;
                MonthRow {
                    person,
                    period: m,
                    scheme: f.scheme,
                    region: f.region,
                    paid: f.paid(),
                    paid_on: f.paid_date,
                    on_time: f.on_time,
                    special_group,
                    benefit: s.benefit,
                    benefit_ratio: s.benefit_ratio,
                    reason: s.reason,
                    gap_id: s.gap.and_then(|g| gap_id(0, g)),
                }
            }
            (_, Some(r)) => {
                from_resident_at_a = true;
                MonthRow {
                    person,
                    period: m,
                    scheme: Scheme::Resident,
                    region: r.region,
                    paid: r.paid,
                    paid_on: r.paid_on,
                    on_time: r.on_time,
                    special_group,
                    benefit: r.benefit,
                    benefit_ratio: r.benefit_ratio,
                    reason: r.reason,
                    gap_id: r.break_index.and_then(|b| gap_id(1, b)),
                }
            }
            (None, None) => {
                // Cannot happen: each family covers every month from its start to A.
                m = m.plus(1);
                continue;
            }
            (Some(_), None) => unreachable!("handled by the first arm"),
        };
        batch.months.push(row);
        m = m.plus(1);
    }

    // gaps
    if let Some(e) = &emp {
        for (i, g) in e.gaps.iter().enumerate() {
            batch.gaps.push(GapRow {
                person,
                gap_id: gap_id(0, i).unwrap_or(0),
                kind: GapKind::Employee,
                gap_start: g.g1.first_day(),
                gap_end: g.g2.last_day(),
                months: g.months(),
                open: g.open,
                payer: Some(g.payer),
                state: g.state,
                backpaid_on: g.backpaid_on,
                deadline: g.deadline,
                backpay_amount: g.backpay_amount,
                late_fee_amount: g.late_fee_amount,
                wait_months: g.wait_months,
                benefits_from: g.benefits_from,
            });
        }
    }
    if let Some(r) = &res {
        for (i, b) in r.breaks.iter().enumerate() {
            batch.gaps.push(GapRow {
                person,
                gap_id: gap_id(1, i).unwrap_or(0),
                kind: GapKind::Resident,
                gap_start: Date::from_ymd(b.first_year, 1, 1),
                gap_end: Date::from_ymd(b.last_year, 12, 31),
                months: (b.last_year - b.first_year + 1) * 12,
                open: b.open,
                payer: None,
                state: GapState::Break,
                backpaid_on: None,
                deadline: None,
                backpay_amount: b.backpay_amount,
                late_fee_amount: Fen::ZERO,
                wait_months: b.wait_months,
                benefits_from: b.benefits_from,
            });
        }
    }
    let gap_rows = batch.gaps.len();
    let first_gap = gap_rows
        - emp.as_ref().map_or(0, |e| e.gaps.len())
        - res.as_ref().map_or(0, |r| r.breaks.len());
    batch.gaps[first_gap..].sort_by_key(|g| g.gap_id);

    // person_status
    let months = &batch.months[first_row..];
    let Some(at_a) = months.last() else {
        push_findings(batch, fallback_region);
        return PersonVerdict {
            employee: emp,
            resident: res,
        };
    };
    let region_at_a = at_a.region;
    let p = params.at(region_at_a, as_of);
    let gender = person.gender();
    let retirement_min_months = match gender {
        Gender::Male => p.retirement_min_months_male,
        Gender::Female => p.retirement_min_months_female,
    };
    let cumulative_months = emp.as_ref().map_or(0, |e| e.cumulative_months);
    let months_short = (retirement_min_months - cumulative_months).max(0);
    // §9: the base of the latest employee-family month ≤ A with rows (declared or paid),
    // null only without any such month (resident-only people).
    let lump_sum_estimate = aggregates
        .last()
        .map(|f| f.base.times_n_rate(months_short as i64, p.lump_sum_rate));
    let continuous_years =
        resident::continuous_years(&res_years, &other, as_of, params, at_a.region);
    let zero_claim_years = if input.claims_given {
        zero_claim_years(input, &res_years, &other, as_of, p.break_years_count_from)
    } else {
        0
    };
    let egaps = emp.as_ref().map_or(&[][..], |e| &e.gaps[..]);
    batch.status.push(StatusRow {
        person,
        gender,
        birth_date: birth,
        region: at_a.region,
        scheme: at_a.scheme,
        special_group: at_a.special_group,
        benefit: at_a.benefit,
        benefit_ratio: at_a.benefit_ratio,
        benefits_from: if from_resident_at_a {
            res.as_ref().and_then(|r| r.benefits_from)
        } else {
            emp.as_ref().and_then(|e| e.benefits_from)
        },
        first_period: start,
        last_paid_period: months.iter().rev().find(|r| r.paid).map(|r| r.period),
        cumulative_months,
        continuous_months: emp.as_ref().map_or(0, |e| e.continuous_months),
        continuity_at_risk: emp.as_ref().is_some_and(|e| e.continuity_at_risk),
        gap_count: egaps.len() as i32,
        open_gap_months: egaps.iter().filter(|g| g.open).map(|g| g.months()).sum(),
        longest_gap_months: egaps.iter().map(|g| g.months()).max().unwrap_or(0),
        arrears_months: emp.as_ref().map_or(0, |e| e.arrears_months),
        arrears_amount: emp.as_ref().map_or(Fen::ZERO, |e| e.arrears_amount),
        late_fee_amount: emp.as_ref().map_or(Fen::ZERO, |e| e.late_fee_amount),
        retirement_min_months,
        months_short,
        lump_sum_estimate,
        resident_continuous_years: continuous_years,
        incentive_raise: resident::incentive_raise(p, continuous_years, zero_claim_years),
    });
    push_findings(batch, region_at_a);
    PersonVerdict {
        employee: emp,
        resident: res,
    }
}

/// Consecutive covered years before `year(A)` with no fund use (claims data given):
/// a year with a claim, or an uncovered year, ends the run (POLICY-NOTES R7).
fn zero_claim_years(
    input: &PersonInput,
    years: &[resident::ResidentYear],
    other: &OtherCoverage,
    as_of: Month,
    count_from: i32,
) -> i32 {
    let mut n = 0;
    let mut y = as_of.year() - 1;
    while y >= count_from {
        let covered = years.iter().any(|r| r.year == y && r.is_covering())
            || other
                .employee
                .is_some_and(|e| e.paid_in(Month::january(y), Month::new(y, 12)));
        let used = Fen::sum(input.claims.iter().filter(|c| c.0 == y).map(|c| c.1));
        if !covered || used > Fen::ZERO {
            break;
        }
        n += 1;
        y -= 1;
    }
    n
}

#[cfg(test)]
mod tests;
