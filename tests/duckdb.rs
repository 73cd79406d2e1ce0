//! Reads the sample run's output with a real DuckDB (Python package, pinned, in a venv
//! under `target/duckdb-venv`): column types as CONTRACT.md §4 promises, values equal
//! to what polars reads, and every SQL query of `docs/tables.md` runs.
//!
//! Needs `python3` with `venv` and network access to PyPI on the first run; without
//! them the test FAILS (it does not skip).

use crate::duckdb_env::{self, sh};
use crate::util::{self, SAMPLE_PIPELINE, TABLES};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const TABLES_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tables.md");

/// The columns of each table, in the contract's order (new columns may follow).
const CONTRACT_COLUMNS: [(&str, &[&str]); 5] = [
    (
        "person_month",
        &[
            "person_key",
            "period",
            "scheme",
            "region",
            "paid",
            "paid_on",
            "on_time",
            "special_group",
            "benefit",
            "benefit_ratio",
            "reason",
            "gap_id",
        ],
    ),
    (
        "person_status",
        &[
            "person_key",
            "gender",
            "birth_date",
            "region",
            "scheme",
            "special_group",
            "benefit",
            "benefit_ratio",
            "benefits_from",
            "first_period",
            "last_paid_period",
            "cumulative_months",
            "continuous_months",
            "continuity_at_risk",
            "gap_count",
            "open_gap_months",
            "longest_gap_months",
            "arrears_months",
            "arrears_amount",
            "late_fee_amount",
            "retirement_min_months",
            "months_short",
            "lump_sum_estimate",
            "resident_continuous_years",
            "incentive_raise",
            "rules_sha256",
        ],
    ),
    (
        "gaps",
        &[
            "person_key",
            "gap_id",
            "kind",
            "gap_start",
            "gap_end",
            "months",
            "open",
            "payer",
            "state",
            "backpaid_on",
            "deadline",
            "backpay_amount",
            "late_fee_amount",
            "wait_months",
            "benefits_from",
        ],
    ),
    ("findings", &["person_key", "period", "code", "detail"]),
    (
        "rejects",
        &[
            "source_file",
            "line",
            "column",
            "error_type",
            "message",
            "raw",
        ],
    ),
];

/// The DuckDB types a contract column may have (CONTRACT.md §4 "Types").
fn expected_types(column: &str) -> &'static [&'static str] {
    const DATES: [&str; 8] = [
        "period",
        "paid_on",
        "gap_start",
        "gap_end",
        "deadline",
        "backpaid_on",
        "first_period",
        "last_paid_period",
    ];
    const FLAGS: [&str; 4] = ["paid", "on_time", "continuity_at_risk", "open"];
    const COUNTS: [&str; 5] = ["months", "months_short", "gap_count", "gap_id", "line"];
    if DATES.contains(&column) || column.ends_with("_date") || column.ends_with("_from") {
        &["DATE"]
    } else if column.ends_with("_amount")
        || column == "lump_sum_estimate"
        || column == "incentive_raise"
    {
        &["DECIMAL(18,2)"]
    } else if FLAGS.contains(&column) {
        &["BOOLEAN"]
    } else if column == "benefit_ratio" {
        &["DOUBLE"]
    } else if COUNTS.contains(&column) || column.ends_with("_months") || column.ends_with("_years")
    {
        &["INTEGER", "BIGINT"]
    } else {
        &["VARCHAR"]
    }
}

fn duckdb_python() -> PathBuf {
    duckdb_env::duckdb_python(&util::target_dir()).unwrap_or_else(|e| panic!("{e}"))
}

const SCRIPT: &str = r#"
import json, sys
import duckdb

out, queries_file = sys.argv[1], sys.argv[2]
tables = sys.argv[3].split(",")
con = duckdb.connect()
res = {"describe": {}, "counts": {}, "sums": {}, "queries": []}

def src(t):
    return "read_parquet('%s/%s/*/*.parquet', hive_partitioning = true)" % (out, t)

for t in tables:
    rows = con.execute("DESCRIBE SELECT * FROM " + src(t)).fetchall()
    res["describe"][t] = [[r[0], r[1]] for r in rows]
    res["counts"][t] = con.execute("SELECT count(*) FROM " + src(t)).fetchone()[0]

def one(sql):
    v = con.execute(sql).fetchone()[0]
    return None if v is None else str(v)

for t, c in [("person_status", "arrears_amount"), ("person_status", "late_fee_amount"),
             ("gaps", "backpay_amount"), ("gaps", "late_fee_amount")]:
    res["sums"]["%s.%s" % (t, c)] = one("SELECT CAST(coalesce(sum(%s), 0) AS DECIMAL(38,2)) FROM %s" % (c, src(t)))
res["sums"]["person_month.paid_true"] = one("SELECT count(*) FILTER (WHERE paid) FROM " + src("person_month"))
res["sums"]["person_month.min_period"] = one("SELECT strftime(min(period), '%Y-%m-%d') FROM " + src("person_month"))
res["sums"]["person_status.max_cumulative_months"] = one("SELECT max(cumulative_months) FROM " + src("person_status"))
res["sums"]["person_status.as_of"] = one("SELECT CAST(min(as_of) AS VARCHAR) || '/' || CAST(max(as_of) AS VARCHAR) FROM " + src("person_status"))

for q in json.load(open(queries_file)):
    try:
        rows = con.execute(q).fetchall()
        res["queries"].append({"sql": q, "ok": True, "rows": len(rows)})
    except Exception as e:
        res["queries"].append({"sql": q, "ok": False, "error": str(e)})

print(json.dumps(res))
"#;

/// The fenced ```sql blocks of docs/tables.md.
fn doc_queries() -> Vec<String> {
    let doc = std::fs::read_to_string(TABLES_DOC)
        .unwrap_or_else(|e| panic!("cannot read {TABLES_DOC}: {e}"));
    let mut queries = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match &mut current {
            None if line.trim_start().starts_with("```sql") => current = Some(String::new()),
            None => {}
            Some(q) if line.trim_start().starts_with("```") => {
                queries.push(std::mem::take(q));
                current = None;
            }
            Some(q) => {
                q.push_str(line);
                q.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "unterminated ```sql block in {TABLES_DOC}"
    );
    queries
}

/// Sum of canonical decimal strings (`12.40`) as a string with two places.
fn sum_money(values: &[&str]) -> String {
    let cents: i128 = values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| {
            let (int, frac) = v.split_once('.').unwrap_or((v, "00"));
            assert_eq!(frac.len(), 2, "money value {v:?} does not have two places");
            let neg = int.starts_with('-');
            let c = int.trim_start_matches('-').parse::<i128>().expect("money") * 100
                + frac.parse::<i128>().expect("money");
            if neg { -c } else { c }
        })
        .sum();
    util::decimal(cents, 2)
}

#[test]
fn duckdb_reads_sample_output() {
    let python = duckdb_python();
    let dir = util::temp_dir("duckdb");
    let out = dir.join("out");
    let out_str = out.to_str().expect("UTF-8 path").to_string();
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", &out_str, "--quiet"]).expect_ok();

    let queries = doc_queries();
    assert!(
        queries.len() >= 14,
        "docs/tables.md should hold the thirteen queries (and one more), found {} ```sql blocks",
        queries.len()
    );
    for q in &queries {
        assert!(
            q.contains("'out/"),
            "query does not read 'out/…' as the doc says: {q}"
        );
    }
    let queries: Vec<String> = queries
        .iter()
        .map(|q| q.replace("'out/", &format!("'{out_str}/")))
        .collect();
    let qfile = dir.join("queries.json");
    util::write(&qfile, &serde_json::to_string(&queries).unwrap());
    let script = dir.join("check.py");
    util::write(&script, SCRIPT);
    let stdout = sh(Command::new(&python)
        .arg(&script)
        .arg(&out)
        .arg(&qfile)
        .arg(TABLES.join(",")))
    .unwrap_or_else(|e| panic!("DuckDB script failed: {e}"));
    let res: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("script output ({e}): {stdout}"));

    let mut problems = Vec::new();

    // Types and column order.
    for (table, columns) in CONTRACT_COLUMNS {
        let described: Vec<(String, String)> = res["describe"][table]
            .as_array()
            .unwrap_or_else(|| panic!("no DESCRIBE for {table}"))
            .iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_string(),
                    r[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let names: Vec<&str> = described.iter().map(|(n, _)| n.as_str()).collect();
        if names.len() < columns.len() || names[..columns.len()] != columns[..] {
            problems.push(format!(
                "{table}: columns {names:?} do not start with the contract's {columns:?}"
            ));
        }
        if !names.contains(&"as_of") {
            problems.push(format!(
                "{table}: no as_of partition column from hive_partitioning: {names:?}"
            ));
        }
        let types: BTreeMap<&str, &str> = described
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        for c in columns.iter() {
            if let Some(t) = types.get(c) {
                let want = expected_types(c);
                if !want.contains(t) {
                    problems.push(format!(
                        "{table}.{c}: DuckDB type {t}, expected {}",
                        want.join(" or ")
                    ));
                }
            }
        }
    }

    // Values: DuckDB and polars agree.
    let as_of = res["sums"]["person_status.as_of"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let (lo, hi) = as_of.split_once('/').unwrap_or(("", ""));
    assert!(
        !lo.is_empty() && lo == hi,
        "one as_of partition expected, DuckDB saw {as_of:?}"
    );
    let as_of = lo.to_string();
    let mut polars_tables = BTreeMap::new();
    for t in TABLES {
        let table = util::read_table(&out, t, &as_of);
        let duck = res["counts"][t].as_i64();
        if duck != Some(table.rows.len() as i64) {
            problems.push(format!(
                "{t}: DuckDB counts {duck:?} rows, polars {}",
                table.rows.len()
            ));
        }
        polars_tables.insert(t, table);
    }
    let status = &polars_tables["person_status"];
    let gaps = &polars_tables["gaps"];
    let pm = &polars_tables["person_month"];
    assert!(!status.rows.is_empty(), "sample person_status is empty");
    let mut expect = |key: &str, polars: String| {
        let duck = res["sums"][key].as_str().map(str::to_string);
        if duck.as_deref() != Some(polars.as_str()) {
            problems.push(format!("{key}: DuckDB {duck:?}, polars {polars:?}"));
        }
    };
    expect(
        "person_status.arrears_amount",
        sum_money(&status.column("arrears_amount")),
    );
    expect(
        "person_status.late_fee_amount",
        sum_money(&status.column("late_fee_amount")),
    );
    expect(
        "gaps.backpay_amount",
        sum_money(&gaps.column("backpay_amount")),
    );
    expect(
        "gaps.late_fee_amount",
        sum_money(&gaps.column("late_fee_amount")),
    );
    expect(
        "person_month.paid_true",
        pm.column("paid")
            .iter()
            .filter(|v| **v == "true")
            .count()
            .to_string(),
    );
    expect(
        "person_month.min_period",
        pm.column("period")
            .into_iter()
            .filter(|v| !v.is_empty())
            .min()
            .unwrap_or("")
            .to_string(),
    );
    expect(
        "person_status.max_cumulative_months",
        status
            .column("cumulative_months")
            .iter()
            .filter_map(|v| v.parse::<i64>().ok())
            .max()
            .unwrap_or(0)
            .to_string(),
    );

    // docs/tables.md queries.
    for q in res["queries"].as_array().expect("queries") {
        if q["ok"].as_bool() != Some(true) {
            problems.push(format!(
                "docs/tables.md query failed: {}\n{}",
                q["error"],
                q["sql"].as_str().unwrap_or("")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "DuckDB check ({}):\n{}",
        out.display(),
        problems.join("\n")
    );
}

#[test]
fn expected_type_rules() {
    assert_eq!(expected_types("birth_date"), ["DATE"]);
    assert_eq!(expected_types("benefits_from"), ["DATE"]);
    assert_eq!(expected_types("arrears_amount"), ["DECIMAL(18,2)"]);
    assert_eq!(expected_types("arrears_months"), ["INTEGER", "BIGINT"]);
    assert_eq!(
        expected_types("resident_continuous_years"),
        ["INTEGER", "BIGINT"]
    );
    assert_eq!(expected_types("continuity_at_risk"), ["BOOLEAN"]);
    assert_eq!(expected_types("rules_sha256"), ["VARCHAR"]);
    assert_eq!(sum_money(&["12.40", "", "1600.00", "-0.40"]), "1612.00");
}

/// Runs each query with DuckDB and prints its rows as JSON lists of strings.
const ROWS_SCRIPT: &str = r#"
import json, sys
import duckdb
con = duckdb.connect()
print(json.dumps([[[str(v) for v in r] for r in con.execute(q).fetchall()] for q in json.load(open(sys.argv[1]))]))
"#;

#[test]
fn changes_since_last_month_equal_the_doc_queries() {
    // Two months into one OUT: the manifest's changes_since_previous and the report's
    // section hold what queries 11-13 of docs/tables.md give; the first has none.
    let python = duckdb_python();
    let dir = util::temp_dir("duckdb-changes");
    let out = dir.join("out");
    let out_str = out.to_str().expect("UTF-8 path").to_string();
    for m in ["2026-05", "2026-06"] {
        util::ledgerflow(&[
            "run",
            SAMPLE_PIPELINE,
            "--out",
            &out_str,
            "--as-of",
            m,
            "--quiet",
        ])
        .expect_ok();
    }
    let first = util::read_manifest(&out, "2026-05");
    assert!(first["changes_since_previous"].is_null(), "{first}");
    let first_report = std::fs::read_to_string(out.join("_reports/2026-05.html")).expect("report");
    assert!(first_report.contains("No snapshot of 2026-04 in this output folder"));

    let queries: Vec<String> = doc_queries()
        .into_iter()
        .filter(|q| q.contains("INTERVAL 1 MONTH"))
        .map(|q| q.replace("'out/", &format!("'{out_str}/")))
        .collect();
    assert_eq!(queries.len(), 3, "queries 11-13 of docs/tables.md");
    assert!(queries[0].contains("from_benefit") && queries[2].contains("LIMIT 20"));
    let qfile = dir.join("changes.json");
    util::write(&qfile, &serde_json::to_string(&queries).unwrap());
    let script = dir.join("rows.py");
    util::write(&script, ROWS_SCRIPT);
    let stdout = sh(Command::new(&python).arg(&script).arg(&qfile))
        .unwrap_or_else(|e| panic!("DuckDB script failed: {e}"));
    let rows: Vec<Vec<Vec<String>>> = serde_json::from_str(&stdout).expect("rows JSON");

    let m = util::read_manifest(&out, "2026-06");
    let c = &m["changes_since_previous"];
    assert_eq!(c["previous_as_of"], "2026-05");
    let mut from_manifest: Vec<Vec<String>> = c["benefit_transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| {
            vec![
                t["from"].as_str().unwrap_or("").to_string(),
                t["to"].as_str().unwrap_or("").to_string(),
                t["people"].to_string(),
            ]
        })
        .collect();
    from_manifest.sort();
    assert_eq!(from_manifest, rows[0], "benefit transitions");
    let people: u64 = from_manifest
        .iter()
        .map(|r| r[2].parse::<u64>().unwrap())
        .sum();
    assert!(people >= 400, "every person of either snapshot: {people}");
    assert!(
        from_manifest.iter().any(|r| r[0] != r[1]),
        "the sample has people whose benefit changed from 2026-05 to 2026-06"
    );
    assert_eq!(
        rows[1],
        vec![vec![
            c["gaps_new"].to_string(),
            c["gaps_resolved"].to_string()
        ]],
        "new and resolved gaps"
    );
    let regions: Vec<Vec<String>> = c["new_suspensions_by_region"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| {
            vec![
                r["region"].as_str().unwrap_or("").to_string(),
                r["people"].to_string(),
            ]
        })
        .collect();
    assert_eq!(regions, rows[2], "new suspensions by region");
    let total: u64 = rows[2].iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(c["new_suspensions"].as_u64(), Some(total));

    // The report draws the section with the same numbers.
    let report = std::fs::read_to_string(out.join("_reports/2026-06.html")).expect("report");
    assert!(report.contains("<h2>Changes since 2026-05</h2>"));
    assert!(report.contains("New suspensions by region (top 20)"));
    let moved: u64 = from_manifest
        .iter()
        .filter(|r| r[0] != r[1])
        .map(|r| r[2].parse::<u64>().unwrap())
        .sum();
    assert!(report.contains(&format!(
        "{moved} people changed benefit; {} new gaps, {} gaps resolved",
        c["gaps_new"], c["gaps_resolved"]
    )));
}
