//! Bad input as an attacker sends it, through the binary: each test is a defect that
//! was found this way (the old code panicked, wrapped, hung or mixed a snapshot).

use crate::util;
use std::path::Path;

const HEADER: &str = "person_id,period,scheme,payer,amount,base,paid_on,region\n";
const P: &str = "370202198503120113";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A ledger with a gap (2025-02 unpaid), so that every gap parameter is used.
fn gap_ledger() -> String {
    let mut out = HEADER.to_string();
    for (period, paid_on) in [
        ("2025-01", "2025-01-20"),
        ("2025-03", "2025-03-20"),
        ("2025-04", "2025-04-20"),
    ] {
        out.push_str(&format!(
            "{P},{period},employee,employer,800.00,8000.00,{paid_on},370200\n"
        ));
    }
    out
}

#[test]
fn a_rule_file_integer_beyond_the_calendar_is_a_load_error_not_an_overflow() {
    let dir = util::temp_dir("attack-rule-int");
    let national = std::fs::read_to_string(util::NATIONAL_RULES).unwrap();
    for key in [
        "backpay_deadline_months",
        "due_lag_months",
        "post_break_reduced_months",
        "newborn_window_days",
    ] {
        // The first line setting the key is the national block's.
        let rules: String = {
            let mut done = false;
            national
                .lines()
                .map(|l| {
                    if !done && l.starts_with(&format!("{key} = ")) {
                        done = true;
                        format!("{key} = 2147483647")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let rules_path = dir.join(format!("{key}.toml"));
        util::write(&rules_path, &rules);
        let case = dir.join(key);
        let pipe = util::write_pipeline_full(&case, &gap_ledger(), None, &rules_path, 1.0);
        let r = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
        r.expect_code(1);
        let want = format!(
            "{key}.toml: [[params]] #1 (region *, effective_from 1990-01): key `{key}`: \
             expected a non-negative integer up to 9999, got 2147483647"
        );
        assert!(r.stderr.contains(&want), "{key}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{key}: {}", r.stderr);
        // The largest allowed value runs.
        util::write(&rules_path, &rules.replace("2147483647", "9999"));
        util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    }
}
