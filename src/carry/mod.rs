//! The carry-forward state of `run --incremental`: the engine results of the last
//! incremental run, per person, with the input files they came from, so that the next
//! run evaluates only the people its new or changed input rows touch.
//!
//! A person's results are a function of their own accepted rows (ledger, registry,
//! claims), the rules, the pipeline and `as_of` — nothing else (not line numbers, not
//! other people). So when the tool version, the pipeline, the rules, whether claims
//! were given, the shard and `as_of` are those of the state (its *context*), a person
//! whose rows are the same in every input file is carried forward as stored. The
//! touched people are found per file (kind and path): ledger files with the same
//! SHA-256 are skipped; for the others, each person's rows are hashed (values in file
//! order) in the old and the new version — from the ledger cache, whose entries hold
//! a file's checked rows *before* the cross-file duplicate check, so a list depends
//! only on the file's bytes; the exact-duplicate check keeps a first copy, and which
//! copy is first changes only with a changed file holding a copy, i.e. a row of the
//! same person. Registry and claims lists (accepted rows) are kept in the state.
//! A person in neither version of any changed file has the same rows as before.
//!
//! When the context differs — a new month, new rules — everyone is evaluated
//! (advancing to a new `as_of` is itself an evaluation: deadlines pass, waits end,
//! every person gains a month) and the state is replaced. So are a missing or damaged
//! state and a changed file without a cache entry: the result never depends on the
//! state, only the work does.
//!
//! Stored at `OUT/_cache/results[-<k>of<n>].state` (with `[privacy] state_dir`, in
//! that folder's `cache/`) after the snapshot is published, written atomically;
//! results and file list always belong together, so a crash between publishing and
//! storing only means a larger next run. The ledger cache keeps
//! the entries of the state's files until the new state is stored.
//!
//! The seams: [`touched`] (who is touched: the people of each file and the ones whose
//! rows differ), [`state`] (the state file: its format, storing, merging with fresh
//! results), [`paths`] (where a state is kept, leftovers of a killed store).

mod paths;
mod state;
mod touched;

pub use paths::{clean_leftovers, path};
pub use state::{State, store};
pub use touched::{FilePeople, file_people, ledger_people, touched};

use crate::domain::Month;

/// Everything besides a person's own rows that their results depend on.
pub fn context(
    as_of: Month,
    pipeline_sha256: &str,
    rules_sha256: &str,
    claims_given: bool,
    shard: Option<crate::partition::Shard>,
) -> String {
    let shard = shard.map_or("all".to_string(), |s| format!("{}/{}", s.index, s.count));
    format!(
        "build={} as_of={as_of} pipeline={pipeline_sha256} rules={rules_sha256} claims={claims_given} shard={shard}",
        crate::BUILD
    )
}
