//! How the loader names what it has seen: 128-bit keys of paths and session ids (the ledger
//! index's keys, computed by the walker) and SHA-256 digests kept as bytes.

/// A path or session id as the ledger index keys it: 128 bits of two SipHashes, 16 bytes
/// instead of the text, so the index of 1,000,000 files stays under 100 MiB. A collision of
/// two paths would need 2^64 files.
pub type Key = u128;

pub fn key(text: &str) -> Key {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        text.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// A SHA-256 digest, kept as bytes (32) rather than hex text (64 + a heap block).
pub type Digest = [u8; 32];

pub fn unhex(hex: &str) -> Option<Digest> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn hex(d: &Digest) -> String {
    crate::digest::hex(d)
}
