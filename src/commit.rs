//! The last step of every run mode once its tables are published: what changed since
//! the previous month ([`crate::changes`]), the run report, then the manifest —
//! written last, so that once it is there everything it lists is (CONTRACT §4).
//! Plain and bucketed runs, `merge-manifests` and each month of `backfill` end here.

use crate::changes;
use crate::domain::Month;
use crate::error::Result;
use crate::manifest::{self, Manifest};
use crate::report::{self, Summary};
use std::path::{Path, PathBuf};

/// What the commit wrote.
pub struct Committed {
    pub manifest: PathBuf,
    /// `None` when there was no summary to draw (shards without summaries).
    pub report: Option<PathBuf>,
}

/// Adds the changes since the previous month to `m`, writes the report (or removes
/// an older one when there is no `summary`) and then the manifest.
pub fn snapshot(
    out: &Path,
    as_of: Month,
    summary: Option<&Summary>,
    m: &mut Manifest,
) -> Result<Committed> {
    m.changes_since_previous = changes::since_previous(out, as_of)?;
    let report = match summary {
        Some(s) => Some(report::write(out, as_of, s, m)?),
        // No report rather than an earlier one beside this manifest.
        None => {
            let _ = std::fs::remove_file(report::path(out, as_of));
            None
        }
    };
    let manifest = manifest::write(out, m)?;
    Ok(Committed { manifest, report })
}
