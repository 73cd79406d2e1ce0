//! `ledgerflow explain`: one person's month-by-month timeline with the rule, the
//! dates and the rows behind every status, so an auditor can check each by hand.
//!
//! It re-evaluates the person from the inputs with the same engine as `run`, so it
//! works with a raw ID even when the tables hold pseudonymised keys. In a pseudonymised
//! run it prints the ID the auditor typed (normalised) and nothing else raw: file paths
//! are masked like every other printed text ([`crate::privacy::shown`]).

use crate::config::RuleSet;
use crate::domain::{Date, Month};
use crate::engine::{Batch, GapRow, MonthRow, PersonVerdict, StatusRow};
use crate::id::PersonId;
use crate::ledger::InputFile;
use serde::Serialize;
use std::fmt::Write as _;

pub mod html;

/// How `explain` prints its report: the same facts in each form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
}

/// The report in the chosen form.
pub fn render(r: &Report, format: Format) -> crate::error::Result<String> {
    match format {
        Format::Text => Ok(render_text(r)),
        Format::Json => serde_json::to_string_pretty(r)
            .map_err(|e| crate::error::Error::Internal(e.to_string())),
        Format::Html => Ok(html::render(r)),
    }
}

/// A ledger row behind a month.
#[derive(Serialize, Clone, Debug)]
pub struct RowRef {
    pub period: String,
    pub scheme: String,
    pub payer: String,
    pub amount: String,
    pub base: Option<String>,
    pub paid_on: Option<String>,
    pub source_file: String,
    pub line: u32,
    /// Paid after the knowledge cut-off `K`: invisible to this `as_of`.
    pub after_cutoff: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct MonthLine {
    pub period: String,
    pub scheme: String,
    pub region: u32,
    pub benefit: String,
    pub benefit_ratio: f64,
    pub reason: String,
    pub paid: bool,
    pub paid_on: Option<String>,
    pub on_time: bool,
    /// Employee family: `due(m)` and `required(m)` (RULES §3).
    pub due: Option<String>,
    pub required: Option<String>,
    pub paid_sum: Option<String>,
    pub special_group: Option<String>,
    pub gap_id: Option<i32>,
    pub why: String,
    /// From a bridged gap's first month on, when the two readings of RULES §9
    /// "several gaps" differ: the reading with the bridged gap, then the reading of the
    /// earlier gaps alone. The month takes the worse one.
    pub readings: Option<[ReadingLine; 2]>,
    pub rows: Vec<RowRef>,
}

/// One reading of a month (RULES §9 "several gaps").
#[derive(Serialize, Clone, Debug)]
pub struct ReadingLine {
    pub benefit: String,
    pub reason: String,
    pub gap_id: Option<i32>,
}

#[derive(Serialize, Clone, Debug)]
pub struct GapLine {
    pub gap_id: i32,
    pub kind: String,
    pub gap_start: String,
    pub gap_end: String,
    pub months: i32,
    pub open: bool,
    pub payer: Option<String>,
    pub state: String,
    pub deadline: Option<String>,
    pub backpaid_on: Option<String>,
    pub backpay_amount: String,
    pub late_fee_amount: String,
    pub wait_months: Option<i32>,
    pub benefits_from: Option<String>,
    pub why: String,
}

#[derive(Serialize, Clone, Debug)]
pub struct GroupLine {
    pub group: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ParamLine {
    pub key: String,
    pub value: String,
    pub block_region: String,
    pub effective_from: String,
    /// The block's `reference` (the document its values come from), if it has one.
    pub reference: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub person_id: String,
    pub as_of: String,
    pub knowledge_cutoff: String,
    pub rules_file: String,
    pub rules_sha256: String,
    pub status: Option<StatusLine>,
    pub months: Vec<MonthLine>,
    pub gaps: Vec<GapLine>,
    pub special_groups: Vec<GroupLine>,
    pub findings: Vec<(String, String, String)>,
    pub parameters_region: u32,
    pub parameters: Vec<ParamLine>,
}

#[derive(Serialize, Clone, Debug)]
pub struct StatusLine {
    pub gender: String,
    pub birth_date: String,
    pub region: u32,
    pub scheme: String,
    pub benefit: String,
    pub benefit_ratio: f64,
    pub benefits_from: Option<String>,
    pub first_period: String,
    pub last_paid_period: Option<String>,
    pub cumulative_months: i32,
    pub continuous_months: i32,
    pub continuity_at_risk: bool,
    pub arrears_months: i32,
    pub arrears_amount: String,
    pub late_fee_amount: String,
    pub retirement_min_months: i32,
    pub months_short: i32,
    pub lump_sum_estimate: Option<String>,
    pub resident_continuous_years: i32,
    pub incentive_raise: String,
}

fn ds(d: Option<Date>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// What the person's input rows and verdict say, assembled for the auditor.
pub struct ExplainInput<'a> {
    pub person: PersonId,
    pub as_of: Month,
    pub rows: crate::engine::PersonRows<'a>,
    pub files: &'a [InputFile],
    pub groups: &'a [crate::engine::GroupInterval],
    pub batch: &'a Batch,
    pub verdict: &'a PersonVerdict,
    pub rules: &'a RuleSet,
    pub params: &'a crate::config::Resolver,
}

pub fn build(inp: &ExplainInput) -> Report {
    let k = inp.as_of.last_day();
    let file_name = |f: u32| {
        inp.files
            .get(f as usize)
            .map_or_else(|| "?".to_string(), |f| crate::privacy::shown(&f.path))
    };
    let rows_for = |m: Month, resident: bool| -> Vec<RowRef> {
        let r = &inp.rows;
        (0..r.len())
            .filter(|&i| {
                if resident {
                    r.scheme[i] == crate::domain::Scheme::Resident && r.period[i].year() == m.year()
                } else {
                    r.scheme[i].is_employee_family() && r.period[i] == m
                }
            })
            .map(|i| RowRef {
                period: r.period[i].to_string(),
                scheme: r.scheme[i].to_string(),
                payer: r.payer[i].to_string(),
                amount: r.amount[i].to_string(),
                base: r.base[i].map(|b| b.to_string()),
                paid_on: ds(r.paid_on[i]),
                source_file: file_name(r.file[i]),
                line: r.line[i],
                after_cutoff: r.paid_on[i].is_some_and(|d| d > k),
            })
            .collect()
    };
    let emp = inp.verdict.employee.as_ref();
    let months = inp
        .batch
        .months
        .iter()
        .map(|mr: &MonthRow| {
            let resident = mr.scheme == crate::domain::Scheme::Resident;
            let facts = if resident {
                None
            } else {
                emp.and_then(|e| e.facts(mr.period))
            };
            let readings = facts
                .and_then(|_| emp?.status(mr.period)?.readings)
                .map(|rs| rs.map(|r| reading_line(&r, inp)));
            let mut why = month_why(mr, inp);
            if let Some([with, alone]) = &readings {
                why.push_str(&readings_why(with, alone, mr));
            }
            MonthLine {
                period: mr.period.to_string(),
                scheme: mr.scheme.to_string(),
                region: mr.region,
                benefit: mr.benefit.to_string(),
                benefit_ratio: mr.benefit_ratio,
                reason: mr.reason.to_string(),
                paid: mr.paid,
                paid_on: ds(mr.paid_on),
                on_time: mr.on_time,
                due: facts.map(|f| inp.params.at(f.region, f.period).due(f.period).to_string()),
                required: facts.map(|f| f.required.to_string()),
                paid_sum: facts.map(|f| f.paid_sum.to_string()),
                special_group: mr.special_group.map(|g| g.to_string()),
                gap_id: mr.gap_id,
                why,
                readings,
                rows: rows_for(mr.period, resident),
            }
        })
        .collect();
    let gaps = inp.batch.gaps.iter().map(|g| gap_line(g, inp)).collect();
    let status = inp.batch.status.first().map(status_line);
    let region = inp.batch.status.first().map_or_else(
        || {
            inp.rows
                .region
                .first()
                .copied()
                .unwrap_or_else(|| inp.person.id_region())
        },
        |s| s.region,
    );
    let parameters = inp
        .rules
        .sources(region, inp.as_of)
        .into_iter()
        .map(|s| ParamLine {
            key: s.key,
            value: s.value,
            block_region: s.block_region,
            effective_from: s.effective_from.to_string(),
            reference: s.reference,
        })
        .collect();
    Report {
        person_id: inp.person.to_string(),
        as_of: inp.as_of.to_string(),
        knowledge_cutoff: k.to_string(),
        rules_file: crate::privacy::shown(&inp.rules.path.display().to_string()),
        rules_sha256: inp.rules.sha256.clone(),
        status,
        months,
        gaps,
        special_groups: inp
            .groups
            .iter()
            .map(|g| GroupLine {
                group: g.group.to_string(),
                valid_from: g.valid_from.to_string(),
                valid_to: ds(g.valid_to),
            })
            .collect(),
        findings: inp
            .batch
            .findings
            .iter()
            .map(|f| (f.period.to_string(), f.code.to_string(), f.detail.clone()))
            .collect(),
        parameters_region: region,
        parameters,
    }
}

/// One sentence naming the rule behind a month's status.
fn month_why(mr: &MonthRow, inp: &ExplainInput) -> String {
    use crate::domain::Reason::*;
    let gap = mr
        .gap_id
        .and_then(|id| inp.batch.gaps.iter().find(|g| g.gap_id == id));
    let gap_txt = |g: &GapRow| {
        format!(
            "gap #{} ({} … {}, {})",
            g.gap_id, g.gap_start, g.gap_end, g.state
        )
    };
    match mr.reason {
        Paid => "paid on time; benefits normal (RULES §3-4)".into(),
        FirstWait => "within the first-enrolment wait after the first paid month (RULES §4)".into(),
        GapUnpaid => format!(
            "not paid as of the cut-off: month of {} (RULES §4)",
            gap.map_or_else(|| "a gap".into(), gap_txt)
        ),
        GapBackpaid => format!(
            "paid late (after its due date): month of {} (RULES §4)",
            gap.map_or_else(|| "a gap".into(), gap_txt)
        ),
        ArrearsDue => format!(
            "paid on time, but {} is still pending with arrears due by {} (RULES §4)",
            gap.map_or_else(|| "an earlier gap".into(), gap_txt),
            gap.and_then(|g| g.deadline)
                .map_or_else(|| "?".into(), |d| d.to_string())
        ),
        AwaitingResume => format!(
            "after bridged {}, before the resume date {} (RULES §4)",
            gap.map_or_else(|| "gap".into(), gap_txt),
            gap.and_then(|g| g.benefits_from)
                .map_or_else(|| "?".into(), |d| d.to_string())
        ),
        BreakWait => format!(
            "within the {}-month wait after break {}; benefits from {} (RULES §4)",
            gap.and_then(|g| g.wait_months).unwrap_or(0),
            gap.map_or_else(|| "?".into(), gap_txt),
            gap.and_then(|g| g.benefits_from)
                .map_or_else(|| "?".into(), |d| d.to_string())
        ),
        PostBreakReduced => "reduced months after the wait that followed a break (RULES §4)".into(),
        ResidentCovered => "resident year covered (RULES §5)".into(),
        ResidentWait => "resident year paid, waiting period not over yet (RULES §5)".into(),
        Newborn => {
            "newborn enrolled within the newborn window: covered from birth (RULES §5)".into()
        }
        SpecialGroupExempt => {
            "resident wait waived for a special group active on the payment day (RULES §5-6)".into()
        }
        NotEnrolled => "resident year not paid (yet) at this month's end (RULES §5)".into(),
    }
}

/// A reading with the `gap_id` of its gap: the i-th employee gap of the engine is the
/// i-th employee row of `gaps` (both in `g1` order).
fn reading_line(r: &crate::engine::employee::Reading, inp: &ExplainInput) -> ReadingLine {
    let gap_id = r.gap.and_then(|i| {
        inp.batch
            .gaps
            .iter()
            .filter(|g| g.kind == crate::domain::GapKind::Employee)
            .nth(i)
            .map(|g| g.gap_id)
    });
    ReadingLine {
        benefit: r.benefit.to_string(),
        reason: r.reason.to_string(),
        gap_id,
    }
}

/// Why the worse of the two readings holds (RULES §9 "several gaps").
fn readings_why(with: &ReadingLine, alone: &ReadingLine, mr: &MonthRow) -> String {
    let show = |r: &ReadingLine| {
        format!(
            "{} ({}{})",
            r.benefit,
            r.reason,
            r.gap_id.map_or_else(String::new, |g| format!(", gap #{g}"))
        )
    };
    let verdict = if with.benefit == alone.benefit {
        "both are equally bad, so the bridged gap's reading holds".to_string()
    } else {
        format!("so the worse one holds: {}", mr.benefit)
    };
    format!(
        ". Two readings: with the bridged gap: {}; the earlier gaps alone: {}. A \
         bridged gap never makes a month better than the earlier gaps alone, {verdict} \
         (RULES §9 several gaps)",
        show(with),
        show(alone),
    )
}

fn gap_line(g: &GapRow, _inp: &ExplainInput) -> GapLine {
    use crate::domain::GapState::*;
    let why = match (g.kind, g.state) {
        (crate::domain::GapKind::Resident, _) => format!(
            "{} uncovered resident year(s); the next covered year waited {} month(s) (RULES §5)",
            g.months / 12,
            g.wait_months.map_or_else(|| "?".into(), |w| w.to_string())
        ),
        (_, Bridged) => format!(
            "back-paid on {} by the deadline {}: bridged, continuity kept; benefits from {}",
            ds(g.backpaid_on).unwrap_or_default(),
            ds(g.deadline).unwrap_or_default(),
            ds(g.benefits_from).unwrap_or_default()
        ),
        (_, Pending) => format!(
            "not (fully) back-paid yet; can still be bridged until {}",
            ds(g.deadline).unwrap_or_default()
        ),
        (_, Break) => match g.deadline {
            None => "no back-payment deadline exists (individual gap longer than the short-gap maximum): a break".into(),
            Some(d) => format!("not back-paid by the deadline {d}: a break"),
        },
    };
    GapLine {
        gap_id: g.gap_id,
        kind: g.kind.to_string(),
        gap_start: g.gap_start.to_string(),
        gap_end: g.gap_end.to_string(),
        months: g.months,
        open: g.open,
        payer: g.payer.map(|p| p.to_string()),
        state: g.state.to_string(),
        deadline: ds(g.deadline),
        backpaid_on: ds(g.backpaid_on),
        backpay_amount: g.backpay_amount.to_string(),
        late_fee_amount: g.late_fee_amount.to_string(),
        wait_months: g.wait_months,
        benefits_from: ds(g.benefits_from),
        why,
    }
}

fn status_line(s: &StatusRow) -> StatusLine {
    StatusLine {
        gender: s.gender.to_string(),
        birth_date: s.birth_date.to_string(),
        region: s.region,
        scheme: s.scheme.to_string(),
        benefit: s.benefit.to_string(),
        benefit_ratio: s.benefit_ratio,
        benefits_from: ds(s.benefits_from),
        first_period: s.first_period.to_string(),
        last_paid_period: s.last_paid_period.map(|m| m.to_string()),
        cumulative_months: s.cumulative_months,
        continuous_months: s.continuous_months,
        continuity_at_risk: s.continuity_at_risk,
        arrears_months: s.arrears_months,
        arrears_amount: s.arrears_amount.to_string(),
        late_fee_amount: s.late_fee_amount.to_string(),
        retirement_min_months: s.retirement_min_months,
        months_short: s.months_short,
        lump_sum_estimate: s.lump_sum_estimate.map(|f| f.to_string()),
        resident_continuous_years: s.resident_continuous_years,
        incentive_raise: s.incentive_raise.to_string(),
    }
}

/// The plain-text rendering of a report.
pub fn render_text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "person {}  as of {} (knowledge cut-off {})",
        r.person_id, r.as_of, r.knowledge_cutoff
    );
    let _ = writeln!(o, "rules  {} (sha256 {})", r.rules_file, r.rules_sha256);
    match &r.status {
        None => {
            let _ = writeln!(
                o,
                "\nno history as of {} (no paid month, no resident cover yet)",
                r.as_of
            );
        }
        Some(s) => {
            let _ = writeln!(
                o,
                "\nstatus {} ({}), scheme {}, region {}, {} born {}; benefits_from {}",
                s.benefit,
                s.benefit_ratio,
                s.scheme,
                s.region,
                s.gender,
                s.birth_date,
                s.benefits_from.as_deref().unwrap_or("-")
            );
            let _ = writeln!(
                o,
                "       cumulative {} months, continuous {}, at risk {}; arrears {} months = {}, late fees {}",
                s.cumulative_months,
                s.continuous_months,
                s.continuity_at_risk,
                s.arrears_months,
                s.arrears_amount,
                s.late_fee_amount
            );
            let _ = writeln!(
                o,
                "       retirement minimum {} months, short {}, lump sum estimate {}; resident years {}, incentive {}",
                s.retirement_min_months,
                s.months_short,
                s.lump_sum_estimate.as_deref().unwrap_or("-"),
                s.resident_continuous_years,
                s.incentive_raise
            );
        }
    }
    let _ = writeln!(o, "\nmonths");
    for m in &r.months {
        let money = match (&m.required, &m.paid_sum, &m.due) {
            (Some(req), Some(paid), Some(due)) => {
                format!(" required {req}, paid {paid}, due {due};")
            }
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  {} {:<9} {:<9} {:<20} paid {} on {} on_time {};{} group {}; gap {}",
            m.period,
            m.scheme,
            m.benefit,
            m.reason,
            m.paid,
            m.paid_on.as_deref().unwrap_or("-"),
            m.on_time,
            money,
            m.special_group.as_deref().unwrap_or("-"),
            m.gap_id.map_or_else(|| "-".into(), |g| g.to_string())
        );
        let _ = writeln!(o, "      why: {}", m.why);
        for row in &m.rows {
            let _ = writeln!(
                o,
                "      row {}:{} {} {} {} amount {} base {} paid_on {}{}",
                row.source_file,
                row.line,
                row.period,
                row.scheme,
                row.payer,
                row.amount,
                row.base.as_deref().unwrap_or("-"),
                row.paid_on.as_deref().unwrap_or("(declared, unpaid)"),
                if row.after_cutoff {
                    "  [after the cut-off: not known yet]"
                } else {
                    ""
                }
            );
        }
    }
    let _ = writeln!(o, "\ngaps");
    if r.gaps.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for g in &r.gaps {
        let _ = writeln!(
            o,
            "  #{} {} {} … {} ({} months{}) payer {} state {} deadline {} backpaid_on {} backpay {} late_fee {} wait {} benefits_from {}",
            g.gap_id,
            g.kind,
            g.gap_start,
            g.gap_end,
            g.months,
            if g.open { ", open" } else { "" },
            g.payer.as_deref().unwrap_or("-"),
            g.state,
            g.deadline.as_deref().unwrap_or("-"),
            g.backpaid_on.as_deref().unwrap_or("-"),
            g.backpay_amount,
            g.late_fee_amount,
            g.wait_months.map_or_else(|| "-".into(), |w| w.to_string()),
            g.benefits_from.as_deref().unwrap_or("-")
        );
        let _ = writeln!(o, "      why: {}", g.why);
    }
    let _ = writeln!(o, "\nspecial groups");
    if r.special_groups.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for g in &r.special_groups {
        let _ = writeln!(
            o,
            "  {} {} … {}",
            g.group,
            g.valid_from,
            g.valid_to.as_deref().unwrap_or("(open)")
        );
    }
    let _ = writeln!(o, "\nfindings");
    if r.findings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for (p, c, d) in &r.findings {
        let _ = writeln!(o, "  {p} {c}: {d}");
    }
    let _ = writeln!(
        o,
        "\nparameters for region {} as of {} (value [block region, effective_from; reference])",
        r.parameters_region, r.as_of
    );
    for p in &r.parameters {
        let reference = p
            .reference
            .as_deref()
            .map_or_else(String::new, |x| format!("; {x}"));
        let _ = writeln!(
            o,
            "  {} = {} [{}, {}{reference}]",
            p.key, p.value, p.block_region, p.effective_from
        );
    }
    o
}
