//! What a run says on stderr, for a person at a terminal or for a scheduler.
//!
//! One sink for the whole process, set once by `main` ([`init`]); library code only
//! reports events — a progress message, a finished stage, a written snapshot, files
//! read — and this module decides what to print (CONTRACT.md §1 `--log-format`):
//!
//! - `text` on a terminal: progress lines `[  1.23s] …`, a progress bar while the
//!   ledger files are read (files and rows done, rate), and the summary line.
//! - `text` without a terminal (cron, systemd, a Kubernetes Job): only the one summary
//!   line at the end — `ledgerflow run: as_of … people … rows read … exit 0 …`.
//! - `json`: one JSON object per line for every progress message, stage, snapshot, the
//!   summary and any error, whether or not stderr is a terminal (journald, log
//!   collectors).
//!
//! `--quiet` silences everything but errors. Nothing here ever writes to stdout, and
//! no output file depends on it. Without [`init`] (tests, library use) it behaves as
//! `text` and not quiet.

use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What the last written snapshot held, for the summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub as_of: String,
    pub people: u64,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub future_rows: u64,
    pub findings: u64,
}

struct Sink {
    format: Format,
    quiet: bool,
    terminal: bool,
    start: Instant,
    command: String,
    /// Set by [`init`]: only a run-like command prints a summary.
    summarise: bool,
    last: Mutex<Option<Snapshot>>,
    snapshots: AtomicU64,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    rows_read: AtomicU64,
}

static SINK: OnceLock<Sink> = OnceLock::new();

fn sink() -> &'static Sink {
    SINK.get_or_init(|| Sink::new(Format::Text, false, "ledgerflow", false))
}

impl Sink {
    fn new(format: Format, quiet: bool, command: &str, summarise: bool) -> Sink {
        Sink {
            format,
            quiet,
            terminal: std::io::stderr().is_terminal(),
            start: Instant::now(),
            command: command.to_string(),
            summarise,
            last: Mutex::new(None),
            snapshots: AtomicU64::new(0),
            bar: Mutex::new(None),
            rows_read: AtomicU64::new(0),
        }
    }
    fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    /// One JSON object as one line on stderr, with the event name and the run's clock.
    fn json(&self, event: &str, fields: serde_json::Value) {
        let mut obj = serde_json::Map::new();
        obj.insert("event".into(), event.into());
        obj.insert("command".into(), self.command.clone().into());
        obj.insert("elapsed_ms".into(), self.elapsed_ms().into());
        if let serde_json::Value::Object(m) = fields {
            obj.extend(m);
        }
        let line = serde_json::Value::Object(obj).to_string();
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
    fn text_progress(&self) -> bool {
        self.format == Format::Text && self.terminal && !self.quiet
    }
}

/// Sets the sink for this process (first call wins): the format, `--quiet`, and the
/// subcommand named in every line.
pub fn init(format: Format, quiet: bool, command: &str) {
    let _ = SINK.set(Sink::new(format, quiet, command, true));
}

/// The format in force.
pub fn format() -> Format {
    sink().format
}

/// A progress message (stages, counts). `quiet` is the caller's own `--quiet`.
pub fn progress(msg: &str, quiet: bool) {
    let s = sink();
    if quiet || s.quiet {
        return;
    }
    match s.format {
        Format::Json => s.json("progress", serde_json::json!({ "message": msg })),
        Format::Text if s.terminal => {
            let line = format!("[{:>7.2}s] {msg}", s.start.elapsed().as_secs_f64());
            match s.bar.lock().ok().as_deref().and_then(Option::as_ref) {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        Format::Text => {}
    }
}

/// Something an operator must see even without a terminal (a changed run mode, a
/// fallback): printed unless quiet, in either format.
pub fn notice(msg: &str, quiet: bool) {
    let s = sink();
    if quiet || s.quiet {
        return;
    }
    match s.format {
        Format::Json => s.json("notice", serde_json::json!({ "message": msg })),
        Format::Text => eprintln!("ledgerflow: {msg}"),
    }
}

/// A stage finished after `ms` milliseconds (the manifest's `stage_timings_ms`).
pub fn stage(name: &str, ms: u64) {
    let s = sink();
    if s.format == Format::Json && !s.quiet {
        s.json("stage", serde_json::json!({ "stage": name, "ms": ms }));
    }
}

/// A snapshot (manifest) was written; the summary reports the latest month's.
pub fn snapshot(snap: Snapshot) {
    let s = sink();
    s.snapshots.fetch_add(1, Ordering::Relaxed);
    if s.format == Format::Json && !s.quiet {
        let v = serde_json::to_value(&snap).unwrap_or_default();
        s.json("snapshot", v);
    }
    // Backfill writes several: the summary reports the latest month.
    if let Ok(mut last) = s.last.lock()
        && last.as_ref().is_none_or(|l| l.as_of <= snap.as_of)
    {
        *last = Some(snap);
    }
}

/// The ledger files are about to be read: `files` of them (a progress bar on a
/// terminal, text format).
pub fn reading_started(files: u64) {
    let s = sink();
    if !s.text_progress() {
        return;
    }
    let bar = indicatif::ProgressBar::new(files);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "reading {bar:30} {pos}/{len} files, {msg} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if let Ok(mut b) = s.bar.lock() {
        *b = Some(bar);
    }
}

/// One more ledger file read, with its rows.
pub fn file_read(rows: u64) {
    let s = sink();
    let Ok(guard) = s.bar.lock() else { return };
    let Some(bar) = guard.as_ref() else { return };
    let total = s.rows_read.fetch_add(rows, Ordering::Relaxed) + rows;
    let secs = bar.elapsed().as_secs_f64().max(1e-3);
    bar.set_message(format!("{total} rows, {:.0} rows/s", total as f64 / secs));
    bar.inc(1);
}

/// The ledger files are read: the bar goes away.
pub fn reading_finished() {
    if let Ok(mut b) = sink().bar.lock()
        && let Some(bar) = b.take()
    {
        bar.finish_and_clear();
    }
}

/// The summary line at the end of `run`, `backfill` and `merge-manifests` (not with
/// `--quiet`, nor for commands that did not [`init`] the sink): the last snapshot's
/// counts, how many snapshots, the exit status and the wall time.
pub fn summary(exit_status: u8) {
    let s = sink();
    if s.quiet || !s.summarise {
        return;
    }
    let last = s.last.lock().ok().and_then(|l| l.clone());
    let snapshots = s.snapshots.load(Ordering::Relaxed);
    let wall_ms = s.elapsed_ms();
    match s.format {
        Format::Json => {
            let mut v = match last {
                Some(l) => serde_json::to_value(l).unwrap_or_default(),
                None => serde_json::json!({}),
            };
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("snapshots".into(), snapshots.into());
                m.insert("exit_status".into(), exit_status.into());
                m.insert("wall_ms".into(), wall_ms.into());
            }
            s.json("summary", v);
        }
        Format::Text => {
            let counts = match last {
                Some(l) => format!(
                    "as_of {} people {} rows read {} accepted {} rejected {} future {} findings {}",
                    l.as_of,
                    l.people,
                    l.rows_read,
                    l.rows_accepted,
                    l.rows_rejected,
                    l.future_rows,
                    l.findings
                ),
                None => "no snapshot written".to_string(),
            };
            let months = if snapshots > 1 {
                format!(" snapshots {snapshots}")
            } else {
                String::new()
            };
            eprintln!(
                "ledgerflow {}: {counts}{months} exit {exit_status} wall {:.1}s",
                s.command,
                wall_ms as f64 / 1000.0
            );
        }
    }
}

/// An error that ends the process with `exit_status` (always printed).
pub fn error(msg: &str, exit_status: u8) {
    let s = sink();
    reading_finished();
    match s.format {
        Format::Json => s.json(
            "error",
            serde_json::json!({ "message": msg, "exit_status": exit_status }),
        ),
        Format::Text => eprintln!("ledgerflow: {msg}"),
    }
}

/// The last panic's message (and where it happened), kept by [`quiet_panics`].
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Makes a panic print nothing by itself (no `thread … panicked`, no backtrace, no
/// unmasked text on stderr) and keeps its message for the one error line that
/// reports it: the reader that caught it (a corrupt input file) or `main` (a bug,
/// exit 1). Called once by the binary.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        // One line: an assertion's message spans several.
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some((message, place));
        }
    }));
}

/// The message and place of the last panic since the previous call (see
/// [`quiet_panics`]); `None` without one (or without the hook).
pub fn take_panic() -> Option<(String, String)> {
    LAST_PANIC.lock().ok().and_then(|mut last| last.take())
}
