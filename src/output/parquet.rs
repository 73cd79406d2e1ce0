//! One part file staged: row groups built and encoded one at a time, zstd with
//! statistics, fsynced, with its manifest entry (size, SHA-256).

use super::KeyMode;
use super::keys::RowKeys;
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::store::{OutputFile, fsync_dir, io_err, partition_dir};
use polars::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Rows per Parquet row group (DuckDB's and polars' streaming default).
pub(super) const ROW_GROUP: usize = 122_880;

/// One part file to stage: `staging/<table>/as_of=M/<part>`.
pub(super) struct Staged<'a> {
    pub(super) staging: &'a Path,
    pub(super) table: &'a str,
    pub(super) as_of: Month,
    pub(super) part: &'a str,
}

impl Staged<'_> {
    /// Writes a table of person rows (grouped by person) in `person_key` order.
    pub(super) fn write_by_person<T>(
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
    pub(super) fn write(
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
