//! `ledgerflow generate`: a deterministic synthetic ledger for demos, tests and
//! benchmarks (CONTRACT.md §1, §2).
//!
//! People are generated one at a time from their own random stream (splitmix64 seeded
//! by the run's seed and the person's index), so memory stays bounded by one person's
//! rows plus the open month writers, and a rerun with the same seed writes the same
//! bytes. Every row goes to the file of its **settlement month**: the month of
//! `paid_on`, or the period itself for a declaration (empty `paid_on`). Rows settled
//! after the last generated month are not written; rows that would settle before the
//! first one (a resident paying in the window before the range) are moved to the
//! first days of the first month.
//!
//! The mix follows the brief of the sample data: ≈70 % employees (employer arrears,
//! job changes, a few unemployment-fund months), ≈20 % flexible workers (short gaps
//! back-paid, long gaps never paid, payments a few days late), ≈10 % residents
//! (window payments, late payments, skipped and repaired years, newborns,
//! government subsidies for special groups). On top of that, ≈0.1 % of the rows get a
//! faulty copy for every reject type of CONTRACT.md §4 (at least two of each when
//! fewer than 1000 people are generated).
//!
//! CSV months are written through one buffered writer per month. Parquet months are
//! spooled to a plain text file per month first and converted one month at a time,
//! so at most one month's columns are in memory. Parquet columns are all strings
//! (a faulty value must be representable); empty values are nulls.

use crate::domain::{Date, Fen, Month, Payer, Rate, RejectType, Scheme, SpecialGroup};
use crate::error::{Error, Result};
use crate::id::PersonId;
use polars::prelude::*;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

mod ledger;
mod people;
mod rng;
#[cfg(test)]
mod tests;
mod write;

use ledger::*;
use people::*;
use rng::*;
use write::*;

/// Output format of the ledger files (the registry is always CSV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

/// Arguments of `ledgerflow generate`.
#[derive(Clone, Debug)]
pub struct GenerateArgs {
    pub persons: u64,
    pub months: u32,
    pub start: Month,
    pub seed: u64,
    pub out: PathBuf,
    pub format: Format,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Ledger files plus the registry file.
    pub files: usize,
    pub ledger_rows: u64,
    pub registry_rows: u64,
}

/// The generated ledger columns: CONTRACT.md §2.1 without `txn_id`.
const LEDGER_HEADER: [&str; 9] = {
    let c = crate::ledger::LEDGER_COLUMNS;
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]]
};
const REGISTRY_HEADER: &str = "person_id,group,valid_from,valid_to";

/// Share of rows that get a faulty copy, per reject type.
const BAD_ROW_RATE: f64 = 0.001;
/// Below this many people, every reject type is forced at least [`MIN_BAD_PER_TYPE`] times.
const FORCE_BAD_BELOW: u64 = 1000;
const MIN_BAD_PER_TYPE: u64 = 2;

/// Insuring regions (city-level division codes) with the district codes their
/// residents' ID numbers usually start with.
const CITIES: [(&str, &[u32]); 4] = [
    ("370200", &[370202, 370203, 370211, 370212, 370213]),
    ("310100", &[310101, 310104, 310105, 310110, 310115]),
    ("440100", &[440103, 440104, 440105, 440106, 440111]),
    ("320500", &[320505, 320506, 320507, 320508]),
];
/// Places of origin of people insured away from home.
const ORIGINS: [u32; 8] = [
    412726, 511321, 430524, 362201, 340823, 452123, 130182, 230103,
];

/// The national rules (the shipped rule file's `*` blocks), resolved once: the
/// generator pays what they require (RULES.md §3, §5, §6).
fn national() -> &'static crate::config::Resolver {
    static NATIONAL: std::sync::OnceLock<crate::config::Resolver> = std::sync::OnceLock::new();
    NATIONAL.get_or_init(|| crate::config::RuleSet::national().resolver(&[0]))
}

/// `rate(scheme)` of the national rules for month `m` (RULES.md §3).
fn contribution_rate(scheme: Scheme, m: Month) -> Rate {
    national().at(0, m).rate(scheme)
}

/// Government share of the resident standard per group in `year` (RULES.md §6).
fn subsidy_ratio(g: SpecialGroup, year: i32) -> Rate {
    national().at(0, Month::january(year)).subsidy_ratio(g)
}

/// Resident personal standard of a coverage year (RULES.md §5).
fn resident_standard(year: i32) -> Fen {
    national().at(0, Month::january(year)).resident_contribution
}

/// Writes the synthetic ledger and registry under `args.out` (see the module docs).
pub fn generate(args: &GenerateArgs, say: &mut dyn FnMut(&str)) -> Result<Generated> {
    generate_with_stats(args, say).map(|(g, _)| g)
}

/// What a run generated beyond [`Generated`]: people per kind and faulty rows per
/// reject type (indexed by `RejectType as usize`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Stats {
    kinds: [u64; 3],
    faults: [u64; 10],
}

fn generate_with_stats(
    args: &GenerateArgs,
    say: &mut dyn FnMut(&str),
) -> Result<(Generated, Stats)> {
    if args.persons == 0 || args.months == 0 {
        return Err(Error::Usage(
            "--persons and --months must be at least 1".into(),
        ));
    }
    if args.months > 1200 {
        return Err(Error::Usage("--months must be at most 1200".into()));
    }
    let span = Span {
        start: args.start,
        end: args.start.plus(args.months as i32 - 1),
    };
    let ledger_dir = args.out.join("ledger");
    fs::create_dir_all(&ledger_dir).map_err(|e| Error::output(&ledger_dir, e))?;
    clear_old_ledger(&ledger_dir)?;
    let months: Vec<Month> = (0..span.n()).map(|k| span.start.plus(k)).collect();
    let ext = match args.format {
        Format::Csv => "csv",
        Format::Parquet => "spool",
    };
    let paths: Vec<PathBuf> = months
        .iter()
        .map(|m| ledger_dir.join(format!("ledger-{m}.{ext}")))
        .collect();
    let mut writers = MonthWriters::open(paths, args.format == Format::Csv)?;
    let registry_path = args.out.join("special_groups.csv");
    let reg_file = File::create(&registry_path).map_err(|e| Error::output(&registry_path, e))?;
    let mut registry = BufWriter::new(reg_file);
    writeln!(registry, "{REGISTRY_HEADER}").map_err(|e| Error::output(&registry_path, e))?;

    say(&format!(
        "generating {} people, {} months {}..{}, seed {}, {} → {}",
        args.persons,
        args.months,
        span.start,
        span.end,
        args.seed,
        ext_name(args.format),
        args.out.display()
    ));
    let mut used = HashSet::with_capacity(args.persons.min(1 << 26) as usize);
    let mut fault_counts = [0u64; 10];
    let mut kinds = [0u64; 3];
    let mut ledger_rows = 0u64;
    let mut registry_rows = 0u64;
    let step = (args.persons / 10).max(1);
    for index in 0..args.persons {
        let (kind, mut p) = person(args.seed, index, &span, &mut used);
        kinds[kind as usize] += 1;
        let mut frng = Rng::new(args.seed, STREAM_FAULT, index);
        let forced = forced_faults(index, args.persons, args.format);
        add_faults(
            &mut frng,
            &mut p.rows,
            &forced,
            args.format,
            &mut fault_counts,
        );
        for row in &p.rows {
            writers.write((row.settle.0 - span.start.0) as usize, row)?;
        }
        ledger_rows += p.rows.len() as u64;
        for (g, from, to) in &p.groups {
            let to = to.map_or_else(String::new, |d| d.to_string());
            writeln!(registry, "{},{},{from},{to}", p.id, g.as_str())
                .map_err(|e| Error::output(&registry_path, e))?;
            registry_rows += 1;
        }
        if (index + 1) % step == 0 && index + 1 < args.persons {
            say(&format!("  {} people, {ledger_rows} rows", index + 1));
        }
    }
    let spools = writers.finish()?;
    registry
        .into_inner()
        .map_err(|e| Error::output(&registry_path, e.error()))?;
    if args.format == Format::Parquet {
        for (spool, m) in spools.iter().zip(&months) {
            spool_to_parquet(spool, &ledger_dir.join(format!("ledger-{m}.parquet")))?;
        }
    }
    say(&format!(
        "people: {} employee, {} flexible, {} resident; {registry_rows} special-group rows",
        kinds[0], kinds[1], kinds[2]
    ));
    let faults: Vec<String> = RejectType::ALL
        .iter()
        .map(|t| format!("{} {}", t.as_str(), fault_counts[*t as usize]))
        .collect();
    say(&format!("faulty rows: {}", faults.join(", ")));
    say(&format!(
        "wrote {ledger_rows} ledger rows in {} files",
        months.len()
    ));
    Ok((
        Generated {
            files: months.len() + 1,
            ledger_rows,
            registry_rows,
        },
        Stats {
            kinds,
            faults: fault_counts,
        },
    ))
}

fn ext_name(f: Format) -> &'static str {
    match f {
        Format::Csv => "CSV",
        Format::Parquet => "Parquet",
    }
}
