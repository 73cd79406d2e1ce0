//! ledgerflow: contribution ledgers → per-person medical-insurance entitlement tables.
//!
//! The modules follow the data's way through the pipeline (STYLE.md):
//! `config` (pipeline + rule files) → `ingest` (files → text or typed columns) →
//! `validate` (rows → accepted columns | rejects) → `engine` (per person, pure) →
//! `output` (columns → Parquet partitions, atomically) → `manifest`.
//! `commands` wires them together for each CLI subcommand; `main.rs` only parses
//! arguments and maps errors to exit codes. `store` is the bottom layer every writer
//! uses (the output folder's lock, staging, atomic files, sweep); `verify` checks a
//! published snapshot against its manifest.

pub mod binfmt;
pub mod bounded;
pub mod carry;
pub mod changes;
pub mod commands;
pub mod commit;
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
pub mod privacy;
pub mod report;
pub mod shard;
pub mod stages;
pub mod store;
pub mod validate;
pub mod verify;

pub use error::{Error, Result};

/// The tool version and a fingerprint of the sources it was built from (`build.rs`):
/// what caches, incremental state and backfill's "up to date" check must match.
pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("LEDGERFLOW_BUILD"));
