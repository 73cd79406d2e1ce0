//! The ledger-file cache of `run --incremental`: each ledger file's checked rows and
//! rejects, stored under `OUT/_cache/ledger/<sha256>.rows` and keyed by the file's
//! SHA-256, so a nightly run parses and checks only new or changed files.
//!
//! An entry holds exactly what checking the file gives (accepted values with their
//! lines, per-row rejects, counts) before the cross-file duplicate check, which runs
//! on every run over all rows; so a run from the cache gives the same rows, rejects
//! and manifest as a run without it. Beside it, `<sha256>.raw` keeps the raw text of
//! the file's lines that were exact duplicates in some run (the `raw` of their
//! rejects), so unchanged files are not read again for it. Entries carry the build
//! (`crate::BUILD`), the CSV encoding, the `[inputs].sheet` asked for and the SHA-256
//! of the file they were made from (`.rows` also its path, with the `#SHEET` of an
//! Excel file); any mismatch or damage is a miss (the file is read again), so an entry
//! copied or renamed under another file's name is never used. Entries of files no
//! longer in the inputs are removed by `run --incremental` once its carry-forward
//! state is stored (the carry-forward step reads old entries).
//!
//! Formats ([`crate::sealed`]: magic, postcard values, checksum): an [`EntryKey`]
//! (build, encoding, sha256, sheet), then for `.rows` a [`RowsEntry`] (derived from
//! the checked-row type, so a new column needs only a new magic), for `.raw` the map
//! line → text. [`put_value`] / [`get_value`] are the fixed-width row format of the
//! memory buckets' spill files ([`super::buckets`]).

use super::{FileOut, LEDGER_COLUMNS, LedgerValue, Part, Rej};
use crate::binfmt::Reader;
use crate::domain::{Date, Encoding, Fen, Month, Payer, RejectType, Scheme};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::{InputFile, InputKind};
use crate::sealed;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"LFROWS5\n";
const RAW_MAGIC: &[u8; 8] = b"LFRAW04\n";

/// What an entry was made for (see the module docs); any difference is a miss.
#[derive(PartialEq, Serialize, Deserialize)]
struct EntryKey<'a> {
    build: Cow<'a, str>,
    encoding: u8,
    sha256: Cow<'a, str>,
    sheet: Cow<'a, str>,
}

/// A `.rows` entry after its key: the [`InputFile`] of the check, `#SHEET` suffix of
/// its name, accepted values with their lines, rejects.
#[derive(Serialize, Deserialize)]
struct RowsEntry<'a> {
    /// The file's name as the inputs list it (with the `#SHEET` of an Excel file).
    path: Cow<'a, str>,
    bytes: u64,
    rows_read: u64,
    rows_accepted: u64,
    rows_rejected: u64,
    unknown_columns: Cow<'a, [String]>,
    suffix: Cow<'a, str>,
    values: Cow<'a, [LedgerValue]>,
    lines: Cow<'a, [u32]>,
    rejects: Vec<CachedReject<'a>>,
}

/// A reject of a cached file (its column as an index of the ledger columns).
#[derive(Serialize, Deserialize)]
struct CachedReject<'a> {
    line: u32,
    column: Option<u8>,
    kind: RejectType,
    message: Cow<'a, str>,
    raw: Cow<'a, str>,
}

pub(super) struct LedgerCache {
    dir: PathBuf,
    encoding: Encoding,
    /// The sheet asked for (`""`: the first).
    sheet: String,
}

fn encoding_code(e: Encoding) -> u8 {
    match e {
        Encoding::Utf8 => 0,
        Encoding::Gbk => 1,
        Encoding::Gb18030 => 2,
    }
}

impl LedgerCache {
    pub(super) fn new(dir: &Path, encoding: Encoding, sheet: Option<&str>) -> Result<LedgerCache> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::output(dir, format!("cannot create the cache folder: {e}")))?;
        Ok(LedgerCache {
            dir: dir.to_path_buf(),
            encoding,
            sheet: sheet.unwrap_or_default().to_string(),
        })
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.rows"))
    }

    /// The cached check of a file with this SHA-256, as file number `file` at `path`.
    /// The entry must have been made from a file with this SHA-256 and, unless `path`
    /// is `None` (a lookup by content only), at this path: an entry copied or renamed
    /// under another file's name is a miss.
    pub(super) fn load(
        &self,
        sha256: &str,
        path: Option<&Path>,
        file: u32,
    ) -> Option<FileOut<LedgerValue>> {
        let data = std::fs::read(self.entry(sha256)).ok()?;
        let e: RowsEntry = sealed::last(self.check_key(&data, MAGIC, sha256)?)?;
        if path.is_some_and(|p| format!("{}{}", p.display(), e.suffix) != e.path) {
            return None;
        }
        if e.values.len() != e.lines.len() {
            return None;
        }
        let rejects = e
            .rejects
            .into_iter()
            .map(|r| {
                let column = match r.column {
                    None => None,
                    Some(i) => Some(*LEDGER_COLUMNS.get(i as usize)?),
                };
                Some(Rej {
                    file,
                    line: r.line,
                    column,
                    kind: r.kind,
                    message: r.message.into_owned(),
                    raw: r.raw.into_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FileOut {
            file: InputFile {
                kind: InputKind::Ledger,
                path: e.path.into_owned(),
                bytes: e.bytes,
                sha256: sha256.to_string(),
                rows_read: e.rows_read,
                rows_accepted: e.rows_accepted,
                rows_rejected: e.rows_rejected,
                unknown_columns: e.unknown_columns.into_owned(),
            },
            parts: vec![Part {
                values: e.values.into_owned(),
                lines: e.lines.into_owned(),
                faults: Vec::new(),
            }],
            rejects,
        })
    }

    /// Stores a file's check, read from `path` (written atomically; a file whose
    /// rejects name a column outside the ledger columns is simply not cached).
    pub(super) fn store(&self, out: &FileOut<LedgerValue>, path: &Path) -> Result<()> {
        let f = &out.file;
        let mut rejects = Vec::with_capacity(out.rejects.len());
        for rej in &out.rejects {
            let column = match rej.column {
                None => None,
                Some(c) => match LEDGER_COLUMNS.iter().position(|x| *x == c) {
                    Some(i) => Some(i as u8),
                    None => return Ok(()),
                },
            };
            rejects.push(CachedReject {
                line: rej.line,
                column,
                kind: rej.kind,
                message: Cow::Borrowed(&rej.message),
                raw: Cow::Borrowed(&rej.raw),
            });
        }
        let name = path.display().to_string();
        let entry = RowsEntry {
            path: Cow::Borrowed(&f.path),
            bytes: f.bytes,
            rows_read: f.rows_read,
            rows_accepted: f.rows_accepted,
            rows_rejected: f.rows_rejected,
            unknown_columns: Cow::Borrowed(&f.unknown_columns),
            suffix: Cow::Borrowed(f.path.strip_prefix(name.as_str()).unwrap_or("")),
            values: Cow::Owned(
                out.parts
                    .iter()
                    .flat_map(|p| p.values.iter().copied())
                    .collect(),
            ),
            lines: Cow::Owned(
                out.parts
                    .iter()
                    .flat_map(|p| p.lines.iter().copied())
                    .collect(),
            ),
            rejects,
        };
        let data = self.write(MAGIC, &f.sha256, 64 + out.accepted() * 40, &entry)?;
        crate::store::write_file_atomically(&self.entry(&f.sha256), &data)
    }

    /// What an entry is of: this build, encoding and sheet, the file with `sha256`.
    fn key<'a>(&'a self, sha256: &'a str) -> EntryKey<'a> {
        EntryKey {
            build: Cow::Borrowed(crate::BUILD),
            encoding: encoding_code(self.encoding),
            sha256: Cow::Borrowed(sha256),
            sheet: Cow::Borrowed(&self.sheet),
        }
    }

    /// A sealed entry: magic, [`EntryKey`], the value.
    fn write<T: Serialize>(
        &self,
        magic: &[u8; 8],
        sha256: &str,
        capacity: usize,
        value: &T,
    ) -> Result<Vec<u8>> {
        let fail = |e: String| Error::output(&self.dir, format!("ledger cache entry: {e}"));
        let mut w = sealed::begin(magic, capacity);
        sealed::put(&mut w, &self.key(sha256)).map_err(fail)?;
        sealed::put(&mut w, value).map_err(fail)?;
        Ok(sealed::finish(w))
    }

    /// The value bytes of an entry; `None` unless it was written by [`Self::write`]
    /// with this magic, by this build, for this encoding and sheet, of the file with
    /// `sha256`, and is undamaged.
    fn check_key<'a>(&self, data: &'a [u8], magic: &[u8; 8], sha256: &str) -> Option<&'a [u8]> {
        let mut at = sealed::open(data, magic)?;
        let key: EntryKey = sealed::take(&mut at)?;
        (key == self.key(sha256)).then_some(at)
    }

    fn raw_entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.raw"))
    }

    /// The raw text of the lines of this file that were duplicates in earlier runs.
    pub(super) fn load_raw(&self, sha256: &str) -> BTreeMap<u32, String> {
        let read = || -> Option<BTreeMap<u32, String>> {
            let data = std::fs::read(self.raw_entry(sha256)).ok()?;
            sealed::last(self.check_key(&data, RAW_MAGIC, sha256)?)
        };
        read().unwrap_or_default()
    }

    /// Stores the raw text of these lines of the file (written atomically).
    pub(super) fn store_raw(&self, sha256: &str, raw: &BTreeMap<u32, String>) -> Result<()> {
        let data = self.write(RAW_MAGIC, sha256, 64, raw)?;
        crate::store::write_file_atomically(&self.raw_entry(sha256), &data)
    }

    /// Removes the entries of files that are no longer inputs.
    pub(super) fn retain(&self, keep: &[&str]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let sha = name
                .strip_suffix(".rows")
                .or_else(|| name.strip_suffix(".raw"))
                .unwrap_or("");
            if !keep.contains(&sha) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Appends one checked row (48 bytes; see the module docs).
pub(super) fn put_value(w: &mut Vec<u8>, v: &LedgerValue) {
    w.extend_from_slice(&v.person.0.to_le_bytes());
    w.extend_from_slice(&v.period.0.to_le_bytes());
    w.push(v.scheme as u8);
    w.push(v.payer as u8);
    w.extend_from_slice(&v.amount.0.to_le_bytes());
    w.push(v.base.is_some() as u8);
    w.extend_from_slice(&v.base.map_or(0, |b| b.0).to_le_bytes());
    w.push(v.paid_on.is_some() as u8);
    w.extend_from_slice(&v.paid_on.map_or(0, |d| d.0).to_le_bytes());
    w.extend_from_slice(&v.region.to_le_bytes());
    w.extend_from_slice(&v.text.to_le_bytes());
}

/// Reads one row written by [`put_value`].
pub(super) fn get_value(r: &mut Reader) -> Option<LedgerValue> {
    let person = PersonId(r.u64()?);
    let period = Month(r.i32()?);
    let scheme = *Scheme::ALL.get(r.u8()? as usize)?;
    let payer = *Payer::ALL.get(r.u8()? as usize)?;
    let amount = Fen(r.i64()?);
    let (has_base, base) = (r.flag()?, r.i64()?);
    let (has_paid_on, paid_on) = (r.flag()?, r.i32()?);
    Some(LedgerValue {
        person,
        period,
        scheme,
        payer,
        amount,
        base: has_base.then_some(Fen(base)),
        paid_on: has_paid_on.then_some(Date(paid_on)),
        region: r.u32()?,
        text: r.u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_the_old_format_damaged_or_for_another_sheet_are_misses() {
        let dir =
            std::env::temp_dir().join(format!("ledgerflow-cache-format-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = LedgerCache::new(&dir, Encoding::Utf8, None).unwrap();
        let sha = "ab".repeat(32);
        // Entries of the hand-written format: the old magic and its header fields.
        for (magic, entry) in [
            (b"LFROWS4\n", cache.entry(&sha)),
            (b"LFRAW03\n", cache.raw_entry(&sha)),
        ] {
            let mut old = magic.to_vec();
            crate::binfmt::put_str(&mut old, crate::BUILD);
            old.push(0);
            crate::binfmt::put_str(&mut old, &sha);
            crate::binfmt::put_str(&mut old, "");
            old.extend_from_slice(&[0; 16]);
            crate::binfmt::seal(&mut old);
            std::fs::write(entry, &old).unwrap();
        }
        assert!(cache.load(&sha, None, 0).is_none());
        assert!(cache.load_raw(&sha).is_empty());

        let raw = BTreeMap::from([(3u32, "a,b".to_string()), (9, "断缴,x".to_string())]);
        cache.store_raw(&sha, &raw).unwrap();
        assert_eq!(cache.load_raw(&sha), raw);
        let other_sheet = LedgerCache::new(&dir, Encoding::Utf8, Some("2024")).unwrap();
        assert!(other_sheet.load_raw(&sha).is_empty());
        assert!(cache.load_raw(&"cd".repeat(32)).is_empty());
        let data = std::fs::read(cache.raw_entry(&sha)).unwrap();
        std::fs::write(cache.raw_entry(&sha), &data[..data.len() - 3]).unwrap();
        assert!(cache.load_raw(&sha).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
