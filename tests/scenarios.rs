//! The worked scenarios of `tests/scenarios/*.toml` (copies of the shared scenario
//! files; format in `tests/scenarios/README.md`), each fed through the real binary
//! with the national rules and compared table by table, column by column.

use crate::util::{self, Table};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const SCENARIO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios");

/// Keys a `[[check]]` may hold; anything else fails the test, so that an expectation
/// added to a scenario is never ignored silently.
const CHECK_KEYS: [&str; 12] = [
    "as_of",
    "person_month",
    "person_month_is_sample",
    "person_month_first",
    "person_status",
    "gaps",
    "findings",
    "rejects",
    "future_rows",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
];

const MANIFEST_COUNTS: [&str; 4] = ["future_rows", "rows_read", "rows_accepted", "rows_rejected"];

/// Columns compared as numbers (DOUBLE): `1`, `1.0` and `1.00` are the same value.
const FLOAT_COLUMNS: [&str; 1] = ["benefit_ratio"];

/// Canonical form of a value of `column`, for expected and actual cells alike.
fn normalise(column: &str, value: &str) -> String {
    if FLOAT_COLUMNS.contains(&column) && !value.is_empty() {
        match value.parse::<f64>() {
            Ok(x) => x.to_string(),
            Err(_) => value.to_string(),
        }
    } else {
        value.to_string()
    }
}

/// An expected table from the scenario's CSV text; `person_id` becomes `person_key`
/// (the normalised ID: upper-case check character).
fn expected_table(csv: &str) -> Table {
    let mut lines = csv.lines().map(str::trim).filter(|l| !l.is_empty());
    let header = lines.next().expect("expected table has a header");
    let columns: Vec<String> = header
        .split(',')
        .map(|c| {
            if c.trim() == "person_id" {
                "person_key".to_string()
            } else {
                c.trim().to_string()
            }
        })
        .collect();
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(
                cells.len(),
                columns.len(),
                "expected row {l:?} does not match header {header:?}"
            );
            columns
                .iter()
                .zip(cells)
                .map(|(c, v)| {
                    let v = v.trim();
                    let v = if c == "person_key" {
                        v.to_uppercase()
                    } else {
                        v.to_string()
                    };
                    normalise(c, &v)
                })
                .collect()
        })
        .collect();
    Table { columns, rows }
}

/// The actual table restricted to `columns` (in that order), values normalised.
fn project(actual: &Table, columns: &[String]) -> Result<Table, String> {
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| {
            actual
                .col(c)
                .ok_or_else(|| format!("output has no column {c:?}; it has {:?}", actual.columns))
        })
        .collect::<Result<_, _>>()?;
    let rows = actual
        .rows
        .iter()
        .map(|r| {
            idx.iter()
                .zip(columns)
                .map(|(&i, c)| normalise(c, &r[i]))
                .collect()
        })
        .collect();
    Ok(Table {
        columns: columns.to_vec(),
        rows,
    })
}

fn side_by_side(expected: &Table, actual: &Table) -> String {
    format!(
        "--- expected:\n{}--- actual:\n{}",
        expected.to_csv(),
        actual.to_csv()
    )
}

/// Row-by-row comparison in order; the error lists every differing row and both tables.
fn compare_ordered(what: &str, expected: &Table, actual: &Table) -> Result<(), String> {
    let mut diffs = Vec::new();
    let n = expected.rows.len().max(actual.rows.len());
    for i in 0..n {
        match (expected.rows.get(i), actual.rows.get(i)) {
            (Some(e), Some(a)) if e == a => {}
            (Some(e), Some(a)) => {
                let cols: Vec<String> = expected
                    .columns
                    .iter()
                    .zip(e.iter().zip(a))
                    .filter(|(_, (x, y))| x != y)
                    .map(|(c, (x, y))| format!("{c}: expected {x:?}, got {y:?}"))
                    .collect();
                diffs.push(format!("  row {}: {}", i + 1, cols.join("; ")));
            }
            (Some(e), None) => diffs.push(format!(
                "  row {}: missing, expected {}",
                i + 1,
                e.join(",")
            )),
            (None, Some(a)) => diffs.push(format!("  row {}: extra row {}", i + 1, a.join(","))),
            (None, None) => unreachable!(),
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what} differs:\n{}\n{}",
            diffs.join("\n"),
            side_by_side(expected, actual)
        ))
    }
}

/// Comparison as multisets (order-free): both sides sorted.
fn compare_multiset(what: &str, expected: &Table, actual: &Table) -> Result<(), String> {
    let mut e = expected.clone();
    let mut a = actual.clone();
    e.rows.sort();
    a.rows.sort();
    compare_ordered(&format!("{what} (as sorted multisets)"), &e, &a)
}

/// Stable sort by person_key (when present), then the given date column.
fn sort_like_output(t: &mut Table, date_col: &str) {
    let pk = t.col("person_key");
    let d = t.col(date_col);
    t.rows.sort_by(|x, y| {
        let kx = (pk.map(|i| &x[i]), d.map(|i| &x[i]));
        let ky = (pk.map(|i| &y[i]), d.map(|i| &y[i]));
        kx.cmp(&ky)
    });
}

/// Without a `person_id` column, a scenario has one person: the output must too.
fn check_single_person(what: &str, actual: &Table) -> Result<(), String> {
    if let Some(i) = actual.col("person_key") {
        let keys: BTreeSet<&str> = actual.rows.iter().map(|r| r[i].as_str()).collect();
        if keys.len() > 1 {
            return Err(format!(
                "{what}: the scenario has one person, the output has {}: {keys:?}",
                keys.len()
            ));
        }
    }
    Ok(())
}

/// An ordered or order-free comparison of one expected table with the output.
fn compare_table(
    table: &str,
    expected_csv: &str,
    actual: &Table,
    ordered_by: Option<&str>,
) -> Result<(), String> {
    let mut expected = expected_table(expected_csv);
    if expected.col("person_key").is_none() {
        check_single_person(table, actual)?;
    }
    let projected = project(actual, &expected.columns).map_err(|e| format!("{table}: {e}"))?;
    match ordered_by {
        Some(date_col) => {
            sort_like_output(&mut expected, date_col);
            compare_ordered(table, &expected, &projected)
        }
        None => compare_multiset(table, &expected, &projected),
    }
}

/// `person_month_is_sample`: each listed row must exist once (by person and period) and match.
fn compare_sample(expected_csv: &str, actual: &Table) -> Result<(), String> {
    let expected = expected_table(expected_csv);
    let has_pk = expected.col("person_key").is_some();
    if !has_pk {
        check_single_person("person_month", actual)?;
    }
    let projected = project(actual, &expected.columns).map_err(|e| format!("person_month: {e}"))?;
    let pi = projected
        .col("period")
        .ok_or("person_month sample needs a period column")?;
    let ki = projected.col("person_key");
    let mut diffs = Vec::new();
    for e in &expected.rows {
        let matches: Vec<&Vec<String>> = projected
            .rows
            .iter()
            .filter(|a| a[pi] == e[pi] && ki.is_none_or(|k| a[k] == e[k]))
            .collect();
        match matches.as_slice() {
            [a] if *a == e => {}
            [a] => {
                let cols: Vec<String> = expected
                    .columns
                    .iter()
                    .zip(e.iter().zip(a.iter()))
                    .filter(|(_, (x, y))| x != y)
                    .map(|(c, (x, y))| format!("{c}: expected {x:?}, got {y:?}"))
                    .collect();
                diffs.push(format!("  {}: {}", e.join(","), cols.join("; ")));
            }
            [] => diffs.push(format!("  {}: no such month in the output", e.join(","))),
            many => diffs.push(format!(
                "  {}: {} rows for that month",
                e.join(","),
                many.len()
            )),
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "person_month (sample rows) differs:\n{}\n{}",
            diffs.join("\n"),
            side_by_side(&expected, &projected)
        ))
    }
}

/// `person_month_first`: the people in person_month and each one's first month.
fn compare_first_months(expected_csv: &str, actual: &Table) -> Result<(), String> {
    let expected = expected_table(expected_csv);
    let ek = expected
        .col("person_key")
        .ok_or("person_month_first needs person_id")?;
    let ep = expected
        .col("period")
        .ok_or("person_month_first needs period")?;
    let want: BTreeMap<String, String> = expected
        .rows
        .iter()
        .map(|r| (r[ek].clone(), r[ep].clone()))
        .collect();
    let mut got: BTreeMap<String, String> = BTreeMap::new();
    for (k, p) in actual
        .column("person_key")
        .into_iter()
        .zip(actual.column("period"))
    {
        let e = got.entry(k.to_string()).or_insert_with(|| p.to_string());
        if p < e.as_str() {
            *e = p.to_string();
        }
    }
    if want == got {
        Ok(())
    } else {
        Err(format!(
            "person_month first months: expected {want:?}, got {got:?}"
        ))
    }
}

/// Every person's history is consecutive months ending at `as_of`, rows sorted by
/// person_key then period (CONTRACT §4, RULES §3).
fn check_history(actual: &Table, as_of: &str) -> Result<(), String> {
    let keys = actual.column("person_key");
    let periods = actual.column("period");
    let last = format!("{as_of}-01");
    let mut errors = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let k = keys[i];
        let mut j = i;
        while j < keys.len() && keys[j] == k {
            j += 1;
        }
        for w in i + 1..j {
            if next_month(periods[w - 1]).as_deref() != Some(periods[w]) {
                errors.push(format!(
                    "{k}: {} followed by {}",
                    periods[w - 1],
                    periods[w]
                ));
            }
        }
        if periods[j - 1] != last {
            errors.push(format!("{k}: history ends {}, not {last}", periods[j - 1]));
        }
        i = j;
    }
    let distinct: BTreeSet<&str> = keys.iter().copied().collect();
    let runs = keys.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!keys.is_empty());
    if runs != distinct.len() || keys.windows(2).any(|w| w[0] > w[1]) {
        errors.push("rows are not sorted by person_key".to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("person_month history: {}", errors.join("; ")))
    }
}

fn next_month(date: &str) -> Option<String> {
    let y: i32 = date.get(0..4)?.parse().ok()?;
    let m: u32 = date.get(5..7)?.parse().ok()?;
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some(format!("{y:04}-{m:02}-01"))
}

/// The expected value of a `[check.person_status]` entry as a canonical string.
fn toml_value_string(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn compare_status(expected: &toml::Table, actual: &Table) -> Result<(), String> {
    if actual.rows.len() != 1 {
        return Err(format!(
            "person_status: expected one row, got {}:\n{}",
            actual.rows.len(),
            actual.to_csv()
        ));
    }
    let row = &actual.rows[0];
    let mut diffs = Vec::new();
    for (k, v) in expected {
        let want = normalise(k, &toml_value_string(v));
        match actual.col(k) {
            None => diffs.push(format!("  {k}: no such column (expected {want:?})")),
            Some(i) => {
                let got = normalise(k, &row[i]);
                if got != want {
                    diffs.push(format!("  {k}: expected {want:?}, got {got:?}"));
                }
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        let all: Vec<String> = actual
            .columns
            .iter()
            .zip(row)
            .map(|(c, v)| format!("{c}={v}"))
            .collect();
        Err(format!(
            "person_status differs:\n{}\n--- actual row: {}",
            diffs.join("\n"),
            all.join(", ")
        ))
    }
}

fn get_str<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).map(|v| {
        v.as_str()
            .unwrap_or_else(|| panic!("{key} must be a string"))
    })
}

/// One `[[check]]`: run, then compare everything it names. Returns the failures.
fn run_check(pipe: &Path, out: &Path, check: &toml::Table) -> Vec<String> {
    let mut failures = Vec::new();
    for k in check.keys() {
        if !CHECK_KEYS.contains(&k.as_str()) {
            failures.push(format!("the test driver does not know check key {k:?}"));
        }
    }
    let as_of = get_str(check, "as_of").expect("check has as_of");
    let pipe = pipe.to_str().expect("UTF-8 path");
    let run = util::ledgerflow(&["run", pipe, "--as-of", as_of, "--quiet"]);
    if run.code != 0 {
        failures.push(format!(
            "ledgerflow run exited {}\n--- stderr:\n{}",
            run.code, run.stderr
        ));
        return failures;
    }
    let mut push = |r: Result<(), String>| {
        if let Err(e) = r {
            failures.push(e);
        }
    };
    // Reading a table panics on a missing partition; turn that into a failure message.
    let read = |table: &str| -> Result<Table, String> {
        std::panic::catch_unwind(|| util::read_table(out, table, as_of)).map_err(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("{table}: cannot read the output: {msg}")
        })
    };

    match read("person_month") {
        Err(e) => push(Err(e)),
        Ok(pm) => {
            push(check_history(&pm, as_of));
            if let Some(expected) = get_str(check, "person_month") {
                let sample = check
                    .get("person_month_is_sample")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                push(if sample {
                    compare_sample(expected, &pm)
                } else {
                    compare_table("person_month", expected, &pm, Some("period"))
                });
            }
            if let Some(first) = get_str(check, "person_month_first") {
                push(compare_first_months(first, &pm));
            }
        }
    }
    // `[check.person_status]` (one person: a table of column = value) or, for several
    // people, CSV text with a `person_id` column compared like the other tables.
    match check.get("person_status") {
        None => {}
        Some(toml::Value::String(csv)) => {
            push(read("person_status").and_then(|t| compare_table("person_status", csv, &t, None)))
        }
        Some(expected) => {
            let expected = expected
                .as_table()
                .expect("person_status is a table or CSV text");
            push(read("person_status").and_then(|t| compare_status(expected, &t)));
        }
    }
    if let Some(expected) = get_str(check, "gaps") {
        push(read("gaps").and_then(|t| compare_table("gaps", expected, &t, Some("gap_start"))));
    }
    for table in ["findings", "rejects"] {
        if let Some(expected) = get_str(check, table) {
            push(read(table).and_then(|t| compare_table(table, expected, &t, None)));
        }
    }

    let manifest = std::panic::catch_unwind(|| util::read_manifest(out, as_of));
    match manifest {
        Err(_) => failures.push(format!("no readable manifest _manifests/{as_of}.json")),
        Ok(m) => {
            for key in MANIFEST_COUNTS {
                if let Some(want) = check.get(key) {
                    let want = want
                        .as_integer()
                        .unwrap_or_else(|| panic!("{key} must be an integer"));
                    match m
                        .get("totals")
                        .and_then(|t| t.get(key))
                        .and_then(|v| v.as_i64())
                    {
                        Some(got) if got == want => {}
                        got => failures.push(format!(
                            "manifest totals.{key}: expected {want}, got {got:?}"
                        )),
                    }
                }
            }
            let t = |k: &str| {
                m.get("totals")
                    .and_then(|t| t.get(k))
                    .and_then(|v| v.as_i64())
            };
            match (t("rows_read"), t("rows_accepted"), t("rows_rejected")) {
                (Some(r), Some(a), Some(j)) if r == a + j => {}
                other => failures.push(format!(
                    "manifest totals: rows_read != rows_accepted + rows_rejected: {other:?}"
                )),
            }
        }
    }
    failures
}

/// The generic driver: writes the inputs, runs every check, fails with all differences.
fn scenario(file: &str) {
    let path = Path::new(SCENARIO_DIR).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let inputs = doc
        .get("inputs")
        .and_then(|v| v.as_table())
        .expect("[inputs]");
    let ledger = get_str(inputs, "ledger").expect("[inputs].ledger");
    let special = get_str(inputs, "special_groups");
    let stem = file.trim_end_matches(".toml");
    let dir = util::temp_dir(stem);
    let pipe = util::write_pipeline(&dir, ledger, special);
    let out = dir.join("out");

    let checks = doc
        .get("check")
        .and_then(|v| v.as_array())
        .expect("[[check]]");
    assert!(!checks.is_empty(), "{file}: no checks");
    let mut report = Vec::new();
    for check in checks {
        let check = check.as_table().expect("check is a table");
        let failures = run_check(&pipe, &out, check);
        if !failures.is_empty() {
            let as_of = get_str(check, "as_of").unwrap_or("?");
            report.push(format!(
                "=== check as_of {as_of}:\n{}",
                failures.join("\n\n")
            ));
        }
    }
    let name = doc.get("name").and_then(|v| v.as_str()).unwrap_or(stem);
    assert!(
        report.is_empty(),
        "scenario {file} ({name}) failed; inputs in {}\n{}",
        dir.display(),
        report.join("\n\n")
    );
}

#[test]
fn s01_employee_short_gap_employer_backpay() {
    scenario("01_employee_short_gap_employer_backpay.toml");
}

#[test]
fn s02_flexible_long_gap_break() {
    scenario("02_flexible_long_gap_break.toml");
}

#[test]
fn s03_flexible_three_month_gap_backpaid() {
    scenario("03_flexible_three_month_gap_backpaid.toml");
}

#[test]
fn s04_short_gap_never_backpaid() {
    scenario("04_short_gap_never_backpaid.toml");
}

#[test]
fn s05_resident_break_years_repair() {
    scenario("05_resident_break_years_repair.toml");
}

#[test]
fn s06_resident_late_in_year() {
    scenario("06_resident_late_in_year.toml");
}

#[test]
fn s07_special_groups() {
    scenario("07_special_groups.toml");
}

#[test]
fn s08_newborn() {
    scenario("08_newborn.toml");
}

#[test]
fn s09_rejects() {
    scenario("09_rejects.toml");
}

#[test]
fn s10_bridged_gap_never_improves() {
    scenario("10_bridged_gap_never_improves.toml");
}

#[test]
fn s11_repair_fixed_wait_and_status_gap_coverage() {
    scenario("11_repair_fixed_wait_and_status_gap_coverage.toml");
}

/// Every scenario file has a test above (a new file must get one).
#[test]
fn every_scenario_file_has_a_test() {
    let this = include_str!("scenarios.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(SCENARIO_DIR).expect("scenario dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".toml") && !this.contains(&format!("scenario(\"{name}\")")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "scenario files without a test: {missing:?}"
    );
}

#[test]
fn driver_compares_and_fails() {
    // The comparison helpers must detect differences (a test that cannot fail is useless).
    let actual = Table {
        columns: vec!["person_key".into(), "period".into(), "benefit_ratio".into()],
        rows: vec![
            vec!["A".into(), "2025-01-01".into(), "1".into()],
            vec!["A".into(), "2025-02-01".into(), "0.5".into()],
        ],
    };
    assert!(
        compare_table(
            "t",
            "period,benefit_ratio\n2025-01-01,1.0\n2025-02-01,0.50\n",
            &actual,
            Some("period")
        )
        .is_ok()
    );
    assert!(
        compare_table(
            "t",
            "period,benefit_ratio\n2025-01-01,1.0\n",
            &actual,
            Some("period")
        )
        .is_err()
    );
    assert!(
        compare_table(
            "t",
            "period,benefit_ratio\n2025-01-01,1.0\n2025-02-01,0.6\n",
            &actual,
            Some("period")
        )
        .is_err()
    );
    assert!(compare_table("t", "period,nope\n2025-01-01,1\n", &actual, Some("period")).is_err());
    assert!(compare_sample("period,benefit_ratio\n2025-02-01,0.5\n", &actual).is_ok());
    assert!(compare_sample("period,benefit_ratio\n2025-03-01,0.5\n", &actual).is_err());
    assert!(check_history(&actual, "2025-02").is_ok());
    assert!(check_history(&actual, "2025-03").is_err());
    assert!(compare_multiset("t", &actual, &actual).is_ok());
}
