//! The columns of each output table for one chunk of rows (CONTRACT §4 types).

use super::KeyMode;
use super::keys::{RowKeys, picked};
use crate::domain::{Code, Date, Fen, Month};
use crate::engine::{FindingRow, GapRow, MonthRow, StatusRow};
use crate::error::Result;
use crate::ledger::Reject;
use polars::prelude::*;

impl RowKeys {
    /// Adds the `person_key` column of the rows `sel` (whose keys come in runs).
    fn push(&self, c: &mut Cols, sel: &[IdxSize]) -> Result<()> {
        let mut distinct: Vec<Option<&str>> = Vec::new();
        let mut last = None;
        let idx = sel
            .iter()
            .map(|&i| {
                let k = self.of_row[i as usize];
                if last != Some(k) {
                    distinct.push(Some(self.distinct[k as usize].as_str()));
                    last = Some(k);
                }
                distinct.len() as IdxSize - 1
            })
            .collect();
        c.labels("person_key", &distinct, idx)
    }
}

/// Column builder for one chunk of a table.
struct Cols {
    n: usize,
    cols: Vec<Column>,
}

impl Cols {
    fn new(n: usize) -> Self {
        Cols {
            n,
            cols: Vec::new(),
        }
    }
    /// A column of a type polars builds directly (strings, flags, ints, doubles).
    fn plain<T, P: ?Sized>(&mut self, name: &str, v: Vec<T>)
    where
        Series: NamedFrom<Vec<T>, P>,
    {
        self.cols.push(Series::new(name.into(), v).into_column());
    }
    /// A string column of repeating values (codes, regions, person keys): the distinct
    /// values are built once and each row gathers its value by index. Building ten
    /// million strings one by one costs about a second per column; the gather, a few
    /// milliseconds.
    fn labels(&mut self, name: &str, distinct: &[Option<&str>], idx: Vec<IdxSize>) -> Result<()> {
        let values = StringChunked::from_iter_options(name.into(), distinct.iter().copied());
        let column = values.take(idx.as_slice())?;
        self.cols.push(column.into_series().into_column());
        Ok(())
    }
    /// A column of CONTRACT codes (null where `None`).
    fn code<E: Code>(&mut self, name: &str, v: impl Iterator<Item = Option<E>>) -> Result<()> {
        let mut distinct: Vec<Option<&str>> = E::ALL.iter().map(|e| Some(e.code())).collect();
        distinct.push(None);
        let null = E::ALL.len() as IdxSize;
        let idx = v
            .map(|e| e.map_or(null, |e| e.index() as IdxSize))
            .collect();
        self.labels(name, &distinct, idx)
    }
    fn date(&mut self, name: &str, v: Vec<Option<Date>>) {
        let ca =
            Int32Chunked::from_iter_options(name.into(), v.into_iter().map(|d| d.map(|d| d.0)));
        self.cols.push(ca.into_date().into_column());
    }
    fn month(&mut self, name: &str, v: Vec<Option<Month>>) {
        self.date(
            name,
            v.into_iter().map(|m| m.map(Month::first_day)).collect(),
        );
    }
    fn money(&mut self, name: &str, v: Vec<Option<Fen>>) -> Result<()> {
        let ca = Int128Chunked::from_iter_options(
            name.into(),
            // Saturated: a DECIMAL(18,2) holds at most Fen::MAX.
            v.into_iter()
                .map(|f| f.map(|f| Fen::saturating(f.0 as i128).0 as i128)),
        );
        self.cols.push(ca.into_decimal(18, 2)?.into_column());
        Ok(())
    }
    fn finish(self) -> Result<DataFrame> {
        Ok(DataFrame::new(self.n, self.cols)?)
    }
}

/// The `region` column: each region's 6-digit code formatted once.
fn regions(c: &mut Cols, regions: impl Iterator<Item = u32> + Clone) -> Result<()> {
    let codes: Vec<u32> = regions
        .clone()
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .collect();
    let names: Vec<String> = codes.iter().map(|r| format!("{r:06}")).collect();
    let distinct: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
    let idx = regions
        .map(|r| codes.binary_search(&r).unwrap_or_default() as IdxSize)
        .collect();
    c.labels("region", &distinct, idx)
}

pub(super) fn person_month(all: &[MonthRow], sel: &[IdxSize], keys: &RowKeys) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.month("period", rows.iter().map(|r| Some(r.period)).collect());
    c.code("scheme", rows.iter().map(|r| Some(r.scheme)))?;
    regions(&mut c, rows.iter().map(|r| r.region))?;
    c.plain("paid", rows.iter().map(|r| r.paid).collect());
    c.date("paid_on", rows.iter().map(|r| r.paid_on).collect());
    c.plain("on_time", rows.iter().map(|r| r.on_time).collect());
    c.code("special_group", rows.iter().map(|r| r.special_group))?;
    c.code("benefit", rows.iter().map(|r| Some(r.benefit)))?;
    c.plain(
        "benefit_ratio",
        rows.iter().map(|r| r.benefit_ratio).collect(),
    );
    c.code("reason", rows.iter().map(|r| Some(r.reason)))?;
    c.plain("gap_id", rows.iter().map(|r| r.gap_id).collect());
    c.finish()
}

pub(super) fn person_status(
    all: &[StatusRow],
    sel: &[IdxSize],
    keys: &RowKeys,
    rules_sha256: &str,
) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.code("gender", rows.iter().map(|r| Some(r.gender)))?;
    c.date(
        "birth_date",
        rows.iter().map(|r| Some(r.birth_date)).collect(),
    );
    regions(&mut c, rows.iter().map(|r| r.region))?;
    c.code("scheme", rows.iter().map(|r| Some(r.scheme)))?;
    c.code("special_group", rows.iter().map(|r| r.special_group))?;
    c.code("benefit", rows.iter().map(|r| Some(r.benefit)))?;
    c.plain(
        "benefit_ratio",
        rows.iter().map(|r| r.benefit_ratio).collect(),
    );
    c.date(
        "benefits_from",
        rows.iter().map(|r| r.benefits_from).collect(),
    );
    c.month(
        "first_period",
        rows.iter().map(|r| Some(r.first_period)).collect(),
    );
    c.month(
        "last_paid_period",
        rows.iter().map(|r| r.last_paid_period).collect(),
    );
    c.plain(
        "cumulative_months",
        rows.iter().map(|r| r.cumulative_months).collect(),
    );
    c.plain(
        "continuous_months",
        rows.iter().map(|r| r.continuous_months).collect(),
    );
    c.plain(
        "continuity_at_risk",
        rows.iter().map(|r| r.continuity_at_risk).collect(),
    );
    c.plain("gap_count", rows.iter().map(|r| r.gap_count).collect());
    c.plain(
        "open_gap_months",
        rows.iter().map(|r| r.open_gap_months).collect(),
    );
    c.plain(
        "longest_gap_months",
        rows.iter().map(|r| r.longest_gap_months).collect(),
    );
    c.plain(
        "arrears_months",
        rows.iter().map(|r| r.arrears_months).collect(),
    );
    c.money(
        "arrears_amount",
        rows.iter().map(|r| Some(r.arrears_amount)).collect(),
    )?;
    c.money(
        "late_fee_amount",
        rows.iter().map(|r| Some(r.late_fee_amount)).collect(),
    )?;
    c.plain(
        "retirement_min_months",
        rows.iter().map(|r| r.retirement_min_months).collect(),
    );
    c.plain(
        "months_short",
        rows.iter().map(|r| r.months_short).collect(),
    );
    c.money(
        "lump_sum_estimate",
        rows.iter().map(|r| r.lump_sum_estimate).collect(),
    )?;
    c.plain(
        "resident_continuous_years",
        rows.iter().map(|r| r.resident_continuous_years).collect(),
    );
    c.money(
        "incentive_raise",
        rows.iter().map(|r| Some(r.incentive_raise)).collect(),
    )?;
    c.plain("rules_sha256", vec![rules_sha256.to_string(); rows.len()]);
    c.finish()
}

pub(super) fn gaps(all: &[GapRow], sel: &[IdxSize], keys: &RowKeys) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.plain("gap_id", rows.iter().map(|r| r.gap_id).collect());
    c.code("kind", rows.iter().map(|r| Some(r.kind)))?;
    c.date(
        "gap_start",
        rows.iter().map(|r| Some(r.gap_start)).collect(),
    );
    c.date("gap_end", rows.iter().map(|r| Some(r.gap_end)).collect());
    c.plain("months", rows.iter().map(|r| r.months).collect());
    c.plain("open", rows.iter().map(|r| r.open).collect());
    c.code("payer", rows.iter().map(|r| r.payer))?;
    c.code("state", rows.iter().map(|r| Some(r.state)))?;
    c.date("backpaid_on", rows.iter().map(|r| r.backpaid_on).collect());
    c.date("deadline", rows.iter().map(|r| r.deadline).collect());
    c.money(
        "backpay_amount",
        rows.iter().map(|r| Some(r.backpay_amount)).collect(),
    )?;
    c.money(
        "late_fee_amount",
        rows.iter().map(|r| Some(r.late_fee_amount)).collect(),
    )?;
    c.plain("wait_months", rows.iter().map(|r| r.wait_months).collect());
    c.date(
        "benefits_from",
        rows.iter().map(|r| r.benefits_from).collect(),
    );
    c.finish()
}

pub(super) fn findings(all: &[FindingRow], sel: &[IdxSize], keys: &RowKeys) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.month("period", rows.iter().map(|r| Some(r.period)).collect());
    c.code("code", rows.iter().map(|r| Some(r.code)))?;
    c.plain("detail", rows.iter().map(|r| r.detail.clone()).collect());
    c.finish()
}

pub(super) fn rejects_frame(all: &[Reject], sel: &[IdxSize], keys: &KeyMode) -> Result<DataFrame> {
    let rejects = picked(all, sel);
    let mut c = Cols::new(rejects.len());
    c.plain(
        "source_file",
        rejects.iter().map(|r| keys.mask(&r.source_file)).collect(),
    );
    c.plain("line", rejects.iter().map(|r| r.line as i64).collect());
    c.plain(
        "column",
        rejects.iter().map(|r| r.column.as_deref()).collect(),
    );
    c.plain(
        "error_type",
        rejects.iter().map(|r| r.error_type.as_str()).collect(),
    );
    c.plain(
        "message",
        rejects.iter().map(|r| keys.mask(&r.message)).collect(),
    );
    c.plain("raw", rejects.iter().map(|r| keys.mask(&r.raw)).collect());
    c.finish()
}
