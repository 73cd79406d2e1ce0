//! ledgerflow's own working files (the ledger cache, the carry-forward state): an
//! 8-byte magic, values in postcard's compact serde format (varints, enums as their
//! index), then the checksum of [`crate::binfmt::seal`]. A file of another format
//! version (another magic), a torn or damaged file reads as `None`, never as wrong
//! values: callers treat that as a cache miss.

use serde::{Deserialize, Serialize};

/// Starts a file with `magic`.
pub fn begin(magic: &[u8; 8], capacity: usize) -> Vec<u8> {
    let mut w = Vec::with_capacity(capacity);
    w.extend_from_slice(magic);
    w
}

/// Appends one value.
pub fn put<T: Serialize + ?Sized>(w: &mut Vec<u8>, value: &T) -> Result<(), String> {
    postcard::serialize_with_flavor(value, Append(w)).map_err(|e| format!("cannot encode: {e}"))
}

/// Serializes straight onto the end of a `Vec` (postcard's `to_extend` goes through
/// `Extend` byte by byte).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Seals what was written (the checksum goes last).
pub fn finish(mut w: Vec<u8>) -> Vec<u8> {
    crate::binfmt::seal(&mut w);
    w
}

/// The values of a file written with `magic`, if its checksum matches.
pub fn open<'a>(data: &'a [u8], magic: &[u8; 8]) -> Option<&'a [u8]> {
    crate::binfmt::unseal(data)?.strip_prefix(magic)
}

/// Reads the next value, advancing `at`.
pub fn take<'a, T: Deserialize<'a>>(at: &mut &'a [u8]) -> Option<T> {
    let (value, rest) = postcard::take_from_bytes(at).ok()?;
    *at = rest;
    Some(value)
}

/// Reads the last value: nothing may follow it.
pub fn last<'a, T: Deserialize<'a>>(mut at: &'a [u8]) -> Option<T> {
    let value = take(&mut at)?;
    at.is_empty().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_and_damage_is_none() {
        let mut w = begin(b"LFTEST1\n", 16);
        put(&mut w, &(7u8, "断缴", Some(-5i64))).unwrap();
        put(&mut w, &vec![1u32, 70_000]).unwrap();
        let w = finish(w);
        let mut at = open(&w, b"LFTEST1\n").unwrap();
        assert_eq!(
            take::<(u8, String, Option<i64>)>(&mut at),
            Some((7, "断缴".into(), Some(-5)))
        );
        assert_eq!(last::<Vec<u32>>(at), Some(vec![1, 70_000]));
        assert!(open(&w, b"LFTEST0\n").is_none(), "another format version");
        assert!(open(&w[..w.len() - 1], b"LFTEST1\n").is_none(), "torn");
        let mut bad = w.clone();
        bad[10] ^= 4;
        assert!(open(&bad, b"LFTEST1\n").is_none(), "damaged");
        // A value of another type, or bytes after the last value, read as None.
        let mut at = open(&w, b"LFTEST1\n").unwrap();
        assert_eq!(
            take::<(u8, String, Option<i64>)>(&mut at).map(|v| v.0),
            Some(7)
        );
        assert!(last::<u8>(at).is_none());
    }
}
