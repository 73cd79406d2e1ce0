//! ledgerflow against an independent reading of RULES.md: `tests/oracle/oracle.py`
//! (plain Python, written from the rulebook and the contract only) evaluates the same
//! accepted ledger rows, and `tests/oracle/compare.py` reads our Parquet tables with
//! DuckDB and lists every difference of `person_status`, `person_month` and `gaps`.
//! The known, documented differences are a named list in `compare.py` (`KNOWN`).
//!
//! Needs the test venv of `tests/duckdb_env.rs` (created on first use).

use crate::duckdb_env::{self, sh};
use crate::util::{self, NATIONAL_RULES};
use std::path::{Path, PathBuf};
use std::process::Command;

const ORACLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle");

fn python() -> PathBuf {
    duckdb_env::duckdb_python(&util::target_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// `dir/pipeline.toml` over `dir/ledger` and `dir/special_groups.csv` with `rules`.
fn write_pipeline(dir: &Path, rules: &str) -> PathBuf {
    let path = dir.join("pipeline.toml");
    let toml = format!(
        "[pipeline]\nname = \"oracle\"\nrules = {}\n\n[inputs]\nledger = \"ledger\"\n\
         special_groups = \"special_groups.csv\"\n\n[outputs]\ndir = \"out\"\n\
         tables = [\"person_status\", \"person_month\", \"gaps\", \"findings\", \"rejects\"]\n\n\
         [quality]\nmax_reject_ratio = 1.0\n",
        util::toml_str(rules)
    );
    util::write(&path, &toml);
    path
}

/// Runs ledgerflow as of each month and the comparison; panics with the differences.
fn assert_oracle_agrees(python: &Path, dir: &Path, rules: &str, as_ofs: &[&str]) {
    let pipeline = write_pipeline(dir, rules);
    for as_of in as_ofs {
        util::ledgerflow(&[
            "run",
            &pipeline.to_string_lossy(),
            "--as-of",
            as_of,
            "--quiet",
        ])
        .expect_ok();
        let out = sh(Command::new(python)
            .arg(Path::new(ORACLE_DIR).join("compare.py"))
            .arg(dir.join("out"))
            .arg(dir.join("ledger"))
            .arg(rules)
            .arg(as_of)
            .arg("--groups")
            .arg(dir.join("special_groups.csv"))
            .args(["--limit", "40"]))
        .unwrap_or_else(|e| panic!("the oracle differs as of {as_of}:\n{e}"));
        assert!(
            out.lines().any(|l| l == "differences: 0"),
            "as of {as_of}:\n{out}"
        );
        // the comparison really compared something
        let compared = out
            .lines()
            .find(|l| l.starts_with("rows compared:"))
            .unwrap_or_else(|| panic!("no row count in:\n{out}"));
        assert!(!compared.contains(" 0,"), "{compared}");
    }
}

/// A fresh folder with the adversarial ledger of 600 people for `seed`.
fn adversarial_ledger(python: &Path, name: &str, seed: u32) -> PathBuf {
    let dir = util::temp_dir(name);
    sh(Command::new(python)
        .arg(Path::new(ORACLE_DIR).join("fuzz_ledger.py"))
        .arg(&dir)
        .arg("600")
        .arg(seed.to_string()))
    .unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// A `ledgerflow generate` ledger (its faulty rows are skipped through our `rejects`),
/// as of a month in the middle of the history and its last month.
#[test]
fn oracle_agrees_on_a_generated_ledger() {
    let python = python();
    let dir = util::temp_dir("oracle-generated");
    util::ledgerflow(&[
        "generate",
        "--persons",
        "600",
        "--months",
        "36",
        "--start",
        "2024-01",
        "--seed",
        "11",
        "--out",
        &dir.to_string_lossy(),
    ])
    .expect_ok();
    assert_oracle_agrees(&python, &dir, NATIONAL_RULES, &["2025-05", "2026-12"]);
}

/// The adversarial ledger of `tests/oracle/fuzz_ledger.py`: runs of gaps, late and
/// partial back-payments, declarations, resident repairs over long breaks, special
/// groups, newborns and the regional rule blocks.
#[test]
fn oracle_agrees_on_an_adversarial_ledger() {
    let python = python();
    let dir = adversarial_ledger(&python, "oracle-adversarial", 5);
    assert_oracle_agrees(
        &python,
        &dir,
        NATIONAL_RULES,
        &["2025-02", "2026-12", "2031-12"],
    );
}

/// The adversarial ledger under `tests/oracle/alt_rules.toml`: the national rules plus
/// a Qingdao block from 2024-01 that moves every parameter off its default (due lag,
/// resume kinds, reduced months, late-fee cap, window across the year end, grace,
/// repair floor, narrowed exempt groups, …), so the branches the shipped rules never
/// reach are compared too, across an effective_from inside the history.
#[test]
fn oracle_agrees_under_non_default_rules() {
    let python = python();
    let dir = adversarial_ledger(&python, "oracle-alt-rules", 8);
    let rules = format!("{ORACLE_DIR}/alt_rules.toml");
    assert_oracle_agrees(&python, &dir, &rules, &["2025-08", "2030-06"]);
}

/// The oracle itself against the worked scenarios of `tests/scenarios/` (ledgerflow
/// not involved): it must agree with the rulebook's own examples before it judges us.
#[test]
fn oracle_agrees_with_the_worked_scenarios() {
    let python = python();
    let out = sh(Command::new(&python)
        .arg(Path::new(ORACLE_DIR).join("scenarios.py"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios"))
        .arg(NATIONAL_RULES))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.lines().any(|l| l == "scenario mismatches: 0"), "{out}");
    assert!(!out.lines().any(|l| l == "scenarios: 0"), "{out}");
}
