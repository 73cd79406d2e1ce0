//! The resolved parameter set for one region and month: every number of RULES.md.
//!
//! The engine reads `params.short_gap_max_months`, never `3` (STYLE.md, OpenFisca).
//! Field names are exactly the rule-file keys (CONTRACT.md §3); a few RULES.md
//! parameters that differ per scheme are split into `_employee` / `_flexible` keys.
//! Rates are exact [`Rate`]s (billionths), money is [`Fen`].

use crate::domain::{Fen, Month, Rate, Scheme, SpecialGroup};

/// When benefits resume after a bridged gap (RULES.md §4 `resume(scheme)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// `R = B`
    PaymentDay,
    /// `R = B + 1 day`
    DayAfterPayment,
    /// `R` = first day of month(`B`) + 1
    NextMonth,
}

impl Resume {
    pub fn parse(s: &str) -> Option<Resume> {
        match s {
            "payment_day" => Some(Resume::PaymentDay),
            "day_after_payment" => Some(Resume::DayAfterPayment),
            "next_month" => Some(Resume::NextMonth),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Resume::PaymentDay => "payment_day",
            Resume::DayAfterPayment => "day_after_payment",
            Resume::NextMonth => "next_month",
        }
    }
}

/// A `MM-DD` day of the year (resident window, grace date).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

/// Every parameter of RULES.md, resolved for one (region, month).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    // §3 paid months
    pub employee_rate: Rate,
    pub flexible_rate: Rate,
    pub due_lag_months: i32,
    // §4 gaps, back-payment, waiting
    pub short_gap_max_months: i32,
    pub employer_arrears_window_months: i32,
    pub backpay_deadline_months: i32,
    pub resume_employee: Resume,
    pub resume_flexible: Resume,
    pub retroactive_employee: bool,
    pub retroactive_flexible: bool,
    pub break_wait_months_employee: i32,
    pub break_wait_months_flexible: i32,
    pub waiting_benefit_ratio: Rate,
    pub post_break_reduced_months: i32,
    pub post_break_benefit_ratio: Rate,
    pub first_enrolment_wait_months_employee: i32,
    pub first_enrolment_wait_months_flexible: i32,
    // §5 resident scheme
    pub resident_contribution: Fen,
    pub resident_window_open: MonthDay,
    pub resident_window_close: MonthDay,
    pub resident_grace_until: Option<MonthDay>,
    pub switch_gap_max_months: i32,
    pub resident_wait_from: i32,
    pub break_years_count_from: i32,
    pub newborn_window_days: i32,
    pub resident_fixed_wait_months: i32,
    pub variable_free_break_years: i32,
    pub repair_floor_break_years: i32,
    pub repair_floor_months: i32,
    pub incentive_after_years: i32,
    pub incentive_step: Fen,
    pub incentive_cap_ratio: Rate,
    pub catastrophic_cap: Fen,
    // §6 special groups, in SpecialGroup::ALL order
    pub subsidy_ratio: [Rate; 6],
    pub exempt_groups: [bool; 6],
    // §7 money and retirement
    pub late_fee_daily_rate: Rate,
    pub late_fee_cap_at_principal: bool,
    pub retirement_min_months_male: i32,
    pub retirement_min_months_female: i32,
    pub lump_sum_rate: Rate,
    // Plausibility bounds of ledger rows (national `*` blocks only; see rules.rs)
    /// Periods and `paid_on` dates before this month are typos (`BAD_PERIOD`/`BAD_DATE`).
    pub min_period: Month,
    /// Periods and `paid_on` months more than this many months after the reference
    /// month (the given `as_of`, or the latest consistent `paid_on`) are typos.
    pub max_months_ahead: i32,
    /// `amount` and `base` above this are `BAD_AMOUNT` (the money ceiling).
    pub max_amount: Fen,
}

impl Params {
    pub fn rate(&self, scheme: Scheme) -> Rate {
        match scheme {
            Scheme::Flexible => self.flexible_rate,
            _ => self.employee_rate,
        }
    }
    pub fn resume(&self, scheme: Scheme) -> Resume {
        match scheme {
            Scheme::Flexible => self.resume_flexible,
            _ => self.resume_employee,
        }
    }
    pub fn retroactive(&self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::Flexible => self.retroactive_flexible,
            _ => self.retroactive_employee,
        }
    }
    pub fn break_wait_months(&self, scheme: Scheme) -> i32 {
        match scheme {
            Scheme::Flexible => self.break_wait_months_flexible,
            _ => self.break_wait_months_employee,
        }
    }
    pub fn first_enrolment_wait_months(&self, scheme: Scheme) -> i32 {
        match scheme {
            Scheme::Flexible => self.first_enrolment_wait_months_flexible,
            _ => self.first_enrolment_wait_months_employee,
        }
    }
    pub fn subsidy_ratio(&self, g: SpecialGroup) -> Rate {
        self.subsidy_ratio[g as usize]
    }
    pub fn is_exempt(&self, g: SpecialGroup) -> bool {
        self.exempt_groups[g as usize]
    }
    /// `due(m)` = last day of month `m + due_lag_months` (RULES.md §3).
    pub fn due(&self, m: Month) -> crate::domain::Date {
        m.plus(self.due_lag_months).last_day()
    }

    /// The national defaults of RULES.md as of 2025 — the `*` blocks of the shipped
    /// `pipelines/rules/national.toml` ([`crate::config::RuleSet::national`]), the only
    /// place they are written — for unit tests of the engine and default bounds.
    pub fn national_defaults() -> Params {
        crate::config::RuleSet::national().params(0, Month::new(2025, 6))
    }
}
