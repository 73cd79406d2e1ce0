//! What a run tells while it works: progress messages and per-stage wall times.
//! [`crate::log`] decides how they are shown; the timings end in the manifest's
//! `stage_timings_ms` (its only non-deterministic part).

use std::collections::BTreeMap;
use std::time::Instant;

/// Progress messages of one command; [`crate::log`] decides how they are shown
/// (lines on a terminal, JSON objects with `--log-format json`, nothing with `--quiet`).
pub struct Progress {
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet }
    }
    pub fn say(&self, msg: impl AsRef<str>) {
        crate::log::progress(&crate::privacy::shown(msg.as_ref()), self.quiet);
    }
    /// A notice: said always (a nightly job has no terminal), masked.
    pub fn notice(&self, msg: impl AsRef<str>) {
        crate::log::notice(&crate::privacy::shown(msg.as_ref()), self.quiet);
    }
}

/// Per-stage wall times in milliseconds.
#[derive(Clone, Default)]
pub struct Timings(pub BTreeMap<String, u64>);

impl Timings {
    /// Runs `f`, adding its wall time to `stage` (a stage run in parts, like a bucketed
    /// run's engine, shows the sum).
    pub fn time<T>(&mut self, stage: &str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let v = f();
        let ms = t.elapsed().as_millis() as u64;
        *self.0.entry(stage.to_string()).or_default() += ms;
        crate::log::stage(stage, ms);
        v
    }
}
