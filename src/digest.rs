//! Hashes: SHA-256 of files (manifest, rule files) and HMAC-SHA256 pseudonyms
//! (CONTRACT.md §4 `person_key`), as lowercase hex.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::cell::RefCell;

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lowercase hex HMAC-SHA256 (RFC 2104) of `message` under `key`.
///
/// A run pseudonymises every person under one key, so each thread keeps the keyed
/// state of the last key (the hashed inner and outer pads) and clones it: one ID
/// costs two SHA-256 blocks instead of four.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    thread_local! {
        static KEYED: RefCell<Option<(Vec<u8>, Hmac<Sha256>)>> = const { RefCell::new(None) };
    }
    let mut mac = KEYED.with_borrow_mut(|keyed| match keyed {
        Some((k, mac)) if k.as_slice() == key => mac.clone(),
        _ => {
            // HMAC takes a key of any length (a longer one is hashed first).
            let mac = Hmac::<Sha256>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
            *keyed = Some((key.to_vec(), mac.clone()));
            mac
        }
    });
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Test case 1 (a 20-byte key) and 7 (long key and long message).
        assert_eq!(
            hmac_sha256_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
            ),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    #[test]
    fn a_pseudonymised_key_does_not_change() {
        // person_key of one ID under one key, as the hand-written HMAC made it: the
        // pseudonyms of published snapshots stay valid across versions.
        assert_eq!(
            hmac_sha256_hex(b"bureau-secret-2025", b"11010519491231002X"),
            "0c6004ef9a6ae9fe85274ecc53eda29de9cc79cb3f47caec170539df50e59e5f"
        );
        // The kept keyed state is of the last key only.
        assert_ne!(
            hmac_sha256_hex(b"bureau-secret-2026", b"11010519491231002X"),
            hmac_sha256_hex(b"bureau-secret-2025", b"11010519491231002X")
        );
        assert_eq!(
            hmac_sha256_hex(b"", b""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        );
    }
}
