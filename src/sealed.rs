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

/// `#[serde(with = "crate::sealed::float")]` on every `f64` field of a stored row: the
/// bits reversed, as a varint. Sign and exponent land in the low bits and the mantissa
/// follows from its top, so a value with a short mantissa (0.0, 0.5, 0.75, 1.0, as the
/// ratios made from rule rates mostly are) takes 1 or 2 bytes instead of 8; every value,
/// NaN and -0.0 included, reads back bit for bit.
pub mod float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits().reverse_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(|b| f64::from_bits(b.reverse_bits()))
    }
}

/// `#[serde(with = "crate::sealed::steps")]` on a column of `i32`s that mostly move by
/// small steps (the periods of a person's months): the first value, then each one's
/// difference from the one before, as zigzag varints (one byte for a step of -64..63).
pub mod steps {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[i32], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(values.len()))?;
        let mut prev = 0i64;
        for &v in values {
            seq.serialize_element(&(i64::from(v) - prev))?;
            prev = i64::from(v);
        }
        seq.end()
    }

    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: From<Vec<i32>>,
    {
        let steps = Vec::<i64>::deserialize(d)?;
        let mut prev = 0i64;
        let mut values = Vec::with_capacity(steps.len());
        for step in steps {
            prev = prev
                .checked_add(step)
                .filter(|v| i32::try_from(*v).is_ok())
                .ok_or_else(|| serde::de::Error::custom("step out of range"))?;
            values.push(prev as i32);
        }
        Ok(values.into())
    }
}

/// `#[serde(with = "crate::sealed::runs")]` on a column whose values mostly repeat (the
/// regions of a person's months): each run of equal values once, with its length. A
/// column holds at most [`runs::MAX`] values; more read as damage (never a huge
/// allocation).
pub mod runs {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S, T>(values: &[T], s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize + PartialEq,
    {
        let starts = || (0..values.len()).filter(|&i| i == 0 || values[i] != values[i - 1]);
        let mut seq = s.serialize_seq(Some(starts().count()))?;
        let mut starts = starts().peekable();
        while let Some(i) = starts.next() {
            let end = starts.peek().copied().unwrap_or(values.len());
            seq.serialize_element(&(&values[i], (end - i) as u64))?;
        }
        seq.end()
    }

    /// The most values a column may hold (a person's months are a few hundred).
    pub const MAX: usize = 1 << 20;

    pub fn deserialize<'de, D, T, C>(d: D) -> Result<C, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Clone,
        C: From<Vec<T>>,
    {
        let mut values = Vec::new();
        for (v, n) in Vec::<(T, u64)>::deserialize(d)? {
            // Too many values (a damaged file) are refused before they are allocated.
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX - values.len())
                .ok_or_else(|| serde::de::Error::custom("column too long"))?;
            values.extend(std::iter::repeat_n(v, n));
        }
        Ok(values.into())
    }
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

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ratio(#[serde(with = "float")] f64);

    #[test]
    fn floats_are_short_when_round_and_exact_always() {
        let size = |v: f64| {
            let mut w = Vec::new();
            put(&mut w, &Ratio(v)).unwrap();
            assert_eq!(last::<Ratio>(&w).map(|r| r.0.to_bits()), Some(v.to_bits()));
            w.len()
        };
        assert_eq!(size(0.0), 1);
        assert_eq!([size(1.0), size(0.5), size(0.75)], [2, 2, 2]);
        for v in [0.6, -0.0, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE, 1e300] {
            assert!(size(v) <= 10, "{v}");
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Column(#[serde(with = "steps")] Vec<i32>);

    #[test]
    fn steps_read_back_and_small_steps_take_a_byte() {
        let mut w = Vec::new();
        let v = vec![24_290, 24_291, 24_292, 24_300, 24_299, i32::MIN, i32::MAX];
        put(&mut w, &Column(v.clone())).unwrap();
        assert_eq!(last::<Column>(&w), Some(Column(v)));
        w.clear();
        put(&mut w, &Column((24_290..24_314).collect())).unwrap();
        assert_eq!(
            w.len(),
            1 + 3 + 23,
            "length, first value, 23 one-byte steps"
        );
        // A step past the range of i32 is damage, not a wrapped value.
        w.clear();
        put(&mut w, &vec![i64::from(i32::MAX), 1]).unwrap();
        assert_eq!(last::<Column>(&w), None);
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Runs(#[serde(with = "runs")] Vec<u32>);

    #[test]
    fn runs_read_back_and_a_repeated_value_is_stored_once() {
        let mut w = Vec::new();
        for v in [
            vec![],
            vec![7],
            vec![370200, 370200, 5, 370200, 370200, 370200],
        ] {
            w.clear();
            put(&mut w, &Runs(v.clone())).unwrap();
            assert_eq!(last::<Runs>(&w), Some(Runs(v)));
        }
        w.clear();
        put(&mut w, &Runs(vec![370200; 24])).unwrap();
        assert_eq!(w.len(), 1 + 3 + 1, "one run: count, value, length");
        // A damaged length is refused, not allocated.
        w.clear();
        put(&mut w, &vec![(1u32, runs::MAX as u64), (2, 1)]).unwrap();
        assert_eq!(last::<Runs>(&w), None);
        w.clear();
        put(&mut w, &vec![(1u32, u64::MAX)]).unwrap();
        assert_eq!(last::<Runs>(&w), None);
    }
}
