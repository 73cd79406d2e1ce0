//! Typed Parquet cells → fields, without going through text.
//!
//! A DATE, DECIMAL, integer or DOUBLE cell of a column whose check can use it becomes
//! a typed [`Field`] when the check of the cell's text (the text Parquet values had
//! before: `YYYY-MM-DD`, the decimal text, …) would accept it with the same value;
//! every other cell is `None` here, and its row is checked as text (see
//! [`super::file`]), so accepted rows and rejects are the same as for the text.

use super::fields::Field;
use crate::domain::{Date, Fen, Month};
use crate::ingest::{Cell, Cells};

/// What a column's check reads from a typed cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Want {
    /// Text only (IDs, codes, free text): a typed column is read as text.
    Text,
    /// A money amount: greater than 0 (`positive`) or at least 0.
    Money { positive: bool },
    /// A day.
    Date,
    /// A month (`period`): a DATE on the 1st.
    Month,
    /// A code of exactly this many digits (`region` 6, `year` 4).
    Digits(u32),
}

/// The typed reading of a column by its name (CONTRACT.md §2).
pub(super) fn want_of(column: &str) -> Want {
    match column {
        "amount" => Want::Money { positive: true },
        "base" | "fund_paid" => Want::Money { positive: false },
        "paid_on" | "valid_from" | "valid_to" => Want::Date,
        "period" => Want::Month,
        "region" => Want::Digits(6),
        "year" => Want::Digits(4),
        _ => Want::Text,
    }
}

/// Whether [`decode`] reads cells of this column (else the column is read as text).
pub(super) fn decodes(want: Want, cells: &Cells) -> bool {
    matches!(
        (want, cells),
        (
            Want::Money { .. },
            Cells::Decimal(..) | Cells::Int(_) | Cells::Float(_)
        ) | (Want::Date | Want::Month, Cells::Days(_))
            | (Want::Digits(_), Cells::Int(_))
    )
}

/// Largest |fen| [`Fen::parse`] accepts: 15 integer digits and 2 places.
const MAX_FEN: i128 = 100_000_000_000_000_000 - 1;

/// A typed cell as the field its text would check as, when that check accepts it;
/// `None` when the text must be checked (a fault, or a value the fast path does not
/// settle).
pub(super) fn decode(want: Want, cell: Cell) -> Option<Field<'static>> {
    match want {
        Want::Money { positive } => {
            let fen = fen_of(cell)?;
            let ok = if positive { fen > 0 } else { fen >= 0 };
            ok.then_some(Field::Fen(Fen(fen)))
        }
        Want::Date => date_of(cell).map(Field::Date),
        Want::Month => match day_of(cell)? {
            (_, y, m, 1) => Some(Field::Month(Month::new(y, m))),
            _ => None,
        },
        Want::Digits(len) => match cell {
            Cell::Int(v) => {
                let low = 10i64.pow(len - 1);
                (low..low * 10)
                    .contains(&v)
                    .then_some(Field::Code(v as u32))
            }
            _ => None,
        },
        Want::Text => None,
    }
}

/// 0001-01-01 and 9999-12-31 in days since 1970-01-01: the days `YYYY-MM-DD` can
/// write (test `date_range_is_years_1_to_9999`).
const FIRST_DAY: i32 = -719_162;
const LAST_DAY: i32 = 2_932_896;

/// A DATE cell with a 4-digit year from 1 (what `YYYY-MM-DD` parses), by its day
/// number alone: no day arithmetic per cell.
fn date_of(cell: Cell) -> Option<Date> {
    match cell {
        Cell::Days(d) if (FIRST_DAY..=LAST_DAY).contains(&d) => Some(Date(d)),
        _ => None,
    }
}

/// [`date_of`] with the day's year, month and day of the month.
fn day_of(cell: Cell) -> Option<(Date, i32, u32, u32)> {
    let d = date_of(cell)?;
    let (y, m, day) = d.ymd();
    Some((d, y, m, day))
}

/// The fen of a number cell whose text has at most 2 decimal places and at most 15
/// integer digits.
fn fen_of(cell: Cell) -> Option<i64> {
    let fen: i128 = match cell {
        // The text of a DECIMAL(p, s) has s places (zeros past 2 places dropped).
        Cell::Decimal(v, scale) if scale <= 2 => {
            v.checked_mul(10i128.checked_pow(2 - scale as u32)?)?
        }
        Cell::Decimal(v, scale) => {
            let unit = 10i128.checked_pow(u32::try_from(scale - 2).ok()?)?;
            if v % unit != 0 {
                return None;
            }
            v / unit
        }
        Cell::Int(v) => (v as i128).checked_mul(100)?,
        // The text of a DOUBLE is the shortest that reads back as it. Below 2^43 two
        // numbers of 2 places are more than an ulp apart, so when x is the double
        // nearest to n / 100 its text is n / 100.
        Cell::Float(x) => {
            if !x.is_finite() || x.abs() >= (1u64 << 43) as f64 {
                return None;
            }
            let n = (x * 100.0).round();
            if n / 100.0 != x {
                return None;
            }
            n as i128
        }
        _ => return None,
    };
    (fen.abs() <= MAX_FEN).then_some(fen as i64)
}

#[cfg(test)]
mod tests {
    use super::super::file::{FileOut, read_file_as};
    use super::super::schema::check_ledger;
    use crate::domain::Encoding;
    use crate::ingest::tests::temp_dir;
    use crate::ledger::{InputKind, LEDGER_COLUMNS};
    use polars::prelude::*;

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<T: Copy>(&mut self, v: &[T]) -> T {
            v[self.below(v.len())]
        }
    }

    const IDS: &[&str] = &["370202198503120113", "11010119900307123X", "12345", ""];

    /// Interesting amounts in fen: ordinary, zero, negative, 15 and 16 integer digits.
    fn fen(rng: &mut Rng) -> i128 {
        match rng.below(40) {
            0 => 0,
            1 => -(rng.below(100_000) as i128),
            2 => 99_999_999_999_999_999,
            3 => 100_000_000_000_000_000,
            4 => rng.next() as i128,
            _ => 1 + rng.below(10_000_000) as i128,
        }
    }

    /// A money column of a random stored type.
    fn money(rng: &mut Rng, name: &str, n: usize) -> Column {
        let name: PlSmallStr = name.into();
        let nulls = |rng: &mut Rng| rng.below(30) == 0;
        match rng.below(6) {
            0 => {
                let v: Vec<Option<i128>> =
                    (0..n).map(|_| (!nulls(rng)).then(|| fen(rng))).collect();
                Int128Chunked::from_iter_options(name, v.into_iter())
                    .into_decimal(38, 2)
                    .unwrap()
                    .into_column()
            }
            1 => {
                // Four places: some with zeros past 2, some not.
                let v: Vec<i128> = (0..n)
                    .map(|_| fen(rng) * 100 + rng.pick(&[0, 0, 0, 0, 0, 0, 5, 50]))
                    .collect();
                Int128Chunked::from_vec(name, v)
                    .into_decimal(38, 4)
                    .unwrap()
                    .into_column()
            }
            2 => {
                let v: Vec<i128> = (0..n).map(|_| fen(rng) / 100).collect();
                Int128Chunked::from_vec(name, v)
                    .into_decimal(18, 0)
                    .unwrap()
                    .into_column()
            }
            3 => {
                let v: Vec<i64> = (0..n)
                    .map(|_| {
                        rng.pick(&[
                            0,
                            1,
                            -3,
                            800,
                            800,
                            800,
                            800,
                            999_999_999_999_999,
                            1_000_000_000_000_000,
                        ])
                    })
                    .collect();
                Column::new(name, v)
            }
            4 => {
                let v: Vec<Option<f64>> = (0..n)
                    .map(|_| {
                        (!nulls(rng)).then(|| match rng.below(30) {
                            0 => 0.1 + 0.2,
                            1 => -0.0,
                            2 => f64::NAN,
                            3 => 1e20,
                            4 => (1u64 << 43) as f64 + 0.5,
                            5 => rng.next() as f64 / 1e6,
                            6 => 8_796_093_022.21,
                            _ => fen(rng) as f64 / 100.0,
                        })
                    })
                    .collect();
                Column::new(name, v)
            }
            _ => {
                let v: Vec<i32> = (0..n).map(|_| rng.below(20_000) as i32 - 10).collect();
                Column::new(name, v)
            }
        }
    }

    /// A date column (DATE, DATETIME or INT64) of days near month starts, far past
    /// and future, with nulls.
    fn dates(rng: &mut Rng, name: &str, n: usize) -> Column {
        let days: Vec<Option<i32>> = (0..n)
            .map(|_| match rng.below(30) {
                0 => None,
                1 => Some(-800_000),
                2 => Some(3_000_000),
                3 => Some(-719_162), // 0001-01-01
                4 => Some(rng.below(40_000) as i32 - 20_000),
                _ => Some(
                    crate::domain::Date::from_ymd(
                        2020 + rng.below(6) as i32,
                        1 + rng.below(12) as u32,
                        1,
                    )
                    .0,
                ),
            })
            .collect();
        let ca = Int32Chunked::from_iter_options(name.into(), days.into_iter());
        match rng.below(3) {
            0 => ca.into_date().into_column(),
            1 => ca
                .into_date()
                .into_column()
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                .unwrap(),
            _ => ca.cast(&DataType::Int64).unwrap().into_column(),
        }
    }

    fn strings(rng: &mut Rng, name: &str, n: usize, good: &[&str]) -> Column {
        let v: Vec<Option<String>> = (0..n)
            .map(|_| match rng.below(20) {
                0 => None,
                1 => Some(rng.pick(good).to_string()),
                _ => Some(good[0].to_string()),
            })
            .collect();
        Column::new(name.into(), v)
    }

    fn random_ledger(rng: &mut Rng) -> DataFrame {
        let n = 1 + rng.below(40);
        let mut cols = Vec::new();
        for &name in &LEDGER_COLUMNS {
            if rng.below(40) == 0 {
                continue;
            }
            let typed = rng.below(4) != 0;
            cols.push(match name {
                "person_id" => strings(rng, name, n, IDS),
                "period" if typed => dates(rng, name, n),
                "period" => strings(rng, name, n, &["2025-01", "2025-13", "2024-01-01"]),
                "scheme" => strings(rng, name, n, &["employee", "resident", "flexible", "x"]),
                "payer" => strings(rng, name, n, &["employer", "individual", "government"]),
                "amount" | "base" if typed => money(rng, name, n),
                "amount" | "base" => strings(rng, name, n, &["800.00", "0", "1.234", ""]),
                "paid_on" if typed => dates(rng, name, n),
                "region" if typed => {
                    let v: Vec<i64> = (0..n)
                        .map(|_| match rng.below(20) {
                            0 => rng.pick(&[99_999, 100_000, 999_999, 1_000_000, -370_200]),
                            _ => 370_200,
                        })
                        .collect();
                    Column::new(name.into(), v)
                }
                "region" => strings(rng, name, n, &["370200", "37020"]),
                "employer_id" if typed => {
                    Column::new(name.into(), (0..n).map(|i| i as i64).collect::<Vec<_>>())
                }
                _ => strings(rng, name, n, &["e1", "e2", ""]),
            });
        }
        DataFrame::new_infer_height(cols).unwrap()
    }

    #[test]
    fn date_range_is_years_1_to_9999() {
        use crate::domain::Date;
        assert_eq!(Date(super::FIRST_DAY).to_string(), "0001-01-01");
        assert_eq!(Date(super::LAST_DAY).to_string(), "9999-12-31");
        assert_eq!(Date::from_ymd(1, 1, 1).0, super::FIRST_DAY);
        assert_eq!(Date::from_ymd(9999, 12, 31).0, super::LAST_DAY);
    }

    #[test]
    fn typed_values_decode_without_text() {
        use super::super::fields::Field;
        use super::{FIRST_DAY, LAST_DAY, Want, decode};
        use crate::domain::{Date, Fen, Month};
        use crate::ingest::Cell;
        let amount = Want::Money { positive: true };
        let base = Want::Money { positive: false };
        assert_eq!(
            decode(amount, Cell::Decimal(80_000, 2)),
            Some(Field::Fen(Fen(80_000)))
        );
        assert_eq!(
            decode(amount, Cell::Decimal(8_000_000, 4)),
            Some(Field::Fen(Fen(80_000)))
        );
        assert_eq!(
            decode(amount, Cell::Decimal(800, 0)),
            Some(Field::Fen(Fen(80_000)))
        );
        assert_eq!(
            decode(amount, Cell::Int(800)),
            Some(Field::Fen(Fen(80_000)))
        );
        assert_eq!(
            decode(amount, Cell::Float(800.07)),
            Some(Field::Fen(Fen(80_007)))
        );
        assert_eq!(decode(base, Cell::Float(-0.0)), Some(Field::Fen(Fen(0))));
        // Left to the text check: more than 2 places, out of range, not positive.
        assert_eq!(decode(amount, Cell::Decimal(8_000_050, 4)), None);
        assert_eq!(
            decode(amount, Cell::Decimal(100_000_000_000_000_000, 2)),
            None
        );
        assert_eq!(
            decode(amount, Cell::Decimal(99_999_999_999_999_999, 2)),
            Some(Field::Fen(Fen(99_999_999_999_999_999)))
        );
        assert_eq!(decode(amount, Cell::Decimal(0, 2)), None);
        assert_eq!(decode(base, Cell::Decimal(0, 2)), Some(Field::Fen(Fen(0))));
        assert_eq!(decode(base, Cell::Int(-1)), None);
        assert_eq!(decode(amount, Cell::Float(0.1 + 0.2)), None);
        assert_eq!(decode(amount, Cell::Float(f64::NAN)), None);
        let jan = Date::from_ymd(2025, 1, 1).0;
        assert_eq!(
            decode(Want::Month, Cell::Days(jan)),
            Some(Field::Month(Month::new(2025, 1)))
        );
        assert_eq!(decode(Want::Month, Cell::Days(jan + 19)), None);
        assert_eq!(
            decode(Want::Date, Cell::Days(jan + 19)),
            Some(Field::Date(Date(jan + 19)))
        );
        assert_eq!(decode(Want::Date, Cell::Days(-800_000)), None);
        for (d, ok) in [
            (FIRST_DAY - 1, false),
            (FIRST_DAY, true),
            (LAST_DAY, true),
            (LAST_DAY + 1, false),
        ] {
            assert_eq!(decode(Want::Date, Cell::Days(d)).is_some(), ok, "{d}");
        }
        assert_eq!(
            decode(Want::Digits(6), Cell::Int(370_200)),
            Some(Field::Code(370_200))
        );
        assert_eq!(decode(Want::Digits(6), Cell::Int(37_020)), None);
        assert_eq!(
            decode(Want::Digits(4), Cell::Int(2025)),
            Some(Field::Code(2025))
        );
        assert_eq!(decode(Want::Text, Cell::Int(1)), None);
    }

    fn summary<V: std::fmt::Debug>(out: FileOut<V>) -> String {
        let mut s = String::new();
        for p in out.parts {
            for (v, l) in p.values.iter().zip(&p.lines) {
                s.push_str(&format!("{l}: {v:?}\n"));
            }
        }
        for r in out.rejects {
            s.push_str(&format!(
                "{} {:?} {:?} {} | {}\n",
                r.line, r.column, r.kind, r.message, r.raw
            ));
        }
        s
    }

    /// Typed Parquet ledgers give exactly the rows and rejects of the same values read
    /// as text (the reading before typed columns).
    #[test]
    fn typed_cells_check_as_their_text() {
        let dir = temp_dir("typed-as-text");
        let path = dir.join("a.parquet");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut typed_rows, mut rejects) = (0, 0);
        for case in 0..200 {
            let mut df = random_ledger(&mut rng);
            let mut f = std::fs::File::create(&path).unwrap();
            ParquetWriter::new(&mut f).finish(&mut df).unwrap();
            let mut read = |use_types| {
                let out = read_file_as(
                    &path,
                    0,
                    InputKind::Ledger,
                    (Encoding::Utf8, None),
                    &LEDGER_COLUMNS,
                    check_ledger,
                    use_types,
                )
                .unwrap();
                typed_rows += out.accepted();
                rejects += out.rejects.len();
                summary(out)
            };
            let typed = read(true);
            let text = read(false);
            assert_eq!(typed, text, "case {case}: {df:?}");
        }
        eprintln!("COUNTS {typed_rows} {rejects}");
        // The cases hold accepted rows and rejects of both kinds.
        assert!(typed_rows > 500 && rejects > 500, "{typed_rows} {rejects}");
    }
}
