//! Which part of a run a person belongs to — one function for shards (`run --shard
//! K/N`) and for memory buckets (`--memory-budget`), so that bucket K of N holds exactly
//! the people of shard K of N (what a partition step that writes person buckets for
//! shard pods needs).
//!
//! A person's part is `fnv1a64(normalised 18-character ID, as ASCII) mod N` — FNV-1a
//! 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3), stable across
//! machines, versions and thread counts. [`Shard`] is the value `--shard K/N` names and
//! where a shard stages its files; publishing them is `run::commit::merge`.

use crate::domain::Month;
use crate::id::PersonId;
use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The normalised ID's 18 ASCII characters (what `PersonId`'s `Display` prints),
/// without allocating: this runs once per ledger row in bucketed runs.
fn id_text(person: PersonId) -> [u8; 18] {
    let mut out = [b'0'; 18];
    let mut body = person.body();
    for i in (0..17).rev() {
        out[i] = b'0' + (body % 10) as u8;
        body /= 10;
    }
    let check = (person.0 % 11) as u8;
    out[17] = if check == 10 { b'X' } else { b'0' + check };
    out
}

/// The part (`0 … count−1`) of `person` among `count` parts.
pub fn part_of(person: PersonId, count: u32) -> u32 {
    (fnv1a64(&id_text(person)) % count.max(1) as u64) as u32
}

/// The most parts a run is split into: shards (`--shard K/N`, `partition --shards`,
/// `merge-manifests --shards`), file parts (`--files I/M`) and memory buckets.
pub const MAX_PARTS: u32 = 4096;

/// `--shard K/N`: shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` with `0 ≤ K < N ≤` [`MAX_PARTS`].
    pub fn parse(s: &str) -> Option<Shard> {
        let (k, n) = s.split_once('/')?;
        let (index, count): (u32, u32) = (k.trim().parse().ok()?, n.trim().parse().ok()?);
        (index < count && count <= MAX_PARTS).then_some(Shard { index, count })
    }
    /// The shard of `person` among `count` ([`part_of`]).
    pub fn of(person: PersonId, count: u32) -> u32 {
        part_of(person, count)
    }
    pub fn contains(&self, person: PersonId) -> bool {
        part_of(person, self.count) == self.index
    }
    pub fn root(out: &Path, as_of: Month) -> PathBuf {
        out.join("_shards").join(format!("as_of={as_of}"))
    }
    pub fn dir(&self, out: &Path, as_of: Month) -> PathBuf {
        Shard::root(out, as_of).join(format!("shard-{}-of-{}", self.index, self.count))
    }
    pub fn part_name(&self) -> String {
        format!("part-{:05}.parquet", self.index)
    }
    pub fn manifest_path(&self, out: &Path, as_of: Month) -> PathBuf {
        self.dir(out, as_of).join("manifest.json")
    }
    /// The shard's part of the run report (`report::Summary` as JSON).
    pub fn summary_path(&self, out: &Path, as_of: Month) -> PathBuf {
        self.dir(out, as_of).join("summary.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_of_hashes_the_normalised_id_text() {
        for id in [
            "370202198503120113",
            "11010519491231002X",
            "440100198001010184",
        ] {
            let p = PersonId::parse(id).unwrap();
            assert_eq!(id_text(p), *p.to_string().as_bytes());
            assert_eq!(part_of(p, 7), (fnv1a64(id.as_bytes()) % 7) as u32);
        }
    }

    #[test]
    fn fnv1a64_reference_values_and_shard_parse() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(Shard::parse("1/4"), Some(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse("4/4"), None);
        assert_eq!(Shard::parse("x/4"), None);
        let p = PersonId::parse("370202198503120113").unwrap();
        let owners: Vec<u32> = (0..4)
            .filter(|&k| Shard { index: k, count: 4 }.contains(p))
            .collect();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0], (fnv1a64(b"370202198503120113") % 4) as u32);
    }
}
