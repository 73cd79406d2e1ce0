//! One file per subcommand, each thin: options → plan → execute → commit (the run
//! engine, [`crate::run`]), or the one library call the subcommand is. `main.rs`
//! parses the arguments into these options and maps the outcomes to exit codes.

pub mod backfill;
pub mod explain;
pub mod generate;
pub mod merge;
pub mod partition;
pub mod run;
pub mod validate;
pub mod verify;
