//! Run safety: one run at a time per output folder (the lock), what killed and failed
//! runs leave and the next run sweeps, and `verify` of plain and sharded snapshots.

use crate::util::{self, SAMPLE_PIPELINE, TABLES};
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AS_OF: &str = "2026-06";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `ledgerflow run SAMPLE --out OUT --quiet [extra]`, started, output captured.
fn spawn_run(out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledgerflow"))
        .args(["run", SAMPLE_PIPELINE, "--out", s(out), "--quiet"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Waits for a child at most `limit`; (exit code, stderr).
fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a run took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verify(out: &Path, as_of: &str) -> util::Run {
    util::ledgerflow(&["verify", SAMPLE_PIPELINE, "--as-of", as_of, "--out", s(out)])
}

/// `merge-manifests` of the sample's `shards` shards of `AS_OF` in `out`.
fn merge(out: &Path, shards: &str) -> util::Run {
    util::ledgerflow(&[
        "merge-manifests",
        SAMPLE_PIPELINE,
        "--as-of",
        AS_OF,
        "--shards",
        shards,
        "--out",
        s(out),
    ])
}

/// `run SAMPLE --as-of AS_OF --out OUT --quiet --shard K/N`.
fn shard_run(out: &Path, shard: &str) -> util::Run {
    util::ledgerflow(&[
        "run",
        SAMPLE_PIPELINE,
        "--as-of",
        AS_OF,
        "--out",
        s(out),
        "--quiet",
        "--shard",
        shard,
    ])
}

/// Every part file of `as_of`, as (relative path, bytes).
fn snapshot_parts(out: &Path) -> Vec<(String, Vec<u8>)> {
    util::parquet_files_under(out)
        .into_iter()
        .filter(|(p, _)| p.contains(&format!("/as_of={AS_OF}/")))
        .collect()
}

/// A reference snapshot of the sample in a folder of its own.
fn reference(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let out = dir.join("reference");
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"]).expect_ok();
    let parts = snapshot_parts(&out);
    assert_eq!(parts.len(), TABLES.len());
    parts
}

/// Every part file readable, the parts exactly the reference's, `verify` content.
fn assert_clean_snapshot(out: &Path, want: &[(String, Vec<u8>)], when: &str) {
    for (rel, _) in snapshot_parts(out) {
        util::read_parquet(&out.join(rel));
    }
    assert!(
        snapshot_parts(out) == want,
        "{when}: the parts are not one run's"
    );
    verify(out, AS_OF).expect_ok();
}

fn assert_lock_message(stderr: &str, out: &Path) {
    let lock = out.join("_lock");
    assert!(
        stderr.contains(&format!("{}: another ledgerflow run (pid ", lock.display()))
            && stderr.contains("--wait-lock"),
        "{stderr}"
    );
}

#[test]
fn two_runs_started_together_never_mix_a_partition() {
    let dir = util::temp_dir("safety-race");
    let want = reference(&dir);
    let out = dir.join("out");
    let mut contended = 0;
    for rep in 0..20 {
        let (a, b) = (spawn_run(&out, &[]), spawn_run(&out, &[]));
        let limit = Duration::from_secs(120);
        let (ra, rb) = (finish(a, limit), finish(b, limit));
        let mut codes = [ra.0, rb.0];
        codes.sort();
        // One run writes; the other stops at once with the lock message (or, if it
        // started only after the first had finished, writes the same snapshot again).
        assert!(
            codes == [0, 1] || codes == [0, 0],
            "rep {rep}: exit codes {codes:?}\n{}\n{}",
            ra.1,
            rb.1
        );
        for (code, stderr) in [&ra, &rb] {
            if *code == 1 {
                assert_lock_message(stderr, &out);
                contended += 1;
            }
        }
        assert_clean_snapshot(&out, &want, &format!("rep {rep}"));
    }
    eprintln!("{contended} of 20 pairs overlapped");
    assert!(contended > 0, "the runs never overlapped");
}

#[test]
fn with_wait_lock_both_runs_succeed_one_after_the_other() {
    let dir = util::temp_dir("safety-wait");
    let want = reference(&dir);
    let out = dir.join("out");
    for rep in 0..5 {
        let (a, b) = (
            spawn_run(&out, &["--wait-lock"]),
            spawn_run(&out, &["--wait-lock"]),
        );
        let limit = Duration::from_secs(120);
        let (ra, rb) = (finish(a, limit), finish(b, limit));
        assert_eq!((ra.0, rb.0), (0, 0), "rep {rep}\n{}\n{}", ra.1, rb.1);
        assert_clean_snapshot(&out, &want, &format!("rep {rep}"));
    }
}

/// Holds `OUT/_lock` from this process, with `pid` written in it, as a run would.
struct HeldLock {
    _file: fs::File,
}

impl HeldLock {
    fn take(out: &Path, pid: &str) -> HeldLock {
        fs::create_dir_all(out).expect("out");
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(out.join("_lock"))
            .expect("lock file");
        // SAFETY: flock on a descriptor owned by `f`.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        fs::write(out.join("_lock"), format!("{pid}\n")).expect("pid");
        HeldLock { _file: f }
    }
}

#[test]
fn a_held_lock_stops_writers_at_once_or_makes_them_wait() {
    let dir = util::temp_dir("safety-held");
    let want = reference(&dir);
    let out = dir.join("out");
    let held = HeldLock::take(&out, "4242");
    let t = Instant::now();
    let run = util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"]);
    run.expect_code(1);
    assert_lock_message(&run.stderr, &out);
    assert!(run.stderr.contains("(pid 4242)"), "{}", run.stderr);
    assert!(t.elapsed() < Duration::from_secs(30), "it failed at once");
    assert!(!out.join("person_status").exists(), "it wrote nothing");
    // backfill and merge-manifests take the same lock.
    let backfill = util::ledgerflow(&[
        "backfill",
        SAMPLE_PIPELINE,
        "--from",
        AS_OF,
        "--to",
        AS_OF,
        "--out",
        s(&out),
        "--quiet",
    ]);
    backfill.expect_code(1);
    assert_lock_message(&backfill.stderr, &out);
    let merge = merge(&out, "2");
    merge.expect_code(1);
    assert_lock_message(&merge.stderr, &out);
    // Readers take no lock.
    let validate = util::ledgerflow(&["validate", SAMPLE_PIPELINE]);
    validate.expect_ok();
    verify(&out, AS_OF).expect_code(1);

    // --wait-lock waits for the holder, then runs.
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_ledgerflow"))
        .args(["run", SAMPLE_PIPELINE, "--out", s(&out), "--wait-lock"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        waiting.try_wait().expect("wait").is_none(),
        "a --wait-lock run waits while the lock is held"
    );
    drop(held);
    let (code, stderr) = finish(waiting, Duration::from_secs(120));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("waiting for another ledgerflow run (pid 4242)"),
        "{stderr}"
    );
    assert_clean_snapshot(&out, &want, "after waiting");
}

#[test]
fn the_next_run_sweeps_what_killed_runs_left() {
    let dir = util::temp_dir("safety-sweep");
    let want = reference(&dir);
    let out = dir.join("out");
    util::ledgerflow(&[
        "run",
        SAMPLE_PIPELINE,
        "--out",
        s(&out),
        "--quiet",
        "--incremental",
    ])
    .expect_ok();
    // What runs killed while writing the manifest, the report, the caches, the spill
    // files and the staged parts leave behind.
    let left = [
        format!("_manifests/.{AS_OF}.json.99999-0.tmp"),
        format!("_reports/.{AS_OF}.html.99999-1.tmp"),
        "_cache/.results.state.99999-2.tmp".to_string(),
        "_cache/ledger/.0123abcd.rows.99999-3.tmp".to_string(),
        format!("_staging/99999-4/person_status/as_of={AS_OF}/part-00000.parquet"),
        "_staging/99999-5/spill/bucket-00000.bin".to_string(),
        ".ledgerflow-write-test-99999".to_string(),
    ];
    for f in &left {
        util::write(&out.join(f), "left by a killed run");
    }
    // None of it is part of the snapshot.
    verify(&out, AS_OF).expect_ok();
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"]).expect_ok();
    for f in &left {
        assert!(!out.join(f).exists(), "{f} was not swept");
    }
    assert!(!out.join("_staging").exists());
    assert_clean_snapshot(&out, &want, "after the sweep");
}

#[test]
fn a_failed_run_removes_its_own_staging() {
    let dir = util::temp_dir("safety-failed");
    let out = dir.join("out");
    // A file where a table folder must go: publishing fails after staging.
    util::write(&out.join("person_month"), "not a folder");
    let run = util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(&out.join("person_month").display().to_string()),
        "{}",
        run.stderr
    );
    assert!(
        !out.join("_staging").exists(),
        "staging left: {:?}",
        util::files_under(&out)
            .into_iter()
            .map(|f| f.0)
            .collect::<Vec<_>>()
    );
    assert!(
        !out.join("_manifests").exists(),
        "no manifest of a failed run"
    );
}

/// Flips one byte in the middle of a file (same size, other SHA-256).
fn flip_a_byte(path: &Path) {
    let mut bytes = fs::read(path).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0xff;
    fs::write(path, bytes).expect("write");
}

/// The problem lines of a failed verify, each expected to name one of `files`.
fn assert_problems(run: &util::Run, files: &[(PathBuf, &str)]) {
    run.expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), files.len(), "{}", run.stdout);
    for (file, what) in files {
        let name = file.display().to_string();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{name}: ")) && l.contains(what)),
            "no line names {name} ({what}):\n{}",
            run.stdout
        );
    }
}

#[test]
fn verify_names_deleted_extra_and_modified_parts() {
    let dir = util::temp_dir("safety-verify");
    let out = dir.join("out");
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"]).expect_ok();
    let good = verify(&out, AS_OF);
    good.expect_ok();
    let manifest = out.join("_manifests").join(format!("{AS_OF}.json"));
    assert_eq!(
        good.stdout,
        format!("{}: complete, 5 files as listed\n", manifest.display())
    );
    // Without --as-of: the latest period of the inputs, as for `run`.
    util::ledgerflow(&["verify", SAMPLE_PIPELINE, "--out", s(&out)]).expect_ok();

    let part = |t: &str, n: &str| util::partition_dir(&out, t, AS_OF).join(n);
    let deleted = part("gaps", "part-00000.parquet");
    let extra = part("findings", "part-00007.parquet");
    let modified = part("person_status", "part-00000.parquet");
    fs::remove_file(&deleted).expect("delete");
    fs::copy(part("findings", "part-00000.parquet"), &extra).expect("copy");
    flip_a_byte(&modified);
    let run = verify(&out, AS_OF);
    assert_problems(
        &run,
        &[
            (deleted, "missing"),
            (extra, "not in"),
            (modified, "SHA-256 differs"),
        ],
    );
    assert!(
        run.stderr.contains("incomplete or mixed (3 problems)"),
        "{}",
        run.stderr
    );
    // A month never published, and a usage error.
    assert_problems(
        &verify(&out, "2026-05"),
        &[(manifest.with_file_name("2026-05.json"), "missing")],
    );
    util::ledgerflow(&["verify", SAMPLE_PIPELINE, "--as-of", "June"]).expect_code(2);
    // The next run repairs the snapshot.
    util::ledgerflow(&["run", SAMPLE_PIPELINE, "--out", s(&out), "--quiet"]).expect_ok();
    verify(&out, AS_OF).expect_ok();
}

#[test]
fn verify_checks_a_merged_sharded_snapshot() {
    let dir = util::temp_dir("safety-shards");
    let out = dir.join("out");
    for k in 0..3 {
        let shard = format!("{k}/3");
        shard_run(&out, &shard).expect_ok();
    }
    // Before the merge nothing is published.
    assert_problems(
        &verify(&out, AS_OF),
        &[(
            out.join("_manifests").join(format!("{AS_OF}.json")),
            "missing",
        )],
    );
    merge(&out, "3").expect_ok();
    let run = verify(&out, AS_OF);
    run.expect_ok();
    // Four person tables in three parts each, rejects in one.
    assert!(
        run.stdout.ends_with(": complete, 13 files as listed\n"),
        "{}",
        run.stdout
    );
    let shard1 = util::partition_dir(&out, "person_month", AS_OF).join("part-00001.parquet");
    let shard2 = util::partition_dir(&out, "gaps", AS_OF).join("part-00002.parquet");
    fs::remove_file(&shard1).expect("delete");
    flip_a_byte(&shard2);
    assert_problems(
        &verify(&out, AS_OF),
        &[(shard1, "missing"), (shard2, "SHA-256 differs")],
    );
}

#[test]
fn a_shard_rerun_that_fails_leaves_its_shard_unfinished() {
    let dir = util::temp_dir("safety-shard-rerun");
    let out = dir.join("out");
    let shard = |k: &str| shard_run(&out, k);
    shard("0/2").expect_ok();
    shard("1/2").expect_ok();
    // The rerun of shard 1 cannot write its person_status part (a folder is in the
    // way): it fails after its old manifest is gone, so the merge refuses the shard
    // instead of publishing a half-written part under the old manifest.
    let part = out
        .join(format!("_shards/as_of={AS_OF}/shard-1-of-2"))
        .join(format!("person_status/as_of={AS_OF}/part-00001.parquet"));
    fs::remove_file(&part).expect("remove");
    util::write(&part.join("blocker"), "x");
    shard("1/2").expect_code(1);
    let merge = merge(&out, "2");
    merge.expect_code(1);
    assert!(
        merge
            .stderr
            .contains("shard 1/2 of 2026-06 has not finished"),
        "{}",
        merge.stderr
    );
}
