//! Fuzz-style test of the input path: thousands of randomly mutated CSV and Parquet
//! ledgers go through `validate::read_inputs` (the library, no process per case), a
//! handful through the binary. Seeded, so a failure names a case that can be rerun.
//!
//! Asserted for every case: no panic; an error names the file; otherwise, per file,
//! `rows_read = rows_accepted + rows_rejected`, the rejects of a file add up to its
//! `rows_rejected`, and every reject has the file, a line >= 1 and a contract type.

use crate::util;
use ledgerflow::domain::Encoding;
use ledgerflow::validate::read_inputs;
use polars::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

const CSV_CASES: usize = 3000;
const PARQUET_CASES: usize = 600;

const TYPES: [&str; 10] = [
    "BAD_PERSON_ID",
    "BAD_PERIOD",
    "BAD_DATE",
    "BAD_AMOUNT",
    "BAD_ENUM",
    "MISSING_VALUE",
    "DUPLICATE_ROW",
    "BAD_REGION",
    "BAD_RESIDENT_PERIOD",
    "PARSE_ERROR",
];

const BASE: &str = "\
person_id,period,scheme,payer,amount,base,paid_on,region,employer_id,txn_id
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200,E1,t1
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200,E1,t2
370202198503120113,2025-03,employee,employer,800.00,8000.00,,370200,E1,
370202197505050628,2025-01,resident,individual,400.00,,2024-12-01,370200,,
370202197505050628,2025-01,resident,government,\"380.00\",,2024-12-02,370200,,
11010119900307123X,2025-02,flexible,individual,1000.5,10000,2025-02-28,110100,,\"x,y\"
";

/// Values that stress the field checks.
const ODD: &[&str] = &[
    "999999999999999999999.99",
    "1234567890123456.00",
    "99999999.99",
    "100000000.00",
    "-0.01",
    "0",
    "1e9",
    "2025-02-30",
    "0000-00",
    "0001-01",
    "2206-06",
    "9999-12-31",
    "1899-12-31",
    "2025-1",
    "２０２５-01",
    "",
    " ",
    "\"",
    "\"\"",
    "NaN",
    "37020219850312011x",
    "370202209901010018",
];

/// splitmix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// One random mutation of CSV bytes.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    let at = rng.below(b.len() + 1);
    match rng.below(12) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 => b.truncate(at),
        2 => b.insert(at, *rng.pick(b"\",\r\n\0")),
        3 => {
            // A field replaced by an odd value.
            let text = String::from_utf8_lossy(b).into_owned();
            let mut fields: Vec<&str> = text.split(',').collect();
            if !fields.is_empty() {
                let i = rng.below(fields.len());
                fields[i] = *rng.pick(ODD);
            }
            *b = fields.join(",").into_bytes();
        }
        4 => {
            let mut v = b"\xEF\xBB\xBF".to_vec();
            v.extend_from_slice(b);
            *b = v;
        }
        5 => {
            let bad: &[&[u8]] = &[b"\xff\xfe", b"\xc3", b"\xe4\xb8"];
            let bytes = *rng.pick(bad);
            b.splice(at..at, bytes.iter().copied()).for_each(drop);
        }
        6 => {
            // The header loses a column name, or names one twice.
            let text = String::from_utf8_lossy(b).into_owned();
            let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let mut names: Vec<&str> = head.split(',').collect();
            let i = rng.below(names.len());
            if rng.below(2) == 0 {
                names.remove(i);
            } else {
                let j = rng.below(names.len());
                names[i] = names[j];
            }
            *b = format!("{}\n{rest}", names.join(",")).into_bytes();
        }
        7 => {
            // A line repeated (exact duplicates) or dropped.
            let text = String::from_utf8_lossy(b).into_owned();
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = rng.below(lines.len());
            if rng.below(2) == 0 {
                lines.insert(i, lines[i]);
            } else {
                lines.remove(i);
            }
            *b = lines.join("\n").into_bytes();
        }
        8 => *b = String::from_utf8_lossy(b).replace('\n', "\r").into_bytes(),
        9 => {
            *b = String::from_utf8_lossy(b)
                .replace('\n', "\r\n")
                .into_bytes()
        }
        10 => b.splice(at..at, b"\"\n".iter().copied()).for_each(drop),
        _ => b.extend_from_slice(b"\n\n  \n"),
    }
}

/// The checks of the module docs for one read of `dir`.
fn check(dir: &Path, case: &str) {
    let got = catch_unwind(AssertUnwindSafe(|| {
        read_inputs(dir, None, None, Encoding::Utf8)
    }));
    let inputs = match got {
        Err(_) => panic!("{case}: read_inputs panicked"),
        Ok(Err(e)) => {
            let e = e.to_string();
            assert!(
                e.contains(&*dir.to_string_lossy()),
                "{case}: error names no file: {e}"
            );
            return;
        }
        Ok(Ok(i)) => i,
    };
    let mut accepted = 0;
    for f in &inputs.files {
        assert_eq!(
            f.rows_read,
            f.rows_accepted + f.rows_rejected,
            "{case}: counts of {}",
            f.path
        );
        let n = inputs
            .rejects
            .iter()
            .filter(|r| r.source_file == f.path)
            .count() as u64;
        assert_eq!(n, f.rows_rejected, "{case}: rejects of {}", f.path);
        accepted += f.rows_accepted;
    }
    assert_eq!(
        accepted,
        inputs.ledger.len() as u64,
        "{case}: accepted rows"
    );
    for r in &inputs.rejects {
        assert!(
            inputs.files.iter().any(|f| f.path == r.source_file),
            "{case}: reject names no input file: {r:?}"
        );
        assert!(r.line >= 1, "{case}: reject without a line: {r:?}");
        assert!(TYPES.contains(&r.error_type.as_str()), "{case}: {r:?}");
        assert!(
            !r.message.is_empty(),
            "{case}: reject without a message: {r:?}"
        );
    }
}

#[test]
fn mutated_csv_ledgers_never_panic_and_always_add_up() {
    let dir = util::temp_dir("fuzz-csv");
    let mut rng = Rng(0x1ed9_e2f1_0000_0001);
    let start = std::time::Instant::now();
    for case in 0..CSV_CASES {
        let mut a = BASE.as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut a);
        }
        std::fs::write(dir.join("a.csv"), &a).unwrap();
        // A second file: the original (duplicates across files) or mutated too.
        let mut b = BASE.as_bytes().to_vec();
        if rng.below(2) == 0 {
            mutate(&mut rng, &mut b);
        }
        std::fs::write(dir.join("b.csv"), &b).unwrap();
        check(
            &dir,
            &format!("CSV case {case} ({:?})", String::from_utf8_lossy(&a)),
        );
    }
    // A guard against a hang (a re-scan gone quadratic), not a speed measurement: the
    // loaded CI machine has taken 113 s for what takes 8 s alone.
    assert!(
        start.elapsed().as_secs() < 900,
        "took {:?}",
        start.elapsed()
    );
}

/// A Parquet ledger of random values: text, numbers, dates and decimals.
fn random_frame(rng: &mut Rng) -> DataFrame {
    let n = rng.below(8);
    // The first eight ledger columns and one unknown column.
    let mut names = ledgerflow::ledger::LEDGER_COLUMNS[..8].to_vec();
    names.push("extra");
    let good: [&[&str]; 9] = [
        &[
            "370202198503120113",
            "11010119900307123X",
            "370202197505050628",
        ],
        &["2025-01", "2025-02", "2024-01"],
        &["employee", "flexible", "resident"],
        &["employer", "individual", "government"],
        &["800.00", "400.00", "0.01"],
        &["8000.00", "", "10000"],
        &["2025-01-20", "", "2025-02-28"],
        &["370200", "110100", "44010"],
        &["x", "", "y"],
    ];
    let mut cols = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if rng.below(12) == 0 {
            continue; // a column missing
        }
        let col = match (i, rng.below(6)) {
            (1, 0) => Column::new((*name).into(), vec![202501i64; n]),
            (4 | 5, 0) => Column::new((*name).into(), vec![800.5f64; n]),
            (4 | 5, 1) => Int128Chunked::from_vec((*name).into(), vec![99_999_999_999_999_999; n])
                .into_decimal(18, 2)
                .unwrap()
                .into_column(),
            (1 | 6, 1) => Int32Chunked::from_vec((*name).into(), vec![20_108 - 800_000; n])
                .into_date()
                .into_column(),
            (6, 2) => Int32Chunked::from_vec((*name).into(), vec![20_108; n])
                .into_date()
                .into_column(),
            _ => {
                let v: Vec<Option<String>> = (0..n)
                    .map(|_| match rng.below(10) {
                        0 => None,
                        1 => Some(rng.pick(ODD).to_string()),
                        _ => Some(rng.pick(good[i]).to_string()),
                    })
                    .collect();
                Column::new((*name).into(), v)
            }
        };
        cols.push(col);
    }
    DataFrame::new(n, cols).unwrap()
}

#[test]
fn random_and_corrupt_parquet_ledgers_never_panic_and_always_add_up() {
    let dir = util::temp_dir("fuzz-parquet");
    let mut rng = Rng(0x1ed9_e2f1_0000_0002);
    let start = std::time::Instant::now();
    for case in 0..PARQUET_CASES {
        let mut df = random_frame(&mut rng);
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes).finish(&mut df).unwrap();
        // Every third file is corrupted: bytes flipped or cut.
        if case % 3 == 2 && !bytes.is_empty() {
            if rng.below(2) == 0 {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
            } else {
                bytes.truncate(rng.below(bytes.len()));
            }
        }
        std::fs::write(dir.join("a.parquet"), &bytes).unwrap();
        check(&dir, &format!("Parquet case {case} ({df:?})"));
    }
    // A guard against a hang (a re-scan gone quadratic), not a speed measurement: the
    // loaded CI machine has taken 113 s for what takes 8 s alone.
    assert!(
        start.elapsed().as_secs() < 900,
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_handful_of_mutated_ledgers_through_the_binary() {
    let mut rng = Rng(0x1ed9_e2f1_0000_0003);
    for case in 0..6 {
        let dir = util::temp_dir("fuzz-bin");
        let mut a = BASE.as_bytes().to_vec();
        for _ in 0..2 {
            mutate(&mut rng, &mut a);
        }
        let pipe = util::write_pipeline(&dir, &String::from_utf8_lossy(&a), None);
        // Raw bytes, not the lossy text the helper wrote.
        std::fs::write(dir.join("ledger/ledger.csv"), &a).unwrap();
        let r = util::ledgerflow(&[
            "run",
            pipe.to_str().unwrap(),
            "--quiet",
            "--as-of",
            "2025-06",
        ]);
        assert!(
            r.code == 0 || r.code == 1 || r.code == 3,
            "case {case}: exit {} ({:?})\n{}",
            r.code,
            String::from_utf8_lossy(&a),
            r.stderr
        );
        if r.code == 1 {
            assert!(r.stderr.contains("ledger"), "case {case}: {}", r.stderr);
        } else {
            let m = util::read_manifest(&dir.join("out"), "2025-06");
            assert_eq!(
                util::total(&m, "rows_read"),
                util::total(&m, "rows_accepted") + util::total(&m, "rows_rejected"),
                "case {case}"
            );
        }
    }
}
