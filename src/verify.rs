//! `ledgerflow verify`: checks a published snapshot against its manifest (CONTRACT.md
//! §1): the manifest of that `as_of` is there, every file it lists is present with its
//! size and SHA-256, and the partitions of that `as_of` hold no other file. A run that
//! died between part renames leaves tables of two runs side by side with the older
//! manifest; their SHA-256s differ from it, so `verify` names them. It only reads: it
//! takes no lock and may run beside a run (which it then may report as mixed).

use crate::config::Pipeline;
use crate::domain::Month;
use crate::error::Result;
use crate::manifest::{self, Manifest};
use crate::run::{Progress, Timings, load};
use crate::store;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// What `verify` found.
pub struct Checked {
    pub as_of: Month,
    pub manifest: PathBuf,
    /// Files listed and checked.
    pub files: usize,
    /// One line per problem, each naming the file: empty when the snapshot is complete.
    pub problems: Vec<String>,
}

/// `ledgerflow verify PIPELINE [--as-of M] [--out DIR]`. Without `--as-of` the month
/// is the latest period of the accepted ledger rows, as for `run` (so the inputs are
/// read and checked).
pub fn run(pipeline: &Path, as_of: Option<Month>, out: Option<PathBuf>) -> Result<Checked> {
    let (out, as_of) = match as_of {
        Some(m) => {
            let mut p = Pipeline::load(pipeline)?;
            if let Some(out) = out {
                p.out_dir = out;
            }
            (p.out_dir, m)
        }
        None => {
            let loaded = load::load(
                pipeline,
                out.as_deref(),
                None,
                &Progress::new(true),
                &mut Timings::default(),
            )?;
            let m = load::default_as_of(&loaded.inputs, &loaded.pipeline)?;
            (loaded.pipeline.out_dir, m)
        }
    };
    Ok(check(&out, as_of))
}

/// Checks the snapshot of `as_of` under `out`.
pub fn check(out: &Path, as_of: Month) -> Checked {
    let path = manifest::path(out, as_of);
    let mut checked = Checked {
        as_of,
        manifest: path.clone(),
        files: 0,
        problems: Vec::new(),
    };
    let m = match std::fs::metadata(&path) {
        Err(_) => {
            checked.problems.push(format!(
                "{}: missing: no complete run of {as_of} has published this output folder",
                path.display()
            ));
            return checked;
        }
        Ok(_) => match manifest::read(&path) {
            Ok(m) => m,
            Err(e) => {
                checked.problems.push(e.to_string());
                return checked;
            }
        },
    };
    if m.as_of != as_of.to_string() {
        checked.problems.push(format!(
            "{}: as_of is {:?}, expected {as_of}",
            path.display(),
            m.as_of
        ));
    }
    checked.files = m.outputs.len();
    checked
        .problems
        .extend(check_outputs(out, as_of, &m, &path));
    checked
}

/// The problems of the listed files and of the partitions of `as_of`.
fn check_outputs(out: &Path, as_of: Month, m: &Manifest, manifest: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    // Listed file names per partition folder.
    let mut listed: BTreeMap<PathBuf, BTreeSet<std::ffi::OsString>> = BTreeMap::new();
    for o in &m.outputs {
        let rel = Path::new(&o.path);
        let inside = rel.components().all(|c| matches!(c, Component::Normal(_)));
        let (Some(dir), Some(name), true) = (rel.parent(), rel.file_name(), inside) else {
            problems.push(format!(
                "{}: lists {:?}, which is not a file inside the output folder",
                manifest.display(),
                o.path
            ));
            continue;
        };
        listed
            .entry(out.join(dir))
            .or_default()
            .insert(name.to_owned());
        let file = out.join(rel);
        match std::fs::metadata(&file) {
            Err(_) => problems.push(format!(
                "{}: missing (listed in {})",
                file.display(),
                manifest.display()
            )),
            Ok(md) if md.len() != o.bytes => problems.push(format!(
                "{}: {} bytes, {} lists {} (a file of another run, or damaged)",
                file.display(),
                md.len(),
                manifest.display(),
                o.bytes
            )),
            Ok(_) => match sha256_file(&file) {
                Err(e) => problems.push(format!("{}: cannot read: {e}", file.display())),
                Ok(sha) if sha != o.sha256 => problems.push(format!(
                    "{}: SHA-256 differs from {} (a file of another run: the snapshot is mixed)",
                    file.display(),
                    manifest.display()
                )),
                Ok(_) => {}
            },
        }
    }
    // Every partition of this `as_of`, listed or not: tables live in the folders of
    // `out` whose names do not start with `_`.
    let mut partitions: BTreeSet<PathBuf> = listed.keys().cloned().collect();
    if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(['_', '.']) && e.file_type().is_ok_and(|t| t.is_dir()) {
                let dir = store::partition_dir(out, &name, as_of);
                if dir.is_dir() {
                    partitions.insert(dir);
                }
            }
        }
    }
    let none = BTreeSet::new();
    for dir in partitions {
        let names = listed.get(&dir).unwrap_or(&none);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut extra: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| !names.contains(&e.file_name()))
            .map(|e| e.path())
            .collect();
        extra.sort();
        for p in extra {
            problems.push(format!(
                "{}: not in {} (a file of another run)",
                p.display(),
                manifest.display()
            ));
        }
    }
    problems
}

/// Lowercase hex SHA-256 of a file, read in blocks.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_hash_equals_the_in_memory_hash() {
        let d = std::env::temp_dir().join(format!("ledgerflow-verify-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(sha256_file(&p).unwrap(), crate::digest::sha256_hex(&data));
        let _ = std::fs::remove_dir_all(&d);
    }
}
