//! The engine's row order — by person, period, `paid_on` (declarations last), then
//! input order — found without a comparison sort of every row: a stable radix sort of
//! the row indices by person, then each person's few rows ordered by (period,
//! `paid_on`) in parallel. Rows already in that order are not moved at all.

use crate::ledger::LedgerRows;
use rayon::prelude::*;
use std::ops::Range;

/// Sorts accepted rows for the engine — by person, period, `paid_on` (declarations
/// last), then input order — and returns the sorted rows with each person's range.
/// Takes the rows by value so that each column is freed as soon as it is sorted.
/// Every step is stable on the input index, so the result is independent of thread
/// count.
pub fn sort_for_engine(rows: LedgerRows) -> (LedgerRows, Vec<Range<usize>>) {
    let sorted = match engine_order(&rows) {
        None => rows,
        Some(order) => gather_rows(&order, rows),
    };
    let ranges = runs(&sorted.person);
    (sorted, ranges)
}

/// Period, then `paid_on` with declarations (`None`) last, in one integer whose order
/// is theirs.
fn within_person(rows: &LedgerRows, i: usize) -> u64 {
    let paid = rows.paid_on[i].map_or(u32::MAX, |d| (d.0 as i64 - i32::MIN as i64) as u32);
    let period = (rows.period[i].0 as i64 - i32::MIN as i64) as u64;
    period << 32 | paid as u64
}

/// The input indices in engine order; `None` when the rows are in it already.
fn engine_order(rows: &LedgerRows) -> Option<Vec<u32>> {
    let n = rows.len();
    let in_order = (1..n).into_par_iter().with_min_len(1 << 14).all(|i| {
        let (a, b) = (rows.person[i - 1], rows.person[i]);
        a < b || a == b && within_person(rows, i - 1) <= within_person(rows, i)
    });
    if in_order {
        return None;
    }
    let keys: Vec<u64> = rows.person.par_iter().map(|p| p.0).collect();
    let (keys, mut order) = radix_sort_indices(keys);
    // Each person's rows are in input order; order them by (period, paid_on), stably.
    let people = runs(&keys);
    drop(keys);
    let blocks = person_blocks(people, &mut order, 1 << 15);
    blocks.into_par_iter().for_each(|(block, people)| {
        for r in people {
            let rows_of = &mut block[r];
            let sorted = rows_of
                .windows(2)
                .all(|w| within_person(rows, w[0] as usize) <= within_person(rows, w[1] as usize));
            if !sorted {
                rows_of.sort_by_key(|&i| within_person(rows, i as usize));
            }
        }
    });
    Some(order)
}

/// Splits `order` into blocks of about `size` indices that start and end on a
/// person (`people`: the ranges of equal keys), each with the ranges of its people
/// relative to the block.
fn person_blocks(
    people: Vec<Range<usize>>,
    order: &mut [u32],
    size: usize,
) -> Vec<(&mut [u32], Vec<Range<usize>>)> {
    let mut blocks = Vec::new();
    let (mut rest, mut start, mut current) = (order, 0, Vec::new());
    let last = people.last().map_or(0, |r| r.end);
    for r in people {
        let end = r.end;
        current.push(r.start - start..end - start);
        if end - start >= size || end == last {
            let (block, tail) = rest.split_at_mut(end - start);
            blocks.push((block, std::mem::take(&mut current)));
            rest = tail;
            start = end;
        }
    }
    blocks
}

/// Bits of the key per radix pass (2048 buckets: the counts stay in L1 cache).
const DIGIT_BITS: u32 = 11;

/// A stable LSD radix sort of `keys` carrying each key's index: the sorted keys and
/// the indices in that order (equal keys keep index order). Passes over bits that are
/// the same in every key are skipped; each pass scatters in parallel, one slice of the
/// rows per thread (the result does not depend on how many).
fn radix_sort_indices(keys: Vec<u64>) -> (Vec<u64>, Vec<u32>) {
    let parts = rayon::current_num_threads().min(keys.len() >> 16).max(1);
    radix_sort_indices_in(keys, parts)
}

/// [`radix_sort_indices`] with the rows cut into `parts` slices per pass.
fn radix_sort_indices_in(keys: Vec<u64>, parts: usize) -> (Vec<u64>, Vec<u32>) {
    let n = keys.len();
    let mut idx: Vec<u32> = (0..n as u32).collect();
    let Some(&first) = keys.first() else {
        return (keys, idx);
    };
    let differ = keys
        .par_iter()
        .fold(|| 0u64, |acc, &k| acc | (k ^ first))
        .reduce(|| 0, |a, b| a | b);
    if differ == 0 {
        return (keys, idx);
    }
    let low = differ.trailing_zeros();
    let high = 64 - differ.leading_zeros();
    let passes = (high - low).div_ceil(DIGIT_BITS);
    let digit = |k: u64, s: u32| ((k >> s) & ((1 << DIGIT_BITS) - 1)) as usize;
    let chunk = n.div_ceil(parts.max(1));
    let mut keys = keys;
    let mut keys2 = vec![0u64; n];
    let mut idx2 = vec![0u32; n];
    for s in (0..passes).map(|p| low + p * DIGIT_BITS) {
        // Each slice's count per digit, in the order the previous pass left.
        let counts: Vec<Vec<usize>> = keys
            .par_chunks(chunk)
            .map(|c| {
                let mut count = vec![0usize; 1 << DIGIT_BITS];
                c.iter().for_each(|&k| count[digit(k, s)] += 1);
                count
            })
            .collect();
        if (0..1 << DIGIT_BITS).any(|b| counts.iter().map(|c| c[b]).sum::<usize>() == n) {
            continue; // every key has the same digit: nothing moves
        }
        // Where each slice's rows of each digit go: digit by digit, slice by slice
        // within a digit, so that equal digits keep their order.
        let mut starts = vec![vec![0usize; 1 << DIGIT_BITS]; counts.len()];
        let mut sum = 0;
        for b in 0..1 << DIGIT_BITS {
            for (start, count) in starts.iter_mut().zip(&counts) {
                start[b] = sum;
                sum += count[b];
            }
        }
        let (to_keys, to_idx) = (Scatter(keys2.as_mut_ptr()), Scatter(idx2.as_mut_ptr()));
        keys.par_chunks(chunk)
            .zip(idx.par_chunks(chunk))
            .zip(starts)
            .for_each(|((ks, is), mut next)| {
                for (&k, &i) in ks.iter().zip(is) {
                    let b = digit(k, s);
                    let at = next[b];
                    // SAFETY: `at` < n, and no two rows get the same `at`: the slices'
                    // ranges per digit are disjoint and each advances by one per row.
                    unsafe {
                        to_keys.write(at, k);
                        to_idx.write(at, i);
                    }
                    next[b] = at + 1;
                }
            });
        std::mem::swap(&mut keys, &mut keys2);
        std::mem::swap(&mut idx, &mut idx2);
    }
    (keys, idx)
}

/// The output of a scatter pass, written by several threads at once, each at
/// positions no other thread writes (see [`radix_sort_indices_in`]).
#[derive(Clone, Copy)]
struct Scatter<T>(*mut T);

// SAFETY: the threads write disjoint positions of one buffer that outlives them.
unsafe impl<T: Send> Send for Scatter<T> {}
unsafe impl<T: Send> Sync for Scatter<T> {}

impl<T> Scatter<T> {
    /// # Safety
    /// `at` is within the buffer, and no other thread writes or reads it meanwhile.
    unsafe fn write(self, at: usize, value: T) {
        unsafe { self.0.add(at).write(value) }
    }
}

/// The rows in `order`, column by column, each input column freed once gathered: one
/// column's extra memory instead of a second copy of the rows.
fn gather_rows(order: &[u32], rows: LedgerRows) -> LedgerRows {
    fn gather<T: Copy + Send + Sync>(order: &[u32], v: Vec<T>) -> Vec<T> {
        order.par_iter().map(|&i| v[i as usize]).collect()
    }
    let LedgerRows {
        person,
        period,
        scheme,
        payer,
        amount,
        base,
        paid_on,
        region,
        file,
        line,
    } = rows;
    LedgerRows {
        person: gather(order, person),
        period: gather(order, period),
        scheme: gather(order, scheme),
        payer: gather(order, payer),
        amount: gather(order, amount),
        base: gather(order, base),
        paid_on: gather(order, paid_on),
        region: gather(order, region),
        file: gather(order, file),
        line: gather(order, line),
    }
}

/// The range of each run of equal values.
fn runs<T: PartialEq>(person: &[T]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut lo = 0;
    while lo < person.len() {
        let mut hi = lo + 1;
        while hi < person.len() && person[hi] == person[lo] {
            hi += 1;
        }
        ranges.push(lo..hi);
        lo = hi;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Date, Fen, Month, Payer, Scheme};
    use crate::id::PersonId;

    /// The order of the comparison sort this module replaces.
    fn reference_order(rows: &LedgerRows) -> Vec<u32> {
        let mut keys: Vec<(u64, u64, u32)> = (0..rows.len())
            .map(|i| (rows.person[i].0, within_person(rows, i), i as u32))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|k| k.2).collect()
    }

    /// Rows with few people (many ties), periods and paid days out of order, some
    /// declarations, from a small deterministic generator.
    fn shuffled_rows(n: usize, people: u64, seed: u64) -> LedgerRows {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s >> 33
        };
        let mut rows = LedgerRows::default();
        for line in 0..n {
            // Spread over the high bits too, as real IDs are.
            let p = next() % people;
            rows.person
                .push(PersonId(p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4));
            rows.period.push(Month(24_000 + (next() % 5) as i32));
            let paid = next() % 4;
            rows.paid_on
                .push((paid != 0).then(|| Date(19_000 + paid as i32 % 2)));
            rows.scheme.push(Scheme::Employee);
            rows.payer.push(Payer::Employer);
            rows.amount.push(Fen(line as i64));
            rows.base.push(None);
            rows.region.push(370_200);
            rows.file.push(0);
            rows.line.push(line as u32 + 2);
        }
        rows
    }

    #[test]
    fn radix_order_is_the_comparison_sorts_order_ties_in_input_order() {
        for (n, people, seed) in [
            (0, 1, 1),
            (1, 1, 2),
            (50, 1, 3),
            (5_000, 40, 4),
            (70_000, 9_000, 5),
        ] {
            let rows = shuffled_rows(n, people, seed);
            let want = reference_order(&rows);
            let got = engine_order(&rows).unwrap_or_else(|| (0..n as u32).collect());
            assert_eq!(got, want, "n={n} people={people}");
            let (sorted, ranges) = sort_for_engine(rows.clone());
            let lines: Vec<u32> = want.iter().map(|&i| rows.line[i as usize]).collect();
            assert_eq!(sorted.line, lines);
            assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), n);
        }
    }

    #[test]
    fn rows_already_in_engine_order_are_not_moved() {
        let rows = shuffled_rows(3_000, 100, 9);
        let (sorted, _) = sort_for_engine(rows);
        assert_eq!(engine_order(&sorted), None);
        let again = sort_for_engine(sorted.clone()).0;
        assert_eq!(again.line, sorted.line);
    }

    #[test]
    fn radix_sort_keeps_equal_keys_in_index_order() {
        let keys = vec![5u64, 1 << 40, 5, 0, 1 << 40, 7, 0];
        let (sorted, idx) = radix_sort_indices(keys);
        assert_eq!(sorted, vec![0, 0, 5, 5, 7, 1 << 40, 1 << 40]);
        assert_eq!(idx, vec![3, 6, 0, 2, 5, 1, 4]);
    }

    #[test]
    fn radix_sort_is_the_same_in_any_number_of_slices() {
        let rows = shuffled_rows(20_000, 700, 11);
        let keys: Vec<u64> = rows.person.iter().map(|p| p.0).collect();
        let mut want: Vec<(u64, u32)> = keys.iter().copied().zip(0..).collect();
        want.sort_unstable();
        let (want_keys, want_idx): (Vec<u64>, Vec<u32>) = want.into_iter().unzip();
        for parts in [1, 2, 3, 7, 64] {
            let (got_keys, got_idx) = radix_sort_indices_in(keys.clone(), parts);
            assert_eq!(got_keys, want_keys, "parts={parts}");
            assert_eq!(got_idx, want_idx, "parts={parts}");
        }
    }
}
