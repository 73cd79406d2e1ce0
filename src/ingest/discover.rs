//! Finding the input files (CONTRACT.md §2.1): a folder, a file or a pattern.

use super::xlsx;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Largest folder depth [`discover`] descends.
const MAX_DEPTH: u32 = 32;

/// The ledger files named by `spec` (CONTRACT.md §2.1), sorted by path bytes.
///
/// `spec` is a folder (every `*.csv` / `*.parquet` / `*.xlsx` / `*.xls` below it,
/// recursively, extension case-insensitive, names starting with `.` and Excel lock
/// files `~$…` skipped), a single file, or a
/// pattern with `*` / `?` in its components (`ledger/2025-*.csv`, `data/*/ledger`);
/// folders matched by a pattern are searched like a folder spec.
pub fn discover(spec: &Path) -> Result<Vec<PathBuf>> {
    discover_as(spec, "ledger")
}

/// [`discover`] for any input; `what` names the input in error messages
/// (`"ledger"`, `"special-groups"`, `"claims"`).
pub fn discover_as(spec: &Path, what: &str) -> Result<Vec<PathBuf>> {
    let mut walker = Walker::default();
    if has_wildcard(&spec.to_string_lossy()) {
        for m in expand_glob(spec)? {
            match std::fs::metadata(&m) {
                Ok(md) if md.is_dir() => walker.walk(&m, &md, 0)?,
                Ok(md) if has_data_extension(&m) => walker.add_file(&m, &md)?,
                _ => {}
            }
        }
        if walker.files.is_empty() {
            return Err(Error::input(
                spec,
                format!("no {what} file matches the pattern"),
            ));
        }
    } else {
        match std::fs::metadata(spec) {
            Ok(md) if md.is_dir() => {
                walker.walk(spec, &md, 0)?;
                if walker.files.is_empty() {
                    return Err(Error::input(
                        spec,
                        format!("no .csv, .parquet, .xlsx or .xls file in the {what} folder"),
                    ));
                }
            }
            Ok(md) => walker.add_file(spec, &md)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::input(
                    spec,
                    format!("{what} folder or file not found"),
                ));
            }
            Err(e) => return Err(Error::input(spec, format!("cannot read: {e}"))),
        }
    }
    Ok(walker.finish())
}

/// The files found so far, and the real folders already walked.
#[derive(Default)]
pub(super) struct Walker {
    files: Vec<(PathBuf, Option<FileId>)>,
    dirs: std::collections::HashSet<FileId>,
}

/// A file's device and inode: the same file or folder reached through links.
pub(super) type FileId = (u64, u64);

#[cfg(unix)]
pub(super) fn file_id(md: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((md.dev(), md.ino()))
}

#[cfg(not(unix))]
pub(super) fn file_id(_md: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// What a path that is neither a regular file nor a folder is, for messages.
pub(super) fn special_kind(md: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = md.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    let _ = md;
    "not a regular file"
}

impl Walker {
    /// A file named by the spec or found in a folder. Anything but a regular file (a
    /// FIFO, a device, a socket) is an error: opening a FIFO would block the run.
    fn add_file(&mut self, path: &Path, md: &std::fs::Metadata) -> Result<()> {
        if !md.is_file() {
            return Err(Error::input(
                path,
                format!(
                    "is {}, not a regular file; only regular files are read",
                    special_kind(md)
                ),
            ));
        }
        self.files.push((path.to_path_buf(), file_id(md)));
        Ok(())
    }

    /// Every `*.csv` / `*.parquet` file below `dir`. Folder links are followed, but
    /// each real folder (device and inode) is walked once, so links to `.` or to a
    /// parent cannot loop.
    fn walk(&mut self, dir: &Path, md: &std::fs::Metadata, depth: u32) -> Result<()> {
        if let Some(id) = file_id(md)
            && !self.dirs.insert(id)
        {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::input(dir, format!("cannot list folder: {e}")))?;
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::input(dir, format!("cannot list folder: {e}")))?;
            if !is_hidden(&entry.file_name()) {
                listed.push(entry.path());
            }
        }
        // Sorted, so which of two links to one folder is walked does not depend on
        // the order the file system lists them in.
        listed.sort_by(|a, b| path_bytes(a).cmp(path_bytes(b)));
        for path in listed {
            match std::fs::metadata(&path) {
                Ok(md) if md.is_dir() => {
                    // Files below would be left out unseen: said, not skipped (a
                    // link back to a folder already walked is no deeper folder).
                    let walked = file_id(&md).is_some_and(|id| self.dirs.contains(&id));
                    if depth >= MAX_DEPTH && !walked {
                        return Err(Error::input(
                            &path,
                            format!(
                                "folders nested more than {MAX_DEPTH} deep under the input folder; files below are not read (move them up)"
                            ),
                        ));
                    }
                    self.walk(&path, &md, depth + 1)?;
                }
                Ok(md) if has_data_extension(&path) => self.add_file(&path, &md)?,
                Ok(_) => {}
                Err(e) if has_data_extension(&path) => {
                    return Err(Error::input(&path, format!("cannot read: {e}")));
                }
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The files sorted by path bytes; a file reached under several paths (links)
    /// is kept once, under its first path.
    fn finish(mut self) -> Vec<PathBuf> {
        self.files
            .sort_by(|a, b| path_bytes(&a.0).cmp(path_bytes(&b.0)));
        self.files.dedup_by(|a, b| a.0 == b.0);
        let mut seen = std::collections::HashSet::new();
        self.files
            .into_iter()
            .filter(|(_, id)| id.is_none_or(|id| seen.insert(id)))
            .map(|(p, _)| p)
            .collect()
    }
}

pub(super) fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

pub(super) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

pub(super) fn has_data_extension(p: &Path) -> bool {
    let ext = p.extension().and_then(|e| e.to_str());
    ext.is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("parquet"))
        || (ext.is_some_and(xlsx::is_excel_extension)
            && !p.file_name().is_some_and(xlsx::is_lock_file))
}

pub(super) fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// All existing paths matching `pattern`, component by component.
pub(super) fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let text = comp.as_os_str().to_string_lossy();
        if !has_wildcard(&text) {
            for p in &mut current {
                p.push(comp.as_os_str());
            }
            continue;
        }
        let pat: Vec<char> = text.chars().collect();
        let mut next = Vec::new();
        for dir in &current {
            let listing = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            let Ok(entries) = std::fs::read_dir(listing) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if is_hidden(&name) && pat.first() != Some(&'.') {
                    continue;
                }
                let name_chars: Vec<char> = name.to_string_lossy().chars().collect();
                if wildcard_match(&pat, &name_chars) {
                    next.push(dir.join(&name));
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current.retain(|p| !p.as_os_str().is_empty() && p.exists());
    Ok(current)
}

/// `*` matches any run of characters, `?` exactly one; everything else literally.
pub(super) fn wildcard_match(pat: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() && pat[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if p < pat.len() && (pat[p] == '?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == '*')
}
