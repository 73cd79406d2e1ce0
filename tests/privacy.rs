//! The ledger cache's tie to the file it was made from.

use crate::util;
use std::fs;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
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
