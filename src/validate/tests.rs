//! Tests of checking rows.

use super::columns::*;
use super::dedup::*;
use super::schema::*;
use super::*;
use crate::domain::{Date, Fen, Month, Payer, Scheme, SpecialGroup};
use crate::id::PersonId;
use crate::ingest::tests::temp_dir;
use polars::prelude::*;

const HEADER: &str = "person_id,period,scheme,payer,amount,base,paid_on,region";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// `line,column,error_type` per reject, as the scenario files list them.
fn reject_table(inputs: &Inputs) -> Vec<String> {
    inputs
        .rejects
        .iter()
        .map(|r| {
            format!(
                "{},{},{}",
                r.line,
                r.column.as_deref().unwrap_or(""),
                r.error_type
            )
        })
        .collect()
}

fn read_ledger(path: &Path) -> Inputs {
    read_inputs(path, None, None, Encoding::Utf8).unwrap()
}

#[test]
fn implausible_periods_dates_births_and_amounts_are_rejected() {
    let dir = temp_dir("v-plausible");
    let p = "370202198503120113";
    let unborn = crate::id::compose(370202, Date::from_ymd(2099, 1, 1), 11);
    let ledger = format!(
        "{HEADER}
{p},2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
{p},2206-06,employee,employer,800.00,8000.00,,370200
{p},0001-01,employee,employer,800.00,8000.00,2025-01-20,370200
{unborn},2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
{p},2025-02,employee,employer,999999999999999.99,8000.00,2025-02-20,370200
{p},2025-02,employee,employer,800.00,1234567890123456.00,2025-02-20,370200
{p},2025-03,employee,employer,800.00,8000.00,2206-03-01,370200
{p},2026-12,employee,employer,800.00,8000.00,,370200
{p},2025-04,employee,employer,800.00,8000.00,1989-12-31,370200
{p},2025-02,employee,employer,99999999.99,99999999.99,2025-02-21,370200
{p},2025-02,employee,employer,100000000.00,8000.00,2025-02-22,370200
"
    );
    write(&dir, "ledger/a.csv", &ledger);
    let inputs = read_ledger(&dir.join("ledger"));
    assert_eq!(
        reject_table(&inputs),
        [
            "3,period,BAD_PERIOD",
            "4,period,BAD_PERIOD",
            "5,person_id,BAD_PERSON_ID",
            "6,amount,BAD_AMOUNT",
            "7,base,BAD_AMOUNT",
            "8,paid_on,BAD_DATE",
            "10,paid_on,BAD_DATE",
            "12,amount,BAD_AMOUNT",
        ]
    );
    let m: Vec<&str> = inputs.rejects.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        m[0],
        "period 2206-06 is outside the plausible range: more than 24 months (max_months_ahead) after 2025-02, the latest paid_on month of a row paid within 24 months of its period"
    );
    assert_eq!(
        m[1],
        "period 0001-01 is outside the plausible range: before min_period 1990-01"
    );
    assert_eq!(
        m[2],
        "the birth date in person_id, 2099-01-01, is after paid_on 2025-02-20"
    );
    assert_eq!(
        m[3],
        "amount 999999999999999.99 is above the ceiling max_amount 99999999.99"
    );
    assert_eq!(
        m[4],
        "base \"1234567890123456.00\" has 16 integer digits: too many digits, above the ceiling max_amount of the rule file"
    );
    assert!(
        m[5].starts_with("paid_on 2206-03-01 is outside the plausible range"),
        "{}",
        m[5]
    );
    assert_eq!(
        m[6],
        "paid_on 1989-12-31 is outside the plausible range: before min_period 1990-01"
    );
    assert_eq!(
        inputs.rejects[0].raw,
        format!("{p},2206-06,employee,employer,800.00,8000.00,,370200")
    );
    // The default as_of comes from the plausible rows only.
    assert_eq!(
        inputs
            .ledger
            .period
            .iter()
            .max()
            .map(|m| m.to_string())
            .as_deref(),
        Some("2026-12")
    );
    let f = &inputs.files[0];
    assert_eq!((f.rows_read, f.rows_accepted, f.rows_rejected), (11, 3, 8));
    // With payments in the ledger a given --as-of changes nothing, except that a
    // month up to it is never ahead; a ledger of declarations only counts from the
    // given --as-of (and has no bound without).
    let read_as_of = |as_of: Option<&str>| {
        read_inputs_cached(
            &dir.join("ledger"),
            None,
            None,
            Encoding::Utf8,
            None,
            None,
            &Plausibility::default().with_as_of(as_of.and_then(Month::parse)),
        )
        .unwrap()
    };
    assert_eq!(
        reject_table(&read_as_of(Some("2025-06"))),
        reject_table(&inputs)
    );
    assert!(!reject_table(&read_as_of(Some("2206-06"))).contains(&"3,period,BAD_PERIOD".into()));
    write(
        &dir,
        "ledger/a.csv",
        &format!(
            "{HEADER}\n{p},2025-01,employee,employer,800.00,8000.00,,370200\n{p},2206-06,employee,employer,800.00,8000.00,,370200\n"
        ),
    );
    assert!(reject_table(&read_as_of(None)).is_empty());
    let declared = read_as_of(Some("2025-06"));
    assert_eq!(reject_table(&declared), ["3,period,BAD_PERIOD"]);
    assert!(
        declared.rejects[0]
            .message
            .ends_with("after 2025-06, the --as-of month"),
        "{}",
        declared.rejects[0].message
    );
}

#[test]
fn a_lone_line_that_is_not_a_header_is_an_error() {
    let dir = temp_dir("v-lone-line");
    let p = write(
        &dir,
        "a.csv",
        "370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200",
    );
    let e = read_inputs(&p, None, None, Encoding::Utf8)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a.csv: line 1 names none of the ledger columns") && e.contains("not a header"),
        "{e}"
    );
    // A header alone (an empty month) and an empty file stay 0 rows, no error.
    write(&dir, "a.csv", HEADER);
    assert_eq!(read_ledger(&p).files[0].rows_read, 0);
    write(&dir, "a.csv", "");
    assert_eq!(read_ledger(&p).files[0].rows_read, 0);
}

#[test]
fn scenario_09_rejects() {
    let dir = temp_dir("v-scenario09");
    let ledger = format!(
        "{HEADER}
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120114,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-13,employee,employer,800.00,8000.00,2025-01-20,370200
370202198503120113,2025-02,employee,employer,-5.00,8000.00,2025-02-20,370200
370202198503120113,2025-02,worker,employer,800.00,8000.00,2025-02-20,370200
370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200
370202197505050628,2025-03,resident,individual,400.00,,2025-03-01,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-30,370200
370202198503120113,2025-02,employee,employer,800.00,8000.00,2025-02-20,37020
37020219850312011x,2025-02,employee,employer,800.00,8000.00,2025-02-20,370200
"
    );
    let path = write(&dir, "ledger/2025-01.csv", &ledger);
    let inputs = read_ledger(&dir.join("ledger"));
    assert_eq!(
        reject_table(&inputs),
        [
            "3,person_id,BAD_PERSON_ID",
            "4,period,BAD_PERIOD",
            "5,amount,BAD_AMOUNT",
            "6,scheme,BAD_ENUM",
            "7,,DUPLICATE_ROW",
            "8,period,BAD_RESIDENT_PERIOD",
            "9,paid_on,BAD_DATE",
            "10,region,BAD_REGION",
            "11,person_id,BAD_PERSON_ID",
        ]
    );
    let f = &inputs.files[0];
    assert_eq!((f.rows_read, f.rows_accepted, f.rows_rejected), (10, 1, 9));
    assert_eq!(f.kind, InputKind::Ledger);
    assert_eq!(f.path, path.display().to_string());
    assert_eq!(f.bytes, ledger.len() as u64);
    assert!(f.unknown_columns.is_empty());

    let l = &inputs.ledger;
    assert_eq!(l.len(), 1);
    assert_eq!(l.person[0].to_string(), "370202198503120113");
    assert_eq!(l.period[0].to_string(), "2025-01");
    assert_eq!(
        (l.scheme[0], l.payer[0]),
        (Scheme::Employee, Payer::Employer)
    );
    assert_eq!((l.amount[0], l.base[0]), (Fen(80_000), Some(Fen(800_000))));
    assert_eq!(
        l.paid_on[0].map(|d| d.to_string()).as_deref(),
        Some("2025-01-20")
    );
    assert_eq!((l.region[0], l.file[0], l.line[0]), (370200, 0, 2));

    let r = &inputs.rejects;
    assert_eq!(r[0].source_file, path.display().to_string());
    assert_eq!(
        r[0].raw,
        "370202198503120114,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200"
    );
    assert!(r[0].message.contains("check character"), "{}", r[0].message);
    assert_eq!(
        r[1].message,
        "period \"2025-13\" is not a valid YYYY-MM month"
    );
    assert_eq!(r[4].message, "exact duplicate of line 2");
    assert_eq!(
        r[4].raw,
        "370202198503120113,2025-01,employee,employer,800.00,8000.00,2025-01-20,370200"
    );
    assert_eq!(r[4].column, None);
    assert_eq!(
        r[6].message,
        "paid_on \"2025-02-30\" is not a valid YYYY-MM-DD date"
    );
}

#[test]
fn missing_value_comes_first_then_column_order() {
    let dir = temp_dir("v-order");
    write(
        &dir,
        "l.csv",
        &format!(
            "{HEADER}
123,2025-01,employee,employer,,8000,2025-01-20,370200
370202198503120113,2025-13,employee,employer,800,,2025-01-20,370200
370202198503120113,2025-01,worker,employer,800,,2025-01-20,370200
370202198503120113,2025-13,employee,boss,800,8000,2025-01-20,370200
370202198503120113,2025-01,resident,boss,800,,2025-01-20,370200
370202198503120113,2025-01,resident,individual,800,-1,2025-01-20,370200
370202198503120113,2025-01,flexible,individual,800,8000.001,,370200
370202198503120113,2025-01,employee,employer,0,8000,,37020a
, , , , , , ,
370202198503120113,2025-01,employee,employer,800,8000,,370200
"
        ),
    );
    let inputs = read_ledger(&dir.join("l.csv"));
    assert_eq!(
        reject_table(&inputs),
        [
            "2,amount,MISSING_VALUE",
            "3,base,MISSING_VALUE",
            "4,scheme,BAD_ENUM",
            "5,period,BAD_PERIOD",
            "6,payer,BAD_ENUM",
            "7,base,BAD_AMOUNT",
            "8,base,BAD_AMOUNT",
            "9,amount,BAD_AMOUNT",
            "10,person_id,MISSING_VALUE",
        ]
    );
    assert_eq!(inputs.rejects[0].message, "amount is empty");
    assert!(
        inputs.rejects[1]
            .message
            .contains("required for scheme \"employee\"")
    );
    // The last row is a declaration (paid_on empty).
    assert_eq!(inputs.ledger.len(), 1);
    assert_eq!(inputs.ledger.paid_on[0], None);
    assert_eq!(inputs.ledger.line[0], 11);
}

#[test]
fn missing_required_column_rejects_every_row() {
    let dir = temp_dir("v-missing-col");
    write(
        &dir,
        "a.csv",
        "person_id,period,scheme,payer,amount,base,paid_on\n\
             370202198503120113,2025-01,employee,employer,800,8000,2025-01-20\n\
             370202198503120113,2025-02,employee,employer,800,8000,2025-02-20\n",
    );
    // Resident rows need no base column.
    write(
        &dir,
        "b.csv",
        "person_id,period,scheme,payer,amount,paid_on,region\n\
             370202197505050628,2025-01,resident,individual,400,2025-01-05,370200\n\
             370202198503120113,2025-01,employee,employer,800,2025-01-20,370200\n",
    );
    let inputs = read_ledger(&dir);
    assert_eq!(
        reject_table(&inputs),
        [
            "2,region,MISSING_VALUE",
            "3,region,MISSING_VALUE",
            "3,base,MISSING_VALUE"
        ]
    );
    assert_eq!(
        inputs.rejects[0].message,
        "column region is missing from the file"
    );
    assert_eq!(
        inputs.rejects[0].raw,
        "370202198503120113,2025-01,employee,employer,800,8000,2025-01-20"
    );
    assert_eq!(inputs.ledger.len(), 1);
    assert_eq!(inputs.ledger.scheme[0], Scheme::Resident);
    assert_eq!(inputs.ledger.base[0], None);
    assert_eq!(
        (inputs.files[1].rows_accepted, inputs.files[1].rows_rejected),
        (1, 1)
    );
}

#[test]
fn duplicates_with_and_without_txn_id() {
    let dir = temp_dir("v-dups");
    let row = "2025-01,employee,employer,800.00,8000.00,2025-01-20,370200";
    write(
        &dir,
        "l/a.csv",
        &format!(
            "{HEADER},txn_id,employer_id
370202198503120113,{row},T1,E1
370202198503120113,{row},T2,E1
370202198503120113,{row},T1,E1
370202198503120113,{row},T1,E2
"
        ),
    );
    // No txn_id column: numbers and IDs compare after normalising.
    let b = write(
        &dir,
        "l/b.csv",
        &format!(
            "{HEADER}
11010519491231002x,2025-01,employee,employer,800,8000,2025-01-20,370200
11010519491231002X,2025-01,employee,employer,800.00,8000.0,2025-01-20,370200
11010519491231002X,2025-01,employee,employer,800.00,8000.0,,370200
"
        ),
    );
    write(
        &dir,
        "l/c.csv",
        &format!(
            "{HEADER}\n 11010519491231002X ,2025-01,employee,employer,800.0,8000,2025-01-20,370200\n"
        ),
    );
    let inputs = read_ledger(&dir.join("l"));
    assert_eq!(
        reject_table(&inputs),
        ["4,,DUPLICATE_ROW", "3,,DUPLICATE_ROW", "2,,DUPLICATE_ROW"]
    );
    let r = &inputs.rejects;
    assert_eq!(r[0].message, "exact duplicate of line 2");
    assert_eq!(r[0].raw, format!("370202198503120113,{row},T1,E1"));
    assert_eq!(
        r[1].raw,
        "11010519491231002X,2025-01,employee,employer,800.00,8000.0,2025-01-20,370200"
    );
    assert_eq!(
        r[2].message,
        format!("exact duplicate of line 2 of {}", b.display())
    );
    assert_eq!(
        r[2].raw,
        " 11010519491231002X ,2025-01,employee,employer,800.0,8000,2025-01-20,370200"
    );
    assert_eq!(inputs.ledger.len(), 5);
    assert_eq!(inputs.ledger.line, [2, 3, 5, 2, 4]);
    assert_eq!(inputs.ledger.file, [0, 0, 0, 1, 1]);
    let counts: Vec<_> = inputs
        .files
        .iter()
        .map(|f| (f.rows_read, f.rows_accepted, f.rows_rejected))
        .collect();
    assert_eq!(counts, [(4, 3, 1), (3, 2, 1), (1, 0, 1)]);
}

#[test]
fn parse_errors_sit_in_line_order_among_other_rejects() {
    let dir = temp_dir("v-parse");
    let good = "370202198503120113,2025-01,employee,employer,800,8000,2025-01-20,370200";
    write(
        &dir,
        "l.csv",
        &format!(
            "{HEADER}\r
{good}\r
370202198503120113,2025-01,employee\r
\r
370202198503120113,2025-02,employee,employer,800,8000,2025-02-31,370200\r
370202198503120113,2025-03,employee,employer,800,8000,\"2025-03-20,370200\r
"
        ),
    );
    let inputs = read_ledger(&dir.join("l.csv"));
    assert_eq!(
        reject_table(&inputs),
        ["3,,PARSE_ERROR", "5,paid_on,BAD_DATE", "6,,PARSE_ERROR"]
    );
    assert_eq!(inputs.rejects[0].raw, "370202198503120113,2025-01,employee");
    assert!(inputs.rejects[2].message.contains("unterminated"));
    assert_eq!(inputs.ledger.line, [2]);
    assert_eq!(
        (inputs.files[0].rows_read, inputs.files[0].rows_rejected),
        (4, 3)
    );
}

#[test]
fn gbk_ledger_with_chinese_column() {
    let dir = temp_dir("v-gbk");
    let text = format!(
        "姓名,{HEADER}\n张三,370202198503120113,2025-01,employee,employer,800,8000,2025-01-20,370200\n\
             李四,370202198503120114,2025-01,employee,employer,800,8000,2025-01-20,370200\n"
    );
    let (bytes, _, _) = encoding_rs::GBK.encode(&text);
    std::fs::write(dir.join("l.csv"), &bytes).unwrap();
    let inputs = read_inputs(&dir.join("l.csv"), None, None, Encoding::Gbk).unwrap();
    assert_eq!(inputs.files[0].unknown_columns, ["姓名"]);
    assert_eq!(inputs.ledger.len(), 1);
    assert_eq!(reject_table(&inputs), ["3,person_id,BAD_PERSON_ID"]);
    assert!(inputs.rejects[0].raw.starts_with("李四,"));
    assert_eq!(inputs.files[0].bytes, bytes.len() as u64);
}

#[test]
fn parquet_with_typed_columns() {
    let dir = temp_dir("v-parquet");
    std::fs::create_dir_all(dir.join("l")).unwrap();
    let s = |name: &str, v: &[&str]| {
        Column::new(
            name.into(),
            v.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        )
    };
    let jan20 = Date::parse("2025-01-20").unwrap().0;
    let mut df = DataFrame::new(
        3,
        vec![
            s(
                "person_id",
                &[
                    "370202198503120113",
                    "370202198503120113",
                    "370202198503120114",
                ],
            ),
            s("Period", &["2025-01", "2025-02", "2025-01"]),
            s("scheme", &["employee", "employee", "employee"]),
            s("payer", &["employer", "employer", "employer"]),
            Column::new("amount".into(), vec![800.0f64, 800.5, 800.0]),
            Int128Chunked::from_vec("base".into(), vec![800_000, 800_000, 800_000])
                .into_decimal(18, 2)
                .unwrap()
                .into_column(),
            Int32Chunked::from_slice_options("paid_on".into(), &[Some(jan20), None, Some(jan20)])
                .into_date()
                .into_column(),
            Column::new("region".into(), vec![370200i64, 370200, 370200]),
        ],
    )
    .unwrap();
    let path = dir.join("l/2025-01.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    // An integer period is simply a bad period.
    let mut df2 = df.clone();
    df2.replace(
        "Period",
        Column::new("Period".into(), vec![202501i64, 202502, 202503]),
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("l/2025-02.parquet")).unwrap())
        .finish(&mut df2)
        .unwrap();
    // A DATE period is its month when it is the 1st, else a bad period.
    let mut df3 = df.clone();
    let day = |s: &str| Some(Date::parse(s).unwrap().0);
    df3.replace(
        "Period",
        Int32Chunked::from_slice_options(
            "Period".into(),
            &[day("2025-03-01"), day("2025-04-15"), None],
        )
        .into_date()
        .into_column(),
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("l/2025-03.parquet")).unwrap())
        .finish(&mut df3)
        .unwrap();

    let inputs = read_ledger(&dir.join("l"));
    assert_eq!(
        reject_table(&inputs),
        [
            "3,person_id,BAD_PERSON_ID",
            "1,period,BAD_PERIOD",
            "2,period,BAD_PERIOD",
            "3,person_id,BAD_PERSON_ID",
            "2,period,BAD_PERIOD",
            "3,period,MISSING_VALUE"
        ]
    );
    assert_eq!(
        inputs.rejects[1].raw,
        "370202198503120113,202501,employee,employer,800.0,8000.00,2025-01-20,370200"
    );
    let l = &inputs.ledger;
    assert_eq!(l.amount, [Fen(80_000), Fen(80_050), Fen(80_000)]);
    assert_eq!(l.period[2], crate::domain::Month::parse("2025-03").unwrap());
    assert_eq!(l.base[..2], [Some(Fen(800_000)), Some(Fen(800_000))]);
    assert_eq!(l.paid_on[..2], [Some(Date(jan20)), None]);
    assert_eq!(l.line, [1, 2, 1]);
    assert_eq!(inputs.files[0].rows_read, 3);
    assert_eq!(inputs.files[0].sha256.len(), 64);
}

#[test]
fn registry_and_claims() {
    let dir = temp_dir("v-registry");
    let ledger = write(
        &dir,
        "data/ledger.csv",
        &format!(
            "{HEADER}\n370202198503120113,2025-01,employee,employer,800,8000,2025-01-20,370200\n"
        ),
    );
    let sg = write(
        &dir,
        "data/special_groups.csv",
        "person_id,group,valid_from,valid_to\n\
             370202197505050628,dibao,2024-01-01,\n\
             370202197505050628,poor,2024-01-01,\n\
             370202197505050628,orphan,2024-06-01,2024-01-01\n\
             370202197505050628,dibao,2024-01-01,\n\
             370202197505050628,tekun,,2025-01-01\n\
             370202197505050628,tekun,2024-01-01,2025-12-31\n",
    );
    let claims = write(
        &dir,
        "claims.csv",
        "person_id,year,fund_paid\n370202197505050628,2025,0\n370202197505050628,25,0\n\
             370202197505050628,2026,-1\n370202197505050628,2027,12.50\n",
    );
    // The registry file lies in the ledger folder: it is read as the registry only.
    let inputs = read_inputs(&dir.join("data"), Some(&sg), Some(&claims), Encoding::Utf8).unwrap();
    let kinds: Vec<_> = inputs
        .files
        .iter()
        .map(|f| (f.kind, f.path.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (InputKind::Ledger, ledger.display().to_string()),
            (InputKind::SpecialGroups, sg.display().to_string()),
            (InputKind::Claims, claims.display().to_string()),
        ]
    );
    assert_eq!(
        reject_table(&inputs),
        [
            "3,group,BAD_ENUM",
            "4,valid_to,BAD_DATE",
            "5,,DUPLICATE_ROW",
            "6,valid_from,MISSING_VALUE",
            "3,year,BAD_PERIOD",
            "4,fund_paid,BAD_AMOUNT",
        ]
    );
    assert_eq!(inputs.rejects[2].source_file, sg.display().to_string());
    let g = &inputs.registry;
    assert_eq!(g.group, [SpecialGroup::Dibao, SpecialGroup::Tekun]);
    assert_eq!(g.valid_to, [None, Date::parse("2025-12-31")]);
    assert_eq!(g.line, [2, 7]);
    assert_eq!(g.file, [1, 1]);
    assert_eq!(inputs.claims.year, [2025, 2027]);
    assert_eq!(inputs.claims.fund_paid, [Fen(0), Fen(1250)]);
    assert_eq!(inputs.ledger.len(), 1);
}

#[test]
fn header_only_and_resident_base() {
    let dir = temp_dir("v-header-only");
    write(&dir, "l/a.csv", &format!("{HEADER}\n"));
    write(
        &dir,
        "l/b.csv",
        &format!("{HEADER}\n370202197505050628,2025-01,resident,individual,400,350,,370200\n"),
    );
    let inputs = read_ledger(&dir.join("l"));
    assert!(inputs.rejects.is_empty());
    assert_eq!(inputs.files[0].rows_read, 0);
    assert_eq!(inputs.ledger.file, [1]);
    assert_eq!(inputs.ledger.base, [None]);
}

#[test]
fn unreadable_inputs_are_errors() {
    let dir = temp_dir("v-errors");
    let e = read_inputs(&dir.join("nope"), None, None, Encoding::Utf8).unwrap_err();
    assert!(matches!(e, Error::Input { .. }), "{e}");
    write(&dir, "l.parquet", "not parquet at all");
    let e = read_inputs(&dir.join("l.parquet"), None, None, Encoding::Utf8).unwrap_err();
    assert!(e.to_string().contains("l.parquet"), "{e}");
}

#[test]
fn many_rows_across_ranges_keep_input_order() {
    let dir = temp_dir("v-many");
    let n = 3 * CHUNK_ROWS + 123;
    let mut text = format!("{HEADER},txn_id\n");
    let mut expect = Vec::new();
    for i in 0..n {
        let line = i + 2;
        // Every 1000th row repeats the row before it; some amounts are bad.
        let copy = if i % 1000 == 999 { i - 1 } else { i };
        let month = copy % 12 + 1;
        let amount = if i % 5000 == 17 { "-1" } else { "800" };
        if amount == "-1" {
            expect.push(format!("{line},amount,BAD_AMOUNT"));
        } else if copy != i {
            expect.push(format!("{line},,DUPLICATE_ROW"));
        }
        text.push_str(&format!(
            "370202198503120113,2024-{month:02},employee,employer,{amount},8000,\
                 2024-{month:02}-15,370200,T{copy}\n"
        ));
    }
    let path = write(&dir, "l.csv", &text);
    let inputs = read_ledger(&path);
    assert_eq!(reject_table(&inputs), expect);
    assert!(
        inputs.rejects[1]
            .message
            .starts_with("exact duplicate of line 1000")
    );
    let lines = &inputs.ledger.line;
    assert!(lines.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(lines.len() + inputs.rejects.len(), n);
    assert_eq!(inputs.files[0].rows_accepted as usize, lines.len());
}

#[test]
fn duplicate_search_is_exact_whatever_the_hash_width() {
    let mut r = LedgerRows::default();
    let mut text = Vec::new();
    let p = PersonId::parse("370202198503120113").unwrap();
    for i in 0..3000u32 {
        let v = LedgerValue {
            person: p,
            period: Month::new(2020, 1).plus((i % 40) as i32),
            scheme: Scheme::Employee,
            payer: Payer::Employer,
            amount: Fen(80_000 + (i % 7) as i64),
            base: Some(Fen(800_000)),
            paid_on: None,
            region: 370200,
            text: (i % 3) as u64,
        };
        push_ledger(&mut r, &mut text, v, 0, i + 2);
    }
    let full = ledger_duplicates(&r, &text).unwrap();
    // 40 × 7 × 3 = 840 distinct rows (lcm 840): the rest repeat an earlier one.
    assert_eq!(full.len(), 3000 - 840);
    assert!(
        full.iter()
            .all(|&(d, f)| f < d && f < 840 && same_ledger_row(&r, &text, d, f))
    );
    assert!(full.iter().all(|&(d, f)| d % 840 == f));
    let coarse = duplicates_by_hash(&r, &text, 0xF000_0000_0000_0000).unwrap();
    assert_eq!(full, coarse);
}

/// Speed check: `cargo test --release --lib validate::tests::speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed_one_million_rows() {
    let dir = temp_dir("v-speed");
    let n = 1_000_000usize;
    let mut text = String::with_capacity(n * 90);
    text.push_str(HEADER);
    text.push_str(",txn_id\n");
    for i in 0..n {
        let m = i % 12 + 1;
        let person = if i % 2 == 0 {
            "370202198503120113"
        } else {
            "11010519491231002X"
        };
        text.push_str(&format!(
            "{person},2024-{m:02},employee,employer,{}.00,8000.00,2024-{m:02}-15,370200,T{i}\n",
            800 + i % 1000
        ));
    }
    let path = write(&dir, "big.csv", &text);
    let t = std::time::Instant::now();
    let inputs = read_ledger(&path);
    let el = t.elapsed();
    eprintln!(
        "validated {} rows ({} MB) in {:?}",
        inputs.ledger.len(),
        text.len() >> 20,
        el
    );
    assert_eq!(inputs.ledger.len(), n);
}

/// The same ledger as CSV and as typed Parquet (DuckDB: `amount` DECIMAL(18,2), `base`
/// DOUBLE, `paid_on` DATE, `region` INTEGER, `scheme` and `payer` dictionary-encoded
/// strings) gives the same rows and the same rejects, raw text included.
#[test]
fn typed_parquet_ledger_reads_as_the_same_ledger_as_csv() {
    let dir = temp_dir("v-typed-ledger");
    for (sub, name, bytes) in [
        (
            "csv",
            "ledger.csv",
            &include_bytes!("../../tests/data/typed_ledger.csv")[..],
        ),
        (
            "parquet",
            "ledger.parquet",
            &include_bytes!("../../tests/data/typed_ledger.parquet")[..],
        ),
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(dir.join(sub).join(name), bytes).unwrap();
    }
    let csv = read_ledger(&dir.join("csv"));
    let pq = read_ledger(&dir.join("parquet"));
    let (a, b) = (&csv.ledger, &pq.ledger);
    assert_eq!(a.len(), 15);
    assert_eq!(a.person, b.person);
    assert_eq!(a.period, b.period);
    assert_eq!(a.scheme, b.scheme);
    assert_eq!(a.payer, b.payer);
    assert_eq!(a.amount, b.amount);
    assert_eq!(a.base, b.base);
    assert_eq!(a.paid_on, b.paid_on);
    assert_eq!(a.region, b.region);
    // CSV line 1 is the header; Parquet line 1 the first row.
    assert_eq!(a.line, b.line.iter().map(|l| l + 1).collect::<Vec<_>>());
    assert_eq!(a.base[12], None);
    assert_eq!(a.paid_on[13], None);
    assert_eq!(a.amount[0], Fen(264_216));
    assert_eq!(a.base[0], Some(Fen(2_642_156)));
    let rejects = |i: &Inputs| -> Vec<(u64, String, String, String)> {
        i.rejects
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.error_type.to_string(),
                    r.message.replace("line 11", "line 10"),
                    r.raw.clone(),
                )
            })
            .collect()
    };
    let expected = [
        (
            16,
            "BAD_REGION",
            "region \"37020\" is not a 6-digit division code",
        ),
        (17, "BAD_AMOUNT", "amount \"0.00\" must be greater than 0"),
        (18, "DUPLICATE_ROW", "exact duplicate of line 10"),
    ];
    let got = rejects(&pq);
    assert_eq!(
        got.iter()
            .map(|r| (r.0, r.1.as_str(), r.2.as_str()))
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        got[0].3,
        "370203196809022599,2025-11,employee,employer,2642.16,26421.56,2025-11-16,37020,\
         913702002414824832,t16"
    );
    // The raw text of a DOUBLE is its shortest form (`10395.0` for `10395.00`).
    let shifted: Vec<_> = rejects(&csv)
        .into_iter()
        .map(|(l, k, m, raw)| (l - 1, k, m, raw.replace("10395.00", "10395.0")))
        .collect();
    assert_eq!(shifted, got);
}

fn write_parquet(path: &Path, cols: Vec<Column>) {
    let mut df = DataFrame::new_infer_height(cols).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

/// One typed Parquet ledger row per amount (all else good).
fn typed_amount_ledger(dir: &Path, amount: Column) -> Inputs {
    let n = amount.len();
    let s = |name: &str, v: &str| Column::new(name.into(), vec![v.to_string(); n]);
    std::fs::create_dir_all(dir).unwrap();
    write_parquet(
        &dir.join("a.parquet"),
        vec![
            s("person_id", "370202198503120113"),
            s("period", "2025-01"),
            s("scheme", "employee"),
            s("payer", "employer"),
            amount,
            Column::new("base".into(), vec![8000.0f64; n]),
            s("paid_on", "2025-01-20"),
            Column::new("region".into(), vec![370_200i32; n]),
        ],
    );
    read_ledger(dir)
}

#[test]
fn typed_decimal_with_more_places_or_out_of_range_is_a_bad_amount() {
    let dir = temp_dir("v-typed-decimal");
    let four = Int128Chunked::from_vec("amount".into(), vec![8_000_050, 8_000_000, 1])
        .into_decimal(18, 4)
        .unwrap()
        .into_column();
    let inputs = typed_amount_ledger(&dir.join("four"), four);
    assert_eq!(inputs.ledger.amount, [Fen(80_000)]);
    let got: Vec<(u64, String, String)> = inputs
        .rejects
        .iter()
        .map(|r| (r.line, r.error_type.to_string(), r.message.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                1,
                "BAD_AMOUNT".to_string(),
                "amount \"800.005\" has 3 decimal places, at most 2 are allowed".to_string()
            ),
            (
                3,
                "BAD_AMOUNT".to_string(),
                "amount \"0.0001\" has 4 decimal places, at most 2 are allowed".to_string()
            ),
        ]
    );
    assert!(
        inputs.rejects[0].raw.contains(",800.005,"),
        "{}",
        inputs.rejects[0].raw
    );
    // 16 integer digits: more than any amount Fen::parse reads.
    let wide = Int128Chunked::from_vec(
        "amount".into(),
        vec![100_000_000_000_000_000, 99_999_999_999_999_999],
    )
    .into_decimal(38, 2)
    .unwrap()
    .into_column();
    let inputs = typed_amount_ledger(&dir.join("wide"), wide);
    assert_eq!(
        inputs.ledger.amount,
        [Fen(99_999_999_999_999_999)].repeat(0)
    );
    assert_eq!(
        reject_table(&inputs),
        ["1,amount,BAD_AMOUNT", "2,amount,BAD_AMOUNT"]
    );
    assert_eq!(
        inputs.rejects[0].message,
        "amount \"1000000000000000.00\" has 16 integer digits: too many digits, above the \
         ceiling max_amount of the rule file"
    );
}

#[test]
fn typed_date_columns_with_nulls() {
    let dir = temp_dir("v-typed-date-null");
    let jan = |d: u32| Some(Date::from_ymd(2025, 1, d).0);
    let days = |name: &str, v: &[Option<i32>]| {
        Int32Chunked::from_slice_options(name.into(), v)
            .into_date()
            .into_column()
    };
    let s = |name: &str, v: &str| Column::new(name.into(), vec![v.to_string(); 3]);
    std::fs::create_dir_all(dir.join("l")).unwrap();
    write_parquet(
        &dir.join("l/a.parquet"),
        vec![
            s("person_id", "370202198503120113"),
            days(
                "period",
                &[jan(1), None, Some(Date::from_ymd(2025, 2, 1).0)],
            ),
            s("scheme", "employee"),
            s("payer", "employer"),
            s("amount", "800"),
            s("base", "8000"),
            days("paid_on", &[jan(20), jan(21), None]),
            s("region", "370200"),
        ],
    );
    let inputs = read_ledger(&dir.join("l"));
    // A null DATE is an empty value: a missing period, an unpaid row.
    assert_eq!(reject_table(&inputs), ["2,period,MISSING_VALUE"]);
    assert_eq!(inputs.rejects[0].message, "period is empty");
    assert_eq!(
        inputs.rejects[0].raw,
        "370202198503120113,,employee,employer,800,8000,2025-01-21,370200"
    );
    let l = &inputs.ledger;
    assert_eq!(l.period, [Month::new(2025, 1), Month::new(2025, 2)]);
    assert_eq!(l.paid_on, [jan(20).map(Date), None]);
    assert_eq!(l.line, [1, 3]);
    // A registry's null valid_from is missing, a null valid_to open.
    write_parquet(
        &dir.join("sg.parquet"),
        vec![
            Column::new("person_id".into(), vec!["370202198503120113"; 2]),
            Column::new("group".into(), vec!["dibao"; 2]),
            days("valid_from", &[jan(1), None]),
            days("valid_to", &[None, jan(31)]),
        ],
    );
    let inputs = read_inputs(
        &dir.join("l"),
        Some(&dir.join("sg.parquet")),
        None,
        Encoding::Utf8,
    )
    .unwrap();
    assert_eq!(inputs.registry.valid_from, [Date(jan(1).unwrap())]);
    assert_eq!(inputs.registry.valid_to, [None]);
    let sg: Vec<String> = inputs
        .rejects
        .iter()
        .filter(|r| r.source_file.ends_with("sg.parquet"))
        .map(|r| format!("{},{},{}", r.line, r.error_type, r.message))
        .collect();
    assert_eq!(sg, ["2,MISSING_VALUE,valid_from is empty"]);
}

/// A bucketed read fills in the raw text of its duplicates once for all buckets: each
/// ledger file with rejects is read again once (it was once per bucket: at 1 M × 60 in
/// 10 buckets, 6–7 s a bucket), and the rejects are those of the in-memory read.
#[test]
fn a_bucketed_read_reads_each_file_again_once_for_raw_text() {
    let dir = temp_dir("raw-once");
    let ids: Vec<String> = (1..=16)
        .map(|seq| crate::id::compose(370202, Date::from_ymd(1980, 1, 1), seq))
        .collect();
    for (f, month) in ["2025-01", "2025-02"].iter().enumerate() {
        let mut text = format!("{HEADER}\n");
        for id in &ids {
            let row =
                format!("{id},{month},flexible,individual,500.00,5000.00,{month}-15,370200\n");
            text.push_str(&row);
            text.push_str(&row); // an exact duplicate of every row
        }
        write(&dir, &format!("ledger/{f}.csv"), &text);
    }
    let ledger = dir.to_path_buf().join("ledger");
    let memory = read_inputs(&ledger, None, None, Encoding::Utf8).unwrap();
    reading::RAW_READS.with(|n| n.set(0));
    let count = 4;
    let mut buckets = buckets::read_inputs_bucketed(
        &ledger,
        None,
        None,
        Encoding::Utf8,
        None,
        count,
        &dir.to_path_buf().join("spill"),
        &Plausibility::default(),
    )
    .unwrap();
    let mut rows = 0;
    for b in 0..count {
        rows += buckets.rows(b).unwrap().len();
    }
    let (_, rejects) = buckets.finish().unwrap();
    assert_eq!(reading::RAW_READS.with(|n| n.get()), 2, "one read per file");
    assert_eq!(rows, memory.ledger.len());
    let raw = |r: &[crate::ledger::Reject]| -> Vec<(String, u64, String)> {
        r.iter()
            .map(|r| (r.source_file.clone(), r.line, r.raw.clone()))
            .collect()
    };
    assert_eq!(raw(&rejects), raw(&memory.rejects));
    let duplicates: Vec<&crate::ledger::Reject> = rejects
        .iter()
        .filter(|r| r.error_type == crate::domain::RejectType::DuplicateRow)
        .collect();
    assert_eq!(duplicates.len(), 32, "{rejects:?}");
    assert!(
        duplicates.iter().all(|r| r.raw.contains(",2025-0")),
        "{duplicates:?}"
    );
}
