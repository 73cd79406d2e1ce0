//! One part file staged: row groups built and encoded one at a time, zstd with
//! statistics, fsynced, with its manifest entry (size, SHA-256, both taken from the
//! bytes as they are written, so the file is never read back or held whole).

use super::KeyMode;
use super::keys::RowKeys;
use crate::domain::Month;
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::store::{OutputFile, fsync_dir, io_err, partition_dir};
use polars::prelude::*;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
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
        let file = File::create(&staged).map_err(io_err(&staged, "cannot create"))?;
        let mut file = Hashing::new(file);
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
            .with_row_group_size(Some(ROW_GROUP))
            // The columns of a row group are encoded and compressed side by side.
            .set_parallel(true);
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
        let (bytes, sha256) = file.finish().map_err(io_err(&staged, "cannot write"))?;
        fsync_dir(&dir)?;
        let (table, as_of, part) = (self.table, self.as_of, self.part);
        let written = OutputFile {
            table: table.to_string(),
            path: format!("{table}/as_of={as_of}/{part}"),
            rows: n as u64,
            bytes,
            sha256,
        };
        Ok((staged, written))
    }
}

/// A buffered file that counts and hashes the bytes written to it.
struct Hashing {
    out: BufWriter<File>,
    sha: Sha256,
    bytes: u64,
}

impl Hashing {
    fn new(file: File) -> Self {
        Hashing {
            out: BufWriter::with_capacity(1 << 20, file),
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes and fsyncs the file; returns its size and lowercase hex SHA-256.
    fn finish(self) -> std::io::Result<(u64, String)> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((self.bytes, crate::digest::hex(&self.sha.finalize())))
    }
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
