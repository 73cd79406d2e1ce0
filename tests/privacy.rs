//! Pseudonymised runs (README "Privacy"): the key check, the mask of every ID form in
//! every path, name and text a run writes or prints, the private state folder for
//! caches and spill files; and the ledger cache's tie to the file it was made from.

use crate::util;
use std::fs;
use std::path::{Path, PathBuf};

/// A key of the required length (32 bytes or more).
const KEY: &str = "privacy-test-key-0123456789-abcdef";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn env() -> [(&'static str, &'static str); 1] {
    [("LEDGERFLOW_PSEUDONYM_KEY", KEY)]
}

/// Makes a scenario pipeline pseudonymised, with `extra` lines in `[privacy]`.
fn pseudonymise(pipe: &Path, extra: &str) {
    let text = fs::read_to_string(pipe).expect("pipeline");
    assert!(text.contains("pseudonymize = false"));
    let text = text.replace(
        "pseudonymize = false",
        &format!("pseudonymize = true\n{extra}"),
    );
    util::write(pipe, &text);
}

const LEDGER_A: &str = "\
person_id,period,scheme,payer,amount,base,paid_on,region
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-13,employee,employer,800.00,8000.00,2025-01-20,370200
";

const LEDGER_B: &str = "\
person_id,period,scheme,payer,amount,base,paid_on,region
370202199007010227,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202199007010227,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
370202199007010227,2025-02,employee,employer,-1,8000.00,2025-02-20,370200
370202199007010227,2025-03,employee,employer,800.00,8000.00,2025-03-20,3702
";

/// Item 5: two valid cache entries swapped on disk are misses, not the other file's rows.
#[test]
fn swapped_ledger_cache_entries_are_misses() {
    let dir = util::temp_dir("privacy-cache-swap");
    let pipe = util::write_pipeline(&dir, LEDGER_A, None);
    util::write(&dir.join("ledger").join("ledger-b.csv"), LEDGER_B);
    let (inc, full) = (dir.join("inc"), dir.join("full"));
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["run", s(&pipe), "--as-of", "2025-03", "--out", s(out)];
        args.extend(extra);
        util::ledgerflow(&args).expect_ok();
    };
    run(&inc, &["--incremental"]);
    let cache = inc.join("_cache").join("ledger");
    let entries: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = fs::read_dir(&cache)
            .expect("cache folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "rows"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(entries.len(), 2, "one entry per ledger file: {entries:?}");
    let tmp = cache.join("swap.tmp");
    fs::rename(&entries[0], &tmp).expect("swap");
    fs::rename(&entries[1], &entries[0]).expect("swap");
    fs::rename(&tmp, &entries[1]).expect("swap");
    run(&inc, &["--incremental"]);
    run(&full, &[]);
    let rejects = util::read_table(&inc, "rejects", "2025-03");
    assert_eq!(rejects, util::read_table(&full, "rejects", "2025-03"));
    let files: Vec<&str> = rejects.column("source_file");
    assert_eq!(files.len(), 3);
    assert!(files[0].ends_with("ledger-b.csv"), "{files:?}");
    assert!(files[2].ends_with("ledger.csv"), "{files:?}");
    let counts = |out: &Path| -> Vec<(String, i64, i64)> {
        let m = util::read_manifest(out, "2025-03");
        m["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|f| {
                let n = |k: &str| f[k].as_i64().expect("count");
                (
                    f["path"].to_string(),
                    n("rows_accepted"),
                    n("rows_rejected"),
                )
            })
            .collect()
    };
    let got = counts(&inc);
    assert_eq!(got, counts(&full));
    assert_eq!((got[0].1, got[0].2), (2, 2), "ledger-b.csv: {got:?}");
    assert_eq!((got[1].1, got[1].2), (1, 1), "ledger.csv: {got:?}");
}

/// Item 9: short and whitespace-only keys are refused before anything is written.
#[test]
fn weak_pseudonym_keys_are_refused() {
    let dir = util::temp_dir("privacy-weak-key");
    let pipe = util::write_pipeline(&dir, LEDGER_A, None);
    pseudonymise(&pipe, "");
    let thirty_one = "k".repeat(31);
    for (key, says) in [
        (Some("a"), "too short (1 bytes"),
        (Some(""), "too short (0 bytes"),
        (Some(thirty_one.as_str()), "too short (31 bytes"),
        (Some("   "), "only whitespace"),
        (None, "is not set"),
    ] {
        let envs: Vec<(&str, &str)> = key
            .map(|k| ("LEDGERFLOW_PSEUDONYM_KEY", k))
            .into_iter()
            .collect();
        let run = util::ledgerflow_env(&["run", s(&pipe), "--as-of", "2025-01"], &envs);
        run.expect_code(1);
        assert!(
            run.stderr.contains(says) && run.stderr.contains("LEDGERFLOW_PSEUDONYM_KEY"),
            "key {key:?}: {}",
            run.stderr
        );
        if key.is_some() {
            assert!(!run.stderr.contains("not set"), "{}", run.stderr);
        }
        assert!(!dir.join("out").exists(), "key {key:?}: nothing is written");
    }
    let k32 = "k".repeat(32);
    util::ledgerflow_env(
        &["run", s(&pipe), "--as-of", "2025-01"],
        &[("LEDGERFLOW_PSEUDONYM_KEY", k32.as_str())],
    )
    .expect_ok();
}

/// The IDs the privacy scan plants (normalised); each appears in some written form.
const PLANTED: [&str; 8] = [
    "440100198001010184", // plain, and in a file name and a folder name
    "44010019800101007X", // written with a lower-case x
    "440100198001010037", // with a space: 440100 198001010037
    "440100198001010053", // in full-width digits
    "440100198001010134", // a bad check character (…0133 is valid)
    "440100198001010096", // a valid ID in a row with a bad period
    "440100198001010117", // in an unknown column's value
    "440100198001010010", // in an unknown column's header
];

/// A ledger file named after an ID, full of ID forms.
const LEDGER_IDS: &str = "\
person_id,period,scheme,payer,amount,base,paid_on,region,note_440100198001010010
440100198001010184,2025-01,employee,employer,800.00,8000.00,2025-01-20,440100,ok
440100198001010184,2025-02,employee,employer,800.00,8000.00,2025-02-20,440100,ok
440100198001010184,2025-02,employee,employer,800.00,8000.00,2025-02-20,440100,ok
44010019800101007x,2025-01,employee,employer,800.00,8000.00,2025-01-20,440100,lower x
440100 198001010037,2025-01,employee,employer,800.00,8000.00,2025-01-20,440100,space
４４０１００１９８００１０１００５３,2025-01,employee,employer,800.00,8000.00,2025-01-20,440100,wide
440100198001010134,2025-01,employee,employer,800.00,8000.00,2025-01-20,440100,check
440100198001010096,2025-13,employee,employer,800.00,8000.00,2025-01-20,440100,440100198001010117
";

const LEDGER_MORE: &str = "\
person_id,period,scheme,payer,amount,base,paid_on,region
440100198001010184,2025-03,employee,employer,800.00,8000.00,2025-03-20,440100
44010019800101007X,2025-02,employee,employer,800.00,8000.00,2025-02-20,440100
440100198001010037,2025-02,employee,employer,800.00,8000.00,2025-02-20,440100
440100198001010053,2025-02,employee,employer,800.00,8000.00,2025-02-20,440100
";

/// Text with full-width digits made ASCII, separators dropped and `x` upper-cased:
/// an ID written any way the mask knows shows as its normalised digits here.
fn normalised(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '-' | '\u{a0}' | '\u{3000}' | '\u{ff0d}'))
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            'x' | 'ｘ' | 'Ｘ' => 'X',
            c => c,
        })
        .collect()
}

/// The IDs of `ids` whose 17-digit body (as identifying as the whole ID) is in
/// `bytes` in any form, or whose person number (`body × 11 + check`, the engine's
/// u64) is in it as little-endian bytes or as decimal text.
fn leaked<'a>(ids: &[&'a str], bytes: &[u8]) -> Vec<&'a str> {
    let text = normalised(&String::from_utf8_lossy(bytes));
    ids.iter()
        .copied()
        .filter(|id| {
            let body: u64 = id[..17].parse().expect("digits");
            let check = match &id[17..] {
                "X" => 10,
                d => d.parse::<u64>().expect("digit"),
            };
            let number = body * 11 + check;
            text.contains(&id[..17])
                || text.contains(&number.to_string())
                || bytes.windows(8).any(|w| w == number.to_le_bytes())
        })
        .collect()
}

#[track_caller]
fn assert_no_ids(what: &str, ids: &[&str], bytes: &[u8]) {
    let found = leaked(ids, bytes);
    assert!(found.is_empty(), "{what} holds raw IDs {found:?}");
}

/// Every byte under `out` and every decoded Parquet cell holds none of `ids`.
fn assert_out_clean(out: &Path, ids: &[&str]) {
    let files = util::files_under(out);
    assert!(files.iter().any(|(p, _)| p.starts_with("_manifests/")));
    assert!(files.iter().any(|(p, _)| p.starts_with("_reports/")));
    for (path, bytes) in &files {
        assert_no_ids(&format!("{}/{path}", out.display()), ids, bytes);
        assert_no_ids(path, ids, path.as_bytes());
        if path.ends_with(".parquet") {
            let table = util::frame_to_table(&util::read_parquet(&out.join(path)));
            assert_no_ids(path, ids, table.to_csv().as_bytes());
        }
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// Items 6–8 together: a pseudonymised run over inputs full of ID forms — plain,
/// lower-case x, with a space, full-width, in a file name, a folder name and an
/// unknown column's header, in bad rows — writes and prints none of them, in a plain,
/// an incremental (ledger cache, carry-forward state) and a bucketed (spill files)
/// run; `validate` and `explain` print none either.
#[test]
fn pseudonymised_runs_hold_no_raw_id_in_any_form() {
    let root = util::temp_dir("privacy-scan");
    // The pipeline's folder is named after an ID too (manifest, gate message).
    let dir = root.join("cfg-440100198001010184");
    let pipe = util::write_pipeline_with_gate(&dir, LEDGER_MORE, None, 0.01);
    fs::remove_file(dir.join("ledger").join("ledger.csv")).expect("remove");
    util::write(&dir.join("ledger").join("ledger-2025.csv"), LEDGER_MORE);
    util::write(
        &dir.join("ledger").join("ledger-440100198001010184.csv"),
        LEDGER_IDS,
    );
    let state = root.join("state");
    pseudonymise(&pipe, &format!("state_dir = {}", util::toml_str(s(&state))));
    let run = |out: &Path, extra: &[&str]| -> util::Run {
        let mut args = vec!["run", s(&pipe), "--as-of", "2025-03", "--out", s(out)];
        args.extend(extra);
        let run = util::ledgerflow_env(&args, &env());
        // Five of the twelve rows are bad: the gate fails, outputs are still written.
        run.expect_code(3);
        assert!(run.stderr.contains("max_reject_ratio"), "{}", run.stderr);
        assert_no_ids("stderr of run", &PLANTED, run.stderr.as_bytes());
        assert_no_ids("stdout of run", &PLANTED, run.stdout.as_bytes());
        run
    };

    let plain = root.join("out-plain");
    run(&plain, &[]);
    assert_out_clean(&plain, &PLANTED);
    let rejects = util::read_table(&plain, "rejects", "2025-03");
    assert_eq!(rejects.rows.len(), 5, "{}", rejects.to_csv());
    let manifest = util::read_manifest(&plain, "2025-03");
    let unknown = &manifest["inputs"][1]["unknown_columns"];
    assert_eq!(unknown.as_array().map(Vec::len), Some(1), "{manifest}");
    assert!(
        unknown[0].as_str().is_some_and(|c| c.starts_with("note_")),
        "{unknown}"
    );
    // A valid ID written plainly (the duplicate), with a space or in full-width digits
    // masks to its person_key: three of the four people show in the rejects' raw.
    let keys = util::read_table(&plain, "person_status", "2025-03");
    let raws = rejects.column("raw").join("\n");
    let shown = keys.column("person_key");
    assert_eq!(shown.len(), 4);
    assert_eq!(
        shown.iter().filter(|k| raws.contains(*k)).count(),
        3,
        "{shown:?}\n{raws}"
    );

    let inc = root.join("out-inc");
    run(&inc, &["--incremental"]);
    run(&inc, &["--incremental"]);
    assert_out_clean(&inc, &PLANTED);
    assert!(!inc.join("_cache").exists(), "no cache under OUT");
    assert!(state.join("cache").join("results.state").is_file());
    assert_eq!(
        util::read_table(&inc, "rejects", "2025-03"),
        rejects,
        "cached rejects are masked the same way"
    );

    // A killed bucketed run's spill folder is removed by the next run.
    let dead = state.join("spill").join("run-999999999");
    util::write(&dead.join("bucket-00000.rows"), "440100198001010184");
    let bucketed = root.join("out-bucketed");
    run(&bucketed, &["--memory-budget", "1k"]);
    assert_out_clean(&bucketed, &PLANTED);
    assert_eq!(util::read_table(&bucketed, "rejects", "2025-03"), rejects);
    assert!(!dead.exists(), "a dead run's spill files are removed");
    let left: Vec<_> = fs::read_dir(state.join("spill"))
        .expect("spill folder")
        .collect();
    assert!(left.is_empty(), "spill files left: {left:?}");
    #[cfg(unix)]
    assert_eq!(mode(&state), 0o700, "the state folder is private");

    // A partition and shards that read it: the bucket files and the shards' shares of
    // the rejects live in the state folder, OUT holds no raw ID, the rejects are the same.
    let parted = root.join("out-partitioned");
    let cli = |args: &[&str]| {
        let r = util::ledgerflow_env(args, &env());
        assert_no_ids("stderr", &PLANTED, r.stderr.as_bytes());
        r
    };
    cli(&["partition", s(&pipe), "--shards", "2", "--out", s(&parted)]).expect_ok();
    for k in ["0/2", "1/2"] {
        let r = cli(&[
            "run",
            s(&pipe),
            "--as-of",
            "2025-03",
            "--out",
            s(&parted),
            "--shard",
            k,
        ]);
        // A shard of a partition holds only its share of the rejects: the quality
        // gate is the merge's.
        r.expect_code(0);
    }
    let merge = [
        "merge-manifests",
        s(&pipe),
        "--as-of",
        "2025-03",
        "--shards",
        "2",
    ];
    let merged = cli(&[&merge[..], &["--out", s(&parted)]].concat());
    merged.expect_code(3);
    assert!(
        merged.stderr.contains("max_reject_ratio"),
        "{}",
        merged.stderr
    );
    assert_out_clean(&parted, &PLANTED);
    assert!(state.join("partition").join("files-0-of-1").is_dir());
    assert!(!parted.join("_partition").exists());
    assert_eq!(util::read_table(&parted, "rejects", "2025-03"), rejects);
    assert_eq!(util::read_manifest(&parted, "2025-03")["exit_status"], 3);

    // validate prints paths masked; an error naming an ID-named file is masked too.
    let v = util::ledgerflow_env(&["validate", s(&pipe), "--as-of", "2025-03"], &env());
    v.expect_code(3);
    assert!(v.stdout.contains("rows_rejected: 5"), "{}", v.stdout);
    assert_no_ids(
        "validate",
        &PLANTED,
        format!("{}{}", v.stdout, v.stderr).as_bytes(),
    );
    let broken = dir.join("ledger").join("zz-440100198001010037.parquet");
    util::write(&broken, "not parquet");
    for (what, args) in [
        ("run", vec!["run", s(&pipe), "--out", s(&plain)]),
        ("validate", vec!["validate", s(&pipe)]),
        (
            "bucketed run",
            vec![
                "run",
                s(&pipe),
                "--out",
                s(&bucketed),
                "--memory-budget",
                "1k",
            ],
        ),
    ] {
        let r = util::ledgerflow_env(&args, &env());
        r.expect_code(1);
        assert!(r.stderr.contains(".parquet"), "{what}: {}", r.stderr);
        assert_no_ids(what, &PLANTED, r.stderr.as_bytes());
    }
    let left: Vec<_> = fs::read_dir(state.join("spill"))
        .expect("spill folder")
        .collect();
    assert!(left.is_empty(), "a failed run leaves spill files: {left:?}");
    fs::remove_file(&broken).expect("remove");

    // explain prints the ID the auditor typed, and no other ID or path holding one.
    let e = util::ledgerflow_env(
        &[
            "explain",
            s(&pipe),
            "--person",
            "44010019800101007x",
            "--as-of",
            "2025-03",
            "--format",
            "json",
        ],
        &env(),
    );
    e.expect_ok();
    assert!(e.stdout.contains("\"44010019800101007X\""), "{}", e.stdout);
    assert!(e.stdout.contains("ledger-2025.csv"), "{}", e.stdout);
    let others: Vec<&str> = PLANTED
        .iter()
        .copied()
        .filter(|i| *i != "44010019800101007X")
        .collect();
    assert_no_ids(
        "explain",
        &others,
        format!("{}{}", e.stdout, e.stderr).as_bytes(),
    );
}

/// A pseudonymised run that needs working files refuses to put them in OUT.
#[test]
fn pseudonymised_working_files_need_a_private_state_folder() {
    let dir = util::temp_dir("privacy-state-dir");
    let pipe = util::write_pipeline(&dir, LEDGER_A, None);
    pseudonymise(&pipe, "");
    let args = ["run", s(&pipe), "--as-of", "2025-01", "--incremental"];
    let r = util::ledgerflow_env(&args, &env());
    r.expect_code(1);
    assert!(
        r.stderr.contains("[privacy] key `state_dir`: missing"),
        "{}",
        r.stderr
    );
    let r = util::ledgerflow_env(
        &[
            "run",
            s(&pipe),
            "--as-of",
            "2025-01",
            "--memory-budget",
            "1k",
        ],
        &env(),
    );
    r.expect_code(1);
    assert!(
        r.stderr.contains("[privacy] key `state_dir`"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("out").join("_cache").exists());

    let text = fs::read_to_string(&pipe).expect("pipeline");
    // Not inside OUT (analysts read it), nor holding it (0700 would lock them out).
    for (state_dir, says) in [("out/state", "must be outside"), (".", "not hold it")] {
        let line = format!(
            "pseudonymize = true\nstate_dir = {}",
            util::toml_str(state_dir)
        );
        util::write(&pipe, &text.replace("pseudonymize = true", &line));
        let r = util::ledgerflow_env(&args, &env());
        r.expect_code(1);
        assert!(r.stderr.contains(says), "{state_dir}: {}", r.stderr);
    }
    // A plain pseudonymised run writes no working files and needs no state folder.
    util::write(&pipe, &text);
    util::ledgerflow_env(&["run", s(&pipe), "--as-of", "2025-01"], &env()).expect_ok();
    assert!(!dir.join("out").join("_cache").exists());
}
