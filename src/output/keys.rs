//! Row selection and keys: the rows of an output chunk in output order, and each
//! row's `person_key`, made once per person.

use super::KeyMode;
use crate::id::PersonId;
use polars::prelude::IdxSize;

/// The rows of one output chunk, in output order: `rows[sel[0]], rows[sel[1]], …`.
pub(super) fn picked<'a, T>(rows: &'a [T], sel: &[IdxSize]) -> Vec<&'a T> {
    sel.iter().map(|&i| &rows[i as usize]).collect()
}

/// The `person_key` of every row, made once per person (rows come grouped by
/// person): the distinct keys, each row's index into them, and — for pseudonyms,
/// which do not sort like the IDs — the row order that sorts by key (stable, so a
/// person's rows keep their period order). Raw IDs already sort as the engine's order.
pub(super) struct RowKeys {
    pub(super) distinct: Vec<String>,
    pub(super) of_row: Vec<IdxSize>,
    pub(super) order: Option<Vec<IdxSize>>,
}

impl RowKeys {
    pub(super) fn new(keys: &KeyMode, persons: impl Iterator<Item = PersonId>) -> RowKeys {
        let mut distinct: Vec<String> = Vec::new();
        let mut of_row = Vec::with_capacity(persons.size_hint().0);
        let mut last: Option<PersonId> = None;
        for p in persons {
            if last != Some(p) {
                distinct.push(keys.key(p));
                last = Some(p);
            }
            of_row.push(distinct.len() as IdxSize - 1);
        }
        let order = match keys {
            KeyMode::Raw => None,
            KeyMode::Pseudonym(_) => {
                let mut order: Vec<IdxSize> = (0..of_row.len() as IdxSize).collect();
                order.sort_by(|&a, &b| {
                    distinct[of_row[a as usize] as usize]
                        .cmp(&distinct[of_row[b as usize] as usize])
                });
                Some(order)
            }
        };
        RowKeys {
            distinct,
            of_row,
            order,
        }
    }
}
