//! The partition step (`ledgerflow partition`) → shards that read only their buckets →
//! `merge-manifests`, run with the Kubernetes Jobs' own command lines
//! (`deploy/k8s/*.yaml`), and every manifest under `deploy/` checked against the
//! Kubernetes schemas (the pinned `kubernetes-validate` in the test venv; no cluster).

use crate::duckdb_env;
use crate::util;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The shell command of the container of the Job in `deploy/k8s/<file>`.
fn job_command(file: &str) -> String {
    let path = deploy_dir().join("k8s").join(file);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("- exec ledgerflow "))
        .unwrap_or_else(|| panic!("{}: no `- exec ledgerflow …` argument", path.display()))
        .to_string()
}

/// Runs the Job of `deploy/k8s/<file>` locally as `/bin/sh -c` runs it in its pod:
/// the same command line, with `/config/pipeline.toml` → `pipeline`, `/data/out` →
/// `out` and the environment `env` (`JOB_COMPLETION_INDEX`, `SHARDS`, …).
pub fn run_job(file: &str, pipeline: &Path, out: &Path, env: &[(&str, &str)]) -> util::Run {
    let script = format!(
        "exec \"$LEDGERFLOW\" {}",
        job_command(file)
            .replace("/config/pipeline.toml", "\"$PIPELINE\"")
            .replace("/data/out", "\"$OUT\"")
    );
    let output = Command::new("/bin/sh")
        .args(["-c", &script])
        .env("LEDGERFLOW", env!("CARGO_BIN_EXE_ledgerflow"))
        .env("PIPELINE", pipeline)
        .env("OUT", out)
        .env_remove("LEDGERFLOW_PSEUDONYM_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot start /bin/sh: {e}"));
    util::Run {
        args: vec![script],
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The whole chain of the Jobs: partition in `parts` file parts → `shards` shards
/// (each expected to exit 0) → merge of `as_of`; returns each shard's manifest
/// (read before the merge removes it).
pub fn chain(
    pipeline: &Path,
    out: &Path,
    as_of: &str,
    parts: u32,
    shards: u32,
) -> Vec<serde_json::Value> {
    let (n, m) = (shards.to_string(), parts.to_string());
    for i in 0..parts {
        let i = i.to_string();
        run_job(
            "ledgerflow-partition.yaml",
            pipeline,
            out,
            &[
                ("JOB_COMPLETION_INDEX", &i),
                ("SHARDS", &n),
                ("FILE_PARTS", &m),
            ],
        )
        .expect_ok();
    }
    let mut manifests = Vec::new();
    for k in 0..shards {
        let k = k.to_string();
        run_job(
            "ledgerflow-shards.yaml",
            pipeline,
            out,
            &[
                ("JOB_COMPLETION_INDEX", &k),
                ("SHARDS", &n),
                ("AS_OF", as_of),
            ],
        )
        .expect_ok();
        let path = out
            .join("_shards")
            .join(format!("as_of={as_of}"))
            .join(format!("shard-{k}-of-{n}"))
            .join("manifest.json");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        manifests.push(serde_json::from_str(&text).expect("shard manifest"));
    }
    run_job(
        "ledgerflow-merge.yaml",
        pipeline,
        out,
        &[("SHARDS", &n), ("AS_OF", as_of)],
    )
    .expect_ok();
    manifests
}

fn partition(pipeline: &Path, out: &Path, shards: &str, files: &str) -> util::Run {
    util::ledgerflow(&[
        "partition",
        s(pipeline),
        "--shards",
        shards,
        "--files",
        files,
        "--out",
        s(out),
        "--quiet",
    ])
}

/// The rejects table's part file bytes of `as_of`.
fn rejects_bytes(out: &Path, as_of: &str) -> Vec<Vec<u8>> {
    util::partition_files(out, "rejects", as_of)
        .iter()
        .map(|p| fs::read(p).expect("rejects part"))
        .collect()
}

#[test]
fn shards_of_a_partition_read_a_third_of_the_rows_each() {
    let dir = util::temp_dir("partition-share");
    let (_, pipe) = crate::operate::generated_pipeline(&dir, "1500", "12", "21");
    let as_of = "2024-12";
    let (single, chained) = (dir.join("single"), dir.join("chained"));
    crate::operate::run_pipeline(&pipe, &single, as_of, &[]).expect_ok();
    let shards = chain(&pipe, &chained, as_of, 2, 3);
    assert_eq!(
        crate::operate::sorted_rows(&single, as_of),
        crate::operate::sorted_rows(&chained, as_of)
    );
    assert_eq!(
        rejects_bytes(&single, as_of),
        rejects_bytes(&chained, as_of)
    );
    let (m1, m2) = (
        util::read_manifest(&single, as_of),
        util::read_manifest(&chained, as_of),
    );
    assert_eq!(m1["totals"], m2["totals"]);
    assert_eq!(m1["rejects_by_type"], m2["rejects_by_type"]);
    assert_eq!(m1["inputs"], m2["inputs"]);
    // The buckets hold every row that passed the checks of a row alone: the accepted
    // rows and the duplicates among them (the generated ledger has no rows ahead).
    let read: Vec<i64> = shards
        .iter()
        .map(|m| m["partition"]["rows_read"].as_i64().expect("rows_read"))
        .collect();
    let total = util::total(&m2, "rows_accepted")
        + m2["rejects_by_type"]["DUPLICATE_ROW"]
            .as_i64()
            .expect("dups");
    assert!(total > 10_000, "{total} rows");
    assert_eq!(read.iter().sum::<i64>(), total, "{read:?}");
    for (k, r) in read.iter().enumerate() {
        assert!(
            (*r as f64) < 0.6 * total as f64 && (*r as f64) > 0.2 * total as f64,
            "shard {k} read {r} of {total} rows"
        );
    }
    assert_eq!(m2["partition"]["rows_read"].as_i64(), Some(total));
    assert_eq!(
        m2["partition"]["rows_read_by_shard"],
        serde_json::json!(read)
    );
    assert_eq!(m2["partition"]["file_parts"], 2);
    assert_eq!(m2["shards"], 3);
    // The check of the partition is a stage of the shards that read it.
    for (k, m) in shards.iter().enumerate() {
        let ms = &m["stage_timings_ms"];
        assert!(ms["partition_check"].is_u64(), "shard {k}: {ms}");
    }
    assert!(m2["stage_timings_ms"]["partition_check"].is_u64());
}

/// Two ledger files (file parts 0/2 and 1/2) under `dir`, the second repeating a row
/// of the first; returns the pipeline.
fn two_files(dir: &Path) -> PathBuf {
    let header = "person_id,period,scheme,payer,amount,base,paid_on,region,employer_id\n";
    let row = "370203196809022599,2026-01,employee,employer,2642.16,26421.56,2026-01-19,370200,913702002414824832\n";
    let pipe = util::write_pipeline(
        dir,
        &format!(
            "{header}{row}320505199907188027,2026-01,flexible,individual,1022.45,10224.48,2026-01-02,320500,\n"
        ),
        None,
    );
    util::write(
        &dir.join("ledger").join("next.csv"),
        &format!(
            "{header}320505199907188027,2026-02,flexible,individual,1022.45,10224.48,2026-02-03,320500,\n{row}"
        ),
    );
    pipe
}

#[test]
fn a_duplicate_across_two_file_parts_is_still_a_reject() {
    let dir = util::temp_dir("partition-dup");
    let pipe = two_files(&dir);
    let as_of = "2026-02";
    let (single, chained) = (dir.join("single"), dir.join("chained"));
    crate::operate::run_pipeline(&pipe, &single, as_of, &[]).expect_ok();
    chain(&pipe, &chained, as_of, 2, 2);
    let rejects = util::read_table(&chained, "rejects", as_of);
    assert_eq!(rejects.column("error_type"), ["DUPLICATE_ROW"]);
    assert_eq!(rejects.column("line"), ["3"]);
    assert!(
        rejects.column("source_file")[0].ends_with("next.csv"),
        "{:?}",
        rejects.column("source_file")
    );
    assert!(
        rejects.column("message")[0].starts_with("exact duplicate of line 2 of ")
            && rejects.column("message")[0].ends_with("ledger.csv"),
        "{:?}",
        rejects.column("message")
    );
    assert_eq!(
        rejects_bytes(&single, as_of),
        rejects_bytes(&chained, as_of)
    );
    assert_eq!(
        crate::operate::sorted_rows(&single, as_of),
        crate::operate::sorted_rows(&chained, as_of)
    );
    let m = util::read_manifest(&chained, as_of);
    assert_eq!(util::total(&m, "rows_read"), 4);
    assert_eq!(util::total(&m, "rows_accepted"), 3);
    assert_eq!(m["inputs"][1]["rows_rejected"], 1);
}

#[test]
fn a_partition_that_does_not_match_is_refused() {
    let dir = util::temp_dir("partition-stale");
    let pipe = two_files(&dir);
    let out = dir.join("out");
    let as_of = "2026-02";
    partition(&pipe, &out, "0", "0/2").expect_code(2);
    partition(&pipe, &out, "5000", "0/2").expect_code(2);
    partition(&pipe, &out, "2", "2/2").expect_code(2);
    partition(&pipe, &out, "2", "0/2").expect_ok();
    // File part 1/2 has not run: the partition is incomplete.
    let r = crate::operate::run_pipeline(&pipe, &out, as_of, &["--shard", "0/2"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("file part 1/2 has not finished"),
        "{}",
        r.stderr
    );
    partition(&pipe, &out, "2", "1/2").expect_ok();
    // Made for 2 shards: a run as shard 1 of 3 stops.
    let r = crate::operate::run_pipeline(&pipe, &out, as_of, &["--shard", "1/3"]);
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("made for 2 shards, this run is --shard 1/3"),
        "{}",
        r.stderr
    );
    // An input file changed after the partition (same size, other bytes).
    let second = dir.join("ledger").join("next.csv");
    let text = fs::read_to_string(&second).expect("read");
    fs::write(&second, text.replace("1022.45", "1022.46")).expect("write");
    let r = crate::operate::run_pipeline(&pipe, &out, as_of, &["--shard", "0/2"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("next.csv") && r.stderr.contains("changed since the partition read it"),
        "{}",
        r.stderr
    );
    // A new file: named.
    util::write(&dir.join("ledger").join("zz-new.csv"), &text);
    let r = crate::operate::run_pipeline(&pipe, &out, as_of, &["--shard", "0/2"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("new: ") && r.stderr.contains("zz-new.csv"),
        "{}",
        r.stderr
    );
    assert!(
        !out.join("_shards").exists(),
        "a refused shard writes nothing"
    );
    // Partitioned again, the shards run.
    fs::remove_file(dir.join("ledger").join("zz-new.csv")).expect("rm");
    partition(&pipe, &out, "2", "0/2").expect_ok();
    partition(&pipe, &out, "2", "1/2").expect_ok();
    crate::operate::run_pipeline(&pipe, &out, as_of, &["--shard", "0/2"]).expect_ok();
}

#[test]
fn a_killed_partition_leaves_no_file_part() {
    let dir = util::temp_dir("partition-killed");
    let pipe = two_files(&dir);
    let out = dir.join("out");
    // What a partition killed before its rename leaves: a staging folder of a dead
    // process. It is not a file part (shards read the inputs) and the next
    // partition removes it.
    let leftover = out.join("_partition").join(".staging-999999999");
    util::write(&leftover.join("bucket-00000.rows"), "x");
    crate::operate::run_pipeline(&pipe, &out, "2026-02", &["--shard", "0/2"]).expect_ok();
    let m: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(out.join("_shards/as_of=2026-02/shard-0-of-2/manifest.json"))
            .expect("manifest"),
    )
    .expect("json");
    assert!(m.get("partition").is_none(), "read the inputs: {m}");
    let ms = &m["stage_timings_ms"];
    assert!(ms.get("partition_check").is_none(), "no partition: {ms}");
    partition(&pipe, &out, "2", "0/1").expect_ok();
    assert!(!leftover.exists());
    let names: Vec<String> = fs::read_dir(out.join("_partition"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["files-0-of-1"]);
}

/// The pinned kubernetes-validate of the test venv, and the Kubernetes version whose
/// schemas it checks against.
const K8S_VERSION: &str = "1.37.0";

#[test]
fn every_manifest_under_deploy_matches_the_kubernetes_schemas() {
    let python = duckdb_env::k8s_python(&util::target_dir()).unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![deploy_dir()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).expect("deploy folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let validate = |paths: &[PathBuf]| {
        Command::new(&python)
            .args(["-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION])
            .args(paths)
            .output()
            .expect("kubernetes-validate")
    };
    let out = validate(&files);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for f in &files {
        let name = f.file_name().expect("name").to_string_lossy();
        assert!(text.contains(&format!("{name} passed")), "{name}: {text}");
    }
    // The check bites: a misspelt field fails it.
    let dir = util::temp_dir("k8s-schema");
    let bad = dir.join("bad.yaml");
    let shards = fs::read_to_string(deploy_dir().join("k8s/ledgerflow-shards.yaml")).expect("read");
    util::write(&bad, &shards.replace("parallelism:", "paralelism:"));
    let out = validate(std::slice::from_ref(&bad));
    assert!(!out.status.success(), "a misspelt field passed");
}

/// `--incremental` shards read their inputs (their cache), not the partition: they
/// say so, record no `partition`, and remove the share an earlier partitioned run
/// of theirs left, so that `merge-manifests` does not see a mix of shards.
#[test]
fn incremental_shards_read_the_inputs_not_the_partition() {
    let dir = util::temp_dir("partition-incremental");
    let pipe = two_files(&dir);
    let as_of = "2026-02";
    let (single, out) = (dir.join("single"), dir.join("out"));
    crate::operate::run_pipeline(&pipe, &single, as_of, &[]).expect_ok();
    partition(&pipe, &out, "2", "0/1").expect_ok();
    crate::operate::run_pipeline(&pipe, &out, as_of, &["--shard", "0/2"]).expect_ok();
    let share = out
        .join("_partition/shards")
        .join(format!("as_of={as_of}"))
        .join("shard-0-of-2.bin");
    assert!(share.is_file(), "the partitioned shard 0 left its share");
    for k in 0..2 {
        let shard = format!("{k}/2");
        // Not --quiet: the notice is said.
        let r = util::ledgerflow(&[
            "run",
            s(&pipe),
            "--as-of",
            as_of,
            "--out",
            s(&out),
            "--shard",
            shard.as_str(),
            "--incremental",
        ]);
        r.expect_ok();
        assert!(
            r.stderr
                .contains("--incremental reads the inputs (its cache), not the partition"),
            "{}",
            r.stderr
        );
        let path = out
            .join("_shards")
            .join(format!("as_of={as_of}"))
            .join(format!("shard-{k}-of-2"))
            .join("manifest.json");
        let m: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("manifest")).expect("json");
        assert!(m.get("partition").is_none(), "shard {k}: {m}");
    }
    assert!(
        !share.exists(),
        "the incremental shard 0 removed its old share"
    );
    util::ledgerflow(&[
        "merge-manifests",
        s(&pipe),
        "--as-of",
        as_of,
        "--shards",
        "2",
        "--out",
        s(&out),
    ])
    .expect_ok();
    assert_eq!(
        crate::operate::sorted_rows(&single, as_of),
        crate::operate::sorted_rows(&out, as_of)
    );
    assert_eq!(rejects_bytes(&single, as_of), rejects_bytes(&out, as_of));
    assert!(util::read_manifest(&out, as_of).get("partition").is_none());
}
