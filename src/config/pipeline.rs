//! Pipeline file loading (CONTRACT.md §3). Stub: to be written.
pub struct Pipeline;
