//! The output folder as a store: the run lock, per-run staging folders, temporary-file
//! names, fsync and atomic renames, and the sweep of what dead runs left behind.
//!
//! Bottom level: no imports of `output`, `manifest` or `report` (they all use this).
//!
//! - **Lock.** A run, backfill or `merge-manifests` holds an exclusive `flock(2)` on
//!   `OUT/_lock` for its whole life (the kernel releases it when the process dies, so
//!   a killed run never leaves a stale lock). Shard runs (`--shard K/N`) hold it
//!   shared: shards of one month may run side by side, never beside a run that
//!   publishes. The holder writes its pid into the file, for the message of the run
//!   that finds it taken.
//! - **Staging.** Every run stages its part files under its own folder
//!   `OUT/_staging/<pid>-<n>/`, removed when the run ends, failed or not.
//! - **Temporary files** are `.<name>.<pid>-<n>.tmp` beside their target, removed on
//!   a failed write.
//! - **Sweep.** Only a holder of the exclusive lock can be sure no other run is
//!   writing, so once it holds the lock it removes everything a dead run may have
//!   left: `OUT/_staging/*`, `.*.tmp` files in `_manifests/`, `_reports/`, `_cache/`
//!   (and below) and in waiting shard folders, and write probes in `OUT/`.

use crate::domain::Month;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One published output file, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    pub table: String,
    /// Relative to the output folder, `/`-separated.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// The lock file of an output folder.
pub const LOCK: &str = "_lock";
/// The folder under which runs stage their files before moving them in.
pub const STAGING: &str = "_staging";

/// Counter that makes names unique within one process.
fn next_id() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    CALLS.fetch_add(1, Ordering::Relaxed)
}

/// An I/O error naming the path and what was being done (and a full disk as such).
pub fn io_err(path: &Path, what: &str) -> impl Fn(std::io::Error) -> Error {
    let path = path.to_path_buf();
    let what = what.to_string();
    move |e| {
        let hint = if e.raw_os_error() == Some(libc::ENOSPC) {
            " (disk full)"
        } else {
            ""
        };
        Error::output(&path, format!("{what}: {e}{hint}"))
    }
}

pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir, "cannot sync folder"))
}

/// `rename(2)`, the error naming the destination.
pub fn rename(from: &Path, to: &Path, what: &str) -> Result<()> {
    std::fs::rename(from, to).map_err(io_err(to, what))
}

/// Whether a file name is one of this module's temporary files (`.<name>.<id>.tmp`).
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// A temporary path beside `path`, unique per process and call: two threads (or two
/// shard processes sharing a cache) may write the same file at once.
pub fn temp_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.{}-{}.tmp", std::process::id(), next_id()))
}

/// Writes `data` to `path` atomically (temporary file beside it, fsync, rename). A
/// failed write removes its temporary file; a killed one leaves it for the sweep.
pub fn write_file_atomically(path: &Path, data: &[u8]) -> Result<()> {
    prepare_file(path, data)?.commit().map(|_| ())
}

/// A file written and fsynced beside its place, not yet moved in: everything that
/// can fail for want of space has happened. [`Prepared::commit`] moves it in; dropped
/// without that, the temporary file is removed.
pub struct Prepared {
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// The first half of [`write_file_atomically`]: `data` in a temporary file beside
/// `path`, fsynced. A commit writes its report and manifest this way before it
/// publishes any part, so a full disk fails the run with the old snapshot whole.
pub fn prepare_file(path: &Path, data: &[u8]) -> Result<Prepared> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir, "cannot create folder"))?;
    let prepared = Prepared {
        tmp: temp_path(path),
        path: path.to_path_buf(),
        committed: false,
    };
    let tmp = &prepared.tmp;
    let mut f = File::create(tmp).map_err(io_err(tmp, "cannot create"))?;
    f.write_all(data).map_err(io_err(tmp, "cannot write"))?;
    f.sync_all().map_err(io_err(tmp, "cannot sync"))?;
    Ok(prepared)
}

impl Prepared {
    /// Moves the file into place (one rename) and syncs its folder; returns its path.
    pub fn commit(mut self) -> Result<PathBuf> {
        rename(&self.tmp, &self.path, "cannot move into place")?;
        self.committed = true;
        fsync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
            // The folder too when this made it (a first run that failed leaves no
            // empty `_manifests/`); a folder holding anything stays.
            if let Some(dir) = self.tmp.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

pub fn partition_dir(out: &Path, table: &str, as_of: Month) -> PathBuf {
    out.join(table).join(format!("as_of={as_of}"))
}

/// Moves staged part files into `OUT/<table>/as_of=M/`: a new partition folder moves
/// in whole, otherwise each part is replaced by one rename; then parts the new
/// snapshot does not have are removed. A reader sees each part file complete, old or
/// new.
pub fn publish(out: &Path, table: &str, as_of: Month, staged: &[PathBuf]) -> Result<()> {
    let target = partition_dir(out, table, as_of);
    let table_dir = out.join(table);
    std::fs::create_dir_all(&table_dir)
        .map_err(io_err(&table_dir, "cannot create table folder"))?;
    let names: Vec<_> = staged
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect();
    let single_dir = staged.first().and_then(|p| p.parent());
    let whole = !target.exists()
        && single_dir.is_some()
        && staged.iter().all(|p| p.parent() == single_dir)
        && std::fs::read_dir(single_dir.unwrap_or(Path::new(".")))
            .is_ok_and(|d| d.count() == staged.len());
    if whole && let Some(dir) = single_dir {
        rename(dir, &target, "cannot move partition in")?;
        return fsync_dir(&table_dir);
    }
    std::fs::create_dir_all(&target).map_err(io_err(&target, "cannot create partition folder"))?;
    for (from, name) in staged.iter().zip(&names) {
        rename(from, &target.join(name), "cannot replace part file")?;
    }
    let entries = std::fs::read_dir(&target).map_err(io_err(&target, "cannot list"))?;
    for entry in entries.flatten() {
        if !names.contains(&entry.file_name()) {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(io_err(&p, "cannot remove stale part"))?;
        }
    }
    fsync_dir(&target)?;
    fsync_dir(&table_dir)
}

/// One run's staging folder `OUT/_staging/<pid>-<n>/`, removed when dropped (so every
/// error path of the run removes it; only a killed run leaves it, for the sweep).
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Names (does not create) a fresh staging folder of this process under `out`.
    pub fn new(out: &Path) -> Staging {
        let id = format!("{}-{}", std::process::id(), next_id());
        Staging {
            dir: out.join(STAGING).join(id),
        }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The parent goes too once no other run stages there.
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// How a run holds the lock of its output folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// A run that publishes (run, backfill, merge-manifests): alone on the folder.
    Exclusive,
    /// A shard run: beside other shard runs, never beside a publishing run.
    Shared,
}

/// A held lock on `OUT/_lock`; released when dropped or when the process dies.
pub struct Lock {
    _file: File,
}

/// Takes the lock of `out` (creating the folder and the lock file). Without `wait`,
/// a lock held by another process is an error naming the lock file and the pid
/// written in it; with `wait`, `waiting` is called once and the call blocks until
/// the holder is done. An exclusive holder then sweeps what dead runs left.
pub fn lock(out: &Path, mode: LockMode, wait: bool, waiting: impl Fn(&str)) -> Result<Lock> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::output(out, format!("cannot create output folder: {e}")))?;
    let path = out.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path, "cannot open the lock file"))?;
    let op = match mode {
        LockMode::Exclusive => libc::LOCK_EX,
        LockMode::Shared => libc::LOCK_SH,
    };
    if let Err(e) = flock(&file, op | libc::LOCK_NB) {
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io_err(&path, "cannot lock")(e));
        }
        let holder = holder(&mut file);
        if !wait {
            return Err(Error::output(
                &path,
                format!(
                    "another ledgerflow run ({holder}) is writing this output folder; \
                     try again when it has finished, or pass --wait-lock to wait for it"
                ),
            ));
        }
        waiting(&format!(
            "{}: waiting for another ledgerflow run ({holder}) to finish",
            path.display()
        ));
        flock(&file, op).map_err(io_err(&path, "cannot lock"))?;
    }
    let pid = std::process::id().to_string();
    let recorded = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(format!("{pid}\n").as_bytes()));
    recorded.map_err(io_err(&path, "cannot write the lock file"))?;
    if mode == LockMode::Exclusive {
        sweep(out)?;
    }
    Ok(Lock { _file: file })
}

fn flock(file: &File, op: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor this function borrows; no memory is passed.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// "pid N" as written in the lock file by its holder, or a neutral phrase.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid unknown".to_string(),
    }
}

/// Removes everything dead runs may have left under `out` (see the module docs).
/// Call only while holding the exclusive lock.
pub fn sweep(out: &Path) -> Result<()> {
    let staging = out.join(STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err(
            &staging,
            "cannot remove the staging folder of a crashed run",
        ))?;
    }
    let mut dirs = vec![out.join("_manifests"), out.join("_reports")];
    dirs.extend(subdirs(&out.join("_cache"), 2));
    dirs.extend(subdirs(&out.join("_shards"), 2));
    for dir in &dirs {
        remove_temp_files(dir, is_temp_name)?;
    }
    remove_temp_files(out, |n| n.starts_with(".ledgerflow-write-test-"))
}

/// `dir` and its subfolders down to `depth` levels.
fn subdirs(dir: &Path, depth: u32) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    if depth > 0
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                all.extend(subdirs(&e.path(), depth - 1));
            }
        }
    }
    all
}

fn remove_temp_files(dir: &Path, is_temp: impl Fn(&str) -> bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if is_temp(&e.file_name().to_string_lossy()) && e.file_type().is_ok_and(|t| t.is_file()) {
            let p = e.path();
            std::fs::remove_file(&p).map_err(io_err(&p, "cannot remove a crashed run's file"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("ledgerflow-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn second_exclusive_lock_fails_naming_file_and_pid() {
        let out = temp("lock");
        let held = lock(&out, LockMode::Exclusive, false, |_| {}).unwrap();
        // flock locks belong to the open file description: a second open in the same
        // process contends like another process would.
        let err = lock(&out, LockMode::Exclusive, false, |_| {})
            .err()
            .expect("the lock is taken");
        let text = err.to_string();
        assert!(
            text.contains(&out.join(LOCK).display().to_string()),
            "{text}"
        );
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("--wait-lock"), "{text}");
        assert!(lock(&out, LockMode::Shared, false, |_| {}).is_err());
        drop(held);
        let a = lock(&out, LockMode::Shared, false, |_| {}).unwrap();
        let b = lock(&out, LockMode::Shared, false, |_| {}).unwrap();
        assert!(lock(&out, LockMode::Exclusive, false, |_| {}).is_err());
        drop((a, b));
        lock(&out, LockMode::Exclusive, false, |_| {}).unwrap();
    }

    #[test]
    fn sweep_removes_dead_runs_files_only() {
        let out = temp("sweep");
        let keep = [
            "_manifests/2026-06.json",
            "_reports/2026-06.html",
            "_cache/ledger/abc.rows",
            "_shards/as_of=2026-06/shard-0-of-2/manifest.json",
            "person_status/as_of=2026-06/part-00000.parquet",
        ];
        let gone = [
            "_staging/123-0/gaps/as_of=2026-06/part-00000.parquet",
            "_staging/spill/bucket-0.bin",
            "_manifests/.2026-06.json.123-0.tmp",
            "_reports/.2026-06.html.123-1.tmp",
            "_cache/.results.state.123-2.tmp",
            "_cache/ledger/.abc.rows.123-3.tmp",
            "_shards/as_of=2026-06/shard-0-of-2/.summary.json.123-4.tmp",
            ".ledgerflow-write-test-123",
        ];
        for f in keep.iter().chain(&gone) {
            let p = out.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        }
        let _lock = lock(&out, LockMode::Exclusive, false, |_| {}).unwrap();
        for f in keep {
            assert!(out.join(f).exists(), "{f} kept");
        }
        for f in gone {
            assert!(!out.join(f).exists(), "{f} swept");
        }
        assert!(!out.join(STAGING).exists());
    }

    #[test]
    fn staging_is_unique_and_removed_on_drop() {
        let out = temp("staging");
        let (a, b) = (Staging::new(&out), Staging::new(&out));
        assert_ne!(a.dir(), b.dir());
        std::fs::create_dir_all(a.dir().join("t")).unwrap();
        std::fs::create_dir_all(b.dir()).unwrap();
        drop(a);
        assert!(out.join(STAGING).exists(), "b still stages");
        drop(b);
        assert!(!out.join(STAGING).exists());
    }

    #[test]
    fn failed_atomic_write_leaves_no_temporary_file() {
        let out = temp("atomic");
        // The target is a non-empty folder: the rename fails.
        let target = out.join("f.json");
        std::fs::create_dir_all(target.join("x")).unwrap();
        assert!(write_file_atomically(&target, b"data").is_err());
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["f.json".to_string()]);
        write_file_atomically(&out.join("g.json"), b"data").unwrap();
        assert_eq!(std::fs::read(out.join("g.json")).unwrap(), b"data");
    }
}
