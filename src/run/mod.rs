//! The run engine: every run is plan → parts → stage → commit.
//!
//! - [`plan`] — which people, in which parts, for which `as_of` months, with which
//!   carried-forward results: every run mode is a setting of a [`plan::Plan`], chosen
//!   there from the options and the size of the inputs ([`memory`]).
//! - [`load`] — the pipeline, the lock, the rules and the inputs, read once into a
//!   [`load::Source`] that yields one part at a time.
//! - [`execute`] — the one executor: for each month and part, load → prepare →
//!   evaluate ([`prepare`], merging [`carried`] results) → stage.
//! - [`commit`] — the only place that publishes: tables → changes → report →
//!   manifest → quality gate; `merge-manifests` is its commit over staged shards.

pub mod carried;
pub mod commit;
pub mod execute;
pub mod load;
pub mod memory;
pub mod plan;
pub mod prepare;
pub mod progress;

pub use execute::{Outcome, execute};
pub use plan::{BackfillOptions, Plan, RunOptions};
pub use progress::{Progress, Timings};
