//! The engine's input and its evaluation, the same for every part of every run: the
//! accepted rows sorted and joined by person ([`prepare`]), everyone evaluated in
//! parallel over person chunks ([`evaluate`]), and the rows paid after `as_of`.

use crate::domain::{Date, Fen, Month};
use crate::engine::{self, Batch, GroupInterval, PersonInput, PersonRows};
use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs, LedgerRows};
use rayon::prelude::*;
use std::ops::Range;

/// Accepted rows paid after `K`, per input file (RULES.md §1).
pub fn future_rows_per_file(rows: &LedgerRows, k: Date, files: usize) -> Vec<u64> {
    let mut per = vec![0u64; files];
    for (i, p) in rows.paid_on.iter().enumerate() {
        if p.is_some_and(|d| d > k) {
            per[rows.file[i] as usize] += 1;
        }
    }
    per
}

/// Only the rows, registry entries and claims of the people `keep` says yes to (a
/// shard, the people an incremental run recomputes), with the same files (whether
/// claims were given decides findings) and no rejects.
pub fn select(inputs: &Inputs, keep: impl Fn(PersonId) -> bool) -> Inputs {
    Inputs {
        files: inputs.files.clone(),
        ledger: inputs.ledger.filtered(&keep),
        registry: inputs.registry.filtered(&keep),
        claims: inputs.claims.filtered(&keep),
        rejects: Vec::new(),
    }
}

/// The engine's input, prepared once per set of inputs (sorted, grouped by person) and
/// reusable for any `as_of` (backfill evaluates many months from one preparation).
/// [`prepare`] moves the accepted ledger rows out of the inputs into `rows`.
pub struct Prepared {
    pub rows: LedgerRows,
    pub persons: Vec<PersonSlot>,
    pub groups: Vec<GroupInterval>,
    pub claims: Vec<(i32, Fen)>,
    pub claims_given: bool,
    pub regions: Vec<u32>,
}

/// One person's ranges into [`Prepared`]'s sorted vectors.
pub struct PersonSlot {
    pub person: PersonId,
    pub rows: Range<usize>,
    pub groups: Range<usize>,
    pub claims: Range<usize>,
}

pub fn prepare(inputs: &mut Inputs) -> Prepared {
    let (rows, ranges) = engine::sort_for_engine(std::mem::take(&mut inputs.ledger));
    // Registry and claims, grouped by person in input order.
    let reg = &inputs.registry;
    let mut gidx: Vec<usize> = (0..reg.person.len()).collect();
    gidx.sort_by_key(|&i| (reg.person[i], i));
    let groups: Vec<GroupInterval> = gidx
        .iter()
        .map(|&i| GroupInterval {
            group: reg.group[i],
            valid_from: reg.valid_from[i],
            valid_to: reg.valid_to[i],
        })
        .collect();
    let gpersons: Vec<PersonId> = gidx.iter().map(|&i| reg.person[i]).collect();
    let cl = &inputs.claims;
    let mut cidx: Vec<usize> = (0..cl.person.len()).collect();
    cidx.sort_by_key(|&i| (cl.person[i], i));
    let claims: Vec<(i32, Fen)> = cidx
        .iter()
        .map(|&i| (cl.year[i], cl.fund_paid[i]))
        .collect();
    let cpersons: Vec<PersonId> = cidx.iter().map(|&i| cl.person[i]).collect();

    // Union of people with ledger rows and people in the registry (registry-only people
    // still get STATUS_GAP findings, RULES §6). Claims alone make no person.
    let mut persons = Vec::with_capacity(ranges.len());
    let (mut li, mut gi, mut ci) = (0usize, 0usize, 0usize);
    loop {
        let lp = ranges.get(li).map(|r| rows.person[r.start]);
        let gp = gpersons.get(gi).copied();
        let person = match (lp, gp) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let row_range = if lp == Some(person) {
            li += 1;
            ranges[li - 1].clone()
        } else {
            0..0
        };
        let g0 = gi;
        while gi < gpersons.len() && gpersons[gi] == person {
            gi += 1;
        }
        while ci < cpersons.len() && cpersons[ci] < person {
            ci += 1;
        }
        let c0 = ci;
        while ci < cpersons.len() && cpersons[ci] == person {
            ci += 1;
        }
        persons.push(PersonSlot {
            person,
            rows: row_range,
            groups: g0..gi,
            claims: c0..ci,
        });
    }
    let regions = distinct_regions(&rows.region, gpersons.iter().map(|p| p.id_region()));
    let claims_given = inputs.files.iter().any(|f| f.kind == InputKind::Claims);
    Prepared {
        rows,
        persons,
        groups,
        claims,
        claims_given,
        regions,
    }
}

/// The distinct regions of the rows and of `more`, ascending. A person's rows are
/// together and mostly of one region, so only a change of region is looked up (no
/// sorted copy of the whole column).
fn distinct_regions(rows: &[u32], more: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut seen = std::collections::BTreeSet::new();
    let mut last = None;
    for r in rows.iter().copied().chain(more) {
        if last != Some(r) {
            seen.insert(r);
            last = Some(r);
        }
    }
    seen.into_iter().collect()
}

impl Prepared {
    pub fn input(&self, slot: &PersonSlot) -> PersonInput<'_> {
        PersonInput {
            person: slot.person,
            rows: PersonRows::slice(&self.rows, slot.rows.clone()),
            groups: &self.groups[slot.groups.clone()],
            claims: &self.claims[slot.claims.clone()],
            claims_given: self.claims_given,
        }
    }
}

/// People per rayon task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 2048;

/// Evaluates everyone as of `as_of`, in parallel over contiguous person chunks; the
/// batch is in person order whatever the thread count.
pub fn evaluate<P: engine::ParamSource>(prep: &Prepared, params: &P, as_of: Month) -> Batch {
    let batches: Vec<Batch> = prep
        .persons
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut b = Batch::default();
            for slot in chunk {
                engine::evaluate_person(&prep.input(slot), params, as_of, &mut b);
            }
            b
        })
        .collect();
    let mut all = Batch::default();
    all.months
        .reserve(batches.iter().map(|b| b.months.len()).sum());
    for b in batches {
        all.append(b);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::distinct_regions;

    #[test]
    fn distinct_regions_are_sorted_and_unique_whatever_the_row_order() {
        let rows = [370_200, 370_200, 110_100, 370_200, 110_100, 440_300];
        let got = distinct_regions(&rows, [110_100, 120_000, 120_000].into_iter());
        assert_eq!(got, vec![110_100, 120_000, 370_200, 440_300]);
        assert_eq!(distinct_regions(&[], std::iter::empty()), Vec::<u32>::new());
    }
}
