//! AEAD sealing (AES-256-GCM from ring) with a random nonce; the blob layout is
//! `version (1 byte, = 1) || nonce (12) || ciphertext || tag (16)`.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::wipe::Wiped;

use crate::{Error, Result};

pub(crate) const BLOB_VERSION: u8 = 1;
pub(crate) const OVERHEAD: usize = 1 + NONCE_LEN + 16;

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new().fill(buf).map_err(|_| Error::Internal("system random generator failed".into()))
}

pub(crate) fn random_key() -> Result<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    fill_random(k.as_mut())?;
    Ok(k)
}

/// A subject's key as the store caches it while unlocked: wiped when the last holder drops it (`wipe.rs`).
pub(crate) type SubjectKey = std::sync::Arc<Wiped<LessSafeKey>>;

/// An AES-256-GCM key, wiped when dropped (`wipe.rs`).
pub(crate) fn aead_key(raw: &[u8]) -> Result<Wiped<LessSafeKey>> {
    UnboundKey::new(&AES_256_GCM, raw)
        .map(|k| Wiped::new(LessSafeKey::new(k)))
        .map_err(|_| Error::Internal("bad AEAD key length".into()))
}

/// Associated data binding a value to where it lives: table, record id and column.
pub(crate) fn aad(table: &str, record: &str, column: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(table.len() + record.len() + column.len() + 12);
    for part in [table, record, column] {
        v.extend_from_slice(&(part.len() as u32).to_be_bytes());
        v.extend_from_slice(part.as_bytes());
    }
    v
}

pub(crate) fn seal(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.push(BLOB_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[1 + NONCE_LEN..])
        .map_err(|_| Error::Internal("AEAD seal failed".into()))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens a sealed blob; `None` when the blob is malformed, was sealed under another key or associated
/// data, or was altered.
pub(crate) fn open(key: &LessSafeKey, aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < OVERHEAD || blob[0] != BLOB_VERSION {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&blob[1..1 + NONCE_LEN]).ok()?;
    let mut buf = Zeroizing::new(blob[1 + NONCE_LEN..].to_vec());
    let len = key.open_in_place(nonce, Aad::from(aad), buf.as_mut_slice()).ok()?.len();
    buf.truncate(len);
    Some(buf)
}

/// Like [`open`], decrypting in place in the blob read from the database: no second buffer and no copy
/// of the ciphertext on the read path (measured by tests/bench-sqlcipher).
pub(crate) fn open_owned(key: &LessSafeKey, aad: &[u8], blob: Vec<u8>) -> Option<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(blob);
    if buf.len() < OVERHEAD || buf[0] != BLOB_VERSION {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&buf[1..1 + NONCE_LEN]).ok()?;
    let len = key.open_within(nonce, Aad::from(aad), buf.as_mut_slice(), 1 + NONCE_LEN..).ok()?.len();
    buf.truncate(len);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let k = aead_key(random_key().unwrap().as_slice()).unwrap();
        let blob = seal(&k, &aad("t", "1", "c"), b"hello").unwrap();
        assert_eq!(open(&k, &aad("t", "1", "c"), &blob).unwrap().as_slice(), b"hello");
        assert!(open(&k, &aad("t", "2", "c"), &blob).is_none(), "moved to another row");
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open(&k, &aad("t", "1", "c"), &bad).is_none());
        assert!(open(&k, &aad("t", "1", "c"), &blob[..5]).is_none());
        let other = aead_key(random_key().unwrap().as_slice()).unwrap();
        assert!(open(&other, &aad("t", "1", "c"), &blob).is_none());
        // The in-place variant agrees with `open` on every case.
        assert_eq!(open_owned(&k, &aad("t", "1", "c"), blob.clone()).unwrap().as_slice(), b"hello");
        assert!(open_owned(&k, &aad("t", "2", "c"), blob.clone()).is_none());
        assert!(open_owned(&k, &aad("t", "1", "c"), bad.clone()).is_none());
        assert!(open_owned(&k, &aad("t", "1", "c"), blob[..5].to_vec()).is_none());
        assert!(open_owned(&other, &aad("t", "1", "c"), blob.clone()).is_none());
        let empty = seal(&k, b"", b"").unwrap();
        assert!(open_owned(&k, b"", empty).unwrap().is_empty());
    }
}
