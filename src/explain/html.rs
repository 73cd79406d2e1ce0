//! `ledgerflow explain --format html`: one self-contained page for one person, for an
//! auditor — inline CSS and SVG, no script, nothing fetched (like the run report).
//!
//! It renders the same [`Report`] as `--format json`, so the page and the JSON hold
//! the same facts: a month strip coloured by benefit (hover: reason and rule), each gap
//! as a bar with its deadline, back-payment and resume dates, waits and reduced months
//! shaded, then the months with the rule sentence that decided each one and the rows
//! behind it, the gaps, findings and the parameters used with their rule block and
//! legal reference. Every text put into the page is escaped.

use super::{GapLine, MonthLine, Report};
use crate::domain::{Benefit, Date, Month};
use crate::report::{BASE_STYLE, benefit_colour, esc, gap_colour};
use std::fmt::Write as _;

/// Width of the SVG timeline in user units.
const WIDTH: f64 = 1100.0;
/// Left margin of the timeline (row labels).
const LEFT: f64 = 150.0;
const STRIP_H: f64 = 34.0;
const GAP_ROW_H: f64 = 42.0;
/// Shade of waiting and reduced months behind the gap rows.
const WAIT_SHADE: &str = "#fff3e0";
const REDUCED_SHADE: &str = "#fffde7";
const DEADLINE: &str = "#c62828";
const BACKPAID: &str = "#2e7d32";
const RESUME: &str = "#1565c0";

const STYLE: &str = "
table.months td{vertical-align:top}
td.b{color:#111;font-weight:600;white-space:nowrap}
td.why{max-width:520px}
ul.rows{margin:2px 0 0 0;padding-left:16px;font-size:12px;color:#333}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;border:1px solid #555}
h2{font-size:17px;margin:18px 0 6px}
";

/// The page for one person.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>ledgerflow explain {} as of {}</title>\n<style>{BASE_STYLE}{STYLE}</style>\n</head>\n<body>\n",
        esc(&r.person_id),
        esc(&r.as_of)
    );
    let _ = writeln!(
        h,
        "<h1>Person {} as of {}</h1>\n<table class=\"meta\">\n\
         <tr><th>knowledge cut-off</th><td>{}</td></tr>\n\
         <tr><th>rules</th><td><code>{}</code> (sha256 <code>{}</code>)</td></tr>",
        esc(&r.person_id),
        esc(&r.as_of),
        esc(&r.knowledge_cutoff),
        esc(&r.rules_file),
        esc(&r.rules_sha256)
    );
    match &r.status {
        None => {
            let _ = writeln!(
                h,
                "<tr><th>status</th><td>no history as of {} (no paid month, no resident cover yet)</td></tr>",
                esc(&r.as_of)
            );
        }
        Some(s) => {
            let rows = [
                (
                    "status",
                    format!(
                        "<b>{}</b> (ratio {}), scheme {}, region {}; benefits from {}",
                        esc(&s.benefit),
                        s.benefit_ratio,
                        esc(&s.scheme),
                        s.region,
                        esc(s.benefits_from.as_deref().unwrap_or("-"))
                    ),
                ),
                (
                    "person",
                    format!("{}, born {}", esc(&s.gender), esc(&s.birth_date)),
                ),
                (
                    "months",
                    format!(
                        "cumulative {}, continuous {}, continuity at risk {}",
                        s.cumulative_months, s.continuous_months, s.continuity_at_risk
                    ),
                ),
                (
                    "money",
                    format!(
                        "arrears {} months = {}, late fees {}",
                        s.arrears_months,
                        esc(&s.arrears_amount),
                        esc(&s.late_fee_amount)
                    ),
                ),
                (
                    "retirement",
                    format!(
                        "minimum {} months, short {}, lump sum estimate {}",
                        s.retirement_min_months,
                        s.months_short,
                        esc(s.lump_sum_estimate.as_deref().unwrap_or("-"))
                    ),
                ),
                (
                    "resident",
                    format!(
                        "continuous years {}, incentive raise {}",
                        s.resident_continuous_years,
                        esc(&s.incentive_raise)
                    ),
                ),
            ];
            for (k, v) in rows {
                let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
            }
        }
    }
    h.push_str("</table>\n");

    if !r.months.is_empty() {
        h.push_str("<h2>Timeline</h2>\n");
        legend(&mut h);
        h.push_str(&timeline(r));
    }
    months_table(&mut h, r);
    gaps_table(&mut h, &r.gaps);
    groups_and_findings(&mut h, r);
    parameters_table(&mut h, r);
    h.push_str(
        "<footer>ledgerflow explain: the same facts as <code>--format json</code>; \
         rule sections refer to RULES.md.</footer>\n</body>\n</html>\n",
    );
    h
}

fn legend(h: &mut String) {
    h.push_str("<p class=\"legend\">");
    for b in [
        Benefit::Active,
        Benefit::Restored,
        Benefit::Reduced,
        Benefit::Waiting,
        Benefit::Suspended,
    ] {
        let _ = write!(
            h,
            "<span><i style=\"background:{}\"></i>{b}</span>",
            benefit_colour(b)
        );
    }
    let _ = writeln!(
        h,
        "<span><i style=\"background:{WAIT_SHADE}\"></i>waiting months (shaded)</span>\
         <span><i style=\"background:{REDUCED_SHADE}\"></i>reduced months (shaded)</span>\
         <span><i style=\"background:{DEADLINE}\"></i>deadline</span>\
         <span><i style=\"background:{BACKPAID}\"></i>back-paid</span>\
         <span><i style=\"background:{RESUME}\"></i>benefits from</span></p>"
    );
}

/// Maps dates to x positions: one band per month of the history.
struct Axis {
    first: Month,
    n: usize,
    band: f64,
}

impl Axis {
    fn x_month(&self, m: Month) -> f64 {
        LEFT + (m.0 - self.first.0) as f64 * self.band
    }
    /// x of a day inside its month (day 1 at the band's left edge); clamped to the axis.
    fn x_date(&self, d: Date) -> f64 {
        let m = d.month();
        let days = m.days() as f64;
        self.clamp(self.x_month(m) + (d.ymd().2 as f64 - 1.0) / days * self.band)
    }
    fn clamp(&self, x: f64) -> f64 {
        x.clamp(LEFT, LEFT + self.n as f64 * self.band)
    }
    fn contains(&self, d: Date) -> bool {
        let m = d.month();
        m >= self.first && m.0 < self.first.0 + self.n as i32
    }
}

fn month_of(s: &str) -> Option<Month> {
    Month::parse(s.get(..7)?)
}

fn date_of(s: Option<&str>) -> Option<Date> {
    Date::parse(s?)
}

fn timeline(r: &Report) -> String {
    let first = r.months.first().and_then(|m| month_of(&m.period));
    let Some(first) = first else {
        return String::new();
    };
    let n = r.months.len();
    let axis = Axis {
        first,
        n,
        band: (WIDTH - LEFT - 10.0) / n.max(1) as f64,
    };
    let rows = r.gaps.len();
    let strip_top = 10.0;
    let gaps_top = strip_top + STRIP_H + 26.0;
    let height = gaps_top + rows as f64 * GAP_ROW_H + 16.0;
    let mut s = String::with_capacity(16 * 1024);
    let _ = writeln!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"benefit by month\">\n\
         <title>benefit by month, {} months</title>",
        n
    );
    // Waits and reduced months, shaded across every row.
    for m in &r.months {
        let Some(p) = month_of(&m.period) else {
            continue;
        };
        let shade = match Benefit::parse(&m.benefit) {
            Some(Benefit::Waiting) => WAIT_SHADE,
            Some(Benefit::Reduced) => REDUCED_SHADE,
            _ => continue,
        };
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{strip_top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{shade}\"/>",
            axis.x_month(p),
            axis.band,
            height - strip_top - 6.0
        );
    }
    // The month strip.
    let _ = writeln!(
        s,
        "<text class=\"ax\" x=\"8\" y=\"{:.1}\">benefit</text>",
        strip_top + STRIP_H / 2.0 + 4.0
    );
    let label_every = (28.0 / axis.band).ceil().max(1.0) as usize;
    for (i, m) in r.months.iter().enumerate() {
        let Some(p) = month_of(&m.period) else {
            continue;
        };
        let colour = Benefit::parse(&m.benefit).map_or("#999", benefit_colour);
        let x = axis.x_month(p);
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{strip_top}\" width=\"{:.1}\" height=\"{STRIP_H}\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"1\">\
             <title>{} {} {}: {}</title></rect>",
            axis.band,
            esc(&m.period),
            esc(&m.benefit),
            esc(&m.reason),
            esc(&m.why)
        );
        if i % label_every == 0 || i + 1 == n {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + axis.band / 2.0,
                strip_top + STRIP_H + 14.0,
                esc(&m.period)
            );
        }
    }
    // One row per gap: the bar, then its dates as marks.
    for (i, g) in r.gaps.iter().enumerate() {
        let y = gaps_top + i as f64 * GAP_ROW_H;
        gap_row(&mut s, &axis, g, y);
    }
    s.push_str("</svg>\n");
    s
}

fn gap_row(s: &mut String, axis: &Axis, g: &GapLine, y: f64) {
    let _ = writeln!(
        s,
        "<text x=\"8\" y=\"{:.1}\">#{} {} {}</text>",
        y + 15.0,
        g.gap_id,
        esc(&g.kind),
        esc(&g.state)
    );
    let (Some(a), Some(b)) = (date_of(Some(&g.gap_start)), date_of(Some(&g.gap_end))) else {
        return;
    };
    // The bar covers whole months: from the first month's left edge to the last's right.
    let x0 = axis.x_date(a);
    let x1 = axis.clamp(axis.x_month(b.month()) + axis.band);
    let colour = gap_colour(&g.kind);
    let _ = writeln!(
        s,
        "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{colour}\">\
         <title>gap #{} {} … {} ({} months), {}: {}</title></rect>",
        y + 4.0,
        (x1 - x0).max(1.0),
        g.gap_id,
        esc(&g.gap_start),
        esc(&g.gap_end),
        g.months,
        esc(&g.state),
        esc(&g.why)
    );
    let marks = [
        ("deadline", g.deadline.as_deref(), DEADLINE),
        ("back-paid", g.backpaid_on.as_deref(), BACKPAID),
        ("benefits from", g.benefits_from.as_deref(), RESUME),
    ];
    let mut dates = Vec::new();
    for (what, day, colour) in marks {
        let Some(d) = date_of(day) else { continue };
        dates.push(format!(
            "{what} {d}{}",
            if axis.contains(d) { "" } else { " →" }
        ));
        let x = axis.x_date(d);
        let beyond = if axis.contains(d) {
            ""
        } else {
            " (after the axis)"
        };
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"3\">\
             <title>{what} {}{beyond}</title></line>",
            y,
            y + 22.0,
            esc(&d.to_string())
        );
    }
    // The same dates as text under the bar, so they read without hovering.
    if !dates.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{:.1}\">{}</text>",
            y + 34.0,
            esc(&dates.join(" · "))
        );
    }
}

fn month_rows(m: &MonthLine) -> String {
    if m.rows.is_empty() {
        return String::new();
    }
    let mut o = String::from("<ul class=\"rows\">");
    for row in &m.rows {
        let _ = write!(
            o,
            "<li><code>{}:{}</code> {} {} {} amount {} base {} paid_on {}{}</li>",
            esc(&row.source_file),
            row.line,
            esc(&row.period),
            esc(&row.scheme),
            esc(&row.payer),
            esc(&row.amount),
            esc(row.base.as_deref().unwrap_or("-")),
            esc(row.paid_on.as_deref().unwrap_or("(declared, unpaid)")),
            if row.after_cutoff {
                " <b>after the cut-off: not known yet</b>"
            } else {
                ""
            }
        );
    }
    o.push_str("</ul>");
    o
}

fn months_table(h: &mut String, r: &Report) {
    h.push_str(
        "<h2>Months</h2>\n<table class=\"months\">\n<tr><th>period</th><th>scheme</th><th>benefit</th>\
         <th>reason</th><th>paid on</th><th>on time</th><th>required / paid / due</th><th>gap</th>\
         <th>rule that decided it, and the rows behind it</th></tr>\n",
    );
    for m in &r.months {
        let colour = Benefit::parse(&m.benefit).map_or("#fff", benefit_colour);
        let money = match (&m.required, &m.paid_sum, &m.due) {
            (Some(req), Some(paid), Some(due)) => {
                format!("{} / {} / {}", esc(req), esc(paid), esc(due))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"b\" style=\"background:{colour}\">{} ({})</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"n\">{money}</td><td>{}</td><td class=\"why\">{}{}</td></tr>",
            esc(&m.period),
            esc(&m.scheme),
            esc(&m.benefit),
            m.benefit_ratio,
            esc(&m.reason),
            esc(m.paid_on.as_deref().unwrap_or("-")),
            m.on_time,
            m.gap_id.map_or_else(|| "-".into(), |g| format!("#{g}")),
            esc(&m.why),
            month_rows(m)
        );
    }
    h.push_str("</table>\n");
}

fn gaps_table(h: &mut String, gaps: &[GapLine]) {
    h.push_str("<h2>Gaps</h2>\n");
    if gaps.is_empty() {
        h.push_str("<p class=\"note\">none</p>\n");
        return;
    }
    h.push_str(
        "<table>\n<tr><th>gap</th><th>kind</th><th>months</th><th>payer</th><th>state</th>\
         <th>deadline</th><th>back-paid on</th><th>back-paid</th><th>late fee</th><th>wait</th>\
         <th>benefits from</th><th>why</th></tr>\n",
    );
    for g in gaps {
        let _ = writeln!(
            h,
            "<tr><td>#{} {} … {}</td><td>{}</td><td class=\"n\">{}{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            g.gap_id,
            esc(&g.gap_start),
            esc(&g.gap_end),
            esc(&g.kind),
            g.months,
            if g.open { " (open)" } else { "" },
            esc(g.payer.as_deref().unwrap_or("-")),
            esc(&g.state),
            esc(g.deadline.as_deref().unwrap_or("-")),
            esc(g.backpaid_on.as_deref().unwrap_or("-")),
            esc(&g.backpay_amount),
            esc(&g.late_fee_amount),
            g.wait_months.map_or_else(|| "-".into(), |w| w.to_string()),
            esc(g.benefits_from.as_deref().unwrap_or("-")),
            esc(&g.why)
        );
    }
    h.push_str("</table>\n");
}

fn groups_and_findings(h: &mut String, r: &Report) {
    h.push_str("<h2>Special groups</h2>\n");
    if r.special_groups.is_empty() {
        h.push_str("<p class=\"note\">none</p>\n");
    } else {
        h.push_str("<table>\n<tr><th>group</th><th>valid from</th><th>valid to</th></tr>\n");
        for g in &r.special_groups {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&g.group),
                esc(&g.valid_from),
                esc(g.valid_to.as_deref().unwrap_or("(open)"))
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Findings</h2>\n");
    if r.findings.is_empty() {
        h.push_str("<p class=\"note\">none</p>\n");
        return;
    }
    h.push_str("<table>\n<tr><th>period</th><th>code</th><th>detail</th></tr>\n");
    for (p, c, d) in &r.findings {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(p),
            esc(c),
            esc(d)
        );
    }
    h.push_str("</table>\n");
}

fn parameters_table(h: &mut String, r: &Report) {
    let _ = writeln!(
        h,
        "<h2>Parameters for region {} as of {}</h2>\n<table>\n<tr><th>parameter</th><th>value</th>\
         <th>rule block (region, effective from)</th><th>reference</th></tr>",
        r.parameters_region,
        esc(&r.as_of)
    );
    for p in &r.parameters {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}, {}</td><td>{}</td></tr>",
            esc(&p.key),
            esc(&p.value),
            esc(&p.block_region),
            esc(&p.effective_from),
            esc(p.reference.as_deref().unwrap_or("-"))
        );
    }
    h.push_str("</table>\n");
}
