//! End-to-end tests of the command line (CONTRACT.md §1): the sample pipeline,
//! determinism, the default `as_of`, `validate`, exit codes and `explain`.

use crate::util::{self, SAMPLE_PIPELINE, TABLES};
use std::fs;
use std::path::{Path, PathBuf};

/// Scenario 01's ledger: one employee, latest period 2025-06, 8 rows, all valid.
const LEDGER_01: &str = "\
person_id,period,scheme,payer,amount,base,paid_on,region
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
370202198503120113,2025-03,employee,employer,800.00,8000.00,2025-03-20,370200
370202198503120113,2025-04,employee,employer,800.00,8000.00,,370200
370202198503120113,2025-05,employee,employer,800.00,8000.00,,370200
370202198503120113,2025-04,employee,employer,800.00,8000.00,2025-06-15,370200
370202198503120113,2025-05,employee,employer,800.00,8000.00,2025-06-15,370200
370202198503120113,2025-06,employee,employer,800.00,8000.00,2025-06-15,370200
";

/// A row with a bad check character and a later period: rejected, so it must not
/// move the default `as_of`.
const BAD_ROW_LATE_PERIOD: &str =
    "370202198503120114,2025-09,employee,employer,800.00,8000.00,2025-09-20,370200\n";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The single `as_of=` partition of `OUT/<table>/`; panics unless there is exactly one.
fn only_partition(out: &Path, table: &str) -> String {
    let dir = out.join(table);
    let parts: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        parts.len(),
        1,
        "{}: expected one partition, found {parts:?}",
        dir.display()
    );
    parts[0]
        .strip_prefix("as_of=")
        .unwrap_or_else(|| {
            panic!(
                "{}: partition {:?} is not as_of=YYYY-MM",
                dir.display(),
                parts[0]
            )
        })
        .to_string()
}

fn run_sample(out: &Path, extra: &[&str]) -> util::Run {
    let mut args = vec!["run", SAMPLE_PIPELINE, "--out", s(out), "--quiet"];
    args.extend_from_slice(extra);
    let run = util::ledgerflow(&args);
    run.expect_ok();
    run
}

/// Checks the five tables and the manifest of a sample run; returns `as_of`.
fn check_sample_output(out: &Path) -> String {
    let as_of = only_partition(out, "person_status");
    assert!(
        as_of.len() == 7
            && as_of.as_bytes()[4] == b'-'
            && as_of[..4].parse::<u32>().is_ok()
            && as_of[5..].parse::<u32>().is_ok(),
        "bad as_of partition {as_of:?}"
    );
    for t in TABLES {
        assert_eq!(
            only_partition(out, t),
            as_of,
            "table {t} has another partition than person_status"
        );
        let files = util::partition_files(out, t, &as_of);
        assert!(
            files
                .iter()
                .any(|f| f.file_name().is_some_and(|n| n == "part-00000.parquet")),
            "{t}: no part-00000.parquet in {files:?}"
        );
    }
    let status = util::read_table(out, "person_status", &as_of);
    assert!(!status.rows.is_empty(), "sample person_status is empty");
    let keys = status.column("person_key");
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        keys, sorted,
        "person_status: person_key not unique and sorted"
    );

    let pm = util::read_table(out, "person_month", &as_of);
    let max_period = pm
        .column("period")
        .into_iter()
        .max()
        .expect("person_month has rows")
        .to_string();
    assert_eq!(
        max_period,
        format!("{as_of}-01"),
        "person_month must run up to as_of"
    );
    let pm_people: std::collections::BTreeSet<&str> = pm.column("person_key").into_iter().collect();
    assert_eq!(
        pm_people.len(),
        keys.len(),
        "person_month and person_status disagree on the people"
    );

    let m = util::read_manifest(out, &as_of);
    let read = util::total(&m, "rows_read");
    let accepted = util::total(&m, "rows_accepted");
    let rejected = util::total(&m, "rows_rejected");
    let future = util::total(&m, "future_rows");
    assert!(read > 0, "manifest rows_read = {read}");
    assert_eq!(
        read,
        accepted + rejected,
        "manifest totals do not add up: {}",
        m["totals"]
    );
    assert!(
        (0..=accepted).contains(&future),
        "future_rows {future} not within accepted {accepted}"
    );
    let rejects = util::read_table(out, "rejects", &as_of);
    assert!(
        rejects.rows.len() as i64 >= rejected,
        "rejects table has {} rows, manifest rows_rejected = {rejected}",
        rejects.rows.len()
    );
    assert_eq!(
        m.get("as_of").and_then(|v| v.as_str()),
        Some(as_of.as_str()),
        "manifest as_of"
    );

    // Every Parquet file sits in a table partition, and the manifest lists it with its
    // rows and bytes (CONTRACT §4 "Manifest").
    for (rel, bytes) in util::parquet_files_under(out) {
        let parts: Vec<&str> = rel.split('/').collect();
        assert!(
            parts.len() == 3
                && TABLES.contains(&parts[0])
                && parts[1] == format!("as_of={as_of}")
                && parts[2].starts_with("part-"),
            "stray Parquet file {rel} in the output folder"
        );
        let rows = util::read_parquet(&out.join(&rel)).height() as u64;
        let entry = find_object_naming(&m, &rel)
            .unwrap_or_else(|| panic!("manifest does not list output file {rel}: {m:#}"));
        let numbers: Vec<u64> = entry.values().filter_map(|v| v.as_u64()).collect();
        assert!(
            numbers.contains(&(bytes.len() as u64)) && numbers.contains(&rows),
            "manifest entry of {rel} should hold its bytes {} and rows {rows}: {entry:?}",
            bytes.len()
        );
    }
    as_of
}

/// The first JSON object with a string value ending in `suffix`.
fn find_object_naming<'a>(
    v: &'a serde_json::Value,
    suffix: &str,
) -> Option<&'a serde_json::Map<String, serde_json::Value>> {
    match v {
        serde_json::Value::Object(map) => {
            if map.values().any(|x| {
                x.as_str()
                    .is_some_and(|s| s.replace('\\', "/").ends_with(suffix))
            }) {
                return Some(map);
            }
            map.values().find_map(|x| find_object_naming(x, suffix))
        }
        serde_json::Value::Array(xs) => xs.iter().find_map(|x| find_object_naming(x, suffix)),
        _ => None,
    }
}

#[test]
fn sample_run_writes_five_tables_and_manifest_and_rerun_is_identical() {
    let dir = util::temp_dir("cli-sample");
    let out = dir.join("out");
    run_sample(&out, &[]);
    let as_of = check_sample_output(&out);
    let first = util::parquet_files_under(&out);
    assert!(
        first.len() >= TABLES.len(),
        "expected at least 5 Parquet files, got {}",
        first.len()
    );
    let mut manifest1 = util::read_manifest(&out, &as_of);

    run_sample(&out, &[]);
    let second = util::parquet_files_under(&out);
    let names1: Vec<&String> = first.iter().map(|f| &f.0).collect();
    let names2: Vec<&String> = second.iter().map(|f| &f.0).collect();
    assert_eq!(names1, names2, "rerun wrote other files");
    for ((name, a), (_, b)) in first.iter().zip(&second) {
        assert!(
            a == b,
            "rerun: {name} is not byte-identical ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
    let mut manifest2 = util::read_manifest(&out, &as_of);
    assert!(
        manifest1.get("stage_timings_ms").is_some(),
        "manifest has no stage_timings_ms"
    );
    util::strip_key(&mut manifest1, "stage_timings_ms");
    util::strip_key(&mut manifest2, "stage_timings_ms");
    assert_eq!(
        manifest1, manifest2,
        "rerun: manifest differs apart from stage_timings_ms"
    );
}

#[test]
fn thread_count_does_not_change_output() {
    let dir = util::temp_dir("cli-threads");
    let (a, b) = (dir.join("t1"), dir.join("t2"));
    run_sample(&a, &["--threads", "1"]);
    run_sample(&b, &["--threads", "2"]);
    let fa = util::parquet_files_under(&a);
    let fb = util::parquet_files_under(&b);
    assert!(!fa.is_empty(), "no Parquet output");
    let na: Vec<&String> = fa.iter().map(|f| &f.0).collect();
    let nb: Vec<&String> = fb.iter().map(|f| &f.0).collect();
    assert_eq!(na, nb, "--threads 1 and 2 wrote different files");
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between --threads 1 and --threads 2");
    }
}

#[test]
fn default_as_of_is_latest_accepted_period() {
    let dir = util::temp_dir("cli-default-as-of");
    let pipe = util::write_pipeline(&dir, &format!("{LEDGER_01}{BAD_ROW_LATE_PERIOD}"), None);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    // Outputs go to [outputs].dir = "out", relative to the pipeline file.
    let out = dir.join("out");
    for t in TABLES {
        assert_eq!(
            only_partition(&out, t),
            "2025-06",
            "default as_of of table {t}"
        );
    }
    let m = util::read_manifest(&out, "2025-06");
    assert_eq!(util::total(&m, "rows_read"), 9);
    assert_eq!(util::total(&m, "rows_accepted"), 8);
    assert_eq!(util::total(&m, "rows_rejected"), 1);
    assert_eq!(util::total(&m, "future_rows"), 0);
}

/// The decimal numbers in a text, as whole tokens.
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[test]
fn validate_prints_counts_and_writes_nothing() {
    let dir = util::temp_dir("cli-validate");
    let pipe = util::write_pipeline(&dir, &format!("{LEDGER_01}{BAD_ROW_LATE_PERIOD}"), None);
    let run = util::ledgerflow(&["validate", s(&pipe)]);
    run.expect_ok();
    let nums = numbers(&run.stdout);
    for want in [9, 8, 1] {
        assert!(
            nums.contains(&want),
            "validate should print rows read 9 / accepted 8 / rejected 1; stdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
    assert!(
        !dir.join("out").exists(),
        "validate wrote {}",
        dir.join("out").display()
    );
    let entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 2, "validate created files: {entries:?}");
}

#[test]
fn unknown_flag_is_usage_error() {
    let run = util::ledgerflow(&["run", SAMPLE_PIPELINE, "--no-such-flag"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--no-such-flag"),
        "stderr should name the flag:\n{}",
        run.stderr
    );
    util::ledgerflow(&["no-such-command"]).expect_code(2);
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--as-of", "2025-13"]).expect_code(2);
}

#[test]
fn missing_pipeline_file_fails_naming_it() {
    let dir = util::temp_dir("cli-missing");
    let missing = dir.join("does-not-exist.toml");
    let run = util::ledgerflow(&["run", s(&missing), "--quiet"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("does-not-exist.toml"),
        "stderr should name the file:\n{}",
        run.stderr
    );
}

#[test]
fn rule_file_with_unknown_key_fails_naming_file_and_key() {
    let dir = util::temp_dir("cli-bad-rules");
    let rules = fs::read_to_string(util::NATIONAL_RULES).expect("national rules");
    let marker = "[[params]]";
    let at = rules
        .find(marker)
        .expect("national.toml has a [[params]] block")
        + marker.len();
    let bad = format!("{}\nno_such_parameter = 1{}", &rules[..at], &rules[at..]);
    let bad_path = dir.join("bad_rules.toml");
    util::write(&bad_path, &bad);
    let pipe = util::write_pipeline_full(&dir, LEDGER_01, None, &bad_path, 1.0);
    let run = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("bad_rules.toml"),
        "stderr should name the rule file:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no_such_parameter"),
        "stderr should name the key:\n{}",
        run.stderr
    );
    assert!(
        !dir.join("out").join("person_status").exists(),
        "a config error must not write tables"
    );
}

#[test]
fn quality_gate_exits_3_and_still_writes_outputs() {
    let dir = util::temp_dir("cli-gate");
    let pipe = util::write_pipeline_with_gate(
        &dir,
        &format!("{LEDGER_01}{BAD_ROW_LATE_PERIOD}"),
        None,
        0.0,
    );
    let run = util::ledgerflow(&["run", s(&pipe), "--as-of", "2025-06", "--quiet"]);
    run.expect_code(3);
    let out = dir.join("out");
    let rejects = util::read_table(&out, "rejects", "2025-06");
    assert_eq!(rejects.rows.len(), 1, "rejects:\n{}", rejects.to_csv());
    assert_eq!(rejects.column("error_type"), vec!["BAD_PERSON_ID"]);
    assert_eq!(rejects.column("line"), vec!["10"]);
    for t in TABLES {
        util::partition_files(&out, t, "2025-06");
    }
    let m = util::read_manifest(&out, "2025-06");
    assert_eq!(util::total(&m, "rows_rejected"), 1);
    let status = util::read_table(&out, "person_status", "2025-06");
    assert_eq!(status.column("person_key"), vec!["370202198503120113"]);
}

#[test]
fn explain_text_and_json() {
    let dir = util::temp_dir("cli-explain");
    let pipe = util::write_pipeline(&dir, LEDGER_01, None);
    let args = [
        "explain",
        s(&pipe),
        "--person",
        "370202198503120113",
        "--as-of",
        "2025-06",
    ];
    let run = util::ledgerflow(&args);
    run.expect_ok();
    for date in ["2025-09-30", "2025-06-15", "2025-06-16"] {
        assert!(
            run.stdout.contains(date),
            "explain text lacks {date}:\n{}",
            run.stdout
        );
    }
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let run = util::ledgerflow(&json_args);
    run.expect_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("explain --format json is not JSON ({e}):\n{}", run.stdout));
    assert!(v.is_object() || v.is_array(), "explain json: {v}");
    let text = v.to_string();
    for date in ["2025-09-30", "2025-06-16"] {
        assert!(text.contains(date), "explain json lacks {date}: {text}");
    }
    assert!(!dir.join("out").exists(), "explain must not write outputs");

    // Per month, explain shows the status the tables hold; the gap with its dates.
    util::ledgerflow(&["run", s(&pipe), "--as-of", "2025-06", "--quiet"]).expect_ok();
    let table = util::read_table(&dir.join("out"), "person_month", "2025-06");
    let from_table: Vec<String> = table
        .rows
        .iter()
        .map(|r| {
            let c = |n: &str| r[table.col(n).expect("column")].clone();
            format!("{} {} {}", &c("period")[..7], c("benefit"), c("reason"))
        })
        .collect();
    let months = v["months"].as_array().expect("months");
    let from_explain: Vec<String> = months
        .iter()
        .map(|m| {
            format!(
                "{} {} {}",
                m["period"].as_str().unwrap_or(""),
                m["benefit"].as_str().unwrap_or(""),
                m["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(from_explain, from_table);
    assert_eq!(from_table.len(), 6);
    let gap = &v["gaps"][0];
    assert_eq!(
        (
            gap["state"].as_str(),
            gap["deadline"].as_str(),
            gap["backpaid_on"].as_str(),
            gap["benefits_from"].as_str()
        ),
        (
            Some("bridged"),
            Some("2025-09-30"),
            Some("2025-06-15"),
            Some("2025-06-16")
        )
    );
    // Every month lists the ledger rows behind it, with file and line.
    let april = &months[3];
    let lines: Vec<u64> = april["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["line"].as_u64())
        .collect();
    assert_eq!(
        lines,
        [7, 5],
        "2025-04 is backed by the payment (line 7) and the declaration (line 5)"
    );
}

/// HMAC-SHA256 (RFC 2104) as lowercase hex.
fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hmac_matches_rfc4231_case_2() {
    assert_eq!(
        hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn pseudonymised_keys_are_hmac_and_need_a_key() {
    let dir = util::temp_dir("cli-pseudonym");
    let pipe = util::write_pipeline(&dir, LEDGER_01, None);
    let text = fs::read_to_string(&pipe).unwrap();
    assert!(text.contains("pseudonymize = false"));
    util::write(
        &pipe,
        &text.replace("pseudonymize = false", "pseudonymize = true"),
    );

    let run = util::ledgerflow(&["run", s(&pipe), "--as-of", "2025-06", "--quiet"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("LEDGERFLOW_PSEUDONYM_KEY"),
        "the error should name the missing key variable:\n{}",
        run.stderr
    );
    assert!(
        !dir.join("out").join("person_status").exists(),
        "nothing may be written without a key"
    );

    let key = "test-key-123-test-key-123-test-key";
    let env = [("LEDGERFLOW_PSEUDONYM_KEY", key)];
    util::ledgerflow_env(&["run", s(&pipe), "--as-of", "2025-06", "--quiet"], &env).expect_ok();
    let want = hmac_sha256_hex(key.as_bytes(), b"370202198503120113");
    let out = dir.join("out");
    for t in ["person_status", "person_month", "gaps"] {
        let table = util::read_table(&out, t, "2025-06");
        assert!(!table.rows.is_empty(), "{t} is empty");
        for k in table.column("person_key") {
            assert_eq!(
                k, want,
                "{t}: person_key is not HMAC-SHA256(key, ID) in lowercase hex"
            );
        }
    }
    // explain still takes the raw ID.
    let run = util::ledgerflow_env(
        &[
            "explain",
            s(&pipe),
            "--person",
            "370202198503120113",
            "--as-of",
            "2025-06",
        ],
        &env,
    );
    run.expect_ok();
    assert!(
        run.stdout.contains("2025-06-16"),
        "explain output:\n{}",
        run.stdout
    );
}

#[test]
fn explain_shows_both_readings_of_a_bridged_gap_month() {
    // RULES §9 several gaps: scenario 10's first person, as of 2026-07. June is inside
    // the break's wait and after the bridged gap's resume date: two readings, the worse
    // (waiting, BREAK_WAIT of gap #1) holds.
    let scenario: toml::Table =
        toml::from_str(include_str!("scenarios/10_bridged_gap_never_improves.toml"))
            .expect("scenario 10 parses");
    let ledger = scenario["inputs"]["ledger"].as_str().expect("ledger text");
    let dir = util::temp_dir("cli-explain-readings");
    let pipe = util::write_pipeline(&dir, ledger, None);
    let args = [
        "explain",
        s(&pipe),
        "--person",
        "310101199209294309",
        "--as-of",
        "2026-07",
        "--format",
        "json",
    ];
    let run = util::ledgerflow(&args);
    run.expect_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("explain json");
    let month = |p: &str| {
        v["months"]
            .as_array()
            .expect("months")
            .iter()
            .find(|m| m["period"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("no month {p}"))
    };
    let june = month("2026-06");
    assert_eq!(
        (june["benefit"].as_str(), june["reason"].as_str()),
        (Some("waiting"), Some("BREAK_WAIT"))
    );
    let r = &june["readings"];
    assert_eq!(
        (r[0]["benefit"].as_str(), r[0]["reason"].as_str()),
        (Some("active"), Some("PAID"))
    );
    assert_eq!(
        (
            r[1]["benefit"].as_str(),
            r[1]["reason"].as_str(),
            r[1]["gap_id"].as_i64()
        ),
        (Some("waiting"), Some("BREAK_WAIT"), Some(1))
    );
    let april = month("2026-04");
    assert_eq!(
        april["readings"][0]["reason"].as_str(),
        Some("GAP_BACKPAID")
    );
    assert_eq!(april["readings"][0]["gap_id"].as_i64(), Some(2));
    assert!(month("2026-03")["readings"].is_null());
    assert!(
        june["why"]
            .as_str()
            .is_some_and(|w| w.contains("worse") && w.contains("§9")),
        "{june}"
    );
    assert_eq!(v["status"]["benefits_from"].as_str(), Some("2026-08-01"));

    // The text form says the same.
    let run = util::ledgerflow(&args[..6]);
    run.expect_ok();
    assert!(
        run.stdout
            .contains("Two readings: with the bridged gap: active (PAID); the earlier gaps alone: waiting (BREAK_WAIT, gap #1)"),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_html_is_one_self_contained_page_with_the_json_facts() {
    // Scenario 01 as of 2025-06: the bridged gap with deadline 2025-09-30, back-paid
    // 2025-06-15, benefits from 2025-06-16 (issue: "an auditor's page").
    let dir = util::temp_dir("cli-explain-html");
    let pipe = util::write_pipeline(&dir, LEDGER_01, None);
    let base = [
        "explain",
        s(&pipe),
        "--person",
        "370202198503120113",
        "--as-of",
        "2025-06",
        "--format",
    ];
    let html = util::ledgerflow(&[&base[..], &["html"]].concat());
    html.expect_ok();
    let page = &html.stdout;
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.trim_end().ends_with("</html>"));
    for banned in ["http://", "https://", "<script", "src=", "@import"] {
        assert!(
            !page.contains(banned),
            "the page must fetch nothing: {banned}"
        );
    }
    for fact in [
        "deadline 2025-09-30",
        "back-paid 2025-06-15",
        "benefits from 2025-06-16",
    ] {
        assert!(page.contains(fact), "page lacks the mark {fact:?}");
    }
    // One strip cell per month, coloured by benefit (active green, restored blue).
    assert_eq!(
        page.matches("stroke=\"#fff\" stroke-width=\"1\"").count(),
        6
    );
    assert_eq!(page.matches("fill=\"#4fc3f7\" stroke=\"#fff\"").count(), 2);
    assert_eq!(page.matches("fill=\"#66bb6a\" stroke=\"#fff\"").count(), 4);
    // The same facts as the JSON: every month's reason and rule sentence, every
    // parameter with its block and reference.
    let json = util::ledgerflow(&[&base[..], &["json"]].concat());
    json.expect_ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    };
    for m in v["months"].as_array().expect("months") {
        let why = m["why"].as_str().expect("why");
        assert!(page.contains(&esc(why)), "page lacks the rule for {m}");
        assert!(page.contains(&format!(
            "<td>{}</td>",
            m["reason"].as_str().expect("reason")
        )));
    }
    let params = v["parameters"].as_array().expect("parameters");
    assert!(!params.is_empty());
    for p in params {
        let key = p["key"].as_str().expect("key");
        assert!(page.contains(&format!("<code>{key}</code>")), "{key}");
    }
    let rate = params
        .iter()
        .find(|p| p["key"] == "employee_rate")
        .expect("employee_rate");
    let reference = rate["reference"]
        .as_str()
        .expect("the national block has a reference");
    assert!(reference.contains("38号"), "{reference}");
    assert!(page.contains(&esc(reference)));
    // The text form shows the reference beside the value.
    let text = util::ledgerflow(&base[..6]);
    text.expect_ok();
    assert!(
        text.stdout
            .lines()
            .any(|l| l.contains("employee_rate = 0.1") && l.contains("38号")),
        "{}",
        text.stdout
    );
}

#[test]
fn without_a_terminal_a_run_prints_one_summary_line() {
    let dir = util::temp_dir("cli-log-text");
    let pipe = util::write_pipeline(&dir, LEDGER_01, None);
    let run = util::ledgerflow(&["run", s(&pipe), "--as-of", "2025-06"]);
    run.expect_ok();
    assert_eq!(run.stdout, "", "results never go to stdout");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line, got:\n{}", run.stderr);
    let m = util::read_manifest(&dir.join("out"), "2025-06");
    let t = &m["totals"];
    let want = format!(
        "ledgerflow run: as_of 2025-06 people 1 rows read {} accepted {} rejected {} future {} findings 0 exit 0 wall ",
        t["rows_read"], t["rows_accepted"], t["rows_rejected"], t["future_rows"]
    );
    assert!(lines[0].starts_with(&want), "{}\nwanted {want}", lines[0]);
    assert!(lines[0].ends_with('s'));
    // --quiet: nothing at all.
    let run = util::ledgerflow(&["run", s(&pipe), "--as-of", "2025-06", "--quiet"]);
    run.expect_ok();
    assert_eq!(run.stderr, "");
}

#[test]
fn json_logs_are_one_object_per_line_with_every_stage_and_the_summary() {
    let dir = util::temp_dir("cli-log-json");
    let pipe = util::write_pipeline(&dir, LEDGER_01, None);
    let run = util::ledgerflow(&[
        "run",
        s(&pipe),
        "--as-of",
        "2025-06",
        "--log-format",
        "json",
    ]);
    run.expect_ok();
    assert_eq!(run.stdout, "");
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        events
            .iter()
            .all(|e| e["command"] == "run" && e["elapsed_ms"].is_u64())
    );
    let m = util::read_manifest(&dir.join("out"), "2025-06");
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "stage")
        .filter_map(|e| e["stage"].as_str())
        .collect();
    let timings = m["stage_timings_ms"].as_object().expect("stage timings");
    assert!(!timings.is_empty());
    for stage in timings.keys() {
        assert!(
            stages.contains(&stage.as_str()),
            "no stage line for {stage}: {stages:?}"
        );
    }
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["exit_status"], 0);
    assert_eq!(summary["as_of"], "2025-06");
    assert_eq!(summary["people"], 1);
    assert_eq!(summary["snapshots"], 1);
    for k in ["rows_read", "rows_accepted", "rows_rejected", "future_rows"] {
        assert_eq!(summary[k], m["totals"][k], "{k}");
    }
    assert!(events.iter().any(|e| e["event"] == "snapshot"));

    // An error is an object too, with the exit status.
    let run = util::ledgerflow(&["run", s(&dir.join("missing.toml")), "--log-format", "json"]);
    run.expect_code(1);
    let error: serde_json::Value =
        serde_json::from_str(run.stderr.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        (error["event"].as_str(), error["exit_status"].as_u64()),
        (Some("error"), Some(1))
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing.toml"))
    );

    // backfill: one snapshot per month, the summary counts them.
    let run = util::ledgerflow(&[
        "backfill",
        s(&pipe),
        "--from",
        "2025-04",
        "--to",
        "2025-06",
        "--out",
        s(&dir.join("backfill")),
        "--log-format",
        "json",
    ]);
    run.expect_ok();
    let last: serde_json::Value =
        serde_json::from_str(run.stderr.lines().last().expect("a line")).expect("JSON");
    assert_eq!(
        (last["event"].as_str(), last["command"].as_str()),
        (Some("summary"), Some("backfill"))
    );
    assert_eq!(
        (last["as_of"].as_str(), last["snapshots"].as_u64()),
        (Some("2025-06"), Some(3))
    );
}
