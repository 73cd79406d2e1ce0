//! Operating the nightly job: backfill, sharded runs, atomic partitions under SIGKILL,
//! input-order determinism, and the privacy scan of a pseudonymised run.

use crate::util::{self, SAMPLE_PIPELINE, TABLES};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Parquet files of one partition of every table, as (relative path, bytes).
fn partition_bytes(out: &Path, as_of: &str) -> Vec<(String, Vec<u8>)> {
    util::parquet_files_under(out)
        .into_iter()
        .filter(|(p, _)| p.contains(&format!("/as_of={as_of}/")))
        .collect()
}

/// The charts of a run report that depend on the results (every `<section>` but the
/// stage timings) and its "results" header line.
fn report_charts(out: &Path, as_of: &str) -> Vec<String> {
    let path = out.join("_reports").join(format!("{as_of}.html"));
    let html = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no run report {}: {e}", path.display()));
    let results = html
        .lines()
        .find(|l| l.contains("<th>results</th>"))
        .expect("a results line")
        .to_string();
    let mut parts: Vec<String> = html
        .split("<section>")
        .skip(1)
        .filter(|s| !s.contains("Stage timings"))
        .map(str::to_string)
        .collect();
    assert_eq!(parts.len(), 5, "five result charts");
    parts.push(results);
    parts
}

/// Every table's rows of one `as_of`, sorted (for order-free comparisons).
pub(crate) fn sorted_rows(out: &Path, as_of: &str) -> Vec<(String, Vec<Vec<String>>)> {
    TABLES
        .iter()
        .map(|t| {
            let mut rows = util::read_table(out, t, as_of).rows;
            rows.sort();
            (t.to_string(), rows)
        })
        .collect()
}

/// `ledgerflow run SAMPLE --as-of M --out OUT --quiet [extra]`, expected to succeed.
fn run_sample(out: &Path, as_of: &str, extra: &[&str]) {
    run_pipeline(Path::new(SAMPLE_PIPELINE), out, as_of, extra).expect_ok();
}

/// `ledgerflow run PIPELINE --as-of M --out OUT --quiet [extra]`.
pub(crate) fn run_pipeline(pipeline: &Path, out: &Path, as_of: &str, extra: &[&str]) -> util::Run {
    let mut args = vec![
        "run",
        s(pipeline),
        "--as-of",
        as_of,
        "--out",
        s(out),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    util::ledgerflow(&args)
}

/// `ledgerflow backfill SAMPLE --from .. --to .. --out .. --quiet [extra]`.
fn backfill(out: &Path, from: &str, to: &str, extra: &[&str]) -> util::Run {
    let mut args = vec![
        "backfill",
        SAMPLE_PIPELINE,
        "--from",
        from,
        "--to",
        to,
        "--out",
        s(out),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    util::ledgerflow(&args)
}

#[test]
fn backfill_equals_single_runs_and_resumes() {
    let dir = util::temp_dir("backfill");
    let (a, b) = (dir.join("backfill"), dir.join("single"));
    let run = backfill(&a, "2026-01", "2026-04", &[]);
    run.expect_ok();
    assert_eq!(
        run.stdout,
        "2026-01 written\n2026-02 written\n2026-03 written\n2026-04 written\n"
    );
    for m in ["2026-02", "2026-04"] {
        run_sample(&b, m, &[]);
        let (x, y) = (partition_bytes(&a, m), partition_bytes(&b, m));
        assert_eq!(x.len(), 5, "{m}: five tables");
        assert!(x == y, "{m}: backfill and run --as-of differ");
        // Rows paid after each month's cut-off are invisible to it.
        let (ma, mb) = (util::read_manifest(&a, m), util::read_manifest(&b, m));
        assert_eq!(ma["totals"], mb["totals"], "{m}");
    }
    assert!(
        util::total(&util::read_manifest(&a, "2026-01"), "future_rows") > 0,
        "the sample has rows paid after 2026-01"
    );

    // A rerun resumes: everything up to date is skipped; a month with a missing output
    // file and a month never written are recomputed.
    fs::remove_file(a.join("gaps/as_of=2026-03/part-00000.parquet")).expect("remove");
    let run = backfill(&a, "2026-02", "2026-05", &[]);
    run.expect_ok();
    assert_eq!(
        run.stdout,
        "2026-02 skipped (up to date)\n2026-03 written\n2026-04 skipped (up to date)\n2026-05 written\n"
    );
    assert!(a.join("gaps/as_of=2026-03/part-00000.parquet").exists());
    let run = backfill(&a, "2026-04", "2026-04", &["--force"]);
    run.expect_ok();
    assert_eq!(run.stdout, "2026-04 written\n");
    // --from after --to is a usage error.
    backfill(&a, "2026-05", "2026-04", &[]).expect_code(2);
}

/// `merge-manifests` of the sample's `count` shards in `out`.
fn merge_shards(out: &Path, as_of: &str, count: &str) -> util::Run {
    util::ledgerflow(&[
        "merge-manifests",
        SAMPLE_PIPELINE,
        "--as-of",
        as_of,
        "--shards",
        count,
        "--out",
        s(out),
    ])
}

#[test]
fn incremental_shards_carry_their_own_people() {
    let dir = util::temp_dir("shards-incremental");
    let (single, sharded) = (dir.join("single"), dir.join("sharded"));
    let as_of = "2026-06";
    run_sample(&single, as_of, &[]);
    for _night in 0..2 {
        for k in 0..2 {
            run_sample(
                &sharded,
                as_of,
                &["--shard", &format!("{k}/2"), "--incremental"],
            );
        }
        merge_shards(&sharded, as_of, "2").expect_ok();
        assert_eq!(sorted_rows(&single, as_of), sorted_rows(&sharded, as_of));
    }
    // The second night carried everyone forward, in both shards.
    let people = util::read_table(&single, "person_status", as_of).rows.len() as u64;
    assert_eq!(incremental_counts(&sharded, as_of), (0, people));
}

#[test]
fn union_of_shards_equals_the_single_machine_run() {
    let dir = util::temp_dir("shards");
    let (single, sharded) = (dir.join("single"), dir.join("sharded"));
    let as_of = "2026-06";
    let merge = || merge_shards(&sharded, as_of, "3");
    run_sample(&single, as_of, &[]);
    for k in 0..3 {
        let shard = format!("{k}/3");
        run_sample(&sharded, as_of, &["--shard", &shard]);
        if k < 2 {
            // Nothing is visible before the finishing step.
            assert!(!sharded.join("person_status").exists());
            let run = merge();
            run.expect_code(1);
            assert!(run.stderr.contains("has not finished"), "{}", run.stderr);
        }
    }
    merge().expect_ok();
    assert_eq!(
        util::partition_files(&sharded, "person_month", as_of).len(),
        3
    );
    assert_eq!(util::partition_files(&sharded, "rejects", as_of).len(), 1);
    assert_eq!(sorted_rows(&single, as_of), sorted_rows(&sharded, as_of));
    let (m1, m2) = (
        util::read_manifest(&single, as_of),
        util::read_manifest(&sharded, as_of),
    );
    assert_eq!(m1["totals"], m2["totals"]);
    assert_eq!(m2["shards"], 3);
    assert_eq!(
        report_charts(&single, as_of),
        report_charts(&sharded, as_of),
        "the merged report adds up the shards"
    );
    assert!(
        !sharded.join("_shards").exists(),
        "merged shard folders are removed"
    );
    // The Kubernetes chain with the Jobs' own commands (deploy/k8s/): a partition in
    // 2 file parts, 3 shards that read only their buckets, the merge. Its parts are
    // the bytes of today's shards' (each read everything), its one rejects part the
    // single run's, and the rest as above.
    let chained = dir.join("chained");
    let sample = Path::new(SAMPLE_PIPELINE);
    crate::partition::chain(sample, &chained, as_of, 2, 3);
    assert_eq!(
        partition_bytes(&sharded, as_of),
        partition_bytes(&chained, as_of)
    );
    assert_eq!(
        util::files_under(&util::partition_dir(&single, "rejects", as_of)),
        util::files_under(&util::partition_dir(&chained, "rejects", as_of))
    );
    assert_eq!(sorted_rows(&single, as_of), sorted_rows(&chained, as_of));
    let m3 = util::read_manifest(&chained, as_of);
    for key in ["totals", "rejects_by_type", "inputs", "exit_status"] {
        assert_eq!(m1[key], m3[key], "{key}");
    }
    assert_eq!(
        report_charts(&single, as_of),
        report_charts(&chained, as_of)
    );
    assert!(!chained.join("_shards").exists());
    // A plain run over a sharded snapshot replaces all its parts.
    run_sample(&sharded, as_of, &[]);
    assert_eq!(
        partition_bytes(&single, as_of),
        partition_bytes(&sharded, as_of)
    );
}

/// Copies the sample inputs into `dir` (ledger files in the given order) and writes a
/// pipeline for them.
fn copy_sample(dir: &Path, reverse: bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("ledger"))
        .expect("sample ledger")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    if reverse {
        files.reverse();
    }
    fs::create_dir_all(dir.join("ledger")).expect("mkdir");
    for f in &files {
        fs::copy(f, dir.join("ledger").join(f.file_name().expect("name"))).expect("copy");
    }
    fs::copy(
        root.join("special_groups.csv"),
        dir.join("special_groups.csv"),
    )
    .expect("copy");
    national_pipeline(
        dir,
        "ledger = \"ledger\"\nspecial_groups = \"special_groups.csv\"",
    )
}

#[test]
fn input_files_written_in_any_order_give_identical_bytes() {
    // The same folder (rejects name their source file), filled in opposite orders.
    let dir = util::temp_dir("order");
    let mut outputs = Vec::new();
    for (i, reverse) in [false, true].into_iter().enumerate() {
        let inputs = dir.join("inputs");
        if inputs.exists() {
            fs::remove_dir_all(&inputs).expect("clear");
        }
        let pipe = copy_sample(&inputs, reverse);
        let out = dir.join(format!("out{i}"));
        let threads = if reverse { "1" } else { "2" };
        util::ledgerflow(&[
            "run",
            s(&pipe),
            "--as-of",
            "2026-06",
            "--out",
            s(&out),
            "--quiet",
            "--threads",
            threads,
        ])
        .expect_ok();
        outputs.push(out);
    }
    let (a, b) = (&outputs[0], &outputs[1]);
    assert!(partition_bytes(a, "2026-06") == partition_bytes(b, "2026-06"));
    let strip = |mut m: serde_json::Value| {
        util::strip_key(&mut m, "stage_timings_ms");
        m
    };
    assert_eq!(
        strip(util::read_manifest(a, "2026-06")),
        strip(util::read_manifest(b, "2026-06"))
    );
}

/// Asserts that every partition under `out` holds only complete, readable part files
/// with the expected row counts, and that no temporary file sits in a table folder.
fn assert_partitions_complete(out: &Path, expected_rows: &[(String, usize)], when: &str) {
    for (table, rows) in expected_rows {
        let dir = out.join(table);
        if !dir.exists() {
            continue;
        }
        for entry in fs::read_dir(&dir).expect("list table") {
            let part_dir = entry.expect("entry").path();
            let files: Vec<PathBuf> = fs::read_dir(&part_dir)
                .expect("list partition")
                .map(|e| e.expect("entry").path())
                .collect();
            assert!(
                part_dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("as_of=")),
                "{when}: stray folder {}",
                part_dir.display()
            );
            assert_eq!(
                files.len(),
                1,
                "{when}: {} holds {files:?}",
                part_dir.display()
            );
            for f in &files {
                assert!(
                    f.extension().is_some_and(|e| e == "parquet"),
                    "{when}: {}",
                    f.display()
                );
                let df = util::read_parquet(f);
                assert_eq!(df.height(), *rows, "{when}: {}", f.display());
            }
        }
    }
}

#[test]
fn sigkill_at_any_point_leaves_only_complete_partitions() {
    let dir = util::temp_dir("kill");
    let out = dir.join("out");
    // A reference run gives the row counts every complete part file must have.
    let reference = dir.join("reference");
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&reference), "--quiet"]).expect_ok();
    let expected: Vec<(String, usize)> = TABLES
        .iter()
        .map(|t| {
            (
                t.to_string(),
                util::read_table(&reference, t, "2026-06").rows.len(),
            )
        })
        .collect();
    let bin = env!("CARGO_BIN_EXE_ledgerflow");
    let mut killed = 0;
    for step in 0..24u64 {
        // Every other run is incremental: killed while filling its caches and state too.
        let mut args = vec!["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"];
        if step % 2 == 1 {
            args.push("--incremental");
        }
        let mut child = Command::new(bin)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(step * 15));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reap");
        assert_partitions_complete(
            &out,
            &expected,
            &format!("after a kill at {} ms", step * 15),
        );
    }
    assert!(
        killed >= 5,
        "only {killed} runs were killed before finishing"
    );
    // The next runs clean up whatever the killed ones left and give the reference bytes,
    // an incremental one (from whatever state and cache survived) included.
    for extra in [&["--incremental"][..], &["--incremental"], &[]] {
        let mut args = vec!["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"];
        args.extend(extra);
        util::ledgerflow(&args).expect_ok();
        assert!(partition_bytes(&out, "2026-06") == partition_bytes(&reference, "2026-06"));
    }
    assert!(
        !out.join("_staging").exists(),
        "leftovers of killed runs are removed"
    );
    let mut cache = Vec::new();
    for dir in [out.join("_cache"), out.join("_cache/ledger")] {
        for e in fs::read_dir(&dir).expect("cache folder").flatten() {
            cache.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    assert!(
        cache.iter().all(|n| !n.ends_with(".tmp")),
        "temporary cache files of killed runs are removed: {cache:?}"
    );
}

/// Every ID-like token (15+ digits, maybe ending in X) in the sample inputs.
fn sample_ids() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let mut ids = std::collections::BTreeSet::new();
    let mut texts = vec![fs::read_to_string(root.join("special_groups.csv")).expect("read")];
    for e in fs::read_dir(root.join("ledger")).expect("ledger") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "xlsx") {
            // A workbook's IDs, read as the pipeline reads them.
            let enc = ledgerflow::domain::Encoding::Utf8;
            let t = ledgerflow::ingest::read_table(&path, enc, &["person_id"]).expect("read");
            let ids = t.column(0).expect("person_id column");
            texts.push(ids.values_iter().collect::<Vec<_>>().join("\n"));
        } else {
            texts.push(fs::read_to_string(path).expect("read"));
        }
    }
    for text in texts {
        for token in text.split(|c: char| !c.is_ascii_alphanumeric()) {
            let digits = token.trim_end_matches(['X', 'x']);
            if token.len() >= 15 && digits.bytes().all(|b| b.is_ascii_digit()) {
                ids.insert(token.to_ascii_uppercase());
                // An ID's 17-digit body alone is as identifying as the ID.
                ids.insert(token[..token.len().min(17)].to_string());
            }
        }
    }
    ids.into_iter().collect()
}

#[test]
fn pseudonymised_run_writes_no_raw_id_anywhere() {
    let dir = util::temp_dir("privacy");
    let pipe = dir.join("pipeline.toml");
    let text = fs::read_to_string(SAMPLE_PIPELINE).expect("sample pipeline");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let text = text
        .replace("\"rules/", &format!("\"{}/rules/", root.display()))
        .replace("\"../", &format!("\"{}/../", root.display()))
        .replace("pseudonymize = false", "pseudonymize = true");
    util::write(&pipe, &text);
    let out = dir.join("out");
    let run = util::ledgerflow_env(
        &["run", s(&pipe), "--out", s(&out)],
        &[(
            "LEDGERFLOW_PSEUDONYM_KEY",
            "nightly-secret-nightly-secret-nightly",
        )],
    );
    run.expect_ok();
    let ids = sample_ids();
    assert!(ids.len() > 400, "found {} IDs in the sample", ids.len());
    let leaks = |what: &str, text: &str| {
        let upper = text.to_ascii_uppercase();
        let found: Vec<&String> = ids
            .iter()
            .filter(|id| upper.contains(id.as_str()))
            .collect();
        assert!(found.is_empty(), "{what} contains raw IDs {found:?}");
    };
    leaks("stdout", &run.stdout);
    leaks("stderr", &run.stderr);
    let files = util::files_under(&out);
    assert!(files.iter().any(|(p, _)| p.starts_with("_reports/")));
    assert!(files.iter().any(|(p, _)| p.starts_with("_manifests/")));
    for (path, bytes) in &files {
        // Raw bytes (manifest, report, Parquet metadata and statistics) …
        leaks(path, &String::from_utf8_lossy(bytes));
        // … and every decoded cell of the Parquet files.
        if path.ends_with(".parquet") {
            let table = util::frame_to_table(&util::read_parquet(&out.join(path)));
            leaks(path, &table.to_csv());
        }
    }
    // An error message does not echo an ID either (a bad --as-of is about the month).
    let run = util::ledgerflow_env(
        &["run", s(&pipe), "--out", s(&out), "--as-of", "1999-01"],
        &[(
            "LEDGERFLOW_PSEUDONYM_KEY",
            "nightly-secret-nightly-secret-nightly",
        )],
    );
    leaks("stderr of a second run", &run.stderr);
}

/// Generates a ledger under `dir/data` (from 2024-01) and writes a pipeline for it
/// with outputs in `dir/out`; returns (data folder, pipeline file).
pub(crate) fn generated_pipeline(
    dir: &Path,
    persons: &str,
    months: &str,
    seed: &str,
) -> (PathBuf, PathBuf) {
    generated_pipeline_as(dir, persons, months, seed, "csv")
}

/// [`generated_pipeline`] with the ledger files in `format` (`csv` or `parquet`).
fn generated_pipeline_as(
    dir: &Path,
    persons: &str,
    months: &str,
    seed: &str,
    format: &str,
) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    util::ledgerflow(&[
        "generate",
        "--persons",
        persons,
        "--months",
        months,
        "--start",
        "2024-01",
        "--seed",
        seed,
        "--format",
        format,
        "--out",
        s(&data),
    ])
    .expect_ok();
    let pipe = national_pipeline(
        dir,
        "ledger = \"data/ledger\"\nspecial_groups = \"data/special_groups.csv\"",
    );
    (data, pipe)
}

/// Writes `dir/pipeline.toml`: the national rules, these `[inputs]` lines, outputs in
/// `dir/out`; returns its path.
fn national_pipeline(dir: &Path, inputs: &str) -> PathBuf {
    let pipe = dir.join("pipeline.toml");
    util::write(
        &pipe,
        &format!(
            "[pipeline]\nrules = {}\n[inputs]\n{inputs}\n[outputs]\ndir = \"out\"\n",
            util::toml_str(util::NATIONAL_RULES)
        ),
    );
    pipe
}

/// Lines of a CSV file without its header.
fn data_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Asserts two output folders hold byte-identical tables and the same manifest (apart
/// from how the run was made: timings, incremental counts, and what the folder held
/// before — `changes_since_previous`) for `as_of`.
fn same_snapshot(a: &Path, b: &Path, as_of: &str) {
    assert!(
        partition_bytes(a, as_of) == partition_bytes(b, as_of),
        "{as_of}: tables differ"
    );
    let strip = |mut m: serde_json::Value| {
        util::strip_key(&mut m, "stage_timings_ms");
        util::strip_key(&mut m, "incremental");
        util::strip_key(&mut m, "changes_since_previous");
        m
    };
    assert_eq!(
        strip(util::read_manifest(a, as_of)),
        strip(util::read_manifest(b, as_of))
    );
}

/// Runs `pipe` as of `as_of` incrementally into `inc` and from scratch into `full`,
/// and asserts both hold the same snapshot.
fn incremental_equals_full(pipe: &Path, inc: &Path, full: &Path, as_of: &str) {
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["run", s(pipe), "--as-of", as_of, "--out", s(out), "--quiet"];
        args.extend(extra);
        util::ledgerflow(&args).expect_ok();
    };
    run(inc, &["--incremental"]);
    let _ = fs::remove_dir_all(full);
    run(full, &[]);
    same_snapshot(inc, full, as_of);
}

/// The people evaluated and carried forward by an incremental run.
fn incremental_counts(out: &Path, as_of: &str) -> (u64, u64) {
    let m = util::read_manifest(out, as_of);
    let n = |k: &str| m["incremental"][k].as_u64().expect("incremental counts");
    (n("people_recomputed"), n("people_carried_forward"))
}

/// The fields of the first declared (unpaid) row of a ledger file, paid on `paid_on`.
fn late_payment(file: &Path, paid_on: &str) -> Vec<String> {
    let declared = data_lines(file)
        .into_iter()
        .find(|l| l.split(',').nth(6) == Some(""))
        .unwrap_or_else(|| panic!("a declared, unpaid month in {}", file.display()));
    let mut row: Vec<String> = declared.split(',').map(str::to_string).collect();
    row[6] = paid_on.into();
    row
}

#[test]
fn incremental_run_equals_a_full_run() {
    let dir = util::temp_dir("incremental");
    let (data, pipe) = generated_pipeline(&dir, "1500", "24", "11");
    let (inc, cache) = (dir.join("inc"), dir.join("inc/_cache/ledger"));
    let run = |out: &Path, as_of: &str, incremental: bool| {
        let mut args = vec![
            "run",
            s(&pipe),
            "--as-of",
            as_of,
            "--out",
            s(out),
            "--quiet",
        ];
        if incremental {
            args.push("--incremental");
        }
        util::ledgerflow(&args).expect_ok();
    };
    // Night 1: the cache is filled; the result equals a full run.
    run(&inc, "2026-01", true);
    run(&dir.join("full1"), "2026-01", false);
    same_snapshot(&inc, &dir.join("full1"), "2026-01");
    // Checked rows in `<sha256>.rows`; the raw text of duplicate lines in `<sha256>.raw`.
    let entries = |ext: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&cache)
            .expect("cache folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        v.sort();
        v
    };
    let cached: Vec<(PathBuf, std::time::SystemTime)> = entries("rows")
        .into_iter()
        .map(|p| {
            let t = fs::metadata(&p).and_then(|m| m.modified()).expect("mtime");
            (p, t)
        })
        .collect();
    assert_eq!(cached.len(), 24, "one cache entry per ledger file");
    let raw_night1 = entries("raw");
    assert!(
        !raw_night1.is_empty(),
        "the generated files have duplicates"
    );
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).expect("mtime");
    let raw_times: Vec<_> = raw_night1.iter().map(|p| mtime(p)).collect();

    // Night 2: a new settlement file with next month's payments, a late back-payment of
    // a declared month, and new people; a registry change; one damaged cache entry.
    let ledger = data.join("ledger");
    let last = data_lines(&ledger.join("ledger-2025-12.csv"));
    let mut new_rows: Vec<String> = last
        .iter()
        .filter(|l| l.contains(",employee,") || l.contains(",flexible,"))
        .take(400)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let mut g: Vec<String> = f.iter().map(|x| x.to_string()).collect();
            g[1] = "2026-02".into();
            g[6] = "2026-02-16".into();
            g.join(",")
        })
        .collect();
    new_rows.push(late_payment(&ledger.join("ledger-2025-06.csv"), "2026-02-03").join(","));
    new_rows.push(
        "370202198503120113,2026-02,flexible,individual,500.00,5000.00,2026-02-10,370200,".into(),
    );
    new_rows
        .push("370202200001010018,2026-01,resident,individual,400.00,,2026-02-11,370200,".into());
    util::write(
        &ledger.join("ledger-2026-02.csv"),
        &format!(
            "person_id,period,scheme,payer,amount,base,paid_on,region,employer_id\n{}\n",
            new_rows.join("\n")
        ),
    );
    let someone = last[0].split(',').next().expect("an ID").to_string();
    let mut registry = fs::read_to_string(data.join("special_groups.csv")).expect("registry");
    registry.push_str(&format!("{someone},dibao,2025-11-01,\n"));
    util::write(&data.join("special_groups.csv"), &registry);
    let damaged = &cached[0].0;
    fs::write(damaged, b"LFROWS2\ngarbage").expect("damage a cache entry");

    run(&inc, "2026-02", true);
    run(&dir.join("full2"), "2026-02", false);
    same_snapshot(&inc, &dir.join("full2"), "2026-02");
    assert!(
        util::total(&util::read_manifest(&inc, "2026-02"), "rows_read")
            > util::total(&util::read_manifest(&inc, "2026-01"), "rows_read")
    );
    // Unchanged files came from the cache (their entries were not rewritten); the new
    // file and the damaged entry were (re)checked and stored.
    let mut rewritten = 0;
    for (p, t) in &cached {
        let now = fs::metadata(p).and_then(|m| m.modified()).expect("mtime");
        if now != *t {
            rewritten += 1;
            assert_eq!(p, damaged, "{} was rewritten", p.display());
        }
    }
    assert_eq!(rewritten, 1);
    assert_eq!(entries("rows").len(), 25);
    // The raw text of old files' duplicates came from the cache, not from the files.
    let damaged_sha = damaged.file_stem().expect("sha");
    for (p, t) in raw_night1.iter().zip(&raw_times) {
        if p.file_stem() != Some(damaged_sha) {
            assert_eq!(mtime(p), *t, "{} was rewritten", p.display());
        }
    }

    // A new month: everyone is evaluated again.
    assert_eq!(incremental_counts(&inc, "2026-02").1, 0);
    let everyone = incremental_counts(&inc, "2026-02").0;
    assert!(everyone > 1500, "new people were added: {everyone}");

    // Night 3, the same as_of: a corrected old file (one payment's date), a late file
    // with a back-payment and a brand-new person, a registry change. Only the people
    // in those rows are evaluated; everyone else is carried forward.
    let old = ledger.join("ledger-2025-03.csv");
    let text = fs::read_to_string(&old).expect("old file");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let fixed = lines
        .iter()
        .position(|l| l.contains(",employee,") && l.split(',').nth(6) == Some("2025-03-15"))
        .expect("an employee row paid 2025-03-15");
    lines[fixed] = lines[fixed].replace(",2025-03-15,", ",2025-05-20,");
    util::write(&old, &(lines.join("\n") + "\n"));
    let backpay = late_payment(&ledger.join("ledger-2025-09.csv"), "2026-02-20");
    util::write(
        &ledger.join("ledger-2026-02-late.csv"),
        &format!(
            "person_id,period,scheme,payer,amount,base,paid_on,region,employer_id\n{}\n{}\n",
            backpay.join(","),
            "110101199003076632,2026-01,flexible,individual,500.00,5000.00,2026-02-12,110100,"
        ),
    );
    let other = data_lines(&ledger.join("ledger-2025-11.csv"))[3]
        .split(',')
        .next()
        .expect("an ID")
        .to_string();
    registry.push_str(&format!("{other},disabled_severe,2025-12-01,\n"));
    util::write(&data.join("special_groups.csv"), &registry);
    run(&inc, "2026-02", true);
    run(&dir.join("full3"), "2026-02", false);
    same_snapshot(&inc, &dir.join("full3"), "2026-02");
    let (recomputed, carried) = incremental_counts(&inc, "2026-02");
    let mut touched: Vec<&str> = vec![
        lines[fixed].split(',').next().expect("an ID"),
        &backpay[0],
        "110101199003076632",
        &other,
    ];
    touched.sort_unstable();
    touched.dedup();
    assert_eq!(
        recomputed,
        touched.len() as u64,
        "only the people of the changed rows are evaluated"
    );
    assert_eq!(recomputed + carried, everyone + 1, "one new person");

    // Night 4, nothing changed: everyone is carried forward, same bytes.
    run(&inc, "2026-02", true);
    same_snapshot(&inc, &dir.join("full3"), "2026-02");
    assert_eq!(incremental_counts(&inc, "2026-02"), (0, everyone + 1));
}

/// Runs the binary and returns its peak resident memory in bytes (`VmHWM`, polled
/// from `/proc` until the process exits). Not `ru_maxrss` from `wait4`: Linux carries
/// the spawning process's own peak across `exec`, and this test binary is large.
fn run_measuring_peak_rss(args: &[&str]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerflow"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = fs::read_to_string(&status) {
            let kb = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(kb) = kb {
                peak = peak.max(kb * 1024);
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "ledgerflow {args:?} failed");
            return peak;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn bounded_memory_run_stays_under_budget_with_the_same_rows() {
    let dir = util::temp_dir("bounded");
    let (_, pipe) = generated_pipeline(&dir, "20000", "24", "5");
    let (full, bounded) = (dir.join("full"), dir.join("bounded"));
    let in_memory = run_measuring_peak_rss(&["run", s(&pipe), "--out", s(&full), "--quiet"]);
    let budget: u64 = 96 << 20;
    let peak = run_measuring_peak_rss(&[
        "run",
        s(&pipe),
        "--out",
        s(&bounded),
        "--quiet",
        "--memory-budget",
        "96M",
    ]);
    assert!(
        in_memory > budget,
        "the test data must not fit the budget in memory ({in_memory} bytes)"
    );
    assert!(
        peak < budget,
        "peak RSS {peak} bytes over the 96 MiB budget"
    );
    assert!(
        util::partition_files(&bounded, "person_month", "2026-01").len() > 1,
        "a bucketed run writes one part per bucket"
    );
    assert_eq!(
        sorted_rows(&full, "2026-01"),
        sorted_rows(&bounded, "2026-01")
    );
    assert_eq!(
        report_charts(&full, "2026-01"),
        report_charts(&bounded, "2026-01"),
        "the bucketed report adds up the buckets"
    );
    let strip = |mut m: serde_json::Value| {
        util::strip_key(&mut m, "stage_timings_ms");
        util::strip_key(&mut m, "outputs");
        util::strip_key(&mut m, "bucketed");
        m
    };
    assert_eq!(
        strip(util::read_manifest(&full, "2026-01")),
        strip(util::read_manifest(&bounded, "2026-01"))
    );
}

/// Issue 14: the peak RSS of the whole process (`VmHWM`) stays under
/// `--memory-budget` 100M, 200M and 300M, the tables of the bucketed runs equal an
/// in-memory run's, and the manifest records the budget and the buckets chosen for it.
/// The data (16 000 people × 60 months of Parquet, about 225 MB estimated in memory)
/// is bucketed under 100M and 200M and fits 300M in memory — which must then hold too.
#[test]
fn memory_budgets_hold_for_the_whole_process() {
    let dir = util::temp_dir("honest-memory");
    let (_, pipe) = generated_pipeline_as(&dir, "16000", "60", "7", "parquet");
    let run = |flag: &str| {
        let out = dir.join(flag);
        let args = [
            "run",
            s(&pipe),
            "--out",
            s(&out),
            "--quiet",
            "--memory-budget",
            flag,
        ];
        (run_measuring_peak_rss(&args), out)
    };
    let runs: Vec<(&str, u64, u64, PathBuf)> = [("300M", 300u64), ("100M", 100), ("200M", 200)]
        .into_iter()
        .map(|(flag, mib)| {
            let (peak, out) = run(flag);
            (flag, mib << 20, peak, out)
        })
        .collect();
    for (flag, budget, peak, _) in &runs {
        assert!(
            peak < budget,
            "--memory-budget {flag}: peak RSS {peak} bytes"
        );
    }
    let full = &runs[0].3;
    assert!(
        util::read_manifest(full, "2029-01")
            .get("bucketed")
            .is_none(),
        "300M holds this data in memory"
    );
    for ((flag, budget, _, out), buckets) in runs[1..].iter().zip([7, 3]) {
        let m = util::read_manifest(out, "2029-01");
        assert_eq!(m["bucketed"]["memory_budget"], *budget, "{flag}");
        assert_eq!(m["bucketed"]["buckets"], buckets, "{flag}");
        assert_eq!(
            util::partition_files(out, "person_month", "2029-01").len(),
            buckets,
            "one part per bucket"
        );
        assert_eq!(
            sorted_rows(full, "2029-01"),
            sorted_rows(out, "2029-01"),
            "{flag}"
        );
    }
}

/// A budget that cannot be kept — below the minimum, or too small for checking the
/// largest ledger file — is said (a notice naming the minimum) and recorded in the
/// manifest; the run still goes on in buckets.
#[test]
fn a_memory_budget_that_cannot_be_kept_is_said_and_recorded() {
    let dir = util::temp_dir("honest-memory-min");
    let (_, pipe) = generated_pipeline(&dir, "200", "6", "3");
    // One 9 MB ledger file: its checking alone (8 × its bytes) exceeds what a 64M
    // budget leaves a bucket, whatever the bucket count.
    let big = dir.join("data/ledger/big.csv");
    let header = "person_id,period,scheme,payer,amount,base,paid_on,region,employer_id\n";
    let row = "370202198001010010,2024-01,employee,employer,500.00,5000.00,2024-01-15,370200,E1\n";
    util::write(
        &big,
        &format!("{header}{}", row.repeat(9_000_000 / row.len())),
    );
    let cases = [
        (
            "40M",
            format!(
                "{}: --memory-budget 40M cannot be kept: the process itself needs about 48M; the minimum is 64M",
                pipe.display()
            ),
        ),
        (
            "64M",
            format!(
                "{}: --memory-budget 64M cannot be kept: checking this ledger file needs about 69M, twice that with the margin, plus the 48M the process needs; split the file or raise the budget to at least 186M",
                big.display()
            ),
        ),
    ];
    for (flag, msg) in cases {
        let out = dir.join(flag);
        let run = util::ledgerflow(&["run", s(&pipe), "--out", s(&out), "--memory-budget", flag]);
        run.expect_ok();
        assert!(run.stderr.contains(&msg), "{}", run.stderr);
        let m = util::read_manifest(&out, "2024-06");
        assert_eq!(m["bucketed"]["budget_warning"], msg.as_str(), "{flag}");
        assert!(
            m["bucketed"]["buckets"].as_u64().unwrap_or(0) >= 2,
            "{flag}"
        );
    }
}

/// Exact duplicates across files: which copy is kept moves when files come and go,
/// and an incremental run must follow it night after night.
#[test]
fn incremental_runs_follow_duplicates_between_files() {
    let dir = util::temp_dir("incremental-dups");
    let ledger = dir.join("ledger");
    let header = "person_id,period,scheme,payer,amount,base,paid_on,region,employer_id";
    let (p, q) = ("370202198001010010", "370202199002020020");
    let r1 = format!("{p},2025-01,employee,employer,500.00,5000.00,2025-01-15,370200,E1");
    let r2 = format!("{p},2025-02,employee,employer,500.00,5000.00,2025-03-20,370200,E1");
    let r3 = format!("{p},2025-03,employee,employer,500.00,5000.00,2025-03-15,370200,E1");
    let other = format!("{q},2025-02,flexible,individual,500.00,5000.00,2025-02-10,370200,");
    let file = |name: &str, rows: &[&str]| {
        util::write(
            &ledger.join(name),
            &format!("{header}\n{}\n", rows.join("\n")),
        );
    };
    file("a.csv", &[&r1]);
    file("b.csv", &[&r1, &r2, &r3]);
    file("c.csv", &[&other]);
    let pipe = national_pipeline(&dir, "ledger = \"ledger\"");
    let (inc, full) = (dir.join("inc"), dir.join("full"));
    let night = |expect: (u64, u64)| {
        incremental_equals_full(&pipe, &inc, &full, "2025-06");
        assert_eq!(incremental_counts(&inc, "2025-06"), expect);
    };
    night((2, 0));
    // a.csv goes: b.csv's copy of r1 is kept now. Only p is evaluated.
    fs::remove_file(ledger.join("a.csv")).expect("remove a.csv");
    night((1, 1));
    // b.csv drops r1 (p loses the month) — b.csv's copy was a duplicate two nights ago.
    file("b.csv", &[&r2, &r3]);
    night((1, 1));
    // A new file sorting first brings another copy of r2, and that copy is kept.
    file("0.csv", &[&r2]);
    night((1, 1));
    let rejects = util::read_table(&inc, "rejects", "2025-06").rows;
    assert_eq!(
        rejects.len(),
        1,
        "b.csv's r2 is the duplicate now: {rejects:?}"
    );
    // Nothing changed: everyone carried forward.
    night((0, 2));
}

/// Night after night of random edits to generated inputs — payments dated later, rows
/// deleted, rows copied into other files (duplicates), new files, a file removed,
/// registry rows added and dropped, one new month — and every incremental run equals a
/// full run of the same inputs, byte for byte.
#[test]
fn incremental_runs_equal_full_runs_under_random_edits() {
    let dir = util::temp_dir("incremental-random");
    let (data, pipe) = generated_pipeline(&dir, "600", "18", "23");
    let ledger = data.join("ledger");
    let registry = data.join("special_groups.csv");
    let mut seed: u64 = 0x5eed;
    let mut rand = move |n: usize| -> usize {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n.max(1)
    };
    let files = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&ledger)
            .expect("ledger folder")
            .map(|e| e.expect("entry").path())
            .collect();
        v.sort();
        v
    };
    let read = |p: &Path| -> Vec<String> {
        fs::read_to_string(p)
            .expect("read")
            .lines()
            .map(str::to_string)
            .collect()
    };
    let write = |p: &Path, lines: &[String]| util::write(p, &(lines.join("\n") + "\n"));
    let (inc, full) = (dir.join("inc"), dir.join("full"));
    let mut carried_some = false;
    for night in 0..7 {
        if night > 0 {
            for _ in 0..4 {
                let all = files();
                let f = &all[rand(all.len())];
                let mut lines = read(f);
                if lines.len() < 3 {
                    continue;
                }
                let i = 1 + rand(lines.len() - 1);
                match rand(4) {
                    // A payment that arrived later (or a declaration now paid).
                    0 => {
                        let mut v: Vec<String> = lines[i].split(',').map(str::to_string).collect();
                        if v.len() > 6 {
                            v[6] = format!("2025-0{}-1{}", 5 + rand(4), rand(10));
                            lines[i] = v.join(",");
                        }
                    }
                    // A row withdrawn.
                    1 => {
                        lines.remove(i);
                    }
                    // A row delivered again in another file (an exact duplicate).
                    2 => {
                        let g = &all[rand(all.len())];
                        let mut other = read(g);
                        other.push(lines[i].clone());
                        write(g, &other);
                    }
                    // Two rows swapped (input order decides ties).
                    _ => {
                        let j = 1 + rand(lines.len() - 1);
                        lines.swap(i, j);
                    }
                }
                write(f, &lines);
            }
            // A late file with copies of a few rows, amounts changed.
            let all = files();
            let mut late = vec![read(&all[0])[0].clone()];
            for _ in 0..3 {
                let src = read(&all[rand(all.len())]);
                let mut v: Vec<String> = src[1 + rand(src.len() - 1)]
                    .split(',')
                    .map(str::to_string)
                    .collect();
                if v.len() > 4 {
                    v[4] = format!("{}.00", 100 + rand(900));
                }
                late.push(v.join(","));
            }
            write(&ledger.join(format!("late-{night}.csv")), &late);
            // The registry: a row dropped, a row added.
            let mut reg = read(&registry);
            if reg.len() > 2 {
                reg.remove(1 + rand(reg.len() - 1));
            }
            let someone = read(&all[rand(all.len())])[1]
                .split(',')
                .next()
                .expect("an ID")
                .to_string();
            reg.push(format!("{someone},tekun,2025-0{}-01,", 1 + rand(9)));
            write(&registry, &reg);
            if night == 4 {
                fs::remove_file(&all[rand(all.len())]).expect("remove a file");
            }
        }
        // Night 5 moves to the next month: everyone is evaluated again.
        let as_of = if night >= 5 { "2025-07" } else { "2025-06" };
        incremental_equals_full(&pipe, &inc, &full, as_of);
        let (recomputed, carried) = incremental_counts(&inc, as_of);
        if night > 0 && night != 5 {
            carried_some |= carried > 0;
            assert!(
                (1..100).contains(&recomputed),
                "night {night}: {recomputed} recomputed"
            );
        }
        if night == 5 {
            assert_eq!(carried, 0, "a new month evaluates everyone");
        }
    }
    assert!(carried_some);
}

#[test]
fn incremental_runs_follow_a_moving_plausibility_reference() {
    // Night 1: P's row paid 2027-07-01 is more than 24 months after the reference
    // (2025-06) and rejected. Night 2 brings only Q's back-payment paid 2025-08: the
    // reference moves and the same row of the unchanged file is accepted. Such a row
    // is always paid after K (a future row), so P's results do not change and P may
    // be carried forward; the rejects and counts follow the move.
    let dir = util::temp_dir("incremental-reference");
    let header = "person_id,period,scheme,payer,amount,base,paid_on,region\n";
    let p = "370202198503120113";
    let mut a = header.to_string();
    for (m, paid) in [
        ("01", "2025-01-20"),
        ("02", "2025-02-20"),
        ("03", "2027-07-01"),
        ("04", "2025-04-20"),
        ("05", "2025-05-20"),
        ("06", "2025-06-20"),
    ] {
        a.push_str(&format!(
            "{p},2025-{m},employee,employer,800.00,8000.00,{paid},370200\n"
        ));
    }
    util::write(&dir.join("ledger/a.csv"), &a);
    let pipe = national_pipeline(&dir, "ledger = \"ledger\"");
    let (inc, full) = (dir.join("inc"), dir.join("full"));
    incremental_equals_full(&pipe, &inc, &full, "2025-06");
    let rejects = util::read_table(&inc, "rejects", "2025-06");
    assert_eq!(rejects.column("error_type"), ["BAD_DATE"]);
    util::write(
        &dir.join("ledger/b.csv"),
        &format!(
            "{header}370202197505050628,2025-05,flexible,individual,1000.00,10000.00,2025-08-01,370200\n"
        ),
    );
    incremental_equals_full(&pipe, &inc, &full, "2025-06");
    let rejects = util::read_table(&inc, "rejects", "2025-06");
    assert!(rejects.column("error_type").is_empty());
}

/// Unpartitioned shards each see every reject and fail the quality gate; the merge
/// of them exits 3 and says why, as a single run does (it exited 3 without a word).
#[test]
fn a_merge_of_unpartitioned_shards_says_why_the_gate_failed() {
    let dir = util::temp_dir("merge-gate");
    let header = "person_id,period,scheme,payer,amount,base,paid_on,region,employer_id";
    let ledger = format!(
        "{header}\n\
         370202198001010010,2025-01,employee,employer,500.00,5000.00,2025-01-15,370200,E1\n\
         370202199002020020,2025-01,employee,employer,500.00,5000.00,2025-01-15,370200,E1\n\
         370202199002020020,2025-13,employee,employer,500.00,5000.00,2025-01-15,370200,E1\n"
    );
    let pipe = util::write_pipeline_with_gate(&dir, &ledger, None, 0.1);
    for k in ["0/2", "1/2"] {
        let r = util::ledgerflow(&["run", s(&pipe), "--as-of", "2025-01", "--shard", k]);
        r.expect_code(3);
    }
    let merged = util::ledgerflow(&[
        "merge-manifests",
        s(&pipe),
        "--as-of",
        "2025-01",
        "--shards",
        "2",
    ]);
    merged.expect_code(3);
    assert!(
        merged.stderr.contains(
            "reject ratio 0.3333 (1 of 3 ledger rows) exceeds [quality] max_reject_ratio = 0.1"
        ),
        "{}",
        merged.stderr
    );
    assert_eq!(
        util::read_manifest(&dir.join("out"), "2025-01")["exit_status"],
        3
    );
}
