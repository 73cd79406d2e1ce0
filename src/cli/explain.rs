//! `ledgerflow explain PIPELINE --person ID [--as-of M] [--format text|json|html]`:
//! one person's statuses month by month, with the rules, dates and rows behind them.

use crate::domain::Month;
use crate::engine::{self, Batch};
use crate::error::{Error, Result};
use crate::id::PersonId;
use crate::run::prepare::prepare;
use crate::run::{Progress, Timings, load};
use std::path::Path;

/// The rendered explanation of `person`.
pub fn explain(
    pipeline: &Path,
    person: &str,
    as_of: Option<Month>,
    format: crate::explain::Format,
) -> Result<String> {
    let id = PersonId::parse(person.trim())
        .map_err(|e| Error::Usage(format!("--person: {}", e.message())))?;
    let progress = Progress::new(true);
    let mut loaded = load::load(pipeline, None, as_of, &progress, &mut Timings::default())?;
    let as_of = match as_of {
        Some(a) => a,
        None => load::default_as_of(&loaded.inputs, &loaded.pipeline)?,
    };
    let prep = prepare(&mut loaded.inputs);
    let slot = prep
        .persons
        .binary_search_by_key(&id, |s| s.person)
        .ok()
        .map(|i| &prep.persons[i])
        .ok_or_else(|| {
            Error::input(
                &loaded.pipeline.ledger,
                "this person has no accepted ledger or registry rows",
            )
        })?;
    let resolver = loaded.rules.resolver(&prep.regions);
    let mut batch = Batch::default();
    let input = prep.input(slot);
    let verdict = engine::evaluate_person(&input, &resolver, as_of, &mut batch);
    let report = crate::explain::build(&crate::explain::ExplainInput {
        person: id,
        as_of,
        rows: input.rows,
        files: &loaded.inputs.files,
        groups: input.groups,
        batch: &batch,
        verdict: &verdict,
        rules: &loaded.rules,
        params: &resolver,
    });
    crate::explain::render(&report, format)
}
