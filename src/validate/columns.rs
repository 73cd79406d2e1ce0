//! The accepted ledger rows as columns: reserving, appending and removing rows.

use super::LedgerValue;
use crate::ledger::LedgerRows;

pub(super) fn reserve_ledger(r: &mut LedgerRows, n: usize) {
    r.person.reserve(n);
    r.period.reserve(n);
    r.scheme.reserve(n);
    r.payer.reserve(n);
    r.amount.reserve(n);
    r.base.reserve(n);
    r.paid_on.reserve(n);
    r.region.reserve(n);
    r.file.reserve(n);
    r.line.reserve(n);
}

pub(super) fn push_ledger(
    r: &mut LedgerRows,
    text: &mut Vec<u64>,
    v: LedgerValue,
    file: u32,
    line: u32,
) {
    r.person.push(v.person);
    r.period.push(v.period);
    r.scheme.push(v.scheme);
    r.payer.push(v.payer);
    r.amount.push(v.amount);
    r.base.push(v.base);
    r.paid_on.push(v.paid_on);
    r.region.push(v.region);
    r.file.push(file);
    r.line.push(line);
    text.push(v.text);
}

pub(super) fn remove_ledger_rows(r: &mut LedgerRows, drop: impl Iterator<Item = usize>) {
    let mut mask = vec![false; r.len()];
    let mut any = false;
    for i in drop {
        if let Some(m) = mask.get_mut(i) {
            *m = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    fn retain<T>(v: &mut Vec<T>, mask: &[bool]) {
        let mut i = 0;
        v.retain(|_| {
            let keep = !mask.get(i).copied().unwrap_or(false);
            i += 1;
            keep
        });
    }
    retain(&mut r.person, &mask);
    retain(&mut r.period, &mask);
    retain(&mut r.scheme, &mask);
    retain(&mut r.payer, &mask);
    retain(&mut r.amount, &mask);
    retain(&mut r.base, &mask);
    retain(&mut r.paid_on, &mask);
    retain(&mut r.region, &mask);
    retain(&mut r.file, &mask);
    retain(&mut r.line, &mask);
}
