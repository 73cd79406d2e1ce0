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

/// Most months shown in the status chart (the latest ones).
const MAX_MONTHS: usize = 60;
/// Regions shown in the arrears chart.
const TOP_REGIONS: usize = 15;
/// Width of every chart (SVG user units; the page scales it down to fit).
const WIDTH: f64 = 1100.0;
/// Rough width of one character of the 11-unit chart font, for layout only.
const CHAR_W: f64 = 6.6;

/// Stacking order of the status chart (best at the bottom) and its colours.
const BENEFITS: [(Benefit, &str); 5] = [
    (Benefit::Active, "#66bb6a"),
    (Benefit::Restored, "#4fc3f7"),
    (Benefit::Reduced, "#ffd54f"),
    (Benefit::Waiting, "#ffb74d"),
    (Benefit::Suspended, "#e57373"),
];
/// Gap-length buckets: label and the largest length in the bucket.
const GAP_BUCKETS: [(&str, i32); 7] = [
    ("1", 1),
    ("2", 2),
    ("3", 3),
    ("4–6", 6),
    ("7–12", 12),
    ("13–24", 24),
    (">24", i32::MAX),
];
const GAP_KINDS: [(GapKind, &str); 2] = [
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
const ONE_COLOUR: &str = "#5c7cfa";

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

/// Renders and writes the report atomically; returns its path.
pub fn write(out: &Path, as_of: Month, summary: &Summary, manifest: &Manifest) -> Result<PathBuf> {
    let p = path(out, as_of);
    crate::store::write_file_atomically(&p, render(as_of, summary, manifest).as_bytes())?;
    Ok(p)
}

/// The whole HTML page.
pub fn render(as_of: Month, summary: &Summary, manifest: &Manifest) -> String {
    let mut h = String::with_capacity(128 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>ledgerflow run report {}</title>\n<style>{BASE_STYLE}</style>\n</head>\n<body>\n",
        esc(&as_of.to_string())
    );
    header(&mut h, as_of, summary, manifest);
    for (chart, note) in [
        status_chart(summary),
        gap_chart(summary),
        reject_chart(manifest),
        finding_chart(summary),
        arrears_chart(summary),
        timing_chart(manifest),
    ] {
        figure(&mut h, &chart, &note);
    }
    changes_section(&mut h, as_of, manifest);
    h.push_str(
        "<footer>Aggregates only: this report holds no person IDs or person keys. \
         Open “Numbers” under a chart for its table.</footer>\n</body>\n</html>\n",
    );
    h
}

/// The page style shared by the run report and the explain page.
pub const BASE_STYLE: &str = "
body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;color:#222;margin:24px auto;max-width:1140px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 12px}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
table.meta th{background:#f3f4f6;font-weight:600;width:200px}
code{font-size:12px;word-break:break-all}
section{margin:12px 0;border-top:1px solid #ddd;padding-top:4px}
svg{width:100%;height:auto;display:block}
svg text{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;font-size:11px;fill:#222}
svg .t{font-size:16px;font-weight:bold}
svg .ax{font-size:12px;font-weight:600}
svg .v{font-size:11px}
svg .grid{stroke:#e5e7eb}
svg .axis{stroke:#555}
p.note{font-size:13px;color:#444;margin:4px 0}
.ok{color:#1b5e20;font-weight:600}.bad{color:#b71c1c;font-weight:600}
footer{font-size:12px;color:#666;border-top:1px solid #ddd;padding-top:8px;margin-top:32px}
";

fn header(h: &mut String, as_of: Month, summary: &Summary, m: &Manifest) {
    let t = &m.totals;
    let exit = match m.exit_status {
        0 => "<span class=\"ok\">0 — ok</span>".to_string(),
        3 => "<span class=\"bad\">3 — quality gate failed (reject ratio above the pipeline's max_reject_ratio)</span>".to_string(),
        n => format!("<span class=\"bad\">{n}</span>"),
    };
    let _ = write!(
        h,
        "<header>\n<h1>Run report — as of {}</h1>\n<table class=\"meta\">\n",
        esc(&as_of.to_string())
    );
    let file = |r: &crate::manifest::FileRef| {
        format!(
            "<code>{}</code><br>sha256 <code>{}</code>",
            esc(&r.path),
            esc(&r.sha256)
        )
    };
    let rows: [(&str, String); 9] = [
        ("as_of", esc(&as_of.to_string())),
        ("tool", format!("{} {}", esc(&m.tool), esc(&m.version))),
        ("rules", file(&m.rules)),
        ("pipeline", file(&m.pipeline)),
        (
            "ledger rows",
            format!(
                "read {} · accepted {} · rejected {} ({:.2} %) · paid after as_of {}",
                t.rows_read,
                t.rows_accepted,
                t.rows_rejected,
                100.0 * t.reject_ratio(),
                t.future_rows
            ),
        ),
        ("input files", m.inputs.len().to_string()),
        (
            "results",
            format!(
                "{} people · {} person-months · {} gaps · {} findings",
                summary.people, summary.person_months, summary.gaps, summary.findings
            ),
        ),
        (
            "tables written",
            m.outputs
                .iter()
                .map(|o| format!("{} {} rows", esc(&o.table), o.rows))
                .collect::<Vec<_>>()
                .join(" · "),
        ),
        ("exit status", exit),
    ];
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n</header>\n");
}

// ---- the six charts --------------------------------------------------------------

fn status_chart(summary: &Summary) -> (Chart, String) {
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

fn gap_chart(summary: &Summary) -> (Chart, String) {
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

fn reject_chart(m: &Manifest) -> (Chart, String) {
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

fn finding_chart(summary: &Summary) -> (Chart, String) {
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

fn arrears_chart(summary: &Summary) -> (Chart, String) {
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

fn timing_chart(m: &Manifest) -> (Chart, String) {
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

/// "Changes since last month" (`manifest.changes_since_previous`): a from → to table of
/// `person_status.benefit`, a chart of the people whose benefit changed, new and
/// resolved gaps, and the regions with the most new suspensions; a note instead when
/// OUT held no snapshot of the previous month.
fn changes_section(h: &mut String, as_of: Month, m: &Manifest) {
    let prev = as_of.plus(-1);
    // A <div>, not a <section>: the result charts stay the page's only sections.
    let _ = writeln!(h, "<div class=\"changes\">\n<h2>Changes since {prev}</h2>");
    let Some(c) = &m.changes_since_previous else {
        let _ = writeln!(
            h,
            "<p class=\"note\">No snapshot of {prev} in this output folder, so there is nothing \
             to compare with: no transitions this time.</p>\n</div>"
        );
        return;
    };
    let mut froms: Vec<&str> = Vec::new();
    let mut tos: Vec<&str> = Vec::new();
    for t in &c.benefit_transitions {
        if !froms.contains(&t.from.as_str()) {
            froms.push(&t.from);
        }
        if !tos.contains(&t.to.as_str()) {
            tos.push(&t.to);
        }
    }
    let _ = write!(
        h,
        "<p class=\"note\">person_status.benefit, {} → {as_of} (people; rows: before, columns: now).</p>\n\
         <table class=\"transitions\">\n<tr><th>from \\ to</th>",
        c.previous_as_of
    );
    for to in &tos {
        let _ = write!(h, "<th class=\"n\">{}</th>", esc(to));
    }
    h.push_str("</tr>\n");
    for from in &froms {
        let _ = write!(h, "<tr><th>{}</th>", esc(from));
        for to in &tos {
            let n = c
                .benefit_transitions
                .iter()
                .find(|t| t.from == *from && t.to == *to)
                .map_or(0, |t| t.people);
            let _ = write!(h, "<td class=\"n\">{n}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    let changed: Vec<(String, u64)> = c
        .benefit_transitions
        .iter()
        .filter(|t| t.from != t.to)
        .map(|t| (format!("{} → {}", t.from, t.to), t.people))
        .collect();
    let moved: u64 = changed.iter().map(|r| r.1).sum();
    figure(
        h,
        &one_series(
            "People whose benefit changed",
            "from → to",
            "people",
            changed,
            count,
        ),
        &format!(
            "{moved} people changed benefit; {} new gaps, {} gaps resolved (bridged, closed or gone).",
            c.gaps_new, c.gaps_resolved
        ),
    );
    let regions: Vec<(String, u64)> = c
        .new_suspensions_by_region
        .iter()
        .map(|r| (r.region.clone(), r.people))
        .collect();
    figure(
        h,
        &one_series(
            "New suspensions by region (top 20)",
            "region",
            "people",
            regions,
            count,
        ),
        &format!(
            "{} people suspended now who were not suspended in {} (new people included), by region now.",
            c.new_suspensions, c.previous_as_of
        ),
    );
    h.push_str("</div>\n");
}

/// A horizontal one-colour bar chart of (label, value) rows.
fn one_series(
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

fn count(v: f64) -> String {
    format!("{}", v.round() as i64)
}

/// Values in fen, shown in yuan with two decimals.
fn yuan(v: f64) -> String {
    Fen(v.round() as i64).to_string()
}

// ---- the SVG bar chart, used by every chart ----------------------------------------

struct Series {
    name: &'static str,
    colour: &'static str,
    /// One value per category.
    values: Vec<f64>,
}

/// A bar chart: bars side by side (`stacked: false`) or stacked, vertical or horizontal.
struct Chart {
    title: &'static str,
    category_axis: &'static str,
    value_axis: &'static str,
    categories: Vec<String>,
    series: Vec<Series>,
    stacked: bool,
    horizontal: bool,
    format: fn(f64) -> String,
}

impl Chart {
    fn value(&self, series: usize, cat: usize) -> f64 {
        self.series[series].values.get(cat).copied().unwrap_or(0.0)
    }
    fn total(&self, cat: usize) -> f64 {
        (0..self.series.len()).map(|s| self.value(s, cat)).sum()
    }
    /// The longest bar or stack.
    fn max(&self) -> f64 {
        let mut m: f64 = 0.0;
        for cat in 0..self.categories.len() {
            if self.stacked {
                m = m.max(self.total(cat));
            } else {
                for s in 0..self.series.len() {
                    m = m.max(self.value(s, cat));
                }
            }
        }
        m
    }
}

/// One bar (or stack segment): value range and its slot within the category band,
/// as fractions of the band.
struct Bar {
    cat: usize,
    series: usize,
    from: f64,
    to: f64,
    offset: f64,
    width: f64,
}

fn bars(c: &Chart) -> Vec<Bar> {
    let k = c.series.len().max(1) as f64;
    let mut out = Vec::new();
    for cat in 0..c.categories.len() {
        let mut base = 0.0;
        for series in 0..c.series.len() {
            let v = c.value(series, cat);
            out.push(if c.stacked {
                Bar {
                    cat,
                    series,
                    from: base,
                    to: base + v,
                    offset: 0.12,
                    width: 0.76,
                }
            } else {
                let w = 0.8 / k;
                Bar {
                    cat,
                    series,
                    from: 0.0,
                    to: v,
                    offset: 0.1 + w * series as f64,
                    width: w,
                }
            });
            base += v;
        }
    }
    out
}

/// A "nice" tick step (1, 2 or 5 × 10ⁿ, at least 1) and the axis maximum.
fn ticks(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0);
    (step, (max / step).ceil() * step)
}

/// Plot geometry: maps (category band position, value) to SVG coordinates.
struct Frame {
    horizontal: bool,
    left: f64,
    top: f64,
    /// Length of the value axis in pixels.
    value_len: f64,
    /// Width of one category band in pixels.
    band: f64,
    n: usize,
    axis_max: f64,
}

impl Frame {
    fn along(&self, v: f64) -> f64 {
        v / self.axis_max * self.value_len
    }
    /// Pixel length of the category axis.
    fn cat_len(&self) -> f64 {
        self.band * self.n as f64
    }
    /// SVG point for (position along the category axis in bands, value).
    fn point(&self, pos: f64, v: f64) -> (f64, f64) {
        if self.horizontal {
            (self.left + self.along(v), self.top + pos * self.band)
        } else {
            (
                self.left + pos * self.band,
                self.top + self.value_len - self.along(v),
            )
        }
    }
    /// Rectangle (x, y, w, h) of a bar.
    fn rect(&self, b: &Bar) -> (f64, f64, f64, f64) {
        let pos = b.cat as f64 + b.offset;
        let (x0, y0) = self.point(pos, b.from);
        let (x1, y1) = self.point(pos + b.width, b.to);
        (x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs())
    }
}

fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// A `<section>`: the chart's SVG, a note and its numbers as a table.
fn figure(h: &mut String, c: &Chart, note: &str) {
    h.push_str("<section>\n");
    h.push_str(&svg(c));
    let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(note));
    h.push_str(&table(c));
    h.push_str("</section>\n");
}

fn svg(c: &Chart) -> String {
    let n = c.categories.len();
    let (step, axis_max) = ticks(c.max());
    let bars = bars(c);
    let fmt = c.format;
    // Value labels: stack totals, or one per bar.
    let ends: Vec<(f64, f64, f64, String)> = if c.stacked {
        (0..n)
            .map(|cat| (cat as f64 + 0.12, 0.76, c.total(cat), fmt(c.total(cat))))
            .collect()
    } else {
        bars.iter()
            .map(|b| (b.cat as f64 + b.offset, b.width, b.to, fmt(b.to)))
            .collect()
    };
    let widest_value = ends.iter().map(|e| text_w(&e.3)).fold(0.0, f64::max);
    let widest_tick = text_w(&fmt(axis_max));
    let widest_cat = c.categories.iter().map(|s| text_w(s)).fold(0.0, f64::max);
    let legend = c.series.len() > 1;
    let head = if legend { 62.0 } else { 40.0 };

    let mut f = Frame {
        horizontal: c.horizontal,
        left: 0.0,
        top: 0.0,
        value_len: 0.0,
        band: 0.0,
        n,
        axis_max,
    };
    let (height, rotate_values, cat_every, rotate_cats);
    if c.horizontal {
        f.band = if c.stacked {
            22.0
        } else {
            6.0 + 16.0 * c.series.len() as f64
        };
        f.left = 30.0 + widest_cat + 10.0;
        f.top = head;
        f.value_len = WIDTH - f.left - widest_value.max(widest_tick / 2.0) - 16.0;
        height = f.top + f.cat_len().max(f.band) + 44.0;
        (rotate_values, cat_every, rotate_cats) = (false, 1, false);
    } else {
        f.left = 30.0 + widest_tick + 10.0;
        f.band = (WIDTH - f.left - 16.0) / n.max(1) as f64;
        let slot = if c.stacked {
            0.76
        } else {
            0.8 / c.series.len().max(1) as f64
        };
        rotate_values = widest_value > f.band * slot + 4.0;
        rotate_cats = widest_cat > f.band - 4.0;
        cat_every = if rotate_cats {
            (14.0 / f.band).ceil().max(1.0) as usize
        } else {
            1
        };
        f.top = head
            + if rotate_values {
                widest_value + 10.0
            } else {
                16.0
            };
        f.value_len = 200.0;
        let cats = if rotate_cats {
            widest_cat * 0.72 + 18.0
        } else {
            20.0
        };
        height = f.top + f.value_len + cats + 30.0;
    }

    let mut s = String::with_capacity(16 * 1024);
    let _ = writeln!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{t}\">\n<title>{t}</title>\n\
         <text class=\"t\" x=\"8\" y=\"22\">{t}</text>",
        t = esc(c.title)
    );
    if legend {
        let mut x = 8.0;
        for se in &c.series {
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"34\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#555\" stroke-width=\"0.5\"/>\
                 <text x=\"{:.1}\" y=\"45\">{}</text>",
                se.colour,
                x + 19.0,
                esc(se.name)
            );
            x += 19.0 + text_w(se.name) + 22.0;
        }
    }
    // Grid and value ticks.
    let mut v = 0.0;
    while v <= axis_max + step / 2.0 {
        let (a, b) = (f.point(0.0, v), f.point(n as f64, v));
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
            a.0, a.1, b.0, b.1
        );
        let label = esc(&fmt(v));
        let _ = if c.horizontal {
            writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                b.0,
                b.1 + 15.0
            )
        } else {
            writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
                a.0 - 6.0,
                a.1 + 4.0
            )
        };
        v += step;
    }
    // Bars, with a tooltip and, when it fits, the segment's own number inside.
    for b in &bars {
        let (x, y, w, hh) = f.rect(b);
        let se = &c.series[b.series];
        let value = b.to - b.from;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{hh:.1}\" fill=\"{}\"><title>{} · {}: {}</title></rect>",
            se.colour,
            esc(&c.categories[b.cat]),
            esc(se.name),
            esc(&fmt(value))
        );
        let label = fmt(value);
        if c.stacked && c.series.len() > 1 && value > 0.0 && w >= text_w(&label) + 4.0 && hh >= 14.0
        {
            let _ = writeln!(
                s,
                "<text class=\"v\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + w / 2.0,
                y + hh / 2.0 + 4.0,
                esc(&label)
            );
        }
    }
    // Numbers at the end of each bar or stack.
    for (pos, width, value, label) in &ends {
        let (x, y) = f.point(pos + width / 2.0, *value);
        let label = esc(label);
        let _ = if c.horizontal {
            writeln!(
                s,
                "<text class=\"v\" x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
                x + 5.0,
                y + 4.0
            )
        } else if rotate_values {
            writeln!(
                s,
                "<text class=\"v\" transform=\"translate({:.1},{:.1}) rotate(-90)\">{label}</text>",
                x + 4.0,
                y - 4.0
            )
        } else {
            writeln!(
                s,
                "<text class=\"v\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                y - 4.0
            )
        };
    }
    // Category labels.
    for (i, cat) in c.categories.iter().enumerate() {
        let (x, y) = f.point(i as f64 + 0.5, 0.0);
        let cat = esc(cat);
        let _ = if c.horizontal {
            writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{cat}</text>",
                x - 8.0,
                y + 4.0
            )
        } else if rotate_cats {
            if i % cat_every != 0 && i + 1 != n {
                continue;
            }
            writeln!(
                s,
                "<text transform=\"translate({:.1},{:.1}) rotate(-45)\" text-anchor=\"end\">{cat}</text>",
                x + 4.0,
                y + 12.0
            )
        } else {
            writeln!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{cat}</text>",
                y + 16.0
            )
        };
    }
    if n == 0 {
        let (x, y) = f.point(0.0, 0.0);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">no data</text>",
            x + 10.0,
            y - 10.0
        );
    }
    // Axes and their labels.
    // The value axis runs where its tick labels are: left of vertical bars, under
    // horizontal ones.
    let base = if c.horizontal { n as f64 } else { 0.0 };
    let (o, e1) = (f.point(0.0, 0.0), f.point(n as f64, 0.0));
    let (v0, v1) = (f.point(base, 0.0), f.point(base, axis_max));
    let _ = writeln!(
        s,
        "<path class=\"axis\" fill=\"none\" d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\"/>",
        o.0, o.1, e1.0, e1.1, v0.0, v0.1, v1.0, v1.1
    );
    let (bottom_label, side_label) = if c.horizontal {
        (c.value_axis, c.category_axis)
    } else {
        (c.category_axis, c.value_axis)
    };
    let mid_x = f.left
        + if c.horizontal {
            f.value_len
        } else {
            f.cat_len()
        } / 2.0;
    let mid_y = f.top
        + if c.horizontal {
            f.cat_len()
        } else {
            f.value_len
        } / 2.0;
    let _ = writeln!(
        s,
        "<text class=\"ax\" x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text class=\"ax\" transform=\"translate(16,{mid_y:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n</svg>",
        height - 8.0,
        esc(bottom_label),
        esc(side_label)
    );
    s
}

/// The chart's numbers as a table, folded away under "Numbers".
fn table(c: &Chart) -> String {
    let mut t = String::from("<details><summary>Numbers</summary>\n<table>\n<tr>");
    let _ = write!(t, "<th>{}</th>", esc(c.category_axis));
    for se in &c.series {
        let _ = write!(t, "<th class=\"n\">{}</th>", esc(se.name));
    }
    let totals = c.stacked && c.series.len() > 1;
    if totals {
        t.push_str("<th class=\"n\">total</th>");
    }
    t.push_str("</tr>\n");
    for (i, cat) in c.categories.iter().enumerate() {
        let _ = write!(t, "<tr><td>{}</td>", esc(cat));
        for s in 0..c.series.len() {
            let _ = write!(
                t,
                "<td class=\"n\">{}</td>",
                esc(&(c.format)(c.value(s, i)))
            );
        }
        if totals {
            let _ = write!(t, "<td class=\"n\">{}</td>", esc(&(c.format)(c.total(i))));
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</table>\n</details>\n");
    t
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Date, GapState, Gender, Reason, Scheme};
    use crate::engine::{FindingRow, GapRow, MonthRow, StatusRow};
    use crate::id::PersonId;
    use crate::manifest::{FileRef, Totals};

    const IDS: [&str; 2] = ["370202198503120113", "11010519491231002X"];

    fn month_row(person: PersonId, period: Month, benefit: Benefit) -> MonthRow {
        MonthRow {
            person,
            period,
            scheme: Scheme::Employee,
            region: 370202,
            paid: true,
            paid_on: None,
            on_time: true,
            special_group: None,
            benefit,
            benefit_ratio: 1.0,
            reason: Reason::Paid,
            gap_id: None,
        }
    }

    fn gap_row(person: PersonId, kind: GapKind, months: i32) -> GapRow {
        GapRow {
            person,
            gap_id: 1,
            kind,
            gap_start: Date::from_ymd(2024, 1, 1),
            gap_end: Date::from_ymd(2024, 1, 31),
            months,
            open: false,
            payer: None,
            state: GapState::Break,
            backpaid_on: None,
            deadline: None,
            backpay_amount: Fen::ZERO,
            late_fee_amount: Fen::ZERO,
            wait_months: None,
            benefits_from: None,
        }
    }

    fn status_row(person: PersonId, region: u32, arrears: Fen) -> StatusRow {
        StatusRow {
            person,
            gender: Gender::Male,
            birth_date: person.birth_date(),
            region,
            scheme: Scheme::Employee,
            special_group: None,
            benefit: Benefit::Active,
            benefit_ratio: 1.0,
            benefits_from: None,
            first_period: Month::new(2020, 1),
            last_paid_period: None,
            cumulative_months: 0,
            continuous_months: 0,
            continuity_at_risk: false,
            gap_count: 0,
            open_gap_months: 0,
            longest_gap_months: 0,
            arrears_months: 0,
            arrears_amount: arrears,
            late_fee_amount: Fen::ZERO,
            retirement_min_months: 0,
            months_short: 0,
            lump_sum_estimate: None,
            resident_continuous_years: 0,
            incentive_raise: Fen::ZERO,
        }
    }

    fn sample() -> (Batch, Manifest) {
        let p: Vec<PersonId> = IDS.iter().map(|s| PersonId::parse(s).unwrap()).collect();
        let mut b = Batch::default();
        // 2025-03: 7 active + 2 suspended; 2025-04: 3 waiting.
        for i in 0..7 {
            b.months
                .push(month_row(p[i % 2], Month::new(2025, 3), Benefit::Active));
        }
        for _ in 0..2 {
            b.months
                .push(month_row(p[0], Month::new(2025, 3), Benefit::Suspended));
        }
        for _ in 0..3 {
            b.months
                .push(month_row(p[1], Month::new(2025, 4), Benefit::Waiting));
        }
        for months in [5, 6, 4, 30] {
            b.gaps.push(gap_row(p[0], GapKind::Employee, months));
        }
        b.gaps.push(gap_row(p[1], GapKind::Resident, 1));
        b.gaps[4].open = true;
        b.status.push(status_row(p[0], 370202, Fen(160000)));
        b.status.push(status_row(p[1], 370202, Fen(25050)));
        b.status.push(status_row(p[1], 110105, Fen(999)));
        for _ in 0..4 {
            b.findings.push(FindingRow {
                person: p[0],
                period: Month::new(2025, 1),
                code: FindingCode::Underpaid,
                detail: format!("person {} underpaid", IDS[0]),
            });
        }
        let mut rejects: BTreeMap<String, u64> = RejectType::ALL
            .iter()
            .map(|t| (t.as_str().to_string(), 0))
            .collect();
        rejects.insert("BAD_DATE".into(), 13);
        let m = Manifest {
            partition: None,
            changes_since_previous: None,
            tool: "ledgerflow".into(),
            version: "0.1.0".into(),
            build: "0.1.0+0123456789abcdef".into(),
            as_of: "2025-06".into(),
            pipeline: FileRef {
                path: "pipelines/sample.toml".into(),
                sha256: "ab".repeat(32),
            },
            rules: FileRef {
                path: "rules/<odd> & \"quoted\".toml".into(),
                sha256: "cd".repeat(32),
            },
            inputs: vec![],
            outputs: vec![],
            totals: Totals {
                rows_read: 1013,
                rows_accepted: 1000,
                rows_rejected: 13,
                future_rows: 2,
            },
            rejects_by_type: rejects,
            exit_status: 0,
            stage_timings_ms: [("engine".to_string(), 42), ("read".to_string(), 1234)]
                .into_iter()
                .collect(),
            shards: None,
            incremental: None,
            run_mode: None,
            bucketed: None,
        };
        (b, m)
    }

    fn html() -> String {
        let (b, m) = sample();
        render(Month::new(2025, 6), &Summary::of(&b), &m)
    }

    #[test]
    fn every_chart_and_the_header_are_there() {
        let h = html();
        for title in [
            "Status counts by month",
            "Gap length histogram",
            "Rejects by type",
            "Findings by code",
            "Arrears by region (top 15)",
            "Stage timings",
        ] {
            assert!(h.contains(&format!(">{title}</text>")), "{title}");
        }
        for axis in [
            "period",
            "person-months",
            "gap length (months)",
            "arrears (yuan)",
        ] {
            assert!(h.contains(&format!("\">{axis}</text>")), "{axis}");
        }
        assert!(h.contains("as of 2025-06"));
        assert!(h.contains("ledgerflow 0.1.0"));
        assert!(h.contains(&"cd".repeat(32)));
        assert!(h.contains("read 1013 · accepted 1000 · rejected 13"));
        assert!(h.contains("0 — ok"));
        assert!(h.contains("<svg viewBox"));
        assert_eq!(h.matches("<svg ").count(), 6);
    }

    #[test]
    fn bars_carry_their_numbers() {
        let h = html();
        let has = |v: &str| h.matches(&format!(">{v}</text>")).count();
        // status: 2025-03 is 7 active + 2 suspended = 9; 2025-04 is 3.
        assert!(has("9") >= 1 && has("3") >= 1);
        assert!(h.contains("2025-03 · active: 7"));
        assert!(h.contains("2025-03 · suspended: 2"));
        assert!(h.contains("2025-04 · waiting: 3"));
        // gaps: employee 4–6 holds 5, 6 and 4 months.
        assert!(h.contains("4–6 · employee: 3"));
        assert!(h.contains("&gt;24 · employee: 1"));
        assert!(h.contains("1 · resident: 1"));
        // rejects: all ten types, zeros included.
        assert!(has("13") >= 1);
        for t in RejectType::ALL {
            assert!(h.contains(&format!(">{}</text>", t.as_str())), "{t}");
        }
        assert!(h.contains("BAD_REGION · rows: 0"));
        // findings.
        assert!(h.contains("UNDERPAID · findings: 4"));
        assert!(h.contains("STATUS_GAP · findings: 0"));
        // arrears in yuan, largest region first.
        assert!(has("1850.50") >= 1 && has("9.99") >= 1);
        assert!(h.find(">370202</text>").unwrap() < h.find(">110105</text>").unwrap());
        // timings.
        assert!(has("1234") >= 1 && has("42") >= 1);
    }

    #[test]
    fn self_contained_and_escaped() {
        let h = html();
        assert!(!h.contains("http://") && !h.contains("https://"));
        assert!(!h.contains("<script"));
        assert!(!h.contains("<link") && !h.contains("url("));
        assert!(h.contains("rules/&lt;odd&gt; &amp; &quot;quoted&quot;.toml"));
        assert!(!h.contains("<odd>"));
    }

    #[test]
    fn no_person_ids() {
        let h = html();
        for id in IDS {
            let p = PersonId::parse(id).unwrap();
            assert!(!h.contains(id), "{id}");
            assert!(!h.contains(&id[..17]), "{id}");
            assert!(!h.contains(&p.0.to_string()), "{id}");
        }
    }

    #[test]
    fn deterministic_and_last_60_months() {
        let (mut b, m) = sample();
        let p = PersonId::parse(IDS[0]).unwrap();
        for i in 0..80 {
            b.months
                .push(month_row(p, Month::new(2015, 1).plus(i), Benefit::Reduced));
        }
        let a = render(Month::new(2025, 6), &Summary::of(&b), &m);
        assert_eq!(a, render(Month::new(2025, 6), &Summary::of(&b), &m));
        assert!(a.contains("the last 60 of 82 months"));
        assert!(!a.contains("2015-01 · reduced"));
        assert!(a.contains("2025-04 · waiting: 3"));
    }

    #[test]
    fn empty_batch_renders() {
        let (_, m) = sample();
        let h = render(Month::new(2025, 6), &Summary::default(), &m);
        assert!(h.contains("no data"));
        assert!(h.ends_with("</html>\n"));
    }

    #[test]
    fn summaries_of_parts_add_up_to_the_whole() {
        let (b, _) = sample();
        let first = PersonId::parse(IDS[0]).unwrap();
        let part = |keep: bool| Batch {
            months: b
                .months
                .iter()
                .filter(|r| (r.person == first) == keep)
                .cloned()
                .collect(),
            gaps: b
                .gaps
                .iter()
                .filter(|r| (r.person == first) == keep)
                .cloned()
                .collect(),
            status: b
                .status
                .iter()
                .filter(|r| (r.person == first) == keep)
                .cloned()
                .collect(),
            findings: b
                .findings
                .iter()
                .filter(|r| (r.person == first) == keep)
                .cloned()
                .collect(),
        };
        let mut sum = Summary::of(&part(false));
        sum.add(&Summary::of(&part(true)));
        assert_eq!(sum, Summary::of(&b));
        assert_eq!(sum.people, 3);
        assert_eq!((sum.gaps, sum.open_gaps), (5, 1));
        assert_eq!(sum.arrears_by_region[&370202], 185050);
        let json = serde_json::to_string(&sum).unwrap();
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), sum);
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(ticks(0.0), (1.0, 1.0));
        assert_eq!(ticks(3.0), (1.0, 3.0));
        assert_eq!(ticks(9.0), (2.0, 10.0));
        assert_eq!(ticks(1234.0), (500.0, 1500.0));
    }
}
