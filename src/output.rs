//! Engine results → typed Parquet partitions `OUT/<table>/as_of=YYYY-MM/part-00000.parquet`
//! (CONTRACT.md §4), replaced atomically.
//!
//! Column types follow CONTRACT §4: money DECIMAL(18,2), dates DATE, counts INTEGER,
//! `line` BIGINT, flags BOOLEAN, `benefit_ratio` DOUBLE, everything else VARCHAR
//! (`region` as its 6-digit code). Files are zstd, with statistics, row groups of
//! 122 880 rows; polars writes no timestamps, so equal inputs give equal bytes.
//!
//! Atomicity: every part file is written under the run's own `OUT/_staging/<run>/`
//! (outside every table folder, so `read_parquet('OUT/<table>/*/*.parquet')` never
//! sees it), fsynced, then moved in with `rename(2)` ([`crate::store::publish`]): a
//! new partition folder moves in whole; in an existing one each part file is replaced
//! by one rename, then parts the new snapshot does not have are removed. A reader
//! therefore sees each part file complete, old or new. A crashed run leaves only its
//! staging folder, which the next run sweeps ([`crate::store::sweep`]).

use crate::config::OutputTable;
use crate::domain::{Code, Date, Fen, Month};
use crate::engine::{Batch, FindingRow, GapRow, MonthRow, StatusRow};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::Reject;
use polars::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How `person_key` is made from an ID.
pub enum KeyMode {
    /// The normalised ID.
    Raw,
    /// Lowercase hex HMAC-SHA256 of the normalised ID under a secret key.
    Pseudonym(Vec<u8>),
}

impl KeyMode {
    pub fn key(&self, p: PersonId) -> String {
        match self {
            KeyMode::Raw => p.to_string(),
            KeyMode::Pseudonym(k) => crate::digest::hmac_sha256_hex(k, p.to_string().as_bytes()),
        }
    }

    /// Free text (reject messages, raw rows, file names) safe to write: under
    /// pseudonyms every ID-like span is replaced by the HMAC of its normalised text
    /// ([`crate::privacy`]), so even malformed IDs never appear raw.
    pub fn mask(&self, text: &str) -> String {
        match self {
            KeyMode::Raw => text.to_string(),
            KeyMode::Pseudonym(k) => crate::privacy::mask(k, text),
        }
    }
}

pub use crate::store::OutputFile;
use crate::store::{fsync_dir, io_err, partition_dir};

/// Rows per Parquet row group (DuckDB's and polars' streaming default).
const ROW_GROUP: usize = 122_880;

/// Checks that the output folder can be created and written, before any work.
pub fn check_writable(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::output(out, format!("cannot create output folder: {e}")))?;
    let probe = out.join(format!(".ledgerflow-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| Error::output(out, format!("output folder is not writable: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Where and how a snapshot's tables are written.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub out: &'a Path,
    pub as_of: Month,
    pub tables: &'a [OutputTable],
    pub keys: &'a KeyMode,
    pub rules_sha256: &'a str,
}

/// Builds table `t` from a batch (or the rejects) and stages it as part file `part`
/// under `staging`; returns the staged path and the file's manifest entry.
pub fn stage_table(
    to: &Target,
    t: OutputTable,
    staging: &Path,
    part: &str,
    batch: &Batch,
    rejects: &[Reject],
) -> Result<(PathBuf, OutputFile)> {
    let file = Staged {
        staging,
        table: t.as_str(),
        as_of: to.as_of,
        part,
    };
    match t {
        OutputTable::PersonMonth => {
            file.write_by_person(to.keys, &batch.months, |r| r.person, person_month)
        }
        OutputTable::PersonStatus => file.write_by_person(
            to.keys,
            &batch.status,
            |r| r.person,
            |rows, sel, keys| person_status(rows, sel, keys, to.rules_sha256),
        ),
        OutputTable::Gaps => file.write_by_person(to.keys, &batch.gaps, |r| r.person, gaps),
        OutputTable::Findings => {
            file.write_by_person(to.keys, &batch.findings, |r| r.person, findings)
        }
        OutputTable::Rejects => {
            // `rejects` has no person: sorted by source file, then line.
            let mut order: Vec<IdxSize> = (0..rejects.len() as IdxSize).collect();
            order.sort_by(|&a, &b| {
                let (x, y) = (&rejects[a as usize], &rejects[b as usize]);
                (&x.source_file, x.line).cmp(&(&y.source_file, y.line))
            });
            file.write(rejects.len(), Some(&order), |sel| {
                rejects_frame(rejects, sel, to.keys)
            })
        }
    }
}

/// The rows of one output chunk, in output order: `rows[sel[0]], rows[sel[1]], …`.
fn picked<'a, T>(rows: &'a [T], sel: &[IdxSize]) -> Vec<&'a T> {
    sel.iter().map(|&i| &rows[i as usize]).collect()
}

/// The `person_key` of every row, made once per person (rows come grouped by
/// person): the distinct keys, each row's index into them, and — for pseudonyms,
/// which do not sort like the IDs — the row order that sorts by key (stable, so a
/// person's rows keep their period order). Raw IDs already sort as the engine's order.
struct RowKeys {
    distinct: Vec<String>,
    of_row: Vec<IdxSize>,
    order: Option<Vec<IdxSize>>,
}

impl RowKeys {
    fn new(keys: &KeyMode, persons: impl Iterator<Item = PersonId>) -> RowKeys {
        let mut distinct: Vec<String> = Vec::new();
        let mut of_row = Vec::with_capacity(persons.size_hint().0);
        let mut last: Option<PersonId> = None;
        for p in persons {
            if last != Some(p) {
                distinct.push(keys.key(p));
                last = Some(p);
            }
            of_row.push(distinct.len() as IdxSize - 1);
        }
        let order = match keys {
            KeyMode::Raw => None,
            KeyMode::Pseudonym(_) => {
                let mut order: Vec<IdxSize> = (0..of_row.len() as IdxSize).collect();
                order.sort_by(|&a, &b| {
                    distinct[of_row[a as usize] as usize]
                        .cmp(&distinct[of_row[b as usize] as usize])
                });
                Some(order)
            }
        };
        RowKeys {
            distinct,
            of_row,
            order,
        }
    }

    /// Adds the `person_key` column of the rows `sel` (whose keys come in runs).
    fn push(&self, c: &mut Cols, sel: &[IdxSize]) -> Result<()> {
        let mut distinct: Vec<Option<&str>> = Vec::new();
        let mut last = None;
        let idx = sel
            .iter()
            .map(|&i| {
                let k = self.of_row[i as usize];
                if last != Some(k) {
                    distinct.push(Some(self.distinct[k as usize].as_str()));
                    last = Some(k);
                }
                distinct.len() as IdxSize - 1
            })
            .collect();
        c.labels("person_key", &distinct, idx)
    }
}

/// Column builder for one chunk of a table.
struct Cols {
    n: usize,
    cols: Vec<Column>,
}

impl Cols {
    fn new(n: usize) -> Self {
        Cols {
            n,
            cols: Vec::new(),
        }
    }
    /// A column of a type polars builds directly (strings, flags, ints, doubles).
    fn plain<T, P: ?Sized>(&mut self, name: &str, v: Vec<T>)
    where
        Series: NamedFrom<Vec<T>, P>,
    {
        self.cols.push(Series::new(name.into(), v).into_column());
    }
    /// A string column of repeating values (codes, regions, person keys): the distinct
    /// values are built once and each row gathers its value by index. Building ten
    /// million strings one by one costs about a second per column; the gather, a few
    /// milliseconds.
    fn labels(&mut self, name: &str, distinct: &[Option<&str>], idx: Vec<IdxSize>) -> Result<()> {
        let values = StringChunked::from_iter_options(name.into(), distinct.iter().copied());
        let column = values.take(idx.as_slice())?;
        self.cols.push(column.into_series().into_column());
        Ok(())
    }
    /// A column of CONTRACT codes (null where `None`).
    fn code<E: Code>(&mut self, name: &str, v: impl Iterator<Item = Option<E>>) -> Result<()> {
        let mut distinct: Vec<Option<&str>> = E::ALL.iter().map(|e| Some(e.code())).collect();
        distinct.push(None);
        let null = E::ALL.len() as IdxSize;
        let idx = v
            .map(|e| e.map_or(null, |e| e.index() as IdxSize))
            .collect();
        self.labels(name, &distinct, idx)
    }
    fn date(&mut self, name: &str, v: Vec<Option<Date>>) {
        let ca =
            Int32Chunked::from_iter_options(name.into(), v.into_iter().map(|d| d.map(|d| d.0)));
        self.cols.push(ca.into_date().into_column());
    }
    fn month(&mut self, name: &str, v: Vec<Option<Month>>) {
        self.date(
            name,
            v.into_iter().map(|m| m.map(Month::first_day)).collect(),
        );
    }
    fn money(&mut self, name: &str, v: Vec<Option<Fen>>) -> Result<()> {
        let ca = Int128Chunked::from_iter_options(
            name.into(),
            // Saturated: a DECIMAL(18,2) holds at most Fen::MAX.
            v.into_iter()
                .map(|f| f.map(|f| Fen::saturating(f.0 as i128).0 as i128)),
        );
        self.cols.push(ca.into_decimal(18, 2)?.into_column());
        Ok(())
    }
    fn finish(self) -> Result<DataFrame> {
        Ok(DataFrame::new(self.n, self.cols)?)
    }
}

/// The `region` column: each region's 6-digit code formatted once.
fn regions(c: &mut Cols, regions: impl Iterator<Item = u32> + Clone) -> Result<()> {
    let codes: Vec<u32> = regions
        .clone()
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .collect();
    let names: Vec<String> = codes.iter().map(|r| format!("{r:06}")).collect();
    let distinct: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
    let idx = regions
        .map(|r| codes.binary_search(&r).unwrap_or_default() as IdxSize)
        .collect();
    c.labels("region", &distinct, idx)
}

fn person_month(all: &[MonthRow], sel: &[IdxSize], keys: &RowKeys) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.month("period", rows.iter().map(|r| Some(r.period)).collect());
    c.code("scheme", rows.iter().map(|r| Some(r.scheme)))?;
    regions(&mut c, rows.iter().map(|r| r.region))?;
    c.plain("paid", rows.iter().map(|r| r.paid).collect());
    c.date("paid_on", rows.iter().map(|r| r.paid_on).collect());
    c.plain("on_time", rows.iter().map(|r| r.on_time).collect());
    c.code("special_group", rows.iter().map(|r| r.special_group))?;
    c.code("benefit", rows.iter().map(|r| Some(r.benefit)))?;
    c.plain(
        "benefit_ratio",
        rows.iter().map(|r| r.benefit_ratio).collect(),
    );
    c.code("reason", rows.iter().map(|r| Some(r.reason)))?;
    c.plain("gap_id", rows.iter().map(|r| r.gap_id).collect());
    c.finish()
}

fn person_status(
    all: &[StatusRow],
    sel: &[IdxSize],
    keys: &RowKeys,
    rules_sha256: &str,
) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.code("gender", rows.iter().map(|r| Some(r.gender)))?;
    c.date(
        "birth_date",
        rows.iter().map(|r| Some(r.birth_date)).collect(),
    );
    regions(&mut c, rows.iter().map(|r| r.region))?;
    c.code("scheme", rows.iter().map(|r| Some(r.scheme)))?;
    c.code("special_group", rows.iter().map(|r| r.special_group))?;
    c.code("benefit", rows.iter().map(|r| Some(r.benefit)))?;
    c.plain(
        "benefit_ratio",
        rows.iter().map(|r| r.benefit_ratio).collect(),
    );
    c.date(
        "benefits_from",
        rows.iter().map(|r| r.benefits_from).collect(),
    );
    c.month(
        "first_period",
        rows.iter().map(|r| Some(r.first_period)).collect(),
    );
    c.month(
        "last_paid_period",
        rows.iter().map(|r| r.last_paid_period).collect(),
    );
    c.plain(
        "cumulative_months",
        rows.iter().map(|r| r.cumulative_months).collect(),
    );
    c.plain(
        "continuous_months",
        rows.iter().map(|r| r.continuous_months).collect(),
    );
    c.plain(
        "continuity_at_risk",
        rows.iter().map(|r| r.continuity_at_risk).collect(),
    );
    c.plain("gap_count", rows.iter().map(|r| r.gap_count).collect());
    c.plain(
        "open_gap_months",
        rows.iter().map(|r| r.open_gap_months).collect(),
    );
    c.plain(
        "longest_gap_months",
        rows.iter().map(|r| r.longest_gap_months).collect(),
    );
    c.plain(
        "arrears_months",
        rows.iter().map(|r| r.arrears_months).collect(),
    );
    c.money(
        "arrears_amount",
        rows.iter().map(|r| Some(r.arrears_amount)).collect(),
    )?;
    c.money(
        "late_fee_amount",
        rows.iter().map(|r| Some(r.late_fee_amount)).collect(),
    )?;
    c.plain(
        "retirement_min_months",
        rows.iter().map(|r| r.retirement_min_months).collect(),
    );
    c.plain(
        "months_short",
        rows.iter().map(|r| r.months_short).collect(),
    );
    c.money(
        "lump_sum_estimate",
        rows.iter().map(|r| r.lump_sum_estimate).collect(),
    )?;
    c.plain(
        "resident_continuous_years",
        rows.iter().map(|r| r.resident_continuous_years).collect(),
    );
    c.money(
        "incentive_raise",
        rows.iter().map(|r| Some(r.incentive_raise)).collect(),
    )?;
    c.plain("rules_sha256", vec![rules_sha256.to_string(); rows.len()]);
    c.finish()
}

fn gaps(all: &[GapRow], sel: &[IdxSize], keys: &RowKeys) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.plain("gap_id", rows.iter().map(|r| r.gap_id).collect());
    c.code("kind", rows.iter().map(|r| Some(r.kind)))?;
    c.date(
        "gap_start",
        rows.iter().map(|r| Some(r.gap_start)).collect(),
    );
    c.date("gap_end", rows.iter().map(|r| Some(r.gap_end)).collect());
    c.plain("months", rows.iter().map(|r| r.months).collect());
    c.plain("open", rows.iter().map(|r| r.open).collect());
    c.code("payer", rows.iter().map(|r| r.payer))?;
    c.code("state", rows.iter().map(|r| Some(r.state)))?;
    c.date("backpaid_on", rows.iter().map(|r| r.backpaid_on).collect());
    c.date("deadline", rows.iter().map(|r| r.deadline).collect());
    c.money(
        "backpay_amount",
        rows.iter().map(|r| Some(r.backpay_amount)).collect(),
    )?;
    c.money(
        "late_fee_amount",
        rows.iter().map(|r| Some(r.late_fee_amount)).collect(),
    )?;
    c.plain("wait_months", rows.iter().map(|r| r.wait_months).collect());
    c.date(
        "benefits_from",
        rows.iter().map(|r| r.benefits_from).collect(),
    );
    c.finish()
}

fn findings(all: &[FindingRow], sel: &[IdxSize], keys: &RowKeys) -> Result<DataFrame> {
    let rows = picked(all, sel);
    let mut c = Cols::new(rows.len());
    keys.push(&mut c, sel)?;
    c.month("period", rows.iter().map(|r| Some(r.period)).collect());
    c.code("code", rows.iter().map(|r| Some(r.code)))?;
    c.plain("detail", rows.iter().map(|r| r.detail.clone()).collect());
    c.finish()
}

fn rejects_frame(all: &[Reject], sel: &[IdxSize], keys: &KeyMode) -> Result<DataFrame> {
    let rejects = picked(all, sel);
    let mut c = Cols::new(rejects.len());
    c.plain(
        "source_file",
        rejects.iter().map(|r| keys.mask(&r.source_file)).collect(),
    );
    c.plain("line", rejects.iter().map(|r| r.line as i64).collect());
    c.plain(
        "column",
        rejects.iter().map(|r| r.column.as_deref()).collect(),
    );
    c.plain(
        "error_type",
        rejects.iter().map(|r| r.error_type.as_str()).collect(),
    );
    c.plain(
        "message",
        rejects.iter().map(|r| keys.mask(&r.message)).collect(),
    );
    c.plain("raw", rejects.iter().map(|r| keys.mask(&r.raw)).collect());
    c.finish()
}

/// One part file to stage: `staging/<table>/as_of=M/<part>`.
struct Staged<'a> {
    staging: &'a Path,
    table: &'a str,
    as_of: Month,
    part: &'a str,
}

impl Staged<'_> {
    /// Writes a table of person rows (grouped by person) in `person_key` order.
    fn write_by_person<T>(
        &self,
        keys: &KeyMode,
        rows: &[T],
        person: impl Fn(&T) -> PersonId,
        build: impl Fn(&[T], &[IdxSize], &RowKeys) -> Result<DataFrame> + Sync,
    ) -> Result<(PathBuf, OutputFile)>
    where
        T: Sync,
    {
        let keys = RowKeys::new(keys, rows.iter().map(person));
        self.write(rows.len(), keys.order.as_deref(), |sel| {
            build(rows, sel, &keys)
        })
    }

    /// Writes a table of `n` rows, one row group of [`ROW_GROUP`] rows at a time (so
    /// at most two row groups' columns are in memory), and fsyncs it. `order` lists the
    /// rows in output order (`None`: as they are); `build` makes the frame of the rows
    /// it is given.
    fn write(
        &self,
        n: usize,
        order: Option<&[IdxSize]>,
        build: impl Fn(&[IdxSize]) -> Result<DataFrame> + Sync,
    ) -> Result<(PathBuf, OutputFile)> {
        let dir = partition_dir(self.staging, self.table, self.as_of);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir, "cannot create staging folder"))?;
        let staged = dir.join(self.part);
        let parquet_err =
            |e: PolarsError| Error::output(&staged, format!("cannot write Parquet: {e}"));
        let mut file = File::create(&staged).map_err(io_err(&staged, "cannot create"))?;
        let chunk = |start: usize| -> Result<DataFrame> {
            let end = (start + ROW_GROUP).min(n);
            let sel: Vec<IdxSize> = match order {
                Some(o) => o[start..end].to_vec(),
                None => (start as IdxSize..end as IdxSize).collect(),
            };
            build(&sel).map_err(|e| Error::output(&staged, format!("cannot build rows: {e}")))
        };
        let mut first = chunk(0)?;
        let writer = ParquetWriter::new(&mut file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_row_group_size(Some(ROW_GROUP));
        if n <= ROW_GROUP {
            writer.finish(&mut first).map_err(parquet_err)?;
        } else {
            let mut batched = writer.batched(first.schema()).map_err(parquet_err)?;
            batched.write_batch(&first).map_err(parquet_err)?;
            drop(first);
            // The next row group is built (on one more thread) while this one is encoded
            // and written; the hand-over waits for the writer, so at most two row groups
            // of a table are in memory.
            std::thread::scope(|scope| -> Result<()> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Result<DataFrame>>(0);
                scope.spawn(move || {
                    for start in (ROW_GROUP..n).step_by(ROW_GROUP) {
                        let frame = chunk(start);
                        let failed = frame.is_err();
                        if tx.send(frame).is_err() || failed {
                            break;
                        }
                    }
                });
                for frame in rx {
                    batched.write_batch(&frame?).map_err(parquet_err)?;
                }
                Ok(())
            })?;
            batched.finish().map_err(parquet_err)?;
        }
        file.sync_all().map_err(io_err(&staged, "cannot sync"))?;
        drop(file);
        let bytes = std::fs::read(&staged).map_err(io_err(&staged, "cannot read back"))?;
        fsync_dir(&dir)?;
        let (table, as_of, part) = (self.table, self.as_of, self.part);
        let written = OutputFile {
            table: table.to_string(),
            path: format!("{table}/as_of={as_of}/{part}"),
            rows: n as u64,
            bytes: bytes.len() as u64,
            sha256: crate::digest::sha256_hex(&bytes),
        };
        Ok((staged, written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_replaces_every_id_like_token_and_nothing_else() {
        let keys = KeyMode::Pseudonym(b"k".to_vec());
        let raw = "37020219850312011x,2025-13,employee,800.00,8000.00,2025-01-20,370200";
        let masked = keys.mask(raw);
        let h = crate::digest::hmac_sha256_hex(b"k", b"37020219850312011X");
        assert_eq!(
            masked,
            format!("{h},2025-13,employee,800.00,8000.00,2025-01-20,370200")
        );
        assert_eq!(
            keys.mask("bad check digit in 123456789012345 (15)"),
            format!(
                "bad check digit in {} (15)",
                crate::digest::hmac_sha256_hex(b"k", b"123456789012345")
            )
        );
        assert_eq!(keys.mask("短 12345678901234 ok"), "短 12345678901234 ok");
        assert_eq!(KeyMode::Raw.mask(raw), raw);
    }

    /// A table larger than a row group is written chunk by chunk; under pseudonyms
    /// the rows are reordered by key across chunks. The file must hold every row once,
    /// in key order, each person's months in period order.
    #[test]
    fn large_tables_are_written_in_key_order_row_group_by_row_group() {
        use crate::domain::{Benefit, Reason, Scheme};
        let months = 60;
        let people = (2 * ROW_GROUP + ROW_GROUP / 2) / months + 1;
        let mut batch = Batch::default();
        for p in 0..people as u64 {
            for m in 0..months as i32 {
                batch.months.push(MonthRow {
                    person: PersonId(11_010_119_900_307_000 * 11 + p * 11),
                    period: Month(2021 * 12 + m),
                    scheme: Scheme::Employee,
                    region: 110101 + (p % 3) as u32,
                    paid: m % 2 == 0,
                    paid_on: None,
                    on_time: false,
                    special_group: None,
                    benefit: Benefit::Active,
                    benefit_ratio: 1.0,
                    reason: Reason::Paid,
                    gap_id: Some(m),
                });
            }
        }
        let dir = std::env::temp_dir().join(format!("ledgerflow-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keys = KeyMode::Pseudonym(b"secret".to_vec());
        let to = Target {
            out: &dir,
            as_of: Month(2025 * 12 + 11),
            tables: &[OutputTable::PersonMonth],
            keys: &keys,
            rules_sha256: "",
        };
        let (path, written) = stage_table(
            &to,
            OutputTable::PersonMonth,
            &dir,
            "part-00000.parquet",
            &batch,
            &[],
        )
        .expect("write");
        assert_eq!(written.rows, (people * months) as u64);
        let df = ParquetReader::new(File::open(&path).expect("open"))
            .finish()
            .expect("read");
        assert_eq!(df.height(), people * months);
        let key = df
            .column("person_key")
            .expect("key")
            .str()
            .expect("str")
            .clone();
        let gap = df
            .column("gap_id")
            .expect("gap")
            .i32()
            .expect("i32")
            .clone();
        let mut seen = std::collections::BTreeSet::new();
        for i in 1..df.height() {
            let (a, b) = (key.get(i - 1), key.get(i));
            assert!(a <= b, "row {i}: keys out of order");
            if a == b {
                assert_eq!(gap.get(i), gap.get(i - 1).map(|g| g + 1), "row {i}");
            } else {
                assert_eq!(gap.get(i), Some(0), "row {i}");
                assert!(
                    seen.insert(b.map(str::to_string)),
                    "row {i}: key seen before"
                );
            }
        }
        assert_eq!(seen.len() + 1, people);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
