//! Input hardening through the binary: implausible rows, money at the limits,
//! CR-only files and runs where every row is rejected.

use crate::util;
use std::path::Path;

const HEADER: &str = "person_id,period,scheme,payer,amount,base,paid_on,region\n";
const P: &str = "370202198503120113";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn rows(periods: &[(&str, &str)]) -> String {
    let mut out = HEADER.to_string();
    for (period, paid_on) in periods {
        out.push_str(&format!(
            "{P},{period},employee,employer,800.00,8000.00,{paid_on},370200\n"
        ));
    }
    out
}

#[test]
fn a_typo_period_neither_moves_the_default_as_of_nor_stretches_the_history() {
    let dir = util::temp_dir("hard-typo-period");
    let mut ledger = rows(&[
        ("2025-01", "2025-01-20"),
        ("2025-02", "2025-02-20"),
        ("2206-06", ""),
        ("0001-01", "2025-02-20"),
    ]);
    ledger.push_str(&format!(
        "{P},2025-03,employee,employer,800.00,999999999999999.99,2025-03-20,370200\n"
    ));
    let pipe = util::write_pipeline(&dir, &ledger, None);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let out = dir.join("out");
    let rejects = util::read_table(&out, "rejects", "2025-02");
    assert_eq!(rejects.column("line"), ["4", "5", "6"]);
    assert_eq!(
        rejects.column("error_type"),
        ["BAD_PERIOD", "BAD_PERIOD", "BAD_AMOUNT"]
    );
    assert!(rejects.column("message")[0].contains("outside the plausible range"));
    assert!(rejects.column("message")[2].contains("above the ceiling max_amount"));
    // Two months of history, not 24 291.
    let months = util::read_table(&out, "person_month", "2025-02");
    assert_eq!(months.column("period"), ["2025-01-01", "2025-02-01"]);
    let m = util::read_manifest(&out, "2025-02");
    assert_eq!(util::total(&m, "rows_read"), 5);
    assert_eq!(util::total(&m, "rows_rejected"), 3);
    // The bucketed read (bounded memory) applies the same bounds.
    let bucketed = dir.join("bucketed");
    util::ledgerflow(&[
        "run",
        s(&pipe),
        "--quiet",
        "--memory-budget",
        "1K",
        "--out",
        s(&bucketed),
    ])
    .expect_ok();
    for t in ["rejects", "person_month", "person_status"] {
        assert_eq!(
            util::read_table(&bucketed, t, "2025-02"),
            util::read_table(&out, t, "2025-02"),
            "{t}"
        );
    }
}

#[test]
fn money_at_a_raised_ceiling_saturates_instead_of_wrapping() {
    let dir = util::temp_dir("hard-money");
    // A rule file whose ceiling lets 15-digit amounts through: the lump sum of
    // 999999999999999.99 x 300 months x 0.056 is beyond DECIMAL(18,2).
    let rules = std::fs::read_to_string(util::NATIONAL_RULES)
        .unwrap()
        .replace(
            "max_amount = \"99999999.99\"",
            "max_amount = \"999999999999999.99\"",
        );
    let rules_path = dir.join("rules.toml");
    util::write(&rules_path, &rules);
    let mut ledger = HEADER.to_string();
    for m in 1..=12 {
        ledger.push_str(&format!(
            "{P},2025-{m:02},employee,employer,999999999999999.99,999999999999999.99,2025-{m:02}-20,370200\n"
        ));
    }
    let pipe = util::write_pipeline_full(&dir, &ledger, None, &rules_path, 1.0);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let status = util::read_table(&dir.join("out"), "person_status", "2025-12");
    assert_eq!(status.column("lump_sum_estimate"), ["9999999999999999.99"]);
    let explain = util::ledgerflow(&["explain", s(&pipe), "--person", P]);
    explain.expect_ok();
    // No negative amount anywhere (a wrapped sum prints as "-9..."); the check
    // looks at whole words, because the temp dir in the row paths may hold "-9".
    let negative = explain.stdout.split_whitespace().any(|word| {
        word.strip_prefix('-')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    });
    assert!(!negative, "{}", explain.stdout);
}

#[test]
fn a_cr_only_ledger_reads_every_row() {
    let dir = util::temp_dir("hard-cr");
    let ledger = rows(&[("2025-01", "2025-01-20"), ("2025-02", "2025-02-20")]).replace('\n', "\r");
    let pipe = util::write_pipeline(&dir, &ledger, None);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let m = util::read_manifest(&dir.join("out"), "2025-02");
    assert_eq!(util::total(&m, "rows_read"), 2);
    assert_eq!(util::total(&m, "rows_accepted"), 2);
}

#[test]
fn when_every_row_is_rejected_the_error_names_the_cause() {
    let dir = util::temp_dir("hard-all-rejected");
    let renamed = rows(&[("2025-01", "2025-01-20")]).replacen("period", "periode", 1);
    let pipe = util::write_pipeline(&dir, &renamed, None);
    util::write(&dir.join("ledger/b.csv"), HEADER);
    util::write(&dir.join("ledger/c.csv"), "");
    let r = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("ledger/ledger.csv: column period is missing from the file (all 1 rows)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("ledger/b.csv: no data rows (empty file or header only)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("ledger/c.csv: no data rows"),
        "{}",
        r.stderr
    );
    // With --as-of the rejects table and the manifest are still written.
    util::ledgerflow(&["run", s(&pipe), "--quiet", "--as-of", "2025-01"]).expect_ok();
    let rejects = util::read_table(&dir.join("out"), "rejects", "2025-01");
    assert_eq!(rejects.column("error_type"), ["MISSING_VALUE"]);
    let m = util::read_manifest(&dir.join("out"), "2025-01");
    assert_eq!(util::total(&m, "rows_rejected"), 1);
    let v = util::ledgerflow(&["validate", s(&pipe)]);
    v.expect_ok();
    assert!(v.stdout.starts_with("as_of: none: "), "{}", v.stdout);
}
