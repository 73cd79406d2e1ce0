//! Unit tests of `generate`: determinism, the mix of people, faults, both formats.

use super::ledger::*;
use super::rng::*;
use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ledgerflow-gen-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn args(out: PathBuf, persons: u64, months: u32, format: Format) -> GenerateArgs {
    GenerateArgs {
        persons,
        months,
        start: Month::new(2024, 1),
        seed: 7,
        out,
        format,
    }
}

fn run(a: &GenerateArgs) -> Generated {
    generate(a, &mut |_| {}).expect("generate")
}

/// Every file under `dir`, relative path → bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("prefix").display().to_string();
                out.push((rel, fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// All data lines of the CSV ledger files, split into fields.
fn ledger_lines(dir: &Path) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (name, bytes) in snapshot(&dir.join("ledger")) {
        assert!(name.ends_with(".csv"), "{name}");
        let text = String::from_utf8(bytes).expect("utf-8");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(LEDGER_HEADER.join(",").as_str()));
        out.extend(lines.map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>()));
    }
    out
}

#[test]
fn same_seed_same_bytes() {
    for format in [Format::Csv, Format::Parquet] {
        let (a, b) = (
            temp_dir(&format!("det-a-{format:?}")),
            temp_dir(&format!("det-b-{format:?}")),
        );
        let ra = run(&args(a.clone(), 300, 14, format));
        let rb = run(&args(b.clone(), 300, 14, format));
        assert_eq!(ra, rb);
        assert_eq!(snapshot(&a), snapshot(&b));
        // A rerun into the same folder rewrites the same bytes.
        run(&args(a.clone(), 300, 14, format));
        assert_eq!(snapshot(&a), snapshot(&b));
        let mut other = args(temp_dir(&format!("det-c-{format:?}")), 300, 14, format);
        other.seed = 8;
        run(&other);
        assert_ne!(snapshot(&a), snapshot(&other.out));
        for d in [a, b, other.out] {
            let _ = fs::remove_dir_all(d);
        }
    }
}

#[test]
fn one_file_per_month_and_rows_within_range() {
    let dir = temp_dir("files");
    let g = run(&args(dir.clone(), 200, 18, Format::Csv));
    assert_eq!(g.files, 19);
    let names: Vec<String> = snapshot(&dir.join("ledger"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let expected: Vec<String> = (0..18)
        .map(|k| format!("ledger-{}.csv", Month::new(2024, 1).plus(k)))
        .collect();
    assert_eq!(names, expected);
    // Every well-formed row with a valid paid_on sits in its settlement month's file.
    let end = Month::new(2025, 6).last_day();
    for (name, bytes) in snapshot(&dir.join("ledger")) {
        let month = Month::parse(&name[7..14]).expect("month in file name");
        for line in String::from_utf8(bytes).expect("utf-8").lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 9 {
                continue;
            }
            if let Some(d) = Date::parse(f[PAID_ON]) {
                assert!(d <= end, "{line}");
                assert_eq!(d.month().max(Month::new(2024, 1)), month, "{line}");
            } else if f[PAID_ON].is_empty()
                && let Some(p) = Month::parse(f[PERIOD])
            {
                assert_eq!(p, month, "declaration in its period's file: {line}");
            }
        }
    }
    let rows = ledger_lines(&dir).len() as u64;
    assert_eq!(rows, g.ledger_rows);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn ids_valid_except_the_intended_faults_and_scheme_mix() {
    let dir = temp_dir("ids");
    let g = run(&args(dir.clone(), 2000, 24, Format::Csv));
    let lines = ledger_lines(&dir);
    let mut bad_ids = 0;
    let mut x_checks = 0;
    let mut people: [HashSet<String>; 3] = Default::default();
    for f in &lines {
        if f.len() != 9 || f[PERSON_ID].is_empty() {
            continue;
        }
        match PersonId::parse(&f[PERSON_ID]) {
            Ok(_) => {
                x_checks += f[PERSON_ID].ends_with('X') as usize;
                if let Some(s) = Scheme::parse(&f[SCHEME]) {
                    people[s as usize].insert(f[PERSON_ID].clone());
                }
            }
            Err(e) => {
                assert_eq!(e, crate::id::IdError::CheckCharacter, "{f:?}");
                bad_ids += 1;
            }
        }
    }
    // ≈0.1 % BAD_PERSON_ID copies.
    let rate = bad_ids as f64 / g.ledger_rows as f64;
    assert!((0.0003..0.003).contains(&rate), "bad id rate {rate}");
    assert!(x_checks > 0, "some IDs end in X");
    // The registry's IDs are all valid.
    let reg = fs::read_to_string(dir.join("special_groups.csv")).expect("registry");
    let mut reg_rows = 0;
    for line in reg.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert!(PersonId::parse(f[0]).is_ok(), "{line}");
        assert!(SpecialGroup::parse(f[1]).is_some(), "{line}");
        reg_rows += 1;
    }
    assert_eq!(reg_rows, g.registry_rows);
    let share = reg_rows as f64 / 2000.0;
    assert!((0.015..0.06).contains(&share), "registry share {share}");
    // Scheme mix by person (a worker who went flexible counts in both).
    let [emp, flex, res] = people.map(|s| s.len() as f64 / 2000.0);
    assert!((0.62..0.78).contains(&emp), "employee {emp}");
    assert!((0.16..0.30).contains(&flex), "flexible {flex}");
    assert!((0.06..0.14).contains(&res), "resident {res}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn small_runs_carry_every_fault_type_twice() {
    let mut counts = [0u64; 10];
    let mut rng = Rng::new(1, 2, 3);
    let row = Row {
        settle: Month::new(2024, 3),
        fields: [
            "370202198503120113",
            "2024-03",
            "employee",
            "employer",
            "800.00",
            "8000.00",
            "2024-03-15",
            "370200",
            "",
        ]
        .map(str::to_string),
        ragged: false,
    };
    let mut all = Vec::new();
    for index in 0..7 {
        let mut rows = vec![row.clone()];
        add_faults(
            &mut rng,
            &mut rows,
            &forced_faults(index, 7, Format::Csv),
            Format::Csv,
            &mut counts,
        );
        all.extend(rows);
    }
    assert!(counts.iter().all(|&c| c >= MIN_BAD_PER_TYPE), "{counts:?}");
    // Each faulty copy breaks the field it is meant to break.
    for r in &all {
        let f = &r.fields;
        let broken = [
            PersonId::parse(&f[PERSON_ID]).is_err(),
            Month::parse(&f[PERIOD]).is_none(),
            !f[PAID_ON].is_empty() && Date::parse(&f[PAID_ON]).is_none(),
            Fen::parse(&f[AMOUNT]).is_none_or(|a| a.0 <= 0),
            Scheme::parse(&f[SCHEME]).is_none() || Payer::parse(&f[PAYER]).is_none(),
            f[REGION].len() != 6 || !f[REGION].bytes().all(|c| c.is_ascii_digit()),
            f[SCHEME] == "resident" && !f[PERIOD].ends_with("-01"),
            r.ragged,
        ];
        assert!(broken.iter().filter(|&&b| b).count() <= 1, "{r:?}");
    }
    // Parquet runs never force a PARSE_ERROR.
    let forced: Vec<RejectType> = (0..3)
        .flat_map(|i| forced_faults(i, 3, Format::Parquet))
        .collect();
    assert!(!forced.contains(&RejectType::ParseError));
    assert_eq!(forced.len(), 18);
}

#[test]
fn generated_ids_follow_gb11643() {
    let id = crate::id::compose(110105, Date::from_ymd(1949, 12, 31), 2);
    assert_eq!(id, "11010519491231002X");
    assert!(PersonId::parse(&crate::id::compose(370202, Date::from_ymd(1985, 3, 12), 11)).is_ok());
}

#[test]
fn validation_rejects_exactly_the_faulty_rows() {
    for format in [Format::Csv, Format::Parquet] {
        let dir = temp_dir(&format!("validate-{format:?}"));
        let (g, stats) = generate_with_stats(&args(dir.clone(), 1500, 20, format), &mut |_| {})
            .expect("generate");
        let inputs = crate::validate::read_inputs(
            &dir.join("ledger"),
            Some(&dir.join("special_groups.csv")),
            None,
            crate::domain::Encoding::Utf8,
        )
        .expect("read_inputs");
        let mut rejected = [0u64; 10];
        for r in &inputs.rejects {
            rejected[r.error_type as usize] += 1;
        }
        assert_eq!(
            rejected, stats.faults,
            "{format:?}: rejects per type vs faulty rows"
        );
        for t in RejectType::ALL {
            let expect = !(format == Format::Parquet && *t == RejectType::ParseError);
            assert_eq!(stats.faults[*t as usize] > 0, expect, "{format:?} {t}");
        }
        let faulty: u64 = stats.faults.iter().sum();
        assert_eq!(inputs.ledger.person.len() as u64, g.ledger_rows - faulty);
        assert_eq!(inputs.registry.person.len() as u64, g.registry_rows);
        let _ = fs::remove_dir_all(dir);
    }
}

/// Writes `sample_data/` (run with `cargo test --lib -- --ignored`).
#[test]
#[ignore]
fn write_sample_data() {
    let a = GenerateArgs {
        persons: 400,
        months: 30,
        start: Month::new(2024, 1),
        seed: 20260101,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data"),
        format: Format::Csv,
    };
    generate(&a, &mut |m| eprintln!("{m}")).expect("generate");
}
