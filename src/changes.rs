//! What changed since last month: the previous month's snapshot in OUT against the
//! one just published — `person_status.benefit` transitions (from → to, people), new
//! and resolved gaps, and the regions with the most new suspensions. The manifest
//! carries the counts (`changes_since_previous`) and the run report draws them.
//!
//! Both snapshots are read back from their part files — the previous month's
//! published partitions, this month's parts as staged, just before they are
//! published (the same bytes) — so every run mode (plain, bucketed, sharded after
//! `merge-manifests`, backfill) gets the same answer from the same files; `docs/tables.md` has the DuckDB query that gives the same
//! numbers (the test suite runs it). Definitions:
//! - a person's `from` is their previous benefit, `(none)` when they had no row; `to`
//!   their benefit now, `(none)` when they have no row now. Unchanged pairs are listed
//!   too (`active → active`), so the counts add up to all people of either snapshot.
//! - a gap is identified by (`person_key`, `kind`, `gap_start`). **New**: in this
//!   snapshot, not in the previous one. **Resolved**: open or pending in the previous
//!   snapshot, and now neither open nor pending, or gone.
//! - a **new suspension**: `suspended` now and not `suspended` before (new people
//!   included), counted by the person's region now; the 20 regions with the most.

use crate::domain::{Benefit, Month};
use crate::error::{Error, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Regions listed in `new_suspensions_by_region`.
pub const TOP_REGIONS: usize = 20;
/// `from`/`to` of a person missing from one of the snapshots.
pub const NONE: &str = "(none)";

/// The counts the manifest and the report carry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub previous_as_of: String,
    pub benefit_transitions: Vec<Transition>,
    pub gaps_new: u64,
    pub gaps_resolved: u64,
    pub new_suspensions: u64,
    pub new_suspensions_by_region: Vec<RegionCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub people: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionCount {
    pub region: String,
    pub people: u64,
}

fn partition(out: &Path, table: &str, as_of: Month) -> PathBuf {
    out.join(table).join(format!("as_of={as_of}"))
}

/// The part files of a published partition, sorted; `None` when it does not exist.
fn parts(dir: &Path) -> Result<Option<Vec<PathBuf>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::input(dir, format!("cannot list: {e}"))),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::input(dir, format!("cannot list: {e}")))?;
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "parquet")
            && p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        {
            files.push(p);
        }
    }
    files.sort();
    Ok(Some(files))
}

/// Reads `columns` of every part of a partition as strings (booleans as
/// `true`/`false`, dates as `YYYY-MM-DD`), row by row.
fn read_rows(dir: &Path, columns: &[&str]) -> Result<Option<Vec<Vec<String>>>> {
    match parts(dir)? {
        Some(files) => read_files(&files, columns).map(Some),
        None => Ok(None),
    }
}

/// [`read_rows`] of the given part files.
fn read_files(files: &[PathBuf], columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    for f in files {
        let bad = |e: PolarsError| Error::input(f, format!("cannot read Parquet: {e}"));
        let file =
            std::fs::File::open(f).map_err(|e| Error::input(f, format!("cannot open: {e}")))?;
        let df = ParquetReader::new(file)
            .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
            .finish()
            .map_err(bad)?;
        let mut cols = Vec::with_capacity(columns.len());
        for c in columns {
            let col = df.column(c).map_err(bad)?;
            let text = col.cast(&DataType::String).map_err(bad)?;
            let ca = text.str().map_err(bad)?.clone();
            cols.push(ca);
        }
        for i in 0..df.height() {
            rows.push(
                cols.iter()
                    .map(|c| c.get(i).unwrap_or("").to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn benefit_rank(s: &str) -> (u8, String) {
    // Best first, then "(none)", then anything unexpected by name.
    match Benefit::parse(s) {
        Some(b) => (5 - b as u8, String::new()),
        None if s == NONE => (6, String::new()),
        None => (7, s.to_string()),
    }
}

/// The parts of this month's `person_status` and `gaps`, staged and about to be
/// published; `None` for a table this run does not write (its published partition,
/// if any, is read instead).
#[derive(Clone, Copy, Default)]
pub struct Staged<'a> {
    pub person_status: Option<&'a [PathBuf]>,
    pub gaps: Option<&'a [PathBuf]>,
}

/// The changes from the snapshot of `as_of − 1` (read from OUT) to the one of `as_of`
/// (its `staged` parts); `None` when OUT holds no published `person_status` for the
/// previous month (the manifest at `_manifests/<prev>.json` must exist too).
pub fn since_previous(out: &Path, as_of: Month, staged: Staged) -> Result<Option<Changes>> {
    let prev = as_of.plus(-1);
    if !out
        .join("_manifests")
        .join(format!("{prev}.json"))
        .is_file()
    {
        return Ok(None);
    }
    let status_cols = ["person_key", "benefit", "region"];
    let Some(before) = read_rows(&partition(out, "person_status", prev), &status_cols)? else {
        return Ok(None);
    };
    let current = |table: &str, files: Option<&[PathBuf]>, cols: &[&str]| match files {
        Some(files) => read_files(files, cols),
        None => Ok(read_rows(&partition(out, table, as_of), cols)?.unwrap_or_default()),
    };
    let now = current("person_status", staged.person_status, &status_cols)?;
    let gap_cols = ["person_key", "kind", "gap_start", "open", "state"];
    let gaps_before = read_rows(&partition(out, "gaps", prev), &gap_cols)?.unwrap_or_default();
    let gaps_now = current("gaps", staged.gaps, &gap_cols)?;
    Ok(Some(compare(prev, &before, &now, &gaps_before, &gaps_now)))
}

/// [`since_previous`] on rows already read: status rows `[person_key, benefit,
/// region]`, gap rows `[person_key, kind, gap_start, open, state]`.
pub fn compare(
    prev: Month,
    before: &[Vec<String>],
    now: &[Vec<String>],
    gaps_before: &[Vec<String>],
    gaps_now: &[Vec<String>],
) -> Changes {
    let was: HashMap<&str, &str> = before
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let mut pairs: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut by_region: BTreeMap<&str, u64> = BTreeMap::new();
    for r in now {
        let (key, to, region) = (r[0].as_str(), r[1].as_str(), r[2].as_str());
        seen.insert(key);
        let from = was.get(key).copied().unwrap_or(NONE);
        *pairs.entry((from.to_string(), to.to_string())).or_default() += 1;
        if to == "suspended" && from != "suspended" {
            *by_region.entry(region).or_default() += 1;
        }
    }
    for r in before {
        if !seen.contains(r[0].as_str()) {
            *pairs.entry((r[1].clone(), NONE.to_string())).or_default() += 1;
        }
    }
    let mut benefit_transitions: Vec<Transition> = pairs
        .into_iter()
        .map(|((from, to), people)| Transition { from, to, people })
        .collect();
    benefit_transitions.sort_by_key(|t| (benefit_rank(&t.from), benefit_rank(&t.to)));

    let new_suspensions = by_region.values().sum();
    let mut regions: Vec<RegionCount> = by_region
        .into_iter()
        .map(|(region, people)| RegionCount {
            region: region.to_string(),
            people,
        })
        .collect();
    regions.sort_by(|a, b| b.people.cmp(&a.people).then(a.region.cmp(&b.region)));
    regions.truncate(TOP_REGIONS);

    let id = |g: &Vec<String>| (g[0].clone(), g[1].clone(), g[2].clone());
    let unresolved = |g: &Vec<String>| g[3] == "true" || g[4] == "pending";
    let old: HashMap<_, bool> = gaps_before.iter().map(|g| (id(g), unresolved(g))).collect();
    let current: HashMap<_, bool> = gaps_now.iter().map(|g| (id(g), unresolved(g))).collect();
    let gaps_new = current.keys().filter(|k| !old.contains_key(*k)).count() as u64;
    let gaps_resolved = old
        .iter()
        .filter(|(k, was_open)| **was_open && !current.get(*k).copied().unwrap_or(false))
        .count() as u64;
    Changes {
        previous_as_of: prev.to_string(),
        benefit_transitions,
        gaps_new,
        gaps_resolved,
        new_suspensions,
        new_suspensions_by_region: regions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Vec<Vec<String>> {
        lines
            .iter()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn transitions_gaps_and_new_suspensions() {
        let before = rows(&[
            "a,active,370200",
            "b,active,370200",
            "c,waiting,110100",
            "d,suspended,370200",
        ]);
        let now = rows(&[
            "a,suspended,370200",
            "b,active,370200",
            "c,suspended,110100",
            "d,suspended,370200",
            "e,suspended,440300",
        ]);
        let gaps_before = rows(&[
            "a,employee,2026-01-01,true,pending",
            "c,employee,2025-01-01,false,break",
            "d,employee,2026-02-01,true,pending",
        ]);
        let gaps_now = rows(&[
            "a,employee,2026-01-01,false,bridged",
            "a,employee,2026-05-01,true,pending",
            "c,employee,2025-01-01,false,break",
            "d,employee,2026-02-01,true,pending",
            "e,employee,2026-05-01,true,pending",
        ]);
        let c = compare(
            Month::parse("2026-05").unwrap(),
            &before,
            &now,
            &gaps_before,
            &gaps_now,
        );
        let t: Vec<(&str, &str, u64)> = c
            .benefit_transitions
            .iter()
            .map(|t| (t.from.as_str(), t.to.as_str(), t.people))
            .collect();
        assert_eq!(
            t,
            vec![
                ("active", "active", 1),
                ("active", "suspended", 1),
                ("waiting", "suspended", 1),
                ("suspended", "suspended", 1),
                ("(none)", "suspended", 1),
            ]
        );
        assert_eq!((c.gaps_new, c.gaps_resolved), (2, 1));
        assert_eq!(c.new_suspensions, 3);
        let r: Vec<(&str, u64)> = c
            .new_suspensions_by_region
            .iter()
            .map(|r| (r.region.as_str(), r.people))
            .collect();
        assert_eq!(r, vec![("110100", 1), ("370200", 1), ("440300", 1)]);
        assert_eq!(c.previous_as_of, "2026-05");
        // A person gone from the snapshot is a transition to (none).
        let c = compare(
            Month::parse("2026-05").unwrap(),
            &before,
            &now[..1],
            &[],
            &[],
        );
        assert!(
            c.benefit_transitions
                .iter()
                .any(|t| t.from == "waiting" && t.to == NONE)
        );
    }
}
