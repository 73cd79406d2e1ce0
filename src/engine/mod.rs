//! The per-person rule engine: pure functions from one person's sorted rows,
//! parameters and `as_of` to months, gaps, status and findings. No I/O, no polars.
//!
//! Results are appended to a chunk-level [`Batch`] (no per-person allocation of
//! result vectors); `output` turns batches into Parquet columns.

use crate::domain::{Benefit, Date, Fen, FindingCode, GapKind, GapState, Gender, Month, Payer, Reason, Scheme, SpecialGroup};
use crate::id::PersonId;

/// One row of `person_month` (CONTRACT.md §4).
#[derive(Clone, Debug, PartialEq)]
pub struct MonthRow {
    pub person: PersonId,
    pub period: Month,
    pub scheme: Scheme,
    pub region: u32,
    pub paid: bool,
    pub paid_on: Option<Date>,
    pub on_time: bool,
    pub special_group: Option<SpecialGroup>,
    pub benefit: Benefit,
    pub benefit_ratio: f64,
    pub reason: Reason,
    pub gap_id: Option<i32>,
}

/// One row of `gaps` (CONTRACT.md §4).
#[derive(Clone, Debug, PartialEq)]
pub struct GapRow {
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
#[derive(Clone, Debug, PartialEq)]
pub struct StatusRow {
    pub person: PersonId,
    pub gender: Gender,
    pub birth_date: Date,
    pub region: u32,
    pub scheme: Scheme,
    pub special_group: Option<SpecialGroup>,
    pub benefit: Benefit,
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
#[derive(Clone, Debug, PartialEq)]
pub struct FindingRow {
    pub person: PersonId,
    /// First day of the month (resident years: January).
    pub period: Month,
    pub code: FindingCode,
    pub detail: String,
}

/// Results for a contiguous run of people, rows in person order then period order.
#[derive(Clone, Debug, Default)]
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
