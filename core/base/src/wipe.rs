//! Key objects of `ring` wiped when dropped (docs/SECURITY.md, finding 12).
//!
//! `ring`'s key types implement neither `Drop` that clears them nor `Zeroize`, so after `Store::lock()` the
//! expanded keys stayed in freed memory until it was reused. What each keeps, by the source of ring 0.17.14:
//!
//! - `aead::LessSafeKey` (the data key, subject keys, ring wrap keys, attachment and backup keys): the
//!   AES-256 key schedule (15 round keys) and the GHASH key table derived from it, inline;
//! - `hmac::Key` (lookup, audit chain, record head keys): the SHA-256 states after absorbing the key XOR
//!   ipad and opad, inline — enough to compute the HMAC, so as secret as the key;
//! - `signature::EcdsaKeyPair` (the device key, opened for one signature): the private scalar, the nonce
//!   key and the public key, inline;
//! - `pkcs8::Document` (a new device key's PKCS#8 bytes): an inline array.
//!
//! None of them points to the heap, so overwriting the bytes where the value lives wipes all it keeps:
//! [`Wiped`] does that with volatile writes when it is dropped. What it cannot reach: copies made while the
//! value was built or moved before it was wrapped (ring builds a key on the stack and returns it by value;
//! those stack bytes stay until a later call overwrites them), and registers or stack of ring's assembly
//! during an operation. Keep key objects in a `Wiped` from the moment they are made, and move them as little
//! as possible (behind an `Arc` or a `Box`).

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::{compiler_fence, Ordering};

mod sealed {
    pub trait Sealed {}
    impl Sealed for ring::aead::LessSafeKey {}
    impl Sealed for ring::hmac::Key {}
    impl Sealed for ring::signature::EcdsaKeyPair {}
    impl Sealed for ring::pkcs8::Document {}
}

/// A type whose whole state is inline (no pointer to the heap) and whose drop does nothing, so zeroing its
/// bytes after it is dropped wipes everything it kept. Implemented for the ring key types only (checked
/// against ring 0.17.14's source; see the module docs).
pub trait Wipeable: sealed::Sealed {}
impl Wipeable for ring::aead::LessSafeKey {}
impl Wipeable for ring::hmac::Key {}
impl Wipeable for ring::signature::EcdsaKeyPair {}
impl Wipeable for ring::pkcs8::Document {}

/// A ring key object whose bytes are overwritten with zeros when it is dropped. Derefs to the key.
pub struct Wiped<T: Wipeable>(ManuallyDrop<T>);

impl<T: Wipeable> Wiped<T> {
    pub fn new(value: T) -> Self {
        Wiped(ManuallyDrop::new(value))
    }
}

impl<T: Wipeable> Deref for Wiped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Wipeable> std::fmt::Debug for Wiped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wiped(..)")
    }
}

impl<T: Wipeable> Drop for Wiped<T> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the value is dropped exactly once, here, and never used again (the field is
        // `ManuallyDrop`, so no other drop runs). Its bytes are then written through a raw pointer to this
        // field's own storage, `size_of::<T>()` bytes from its start: memory this `Wiped` owns, valid for
        // writes; no reference to it is alive. Volatile writes (as `zeroize` does) so that the stores to
        // memory about to be freed are not elided. `Wipeable` types keep nothing outside these bytes.
        unsafe {
            ManuallyDrop::drop(&mut self.0);
            let p = (&mut self.0 as *mut ManuallyDrop<T>).cast::<u8>();
            for i in 0..std::mem::size_of::<T>() {
                std::ptr::write_volatile(p.add(i), 0);
            }
        }
        compiler_fence(Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an attacker who reads the process's freed memory finds where a dropped key was: zeros. The
    /// value is dropped in place in a heap block that is then inspected before it is freed.
    #[test]
    #[allow(unsafe_code)]
    fn a_dropped_key_leaves_zeros_where_it_was() {
        fn check<T: Wipeable>(value: T) {
            let n = std::mem::size_of::<Wiped<T>>();
            let ptr = Box::into_raw(Box::new(Wiped::new(value)));
            // SAFETY: `ptr` is a live, initialised `Wiped<T>` from `Box::into_raw`; the bytes of its storage
            // are read as `u8` (the key's state is initialised data; padding is compared only after the
            // wipe wrote every byte).
            let before: Vec<u8> = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), n).to_vec() };
            assert!(before.iter().filter(|b| **b != 0).count() > 16, "the key's state is in the value");
            // SAFETY: dropped once in place; the block stays allocated (as freed memory would hold it) and is
            // read as bytes, every one of which the drop wrote; then freed as uninitialised memory.
            unsafe {
                std::ptr::drop_in_place(ptr);
                let after = std::slice::from_raw_parts(ptr.cast::<u8>(), n);
                assert!(after.iter().all(|b| *b == 0), "a dropped key left its bytes behind");
                drop(Box::from_raw(ptr.cast::<std::mem::MaybeUninit<Wiped<T>>>()));
            }
        }
        let raw = [7u8; 32];
        check(ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &raw).unwrap()));
        check(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw));
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        check(ring::signature::EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).unwrap());
    }
}
