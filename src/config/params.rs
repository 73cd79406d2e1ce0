//! The resolved parameter set for one region and month: every number of RULES.md.
//!
//! The engine reads `params.short_gap_max_months`, never `3` (STYLE.md, OpenFisca).
//! Field names are exactly the rule-file keys (CONTRACT.md §3); a few RULES.md
//! parameters that differ per scheme are split into `_employee` / `_flexible` keys.
//! Rates are exact [`Rate`]s (billionths), money is [`Fen`].
//!
//! Every parameter is declared once, in the [`params!`] table below: its RULES.md
//! section, its key, its Rust type (which fixes how a rule file writes it, [`Kind`]).
//! The table generates the [`Params`] struct, the key list [`PARAMETERS`] (the order
//! `explain` lists them, the keys a rule file may set, the keys the earliest `*` block
//! must set) and the builder [`Params::build`]. Adding a parameter is one line here
//! and its national value in `pipelines/rules/national.toml` (docs/decisions.md).

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

/// How a rule file writes a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A fraction in `[0, 1]` (TOML float or integer).
    Rate,
    /// A non-negative integer up to 9999 (months, days, years).
    Int,
    Bool,
    /// Yuan with ≤ 2 places (TOML string `"400.00"` or number).
    Money,
    /// `payment_day | day_after_payment | next_month`.
    Resume,
    /// `["MM-DD", "MM-DD"]`.
    Window,
    /// `"MM-DD"` or `"none"`.
    OptionalDay,
    /// A list of special-group names.
    Groups,
    /// A month `"YYYY-MM"`.
    Month,
}

/// A parsed parameter value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Rate(Rate),
    Int(i32),
    Bool(bool),
    Money(Fen),
    Resume(Resume),
    Window(MonthDay, MonthDay),
    OptionalDay(Option<MonthDay>),
    Groups([bool; 6]),
    Month(Month),
}

/// The Rust type of a parameter: its [`Kind`] in a rule file and its value.
pub(crate) trait ParamType: Sized {
    const KIND: Kind;
    /// The value; a value of another kind (which parsing never lets through) gives a
    /// neutral default.
    fn from_value(v: &Value) -> Self;
}

macro_rules! param_type {
    ($ty:ty, $kind:ident, |$v:ident| $get:expr, $default:expr) => {
        impl ParamType for $ty {
            const KIND: Kind = Kind::$kind;
            fn from_value(v: &Value) -> Self {
                match v {
                    Value::$kind($v) => $get,
                    _ => $default,
                }
            }
        }
    };
}
param_type!(Rate, Rate, |r| *r, Rate(0));
param_type!(i32, Int, |i| *i, 0);
param_type!(bool, Bool, |b| *b, false);
param_type!(Fen, Money, |f| *f, Fen::ZERO);
param_type!(Resume, Resume, |r| *r, Resume::DayAfterPayment);
param_type!(Option<MonthDay>, OptionalDay, |d| *d, None);
param_type!([bool; 6], Groups, |g| *g, [false; 6]);
param_type!(Month, Month, |m| *m, Month::new(1, 1));
impl ParamType for (MonthDay, MonthDay) {
    const KIND: Kind = Kind::Window;
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Window(a, b) => (*a, *b),
            _ => (
                MonthDay { month: 9, day: 1 },
                MonthDay { month: 12, day: 31 },
            ),
        }
    }
}

/// One rule-file key of the table.
#[derive(Clone, Copy, Debug)]
pub struct Parameter {
    pub key: &'static str,
    pub kind: Kind,
    /// Where RULES.md defines it (`"input"`: a plausibility bound of ledger rows).
    pub section: &'static str,
    /// Only the national (`"*"`) blocks may set it.
    pub national_only: bool,
}

macro_rules! national_only {
    () => {
        false
    };
    (national_only) => {
        true
    };
}

/// The table of parameters: a tt-muncher that collects, per entry, the struct fields,
/// the [`Parameter`]s and the builder's field values, then emits all three. Entries:
///
/// - `"§3" key: Type,` — one key, one field of that name;
/// - `"input" key: Type [national_only],` — the same, settable by `*` blocks only;
/// - `"§5" key => (a: A, b: B),` — one key whose value (of type `(A, B)`) fills two fields;
/// - `"§6" key.{x, y}: Type,` — one key `key.x` per name, one array field `key`.
macro_rules! params {
    (@ $get:ident [$($field:tt)*] [$($param:tt)*] [$($build:tt)*]) => {
        /// Every parameter of RULES.md, resolved for one (region, month).
        #[derive(Clone, Debug, PartialEq)]
        pub struct Params { $($field)* }

        /// Every rule-file key with its kind, in the order `explain` lists them.
        pub const PARAMETERS: &[Parameter] = &[$($param)*];

        impl Params {
            /// The parameters from a lookup that gives each key's value.
            pub(crate) fn build($get: &dyn Fn(&str) -> Value) -> Params {
                Params { $($build)* }
            }
        }
    };
    (@ $get:ident [$($field:tt)*] [$($param:tt)*] [$($build:tt)*]
        $(#[$m:meta])* $sec:literal $key:ident => ($a:ident: $ta:ty, $b:ident: $tb:ty), $($rest:tt)*) => {
        params!(@ $get [$($field)* $(#[$m])* pub $a: $ta, pub $b: $tb,]
            [$($param)* Parameter {
                key: stringify!($key),
                kind: <($ta, $tb) as ParamType>::KIND,
                section: $sec,
                national_only: false,
            },]
            [$($build)*
                $a: <($ta, $tb) as ParamType>::from_value(&$get(stringify!($key))).0,
                $b: <($ta, $tb) as ParamType>::from_value(&$get(stringify!($key))).1,]
            $($rest)*);
    };
    (@ $get:ident [$($field:tt)*] [$($param:tt)*] [$($build:tt)*]
        $(#[$m:meta])* $sec:literal $key:ident . { $($g:ident),+ }: $ty:ty, $($rest:tt)*) => {
        params!(@ $get [$($field)* $(#[$m])* pub $key: [$ty; [$(stringify!($g)),+].len()],]
            [$($param)* $(Parameter {
                key: concat!(stringify!($key), ".", stringify!($g)),
                kind: <$ty as ParamType>::KIND,
                section: $sec,
                national_only: false,
            },)+]
            [$($build)* $key: [$(<$ty as ParamType>::from_value(
                &$get(concat!(stringify!($key), ".", stringify!($g))))),+],]
            $($rest)*);
    };
    (@ $get:ident [$($field:tt)*] [$($param:tt)*] [$($build:tt)*]
        $(#[$m:meta])* $sec:literal $key:ident: $ty:ty $([$flag:ident])?, $($rest:tt)*) => {
        params!(@ $get [$($field)* $(#[$m])* pub $key: $ty,]
            [$($param)* Parameter {
                key: stringify!($key),
                kind: <$ty as ParamType>::KIND,
                section: $sec,
                national_only: national_only!($($flag)?),
            },]
            [$($build)* $key: <$ty as ParamType>::from_value(&$get(stringify!($key))),]
            $($rest)*);
    };
    ($($entries:tt)*) => { params!(@ get [] [] [] $($entries)*); };
}

params! {
    "§3" employee_rate: Rate,
    "§3" flexible_rate: Rate,
    "§3" due_lag_months: i32,
    "§4" short_gap_max_months: i32,
    "§4" employer_arrears_window_months: i32,
    "§4" backpay_deadline_months: i32,
    "§4" resume_employee: Resume,
    "§4" resume_flexible: Resume,
    "§4" retroactive_employee: bool,
    "§4" retroactive_flexible: bool,
    "§4" break_wait_months_employee: i32,
    "§4" break_wait_months_flexible: i32,
    "§4" waiting_benefit_ratio: Rate,
    "§4" post_break_reduced_months: i32,
    "§4" post_break_benefit_ratio: Rate,
    "§4" first_enrolment_wait_months_employee: i32,
    "§4" first_enrolment_wait_months_flexible: i32,
    "§5" resident_contribution: Fen,
    "§5" resident_window => (resident_window_open: MonthDay, resident_window_close: MonthDay),
    "§5" resident_grace_until: Option<MonthDay>,
    "§5" switch_gap_max_months: i32,
    "§5" resident_wait_from: i32,
    "§5" break_years_count_from: i32,
    "§5" newborn_window_days: i32,
    "§5" resident_fixed_wait_months: i32,
    "§5" variable_free_break_years: i32,
    "§5" repair_floor_break_years: i32,
    "§5" repair_floor_months: i32,
    "§5" incentive_after_years: i32,
    "§5" incentive_step: Fen,
    "§5" incentive_cap_ratio: Rate,
    "§5" catastrophic_cap: Fen,
    /// In [`SpecialGroup::ALL`] order (a test checks the names).
    "§6" subsidy_ratio.{tekun, orphan, dibao, disabled_severe, rescued_poor, low_income}: Rate,
    /// In [`SpecialGroup::ALL`] order.
    "§6" exempt_groups: [bool; 6],
    "§7" late_fee_daily_rate: Rate,
    "§7" late_fee_cap_at_principal: bool,
    "§7" retirement_min_months_male: i32,
    "§7" retirement_min_months_female: i32,
    "§7" lump_sum_rate: Rate,
    // Plausibility bounds of ledger rows: input checks, not policy, so only the
    // national (`"*"`) blocks set them (see rules.rs).
    /// Periods and `paid_on` dates before this month are typos (`BAD_PERIOD`/`BAD_DATE`).
    "input" min_period: Month [national_only],
    /// Periods and `paid_on` months more than this many months after the reference
    /// month (the given `as_of`, or the latest consistent `paid_on`) are typos.
    "input" max_months_ahead: i32 [national_only],
    /// `amount` and `base` above this are `BAD_AMOUNT` (the money ceiling).
    "input" max_amount: Fen [national_only],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rules::NATIONAL_RULES;

    /// The table is the one list: national.toml's first `*` block sets exactly its
    /// keys, `Params` has a field for each, and the rule parser knows only these keys.
    #[test]
    fn the_parameter_table_drives_struct_keys_builder_and_parser() {
        let doc: toml::Table = toml::from_str(NATIONAL_RULES).unwrap();
        let first = doc["params"].as_array().unwrap()[0].as_table().unwrap();
        let mut in_file: Vec<String> = Vec::new();
        for (k, v) in first {
            match (k.as_str(), v) {
                ("region" | "effective_from" | "reference", _) => {}
                (k, toml::Value::Table(t)) => in_file.extend(t.keys().map(|g| format!("{k}.{g}"))),
                (k, _) => in_file.push(k.to_string()),
            }
        }
        in_file.sort();
        let mut declared: Vec<String> = PARAMETERS.iter().map(|p| p.key.to_string()).collect();
        declared.sort();
        assert_eq!(in_file, declared);
        assert_eq!(PARAMETERS.len(), 47);

        // Every key reaches a field of `Params` (the builder fills it from the file).
        let p = Params::national_defaults();
        let debug = format!("{p:?}");
        for k in &declared {
            let field = k.split('.').next().unwrap();
            assert!(debug.contains(field), "{k} not in {debug}");
        }
        assert_eq!(p.max_amount, Fen(9_999_999_999));
        assert_eq!(p.resident_window_close, MonthDay { month: 12, day: 31 });
        assert_eq!(p.subsidy_ratio(SpecialGroup::Dibao), Rate::from_f64(0.9));
        assert_eq!(
            p.subsidy_ratio(SpecialGroup::LowIncome),
            Rate::from_f64(0.5)
        );

        // The per-group keys follow SpecialGroup::ALL (the array index of the field).
        let groups: Vec<&str> = PARAMETERS
            .iter()
            .filter_map(|p| p.key.strip_prefix("subsidy_ratio."))
            .collect();
        let all: Vec<&str> = SpecialGroup::ALL.iter().map(|g| g.as_str()).collect();
        assert_eq!(groups, all);
        let national_only: Vec<&str> = PARAMETERS
            .iter()
            .filter(|p| p.national_only)
            .map(|p| p.key)
            .collect();
        assert_eq!(
            national_only,
            ["min_period", "max_months_ahead", "max_amount"]
        );
        assert_eq!(
            PARAMETERS
                .iter()
                .find(|p| p.key == "resident_window")
                .map(|p| (p.kind, p.section)),
            Some((Kind::Window, "§5"))
        );

        // A key outside the table is refused, naming file, block and key.
        let text = format!(
            "{NATIONAL_RULES}\n[[params]]\nregion = \"37\"\neffective_from = \"2025-01\"\nresident_window_open = \"09-01\"\n"
        );
        let e = crate::config::RuleSet::parse(std::path::Path::new("n.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("n.toml: [[params]] #")
                && e.contains("(region 37, effective_from 2025-01): key `resident_window_open`: unknown parameter"),
            "{e}"
        );
    }
}
