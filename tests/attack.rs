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

/// A pseudonymised pipeline over `ledger` (state folder beside OUT) and the
/// environment with its key.
fn pseudonymised_pipeline(
    dir: &Path,
    ledger: &str,
) -> (std::path::PathBuf, [(&'static str, &'static str); 1]) {
    let pipe = util::write_pipeline(dir, ledger, None);
    let text = std::fs::read_to_string(&pipe).unwrap().replace(
        "pseudonymize = false",
        "pseudonymize = true\nstate_dir = \"../state\"",
    );
    util::write(&pipe, &text);
    let key = [(
        "LEDGERFLOW_PSEUDONYM_KEY",
        "0123456789abcdef0123456789abcdef",
    )];
    (pipe, key)
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

/// Runs the binary, killing it after `limit` (then `None`).
fn ledgerflow_within(args: &[&str], limit: std::time::Duration) -> Option<util::Run> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerflow"))
        .args(args)
        .env_remove("LEDGERFLOW_PSEUDONYM_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ledgerflow");
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    Some(util::Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[test]
fn absurd_thread_and_shard_counts_are_usage_errors() {
    let dir = util::temp_dir("attack-counts");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    let limit = std::time::Duration::from_secs(60);
    let p = s(&pipe);
    for (args, want) in [
        // Hung (100000 threads) or killed the machine's memory before.
        (
            vec!["run", p, "--quiet", "--threads", "100000"],
            "--threads must be between 1 and 1024, got 100000",
        ),
        // Aborted allocating room for 4294967295 shard manifests.
        (
            vec![
                "merge-manifests",
                p,
                "--as-of",
                "2025-04",
                "--shards",
                "4294967295",
            ],
            "--shards must be between 1 and 4096, got 4294967295",
        ),
        // A shard that merge-manifests could never merge.
        (
            vec!["run", p, "--quiet", "--shard", "0/5000"],
            "expected K/N with 0 <= K < N <= 4096, got \"0/5000\"",
        ),
    ] {
        let r = ledgerflow_within(&args, limit)
            .unwrap_or_else(|| panic!("{args:?} still running after {limit:?}"));
        r.expect_code(2);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    util::ledgerflow(&["run", p, "--quiet", "--threads", "1024"]).expect_ok();
}

/// Runs the binary with its files limited to `max_file_bytes` (`RLIMIT_FSIZE`, with
/// `SIGXFSZ` ignored): a write past it fails with `EFBIG`, as a full disk fails one
/// with `ENOSPC` — the same error path, without mounting a small file system.
fn ledgerflow_with_file_limit(args: &[&str], max_file_bytes: u64) -> util::Run {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ledgerflow"));
    cmd.args(args).env_remove("LEDGERFLOW_PSEUDONYM_KEY");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: max_file_bytes,
                rlim_max: max_file_bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("start ledgerflow");
    util::Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn largest_file(dir: &Path, under: &str) -> u64 {
    util::files_under(dir)
        .iter()
        .filter(|(name, _)| name.starts_with(under))
        .map(|(_, bytes)| bytes.len() as u64)
        .max()
        .unwrap_or(0)
}

#[test]
fn a_disk_that_fills_up_while_the_report_is_written_leaves_the_old_snapshot_whole() {
    let dir = util::temp_dir("attack-disk-full");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    let out = dir.join("out");
    fn run<'a>(pipe: &'a Path, out: &'a Path) -> [&'a str; 7] {
        [
            "run",
            s(pipe),
            "--quiet",
            "--as-of",
            "2025-06",
            "--out",
            s(out),
        ]
    }
    util::ledgerflow(&run(&pipe, &out)).expect_ok();
    let before = util::files_under(&out);
    // The next night's ledger is larger: 40 people instead of one.
    std::fs::remove_dir_all(dir.join("ledger")).unwrap();
    util::ledgerflow(&[
        "generate",
        "--persons",
        "40",
        "--months",
        "6",
        "--start",
        "2025-01",
        "--seed",
        "1",
        "--out",
        s(&dir),
    ])
    .expect_ok();
    // Sizes of that night's files, from a run into a scratch folder: every part fits
    // under the limit, its report does not (the disk fills up after the tables).
    let scratch = dir.join("scratch");
    util::ledgerflow(&run(&pipe, &scratch)).expect_ok();
    let (parts, report) = (
        util::TABLES
            .iter()
            .map(|t| largest_file(&scratch, t))
            .max()
            .unwrap(),
        largest_file(&scratch, "_reports"),
    );
    assert!(
        report > parts + 2,
        "report {report} bytes, largest part {parts}"
    );
    let r = ledgerflow_with_file_limit(&run(&pipe, &out), (parts + report) / 2);
    r.expect_code(1);
    assert!(r.stderr.contains("_reports/"), "{}", r.stderr);
    // The old snapshot is whole: every file as before (no half-published tables
    // beside the old manifest), and verify says complete.
    let after: Vec<_> = util::files_under(&out)
        .into_iter()
        .filter(|(name, _)| name != "_lock")
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(name, _)| name != "_lock")
        .collect();
    assert_eq!(
        after.iter().map(|f| &f.0).collect::<Vec<_>>(),
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(after == before, "a file of the old snapshot changed");
    util::ledgerflow(&["verify", s(&pipe), "--as-of", "2025-06", "--out", s(&out)]).expect_ok();
    // With room again the same command publishes the new snapshot.
    util::ledgerflow(&run(&pipe, &out)).expect_ok();
    for t in util::TABLES {
        assert_eq!(
            util::read_table(&out, t, "2025-06"),
            util::read_table(&scratch, t, "2025-06"),
            "{t}"
        );
    }
}

/// Two Parquet files made once with DuckDB (`COPY … TO 'x.parquet'`): a ledger whose
/// `amount` is a MAP column, and a valid 50-row ledger with three bytes of its
/// dictionary page changed (polars' reader panics on both).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn parquet_that_makes_the_reader_panic_is_one_error_line_naming_the_file() {
    for (fixture, want) in [
        (
            "map-amount.parquet",
            "map-amount.parquet: column amount: a Parquet map column cannot hold a ledger value",
        ),
        (
            "corrupt-dictionary-page.parquet",
            "corrupt-dictionary-page.parquet: corrupt or unreadable file (the reader failed: ",
        ),
    ] {
        let dir = util::temp_dir("attack-parquet-panic");
        let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
        std::fs::copy(
            Path::new(FIXTURES).join(fixture),
            dir.join("ledger").join(fixture),
        )
        .unwrap();
        for command in [&["run", "--quiet"][..], &["validate"]] {
            let r = util::ledgerflow(&[command, &[s(&pipe), "--as-of", "2025-04"]].concat());
            let command = command[0];
            r.expect_code(1);
            // Before: the library's panic message and a backtrace on stderr.
            assert!(!r.stderr.contains("panicked"), "{command}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{command}: {}", r.stderr);
            assert!(r.stderr.contains(want), "{command}: {}", r.stderr);
        }
    }
}

#[test]
fn errors_before_the_pipeline_is_known_mask_ids_when_a_key_is_set() {
    const ID: &str = "370202198503120113";
    let dir = util::temp_dir("attack-early-mask");
    let (pipe, key) = pseudonymised_pipeline(&dir, &gap_ledger());
    util::ledgerflow_env(&["run", s(&pipe), "--quiet"], &key).expect_ok();
    // An ID typed into the wrong flag: clap echoes the value.
    let r = util::ledgerflow_env(&["run", s(&pipe), "--as-of", ID], &key);
    r.expect_code(2);
    assert!(r.stderr.contains("invalid value"), "{}", r.stderr);
    assert!(!r.stderr.contains(ID), "{}", r.stderr);
    // A pipeline file that does not load names the bad key, which holds an ID.
    let text = std::fs::read_to_string(&pipe).unwrap();
    util::write(
        &pipe,
        &text.replace("[quality]", &format!("[quality]\nperson_{ID} = 1")),
    );
    let r = util::ledgerflow_env(&["run", s(&pipe), "--quiet"], &key);
    r.expect_code(1);
    assert!(r.stderr.contains("unknown key"), "{}", r.stderr);
    assert!(!r.stderr.contains(ID), "{}", r.stderr);
    // Without a key (a plain deployment) the error shows what was written.
    let r = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
    assert!(r.stderr.contains(ID), "{}", r.stderr);
}

#[test]
fn an_empty_path_in_the_pipeline_file_is_an_error_naming_the_key() {
    let dir = util::temp_dir("attack-empty-path");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    let text = std::fs::read_to_string(&pipe).unwrap();
    for (from, to, key) in [
        // Wrote the tables, the lock and the manifest beside the pipeline file.
        ("dir = \"out\"", "dir = \"\"", "[outputs] key `dir`"),
        // Read the pipeline's own folder, out/ included, as the ledger.
        (
            "ledger = \"ledger\"",
            "ledger = \"\"",
            "[inputs] key `ledger`",
        ),
    ] {
        util::write(&pipe, &text.replace(from, to));
        let r = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
        r.expect_code(1);
        assert!(
            r.stderr
                .contains(&format!("pipeline.toml: {key}: empty path")),
            "{}",
            r.stderr
        );
        assert!(!dir.join("person_status").exists() && !dir.join("_lock").exists());
    }
}

#[test]
fn an_as_of_typo_centuries_ahead_is_a_usage_error() {
    let dir = util::temp_dir("attack-as-of-ahead");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    // 2205-06 for 2025-06: every person's history ran to it (2 160 months each).
    let r = util::ledgerflow(&["run", s(&pipe), "--quiet", "--as-of", "2205-06"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains(
            "--as-of 2205-06 is more than 240 months (10 x max_months_ahead) after 2025-04, \
             the latest period of the accepted ledger rows: a typo?"
        ),
        "{}",
        r.stderr
    );
    assert!(!dir.join("out").join("person_month").exists());
    let r = util::ledgerflow(&[
        "backfill",
        s(&pipe),
        "--quiet",
        "--from",
        "2025-04",
        "--to",
        "2205-06",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("--to 2205-06 is more"), "{}", r.stderr);
    // Up to max_months_ahead it runs as before; beyond it, a notice, and it still
    // runs (a ledger whose rows stopped, run as of this month); from 20 years on, no.
    let r = util::ledgerflow(&["run", s(&pipe), "--as-of", "2027-04"]);
    r.expect_ok();
    assert!(!r.stderr.contains("months after 2025-04"), "{}", r.stderr);
    let r = util::ledgerflow(&["run", s(&pipe), "--as-of", "2028-12"]);
    r.expect_ok();
    assert!(
        r.stderr.contains(
            "--as-of 2028-12 is 44 months after 2025-04, the latest period of the accepted \
             ledger rows (more than max_months_ahead, 24): every history runs to 2028-12"
        ),
        "{}",
        r.stderr
    );
    util::ledgerflow(&["run", s(&pipe), "--quiet", "--as-of", "2045-04"]).expect_ok();
    util::ledgerflow(&["run", s(&pipe), "--quiet", "--as-of", "2045-05"]).expect_code(2);
}

#[test]
fn a_utf16_csv_is_refused_as_a_file_naming_it() {
    let dir = util::temp_dir("attack-utf16");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    // Excel's "Unicode text" export: UTF-16LE with a byte-order mark.
    let mut bytes = vec![0xFF, 0xFE];
    for unit in gap_ledger().encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(dir.join("ledger").join("unicode.csv"), bytes).unwrap();
    // Before: each row rejected (MISSING_VALUE, PARSE_ERROR) with NULs in `raw`.
    let r = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("unicode.csv: the file is UTF-16 text"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_registry_named_as_the_ledger_folder_says_no_ledger_file_is_left() {
    let dir = util::temp_dir("attack-registry-is-ledger");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    let text = std::fs::read_to_string(&pipe).unwrap().replace(
        "ledger = \"ledger\"",
        "ledger = \"ledger\"\nspecial_groups = \"ledger\"",
    );
    util::write(&pipe, &text);
    // Before: "no accepted ledger rows to take the default --as-of from ()", and with
    // --as-of a snapshot of nobody.
    for extra in [&[][..], &["--as-of", "2025-04"]] {
        let r = util::ledgerflow(&[&["run", s(&pipe), "--quiet"][..], extra].concat());
        r.expect_code(1);
        assert!(
            r.stderr
                .contains("is named as special_groups or claims: no ledger file is left"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn an_id_split_by_a_line_break_in_a_quoted_field_is_masked() {
    let dir = util::temp_dir("attack-id-line-break");
    let mut ledger = gap_ledger();
    // An Excel cell with Alt+Enter inside the ID: the row is rejected (19 characters).
    ledger.push_str(
        "\"370202\n198503120113\",2025-04,employee,employer,800.00,8000.00,2025-04-20,370200\n",
    );
    let (pipe, key) = pseudonymised_pipeline(&dir, &ledger);
    util::ledgerflow_env(&["run", s(&pipe), "--quiet"], &key).expect_ok();
    let rejects = util::read_table(&dir.join("out"), "rejects", "2025-04");
    assert_eq!(rejects.column("error_type"), ["BAD_PERSON_ID"]);
    assert_eq!(rejects.column("line"), ["5"]);
    // Before: "person_id \"370202\\n198503120113\": …" and the raw line, unmasked.
    for cell in rejects.rows.concat() {
        assert!(!cell.contains("198503120113"), "{}", rejects.to_csv());
    }
    let v = util::ledgerflow_env(&["validate", s(&pipe)], &key);
    assert!(!v.stdout.contains("198503120113"), "{}", v.stdout);
}

#[test]
fn an_output_folder_inside_the_ledger_folder_is_refused_before_anything_is_written() {
    let dir = util::temp_dir("attack-out-in-ledger");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    let text = std::fs::read_to_string(&pipe).unwrap();
    // Before: the first run wrote ledger/out/, the next night read its Parquet parts
    // as ledger files and failed on the first ("names none of the ledger columns").
    util::write(
        &pipe,
        &text.replace("dir = \"out\"", "dir = \"ledger/out\""),
    );
    for _night in 0..2 {
        let r = util::ledgerflow(&["run", s(&pipe), "--quiet"]);
        r.expect_code(1);
        assert!(
            r.stderr.contains("[outputs] key `dir`: the output folder")
                && r.stderr.contains("lies inside the ledger folder"),
            "{}",
            r.stderr
        );
    }
    assert!(!dir.join("ledger").join("out").exists());
    // --out names it too; a sibling of the ledger folder is fine.
    let r = util::ledgerflow(&[
        "run",
        s(&pipe),
        "--quiet",
        "--out",
        s(&dir.join("ledger/x/../y")),
    ]);
    r.expect_code(1);
    assert!(r.stderr.contains("lies inside"), "{}", r.stderr);
    assert!(!dir.join("ledger").join("y").exists());
    util::ledgerflow(&["run", s(&pipe), "--quiet", "--out", s(&dir.join("out"))]).expect_ok();
}

#[test]
fn region_code_000000_is_rejected_in_the_id_and_in_the_region_column() {
    let dir = util::temp_dir("attack-region-00");
    let mut ledger = gap_ledger();
    // Check characters right: only the region code is wrong. Before: both accepted,
    // the second row under the national rules.
    ledger.push_str(
        "000000198503120116,2025-04,employee,employer,800.00,8000.00,2025-04-20,370200\n",
    );
    ledger.push_str(&format!(
        "{P},2025-02,employee,employer,800.00,8000.00,2025-02-20,000000\n"
    ));
    let pipe = util::write_pipeline(&dir, &ledger, None);
    util::ledgerflow(&["run", s(&pipe), "--quiet"]).expect_ok();
    let rejects = util::read_table(&dir.join("out"), "rejects", "2025-04");
    assert_eq!(rejects.column("line"), ["5", "6"]);
    assert_eq!(
        rejects.column("error_type"),
        ["BAD_PERSON_ID", "BAD_REGION"]
    );
    assert!(
        rejects.column("message")[0].contains("region code starts with 00"),
        "{}",
        rejects.to_csv()
    );
    assert!(
        rejects.column("message")[1].contains("region \"000000\" starts with 00"),
        "{}",
        rejects.to_csv()
    );
}

#[test]
fn a_ledger_file_nested_too_deep_is_an_error_not_left_out() {
    let dir = util::temp_dir("attack-deep");
    let pipe = util::write_pipeline(&dir, &gap_ledger(), None);
    let mut deep = dir.join("ledger");
    for i in 0..34 {
        deep = deep.join(format!("d{i}"));
    }
    util::write(
        &deep.join("late.csv"),
        &format!("{HEADER}{P},2025-02,employee,employer,800.00,8000.00,2025-02-20,370200\n"),
    );
    // Before: read 3 rows of ledger.csv, late.csv left out without a word.
    let r = util::ledgerflow(&["validate", s(&pipe)]);
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("folders nested more than 32 deep under the input folder"),
        "{}",
        r.stderr
    );
}
