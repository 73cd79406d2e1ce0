//! `ledgerflow generate --persons N --months M --start YYYY-MM --seed S --out DIR`:
//! a synthetic ledger, deterministic for a seed ([`crate::generate`]).

use crate::error::Result;
use crate::generate::{self, GenerateArgs};

/// Writes the ledger, telling its progress on stderr.
pub fn generate(args: &GenerateArgs) -> Result<()> {
    let mut say = |m: &str| eprintln!("{m}");
    generate::generate(args, &mut say)?;
    Ok(())
}
