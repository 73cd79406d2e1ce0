//! The employee family (`employee` + `flexible`): paid months, gaps, back-payment,
//! waiting, late fees and arrears — RULES.md §3, §4, §7 and the settled cases of §9.
//!
//! One person at a time, months `F … A` decided in time order. Every number comes
//! from [`Params`] looked up for the month's region and month (effective dating).

use super::rows::{ParamSource, PersonRows};
use crate::config::{Params, Resume};
use crate::domain::{
    Benefit, Date, Fen, GapState, Month, Payer, Rate, Reason, Scheme, round_half_up,
};

/// What the ledger says about one month of the history `F … A` (RULES.md §3).
#[derive(Clone, Debug, PartialEq)]
pub struct MonthFacts {
    pub period: Month,
    /// The month has employee-family rows of its own (paid or declared, visible at `K`).
    pub has_rows: bool,
    /// Scheme of the month's rows (`employee` wins), else the nearest earlier month's.
    pub scheme: Scheme,
    /// Region of the month's first row, else the nearest earlier month's.
    pub region: u32,
    /// Largest `base` on the month's rows, else the last known base (§9).
    pub base: Fen,
    /// `required(m) = base × rate(scheme)`, half-up to the fen.
    pub required: Fen,
    /// Sum of the month's paid rows (paid by `K`).
    pub paid_sum: Fen,
    /// `paid_date(m)`: `paid_on` of the row at which the running sum reaches `required`.
    pub paid_date: Option<Date>,
    pub on_time: bool,
    /// Some row (paid or declared) has payer `employer` or `unemployment_fund` (§4 `payer`).
    pub institution_declared: bool,
    /// Some row has payer `employer` or `individual`, so late fees apply (§7, §9).
    pub fee_payer: bool,
}

impl MonthFacts {
    pub fn paid(&self) -> bool {
        self.paid_date.is_some()
    }
}

/// One employee-family gap `G = [g1, g2]` and its verdict (RULES.md §4).
#[derive(Clone, Debug, PartialEq)]
pub struct Gap {
    pub g1: Month,
    pub g2: Month,
    pub open: bool,
    pub payer: Payer,
    /// Scheme of the gap (§9): its own rows' (`employee` wins), else the nearest earlier month's.
    pub scheme: Scheme,
    /// `retroactive(scheme)`: bridged gap months are `restored` rather than `suspended`.
    pub retroactive: bool,
    pub state: GapState,
    /// `B`: the latest `paid_date` in the gap, when every month is paid.
    pub backpaid_on: Option<Date>,
    pub deadline: Option<Date>,
    /// `R` (bridged gaps).
    pub resume_on: Option<Date>,
    /// `r = g2 + 1` (closed breaks).
    pub restart: Option<Month>,
    /// `W` (closed breaks), 0 for bridged gaps, `None` while pending or open.
    pub wait_months: Option<i32>,
    /// Reduced months after the wait (closed breaks).
    pub reduced_months: i32,
    pub benefits_from: Option<Date>,
    pub backpay_amount: Fen,
    pub late_fee_amount: Fen,
    /// Unpaid months of a pending gap and what is still owed on them (§7).
    pub owed_months: i32,
    pub owed_amount: Fen,
}

impl Gap {
    pub fn months(&self) -> i32 {
        self.g2.0 - self.g1.0 + 1
    }
    pub fn contains(&self, m: Month) -> bool {
        self.g1 <= m && m <= self.g2
    }
}

/// Benefit, ratio and reason of one month, and the gap that explains it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonthStatus {
    pub benefit: Benefit,
    pub benefit_ratio: f64,
    pub reason: Reason,
    /// Index into [`EmployeeHistory::gaps`] of the gap behind this status.
    pub gap: Option<usize>,
    /// From a bridged gap's `g1` on, where the two readings differ (RULES.md §9
    /// "several gaps"): `[with the bridged gap, the earlier gaps alone]`; the worse
    /// one is this status. Kept for `explain`.
    pub readings: Option<[Reading; 2]>,
}

/// One reading of a month: what a gap (or no gap) alone makes of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub benefit: Benefit,
    pub reason: Reason,
    pub gap: Option<usize>,
}

impl MonthStatus {
    fn reading(&self) -> Reading {
        Reading {
            benefit: self.benefit,
            reason: self.reason,
            gap: self.gap,
        }
    }
}

/// The worse of a bridged gap's reading and the earlier gaps' reading (RULES.md §9),
/// ordered `suspended < waiting < reduced < restored < active`; on a tie the bridged
/// gap's own reading. Records both readings when they differ and the earlier gaps
/// impose something (an earlier reading of `active` can never win: nothing to explain).
fn worse_of(with_bridged: MonthStatus, earlier: MonthStatus) -> MonthStatus {
    let (a, b) = (with_bridged.reading(), earlier.reading());
    let mut status = if earlier.benefit < with_bridged.benefit {
        earlier
    } else {
        with_bridged
    };
    status.readings = (a != b && b.benefit != Benefit::Active).then_some([a, b]);
    status
}

/// The employee family's history of one person as of `A`.
#[derive(Clone, Debug, PartialEq)]
pub struct EmployeeHistory {
    /// `F`, the first paid month (as of `K`).
    pub first_paid: Month,
    /// First-enrolment wait `W0` (§4).
    pub first_wait_months: i32,
    /// One entry per month `F … A`.
    pub months: Vec<MonthFacts>,
    pub statuses: Vec<MonthStatus>,
    pub gaps: Vec<Gap>,
    pub cumulative_months: i32,
    pub continuous_months: i32,
    pub continuity_at_risk: bool,
    pub arrears_months: i32,
    pub arrears_amount: Fen,
    pub late_fee_amount: Fen,
    /// Base of the latest employee-family month `≤ A` with rows (§9 last known base).
    pub last_base: Fen,
    /// When benefits start again, given the status of month `A`.
    pub benefits_from: Option<Date>,
}

impl EmployeeHistory {
    pub fn facts(&self, m: Month) -> Option<&MonthFacts> {
        let i = m.0 - self.first_paid.0;
        (i >= 0).then(|| self.months.get(i as usize)).flatten()
    }
    pub fn status(&self, m: Month) -> Option<&MonthStatus> {
        let i = m.0 - self.first_paid.0;
        (i >= 0).then(|| self.statuses.get(i as usize)).flatten()
    }
    /// Any month of year `y` paid (on time or late) — coverage for §5 continuity.
    pub fn paid_in(&self, from: Month, to: Month) -> bool {
        self.months
            .iter()
            .any(|f| f.period >= from && f.period <= to && f.paid())
    }
}

/// Late fee for one month (RULES.md §7): `required × late_fee_daily_rate × days`,
/// rounded half-up to the fen; capped at `required` when `late_fee_cap_at_principal`.
pub fn late_fee(required: Fen, days: i32, p: &Params) -> Fen {
    if days <= 0 {
        return Fen::ZERO;
    }
    let fee = Fen::saturating(round_half_up(
        required.0 as i128 * p.late_fee_daily_rate.0 as i128 * days as i128,
        Rate::SCALE as i128,
    ));
    if p.late_fee_cap_at_principal {
        fee.min(required)
    } else {
        fee
    }
}

/// `R`, the day benefits resume after a bridged gap back-paid on `b` (RULES.md §4).
pub fn resume_date(resume: Resume, b: Date) -> Date {
    match resume {
        Resume::PaymentDay => b,
        Resume::DayAfterPayment => b.plus_days(1),
        Resume::NextMonth => b.month().plus(1).first_day(),
    }
}

/// Aggregates the employee-family rows of one month (rows `lo..hi`, all of that period).
fn month_facts<P: ParamSource>(
    rows: &PersonRows,
    lo: usize,
    hi: usize,
    k: Date,
    params: &P,
) -> Option<MonthFacts> {
    let mut any = false;
    let mut employee = false;
    let mut region = 0;
    let mut base = Fen::ZERO;
    let mut institution_declared = false;
    let mut fee_payer = false;
    for i in lo..hi {
        if !rows.scheme[i].is_employee_family() || !rows.visible(i, k) {
            continue;
        }
        if !any {
            region = rows.region[i];
        }
        any = true;
        employee |= rows.scheme[i] == Scheme::Employee;
        base = base.max(rows.base[i].unwrap_or(Fen::ZERO));
        match rows.payer[i] {
            Payer::Employer => {
                institution_declared = true;
                fee_payer = true;
            }
            Payer::UnemploymentFund => institution_declared = true,
            Payer::Individual => fee_payer = true,
            Payer::Government => {}
        }
    }
    if !any {
        return None;
    }
    let period = rows.period[lo];
    let scheme = if employee {
        Scheme::Employee
    } else {
        Scheme::Flexible
    };
    let p = params.at(region, period);
    let required = base.times_rate(p.rate(scheme));
    // Paid rows add up in paid_on order, ties in input order: the rows are sorted so.
    let mut paid_sum = Fen::ZERO;
    let mut paid_date = None;
    for i in lo..hi {
        if !rows.scheme[i].is_employee_family() {
            continue;
        }
        if let Some(d) = rows.paid_on[i].filter(|&d| d <= k) {
            paid_sum = paid_sum.plus(rows.amount[i]);
            if paid_date.is_none() && paid_sum >= required {
                paid_date = Some(d);
            }
        }
    }
    let on_time = paid_date.is_some_and(|d| d <= p.due(period));
    Some(MonthFacts {
        period,
        has_rows: true,
        scheme,
        region,
        base,
        required,
        paid_sum,
        paid_date,
        on_time,
        institution_declared,
        fee_payer,
    })
}

/// Employee-family months that have rows (visible at `K`), up to `A`, in order.
pub fn month_aggregates<P: ParamSource>(
    rows: &PersonRows,
    params: &P,
    as_of: Month,
) -> Vec<MonthFacts> {
    let k = as_of.last_day();
    let mut with_rows: Vec<MonthFacts> = Vec::new();
    let mut lo = 0;
    while lo < rows.len() {
        let period = rows.period[lo];
        let mut hi = lo + 1;
        while hi < rows.len() && rows.period[hi] == period {
            hi += 1;
        }
        if period > as_of {
            break;
        }
        if let Some(f) = month_facts(rows, lo, hi, k, params) {
            with_rows.push(f);
        }
        lo = hi;
    }
    with_rows
}

/// Evaluates the employee family of one person as of `as_of` (`K` = its last day).
/// `None` when no employee-family month `≤ A` is paid (no history, RULES.md §3).
pub fn evaluate<P: ParamSource>(
    rows: &PersonRows,
    params: &P,
    as_of: Month,
) -> Option<EmployeeHistory> {
    evaluate_months(&month_aggregates(rows, params, as_of), params, as_of)
}

/// [`evaluate`] from precomputed [`month_aggregates`].
pub fn evaluate_months<P: ParamSource>(
    with_rows: &[MonthFacts],
    params: &P,
    as_of: Month,
) -> Option<EmployeeHistory> {
    let k = as_of.last_day();
    // 2. F, the first paid month as of K.
    let first_idx = with_rows.iter().position(MonthFacts::paid)?;
    let first_paid = with_rows[first_idx].period;

    // 3. Dense months F … A; months without rows take the nearest earlier month's
    //    scheme, region and base (§9), and are unpaid.
    let n = (as_of.0 - first_paid.0 + 1) as usize;
    let mut months: Vec<MonthFacts> = Vec::with_capacity(n);
    let mut next = first_idx;
    for i in 0..n {
        let m = first_paid.plus(i as i32);
        if next < with_rows.len() && with_rows[next].period == m {
            months.push(with_rows[next].clone());
            next += 1;
        } else {
            let prev = months.last().unwrap_or(&with_rows[first_idx]);
            let (scheme, region, base) = (prev.scheme, prev.region, prev.base);
            let required = base.times_rate(params.at(region, m).rate(scheme));
            months.push(MonthFacts {
                period: m,
                has_rows: false,
                scheme,
                region,
                base,
                required,
                paid_sum: Fen::ZERO,
                paid_date: None,
                on_time: false,
                institution_declared: false,
                fee_payer: false,
            });
        }
    }

    // 4. Gaps: maximal runs of months not paid on time.
    let mut gaps = Vec::new();
    let mut i = 0;
    while i < n {
        if months[i].on_time {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !months[i].on_time {
            i += 1;
        }
        gaps.push(judge_gap(
            &months[start..i],
            months.get(i),
            as_of,
            k,
            params,
        ));
    }

    // 5. Month statuses in time order; a later gap overrides an earlier one from its g1.
    let f0 = &months[0];
    let first_wait_months = params
        .at(f0.region, first_paid)
        .first_enrolment_wait_months(f0.scheme);
    let wait_end = first_paid.plus(first_wait_months);
    let normal = |m: Month, region: u32| -> MonthStatus {
        if m < wait_end {
            let ratio = params.at(region, m).waiting_benefit_ratio.as_f64();
            MonthStatus {
                benefit: Benefit::Waiting,
                benefit_ratio: ratio,
                reason: Reason::FirstWait,
                gap: None,
                readings: None,
            }
        } else {
            MonthStatus {
                benefit: Benefit::Active,
                benefit_ratio: 1.0,
                reason: Reason::Paid,
                gap: None,
                readings: None,
            }
        }
    };
    // The reading of one gap alone for month m ≥ its g1 (RULES.md §4 effects).
    let own_reading = |gi: usize, f: &MonthFacts| -> MonthStatus {
        let (m, g) = (f.period, &gaps[gi]);
        let p = params.at(f.region, m);
        let st = |benefit: Benefit, reason: Reason| MonthStatus {
            benefit,
            benefit_ratio: ratio_of(benefit, p),
            reason,
            gap: Some(gi),
            readings: None,
        };
        if m <= g.g2 {
            let reason = if f.paid() {
                Reason::GapBackpaid
            } else {
                Reason::GapUnpaid
            };
            return st(gap_month_benefit(g), reason);
        }
        match g.state {
            GapState::Pending => st(Benefit::Suspended, Reason::ArrearsDue),
            GapState::Bridged => match g.resume_on {
                Some(r) if r > m.last_day() => st(gap_month_benefit(g), Reason::AwaitingResume),
                _ => normal(m, f.region),
            },
            GapState::Break => {
                let r = g.restart.unwrap_or(g.g2.plus(1));
                let w = g.wait_months.unwrap_or(0);
                if m < r.plus(w) {
                    st(Benefit::Waiting, Reason::BreakWait)
                } else if m < r.plus(w + g.reduced_months) {
                    st(Benefit::Reduced, Reason::PostBreakReduced)
                } else {
                    normal(m, f.region)
                }
            }
        }
    };
    // A later gap overrides an earlier one from its g1 on (§9), except that a bridged
    // gap never makes a month better than the earlier gaps alone: the month takes the
    // worse of the two readings (on a tie, the later gap's). Applied down the chain of
    // bridged gaps, so "the earlier gaps alone" is itself such a reading.
    let status_under = |current: Option<usize>, f: &MonthFacts| -> MonthStatus {
        let Some(top) = current else {
            return normal(f.period, f.region);
        };
        let mut low = top;
        while low > 0 && gaps[low].state == GapState::Bridged {
            low -= 1;
        }
        let mut status = if gaps[low].state == GapState::Bridged {
            worse_of(own_reading(low, f), normal(f.period, f.region))
        } else {
            own_reading(low, f)
        };
        for gi in low + 1..=top {
            status = worse_of(own_reading(gi, f), status);
        }
        status
    };
    let mut statuses = Vec::with_capacity(n);
    let mut current: Option<usize> = None;
    for f in &months {
        let m = f.period;
        while current.map_or(0, |c| c + 1) < gaps.len()
            && gaps[current.map_or(0, |c| c + 1)].g1 <= m
        {
            current = Some(current.map_or(0, |c| c + 1));
        }
        statuses.push(status_under(current, f));
    }

    // 6. Person-level figures.
    let cumulative_months = months.iter().filter(|f| f.paid()).count() as i32;
    let latest_break = gaps.iter().rev().find(|g| g.state == GapState::Break);
    let continuous_months = match latest_break {
        Some(g) if g.open => 0,
        Some(g) => {
            let r = g.g2.plus(1);
            months.iter().filter(|f| f.period >= r && f.paid()).count() as i32
        }
        None => cumulative_months,
    };
    let continuity_at_risk = gaps.iter().any(|g| g.state == GapState::Pending);
    let arrears_months = gaps.iter().map(|g| g.owed_months).sum();
    let arrears_amount = Fen::sum(gaps.iter().map(|g| g.owed_amount));
    let late_fee_amount = Fen::sum(gaps.iter().map(|g| g.late_fee_amount));
    let last_base = months.last().map_or(Fen::ZERO, |f| f.base);
    let last = statuses[n - 1];
    let benefits_from = match last.reason {
        Reason::FirstWait => Some(wait_end.first_day()),
        Reason::AwaitingResume => last.gap.and_then(|g| gaps[g].resume_on),
        Reason::BreakWait => last.gap.and_then(|g| gaps[g].benefits_from),
        _ => None,
    };
    Some(EmployeeHistory {
        first_paid,
        first_wait_months,
        months,
        statuses,
        gaps,
        cumulative_months,
        continuous_months,
        continuity_at_risk,
        arrears_months,
        arrears_amount,
        late_fee_amount,
        last_base,
        benefits_from,
    })
}

fn ratio_of(benefit: Benefit, p: &Params) -> f64 {
    match benefit {
        Benefit::Active | Benefit::Restored => 1.0,
        Benefit::Waiting => p.waiting_benefit_ratio.as_f64(),
        Benefit::Reduced => p.post_break_benefit_ratio.as_f64(),
        Benefit::Suspended => 0.0,
    }
}

/// Gap months are `restored` when a bridged gap's scheme is retroactive, else `suspended`.
fn gap_month_benefit(g: &Gap) -> Benefit {
    if g.state == GapState::Bridged && g.retroactive {
        Benefit::Restored
    } else {
        Benefit::Suspended
    }
}

/// Decides payer, deadline and state of one gap (RULES.md §4) and its money (§7).
/// `after` is the month right after the gap (`r`), when it is inside the history.
fn judge_gap<P: ParamSource>(
    gm: &[MonthFacts],
    after: Option<&MonthFacts>,
    as_of: Month,
    k: Date,
    params: &P,
) -> Gap {
    let g1 = gm[0].period;
    let g2 = gm[gm.len() - 1].period;
    let len = gm.len() as i32;
    let open = after.is_none();
    debug_assert_eq!(open, g2 == as_of);
    let payer = if gm.iter().any(|f| f.institution_declared) {
        Payer::Employer
    } else {
        Payer::Individual
    };
    // Scheme and region of the gap: its own rows' (employee wins), else carried (§9).
    let own = gm.iter().filter(|f| f.has_rows);
    let scheme = if own.clone().any(|f| f.scheme == Scheme::Employee) {
        Scheme::Employee
    } else if own.clone().next().is_some() {
        Scheme::Flexible
    } else {
        gm[0].scheme
    };
    let region = gm.iter().find(|f| f.has_rows).unwrap_or(&gm[0]).region;
    let p = params.at(region, g1);
    let backpaid = gm.iter().all(MonthFacts::paid);
    let backpaid_on = if backpaid {
        gm.iter().filter_map(|f| f.paid_date).max()
    } else {
        None
    };
    let deadline = match payer {
        Payer::Employer => Some(g1.plus(p.employer_arrears_window_months - 1).last_day()),
        _ if len <= p.short_gap_max_months => Some(g2.plus(p.backpay_deadline_months).last_day()),
        _ => None,
    };
    let state = match (backpaid_on, deadline) {
        (Some(b), Some(d)) if b <= d => GapState::Bridged,
        (_, None) => GapState::Break,
        (_, Some(d)) if k > d => GapState::Break,
        _ => GapState::Pending,
    };
    let mut gap = Gap {
        g1,
        g2,
        open,
        payer,
        scheme,
        retroactive: p.retroactive(scheme),
        state,
        backpaid_on,
        deadline,
        resume_on: None,
        restart: None,
        wait_months: None,
        reduced_months: 0,
        benefits_from: None,
        backpay_amount: Fen::sum(gm.iter().map(|f| f.paid_sum)),
        late_fee_amount: Fen::ZERO,
        owed_months: 0,
        owed_amount: Fen::ZERO,
    };
    match state {
        GapState::Bridged => {
            let r = backpaid_on.map(|b| resume_date(p.resume(scheme), b));
            gap.resume_on = r;
            gap.benefits_from = r;
            gap.wait_months = Some(0);
        }
        GapState::Break => {
            // A closed break restarts at r = g2 + 1 (paid on time, so it has rows); the
            // wait W and the reduced months use the scheme and region of r (§9).
            // An open break has no r yet: wait and benefits_from stay unknown.
            if let Some(rf) = after {
                let r = rf.period;
                let rp = params.at(rf.region, r);
                let w = rp.break_wait_months(rf.scheme);
                gap.restart = Some(r);
                gap.wait_months = Some(w);
                gap.reduced_months = rp.post_break_reduced_months;
                gap.benefits_from = Some(r.plus(w).first_day());
            }
        }
        _ => {}
    }
    // Money: late fees on months paid late and on owed months; never on a break's
    // unpaid months (§7). Arrears: unpaid months of a pending gap.
    let mut fee = Fen::ZERO;
    for f in gm {
        let mp = params.at(f.region, f.period);
        let due = mp.due(f.period);
        let applies = if f.has_rows { f.fee_payer } else { true };
        let days = match f.paid_date {
            Some(d) => d.days_since(due),
            None if state == GapState::Pending => k.days_since(due),
            None => 0,
        };
        if applies {
            fee = fee.plus(late_fee(f.required, days, mp));
        }
        if f.paid_date.is_none() && state == GapState::Pending {
            gap.owed_months += 1;
            let owed = Fen::saturating((f.required.0 as i128 - f.paid_sum.0 as i128).max(0));
            gap.owed_amount = gap.owed_amount.plus(owed);
        }
    }
    gap.late_fee_amount = fee;
    gap
}
