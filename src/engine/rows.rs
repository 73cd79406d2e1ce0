//! The engine's view of one person's input: zero-copy slices of the sorted ledger
//! columns, plus the parameter source.

use crate::config::Params;
use crate::domain::{Date, Fen, Month, Payer, Scheme, SpecialGroup};
use crate::ledger::LedgerRows;

/// Where the engine gets parameters for a (region, month): a resolved rule set, or a
/// single [`Params`] in unit tests.
pub trait ParamSource: Sync {
    fn at(&self, region: u32, month: Month) -> &Params;
}

impl ParamSource for Params {
    fn at(&self, _region: u32, _month: Month) -> &Params {
        self
    }
}

impl ParamSource for crate::config::Resolver {
    fn at(&self, region: u32, month: Month) -> &Params {
        crate::config::Resolver::at(self, region, month)
    }
}

/// One person's ledger rows, sorted by (period, paid_on with declarations last,
/// input order) — the order in which RULES.md §3 adds payments up.
#[derive(Clone, Copy)]
pub struct PersonRows<'a> {
    pub period: &'a [Month],
    pub scheme: &'a [Scheme],
    pub payer: &'a [Payer],
    pub amount: &'a [Fen],
    pub base: &'a [Option<Fen>],
    pub paid_on: &'a [Option<Date>],
    pub region: &'a [u32],
    pub file: &'a [u32],
    pub line: &'a [u32],
}

impl<'a> PersonRows<'a> {
    pub fn slice(rows: &'a LedgerRows, range: std::ops::Range<usize>) -> PersonRows<'a> {
        PersonRows {
            period: &rows.period[range.clone()],
            scheme: &rows.scheme[range.clone()],
            payer: &rows.payer[range.clone()],
            amount: &rows.amount[range.clone()],
            base: &rows.base[range.clone()],
            paid_on: &rows.paid_on[range.clone()],
            region: &rows.region[range.clone()],
            file: &rows.file[range.clone()],
            line: &rows.line[range],
        }
    }
    pub fn len(&self) -> usize {
        self.period.len()
    }
    pub fn is_empty(&self) -> bool {
        self.period.is_empty()
    }
    /// A row exists for this run when it is a declaration or was paid by `K` (RULES.md §1).
    pub fn visible(&self, i: usize, k: Date) -> bool {
        self.paid_on[i].is_none_or(|d| d <= k)
    }
}

/// A special-group registry interval (RULES.md §6), dates inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupInterval {
    pub group: SpecialGroup,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
}

impl GroupInterval {
    /// Active in month `m` when the interval touches it.
    pub fn touches(&self, m: Month) -> bool {
        self.valid_from <= m.last_day() && self.valid_to.is_none_or(|t| t >= m.first_day())
    }
    pub fn covers_day(&self, d: Date) -> bool {
        self.valid_from <= d && self.valid_to.is_none_or(|t| t >= d)
    }
}

/// The highest-priority group active in month `m` (RULES.md §6 priority order).
pub fn group_in_month(groups: &[GroupInterval], m: Month) -> Option<SpecialGroup> {
    groups
        .iter()
        .filter(|g| g.touches(m))
        .map(|g| g.group)
        .min()
}

/// The highest-priority group active on day `d`.
pub fn group_on_day(groups: &[GroupInterval], d: Date) -> Option<SpecialGroup> {
    groups
        .iter()
        .filter(|g| g.covers_day(d))
        .map(|g| g.group)
        .min()
}
