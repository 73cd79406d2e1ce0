//! Unit tests of the run report: page, charts, escaping.

use super::html::*;
use super::svg::*;
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
