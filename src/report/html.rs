//! The report page itself: the HTML around the charts — head and style, the run
//! header, the "changes since last month" section, one `<section>` per chart.

use super::charts::*;
use super::svg::*;
use super::*;

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

pub(super) fn header(h: &mut String, as_of: Month, summary: &Summary, m: &Manifest) {
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

/// "Changes since last month" (`manifest.changes_since_previous`): a from → to table of
/// `person_status.benefit`, a chart of the people whose benefit changed, new and
/// resolved gaps, and the regions with the most new suspensions; a note instead when
/// OUT held no snapshot of the previous month.
pub(super) fn changes_section(h: &mut String, as_of: Month, m: &Manifest) {
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
/// A `<section>`: the chart's SVG, a note and its numbers as a table.
pub(super) fn figure(h: &mut String, c: &Chart, note: &str) {
    h.push_str("<section>\n");
    h.push_str(&svg(c));
    let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(note));
    h.push_str(&table(c));
    h.push_str("</section>\n");
}
/// The chart's numbers as a table, folded away under "Numbers".
pub(super) fn table(c: &Chart) -> String {
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
