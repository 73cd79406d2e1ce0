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
//! state is stored (see [`crate::carry`], which reads old entries).
//!
//! Formats (little-endian, sealed with a checksum): `.rows`: magic, build, encoding,
//! sha256, sheet, path, counts, unknown columns, the `#SHEET` suffix of the file's
//! name, then per value `person u64, period i32, scheme u8, payer u8, amount i64, base
//! (u8 flag, i64), paid_on (u8 flag, i32), region u32, text u64, line u32`, then per
//! reject `line u32, column u8 (255 = none), kind u8, message, raw`. `.raw`: magic,
//! build, encoding, sha256, sheet, then `line u32, text` per line.

use super::{FileOut, LEDGER_COLUMNS, LedgerValue, Part, Rej};
use crate::binfmt::{Reader, put_str, seal, unseal};
use crate::domain::{Date, Encoding, Fen, Month, Payer, RejectType, Scheme};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::ledger::{InputFile, InputKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"LFROWS4\n";
const RAW_MAGIC: &[u8; 8] = b"LFRAW03\n";

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
        let mut r = Reader::new(unseal(&data)?);
        self.check_header(&mut r, MAGIC, sha256)?;
        let made_from = r.string()?;
        let (bytes, rows_read, rows_accepted, rows_rejected) =
            (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let unknown_columns = (0..r.u32()?)
            .map(|_| r.string())
            .collect::<Option<Vec<_>>>()?;
        let suffix = r.string()?;
        if path.is_some_and(|p| format!("{}{suffix}", p.display()) != made_from) {
            return None;
        }
        let n = usize::try_from(r.u64()?).ok()?;
        let mut values = Vec::with_capacity(n.min(data.len() / 40));
        let mut lines = Vec::with_capacity(n.min(data.len() / 40));
        for _ in 0..n {
            values.push(get_value(&mut r)?);
            lines.push(r.u32()?);
        }
        let m = r.u64()?;
        let mut rejects = Vec::new();
        for _ in 0..m {
            let line = r.u32()?;
            let column = match r.u8()? {
                255 => None,
                i => Some(*LEDGER_COLUMNS.get(i as usize)?),
            };
            let kind = *RejectType::ALL.get(r.u8()? as usize)?;
            let (message, raw) = (r.string()?, r.string()?);
            rejects.push(Rej {
                file,
                line,
                column,
                kind,
                message,
                raw,
            });
        }
        r.done().then_some(())?;
        Some(FileOut {
            file: InputFile {
                kind: InputKind::Ledger,
                path: made_from,
                bytes,
                sha256: sha256.to_string(),
                rows_read,
                rows_accepted,
                rows_rejected,
                unknown_columns,
            },
            parts: vec![Part {
                values,
                lines,
                faults: Vec::new(),
            }],
            rejects,
        })
    }

    /// Stores a file's check, read from `path` (written atomically; a file whose
    /// rejects name a column outside the ledger columns is simply not cached).
    pub(super) fn store(&self, out: &FileOut<LedgerValue>, path: &Path) -> Result<()> {
        let f = &out.file;
        let mut w = self.header(MAGIC, &f.sha256, 64 + out.accepted() * 56);
        put_str(&mut w, &f.path);
        for v in [f.bytes, f.rows_read, f.rows_accepted, f.rows_rejected] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        w.extend_from_slice(&(f.unknown_columns.len() as u32).to_le_bytes());
        for c in &f.unknown_columns {
            put_str(&mut w, c);
        }
        let name = path.display().to_string();
        put_str(&mut w, f.path.strip_prefix(name.as_str()).unwrap_or(""));
        w.extend_from_slice(&(out.accepted() as u64).to_le_bytes());
        for part in &out.parts {
            for (v, line) in part.values.iter().zip(&part.lines) {
                put_value(&mut w, v);
                w.extend_from_slice(&line.to_le_bytes());
            }
        }
        w.extend_from_slice(&(out.rejects.len() as u64).to_le_bytes());
        for rej in &out.rejects {
            let column = match rej.column {
                None => 255u8,
                Some(c) => match LEDGER_COLUMNS.iter().position(|x| *x == c) {
                    Some(i) => i as u8,
                    None => return Ok(()),
                },
            };
            w.extend_from_slice(&rej.line.to_le_bytes());
            w.push(column);
            w.push(rej.kind as u8);
            put_str(&mut w, &rej.message);
            put_str(&mut w, &rej.raw);
        }
        seal(&mut w);
        crate::store::write_file_atomically(&self.entry(&f.sha256), &w)
    }

    /// The start of an entry: magic, build, encoding, the SHA-256 of the file it is of,
    /// the sheet asked for.
    fn header(&self, magic: &[u8; 8], sha256: &str, capacity: usize) -> Vec<u8> {
        let mut w = Vec::with_capacity(capacity);
        w.extend_from_slice(magic);
        put_str(&mut w, crate::BUILD);
        w.push(encoding_code(self.encoding));
        put_str(&mut w, sha256);
        put_str(&mut w, &self.sheet);
        w
    }

    /// Reads the start of an entry; `None` unless it was written by [`Self::header`]
    /// with this magic, by this build, for this encoding and sheet, of the file with
    /// `sha256`.
    fn check_header(&self, r: &mut Reader, magic: &[u8; 8], sha256: &str) -> Option<()> {
        (r.take(magic.len())? == magic
            && r.string()? == crate::BUILD
            && r.u8()? == encoding_code(self.encoding)
            && r.string()? == sha256
            && r.string()? == self.sheet)
            .then_some(())
    }

    fn raw_entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.raw"))
    }

    /// The raw text of the lines of this file that were duplicates in earlier runs.
    pub(super) fn load_raw(&self, sha256: &str) -> BTreeMap<u32, String> {
        let read = || -> Option<BTreeMap<u32, String>> {
            let data = std::fs::read(self.raw_entry(sha256)).ok()?;
            let mut r = Reader::new(unseal(&data)?);
            self.check_header(&mut r, RAW_MAGIC, sha256)?;
            let mut out = BTreeMap::new();
            for _ in 0..r.u32()? {
                out.insert(r.u32()?, r.string()?);
            }
            r.done().then_some(out)
        };
        read().unwrap_or_default()
    }

    /// Stores the raw text of these lines of the file (written atomically).
    pub(super) fn store_raw(&self, sha256: &str, raw: &BTreeMap<u32, String>) -> Result<()> {
        let mut w = self.header(RAW_MAGIC, sha256, 64);
        w.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        for (line, text) in raw {
            w.extend_from_slice(&line.to_le_bytes());
            put_str(&mut w, text);
        }
        seal(&mut w);
        crate::store::write_file_atomically(&self.raw_entry(sha256), &w)
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
