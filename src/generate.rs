//! `ledgerflow generate`: synthetic ledgers. Placeholder until the generator lands.

use crate::domain::Month;
use crate::error::{Error, Result};
use std::path::PathBuf;

pub enum Format {
    Csv,
    Parquet,
}

pub struct GenerateArgs {
    pub persons: u64,
    pub months: u32,
    pub start: Month,
    pub seed: u64,
    pub out: PathBuf,
    pub format: Format,
}

pub struct Generated {
    pub files: usize,
    pub ledger_rows: u64,
    pub registry_rows: u64,
}

pub fn generate(_args: &GenerateArgs, _say: &mut dyn FnMut(&str)) -> Result<Generated> {
    Err(Error::Internal("generate is not implemented yet".into()))
}
