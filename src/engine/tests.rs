//! Rule tests with hand-computed values: one per RULES.md case, without files.
//! The golden scenario tests in `tests/scenarios.rs` run the same cases through the
//! real pipeline; these pin the engine itself and run in milliseconds.

use super::*;
use crate::config::{MonthDay, Params, Resume};
use crate::domain::{Fen, Month, Payer, Rate, Scheme, SpecialGroup};
use crate::ledger::LedgerRows;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
fn m(s: &str) -> Month {
    Month::parse(s).unwrap()
}

/// `person_id,period,scheme,payer,amount,base,paid_on,region` lines, no header.
fn ledger(csv: &str) -> LedgerRows {
    let mut rows = LedgerRows::default();
    for (i, line) in csv
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let f: Vec<&str> = line.split(',').collect();
        rows.person.push(PersonId::parse(f[0]).unwrap());
        rows.period.push(m(f[1]));
        rows.scheme.push(Scheme::parse(f[2]).unwrap());
        rows.payer.push(Payer::parse(f[3]).unwrap());
        rows.amount.push(Fen::parse(f[4]).unwrap());
        rows.base.push(Fen::parse(f[5]));
        rows.paid_on.push(Date::parse(f[6]));
        rows.region.push(f[7].parse().unwrap());
        rows.file.push(0);
        rows.line.push(i as u32 + 2);
    }
    rows
}

fn run_with<P: ParamSource>(
    csv: &str,
    groups: &[(&str, GroupInterval)],
    as_of: &str,
    p: &P,
) -> Batch {
    let (rows, ranges) = sort_for_engine(ledger(csv));
    let mut batch = Batch::default();
    for r in ranges {
        let person = rows.person[r.start];
        let g: Vec<GroupInterval> = groups
            .iter()
            .filter(|(id, _)| PersonId::parse(id).unwrap() == person)
            .map(|x| x.1)
            .collect();
        let input = PersonInput {
            person,
            rows: PersonRows::slice(&rows, r),
            groups: &g,
            claims: &[],
            claims_given: false,
        };
        evaluate_person(&input, p, m(as_of), &mut batch);
    }
    batch
}

fn run(csv: &str, as_of: &str) -> Batch {
    run_with(csv, &[], as_of, &Params::national_defaults())
}

fn months(b: &Batch) -> Vec<(String, Benefit, Reason)> {
    b.months
        .iter()
        .map(|r| (r.period.to_string(), r.benefit, r.reason))
        .collect()
}

fn grp(g: SpecialGroup, from: &str, to: Option<&str>) -> GroupInterval {
    GroupInterval {
        group: g,
        valid_from: d(from),
        valid_to: to.map(d),
    }
}

const S01: &str = "
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
370202198503120113,2025-03,employee,employer,800.00,8000.00,2025-03-20,370200
370202198503120113,2025-04,employee,employer,800.00,8000.00,,370200
370202198503120113,2025-05,employee,employer,800.00,8000.00,,370200
370202198503120113,2025-04,employee,employer,800.00,8000.00,2025-06-15,370200
370202198503120113,2025-05,employee,employer,800.00,8000.00,2025-06-15,370200
370202198503120113,2025-06,employee,employer,800.00,8000.00,2025-06-15,370200";

#[test]
fn employer_arrears_pending_then_bridged_retroactively() {
    // §4 employer gap: deadline = last day of g1 + 6 − 1 = 2025-09-30; §7 fee 31 days × 0.40.
    let b = run(S01, "2025-05");
    let g = &b.gaps[0];
    assert_eq!(
        (g.gap_start, g.gap_end, g.months, g.open),
        (d("2025-04-01"), d("2025-05-31"), 2, true)
    );
    assert_eq!(
        (g.payer, g.state, g.deadline),
        (
            Some(Payer::Employer),
            GapState::Pending,
            Some(d("2025-09-30"))
        )
    );
    assert_eq!(g.late_fee_amount, Fen(1240));
    let s = &b.status[0];
    assert_eq!(
        (
            s.benefit,
            s.cumulative_months,
            s.continuous_months,
            s.continuity_at_risk
        ),
        (Benefit::Suspended, 3, 3, true)
    );
    assert_eq!(
        (s.open_gap_months, s.arrears_months, s.arrears_amount),
        (2, 2, Fen(160_000))
    );
    assert_eq!(s.birth_date, d("1985-03-12"));

    let b = run(S01, "2025-06");
    let ms = months(&b);
    assert_eq!(
        ms[3],
        ("2025-04".into(), Benefit::Restored, Reason::GapBackpaid)
    );
    assert_eq!(ms[5], ("2025-06".into(), Benefit::Active, Reason::Paid));
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.backpaid_on, g.benefits_from),
        (
            GapState::Bridged,
            Some(d("2025-06-15")),
            Some(d("2025-06-16"))
        )
    );
    assert_eq!(g.late_fee_amount, Fen(2440)); // 46 days × 0.40 + 15 days × 0.40
    let s = &b.status[0];
    assert_eq!(
        (s.cumulative_months, s.continuous_months, s.months_short),
        (6, 6, 294)
    );
    assert_eq!(s.lump_sum_estimate, Some(Fen(13_171_200)));
    assert_eq!((s.arrears_amount, s.late_fee_amount), (Fen(0), Fen(2440)));
}

const S02: &str = "
370202199007010227,2025-01,flexible,individual,600.00,6000.00,2025-01-10,370200
370202199007010227,2025-07,flexible,individual,600.00,6000.00,2025-07-10,370200
370202199007010227,2025-08,flexible,individual,600.00,6000.00,2025-08-10,370200
370202199007010227,2025-09,flexible,individual,600.00,6000.00,2025-09-10,370200
370202199007010227,2025-10,flexible,individual,600.00,6000.00,2025-10-10,370200
370202199007010227,2025-11,flexible,individual,600.00,6000.00,2025-11-10,370200
370202199007010227,2025-12,flexible,individual,600.00,6000.00,2025-12-10,370200";

#[test]
fn flexible_long_gap_is_a_break_with_three_month_wait() {
    let b = run(S02, "2025-08");
    assert_eq!(
        months(&b)[6],
        ("2025-07".into(), Benefit::Waiting, Reason::BreakWait)
    );
    assert_eq!(b.status[0].benefits_from, Some(d("2025-10-01")));
    assert_eq!(b.status[0].gender, Gender::Female);
    let b = run(S02, "2025-12");
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.deadline, g.wait_months, g.benefits_from),
        (GapState::Break, None, Some(3), Some(d("2025-10-01")))
    );
    assert_eq!(g.late_fee_amount, Fen(0)); // never on a break's unpaid months
    assert_eq!(
        months(&b)[9],
        ("2025-10".into(), Benefit::Active, Reason::Paid)
    );
    let s = &b.status[0];
    assert_eq!(
        (
            s.cumulative_months,
            s.continuous_months,
            s.longest_gap_months,
            s.retirement_min_months
        ),
        (7, 6, 5, 240)
    );
}

const S03: &str = "
370202198805150318,2025-01,flexible,individual,600.00,6000.00,2025-01-10,370200
370202198805150318,2025-02,flexible,individual,600.00,6000.00,2025-02-10,370200
370202198805150318,2025-03,flexible,individual,600.00,6000.00,2025-03-10,370200
370202198805150318,2025-04,flexible,individual,600.00,6000.00,2025-07-10,370200
370202198805150318,2025-05,flexible,individual,600.00,6000.00,2025-07-10,370200
370202198805150318,2025-06,flexible,individual,600.00,6000.00,2025-07-10,370200
370202198805150318,2025-07,flexible,individual,600.00,6000.00,2025-07-10,370200";

#[test]
fn three_month_gap_is_short_inclusive_and_resumes_next_month() {
    let b = run(S03, "2025-06");
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.open, g.deadline, g.late_fee_amount),
        (GapState::Pending, true, Some(d("2025-09-30")), Fen(2730))
    );
    assert_eq!(
        (b.status[0].arrears_months, b.status[0].arrears_amount),
        (3, Fen(180_000))
    );
    let b = run(S03, "2025-07");
    assert_eq!(
        months(&b)[3],
        ("2025-04".into(), Benefit::Suspended, Reason::GapBackpaid)
    );
    assert_eq!(
        months(&b)[6],
        ("2025-07".into(), Benefit::Suspended, Reason::AwaitingResume)
    );
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.benefits_from, g.late_fee_amount),
        (GapState::Bridged, Some(d("2025-08-01")), Fen(3630))
    );
    assert_eq!(b.status[0].benefits_from, Some(d("2025-08-01")));
    assert_eq!(
        (b.status[0].cumulative_months, b.status[0].continuous_months),
        (7, 7)
    );
}

const S04: &str = "
370202199202030426,2025-01,flexible,individual,600.00,6000.00,2025-01-10,370200
370202199202030426,2025-02,flexible,individual,600.00,6000.00,2025-02-10,370200
370202199202030426,2025-05,flexible,individual,600.00,6000.00,2025-05-10,370200
370202199202030426,2025-06,flexible,individual,600.00,6000.00,2025-06-10,370200
370202199202030426,2025-07,flexible,individual,600.00,6000.00,2025-07-10,370200
370202199202030426,2025-08,flexible,individual,600.00,6000.00,2025-08-10,370200
370202199202030426,2025-09,flexible,individual,600.00,6000.00,2025-09-10,370200
370202199202030426,2025-10,flexible,individual,600.00,6000.00,2025-10-10,370200
370202199202030426,2025-11,flexible,individual,600.00,6000.00,2025-11-10,370200
370202199202030426,2025-12,flexible,individual,600.00,6000.00,2025-12-10,370200";

#[test]
fn short_gap_never_backpaid_turns_into_a_break_after_its_deadline() {
    let b = run(S04, "2025-06");
    assert_eq!(
        months(&b)[4],
        ("2025-05".into(), Benefit::Suspended, Reason::ArrearsDue)
    );
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.open, g.deadline, g.late_fee_amount),
        (GapState::Pending, false, Some(d("2025-07-31")), Fen(4560))
    );
    assert_eq!(
        (b.status[0].continuous_months, b.status[0].arrears_amount),
        (4, Fen(120_000))
    );
    let b = run(S04, "2025-12");
    let ms = months(&b);
    assert_eq!(
        ms[4],
        ("2025-05".into(), Benefit::Waiting, Reason::BreakWait)
    );
    assert_eq!(ms[7], ("2025-08".into(), Benefit::Active, Reason::Paid));
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.wait_months, g.benefits_from, g.late_fee_amount),
        (GapState::Break, Some(3), Some(d("2025-08-01")), Fen(0))
    );
    assert_eq!(
        (
            b.status[0].cumulative_months,
            b.status[0].continuous_months,
            b.status[0].continuity_at_risk
        ),
        (10, 8, false)
    );
}

#[test]
fn growing_open_gap_becomes_a_break_in_its_fourth_month() {
    // §9: pending with arrears for 3 open months, a break (no arrears, no fees) in the 4th.
    let csv = "370202199202030426,2025-01,flexible,individual,600.00,6000.00,2025-01-10,370200";
    let s = &run(csv, "2025-04").status[0];
    assert_eq!(
        (s.continuity_at_risk, s.arrears_months, s.arrears_amount),
        (true, 3, Fen(180_000))
    );
    let b = run(csv, "2025-05");
    let s = &b.status[0];
    assert_eq!(
        (s.continuity_at_risk, s.arrears_amount, s.late_fee_amount),
        (false, Fen(0), Fen(0))
    );
    assert_eq!(
        (s.continuous_months, s.benefits_from, b.gaps[0].wait_months),
        (0, None, None)
    );
}

#[test]
fn employer_gap_past_the_six_month_window_is_a_break() {
    // Declared Feb, paid in September: B = 2025-09-10 > deadline 2025-07-31 → break, W = 6.
    let csv = "
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-09-10,370200
370202198503120113,2025-03,employee,employer,800.00,8000.00,2025-03-20,370200";
    let b = run(csv, "2025-09");
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.deadline, g.wait_months),
        (GapState::Break, Some(d("2025-07-31")), Some(6))
    );
    assert_eq!(g.benefits_from, Some(d("2025-09-01")));
    // A break's back-paid month still carries its late fee: 800 × 0.0005 × 194 days
    // (2025-02-28 → 2025-09-10).
    assert_eq!(g.late_fee_amount, Fen(7760));
    assert_eq!(
        months(&b)[2],
        ("2025-03".into(), Benefit::Waiting, Reason::BreakWait)
    );
    // Cumulative months count back-paid months too (§4), even in a break.
    assert_eq!(b.status[0].cumulative_months, 3);
}

#[test]
fn first_month_paid_late_opens_with_a_gap_and_underpaid_month_is_a_finding() {
    let csv = "
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-02-05,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
370202198503120113,2025-03,employee,employer,700.00,8000.00,2025-03-20,370200";
    let b = run(csv, "2025-03");
    assert_eq!(b.gaps[0].gap_start, d("2025-01-01"));
    assert_eq!(b.gaps[0].state, GapState::Bridged);
    assert_eq!(b.gaps[1].gap_start, d("2025-03-01"));
    assert_eq!(b.findings.len(), 1);
    assert_eq!(
        (b.findings[0].code, b.findings[0].period),
        (FindingCode::Underpaid, m("2025-03"))
    );
}

#[test]
fn late_fee_example_and_cap() {
    // §7 example: 800.00 due 2025-03-31, paid 2025-06-20 → 81 days → 32.40.
    let mut p = Params::national_defaults();
    assert_eq!(
        employee::late_fee(Fen(80_000), d("2025-06-20").days_since(d("2025-03-31")), &p),
        Fen(3240)
    );
    p.late_fee_cap_at_principal = true;
    assert_eq!(employee::late_fee(Fen(80_000), 5000, &p), Fen(80_000));
    // Half-up to the fen: 333.33 × 0.0005 × 3 = 0.499995 → 0.50.
    p.late_fee_cap_at_principal = false;
    assert_eq!(employee::late_fee(Fen(33_333), 3, &p), Fen(50));
}

#[test]
fn resume_dates_at_month_ends() {
    assert_eq!(
        employee::resume_date(Resume::DayAfterPayment, d("2025-01-31")),
        d("2025-02-01")
    );
    assert_eq!(
        employee::resume_date(Resume::NextMonth, d("2024-12-31")),
        d("2025-01-01")
    );
    assert_eq!(
        employee::resume_date(Resume::PaymentDay, d("2024-02-29")),
        d("2024-02-29")
    );
}

#[test]
fn first_enrolment_wait_and_post_break_reduced_months_are_parameters() {
    let mut p = Params::national_defaults();
    p.first_enrolment_wait_months_flexible = 3; // Jiangsu
    p.post_break_reduced_months = 2;
    p.waiting_benefit_ratio = Rate::from_f64(0.5); // Fuzhou
    let b = run_with(S02, &[], "2025-12", &p);
    let ms = months(&b);
    assert_eq!(
        ms[0],
        ("2025-01".into(), Benefit::Waiting, Reason::FirstWait)
    );
    assert_eq!(b.months[6].benefit_ratio, 0.5);
    assert_eq!(
        ms[9],
        ("2025-10".into(), Benefit::Reduced, Reason::PostBreakReduced)
    );
    assert_eq!(b.months[9].benefit_ratio, 0.5);
    assert_eq!(ms[11], ("2025-12".into(), Benefit::Active, Reason::Paid));
}

// ---- §5 resident scheme ----

#[test]
fn resident_wait_formula_worked_checks() {
    let p = Params::national_defaults();
    assert_eq!(resident::wait_months(&p, 1, 0), 3);
    assert_eq!(resident::wait_months(&p, 3, 0), 5);
    assert_eq!(resident::wait_months(&p, 3, 2), 3);
    assert_eq!(resident::wait_months(&p, 5, 0), 7);
    assert_eq!(resident::wait_months(&p, 5, 1), 6);
    assert_eq!(resident::wait_months(&p, 5, 2), 6);
    let mut a = p.clone();
    a.variable_free_break_years = 0; // "interpretation A"
    assert_eq!(resident::wait_months(&a, 3, 0), 6);
}

fn resident_benefits_from(csv: &str, as_of: &str, year: i32) -> Option<Date> {
    let b = run(csv, as_of);
    b.gaps
        .iter()
        .find(|g| g.kind == GapKind::Resident && g.gap_end.ymd().0 == year - 1)
        .and_then(|g| g.benefits_from)
}

#[test]
fn resident_worked_checks_from_rules_section_5() {
    let one_break = "
370202197008080519,2025-01,resident,individual,400.00,,2024-11-15,370200
370202197008080519,2027-01,resident,individual,400.00,,2026-10-20,370200";
    assert_eq!(
        resident_benefits_from(one_break, "2027-12", 2027),
        Some(d("2027-04-01"))
    );
    let five = "
370202197008080519,2024-01,resident,individual,400.00,,2023-11-15,370200
370202197008080519,2030-01,resident,individual,400.00,,2029-10-20,370200";
    assert_eq!(
        resident_benefits_from(five, "2030-12", 2030),
        Some(d("2030-08-01"))
    );
    let five_one_repair =
        format!("{five}\n370202197008080519,2029-01,resident,individual,400.00,,2030-01-05,370200");
    // The 2029 repair is paid after 2029 ended but by K (2030-12-31): W = 6.
    assert_eq!(
        resident_benefits_from(&five_one_repair, "2030-12", 2030),
        Some(d("2030-07-01"))
    );
}

#[test]
fn scenario_05_break_years_and_repair() {
    let csv = "
370202197008080519,2024-01,resident,individual,400.00,,2023-11-15,370200
370202197008080519,2028-01,resident,individual,400.00,,2027-10-20,370200
370202196011110729,2024-01,resident,individual,400.00,,2023-11-15,370200
370202196011110729,2025-01,resident,individual,400.00,,2027-10-20,370200
370202196011110729,2026-01,resident,individual,400.00,,2027-10-20,370200
370202196011110729,2028-01,resident,individual,400.00,,2027-10-20,370200";
    let b = run(csv, "2028-12");
    let find = |id: &str, per: &str| {
        let p = PersonId::parse(id).unwrap();
        b.months
            .iter()
            .find(|r| r.person == p && r.period == m(per))
            .map(|r| (r.benefit, r.reason))
    };
    assert_eq!(
        find("370202197008080519", "2024-01"),
        Some((Benefit::Active, Reason::ResidentCovered))
    );
    assert_eq!(
        find("370202197008080519", "2027-12"),
        Some((Benefit::Suspended, Reason::NotEnrolled))
    );
    assert_eq!(
        find("370202197008080519", "2028-05"),
        Some((Benefit::Waiting, Reason::ResidentWait))
    );
    assert_eq!(
        find("370202197008080519", "2028-06"),
        Some((Benefit::Active, Reason::ResidentCovered))
    );
    assert_eq!(
        find("370202196011110729", "2028-03"),
        Some((Benefit::Waiting, Reason::ResidentWait))
    );
    assert_eq!(
        find("370202196011110729", "2028-04"),
        Some((Benefit::Active, Reason::ResidentCovered))
    );
    let gaps: Vec<_> = b
        .gaps
        .iter()
        .map(|g| {
            (
                g.gap_start,
                g.gap_end,
                g.months,
                g.open,
                g.state,
                g.wait_months,
                g.benefits_from,
            )
        })
        .collect();
    assert_eq!(
        gaps,
        vec![
            (
                d("2025-01-01"),
                d("2027-12-31"),
                36,
                false,
                GapState::Break,
                Some(3),
                Some(d("2028-04-01"))
            ),
            (
                d("2025-01-01"),
                d("2027-12-31"),
                36,
                false,
                GapState::Break,
                Some(5),
                Some(d("2028-06-01"))
            ),
        ]
    );
    assert_eq!(b.gaps[0].backpay_amount, Fen(80_000));
}

const S06: &str = "
370202197505050628,2025-01,resident,individual,400.00,,2024-10-01,370200
370202197505050628,2026-01,resident,individual,400.00,,2026-03-10,370200";

#[test]
fn scenario_06_resident_paying_late_waits_three_months_from_the_payment_day() {
    let b = run(S06, "2026-12");
    let ms = months(&b);
    assert_eq!(ms.len(), 24);
    assert_eq!(
        ms[13],
        ("2026-02".into(), Benefit::Suspended, Reason::NotEnrolled)
    );
    assert_eq!(
        ms[14],
        ("2026-03".into(), Benefit::Waiting, Reason::ResidentWait)
    );
    assert_eq!(
        ms[17],
        ("2026-06".into(), Benefit::Active, Reason::ResidentCovered)
    );
    let s = &b.status[0];
    assert_eq!(
        (s.scheme, s.benefit, s.resident_continuous_years),
        (Scheme::Resident, Benefit::Active, 2)
    );
    let s = &run(S06, "2026-04").status[0];
    assert_eq!(
        (s.benefit, s.benefits_from),
        (Benefit::Waiting, Some(d("2026-06-10")))
    );
}

#[test]
fn scenario_07_special_groups() {
    let csv = "
370202195512120816,2026-01,resident,government,360.00,,2026-05-20,370200
370202195512120816,2026-01,resident,individual,40.00,,2026-05-20,370200
370202196506060946,2025-01,resident,government,400.00,,2024-11-10,370200
370202196506060946,2026-01,resident,government,400.00,,2025-11-10,370200
370202198001010133,2026-01,resident,individual,400.00,,2025-12-01,370200";
    let groups = [
        (
            "370202195512120816",
            grp(SpecialGroup::Dibao, "2026-05-15", None),
        ),
        (
            "370202196506060946",
            grp(SpecialGroup::Tekun, "2024-01-01", Some("2025-06-30")),
        ),
        (
            "370202198001010133",
            grp(SpecialGroup::DisabledSevere, "2024-01-01", None),
        ),
    ];
    let b = run_with(csv, &groups, "2026-12", &Params::national_defaults());
    let row = |id: &str, per: &str| {
        let p = PersonId::parse(id).unwrap();
        b.months
            .iter()
            .find(|r| r.person == p && r.period == m(per))
            .map(|r| (r.benefit, r.reason, r.special_group))
    };
    let first = |id: &str| {
        let p = PersonId::parse(id).unwrap();
        b.months.iter().find(|r| r.person == p).map(|r| r.period)
    };
    assert_eq!(first("370202195512120816"), Some(m("2026-05")));
    assert_eq!(first("370202196506060946"), Some(m("2025-01")));
    assert_eq!(first("370202198001010133"), Some(m("2026-01")));
    use SpecialGroup::*;
    assert_eq!(
        row("370202195512120816", "2026-05"),
        Some((Benefit::Active, Reason::SpecialGroupExempt, Some(Dibao)))
    );
    assert_eq!(
        row("370202196506060946", "2025-06"),
        Some((Benefit::Active, Reason::SpecialGroupExempt, Some(Tekun)))
    );
    assert_eq!(
        row("370202196506060946", "2025-07"),
        Some((Benefit::Active, Reason::SpecialGroupExempt, None))
    );
    assert_eq!(
        row("370202196506060946", "2026-01"),
        Some((Benefit::Active, Reason::ResidentCovered, None))
    );
    assert_eq!(
        row("370202198001010133", "2026-01"),
        Some((
            Benefit::Active,
            Reason::SpecialGroupExempt,
            Some(DisabledSevere)
        ))
    );
    let f: Vec<_> = b
        .findings
        .iter()
        .map(|f| (f.person.to_string(), f.period.to_string(), f.code))
        .collect();
    assert_eq!(
        f,
        vec![
            (
                "370202196506060946".into(),
                "2026-01".into(),
                FindingCode::SubsidyWithoutStatus
            ),
            (
                "370202198001010133".into(),
                "2025-01".into(),
                FindingCode::StatusGap
            ),
            (
                "370202198001010133".into(),
                "2026-01".into(),
                FindingCode::StatusWithoutSubsidy
            ),
        ]
    );
}

#[test]
fn subsidy_mismatch_uses_the_group_on_the_payment_day() {
    let csv = "
370202195512120816,2026-01,resident,government,200.00,,2025-11-20,370200
370202195512120816,2026-01,resident,individual,200.00,,2025-11-20,370200";
    let groups = [(
        "370202195512120816",
        grp(SpecialGroup::Dibao, "2025-01-01", None),
    )];
    let b = run_with(csv, &groups, "2026-12", &Params::national_defaults());
    // dibao 0.9 × 400.00 = 360.00 expected, 200.00 paid; and no enrolment at all in 2025.
    let f: Vec<_> = b
        .findings
        .iter()
        .map(|f| (f.period.to_string(), f.code))
        .collect();
    assert_eq!(
        f,
        vec![
            ("2025-01".into(), FindingCode::StatusGap),
            ("2026-01".into(), FindingCode::SubsidyMismatch)
        ]
    );
}

#[test]
fn subsidy_under_a_group_that_ended_before_the_year_is_without_status_and_mismatched() {
    // dibao until 2025-12-15; the 2026 subsidy paid 2025-11-10 under it: 400.00 where
    // 0.9 × 400.00 = 360.00 is due, and no group is active in any month of 2026.
    let csv = "
370202195512120816,2026-01,resident,government,400.00,,2025-11-10,370200";
    let groups = [(
        "370202195512120816",
        grp(SpecialGroup::Dibao, "2024-01-01", Some("2025-12-15")),
    )];
    let b = run_with(csv, &groups, "2026-12", &Params::national_defaults());
    let f: Vec<_> = b
        .findings
        .iter()
        .filter(|f| f.period.to_string() == "2026-01")
        .map(|f| f.code)
        .collect();
    assert_eq!(
        f,
        vec![
            FindingCode::SubsidyWithoutStatus,
            FindingCode::SubsidyMismatch
        ]
    );
}

#[test]
fn scenario_08_newborn_covered_from_birth() {
    let csv = "370202202610200150,2026-01,resident,individual,400.00,,2026-12-01,370200";
    let b = run(csv, "2026-12");
    assert_eq!(
        months(&b),
        vec![
            ("2026-10".into(), Benefit::Active, Reason::Newborn),
            ("2026-11".into(), Benefit::Active, Reason::Newborn),
            ("2026-12".into(), Benefit::Active, Reason::Newborn),
        ]
    );
    let s = &b.status[0];
    assert_eq!(
        (s.gender, s.birth_date, s.benefit, s.lump_sum_estimate),
        (Gender::Male, d("2026-10-20"), Benefit::Active, None)
    );
}

#[test]
fn window_crossing_the_year_end_and_grace_date() {
    let mut p = Params::national_defaults();
    p.resident_window_open = MonthDay { month: 9, day: 15 };
    p.resident_window_close = MonthDay { month: 2, day: 28 }; // Nanchang
    assert_eq!(resident::window_close(&p, 2026), d("2026-02-28"));
    assert_eq!(
        resident::window_close(&Params::national_defaults(), 2026),
        d("2025-12-31")
    );
    // Insured 2025, pays 2026 on 2026-02-10: inside Nanchang's window → covered from Jan 1.
    let csv = "
370202197505050628,2025-01,resident,individual,400.00,,2024-10-01,370200
370202197505050628,2026-01,resident,individual,400.00,,2026-02-10,370200";
    let b = run_with(csv, &[], "2026-12", &p);
    assert_eq!(
        months(&b)[12],
        ("2026-01".into(), Benefit::Active, Reason::ResidentCovered)
    );
    // Fujian grace 02-28: after the window but by the grace date → covered from P(Y), no wait.
    let mut f = Params::national_defaults();
    f.resident_grace_until = Some(MonthDay { month: 2, day: 28 });
    let b = run_with(csv, &[], "2026-12", &f);
    assert_eq!(
        months(&b)[12],
        ("2026-01".into(), Benefit::Suspended, Reason::NotEnrolled)
    );
    assert_eq!(
        months(&b)[13],
        ("2026-02".into(), Benefit::Active, Reason::ResidentCovered)
    );
}

#[test]
fn switch_from_employee_within_three_months_is_continuous() {
    // Employee until 2025-10, then resident 2026 paid in March: continuous (switch gap ≤ 3),
    // but outside the window → fixed wait 3 from the payment day.
    let csv = "
370202198503120113,2025-09,employee,employer,800.00,8000.00,2025-09-20,370200
370202198503120113,2025-10,employee,employer,800.00,8000.00,2025-10-20,370200
370202198503120113,2026-01,resident,individual,400.00,,2025-12-20,370200";
    let b = run(csv, "2026-03");
    let r = b.months.iter().find(|r| r.period == m("2026-01")).unwrap();
    assert_eq!(
        (r.scheme, r.benefit, r.reason),
        (Scheme::Resident, Benefit::Active, Reason::ResidentCovered)
    );
    // Nov–Dec 2025: the employee gap (individual, open) is suspended, no resident cover yet.
    assert_eq!(b.status[0].scheme, Scheme::Resident);
    assert_eq!(b.status[0].resident_continuous_years, 2);
}

#[test]
fn incentive_raise_is_capped() {
    let p = Params::national_defaults();
    assert_eq!(resident::incentive_raise(&p, 4, 0), Fen(0));
    assert_eq!(resident::incentive_raise(&p, 5, 0), Fen(100_000));
    assert_eq!(resident::incentive_raise(&p, 200, 0), Fen(6_000_000)); // 20 % of 300 000.00
}

// ---- review: clause-by-clause checks (hand-computed) ----

#[test]
fn employer_gap_fees_arrears_and_payer_of_rowless_and_fund_months() {
    // Gap Feb–Apr 2025: Feb declared by the unemployment fund (payer employer, no fee),
    // Mar without rows (base 8000 carried, fee by the gap's payer), Apr declared by the
    // employer at base 9000 and paid 400.00 of 900.00. Deadline 2025-07-31 → pending.
    let csv = "
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-02,employee,unemployment_fund,800.00,8000.00,,370200
370202198503120113,2025-04,employee,employer,900.00,9000.00,,370200
370202198503120113,2025-04,employee,employer,400.00,9000.00,2025-05-10,370200
370202198503120113,2025-05,employee,employer,900.00,9000.00,2025-05-20,370200";
    let b = run(csv, "2025-05");
    let g = &b.gaps[0];
    assert_eq!(
        (g.gap_start, g.months, g.open, g.payer, g.state, g.deadline),
        (
            d("2025-02-01"),
            3,
            false,
            Some(Payer::Employer),
            GapState::Pending,
            Some(d("2025-07-31"))
        )
    );
    // Mar: 800 × 0.0005 × 61 = 24.40; Apr: 900 × 0.0005 × 31 = 13.95 (whole required).
    assert_eq!(
        (g.late_fee_amount, g.backpay_amount),
        (Fen(3835), Fen(40_000))
    );
    let s = &b.status[0];
    // Owed: 800 + 800 + (900 − 400).
    assert_eq!(
        (s.arrears_months, s.arrears_amount, s.late_fee_amount),
        (3, Fen(210_000), Fen(3835))
    );
    assert_eq!(
        (
            s.cumulative_months,
            s.continuous_months,
            s.continuity_at_risk
        ),
        (2, 2, true)
    );
    assert_eq!(
        months(&b)[4],
        ("2025-05".into(), Benefit::Suspended, Reason::ArrearsDue)
    );
    assert_eq!(
        b.findings
            .iter()
            .map(|f| (f.period, f.code))
            .collect::<Vec<_>>(),
        vec![(m("2025-04"), FindingCode::Underpaid)]
    );
}

#[test]
fn repair_paid_after_the_payment_of_y_but_by_k_counts() {
    // Insured 2024; none 2025–27; 2028 paid in the window → N = 3, W = 5. Repairs of 2025
    // and 2026 arrive in February and March 2028: as of 2028-01 they do not exist yet.
    let csv = "
370202197008080519,2024-01,resident,individual,400.00,,2023-11-15,370200
370202197008080519,2028-01,resident,individual,400.00,,2027-10-20,370200
370202197008080519,2025-01,resident,individual,400.00,,2028-02-01,370200
370202197008080519,2026-01,resident,individual,400.00,,2028-03-01,370200";
    assert_eq!(
        resident_benefits_from(csv, "2028-01", 2028),
        Some(d("2028-06-01"))
    );
    let b = run(csv, "2028-12");
    assert_eq!(b.gaps[0].wait_months, Some(3));
    assert_eq!(b.gaps[0].benefits_from, Some(d("2028-04-01")));
    assert_eq!(b.gaps[0].backpay_amount, Fen(80_000));
    let apr = b.months.iter().find(|r| r.period == m("2028-04")).unwrap();
    assert_eq!(apr.benefit, Benefit::Active);
}

#[test]
fn gap_ids_across_both_kinds_and_status_from_the_better_family() {
    // Employee Jan–Jun 2024, then nothing (open individual break from 2024-07). Resident
    // 2027 paid in the window: not continuous, N = 2 (2025, 2026) → W = 3 + 1 = 4.
    let mut csv = String::new();
    for mo in 1..=6 {
        csv.push_str(&format!(
            "370202198503120113,2024-{mo:02},employee,employer,800.00,8000.00,2024-{mo:02}-20,370200\n"
        ));
    }
    csv.push_str("370202198503120113,2027-01,resident,individual,400.00,,2026-11-01,370200\n");
    let b = run(&csv, "2027-06");
    let g: Vec<_> = b
        .gaps
        .iter()
        .map(|g| {
            (
                g.gap_id,
                g.kind,
                g.gap_start,
                g.gap_end,
                g.open,
                g.wait_months,
            )
        })
        .collect();
    assert_eq!(
        g,
        vec![
            (
                1,
                GapKind::Employee,
                d("2024-07-01"),
                d("2027-06-30"),
                true,
                None
            ),
            (
                2,
                GapKind::Resident,
                d("2025-01-01"),
                d("2026-12-31"),
                false,
                Some(4)
            ),
        ]
    );
    assert_eq!(b.gaps[1].benefits_from, Some(d("2027-05-01")));
    let row = |per: &str| b.months.iter().find(|r| r.period == m(per)).unwrap();
    assert_eq!(
        (
            row("2025-03").scheme,
            row("2025-03").reason,
            row("2025-03").gap_id
        ),
        (Scheme::Employee, Reason::GapUnpaid, Some(1))
    );
    assert_eq!(
        (
            row("2027-04").scheme,
            row("2027-04").benefit,
            row("2027-04").gap_id
        ),
        (Scheme::Resident, Benefit::Waiting, None)
    );
    assert_eq!(row("2027-05").benefit, Benefit::Active);
    let s = &b.status[0];
    assert_eq!(
        (s.scheme, s.benefit, s.benefits_from, s.first_period),
        (Scheme::Resident, Benefit::Active, None, m("2024-01"))
    );
    assert_eq!(
        (
            s.cumulative_months,
            s.continuous_months,
            s.continuity_at_risk,
            s.gap_count,
            s.open_gap_months
        ),
        (6, 0, false, 1, 36)
    );
    // (300 − 6) × 8000.00 × 0.056 = 131 712.00
    assert_eq!(s.lump_sum_estimate, Some(Fen(13_171_200)));
    assert_eq!(s.resident_continuous_years, 1);
}

#[test]
fn lump_sum_uses_a_declared_employee_base_when_no_employee_month_is_paid() {
    // §9: the latest employee-family month ≤ A with a base; null only for resident-only
    // people. A declared (unpaid) employee month has a base.
    let csv = "
370202198503120113,2026-01,employee,employer,500.00,5000.00,,370200
370202198503120113,2026-01,resident,individual,400.00,,2025-11-01,370200";
    let s = &run(csv, "2026-03").status[0];
    assert_eq!(
        (s.scheme, s.cumulative_months, s.months_short),
        (Scheme::Resident, 0, 300)
    );
    // 300 × 5000.00 × 0.056 = 84 000.00
    assert_eq!(s.lump_sum_estimate, Some(Fen(8_400_000)));
}

#[test]
fn findings_after_a_only_for_subsidies() {
    // Dibao since 2025; the only payments are for 2027, made in the 2026 window; A = 2026-12.
    let csv = "
370202195512120816,2027-01,resident,government,100.00,,2026-11-01,370200
370202195512120816,2027-01,resident,individual,300.00,,2026-11-01,370200
370202196506060946,2027-01,resident,individual,400.00,,2026-11-01,370200
370202196506060946,2027-02,employee,employer,100.00,8000.00,2026-11-01,370200";
    let groups = [
        (
            "370202195512120816",
            grp(SpecialGroup::Dibao, "2025-01-01", None),
        ),
        (
            "370202196506060946",
            grp(SpecialGroup::Dibao, "2025-01-01", None),
        ),
    ];
    let b = run_with(csv, &groups, "2026-12", &Params::national_defaults());
    let f: Vec<_> = b
        .findings
        .iter()
        .map(|f| (f.person.to_string(), f.period.to_string(), f.code))
        .collect();
    use FindingCode::*;
    assert_eq!(
        f,
        vec![
            ("370202195512120816".into(), "2025-01".into(), StatusGap),
            ("370202195512120816".into(), "2026-01".into(), StatusGap),
            (
                "370202195512120816".into(),
                "2027-01".into(),
                SubsidyMismatch
            ),
            ("370202196506060946".into(), "2025-01".into(), StatusGap),
            ("370202196506060946".into(), "2026-01".into(), StatusGap),
        ]
    );
    assert!(b.status.is_empty());
}

#[test]
fn window_crossing_year_end_not_continuous_waits_from_jan_1() {
    // Nanchang window 09-15 … 02-28. Insured 2024, none 2025, pays 2026 on 2026-02-10 (in
    // the window, not continuous): N = 1, W = 3 from Jan 1 → 2026-04-01. January is unpaid
    // at its month end.
    let mut p = Params::national_defaults();
    p.resident_window_open = MonthDay { month: 9, day: 15 };
    p.resident_window_close = MonthDay { month: 2, day: 28 };
    let csv = "
370202197505050628,2024-01,resident,individual,400.00,,2023-10-01,370200
370202197505050628,2026-01,resident,individual,400.00,,2026-02-10,370200";
    let b = run_with(csv, &[], "2026-12", &p);
    let ms = months(&b);
    assert_eq!(ms[0].0, "2024-01");
    assert_eq!(
        ms[14],
        ("2025-03".into(), Benefit::Suspended, Reason::NotEnrolled)
    );
    assert_eq!(b.months[14].gap_id, Some(1));
    assert_eq!(
        ms[24],
        ("2026-01".into(), Benefit::Suspended, Reason::NotEnrolled)
    );
    assert_eq!(
        ms[25],
        ("2026-02".into(), Benefit::Waiting, Reason::ResidentWait)
    );
    assert_eq!(
        ms[27],
        ("2026-04".into(), Benefit::Active, Reason::ResidentCovered)
    );
    assert!(b.months[25].on_time);
    let g = &b.gaps[0];
    assert_eq!(
        (g.gap_start, g.gap_end, g.wait_months, g.benefits_from),
        (
            d("2025-01-01"),
            d("2025-12-31"),
            Some(3),
            Some(d("2026-04-01"))
        )
    );
}

#[test]
fn repair_floor_is_never_above_the_unrepaired_wait() {
    // Two free break years: N = 4 → unrepaired 3 + 2 = 5 < floor 6, so the floor is 5;
    // three repairs cannot bring it lower. N = 3 is below the floor years: 3 + 1 − 3 = 1.
    let mut p = Params::national_defaults();
    p.variable_free_break_years = 2;
    assert_eq!(resident::wait_months(&p, 4, 0), 5);
    assert_eq!(resident::wait_months(&p, 4, 3), 5);
    // N = 3 is below the floor years: 3 + max(0, 3 − 2 − 3) = 3, the fixed part.
    assert_eq!(resident::wait_months(&p, 3, 3), 3);
}

#[test]
fn repairs_remove_variable_months_only() {
    // RULES §5 (2026-12-01): W = fixed + max(0, N − free − repairs); the fixed 3 months
    // cannot be repaired. The old engine gave 2 for both.
    let p = Params::national_defaults();
    assert_eq!(resident::wait_months(&p, 3, 3), 3);
    assert_eq!(resident::wait_months(&p, 1, 1), 3);
    assert_eq!(resident::wait_months(&p, 2, 1), 3);
    assert_eq!(resident::wait_months(&p, 3, 1), 4);
    // Worked check: insured 2025, none 2026, 2026 repaired in 2027, pays 2027 on
    // 2027-03-31 → N = 1, variable 0 → W = 3 from the payment day → 2027-06-30.
    let csv = "
370202197008080519,2025-01,resident,individual,400.00,,2024-11-15,370200
370202197008080519,2026-01,resident,individual,400.00,,2027-02-10,370200
370202197008080519,2027-01,resident,individual,400.00,,2027-03-31,370200";
    assert_eq!(
        resident_benefits_from(csv, "2027-12", 2027),
        Some(d("2027-06-30"))
    );
    let b = run(csv, "2027-06");
    let ms = months(&b);
    let at = |p: &str| ms.iter().find(|x| x.0 == p).cloned();
    assert_eq!(
        at("2027-05"),
        Some(("2027-05".into(), Benefit::Waiting, Reason::ResidentWait))
    );
    assert_eq!(
        at("2027-06"),
        Some(("2027-06".into(), Benefit::Active, Reason::ResidentCovered))
    );
    let s = &b.status[0];
    assert_eq!((s.benefit, s.benefits_from), (Benefit::Active, None));
    let g = b.gaps.iter().find(|g| g.kind == GapKind::Resident).unwrap();
    assert_eq!(
        (g.gap_start, g.wait_months, g.backpay_amount),
        (d("2026-01-01"), Some(3), Fen(40_000))
    );
}

/// RULES §9 "several gaps" (2026-12-01), issue case 1: a 2026-01 individual gap never
/// back-paid is a break (wait 6 months from 2026-02 → 2026-08-01); the employer's
/// 2026-04, paid 2026-06-04, is a bridged gap (R = 2026-06-05) inside that wait.
pub const BRIDGED_INSIDE_WAIT: &str = "
310101199209294309,2025-11,employee,employer,600.00,6000.00,2025-11-15,370202
310101199209294309,2025-12,employee,employer,600.00,6000.00,2025-12-15,370202
310101199209294309,2026-02,employee,employer,600.00,6000.00,2026-02-15,370202
310101199209294309,2026-03,employee,employer,600.00,6000.00,2026-03-15,370202
310101199209294309,2026-04,employee,employer,600.00,6000.00,,370202
310101199209294309,2026-04,employee,employer,600.00,6000.00,2026-06-04,370202
310101199209294309,2026-05,employee,employer,600.00,6000.00,2026-05-15,370202
310101199209294309,2026-06,employee,employer,600.00,6000.00,2026-06-15,370202
310101199209294309,2026-07,employee,employer,600.00,6000.00,2026-07-15,370202
310101199209294309,2026-08,employee,employer,600.00,6000.00,2026-08-15,370202
310101199209294309,2026-09,employee,employer,600.00,6000.00,2026-09-15,370202
310101199209294309,2026-10,employee,employer,600.00,6000.00,2026-10-15,370202
310101199209294309,2026-11,employee,employer,600.00,6000.00,2026-11-15,370202
310101199209294309,2026-12,employee,employer,600.00,6000.00,2026-12-15,370202";

/// Issue case 2: employer months 2026-08/09 declared, unpaid (pending, deadline
/// 2027-01-31); 2026-10 on time; 2026-11 paid 2026-12-02 (bridged); 2026-12 on time.
pub const BRIDGED_AFTER_PENDING: &str = "
320507196508063031,2025-11,employee,employer,1425.82,14258.20,2025-11-20,370202
320507196508063031,2025-12,employee,employer,1425.82,14258.20,2025-12-20,370202
320507196508063031,2026-01,employee,employer,1425.82,14258.20,2026-01-20,370202
320507196508063031,2026-02,employee,employer,1425.82,14258.20,2026-02-20,370202
320507196508063031,2026-03,employee,employer,1425.82,14258.20,2026-03-20,370202
320507196508063031,2026-04,employee,employer,1425.82,14258.20,2026-04-20,370202
320507196508063031,2026-05,employee,employer,1425.82,14258.20,2026-05-20,370202
320507196508063031,2026-06,employee,employer,1425.82,14258.20,2026-06-20,370202
320507196508063031,2026-07,employee,employer,1425.82,14258.20,2026-07-20,370202
320507196508063031,2026-08,employee,employer,1425.82,14258.20,,370202
320507196508063031,2026-09,employee,employer,1425.82,14258.20,,370202
320507196508063031,2026-10,employee,employer,1425.82,14258.20,2026-10-20,370202
320507196508063031,2026-11,employee,employer,1425.82,14258.20,2026-12-02,370202
320507196508063031,2026-12,employee,employer,1425.82,14258.20,2026-12-20,370202";

#[test]
fn bridged_gap_inside_a_break_wait_does_not_shorten_it() {
    let b = run(BRIDGED_INSIDE_WAIT, "2026-07");
    use Benefit::*;
    use Reason::*;
    let expect = [
        ("2025-11", Active, Paid, None),
        ("2025-12", Active, Paid, None),
        ("2026-01", Suspended, GapUnpaid, Some(1)),
        ("2026-02", Waiting, BreakWait, Some(1)),
        ("2026-03", Waiting, BreakWait, Some(1)),
        ("2026-04", Waiting, BreakWait, Some(1)),
        ("2026-05", Waiting, BreakWait, Some(1)),
        ("2026-06", Waiting, BreakWait, Some(1)),
        ("2026-07", Waiting, BreakWait, Some(1)),
    ];
    let got: Vec<_> = b
        .months
        .iter()
        .map(|r| (r.period.to_string(), r.benefit, r.reason, r.gap_id))
        .collect();
    let want: Vec<_> = expect
        .iter()
        .map(|e| (e.0.to_string(), e.1, e.2, e.3))
        .collect();
    assert_eq!(got, want);
    assert!(b.months[3..].iter().all(|r| r.benefit_ratio == 0.0));
    let s = &b.status[0];
    assert_eq!(
        (
            s.benefit,
            s.benefits_from,
            s.cumulative_months,
            s.continuous_months
        ),
        (Waiting, Some(d("2026-08-01")), 8, 6)
    );
    assert_eq!(s.gap_count, 2);
    // gaps still lists the bridged gap, with its own dates.
    let g = &b.gaps[1];
    assert_eq!(
        (
            g.gap_id,
            g.state,
            g.backpaid_on,
            g.deadline,
            g.benefits_from
        ),
        (
            2,
            GapState::Bridged,
            Some(d("2026-06-04")),
            Some(d("2026-09-30")),
            Some(d("2026-06-05"))
        )
    );
    assert_eq!(g.late_fee_amount, Fen(1050)); // 35 days × 600.00 × 0.0005
    let g = &b.gaps[0];
    assert_eq!(
        (g.state, g.deadline, g.wait_months, g.benefits_from),
        (
            GapState::Break,
            Some(d("2026-04-30")),
            Some(6),
            Some(d("2026-08-01"))
        )
    );
    // As of 2026-12: August on, active again.
    let b = run(BRIDGED_INSIDE_WAIT, "2026-12");
    assert_eq!(b.months.len(), 14);
    assert!(
        b.months[9..]
            .iter()
            .all(|r| (r.benefit, r.reason, r.gap_id) == (Active, Paid, None))
    );
    assert_eq!(b.months[8].reason, BreakWait);
    assert_eq!(
        (b.status[0].benefit, b.status[0].benefits_from),
        (Active, None)
    );
}

#[test]
fn bridged_gap_after_a_pending_gap_stays_suspended_while_arrears_are_owed() {
    use Benefit::*;
    use Reason::*;
    let b = run(BRIDGED_AFTER_PENDING, "2026-12");
    let got: Vec<_> = b
        .months
        .iter()
        .map(|r| (r.period.to_string(), r.benefit, r.reason, r.gap_id))
        .collect();
    assert_eq!(got.len(), 14);
    assert!(
        got[..9]
            .iter()
            .all(|x| (x.1, x.2, x.3) == (Active, Paid, None))
    );
    assert_eq!(
        got[9..].to_vec(),
        vec![
            ("2026-08".to_string(), Suspended, GapUnpaid, Some(1)),
            ("2026-09".to_string(), Suspended, GapUnpaid, Some(1)),
            ("2026-10".to_string(), Suspended, ArrearsDue, Some(1)),
            ("2026-11".to_string(), Suspended, ArrearsDue, Some(1)),
            ("2026-12".to_string(), Suspended, ArrearsDue, Some(1)),
        ]
    );
    let s = &b.status[0];
    assert_eq!(
        (s.benefit, s.benefits_from, s.continuity_at_risk),
        (Suspended, None, true)
    );
    assert_eq!((s.arrears_months, s.arrears_amount), (2, Fen(285_164)));
    // Fees: 2026-08 122 days → 86.98, 2026-09 92 days → 65.59, 2026-11 2 days → 1.43.
    assert_eq!(s.late_fee_amount, Fen(8698 + 6559 + 143));
    let g = &b.gaps[1];
    assert_eq!(
        (g.gap_id, g.state, g.benefits_from),
        (2, GapState::Bridged, Some(d("2026-12-03")))
    );
}

#[test]
fn readings_of_a_bridged_gap_month_are_kept_for_explain() {
    let rows = ledger(BRIDGED_INSIDE_WAIT);
    let (rows, ranges) = sort_for_engine(rows);
    let pr = PersonRows::slice(&rows, ranges[0].clone());
    let p = Params::national_defaults();
    let e = employee::evaluate(&pr, &p, m("2026-07")).unwrap();
    let st = e.status(m("2026-06")).unwrap();
    let [with, alone] = st.readings.unwrap();
    assert_eq!(
        (with.benefit, with.reason, with.gap),
        (Benefit::Active, Reason::Paid, None)
    );
    assert_eq!(
        (alone.benefit, alone.reason, alone.gap),
        (Benefit::Waiting, Reason::BreakWait, Some(0))
    );
    let st = e.status(m("2026-04")).unwrap();
    let [with, _] = st.readings.unwrap();
    assert_eq!(
        (with.benefit, with.reason),
        (Benefit::Restored, Reason::GapBackpaid)
    );
    // Before the bridged gap there is nothing to compare.
    assert_eq!(e.status(m("2026-03")).unwrap().readings, None);
}

#[test]
fn a_bridged_gap_alone_still_restores_and_resumes() {
    // With no earlier gap the "earlier reading" is the normal one: S01 unchanged,
    // and there is nothing to explain (no second reading kept).
    let b = run(S01, "2025-06");
    let ms = months(&b);
    assert_eq!(ms[3].1, Benefit::Restored);
    assert_eq!(ms[5], ("2025-06".into(), Benefit::Active, Reason::Paid));
    let (rows, ranges) = sort_for_engine(ledger(S01));
    let pr = PersonRows::slice(&rows, ranges[0].clone());
    let e = employee::evaluate(&pr, &Params::national_defaults(), m("2025-06")).unwrap();
    assert!(e.statuses.iter().all(|s| s.readings.is_none()));
}

#[test]
fn status_gap_fires_for_a_partial_resident_payment() {
    // RULES §6 (2026-12-01): a tekun member who paid 100.00 of the 400.00 for 2026 is
    // not covered for 2026 → STATUS_GAP (the old engine looked for any payment).
    let csv = "370202198001010010,2026-01,resident,individual,100.00,,2025-12-10,370200";
    let groups = [(
        "370202198001010010",
        grp(SpecialGroup::Tekun, "2026-01-01", None),
    )];
    let b = run_with(csv, &groups, "2026-06", &Params::national_defaults());
    let codes: Vec<_> = b
        .findings
        .iter()
        .map(|f| (f.period.to_string(), f.code))
        .collect();
    assert!(
        codes.contains(&("2026-01".to_string(), FindingCode::StatusGap)),
        "{codes:?}"
    );
    // A full payment covers: no STATUS_GAP.
    let csv = "370202198001010010,2026-01,resident,individual,400.00,,2025-12-10,370200";
    let b = run_with(csv, &groups, "2026-06", &Params::national_defaults());
    assert!(!b.findings.iter().any(|f| f.code == FindingCode::StatusGap));
}

/// Two rule sets: `local` for one 6-digit region, `national` elsewhere.
struct OneRegion {
    region: u32,
    local: Params,
    national: Params,
}

impl ParamSource for OneRegion {
    fn at(&self, region: u32, _month: Month) -> &Params {
        if region == self.region {
            &self.local
        } else {
            &self.national
        }
    }
}

#[test]
fn rules_6_status_gap_reads_exempt_groups_in_the_region_of_as_of() {
    // RULES §6 STATUS_GAP with exempt_groups, a person-level value read at A in the
    // region of the row shown for A (docs/decisions.md, rule files). The person worked
    // in Fuzhou (350100, dibao not exempt there in this rule set) and moved to Qingdao
    // (370200, national: all six exempt) in 2024-12, then stopped paying; dibao from
    // 2025. The row for 2026-06 is Qingdao's → STATUS_GAP 2025 and 2026. The old
    // engine read the region of the person's first row (Fuzhou) and found none.
    let csv = "
370202198001010010,2024-10,employee,employer,800.00,8000.00,2024-10-20,350100
370202198001010010,2024-11,employee,employer,800.00,8000.00,2024-11-20,350100
370202198001010010,2024-12,employee,employer,800.00,8000.00,2024-12-20,370200";
    let groups = [(
        "370202198001010010",
        grp(SpecialGroup::Dibao, "2025-01-01", None),
    )];
    let mut local = Params::national_defaults();
    local.exempt_groups = [true, true, false, true, true, true];
    assert!(!local.is_exempt(SpecialGroup::Dibao));
    let p = OneRegion {
        region: 350100,
        local,
        national: Params::national_defaults(),
    };
    let b = run_with(csv, &groups, "2026-06", &p);
    assert_eq!(b.status[0].region, 370200);
    let gaps: Vec<String> = b
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::StatusGap)
        .map(|f| f.period.to_string())
        .collect();
    assert_eq!(gaps, ["2025-01", "2026-01"]);
    // The other way round: exempt where the person started, not where they are at A.
    let p = OneRegion {
        region: 370200,
        local: p.local,
        national: Params::national_defaults(),
    };
    let b = run_with(csv, &groups, "2026-06", &p);
    assert!(
        !b.findings.iter().any(|f| f.code == FindingCode::StatusGap),
        "{:?}",
        b.findings
    );
}
