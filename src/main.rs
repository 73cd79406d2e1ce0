//! The `ledgerflow` binary: parses arguments, calls the library, maps errors to exit
//! codes (CONTRACT.md §1): 0 success, 1 failure, 2 usage, 3 data-quality gate.

use clap::{Parser, Subcommand, ValueEnum};
use ledgerflow::cli;
use ledgerflow::domain::Month;
use ledgerflow::error::Error;
use ledgerflow::generate;
use ledgerflow::partition::Shard;
use ledgerflow::run::{BackfillOptions, RunOptions};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ledgerflow",
    version,
    about = "Contribution ledgers → per-person medical-insurance status tables (Parquet)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn parse_size(s: &str) -> Result<u64, String> {
    ledgerflow::run::memory::parse_size(s)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a size like 512M or 4G, got {s:?}"))
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s).ok_or_else(|| {
        format!(
            "expected K/N with 0 <= K < N <= {}, got {s:?}",
            ledgerflow::partition::MAX_PARTS
        )
    })
}

fn parse_month(s: &str) -> Result<Month, String> {
    Month::parse(s).ok_or_else(|| format!("expected a month YYYY-MM, got {s:?}"))
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate every person as of a month and write the tables and the manifest.
    Run {
        /// The pipeline file (e.g. pipelines/sample.toml).
        pipeline: PathBuf,
        /// Evaluate as of this month (default: the latest period in the accepted rows).
        #[arg(long, value_parser = parse_month)]
        as_of: Option<Month>,
        /// Output folder (overrides [outputs].dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Stay under this much memory (e.g. 2G, 512M) by processing people in spilled buckets
        /// (default: 2G, or 70 % of the available memory if less; with --incremental, 70 %).
        #[arg(long, value_parser = parse_size)]
        memory_budget: Option<u64>,
        /// Nightly runs: reuse unchanged files' checked rows and, for the same as-of and
        /// rules, the results of people whose rows did not change (OUT/_cache).
        #[arg(long)]
        incremental: bool,
        /// Evaluate only shard K of N (0-based); finish with `merge-manifests`.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
        /// Silence progress and the summary on stderr (errors are still printed).
        #[arg(long)]
        quiet: bool,
        /// Stderr: `text` (progress on a terminal, else one summary line) or `json` lines.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Wait for another run writing the same output folder instead of failing.
        #[arg(long)]
        wait_lock: bool,
    },
    /// Read and check the ledger once and write its accepted rows into one bucket file
    /// per shard, so that `run --shard K/N` reads only bucket K (OUT/_partition/).
    Partition {
        pipeline: PathBuf,
        /// N: the shards that will read the partition (`run --shard K/N`).
        #[arg(long)]
        shards: u32,
        /// Write file part I of M (0-based): the ledger files split into M contiguous
        /// parts in path order, one process each (default 0/1: all files).
        #[arg(long, value_parser = parse_shard, default_value = "0/1")]
        files: Shard,
        /// Output folder (overrides [outputs].dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Silence progress and the summary on stderr (errors are still printed).
        #[arg(long)]
        quiet: bool,
        /// Stderr: `text` (progress on a terminal, else one summary line) or `json` lines.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Wait for another run writing the same output folder instead of failing.
        #[arg(long)]
        wait_lock: bool,
    },
    /// Publish the N shard runs of one month as a snapshot and write its manifest.
    MergeManifests {
        pipeline: PathBuf,
        #[arg(long, value_parser = parse_month)]
        as_of: Month,
        /// How many shards ran (N of --shard K/N).
        #[arg(long)]
        shards: u32,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stderr: `text` (progress on a terminal, else one summary line) or `json` lines.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Wait for another run writing the same output folder instead of failing.
        #[arg(long)]
        wait_lock: bool,
    },
    /// Write one snapshot per month from --from to --to (inputs are read once).
    Backfill {
        pipeline: PathBuf,
        #[arg(long, value_parser = parse_month)]
        from: Month,
        #[arg(long, value_parser = parse_month)]
        to: Month,
        /// Output folder (overrides [outputs].dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Silence progress and the summary on stderr (errors are still printed).
        #[arg(long)]
        quiet: bool,
        /// Recompute months whose manifest says they are up to date.
        #[arg(long)]
        force: bool,
        /// Stderr: `text` (progress on a terminal, else one summary line) or `json` lines.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Wait for another run writing the same output folder instead of failing.
        #[arg(long)]
        wait_lock: bool,
    },
    /// Check a published snapshot against its manifest (exit 0 complete, 1 incomplete
    /// or mixed, one line per problem).
    Verify {
        pipeline: PathBuf,
        /// The snapshot to check (default: the latest period in the accepted rows).
        #[arg(long, value_parser = parse_month)]
        as_of: Option<Month>,
        /// Output folder (overrides [outputs].dir).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Read and validate the inputs; print the counts; write no tables.
    Validate {
        pipeline: PathBuf,
        #[arg(long, value_parser = parse_month)]
        as_of: Option<Month>,
    },
    /// Explain one person's statuses month by month, with the rules, dates and rows behind them.
    Explain {
        pipeline: PathBuf,
        /// The person's ID number (raw, even when outputs are pseudonymised).
        #[arg(long)]
        person: String,
        #[arg(long, value_parser = parse_month)]
        as_of: Option<Month>,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
    },
    /// Write a synthetic ledger (deterministic for a seed).
    Generate {
        #[arg(long)]
        persons: u64,
        #[arg(long)]
        months: u32,
        #[arg(long, value_parser = parse_month)]
        start: Month,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
}

/// `--log-format` (CONTRACT §1): how stderr speaks — see `ledgerflow::log`.
#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Progress lines on a terminal; otherwise one summary line at the end.
    Text,
    /// One JSON object per line: progress, stages, snapshots, summary, errors.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExplainFormat {
    Text,
    Json,
    /// One self-contained page (inline CSS and SVG): timeline, months, gaps, rules.
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Parquet,
}

fn main() -> ExitCode {
    ledgerflow::log::quiet_panics();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // The rejected value is echoed: an ID typed into the wrong flag is masked.
            let text = e.render().to_string();
            eprint!("{}", ledgerflow::privacy::shown_early(&text));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(0);
        }
    };
    let (code, message) = match std::panic::catch_unwind(AssertUnwindSafe(|| dispatch(cli))) {
        Ok(Ok(code)) => return ExitCode::from(code),
        Ok(Err(e)) => (
            match e {
                Error::Usage(_) => 2,
                _ => 1,
            },
            e.to_string(),
        ),
        // A bug, not bad input: one error line and exit 1 (CONTRACT §1, internal).
        Err(_) => {
            let (message, place) = ledgerflow::log::take_panic().unwrap_or_default();
            (1, format!("internal error at {place}: {message}"))
        }
    };
    ledgerflow::log::error(&ledgerflow::privacy::shown_early(&message), code);
    ledgerflow::log::summary(code);
    ExitCode::from(code)
}

fn start_log(format: LogFormat, quiet: bool, command: &str) {
    let format = match format {
        LogFormat::Text => ledgerflow::log::Format::Text,
        LogFormat::Json => ledgerflow::log::Format::Json,
    };
    ledgerflow::log::init(format, quiet, command);
}

/// The summary line of a finished command; returns its exit status.
fn finish(code: u8) -> u8 {
    ledgerflow::log::summary(code);
    code
}

/// More worker threads than this only exhaust the machine (each has its own stack):
/// `--threads 100000` hung and a mistyped huge number had the process killed.
const MAX_THREADS: usize = 1024;

fn set_threads(threads: Option<usize>) -> Result<(), Error> {
    if let Some(n) = threads {
        if !(1..=MAX_THREADS).contains(&n) {
            return Err(Error::Usage(format!(
                "--threads must be between 1 and {MAX_THREADS}, got {n}"
            )));
        }
        // SAFETY: called before any other thread exists (first thing in the command),
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var("POLARS_MAX_THREADS", n.to_string()) };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    }
    Ok(())
}

fn dispatch(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Run {
            pipeline,
            as_of,
            out,
            threads,
            memory_budget,
            incremental,
            shard,
            quiet,
            log_format,
            wait_lock,
        } => {
            start_log(log_format, quiet, "run");
            set_threads(threads)?;
            let outcome = cli::run::run(&RunOptions {
                pipeline,
                as_of,
                out,
                quiet,
                shard,
                incremental,
                memory_budget,
                wait_lock,
            })?;
            Ok(finish(if outcome.quality_gate_failed { 3 } else { 0 }))
        }
        Command::Backfill {
            pipeline,
            from,
            to,
            out,
            threads,
            quiet,
            force,
            log_format,
            wait_lock,
        } => {
            start_log(log_format, quiet, "backfill");
            set_threads(threads)?;
            let outcome = cli::backfill::backfill(&BackfillOptions {
                pipeline,
                from,
                to,
                out,
                quiet,
                force,
                wait_lock,
            })?;
            // One line per month on stdout: what an operator (or cron mail) reads.
            let mut lines: Vec<(Month, &str)> =
                outcome.written.iter().map(|m| (*m, "written")).collect();
            lines.extend(outcome.skipped.iter().map(|m| (*m, "skipped (up to date)")));
            lines.sort();
            for (m, what) in lines {
                println!("{m} {what}");
            }
            Ok(finish(if outcome.quality_gate_failed { 3 } else { 0 }))
        }
        Command::Partition {
            pipeline,
            shards,
            files,
            out,
            threads,
            quiet,
            log_format,
            wait_lock,
        } => {
            start_log(log_format, quiet, "partition");
            set_threads(threads)?;
            cli::partition::partition(&cli::partition::PartitionOptions {
                pipeline,
                out,
                shards,
                files,
                quiet,
                wait_lock,
            })?;
            Ok(finish(0))
        }
        Command::MergeManifests {
            pipeline,
            as_of,
            shards,
            out,
            log_format,
            wait_lock,
        } => {
            start_log(log_format, false, "merge-manifests");
            let code =
                cli::merge::merge_manifests(&pipeline, out.as_deref(), as_of, shards, wait_lock)?;
            Ok(finish(code))
        }
        Command::Verify {
            pipeline,
            as_of,
            out,
        } => cli::verify::verify(&pipeline, as_of, out),
        Command::Validate { pipeline, as_of } => {
            let gate_failed = cli::validate::validate(&pipeline, as_of)?;
            Ok(if gate_failed { 3 } else { 0 })
        }
        Command::Explain {
            pipeline,
            person,
            as_of,
            format,
        } => {
            let format = match format {
                ExplainFormat::Text => ledgerflow::explain::Format::Text,
                ExplainFormat::Json => ledgerflow::explain::Format::Json,
                ExplainFormat::Html => ledgerflow::explain::Format::Html,
            };
            let text = cli::explain::explain(&pipeline, &person, as_of, format)?;
            println!("{text}");
            Ok(0)
        }
        Command::Generate {
            persons,
            months,
            start,
            seed,
            out,
            format,
        } => {
            let args = generate::GenerateArgs {
                persons,
                months,
                start,
                seed,
                out,
                format: match format {
                    Format::Csv => generate::Format::Csv,
                    Format::Parquet => generate::Format::Parquet,
                },
            };
            cli::generate::generate(&args)?;
            Ok(0)
        }
    }
}
