//! Signing keys: the [`DeviceSigner`] interface through which the holder's device key signs (a key in
//! the encrypted store today; StrongBox / Secure Enclave later), and [`SoftwareKey`], an ES256 key in
//! memory used by the store-backed device key, the sandbox issuer and the tests.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING};
use zeroize::Zeroizing;
use zhangban_base::wipe::Wiped;

use super::format::ALG_ES256;
use crate::store::{Store, SELF_SUBJECT};
use crate::{Error, Result};

/// Signs with the holder's device key. A platform can implement it with a hardware key that never
/// leaves the secure element; the core only needs the public key and raw signatures.
pub trait DeviceSigner: Send + Sync {
    /// COSE algorithm id of the key (ES256 = -7; SM2 later).
    fn algorithm(&self) -> i64 {
        ALG_ES256
    }
    /// SEC1 uncompressed public key (65 bytes for P-256).
    fn public_key(&self) -> Vec<u8>;
    /// A raw signature (r ‖ s, 64 bytes for ES256) over `msg`.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>>;
}

/// An ES256 (P-256) key held in memory. The PKCS#8 bytes are zeroized on drop, the key pair wiped.
pub struct SoftwareKey {
    pair: Wiped<EcdsaKeyPair>,
    pkcs8: Zeroizing<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKey").field("public_key", &hex::encode(self.public_key())).finish()
    }
}

impl SoftwareKey {
    pub fn generate() -> Result<SoftwareKey> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(Wiped::new)
            .map_err(|_| Error::Internal("key generation failed".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SoftwareKey> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map(Wiped::new)
            .map_err(|_| Error::corrupted("wallet_key", "pkcs8"))?;
        Ok(SoftwareKey { pair, pkcs8: Zeroizing::new(pkcs8.to_vec()), rng })
    }

    pub fn from_pkcs8_hex(h: &str) -> Result<SoftwareKey> {
        let b = Zeroizing::new(hex::decode(h).map_err(|_| Error::Internal("pkcs8 hex".into()))?);
        Self::from_pkcs8(&b)
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The first 8 bytes of SHA-256 of the public key: a short key id.
    pub fn key_id(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, self.pair.public_key().as_ref()).as_ref()[..8].to_vec()
    }
}

impl DeviceSigner for SoftwareKey {
    fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        self.pair
            .sign(&self.rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::Internal("signing failed".into()))
    }
}

/// The device key as a wallet holds it: the private key stays sealed in the store and is opened only for
/// the moment of a signature, so a locked store signs nothing and no copy of the key outlives the call
/// (issue 10, finding 12: a key held in memory stayed usable, and readable, after `lock()`). Only the
/// public key is kept.
pub struct StoreSigner {
    store: std::sync::Arc<Store>,
    public_key: Vec<u8>,
}

impl std::fmt::Debug for StoreSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSigner").field("public_key", &hex::encode(&self.public_key)).finish()
    }
}

impl StoreSigner {
    /// The store's device key (created on first use).
    pub fn open(store: std::sync::Arc<Store>) -> Result<StoreSigner> {
        let public_key = load_or_create_device_key(&store)?.public_key();
        Ok(StoreSigner { store, public_key })
    }
}

impl DeviceSigner for StoreSigner {
    fn public_key(&self) -> Vec<u8> {
        self.public_key.clone()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        // `get` refuses while the store is locked; the PKCS#8 bytes and the key pair are dropped (the
        // bytes zeroized) when this returns.
        let rec = self.store.get(DEVICE_COLLECTION, DEVICE_KEY_ID)?;
        SoftwareKey::from_pkcs8(&rec.body)?.sign(msg)
    }
}

/// Loads the device key: the same P-256 key the device registered with the platform
/// ([`device_key`], record `device/key`, PKCS#8 sealed by the store), created on first use.
/// The licence binds to it, so the platform can check at issuance that the requesting device holds it.
pub fn load_or_create_device_key(store: &Store) -> Result<SoftwareKey> {
    device_key(store)?;
    let rec = store.get(DEVICE_COLLECTION, DEVICE_KEY_ID)?;
    SoftwareKey::from_pkcs8(&rec.body)
}

// The device's identity key: what the platform registers and what a licence binds the holder to. It
// lives in the wallet (the sync layer registers it with the platform).

pub const DEVICE_COLLECTION: &str = "device";
pub const DEVICE_KEY_ID: &str = "key";

/// The device's signing key (ECDSA P-256, SHA-256), wiped when dropped.
pub struct DeviceKey {
    pair: Wiped<EcdsaKeyPair>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey").field("public_key", &self.public_key_hex()).finish()
    }
}

impl DeviceKey {
    /// The uncompressed SEC1 public key (65 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }
    /// An ASN.1 DER ECDSA signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), msg)
            .map_err(|_| Error::Internal("device key signing failed".into()))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// The device key, created (and stored encrypted) on first use. Looking and creating happen in one
/// transaction (insert if absent), so callers racing on a first use all get the one stored key: the
/// platform registers the key the wallet later signs with.
pub fn device_key(store: &Store) -> Result<DeviceKey> {
    let rng = SystemRandom::new();
    let pkcs8 = store.transaction(|t| match t.get_opt(DEVICE_COLLECTION, DEVICE_KEY_ID)? {
        Some(rec) => Ok(rec.body),
        None => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map(Wiped::new)
                .map_err(|_| Error::Internal("device key generation failed".into()))?;
            t.put(DEVICE_COLLECTION, DEVICE_KEY_ID, SELF_SUBJECT, doc.as_ref(), Default::default())?;
            Ok(zeroize::Zeroizing::new(doc.as_ref().to_vec()))
        }
    })?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng)
        .map(Wiped::new)
        .map_err(|_| Error::corrupted(format!("records/{DEVICE_COLLECTION}"), DEVICE_KEY_ID))?;
    Ok(DeviceKey { pair })
}
