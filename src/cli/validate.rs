//! `ledgerflow validate PIPELINE [--as-of M]`: read and check the inputs, print the
//! counts a run would record; write no tables.

use crate::domain::Month;
use crate::error::Result;
use crate::manifest;
use crate::run::load;
use crate::run::prepare::future_rows_per_file;
use crate::run::{Progress, Timings};
use std::path::Path;

/// Prints the counts; returns whether the data-quality gate failed.
pub fn validate(pipeline: &Path, as_of: Option<Month>) -> Result<bool> {
    let progress = Progress::new(true);
    let loaded = load::load(pipeline, None, as_of, &progress, &mut Timings::default())?;
    let (as_of, shown) = match as_of
        .map(Ok)
        .unwrap_or_else(|| load::default_as_of(&loaded.inputs, &loaded.pipeline))
    {
        Ok(a) => (a, a.to_string()),
        // Nothing accepted: the counts are still worth printing, with the cause.
        Err(e) => (Month::default(), format!("none: {e}")),
    };
    let inputs = &loaded.inputs;
    let future = future_rows_per_file(&inputs.ledger, as_of.last_day(), inputs.files.len());
    let counts = manifest::totals(inputs, &future);
    println!("as_of: {shown}");
    for f in &inputs.files {
        println!(
            "{} {}: read {}, accepted {}, rejected {}",
            f.kind.as_str(),
            crate::privacy::shown(&f.path),
            f.rows_read,
            f.rows_accepted,
            f.rows_rejected
        );
    }
    println!("rows_read: {}", counts.rows_read);
    println!("rows_accepted: {}", counts.rows_accepted);
    println!("rows_rejected: {}", counts.rows_rejected);
    println!("future_rows: {}", counts.future_rows);
    for (t, n) in manifest::rejects_by_type(inputs) {
        if n > 0 {
            println!("rejects {t}: {n}");
        }
    }
    Ok(loaded
        .pipeline
        .max_reject_ratio
        .is_some_and(|max| counts.reject_ratio() > max))
}
