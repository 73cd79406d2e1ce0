//! ledgerflow: contribution ledgers → per-person medical-insurance entitlement tables.
//!
//! The modules follow the data's way through the pipeline (STYLE.md):
//! `config` (pipeline + rule files) → `ingest` (files → text or typed columns) →
//! `validate` (rows → accepted columns | rejects) → `engine` (per person, pure) →
//! `output` (columns → Parquet partitions, atomically) → `manifest`.
//! `run` is the run engine (plan → parts → stage → commit) every run mode goes
//! through; `cli` has one file per subcommand; `main.rs` only parses arguments and
//! maps outcomes and errors to exit codes. `store` is the bottom layer every writer
//! uses (the output folder's lock, staging, atomic files, sweep); `verify` checks a
//! published snapshot against its manifest.

pub mod binfmt;
pub mod carry;
pub mod changes;
pub mod cli;
pub mod config;
pub mod digest;
pub mod domain;
pub mod engine;
pub mod error;
pub mod explain;
pub mod generate;
pub mod id;
pub mod ingest;
pub mod ledger;
pub mod log;
pub mod manifest;
pub mod output;
pub mod partition;
pub mod partitioned;
pub mod privacy;
pub mod report;
pub mod run;
pub mod sealed;
pub mod store;
pub mod validate;
pub mod verify;

pub use error::{Error, Result};

/// The tool version and a fingerprint of the sources it was built from (`build.rs`):
/// what caches, incremental state and backfill's "up to date" check must match.
pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("LEDGERFLOW_BUILD"));
