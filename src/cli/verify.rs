//! `ledgerflow verify PIPELINE [--as-of M]`: check a published snapshot against its
//! manifest ([`crate::verify`]); one line per problem on stdout.

use crate::domain::Month;
use crate::error::Result;
use std::path::PathBuf;

/// Prints what `verify` found; returns the exit status (0 complete, 1 incomplete or
/// mixed).
pub fn verify(
    pipeline: &std::path::Path,
    as_of: Option<Month>,
    out: Option<PathBuf>,
) -> Result<u8> {
    let checked = crate::verify::run(pipeline, as_of, out)?;
    for line in &checked.problems {
        println!("{line}");
    }
    if checked.problems.is_empty() {
        println!(
            "{}: complete, {} files as listed",
            checked.manifest.display(),
            checked.files
        );
        return Ok(0);
    }
    eprintln!(
        "ledgerflow: {}: snapshot {} is incomplete or mixed ({} problem{})",
        checked.manifest.display(),
        checked.as_of,
        checked.problems.len(),
        if checked.problems.len() == 1 { "" } else { "s" }
    );
    Ok(1)
}
