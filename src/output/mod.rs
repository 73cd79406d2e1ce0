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
//!
//! The seams: `keys` (which rows go out in which order, and their `person_key`),
//! `frames` (the columns of each table for a chunk of rows), `parquet` (row groups
//! encoded into one staged, fsynced part file). This file says which table is built
//! from what; it knows no shards or buckets (the run engine names the part file).

use crate::config::OutputTable;
use crate::domain::Month;
use crate::engine::Batch;
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::Reject;
use polars::prelude::IdxSize;
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

mod frames;
mod keys;
mod parquet;

use frames::{findings, gaps, person_month, person_status, rejects_frame};
use parquet::Staged;

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

#[cfg(test)]
mod tests {
    use super::parquet::ROW_GROUP;
    use super::*;
    use crate::engine::MonthRow;
    use polars::prelude::ParquetReader;
    use polars::prelude::SerReader;
    use std::fs::File;

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

    /// `people` persons with `months` months each, a region of three and a gap per month.
    fn month_batch(people: usize, months: usize) -> Batch {
        use crate::domain::{Benefit, Reason, Scheme};
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
        batch
    }

    /// Stages the `person_month` table of `batch` under `dir`.
    fn stage_months(dir: &Path, batch: &Batch, keys: &KeyMode) -> (PathBuf, OutputFile) {
        let to = Target {
            out: dir,
            as_of: Month(2025 * 12 + 11),
            tables: &[OutputTable::PersonMonth],
            keys,
            rules_sha256: "",
        };
        let file = "part-00000.parquet";
        stage_table(&to, OutputTable::PersonMonth, dir, file, batch, &[]).expect("write")
    }

    /// The low-cardinality text columns go out dictionary-encoded yet stay plain
    /// strings (DuckDB VARCHAR), and the manifest's size and SHA-256, taken while the
    /// file is written, are those of the file on disk.
    #[test]
    fn text_columns_are_dictionary_encoded_strings_and_the_digest_is_the_files() {
        let dir = std::env::temp_dir().join(format!("ledgerflow-dict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let batch = month_batch(50, 60);
        let (path, written) = stage_months(&dir, &batch, &KeyMode::Raw);
        let bytes = std::fs::read(&path).expect("read back");
        assert_eq!(written.bytes, bytes.len() as u64);
        assert_eq!(written.sha256, crate::digest::sha256_hex(&bytes));
        let mut reader = ParquetReader::new(File::open(&path).expect("open"));
        let text = [
            "person_key",
            "scheme",
            "region",
            "special_group",
            "benefit",
            "reason",
        ];
        let schema = reader.schema().expect("schema");
        for name in text {
            let field = schema.get(name).expect("column");
            assert!(
                matches!(
                    field.dtype,
                    polars::prelude::ArrowDataType::Utf8View
                        | polars::prelude::ArrowDataType::LargeUtf8
                ),
                "{name}: {:?}",
                field.dtype
            );
        }
        let meta = reader.get_metadata().expect("metadata").clone();
        assert_eq!(meta.row_groups.len(), 1);
        for column in meta.row_groups[0].parquet_columns() {
            let name = column.descriptor().path_in_schema[0].as_str();
            if text.contains(&name) {
                assert!(
                    column.dictionary_page_offset().is_some(),
                    "{name} is not dictionary-encoded"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A table larger than a row group is written chunk by chunk; under pseudonyms
    /// the rows are reordered by key across chunks. The file must hold every row once,
    /// in key order, each person's months in period order.
    #[test]
    fn large_tables_are_written_in_key_order_row_group_by_row_group() {
        let months = 60;
        let people = (2 * ROW_GROUP + ROW_GROUP / 2) / months + 1;
        let batch = month_batch(people, months);
        let dir = std::env::temp_dir().join(format!("ledgerflow-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keys = KeyMode::Pseudonym(b"secret".to_vec());
        let (path, written) = stage_months(&dir, &batch, &keys);
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
