//! Special-group findings (RULES.md §6) and `UNDERPAID` (§3).
//!
//! One finding per person, code and period. Findings about months or years after
//! `A` are reported only for subsidies (rows paid by `K`).

use super::employee::MonthFacts;
use super::resident::ResidentYear;
use super::rows::{GroupInterval, ParamSource, PersonRows, group_in_month, group_on_day};
use crate::domain::{Fen, FindingCode, Month, Payer, Rate, Scheme};

/// A finding before it gets its person key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub period: Month,
    pub code: FindingCode,
    pub detail: String,
}

pub struct FindingInputs<'a> {
    pub rows: &'a PersonRows<'a>,
    /// Employee-family months with rows, up to `A` (any paid state).
    pub employee_months: &'a [MonthFacts],
    pub resident_years: &'a [ResidentYear],
    pub groups: &'a [GroupInterval],
    /// Region for parameter lookups of people without rows (registry-only).
    pub region: u32,
}

pub fn findings<P: ParamSource>(inp: &FindingInputs, params: &P, as_of: Month) -> Vec<Finding> {
    let k = as_of.last_day();
    let mut out = Vec::new();
    // UNDERPAID: an employee-family month ≤ A whose paid sum is above zero but below required.
    for f in inp.employee_months {
        if !f.paid() && f.paid_sum > Fen::ZERO {
            out.push(Finding {
                period: f.period,
                code: FindingCode::Underpaid,
                detail: format!(
                    "paid {} of the required {} for {}",
                    f.paid_sum, f.required, f.period
                ),
            });
        }
    }
    // SUBSIDY_WITHOUT_STATUS, employee family: a government row for a month with no active group.
    let rows = inp.rows;
    for i in 0..rows.len() {
        if rows.payer[i] != Payer::Government || rows.scheme[i] == Scheme::Resident {
            continue;
        }
        if rows.paid_on[i].is_some_and(|d| d <= k)
            && group_in_month(inp.groups, rows.period[i]).is_none()
        {
            out.push(Finding {
                period: rows.period[i],
                code: FindingCode::SubsidyWithoutStatus,
                detail: format!(
                    "government paid {} for {} but no special group is active then",
                    rows.amount[i], rows.period[i]
                ),
            });
        }
    }
    for ry in inp.resident_years {
        let jan = Month::january(ry.year);
        let p = params.at(ry.region, jan);
        if ry.government_rows > 0 {
            let any_group = (0..12).any(|i| group_in_month(inp.groups, jan.plus(i)).is_some());
            if !any_group {
                out.push(Finding {
                    period: jan,
                    code: FindingCode::SubsidyWithoutStatus,
                    detail: format!(
                        "government paid {} for {} but no special group is active that year",
                        ry.government_sum, ry.year
                    ),
                });
            }
            // SUBSIDY_MISMATCH, a check of its own (a subsidy paid in Y-1 under a group
            // that ended before Jan 1 is both without status and mismatched): the
            // group on P(Y), else on the last government paid_on; the amount against
            // the exact ratio × standard, beyond 0.01.
            let group = ry
                .paid_date
                .and_then(|d| group_on_day(inp.groups, d))
                .or_else(|| {
                    ry.last_government_paid_on
                        .and_then(|d| group_on_day(inp.groups, d))
                });
            if let Some(g) = group {
                let ratio = p.subsidy_ratio(g);
                let scaled_diff = ry.government_sum.0 as i128 * Rate::SCALE as i128
                    - ry.required.0 as i128 * ratio.0 as i128;
                if scaled_diff.abs() > Rate::SCALE as i128 {
                    out.push(Finding {
                        period: jan,
                        code: FindingCode::SubsidyMismatch,
                        detail: format!(
                            "government paid {} for {}; {} ({}) expects {}",
                            ry.government_sum,
                            ry.year,
                            g,
                            ratio.as_f64(),
                            ry.required.times_rate(ratio)
                        ),
                    });
                }
            }
        }
        // STATUS_WITHOUT_SUBSIDY: an active group on P(Y) but no government row for Y.
        if ry.year <= as_of.year()
            && ry.government_rows == 0
            && let Some(g) = ry.paid_date.and_then(|d| group_on_day(inp.groups, d))
            && p.subsidy_ratio(g).0 > 0
        {
            out.push(Finding {
                period: jan,
                code: FindingCode::StatusWithoutSubsidy,
                detail: format!(
                    "{g} on the payment day {} but no government subsidy for {}",
                    ry.paid_date.map(|d| d.to_string()).unwrap_or_default(),
                    ry.year
                ),
            });
        }
    }
    // STATUS_GAP: an exempt group active in some month ≤ A of year Y, and the person
    // not covered for Y: no resident payment reaching the contribution (a partial
    // payment does not cover; RULES.md §6 as of 2026-12-01) and no paid
    // employee-family month in Y.
    for g in inp.groups {
        let p = params.at(inp.region, as_of);
        if !p.is_exempt(g.group) {
            continue;
        }
        let (from_year, _, _) = g.valid_from.ymd();
        for y in from_year.max(p.break_years_count_from)..=as_of.year() {
            let first = Month::january(y);
            let last = Month::new(y, 12).min(as_of);
            let active = (first.0..=last.0).any(|m| g.touches(Month(m)));
            if !active {
                continue;
            }
            let resident_paid = inp
                .resident_years
                .iter()
                .any(|r| r.year == y && r.paid_date.is_some());
            let employee_paid = inp
                .employee_months
                .iter()
                .any(|f| f.period.year() == y && f.paid());
            if !resident_paid && !employee_paid {
                out.push(Finding {
                    period: first,
                    code: FindingCode::StatusGap,
                    detail: format!(
                        "{} active in {y} but not covered by any scheme that year",
                        g.group
                    ),
                });
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.period == b.period && a.code == b.code);
    out
}
