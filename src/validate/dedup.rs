//! Exact duplicate rows: a 64-bit hash per row, sorted, compared exactly within runs.

use crate::error::{Error, Result};
use crate::ledger::LedgerRows;
use rayon::prelude::*;

pub(super) const TEXT_SEED: u64 = 0x243F_6A88_85A3_08D3;
pub(super) const K1: u64 = 0x9E37_79B9_7F4A_7C15;
pub(super) const K2: u64 = 0xD6E8_FEB8_6659_FD93;

pub(super) fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A 64-bit hash of `s` continuing from `h` (folded-multiply mixing, length-aware).
pub(super) fn hash_bytes(mut h: u64, s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    fold_mul(h ^ s.len() as u64, K2)
}

/// Hash of every compared value of ledger row `i` (equal rows hash equal).
pub(super) fn ledger_row_hash(r: &LedgerRows, text: &[u64], i: usize) -> u64 {
    let mut h = fold_mul(r.person[i].0 ^ K1, K2);
    h = fold_mul(
        h ^ (r.period[i].0 as u32 as u64)
            ^ ((r.scheme[i] as u64) << 32)
            ^ ((r.payer[i] as u64) << 40),
        K1,
    );
    h = fold_mul(h ^ r.amount[i].0 as u64, K2);
    h = fold_mul(h ^ r.base[i].map_or(u64::MAX, |b| b.0 as u64), K1);
    h = fold_mul(
        h ^ r.paid_on[i].map_or(u64::MAX, |d| d.0 as u32 as u64) ^ ((r.region[i] as u64) << 32),
        K2,
    );
    fold_mul(h ^ text[i], K1)
}

pub(super) fn same_ledger_row(r: &LedgerRows, text: &[u64], a: usize, b: usize) -> bool {
    r.person[a] == r.person[b]
        && r.period[a] == r.period[b]
        && r.scheme[a] == r.scheme[b]
        && r.payer[a] == r.payer[b]
        && r.amount[a] == r.amount[b]
        && r.base[a] == r.base[b]
        && r.paid_on[a] == r.paid_on[b]
        && r.region[a] == r.region[b]
        && text[a] == text[b]
}

/// Exact duplicates among accepted ledger rows: (duplicate, first copy) by row index,
/// sorted by duplicate.
///
/// Sorts one `u64` per row — the row hash's upper 32 bits above the row index — in
/// parallel, then compares rows exactly within each run of equal hashes. 8 bytes per
/// row and no allocation per row, for tens of millions of rows.
pub(super) fn ledger_duplicates(r: &LedgerRows, text: &[u64]) -> Result<Vec<(usize, usize)>> {
    duplicates_by_hash(r, text, 0xFFFF_FFFF_0000_0000)
}

/// [`ledger_duplicates`] keeping the hash bits of `mask` (upper 32 bits at most).
pub(super) fn duplicates_by_hash(
    r: &LedgerRows,
    text: &[u64],
    mask: u64,
) -> Result<Vec<(usize, usize)>> {
    let n = r.len();
    if n > u32::MAX as usize {
        return Err(Error::Internal(format!(
            "{n} ledger rows exceed the supported 4294967295"
        )));
    }
    let mut keys: Vec<u64> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(|i| (ledger_row_hash(r, text, i) & mask) | i as u64)
        .collect();
    keys.par_sort_unstable();
    let mut dups = Vec::new();
    let mut firsts: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < n {
        let hi = keys[i] & mask;
        let mut j = i + 1;
        while j < n && keys[j] & mask == hi {
            j += 1;
        }
        if j - i > 1 {
            firsts.clear();
            for &k in &keys[i..j] {
                let row = (k & 0xFFFF_FFFF) as usize;
                match firsts.iter().find(|&&f| same_ledger_row(r, text, f, row)) {
                    Some(&f) => dups.push((row, f)),
                    None => firsts.push(row),
                }
            }
        }
        i = j;
    }
    dups.sort_unstable();
    Ok(dups)
}

/// ((file, line) of a duplicate, (file, line) of its first copy) for each duplicate.
pub(super) type Lookup = Vec<((u32, u32), (u32, u32))>;

/// Exact duplicates of small inputs by sorting indices on the full key.
pub(super) fn small_duplicates<T, K: Ord>(
    values: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<(usize, usize)> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| key(&values[a]).cmp(&key(&values[b])).then(a.cmp(&b)));
    let mut dups = Vec::new();
    let mut first = 0usize;
    for (k, &i) in idx.iter().enumerate() {
        if k == 0 || key(&values[i]) != key(&values[idx[k - 1]]) {
            first = i;
        } else {
            dups.push((i, first));
        }
    }
    dups.sort_unstable();
    dups
}

pub(super) fn small_lookup<V>(values: &[(V, u32, u32)], dups: &[(usize, usize)]) -> Lookup {
    dups.iter()
        .map(|&(d, f)| ((values[d].1, values[d].2), (values[f].1, values[f].2)))
        .collect()
}
