//! The run report `OUT/_reports/<as_of>.html`: one self-contained HTML page (inline
//! CSS and inline SVG, no script, nothing fetched) for a bureau operator — the run's
//! header (as_of, version, rules, input totals, exit status) and six bar charts.
//!
//! Aggregates only: no person ID or person key is ever written (privacy). Every text
//! put into the page is escaped. The page is a pure function of `as_of`, the batch and
//! the manifest (sorted maps, no wall clock), so the same run gives the same bytes.

use crate::domain::{Benefit, Fen, FindingCode, GapKind, Month, RejectType};
use crate::engine::Batch;
use crate::error::Result;
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

mod charts;
mod html;
mod svg;
#[cfg(test)]
mod tests;

use charts::{BENEFITS, GAP_BUCKETS, GAP_KINDS};

pub use charts::{benefit_colour, gap_colour};
pub use html::{BASE_STYLE, render};
/// Where the report of `as_of` goes.
pub fn path(out: &Path, as_of: Month) -> PathBuf {
    out.join("_reports").join(format!("{as_of}.html"))
}

/// What the charts show, added up from engine results: a bucketed or sharded run adds
/// the summaries of its buckets or shards (sums and counts, so the order does not
/// matter) and renders the same page as one run over everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub people: u64,
    pub person_months: u64,
    pub gaps: u64,
    pub open_gaps: u64,
    pub findings: u64,
    /// Person-months per period (months since year 0) and benefit, in [`BENEFITS`] order.
    pub status_by_month: BTreeMap<i32, [u64; 5]>,
    /// Gaps per kind ([`GAP_KINDS`] order) and length bucket ([`GAP_BUCKETS`] order).
    pub gap_lengths: [[u64; 7]; 2],
    /// Findings per code, in `FindingCode::ALL` order.
    pub findings_by_code: Vec<u64>,
    /// Sum of `arrears_amount` (fen) per region.
    pub arrears_by_region: BTreeMap<u32, i64>,
}

impl Summary {
    pub fn of(batch: &Batch) -> Summary {
        let mut s = Summary {
            people: batch.status.len() as u64,
            person_months: batch.months.len() as u64,
            gaps: batch.gaps.len() as u64,
            open_gaps: batch.gaps.iter().filter(|g| g.open).count() as u64,
            findings: batch.findings.len() as u64,
            findings_by_code: vec![0; FindingCode::ALL.len()],
            ..Summary::default()
        };
        for r in &batch.months {
            let i = BENEFITS.iter().position(|b| b.0 == r.benefit).unwrap_or(0);
            s.status_by_month.entry(r.period.0).or_default()[i] += 1;
        }
        for g in &batch.gaps {
            let k = GAP_KINDS.iter().position(|k| k.0 == g.kind).unwrap_or(0);
            let b = GAP_BUCKETS
                .iter()
                .position(|(_, max)| g.months <= *max)
                .unwrap_or(GAP_BUCKETS.len() - 1);
            s.gap_lengths[k][b] += 1;
        }
        for f in &batch.findings {
            if let Some(i) = FindingCode::ALL.iter().position(|c| *c == f.code) {
                s.findings_by_code[i] += 1;
            }
        }
        for st in &batch.status {
            let sum = s.arrears_by_region.entry(st.region).or_default();
            *sum = Fen(*sum).plus(st.arrears_amount).0;
        }
        s
    }

    /// Adds another part's summary to this one.
    pub fn add(&mut self, o: &Summary) {
        self.people += o.people;
        self.person_months += o.person_months;
        self.gaps += o.gaps;
        self.open_gaps += o.open_gaps;
        self.findings += o.findings;
        for (m, c) in &o.status_by_month {
            let e = self.status_by_month.entry(*m).or_default();
            for (a, b) in e.iter_mut().zip(c) {
                *a += b;
            }
        }
        for (a, b) in self
            .gap_lengths
            .iter_mut()
            .flatten()
            .zip(o.gap_lengths.iter().flatten())
        {
            *a += b;
        }
        self.findings_by_code
            .resize(FindingCode::ALL.len().max(o.findings_by_code.len()), 0);
        for (a, b) in self.findings_by_code.iter_mut().zip(&o.findings_by_code) {
            *a += b;
        }
        for (r, fen) in &o.arrears_by_region {
            *self.arrears_by_region.entry(*r).or_default() += fen;
        }
    }
}

/// Renders the report and writes it beside its place, to be moved in by the
/// commit once the snapshot's parts are published.
pub fn prepare(
    out: &Path,
    as_of: Month,
    summary: &Summary,
    manifest: &Manifest,
) -> Result<crate::store::Prepared> {
    crate::store::prepare_file(
        &path(out, as_of),
        render(as_of, summary, manifest).as_bytes(),
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}
