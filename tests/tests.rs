//! The integration tests: one binary (see Cargo.toml), one module per area.

mod attack;
mod cli;
mod duckdb;
mod duckdb_env;
mod excel;
mod fuzz;
mod hardening;
mod layers;
mod operate;
mod oracle;
mod partition;
mod privacy;
mod safety;
mod scenarios;
mod util;
