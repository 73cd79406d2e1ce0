//! The six charts of the run report and the "changes" chart: which bars, from which
//! numbers of the batch and the manifest, in which colours.

use super::svg::{Chart, Series};
use super::*;

/// Most months shown in the status chart (the latest ones).
pub(super) const MAX_MONTHS: usize = 60;
/// Regions shown in the arrears chart.
pub(super) const TOP_REGIONS: usize = 15;

/// Stacking order of the status chart (best at the bottom) and its colours.
pub(super) const BENEFITS: [(Benefit, &str); 5] = [
    (Benefit::Active, "#66bb6a"),
    (Benefit::Restored, "#4fc3f7"),
    (Benefit::Reduced, "#ffd54f"),
    (Benefit::Waiting, "#ffb74d"),
    (Benefit::Suspended, "#e57373"),
];
/// Gap-length buckets: label and the largest length in the bucket.
pub(super) const GAP_BUCKETS: [(&str, i32); 7] = [
    ("1", 1),
    ("2", 2),
    ("3", 3),
    ("4–6", 6),
    ("7–12", 12),
    ("13–24", 24),
    (">24", i32::MAX),
];
pub(super) const GAP_KINDS: [(GapKind, &str); 2] = [
    (GapKind::Employee, "#5c6bc0"),
    (GapKind::Resident, "#ab47bc"),
];

/// The colour of a benefit, the same in every page we write.
pub fn benefit_colour(b: Benefit) -> &'static str {
    BENEFITS
        .iter()
        .find(|(x, _)| *x == b)
        .map_or("#999999", |(_, c)| c)
}

/// The colour of a gap kind (`employee` | `resident`), as in the run report.
pub fn gap_colour(kind: &str) -> &'static str {
    GAP_KINDS
        .iter()
        .find(|(k, _)| k.to_string() == kind)
        .map_or("#999999", |(_, c)| c)
}
pub(super) const ONE_COLOUR: &str = "#5c7cfa";

// ---- the six charts --------------------------------------------------------------

pub(super) fn status_chart(summary: &Summary) -> (Chart, String) {
    let by: BTreeMap<Month, [u64; 5]> = summary
        .status_by_month
        .iter()
        .map(|(m, c)| (Month(*m), *c))
        .collect();
    let skip = by.len().saturating_sub(MAX_MONTHS);
    let shown: Vec<(&Month, &[u64; 5])> = by.iter().skip(skip).collect();
    let note = if skip > 0 {
        format!(
            "Person-months per period and benefit status; the last {MAX_MONTHS} of {} months.",
            by.len()
        )
    } else {
        format!(
            "Person-months per period and benefit status; {} months.",
            by.len()
        )
    };
    let chart = Chart {
        title: "Status counts by month",
        category_axis: "period",
        value_axis: "person-months",
        categories: shown.iter().map(|(m, _)| m.to_string()).collect(),
        series: BENEFITS
            .iter()
            .enumerate()
            .map(|(i, (b, colour))| Series {
                name: b.as_str(),
                colour,
                values: shown.iter().map(|(_, c)| c[i] as f64).collect(),
            })
            .collect(),
        stacked: true,
        horizontal: false,
        format: count,
    };
    (chart, note)
}

pub(super) fn gap_chart(summary: &Summary) -> (Chart, String) {
    let (counts, open) = (summary.gap_lengths, summary.open_gaps);
    let chart = Chart {
        title: "Gap length histogram",
        category_axis: "gap length (months)",
        value_axis: "gaps",
        categories: GAP_BUCKETS.iter().map(|b| b.0.to_string()).collect(),
        series: GAP_KINDS
            .iter()
            .zip(counts)
            .map(|((kind, colour), c)| Series {
                name: kind.as_str(),
                colour,
                values: c.iter().map(|&v| v as f64).collect(),
            })
            .collect(),
        stacked: false,
        horizontal: false,
        format: count,
    };
    let note = format!(
        "{} gaps ({open} still open), by length in months and kind.",
        summary.gaps
    );
    (chart, note)
}

pub(super) fn reject_chart(m: &Manifest) -> (Chart, String) {
    // Contract order first (all ten, zeros shown), then any other key of the manifest.
    let mut rows: Vec<(String, u64)> = RejectType::ALL
        .iter()
        .map(|t| {
            let n = m.rejects_by_type.get(t.as_str()).copied().unwrap_or(0);
            (t.as_str().to_string(), n)
        })
        .collect();
    for (k, &n) in &m.rejects_by_type {
        if RejectType::parse(k).is_none() {
            rows.push((k.clone(), n));
        }
    }
    let total: u64 = rows.iter().map(|r| r.1).sum();
    let note = format!("{total} rejected rows (all inputs), by error type.");
    (
        one_series("Rejects by type", "error type", "rows", rows, count),
        note,
    )
}

pub(super) fn finding_chart(summary: &Summary) -> (Chart, String) {
    let rows: Vec<(String, u64)> = FindingCode::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = summary.findings_by_code.get(i).copied().unwrap_or(0);
            (c.as_str().to_string(), n)
        })
        .collect();
    let note = format!("{} findings, by code.", summary.findings);
    (
        one_series("Findings by code", "finding code", "findings", rows, count),
        note,
    )
}

pub(super) fn arrears_chart(summary: &Summary) -> (Chart, String) {
    let by = summary.arrears_by_region.clone();
    let mut regions: Vec<(u32, i64)> = by.into_iter().filter(|r| r.1 != 0).collect();
    let total = Fen::sum(regions.iter().map(|r| Fen(r.1))).0;
    let with_arrears = regions.len();
    regions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    regions.truncate(TOP_REGIONS);
    let rows = regions
        .into_iter()
        .map(|(r, fen)| (format!("{r:06}"), fen as u64))
        .collect();
    let note = format!(
        "Arrears (sum of person_status arrears_amount) of the top {} of {with_arrears} regions with arrears; all regions {} yuan.",
        with_arrears.min(TOP_REGIONS),
        Fen(total)
    );
    (
        one_series(
            "Arrears by region (top 15)",
            "region",
            "arrears (yuan)",
            rows,
            yuan,
        ),
        note,
    )
}

pub(super) fn timing_chart(m: &Manifest) -> (Chart, String) {
    let rows: Vec<(String, u64)> = m
        .stage_timings_ms
        .iter()
        .map(|(k, &v)| (k.clone(), v))
        .collect();
    let total: u64 = rows.iter().map(|r| r.1).sum();
    let note = format!("Wall time per stage, {total} ms in all (the report itself is not timed).");
    (
        one_series("Stage timings", "stage", "milliseconds", rows, count),
        note,
    )
}
/// A horizontal one-colour bar chart of (label, value) rows.
pub(super) fn one_series(
    title: &'static str,
    category_axis: &'static str,
    value_axis: &'static str,
    rows: Vec<(String, u64)>,
    format: fn(f64) -> String,
) -> Chart {
    Chart {
        title,
        category_axis,
        value_axis,
        series: vec![Series {
            name: value_axis,
            colour: ONE_COLOUR,
            values: rows.iter().map(|r| r.1 as f64).collect(),
        }],
        categories: rows.into_iter().map(|r| r.0).collect(),
        stacked: false,
        horizontal: true,
        format,
    }
}

pub(super) fn count(v: f64) -> String {
    format!("{}", v.round() as i64)
}

/// Values in fen, shown in yuan with two decimals.
pub(super) fn yuan(v: f64) -> String {
    Fen(v.round() as i64).to_string()
}
