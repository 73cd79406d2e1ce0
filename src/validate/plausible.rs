//! Plausibility of ledger rows that passed the field checks: the bounds of the rule
//! file (`min_period`, `max_months_ahead`, `max_amount`, national `*` blocks only) and
//! the birth date in the ID.
//!
//! Two steps, because one bound needs the whole ledger:
//!
//! 1. [`Plausibility::check_row`], each row alone: period and `paid_on` not before
//!    `min_period`, the birth date in `person_id` not after `paid_on` (declared rows:
//!    not after the period's month end), `amount` and `base` not above `max_amount`.
//! 2. [`Plausibility::check_ahead`], against the *reference month*: a period or a
//!    `paid_on` month more than `max_months_ahead` months after it is a typo. The
//!    reference is the latest `paid_on` month of a row that passed step 1 and was paid
//!    within `max_months_ahead` months of its own period
//!    ([`Plausibility::reference_of`]); only a ledger without such a row takes the
//!    given `--as-of`. It never comes from the default `as_of`, which is chosen from
//!    the rows this step accepts; one typo in a `paid_on` (paid 180 years after its
//!    period) cannot move it; and with payments in the ledger the rows accepted do
//!    not depend on `--as-of` (a backfill month equals a run as of that month). A
//!    month up to a given `--as-of` is never ahead, so a rejected row always lies
//!    beyond `as_of` or is paid after `K`: it cannot change anyone's results.

use super::{Fault, fault};
use crate::config::RuleSet;
use crate::domain::{Date, Fen, Month, RejectType};
use crate::id::PersonId;
use std::collections::BTreeSet;

/// The bounds in force for one period.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bounds {
    min_period: Month,
    max_months_ahead: i32,
    max_amount: Fen,
}

/// The rule file's bounds and the `--as-of` given on the command line, if any.
#[derive(Clone, Debug)]
pub struct Plausibility {
    /// (effective_from, bounds) of the national blocks, ascending.
    timeline: Vec<(Month, Bounds)>,
    as_of: Option<Month>,
}

/// The month the upper bound counts from, and whether it is the given `--as-of`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reference {
    pub month: Month,
    pub given: bool,
}

/// What step 1 saw of the rows it passed: the latest reference month they offer
/// ([`Plausibility::reference_of`]) and their (period, `paid_on` month) pairs, which
/// are all that step 2 looks at — so step 2 can tell from the pairs alone whether any
/// row would fail it ([`Plausibility::any_ahead`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Passed {
    pub(super) latest: Option<Month>,
    pub(super) months: BTreeSet<(Month, Option<Month>)>,
    /// The pair added last: rows of a file mostly share their months, so the set is
    /// only touched when the pair changes.
    last: Option<(Month, Option<Month>)>,
}

impl Passed {
    /// A row that passed [`Plausibility::check_row`].
    pub(super) fn add(&mut self, p: &Plausibility, r: &Row) {
        self.latest = self.latest.max(p.reference_of(r));
        let pair = (r.period, r.paid_on.map(|d| d.month()));
        if self.last != Some(pair) {
            self.months.insert(pair);
            self.last = Some(pair);
        }
    }

    pub(super) fn merge(&mut self, other: Passed) {
        self.latest = self.latest.max(other.latest);
        self.months.extend(other.months);
    }
}

/// The fields of a ledger row the bounds look at.
#[derive(Clone, Copy, Debug)]
pub(super) struct Row {
    pub person: PersonId,
    pub period: Month,
    pub amount: Fen,
    pub base: Option<Fen>,
    pub paid_on: Option<Date>,
}

impl Default for Plausibility {
    /// The national defaults of RULES.md (`Params::national_defaults`), no `--as-of`.
    fn default() -> Plausibility {
        let p = crate::config::Params::national_defaults();
        Plausibility {
            timeline: vec![(
                Month::new(1, 1),
                Bounds {
                    min_period: p.min_period,
                    max_months_ahead: p.max_months_ahead,
                    max_amount: p.max_amount,
                },
            )],
            as_of: None,
        }
    }
}

impl Plausibility {
    /// The bounds of `rules`' national blocks; `as_of` is the month given with
    /// `--as-of` (backfill: `--to`).
    pub fn new(rules: &RuleSet, as_of: Option<Month>) -> Plausibility {
        let timeline = rules
            .national_timeline()
            .into_iter()
            .map(|(m, p)| {
                (
                    m,
                    Bounds {
                        min_period: p.min_period,
                        max_months_ahead: p.max_months_ahead,
                        max_amount: p.max_amount,
                    },
                )
            })
            .collect();
        Plausibility { timeline, as_of }
    }

    /// These bounds with `as_of` as the given month.
    pub fn with_as_of(mut self, as_of: Option<Month>) -> Plausibility {
        self.as_of = as_of;
        self
    }

    fn at(&self, period: Month) -> Bounds {
        let i = self
            .timeline
            .partition_point(|(from, _)| *from <= period)
            .max(1)
            - 1;
        self.timeline.get(i).map_or(
            Bounds {
                min_period: Month::new(1, 1),
                max_months_ahead: i32::MAX,
                max_amount: Fen::MAX,
            },
            |t| t.1,
        )
    }

    /// Step 1: the bounds a row can be checked against alone.
    pub(super) fn check_row(&self, r: &Row) -> Result<(), Fault> {
        let b = self.at(r.period);
        if r.period < b.min_period {
            return Err(fault(
                "period",
                RejectType::BadPeriod,
                format!(
                    "period {} is outside the plausible range: before min_period {}",
                    r.period, b.min_period
                ),
            ));
        }
        if let Some(d) = r.paid_on.filter(|d| *d < b.min_period.first_day()) {
            return Err(fault(
                "paid_on",
                RejectType::BadDate,
                format!(
                    "paid_on {d} is outside the plausible range: before min_period {}",
                    b.min_period
                ),
            ));
        }
        let birth = r.person.birth_date();
        let limit = r.paid_on.unwrap_or_else(|| r.period.last_day());
        if birth > limit {
            // The message is made only for a rejected row (formatting it for every
            // row cost 3 % of a whole run).
            let what = match r.paid_on {
                Some(d) => format!("paid_on {d}"),
                None => format!("the end of period {} (a declared row)", r.period),
            };
            return Err(fault(
                "person_id",
                RejectType::BadPersonId,
                format!("the birth date in person_id, {birth}, is after {what}"),
            ));
        }
        for (column, v) in [("amount", Some(r.amount)), ("base", r.base)] {
            if let Some(v) = v.filter(|v| *v > b.max_amount) {
                return Err(fault(
                    column,
                    RejectType::BadAmount,
                    format!(
                        "{column} {v} is above the ceiling max_amount {}",
                        b.max_amount
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The month a row that passed [`Plausibility::check_row`] offers as the
    /// reference: its `paid_on` month, when that is within `max_months_ahead` months
    /// of its period (either way).
    pub(super) fn reference_of(&self, r: &Row) -> Option<Month> {
        let ahead = self.at(r.period).max_months_ahead as i64;
        let paid = r.paid_on?.month();
        ((paid.0 as i64 - r.period.0 as i64).abs() <= ahead).then_some(paid)
    }

    /// The reference month: the latest offered month, else the given `--as-of`;
    /// `None` (no upper bound) when there is neither.
    pub fn reference(&self, latest_offered: Option<Month>) -> Option<Reference> {
        match latest_offered {
            Some(month) => Some(Reference {
                month,
                given: false,
            }),
            None => self.as_of.map(|month| Reference { month, given: true }),
        }
    }

    /// Whether a row of this (period, `paid_on` month) passes step 2
    /// ([`Plausibility::check_ahead`], which looks at nothing else of a row).
    pub(super) fn pair_passes(
        &self,
        reference: Option<Reference>,
        (period, paid): (Month, Option<Month>),
    ) -> bool {
        let row = Row {
            person: PersonId(0),
            period,
            amount: Fen::ZERO,
            base: None,
            paid_on: paid.map(Month::first_day),
        };
        self.check_ahead(reference, &row).is_ok()
    }

    /// Whether some row of these (period, `paid_on` month) pairs fails step 2: when
    /// none does, the pass over the rows is skipped.
    pub(super) fn any_ahead(
        &self,
        reference: Option<Reference>,
        months: &BTreeSet<(Month, Option<Month>)>,
    ) -> bool {
        months
            .iter()
            .any(|&pair| !self.pair_passes(reference, pair))
    }

    /// Step 2: period and `paid_on` not more than `max_months_ahead` months after the
    /// reference month.
    pub(super) fn check_ahead(&self, reference: Option<Reference>, r: &Row) -> Result<(), Fault> {
        let Some(Reference {
            month: reference,
            given,
        }) = reference
        else {
            return Ok(());
        };
        let ahead = self.at(r.period).max_months_ahead;
        // A month up to a given --as-of is never "ahead": the run was asked about it.
        let limit =
            (reference.0 as i64 + ahead as i64).max(self.as_of.map_or(i64::MIN, |a| a.0 as i64));
        let from = || {
            if given {
                "the --as-of month".to_string()
            } else {
                format!(
                    "the latest paid_on month of a row paid within {ahead} months of its period"
                )
            }
        };
        if r.period.0 as i64 > limit {
            return Err(fault(
                "period",
                RejectType::BadPeriod,
                format!(
                    "period {} is outside the plausible range: more than {ahead} months (max_months_ahead) after {reference}, {}",
                    r.period,
                    from()
                ),
            ));
        }
        if let Some(d) = r.paid_on.filter(|d| d.month().0 as i64 > limit) {
            return Err(fault(
                "paid_on",
                RejectType::BadDate,
                format!(
                    "paid_on {d} is outside the plausible range: more than {ahead} months (max_months_ahead) after {reference}, {}",
                    from()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Step 2 is skipped only when no (period, paid_on month) pair fails it: the pairs
    /// decide exactly as the rows would.
    #[test]
    fn any_ahead_decides_as_the_rows_would() {
        let p = Plausibility::default();
        let reference = p.reference(Some(Month::new(2025, 2)));
        let pairs = |v: &[(Month, Option<Month>)]| v.iter().copied().collect::<BTreeSet<_>>();
        let within = (Month::new(2027, 2), Some(Month::new(2027, 2)));
        assert!(!p.any_ahead(reference, &pairs(&[within])));
        assert!(p.any_ahead(reference, &pairs(&[within, (Month::new(2027, 3), None)])));
        assert!(p.any_ahead(
            reference,
            &pairs(&[(Month::new(2025, 1), Some(Month::new(2027, 3)))])
        ));
        // A month up to a given --as-of is never ahead.
        let given = p.clone().with_as_of(Some(Month::new(2030, 1)));
        assert!(!given.any_ahead(reference, &pairs(&[(Month::new(2030, 1), None)])));
        // No reference month: no upper bound.
        assert!(!p.any_ahead(None, &pairs(&[(Month::new(9999, 12), None)])));
    }
}
