//! The device key's signing interface, and the one place a session's platform key is held.
//!
//! [`DeviceSigner`] is how the holder's device key signs: the store's own software key, or a platform key
//! (Android Keystore / StrongBox, iOS Secure Enclave) that never leaves the secure hardware. The trait is
//! here, below every feature, so the [`crate::store::Store`] can hold the signer the app offered for the
//! session ([`crate::store::Store::offer_device_signer`]): every path that signs with the device key (a
//! wallet, the background licence issuance, the old phone's transfer signature, an agent's door consent and
//! delegations) asks the store for it, instead of each being handed the signer on its own (ADR 0035).
//! Which key is the device's is still decided by `zhangban_wallet::device::identity`.

use crate::Result;

/// COSE algorithm id of ES256 (ECDSA P-256 with SHA-256).
pub const ALG_ES256: i64 = -7;

/// Signs with the holder's device key. A platform can implement it with a hardware key that never
/// leaves the secure element; the core only needs the public key and raw signatures.
pub trait DeviceSigner: Send + Sync {
    /// COSE algorithm id of the key (ES256 = -7; SM2 later).
    fn algorithm(&self) -> i64 {
        ALG_ES256
    }
    /// SEC1 uncompressed public key (65 bytes for P-256).
    fn public_key(&self) -> Vec<u8>;
    /// A signature over `msg`: r ‖ s (64 bytes for ES256); a platform signer may give ASN.1 DER, which
    /// `zhangban_wallet::device::identity` converts.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>>;
}
