//! The integration tests: one binary (see Cargo.toml), one module per area.

mod cli;
mod duckdb;
mod duckdb_env;
mod fuzz;
mod hardening;
mod operate;
mod scenarios;
mod util;
