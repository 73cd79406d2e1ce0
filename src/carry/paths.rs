//! Where a state is kept, and what a killed store leaves there.

use std::path::{Path, PathBuf};

/// Where the state of a run (or of one shard's runs) is kept, in the cache folder
/// `cache` (`OUT/_cache`, or the pipeline's state folder: [`crate::privacy::state_dirs`]).
pub fn path(cache: &Path, shard: Option<crate::partition::Shard>) -> PathBuf {
    let name = match shard {
        None => "results.state".to_string(),
        Some(s) => format!("results-{}of{}.state", s.index, s.count),
    };
    cache.join(name)
}

/// Removes what a killed run left while storing this state (its temporary files).
pub fn clean_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
