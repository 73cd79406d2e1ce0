//! Who is touched: the people of each input file with a hash of their rows, and the
//! people whose rows differ between two runs' files.

use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// One input file of a run: for registry and claims files also their people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePeople {
    pub kind: InputKind,
    pub path: String,
    pub sha256: String,
    /// Registry and claims files: sorted by person, each once, the hash of the
    /// person's accepted rows in the file (values in file order; lines left out, as
    /// results do not depend on them). Empty for ledger files, whose people are read
    /// from the ledger cache when needed ([`ledger_people`]).
    pub people: Vec<(PersonId, u64)>,
}

/// The input files of a run, with the people of the registry and claims files.
pub fn file_people(inputs: &Inputs) -> Vec<FilePeople> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); inputs.files.len()];
    let (r, c) = (&inputs.registry, &inputs.claims);
    for (i, f) in r.file.iter().enumerate() {
        if let Some(v) = rows.get_mut(*f as usize) {
            v.push(i);
        }
    }
    for (i, f) in c.file.iter().enumerate() {
        if let Some(v) = rows.get_mut(*f as usize) {
            v.push(i);
        }
    }
    inputs
        .files
        .iter()
        .zip(rows)
        .map(|(f, rows)| FilePeople {
            kind: f.kind,
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            people: match f.kind {
                InputKind::Ledger => Vec::new(),
                InputKind::SpecialGroups => hash_people(rows, &r.person, |i| {
                    [
                        r.group[i] as u64,
                        r.valid_from[i].0 as u64,
                        r.valid_to[i].is_some() as u64,
                        r.valid_to[i].map_or(0, |d| d.0 as u64),
                    ]
                }),
                InputKind::Claims => hash_people(rows, &c.person, |i| {
                    [c.year[i] as u64, c.fund_paid[i].0 as u64]
                }),
            },
        })
        .collect()
}

/// The people of the ledger file with this SHA-256, from its ledger-cache entry: every
/// checked row *before* the duplicate check (so the list depends only on the file's
/// bytes; a row that is a duplicate in one run and the kept copy in the next belongs
/// to a person who has the other copy in a changed file). `None` without an entry.
pub fn ledger_people(
    cache: &Path,
    encoding: crate::domain::Encoding,
    sheet: Option<&str>,
    sha256: &str,
) -> Option<Vec<(PersonId, u64)>> {
    let (l, text) = crate::validate::cached_ledger_rows(cache, encoding, sheet, sha256)?;
    Some(hash_people((0..l.len()).collect(), &l.person, |i| {
        [
            l.period[i].0 as u64,
            l.scheme[i] as u64,
            l.payer[i] as u64,
            l.amount[i].0 as u64,
            l.base[i].is_some() as u64,
            l.base[i].map_or(0, |b| b.0 as u64),
            l.paid_on[i].is_some() as u64,
            l.paid_on[i].map_or(0, |d| d.0 as u64),
            l.region[i] as u64,
            text[i],
        ]
    }))
}

/// The people of these rows (indices in file order), each with the hash of their rows.
fn hash_people<const N: usize>(
    mut rows: Vec<usize>,
    person: &[PersonId],
    values: impl Fn(usize) -> [u64; N],
) -> Vec<(PersonId, u64)> {
    rows.sort_by_key(|&i| person[i]);
    let mut out: Vec<(PersonId, u64)> = Vec::new();
    for i in rows {
        let h = values(i).into_iter().fold(0x243f_6a88_85a3_08d3, mix);
        match out.last_mut() {
            Some((p, acc)) if *p == person[i] => *acc = mix(*acc, h),
            _ => out.push((person[i], mix(0x1319_8a2e_0370_7344, h))),
        }
    }
    out
}

/// Order-sensitive 64-bit mixing (splitmix64's finalizer on both sides).
fn mix(h: u64, v: u64) -> u64 {
    fn fin(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fin(h.rotate_left(23) ^ fin(v.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// The people whose rows differ between two runs' input files (a file is its kind and
/// path): per file, the people added, removed or with other rows; every person of a
/// file that is new or gone. Ledger files with the same SHA-256 are skipped; the
/// people of the others come from `ledger` (by SHA-256). Sorted, each once; `None`
/// when `ledger` has no list for a file.
pub fn touched(
    before: &[FilePeople],
    now: &[FilePeople],
    ledger: impl Fn(&str) -> Option<Vec<(PersonId, u64)>>,
) -> Option<Vec<PersonId>> {
    let mut out = Vec::new();
    let index = |list: &[FilePeople]| -> HashMap<(InputKind, String), usize> {
        let key = |(i, f): (usize, &FilePeople)| ((f.kind, f.path.clone()), i);
        list.iter().enumerate().map(key).collect()
    };
    let (before_at, now_at) = (index(before), index(now));
    let at = |map: &HashMap<(InputKind, String), usize>, f: &FilePeople| {
        map.get(&(f.kind, f.path.clone())).copied()
    };
    let people = |f: &FilePeople| -> Option<Vec<(PersonId, u64)>> {
        match f.kind {
            InputKind::Ledger => ledger(&f.sha256),
            _ => Some(f.people.clone()),
        }
    };
    for f in now {
        match at(&before_at, f).map(|b| &before[b]) {
            Some(b) if f.kind == InputKind::Ledger && b.sha256 == f.sha256 => {}
            Some(b) => differing(&people(b)?, &people(f)?, &mut out),
            None => out.extend(people(f)?.iter().map(|x| x.0)),
        }
    }
    for b in before {
        if at(&now_at, b).is_none() {
            out.extend(people(b)?.iter().map(|x| x.0));
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Appends the people of two sorted lists whose entries differ (or exist in one only).
fn differing(a: &[(PersonId, u64)], b: &[(PersonId, u64)], out: &mut Vec<PersonId>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                if x.1 != y.1 {
                    out.push(x.0);
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(x.0);
                i += 1;
            }
            (Some(x), None) => {
                out.push(x.0);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(y.0);
                j += 1;
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_people_are_those_whose_rows_differ() {
        let file = |kind, path: &str, sha: &str, people: Vec<(u64, u64)>| FilePeople {
            kind,
            path: path.into(),
            sha256: sha.into(),
            people: people.into_iter().map(|(p, h)| (PersonId(p), h)).collect(),
        };
        let ledger = |sha: &str| -> Option<Vec<(PersonId, u64)>> {
            let v: Vec<(u64, u64)> = match sha {
                "a1" => vec![(1, 10), (2, 20), (3, 30)],
                "a2" => vec![(1, 10), (2, 21), (4, 40)],
                "b" => vec![(5, 50)],
                "c" => vec![(6, 60), (7, 70)],
                "d" => vec![(8, 80)],
                _ => return None,
            };
            Some(v.into_iter().map(|(p, h)| (PersonId(p), h)).collect())
        };
        let before = vec![
            file(InputKind::Ledger, "a", "a1", vec![]),
            file(InputKind::Ledger, "b", "b", vec![]),
            file(InputKind::Ledger, "c", "c", vec![]),
            file(InputKind::SpecialGroups, "sg", "s1", vec![(9, 1), (10, 1)]),
        ];
        let now = vec![
            file(InputKind::Ledger, "a", "a2", vec![]),
            file(InputKind::Ledger, "b", "b", vec![]),
            file(InputKind::Ledger, "d", "d", vec![]),
            file(
                InputKind::SpecialGroups,
                "sg",
                "s2",
                vec![(9, 1), (10, 2), (11, 1)],
            ),
        ];
        let t: Vec<u64> = touched(&before, &now, ledger)
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        // a: 2 changed, 3 gone, 4 new; c gone: 6, 7; d new: 8; registry: 10, 11.
        assert_eq!(t, [2, 3, 4, 6, 7, 8, 10, 11]);
        assert_eq!(touched(&before, &before, ledger), Some(vec![]));
        assert_eq!(touched(&before, &now, |_| None), None);
    }

    #[test]
    fn row_hashes_see_values_and_their_order() {
        let person = [PersonId(1), PersonId(2), PersonId(1)];
        let h = |vals: [[u64; 2]; 3]| hash_people(vec![0, 1, 2], &person, |i| vals[i]);
        let base = h([[1, 2], [3, 4], [5, 6]]);
        assert_eq!(base.len(), 2);
        assert_eq!(
            base[0],
            h([[1, 2], [9, 9], [5, 6]])[0],
            "another person's row"
        );
        assert_ne!(
            base[0],
            h([[5, 6], [3, 4], [1, 2]])[0],
            "order of a person's rows"
        );
        assert_ne!(base[0], h([[1, 2], [3, 4], [5, 7]])[0], "a value");
        assert_eq!(
            base[1],
            h([[1, 2], [3, 4], [5, 7]])[1],
            "other people unaffected"
        );
    }
}
