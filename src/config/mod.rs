//! Pipeline files and rule files (CONTRACT.md §3).

pub mod params;
pub mod pipeline;
pub mod rules;

pub use params::{MonthDay, Params, Resume};
pub use pipeline::Pipeline;
pub use rules::{Resolver, RuleSet};
