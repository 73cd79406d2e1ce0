//! The little-endian binary format of ledgerflow's own cache files (the ledger-file
//! cache, memory buckets, the incremental carry-forward state): appends for writing,
//! a bounds-checked [`Reader`] for reading. A damaged file reads as `None`, never a
//! panic; callers treat that as a cache miss.

pub fn put_u8(w: &mut Vec<u8>, v: u8) {
    w.push(v);
}
pub fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}
pub fn put_i32(w: &mut Vec<u8>, v: i32) {
    w.extend_from_slice(&v.to_le_bytes());
}
pub fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}
pub fn put_i64(w: &mut Vec<u8>, v: i64) {
    w.extend_from_slice(&v.to_le_bytes());
}
pub fn put_f64(w: &mut Vec<u8>, v: f64) {
    w.extend_from_slice(&v.to_bits().to_le_bytes());
}
/// A length-prefixed (u32) UTF-8 string.
pub fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}
/// An optional i32: a presence byte, then the value (0 when absent).
pub fn put_opt_i32(w: &mut Vec<u8>, v: Option<i32>) {
    put_u8(w, v.is_some() as u8);
    put_i32(w, v.unwrap_or(0));
}
/// An optional i64: a presence byte, then the value (0 when absent).
pub fn put_opt_i64(w: &mut Vec<u8>, v: Option<i64>) {
    put_u8(w, v.is_some() as u8);
    put_i64(w, v.unwrap_or(0));
}

/// A 64-bit checksum of `data` (FxHash-style over 8-byte words, then the length): it
/// catches damage such as flipped bits or a torn write, not deliberate tampering.
pub fn checksum(data: &[u8]) -> u64 {
    let step = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    let mut words = data.chunks_exact(8);
    let mut h = words.by_ref().fold(0u64, |h, c| {
        step(h, u64::from_le_bytes(c.try_into().unwrap_or_default()))
    });
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    h = step(h, u64::from_le_bytes(last));
    step(h, data.len() as u64)
}

/// Appends the checksum of everything written so far (read back with [`unseal`]).
pub fn seal(w: &mut Vec<u8>) {
    let c = checksum(w);
    put_u64(w, c);
}

/// The data before its checksum, if the checksum matches.
pub fn unseal(data: &[u8]) -> Option<&[u8]> {
    let (body, tail) = data.split_at(data.len().checked_sub(8)?);
    (checksum(body) == u64::from_le_bytes(tail.try_into().ok()?)).then_some(body)
}

/// Bounds-checked little-endian reads over a byte slice; `None` on a damaged file.
pub struct Reader<'a> {
    pub data: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, at: 0 }
    }
    /// Whether every byte has been read.
    pub fn done(&self) -> bool {
        self.at == self.data.len()
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    pub fn flag(&mut self) -> Option<bool> {
        Some(self.u8()? != 0)
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    pub fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.u64()?))
    }
    pub fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    /// Reads what [`put_opt_i32`] wrote.
    pub fn opt_i32(&mut self) -> Option<Option<i32>> {
        let (some, v) = (self.flag()?, self.i32()?);
        Some(some.then_some(v))
    }
    /// Reads what [`put_opt_i64`] wrote.
    pub fn opt_i64(&mut self) -> Option<Option<i64>> {
        let (some, v) = (self.flag()?, self.i64()?);
        Some(some.then_some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_and_truncation_is_none() {
        let mut w = Vec::new();
        put_u8(&mut w, 7);
        put_u32(&mut w, 70_000);
        put_i32(&mut w, -5);
        put_u64(&mut w, u64::MAX);
        put_i64(&mut w, -9);
        put_f64(&mut w, 0.7);
        put_str(&mut w, "断缴");
        put_opt_i32(&mut w, None);
        put_opt_i64(&mut w, Some(12));
        let mut r = Reader::new(&w);
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.u32(), Some(70_000));
        assert_eq!(r.i32(), Some(-5));
        assert_eq!(r.u64(), Some(u64::MAX));
        assert_eq!(r.i64(), Some(-9));
        assert_eq!(r.f64(), Some(0.7));
        assert_eq!(r.string().as_deref(), Some("断缴"));
        assert_eq!(r.opt_i32(), Some(None));
        assert_eq!(r.opt_i64(), Some(Some(12)));
        assert!(r.done());
        let mut sealed = w.clone();
        seal(&mut sealed);
        assert_eq!(unseal(&sealed), Some(&w[..]));
        for bit in [0, 77, sealed.len() * 8 - 1] {
            let mut bad = sealed.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(unseal(&bad), None, "flipped bit {bit}");
        }
        assert_eq!(unseal(&sealed[..sealed.len() - 1]), None);
        assert_eq!(unseal(&[]), None);
        let mut short = Reader::new(&w[..w.len() - 2]);
        short.take(w.len() - 10).unwrap();
        assert_eq!(short.opt_i64(), None);
    }
}
