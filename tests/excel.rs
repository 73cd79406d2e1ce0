//! Excel ledgers (CONTRACT.md §2.1): workbooks written by a real writer (openpyxl in
//! the test venv, see `duckdb_env::test_python`; the formula and `.xls` workbooks are
//! committed fixtures made by `tests/fixtures/make_workbooks.py` with LibreOffice).

use crate::duckdb_env::{self, sh};
use crate::util;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/make_workbooks.py"
);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

const ID_A: &str = "130182196404111070";
const ID_D: &str = "130182197708220473";
const ID_F: &str = "130182197502039388";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Writes the main test workbook (see `make_workbooks.py ledger`) to `path`.
fn write_test_workbook(path: &Path) {
    let python = duckdb_env::test_python(&util::target_dir()).unwrap_or_else(|e| panic!("{e}"));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("ledger folder");
    }
    sh(Command::new(python).arg(SCRIPT).arg("ledger").arg(path)).unwrap_or_else(|e| panic!("{e}"));
}

/// `dir/pipeline.toml` reading the ledger folder `dir/ledger` (optionally one sheet).
fn pipeline(dir: &Path, sheet: Option<&str>) -> PathBuf {
    let mut toml = format!(
        "[pipeline]\nrules = {}\n\n[inputs]\nledger = \"ledger\"\n",
        util::toml_str(util::NATIONAL_RULES)
    );
    if let Some(sheet) = sheet {
        toml.push_str(&format!("sheet = {}\n", util::toml_str(sheet)));
    }
    toml.push_str("\n[outputs]\ndir = \"out\"\n");
    let path = dir.join("pipeline.toml");
    util::write(&path, &toml);
    path
}

/// The rejects of a run as (source_file, line, column, error_type, message, raw).
fn rejects(out: &Path, as_of: &str) -> Vec<[String; 6]> {
    let t = util::read_table(out, "rejects", as_of);
    let cols = [
        "source_file",
        "line",
        "column",
        "error_type",
        "message",
        "raw",
    ]
    .map(|c| t.col(c).unwrap_or_else(|| panic!("rejects has no {c}")));
    t.rows.iter().map(|r| cols.map(|c| r[c].clone())).collect()
}

/// The ledger rows of `person` (period, amount, base, paid_on, region) by `explain`.
fn explained_rows(pipe: &Path, person: &str) -> Vec<[String; 5]> {
    let run = util::ledgerflow(&["explain", s(pipe), "--person", person, "--format", "json"]);
    run.expect_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("explain JSON");
    let text = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    for m in v["months"].as_array().expect("months") {
        for r in m["rows"].as_array().into_iter().flatten() {
            out.push([
                text(&r["period"]),
                text(&r["amount"]),
                text(&r["base"]),
                text(&r["paid_on"]),
                text(&m["region"]),
            ]);
        }
    }
    out
}

fn row(v: [&str; 5]) -> [String; 5] {
    v.map(str::to_string)
}

#[test]
fn excel_ledger_reads_cells_and_rejects_bad_ones_by_sheet_row() {
    let dir = util::temp_dir("excel-ledger");
    let book = dir.join("ledger").join("ledger.xlsx");
    write_test_workbook(&book);
    let pipe = pipeline(&dir, None);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();

    let source = format!("{}#Sheet1", book.display());
    let got = rejects(&dir.join("out"), "2025-02");
    let short: Vec<[&str; 4]> = got
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str(), r[3].as_str()])
        .collect();
    assert_eq!(
        short,
        [
            [source.as_str(), "8", "person_id", "BAD_PERSON_ID"],
            [source.as_str(), "9", "amount", "PARSE_ERROR"],
            [source.as_str(), "11", "amount", "BAD_AMOUNT"],
            [source.as_str(), "14", "paid_on", "BAD_DATE"],
        ]
    );
    assert!(
        got[0][4].contains("cell A8 (person_id) was stored as a number (130182196608041000)"),
        "{}",
        got[0][4]
    );
    assert!(got[0][4].contains("store IDs as text"), "{}", got[0][4]);
    assert_eq!(
        got[1][4],
        "cell E9 (amount) holds the Excel error #N/A, not a value"
    );
    assert!(got[2][4].contains("\"800.125\""), "{}", got[2][4]);
    assert!(got[3][4].contains("\"1900-02-29\""), "{}", got[3][4]);
    // `raw` holds the row's cells as text.
    assert_eq!(
        got[1][5],
        "130182197208150990,2025-01,employee,employer,#N/A,5000,2025-01-10,440100"
    );
    assert_eq!(
        got[0][5],
        "130182196608041000,2025-01,employee,employer,500,5000,2025-01-10,440100"
    );

    // Number and text money, a date serial and a text date, a period stored as a date,
    // a region stored as a number; 0.1+0.2 is 0.30.
    assert_eq!(
        explained_rows(&pipe, ID_A),
        [
            row(["2025-01", "800.10", "8001.00", "2025-01-15", "440100"]),
            row(["2025-02", "800.10", "8001.00", "2025-02-15", "440100"]),
        ]
    );
    assert_eq!(
        explained_rows(&pipe, ID_F),
        [row(["2025-01", "0.30", "3.00", "2025-01-10", "440100"])]
    );

    // Title, header and empty rows are not records; the file is named with its sheet.
    let m = util::read_manifest(&dir.join("out"), "2025-02");
    let input = &m["inputs"][0];
    assert_eq!(input["path"], source.as_str());
    assert_eq!(input["rows_read"], 7);
    assert_eq!(input["rows_accepted"], 3);
    assert_eq!(input["rows_rejected"], 4);
}

#[test]
fn excel_sheet_is_chosen_by_name_and_a_missing_sheet_is_one_error() {
    let dir = util::temp_dir("excel-sheet");
    let book = dir.join("ledger").join("ledger.xlsx");
    write_test_workbook(&book);
    let pipe = pipeline(&dir, Some("二月"));
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let got = rejects(&dir.join("out"), "2025-02");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0][0], format!("{}#二月", book.display()));
    assert_eq!(got[0][1..4], ["3", "period", "BAD_PERIOD"]);
    assert_eq!(
        explained_rows(&pipe, ID_D),
        [row([
            "2025-02",
            "700.00",
            "7000.00",
            "2025-02-12",
            "440100"
        ])]
    );

    // A sheet starting at C4: lines and cell names are the sheet's own.
    let pipe = pipeline(&dir, Some("Offset"));
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let got = rejects(&dir.join("out"), "2025-02");
    let short: Vec<&[String]> = got.iter().map(|r| &r[1..4]).collect();
    assert_eq!(
        short,
        [
            ["7", "region", "BAD_REGION"],
            ["8", "person_id", "BAD_PERSON_ID"]
        ]
    );
    assert!(
        got[1][4].starts_with("cell C8 (person_id) was stored as a number"),
        "{}",
        got[1][4]
    );
    assert_eq!(got[1][5], "130182197708220000,,,,,,,");
    assert_eq!(
        explained_rows(&pipe, ID_D),
        [row([
            "2025-02",
            "600.00",
            "6000.00",
            "2025-02-11",
            "440100"
        ])]
    );

    let pipe = pipeline(&dir, Some("March"));
    let run = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
    run.expect_code(1);
    assert!(run.stderr.contains("ledger.xlsx"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "sheet \"March\" not found (the workbook has \"Sheet1\", \"二月\", \"Offset\")"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

/// The committed fixtures: formulas with the values LibreOffice cached, and the same
/// workbook saved as `.xls`.
#[test]
fn excel_formulas_use_cached_values_in_xlsx_and_xls() {
    for name in ["formulas.xlsx", "ledger.xls"] {
        let dir = util::temp_dir("excel-formulas");
        let book = dir.join("ledger").join(name);
        fs::create_dir_all(dir.join("ledger")).expect("ledger folder");
        fs::copy(Path::new(FIXTURES).join(name), &book).expect("fixture");
        let pipe = pipeline(&dir, None);
        util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
        let got = rejects(&dir.join("out"), "2025-03");
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        assert_eq!(got[0][0], format!("{}#Sheet1", book.display()), "{name}");
        assert_eq!(got[0][1..4], ["3", "amount", "PARSE_ERROR"], "{name}");
        assert!(got[0][4].contains("#N/A"), "{name}: {}", got[0][4]);
        // =400+400.1, =E2*10, =DATE(2025,1,15)
        assert_eq!(
            explained_rows(&pipe, ID_A),
            [row([
                "2025-01",
                "800.10",
                "8001.00",
                "2025-01-15",
                "440100"
            ])],
            "{name}"
        );
        // =TEXT(DATE(2025,3,1),"yyyy-mm"), =0.1+0.2, =3, =440000+100
        assert_eq!(
            explained_rows(&pipe, ID_D),
            [row(["2025-03", "0.30", "3.00", "2025-03-10", "440100"])],
            "{name}"
        );
    }
}

#[test]
fn excel_lock_files_are_skipped_and_a_broken_workbook_is_one_error() {
    let dir = util::temp_dir("excel-broken");
    let book = dir.join("ledger").join("ledger.xlsx");
    write_test_workbook(&book);
    // Excel's lock file beside an open workbook is not a ledger.
    util::write(&dir.join("ledger").join("~$ledger.xlsx"), "owner name");
    let pipe = pipeline(&dir, None);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let m = util::read_manifest(&dir.join("out"), "2025-02");
    assert_eq!(m["inputs"].as_array().map(Vec::len), Some(1));

    let broken = dir.join("ledger").join("broken.xlsx");
    util::write(&broken, "not a workbook");
    let run = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
    run.expect_code(1);
    assert!(run.stderr.contains(s(&broken)), "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot open the workbook"),
        "{}",
        run.stderr
    );
}

/// The ledger cache keys an Excel file by its bytes like a CSV file: an incremental
/// run (cache filled, then used) gives the snapshot of a full run.
#[test]
fn excel_incremental_run_equals_a_full_run() {
    let dir = util::temp_dir("excel-incremental");
    write_test_workbook(&dir.join("ledger").join("ledger.xlsx"));
    fs::copy(
        Path::new(FIXTURES).join("ledger.xls"),
        dir.join("ledger").join("march.xls"),
    )
    .expect("fixture");
    let pipe = pipeline(&dir, None);
    let run = |out: &Path, incremental: bool| {
        let mut args = vec!["run", s(&pipe), "--out", s(out), "--quiet"];
        if incremental {
            args.push("--incremental");
        }
        util::ledgerflow(&args).expect_ok();
    };
    let (inc, full) = (dir.join("inc"), dir.join("full"));
    run(&inc, true);
    run(&inc, true);
    run(&full, false);
    let m = util::read_manifest(&inc, "2025-03");
    let cached = fs::read_dir(inc.join("_cache").join("ledger"))
        .expect("cache folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "rows"))
        })
        .count();
    assert_eq!(cached, 2, "one cache entry per workbook");
    for table in util::TABLES {
        assert_eq!(
            util::parquet_files_under(&inc.join(table)),
            util::parquet_files_under(&full.join(table)),
            "{table}"
        );
    }
    let strip = |mut m: serde_json::Value| {
        util::strip_key(&mut m, "stage_timings_ms");
        util::strip_key(&mut m, "incremental");
        m
    };
    assert_eq!(strip(m), strip(util::read_manifest(&full, "2025-03")));
}
