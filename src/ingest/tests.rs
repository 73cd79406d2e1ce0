//! Tests of reading input files.

use super::csv::*;
use super::discover::*;
use super::parquet::*;
use super::*;

/// A fresh, empty temporary folder for one test.
pub(crate) fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("ledgerflow-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A temporary folder, removed with its contents when dropped.
pub(crate) struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WANTED: &[&str] = &["a", "b", "c"];

/// Column `i` as text (a typed Parquet column as the text it is checked as).
fn col(t: &Table, i: usize) -> Vec<String> {
    assert!(t.has_column(i));
    (0..t.height()).map(|r| t.cell_text(i, r)).collect()
}

#[test]
fn decimal_zeros_past_two_places() {
    assert_eq!(trim_decimal_zeros("800.0000"), "800.00");
    assert_eq!(trim_decimal_zeros("0.0050"), "0.005");
    assert_eq!(trim_decimal_zeros("12.3400"), "12.34");
    assert_eq!(trim_decimal_zeros("-5.1000"), "-5.10");
    assert_eq!(trim_decimal_zeros("100"), "100");
}

#[test]
fn wildcard_matching() {
    let m = |p: &str, n: &str| {
        wildcard_match(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    };
    assert!(m("*.csv", "2025-01.csv"));
    assert!(m("2025-??.csv", "2025-01.csv"));
    assert!(!m("2025-?.csv", "2025-01.csv"));
    assert!(m("*", ""));
    assert!(m("a*b*c", "axxbyyc"));
    assert!(!m("a*b*c", "axxbyy"));
    assert!(m("账本*.csv", "账本一月.csv"));
    assert!(!m("*.csv", "x.csv.bak"));
}

/// What keeps the hand-written matcher (docs/decisions.md): a name that is not UTF-8
/// (a GBK file name) is matched, `[` is literal, and a hidden name is matched by a
/// pattern starting with a dot.
#[cfg(unix)]
#[test]
fn patterns_match_gbk_names_literal_brackets_and_dotted_hidden_names() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp_dir("discover-names");
    let gbk = std::ffi::OsStr::from_bytes(b"\xd5\xcb\xb1\xbe.csv"); // 账本.csv in GBK
    for name in [gbk, ".hidden.csv".as_ref(), "ledger[1].csv".as_ref()] {
        std::fs::write(dir.join(name), "x").unwrap();
    }
    assert_eq!(
        discover(&dir.join("*.csv")).unwrap(),
        [dir.join("ledger[1].csv"), dir.join(gbk)]
    );
    assert_eq!(
        discover(&dir.join(".*.csv")).unwrap(),
        [dir.join(".hidden.csv")]
    );
    assert_eq!(
        discover(&dir.join("ledger[1]*")).unwrap(),
        [dir.join("ledger[1].csv")]
    );
}

#[test]
fn discover_folder_file_and_glob() {
    let dir = temp_dir("discover");
    for p in [
        "b/2025-02.csv",
        "a/2025-01.CSV",
        "a/x.parquet",
        "a/notes.txt",
        "a/.hidden.csv",
        "a/y.xlsx",
        "a/~$y.xlsx",
        "b/old.XLS",
        "c.csv",
    ] {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "x").unwrap();
    }
    let rel = |v: Vec<PathBuf>| -> Vec<String> {
        v.iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        rel(discover(&dir).unwrap()),
        [
            "a/2025-01.CSV",
            "a/x.parquet",
            "a/y.xlsx",
            "b/2025-02.csv",
            "b/old.XLS",
            "c.csv"
        ]
    );
    assert_eq!(rel(discover(&dir.join("c.csv")).unwrap()), ["c.csv"]);
    assert_eq!(
        rel(discover(&dir.join("*/2025-*")).unwrap()),
        ["a/2025-01.CSV", "b/2025-02.csv"]
    );
    assert_eq!(
        rel(discover(&dir.join("?")).unwrap()),
        [
            "a/2025-01.CSV",
            "a/x.parquet",
            "a/y.xlsx",
            "b/2025-02.csv",
            "b/old.XLS"
        ]
    );
    assert_eq!(rel(discover(&dir.join("a/*.xlsx")).unwrap()), ["a/y.xlsx"]);
    let e = discover(&dir.join("nope")).unwrap_err().to_string();
    assert!(e.contains("ledger folder or file not found"), "{e}");
    let e = discover(&dir.join("*.parquet")).unwrap_err().to_string();
    assert!(e.contains("no ledger file matches"), "{e}");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    assert!(discover(&dir.join("empty")).is_err());
}

#[test]
fn folder_links_are_walked_once_and_files_read_once() {
    let dir = temp_dir("discover-links");
    let led = dir.join("ledger");
    std::fs::create_dir_all(led.join("sub")).unwrap();
    std::fs::write(led.join("a.csv"), "x").unwrap();
    std::fs::write(led.join("sub/b.csv"), "x").unwrap();
    // Two links to `.` (2^32 paths when followed blindly), one to the parent, one
    // to a file already in the folder.
    std::os::unix::fs::symlink(".", led.join("loop1")).unwrap();
    std::os::unix::fs::symlink(".", led.join("loop2")).unwrap();
    std::os::unix::fs::symlink("..", led.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("a.csv", led.join("same.csv")).unwrap();
    let found = discover(&led).unwrap();
    let rel: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(&led).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(rel, ["a.csv", "sub/b.csv"]);
}

#[test]
fn fifos_are_errors_never_opened() {
    let dir = temp_dir("discover-fifo");
    std::fs::write(dir.join("a.csv"), "x").unwrap();
    let fifo = dir.join("pipe.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let e = discover(&dir).unwrap_err().to_string();
    assert!(
        e.contains("pipe.csv") && e.contains("FIFO") && e.contains("not a regular file"),
        "{e}"
    );
    let e = discover(&fifo).unwrap_err().to_string();
    assert!(e.contains("pipe.csv: is a FIFO"), "{e}");
    let e = discover(&dir.join("p*.csv")).unwrap_err().to_string();
    assert!(e.contains("FIFO"), "{e}");
    // A FIFO without a data extension is not an input: skipped like notes.txt.
    std::fs::remove_file(&fifo).unwrap();
    let other = dir.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&other).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    assert_eq!(discover(&dir).unwrap(), [dir.join("a.csv")]);
}

#[test]
fn csv_lines_quotes_crlf_and_blank_lines() {
    let dir = temp_dir("csv-basic");
    let f = dir.join("t.csv");
    let text =
        "\u{feff} A ,B,c,extra\r\n1,\"x, \"\"y\"\"\",3,e\r\n\r\n2,\"multi\nline\",,e\r\n3,z,9,e";
    std::fs::write(&f, text).unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.header, ["a", "b", "c", "extra"]);
    assert_eq!(t.unknown_columns, ["extra"]);
    assert_eq!(t.lines, [2, 4, 6]);
    assert_eq!(col(&t, 0), ["1", "2", "3"]);
    assert_eq!(col(&t, 1), ["x, \"y\"", "multi\nline", "z"]);
    assert_eq!(col(&t, 2), ["3", "", "9"]);
    assert!(t.parse_errors.is_empty());
    assert_eq!(t.rows_read(), 3);
    assert_eq!(t.bytes, text.len() as u64);
    assert_eq!(t.sha256.len(), 64);
    assert_eq!(t.raw_rows(&[2, 0]), ["3,z,9,e", "1,\"x, \"\"y\"\"\",3,e"]);
    assert_eq!(
        raw_records(&f, Encoding::Utf8, WANTED, &t.sha256, &[4]).unwrap(),
        ["2,\"multi\nline\",,e"]
    );
    std::fs::write(&f, format!("{text}\n4,w,1,e")).unwrap();
    let changed = raw_records(&f, Encoding::Utf8, WANTED, &t.sha256, &[4]).unwrap_err();
    assert!(
        changed.to_string().contains("changed while the run"),
        "{changed}"
    );
    assert!(changed.to_string().contains("t.csv"), "{changed}");
}

#[test]
fn csv_crlf_file_is_parsed_in_place() {
    let dir = temp_dir("csv-crlf");
    let f = dir.join("t.csv");
    std::fs::write(&f, "a,b,c\r\n1,\"2\r\n2\",3\r\n4,5,\"\"\r\n7,8,9").unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.lines, [2, 4, 5]);
    assert_eq!(col(&t, 1), ["2\r\n2", "5", "8"]);
    assert_eq!(col(&t, 2), ["3", "", "9"]);
    assert_eq!(t.raw_rows(&[1, 2]), ["4,5,\"\"", "7,8,9"]);
}

#[test]
fn cr_only_line_ends_are_lines() {
    let dir = temp_dir("csv-cr");
    let f = dir.join("t.csv");
    // Old Mac export: `\r` only, a quoted field with a line break, a blank line,
    // then a `\r\n` and a `\n` line (counted once each).
    let text = "a,b,c\r1,\"x\ry\",3\r\r4,5,6\r\n7,8,9\n10,11,12\r";
    std::fs::write(&f, text).unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.header, ["a", "b", "c"]);
    assert_eq!(t.lines, [2, 5, 6, 7]);
    assert_eq!(col(&t, 0), ["1", "4", "7", "10"]);
    assert_eq!(col(&t, 1), ["x\ny", "5", "8", "11"]);
    assert_eq!(col(&t, 2), ["3", "6", "9", "12"]);
    assert_eq!(t.raw_rows(&[1, 3]), ["4,5,6", "10,11,12"]);
    assert!(t.parse_errors.is_empty());
    // GBK with `\r` line ends and a bad byte on line 3: only that line is lost.
    let (gbk, _, _) = encoding_rs::GBK.encode("a,b,c\r张,2,3\r李,5,6\r王,8,9");
    let mut bytes = gbk.into_owned();
    let at = bytes.iter().rposition(|&c| c == b'\r').unwrap();
    bytes.splice(at - 4..at - 4, [0x81, 0x20]);
    std::fs::write(&f, &bytes).unwrap();
    let t = read_table(&f, Encoding::Gbk, WANTED).unwrap();
    assert_eq!(t.lines, [2, 4]);
    assert_eq!(col(&t, 0), ["张", "王"]);
    assert_eq!(t.parse_errors.len(), 1);
    assert_eq!(t.parse_errors[0].line, 3);
}

#[test]
fn csv_ragged_and_unterminated_rows_are_parse_errors() {
    let dir = temp_dir("csv-ragged");
    let f = dir.join("t.csv");
    let text = "a,b,c\n1,2,3\n4,5\n\"6\"7,8,9\n9,10,11\nx\"y,1,2\n12,13,\"14\n15,16,17";
    std::fs::write(&f, text).unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.lines, [2, 5, 8]);
    assert_eq!(col(&t, 0), ["1", "9", "15"]);
    let errs: Vec<(u32, &str)> = t
        .parse_errors
        .iter()
        .map(|e| (e.line, e.raw.as_str()))
        .collect();
    assert_eq!(
        errs,
        [
            (3, "4,5"),
            (4, "\"6\"7,8,9"),
            (6, "x\"y,1,2"),
            (7, "12,13,\"14")
        ]
    );
    assert!(
        t.parse_errors[0].message.contains("2 fields"),
        "{}",
        t.parse_errors[0].message
    );
    assert!(t.parse_errors[1].message.contains("quote"));
    assert!(t.parse_errors[3].message.contains("unterminated"));
    assert_eq!(t.rows_read(), 7);
    // The buffer handed to polars was a copy; the raw text still comes from the file.
    assert_eq!(t.raw_rows(&[1]), ["9,10,11"]);
}

/// Random small files over the bytes that matter: the pre-scan and polars must
/// agree on every record the pre-scan accepts, and nothing panics.
#[test]
fn prescan_agrees_with_polars_on_random_text() {
    let dir = temp_dir("csv-random");
    let f = dir.join("t.csv");
    let alphabet = b",\"\n\r a\xff";
    let mut seed: u64 = 0x1234_5678;
    for _ in 0..1500 {
        let mut text = b"a,b,c\n".to_vec();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (seed >> 58) as usize * 2;
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push(alphabet[(seed >> 59) as usize % alphabet.len()]);
        }
        std::fs::write(&f, &text).unwrap();
        let t = read_table(&f, Encoding::Utf8, WANTED)
            .unwrap_or_else(|e| panic!("{e} for {:?}", String::from_utf8_lossy(&text)));
        // Every value polars returns is the field the pre-scan saw.
        for r in 0..t.height() {
            let raw = &t.raw_rows(&[r])[0];
            let fields = split_record(raw.as_bytes());
            for (i, field) in fields.iter().enumerate() {
                let v = t.column(i).and_then(|a| a.get(r)).unwrap_or("");
                // polars drops a '\r' ending an unquoted field; values are trimmed.
                let (v, field) = (v.trim(), field.trim());
                assert_eq!(v, field, "row {r} of {:?}", String::from_utf8_lossy(&text));
            }
        }
    }
}

#[test]
fn a_bad_quote_costs_only_its_own_line() {
    let dir = temp_dir("csv-resync");
    let f = dir.join("t.csv");
    let text = "a,b,c\n\"open,1,2\n3,4,5\n\"x\",6,7\n8,\"9\n9\",10\n1,2\n\"3\n4,5,6\n";
    std::fs::write(&f, text).unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.lines, [3, 4, 5, 9]);
    assert_eq!(col(&t, 1), ["4", "6", "9\n9", "5"]);
    let errs: Vec<(u32, &str)> = t
        .parse_errors
        .iter()
        .map(|e| (e.line, e.raw.as_str()))
        .collect();
    assert_eq!(errs, [(2, "\"open,1,2"), (7, "1,2"), (8, "\"3")]);
}

#[test]
fn invalid_utf8_rejects_only_its_row() {
    let dir = temp_dir("csv-utf8");
    let f = dir.join("t.csv");
    std::fs::write(&f, b"a,b,c\n1,\xff\xfe,3\n4,5,6\n").unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.lines, [3]);
    assert_eq!(t.parse_errors.len(), 1);
    assert_eq!(t.parse_errors[0].line, 2);
    assert!(t.parse_errors[0].message.contains("UTF-8"));
}

#[test]
fn gbk_file_with_chinese_header_and_values() {
    let dir = temp_dir("csv-gbk");
    let f = dir.join("t.csv");
    let text = "a,备注,b,c\n1,张三,2,3\n4,李四,5,6\n";
    let (bytes, _, errors) = encoding_rs::GBK.encode(text);
    assert!(!errors);
    let mut bytes = bytes.into_owned();
    std::fs::write(&f, &bytes).unwrap();
    let t = read_table(&f, Encoding::Gbk, WANTED).unwrap();
    assert_eq!(t.unknown_columns, ["备注"]);
    assert_eq!(col(&t, 1), ["2", "5"]);
    assert_eq!(t.raw_rows(&[1]), ["4,李四,5,6"]);
    // An undecodable byte spoils only its own line.
    bytes.splice(bytes.len() - 7..bytes.len() - 7, [0x81, 0x20]);
    std::fs::write(&f, &bytes).unwrap();
    let t = read_table(&f, Encoding::Gb18030, WANTED).unwrap();
    assert_eq!(t.lines, [2]);
    assert_eq!(t.parse_errors.len(), 1);
    assert_eq!(t.parse_errors[0].line, 3);
}

#[test]
fn missing_columns_header_only_and_duplicates() {
    let dir = temp_dir("csv-missing");
    let f = dir.join("t.csv");
    std::fs::write(&f, "a,x\n1,2\n").unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert!(t.columns[1].is_none() && t.columns[2].is_none());
    assert_eq!(col(&t, 0), ["1"]);
    std::fs::write(&f, "x,y\n1,2\n").unwrap();
    let t = read_table(&f, Encoding::Utf8, WANTED).unwrap();
    assert_eq!(t.height(), 1);
    assert!(t.columns.iter().all(|c| c.is_none()));
    std::fs::write(&f, "a,b,c\n").unwrap();
    assert_eq!(read_table(&f, Encoding::Utf8, WANTED).unwrap().height(), 0);
    std::fs::write(&f, "").unwrap();
    assert_eq!(read_table(&f, Encoding::Utf8, WANTED).unwrap().height(), 0);
    std::fs::write(&f, "a,b,A\n1,2,3\n").unwrap();
    assert!(read_table(&f, Encoding::Utf8, WANTED).is_err());
}

/// Written by DuckDB: the ledger columns as text plus `meta STRUCT(a, b)` and
/// `tags INTEGER[]`, types this build of polars cannot turn into series.
const STRUCT_PARQUET: &[u8] = include_bytes!("../../tests/data/struct_column.parquet");

#[test]
fn parquet_unknown_struct_and_list_columns_are_not_read() {
    let dir = temp_dir("parquet-struct");
    let f = dir.join("t.parquet");
    std::fs::write(&f, STRUCT_PARQUET).unwrap();
    let wanted = crate::ledger::LEDGER_COLUMNS;
    let t = read_table(&f, Encoding::Utf8, &wanted).unwrap();
    assert_eq!(t.lines, [1, 2]);
    assert_eq!(t.unknown_columns, ["meta", "tags"]);
    assert_eq!(col(&t, 1), ["2025-01", "2025-02"]);
    assert_eq!(col(&t, 7), ["110100", "110100"]);
    assert!(t.column(8).is_none());
    assert_eq!(
        t.raw_rows(&[1]),
        ["110101199003071234,2025-02,employee,employer,800.00,8000.00,2025-02-15,110100"]
    );
    assert_eq!(
        raw_records(&f, Encoding::Utf8, &wanted, &t.sha256, &[2]).unwrap(),
        t.raw_rows(&[1])
    );
    // Only unknown columns: every row is read, with no column.
    let t = read_table(&f, Encoding::Utf8, &["nothing"]).unwrap();
    assert_eq!(t.rows_read(), 2);
    assert!(t.column(0).is_none());
}

#[test]
fn parquet_typed_columns_keep_their_types_and_text() {
    let dir = temp_dir("parquet");
    let f = dir.join("t.parquet");
    let days = Int32Chunked::from_vec("c".into(), vec![20108, 20109])
        .into_date()
        .into_column();
    let mut df = DataFrame::new(
        2,
        vec![
            Column::new("A".into(), vec![202501i64, 7]),
            Column::new("b".into(), vec![800.0f64, 12.5]),
            days,
            Int128Chunked::from_vec("d".into(), vec![80000, 5])
                .into_decimal(18, 2)
                .unwrap()
                .into_column(),
            Int128Chunked::from_vec("e".into(), vec![8_000_000, 50])
                .into_decimal(18, 4)
                .unwrap()
                .into_column(),
        ],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&f).unwrap())
        .finish(&mut df)
        .unwrap();
    let t = read_table(&f, Encoding::Utf8, &["a", "b", "c", "d", "e"]).unwrap();
    assert_eq!(t.format, Format::Parquet);
    assert_eq!(t.lines, [1, 2]);
    // Kept in their stored types, one chunk each.
    assert!(matches!(t.cells(0), Some(Cells::Int(a)) if a.len() == 2));
    assert!(matches!(t.cells(1), Some(Cells::Float(_))));
    assert!(matches!(t.cells(2), Some(Cells::Days(_))));
    assert!(matches!(t.cells(3), Some(Cells::Decimal(_, 2))));
    assert!(matches!(t.cells(4), Some(Cells::Decimal(_, 4))));
    assert_eq!(t.cells(2).map(|c| c.get(1)), Some(Cell::Days(20109)));
    assert_eq!(t.cells(3).map(|c| c.get(1)), Some(Cell::Decimal(5, 2)));
    assert_eq!(t.cells(3).map(|c| c.get(2)), Some(Cell::Null));
    assert_eq!(col(&t, 0), ["202501", "7"]);
    assert_eq!(col(&t, 1), ["800.0", "12.5"]);
    assert_eq!(col(&t, 2), ["2025-01-20", "2025-01-21"]);
    assert_eq!(col(&t, 3), ["800.00", "0.05"]);
    assert_eq!(col(&t, 4), ["800.00", "0.005"]);
    assert_eq!(t.raw_rows(&[1]), ["7,12.5,2025-01-21,0.05,0.005"]);
    let mut t = t;
    t.typed_to_text(3).unwrap();
    assert!(matches!(t.cells(3), Some(Cells::Text(_))));
    assert_eq!(col(&t, 3), ["800.00", "0.05"]);
    std::fs::write(&f, b"PAR1 not really PAR1").unwrap();
    assert!(read_table(&f, Encoding::Utf8, &["a"]).is_err());
}
