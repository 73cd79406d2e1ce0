//! Rule file loading and region/effective-date lookup (CONTRACT.md §3). Stub: to be written.
pub struct RuleSet;
pub struct Resolver;
