//! Writing the generated months: one CSV writer per month, or a spool per month
//! converted to Parquet one month at a time.

use super::ledger::*;
use super::*;
// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

pub(super) fn write_line(w: &mut impl Write, row: &Row) -> std::io::Result<()> {
    let f = &row.fields;
    if row.ragged {
        // Alternate between one field too many and two too few.
        if f[AMOUNT].len().is_multiple_of(2) {
            writeln!(w, "{},EXTRA", f.join(","))
        } else {
            writeln!(w, "{}", f[..7].join(","))
        }
    } else {
        writeln!(w, "{}", f.join(","))
    }
}

/// One buffered writer per settlement month (CSV files or Parquet spool files).
pub(super) struct MonthWriters {
    pub(super) paths: Vec<PathBuf>,
    pub(super) writers: Vec<BufWriter<File>>,
}

impl MonthWriters {
    pub(super) fn open(paths: Vec<PathBuf>, header: bool) -> Result<MonthWriters> {
        let mut writers = Vec::with_capacity(paths.len());
        for p in &paths {
            let f = File::create(p).map_err(|e| Error::output(p, e))?;
            let mut w = BufWriter::with_capacity(64 * 1024, f);
            if header {
                writeln!(w, "{}", LEDGER_HEADER.join(",")).map_err(|e| Error::output(p, e))?;
            }
            writers.push(w);
        }
        Ok(MonthWriters { paths, writers })
    }
    pub(super) fn write(&mut self, k: usize, row: &Row) -> Result<()> {
        write_line(&mut self.writers[k], row).map_err(|e| Error::output(&self.paths[k], e))
    }
    pub(super) fn finish(self) -> Result<Vec<PathBuf>> {
        for (w, p) in self.writers.into_iter().zip(&self.paths) {
            w.into_inner().map_err(|e| Error::output(p, e.error()))?;
        }
        Ok(self.paths)
    }
}

/// Converts one spooled month (lines of 9 comma-separated fields) to Parquet.
pub(super) fn spool_to_parquet(spool: &Path, target: &Path) -> Result<()> {
    let file = File::open(spool).map_err(|e| Error::output(spool, e))?;
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); LEDGER_HEADER.len()];
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::output(spool, e))?;
        let mut n = 0;
        for (c, v) in cols.iter_mut().zip(line.split(',')) {
            c.push((!v.is_empty()).then(|| v.to_string()));
            n += 1;
        }
        if n != LEDGER_HEADER.len() {
            return Err(Error::Internal(format!(
                "{}: spooled row with {n} fields",
                spool.display()
            )));
        }
    }
    let height = cols[0].len();
    let columns: Vec<Column> = LEDGER_HEADER
        .iter()
        .zip(cols)
        .map(|(name, values)| Column::new((*name).into(), values))
        .collect();
    let mut df = DataFrame::new(height, columns)?;
    let f = File::create(target).map_err(|e| Error::output(target, e))?;
    ParquetWriter::new(f)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df)
        .map_err(|e| Error::output(target, e))?;
    fs::remove_file(spool).map_err(|e| Error::output(spool, e))?;
    Ok(())
}

/// Removes ledger files of an earlier run (`ledger-*.csv|parquet`), so a rerun with
/// fewer months or another format leaves exactly its own files.
pub(super) fn clear_old_ledger(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::output(dir, e))? {
        let entry = entry.map_err(|e| Error::output(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("ledger-")
            && (name.ends_with(".csv") || name.ends_with(".parquet") || name.ends_with(".spool"));
        if ours {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| Error::output(&p, e))?;
        }
    }
    Ok(())
}
