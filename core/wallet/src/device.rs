//! Signing keys: the [`DeviceSigner`] interface through which the holder's device key signs (a key in
//! the encrypted store, or a platform key: StrongBox / Secure Enclave), and [`SoftwareKey`], an ES256 key in
//! memory used by the store-backed device key, the sandbox issuer and the tests.
//!
//! Which key is the device's is decided once per store by [`identity`] (ADR 0029): a store that already has
//! its software key (`device/key`) keeps it; otherwise the first platform signer offered is recorded
//! (`device/platform_key`, its public key only) and every later opening must offer the same key. The
//! platform signs in ASN.1 DER (what Android Keystore and `SecKeyCreateSignature` give); the core converts
//! to r ‖ s for COSE ([`signature_to_raw`]) and back to DER for the platform's registration ([`raw_to_der`]).

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING};
use zeroize::Zeroizing;
use zhangban_base::wipe::Wiped;

use crate::store::{Store, SELF_SUBJECT};
use crate::{Error, Result};

/// Signs with the holder's device key (defined in the base layer, so the store can hold the session's
/// platform signer: [`Store::offer_device_signer`]).
pub use zhangban_base::signer::DeviceSigner;

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

/// A store whose device key is a platform key: the public key is known, signing needs the platform's
/// signer (a wallet opened with [`identity`]'s signer). Reading (licences, lists) works without it.
#[derive(Debug)]
struct PlatformKeyAbsent {
    public_key: Vec<u8>,
}

impl DeviceSigner for PlatformKeyAbsent {
    fn public_key(&self) -> Vec<u8> {
        self.public_key.clone()
    }
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>> {
        Err(platform_key_needed())
    }
}

fn platform_key_needed() -> Error {
    Error::validation(
        "device_key",
        "本机密钥保存在手机的安全芯片中，此操作须在本应用内用它签名，请从应用中重试。",
        "This device's key is held in the phone's secure hardware: this needs a signature by it; try again from the app.",
    )
}

/// The signer for [`crate::Wallet::open`], and so for every path that signs with the device key: with a
/// platform signer offered for the session ([`Store::offer_device_signer`]), the key [`identity`] decides
/// with it (that platform key, or an older store's own software key); else the store's software key, or
/// (a store whose key is a platform key, offered by nobody in this process) that key's public half, which
/// reads and refuses to sign with a typed error.
pub fn store_signer(store: std::sync::Arc<Store>) -> Result<std::sync::Arc<dyn DeviceSigner>> {
    if let Some(offered) = store.platform_signer() {
        return identity(&store, Some(offered))?.signer(store);
    }
    if let Some(public_key) = platform_public_key(&store)? {
        return Ok(std::sync::Arc::new(PlatformKeyAbsent { public_key }));
    }
    Ok(std::sync::Arc::new(StoreSigner::open(store)?))
}

/// The device's key, as [`identity`] decided it for a store.
pub enum DeviceIdentity {
    /// The store's own software key (created on first use; an older store's key is kept).
    Store(Box<DeviceKey>),
    /// The platform's key (StrongBox / Secure Enclave), recorded by its public key.
    Platform(std::sync::Arc<dyn DeviceSigner>),
}

impl DeviceIdentity {
    /// The SEC1 uncompressed public key the platform registers.
    pub fn public_key(&self) -> Vec<u8> {
        match self {
            DeviceIdentity::Store(k) => k.public_key().to_vec(),
            DeviceIdentity::Platform(s) => s.public_key(),
        }
    }
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }
    /// An ASN.1 DER ECDSA signature over `msg` (registration and transfers are verified as DER).
    pub fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>> {
        match self {
            DeviceIdentity::Store(k) => k.sign(msg),
            DeviceIdentity::Platform(s) => raw_to_der(&s.sign(msg)?),
        }
    }
    /// The signer a wallet signs presentations, grants and proofs with (r ‖ s).
    pub fn signer(self, store: std::sync::Arc<Store>) -> Result<std::sync::Arc<dyn DeviceSigner>> {
        match self {
            DeviceIdentity::Store(_) => Ok(std::sync::Arc::new(StoreSigner::open(store)?)),
            DeviceIdentity::Platform(s) => Ok(s),
        }
    }
}

/// Where the store's platform key is recorded (its public key only).
pub const PLATFORM_KEY_ID: &str = "platform_key";

/// The platform key's public key, when the store's device key is a platform key.
pub fn platform_public_key(store: &Store) -> Result<Option<Vec<u8>>> {
    if store.get_opt(DEVICE_COLLECTION, DEVICE_KEY_ID)?.is_some() {
        return Ok(None);
    }
    Ok(store.get_opt(DEVICE_COLLECTION, PLATFORM_KEY_ID)?.map(|r| r.body.to_vec()))
}

/// The device's public key (SEC1, 65 bytes) whichever holds it; a store with neither gets the key
/// [`identity`] decides (the session's platform key when one was offered, else its software key).
pub fn device_public_key(store: &Store) -> Result<Vec<u8>> {
    match platform_public_key(store)? {
        Some(pk) => Ok(pk),
        None => Ok(identity(store, None)?.public_key()),
    }
}

/// Decides the device key of `store`, in one transaction: a store with its software key keeps it (an older
/// store: its licences and registration are bound to it); else `platform`'s key is recorded on its first
/// offer and must be the same later (`device_key` error: the hardware key was replaced, so the licences
/// bound to the old one can no longer be presented); with no `platform`, the software key (created on
/// first use) unless a platform key is recorded (then signing needs it: an error). `platform` None means
/// the signer offered for the session ([`Store::offer_device_signer`]), if any.
pub fn identity(store: &Store, platform: Option<std::sync::Arc<dyn DeviceSigner>>) -> Result<DeviceIdentity> {
    let Some(platform) = platform.or_else(|| store.platform_signer()) else {
        if platform_public_key(store)?.is_some() {
            return Err(platform_key_needed());
        }
        return Ok(DeviceIdentity::Store(Box::new(device_key(store)?)));
    };
    let offered = platform.public_key();
    if super::format::DeviceKey::es256(&offered).is_err() {
        return Err(Error::validation(
            "device_key",
            "手机安全芯片给出的公钥不是 P-256 公钥。",
            "The phone's secure hardware gave a public key that is not a P-256 key.",
        ));
    }
    let software = store.transaction(|t| {
        if t.get_opt(DEVICE_COLLECTION, DEVICE_KEY_ID)?.is_some() {
            return Ok(true);
        }
        match t.get_opt(DEVICE_COLLECTION, PLATFORM_KEY_ID)? {
            Some(rec) if rec.body.as_slice() == offered.as_slice() => Ok(false),
            Some(_) => Err(Error::validation(
                "device_key",
                "手机安全芯片中的设备密钥已更换，原证照无法再出示：请重新登记本机并重新领取证照。",
                "The device key in the phone's secure hardware was replaced; licences bound to the old key cannot be shown: register this phone again and request them again.",
            )),
            None => {
                t.put(DEVICE_COLLECTION, PLATFORM_KEY_ID, SELF_SUBJECT, &offered, Default::default())?;
                Ok(false)
            }
        }
    })?;
    if software {
        Ok(DeviceIdentity::Store(Box::new(device_key(store)?)))
    } else {
        Ok(DeviceIdentity::Platform(std::sync::Arc::new(RawSigner(platform))))
    }
}

/// A platform signer whose DER signatures are converted to r ‖ s (a signer that gives r ‖ s passes through).
struct RawSigner(std::sync::Arc<dyn DeviceSigner>);

impl DeviceSigner for RawSigner {
    fn public_key(&self) -> Vec<u8> {
        self.0.public_key()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        signature_to_raw(&self.0.sign(msg)?)
    }
}

fn bad_signature() -> Error {
    Error::validation(
        "signature",
        "手机安全芯片给出的签名格式不正确。",
        "The phone's secure hardware gave a signature in an unknown format.",
    )
}

/// An ECDSA P-256 signature as r ‖ s (64 bytes): from strict ASN.1 DER (`SEQUENCE { INTEGER r, INTEGER s }`,
/// what Android Keystore and iOS give), or already r ‖ s (64 bytes that are not such a DER sequence). Bounded:
/// each integer at most 33 bytes, no trailing bytes.
pub fn signature_to_raw(sig: &[u8]) -> Result<Vec<u8>> {
    if let Some(raw) = der_to_raw(sig) {
        return Ok(raw);
    }
    if sig.len() == 64 {
        return Ok(sig.to_vec());
    }
    Err(bad_signature())
}

fn der_to_raw(sig: &[u8]) -> Option<Vec<u8>> {
    let (&tag, rest) = sig.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || len >= 0x80 || usize::from(len) != body.len() {
        return None;
    }
    let (r, body) = der_integer(body)?;
    let (s, body) = der_integer(body)?;
    if !body.is_empty() {
        return None;
    }
    let mut out = vec![0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

/// One positive DER INTEGER of at most 32 value bytes (after a sign byte), minimal encoding.
fn der_integer(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (v, rest) = rest.split_at(len);
    if v[0] & 0x80 != 0 {
        return None; // negative
    }
    if v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0 {
        return None; // not minimal
    }
    let v = if v[0] == 0 && v.len() > 1 { &v[1..] } else { v };
    if v.len() > 32 {
        return None;
    }
    Some((v, rest))
}

/// r ‖ s (64 bytes) as ASN.1 DER, as the platform verifies a registration.
pub fn raw_to_der(sig: &[u8]) -> Result<Vec<u8>> {
    if sig.len() != 64 {
        return Err(bad_signature());
    }
    fn int(x: &[u8]) -> Vec<u8> {
        let first = x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1);
        let x = &x[first..];
        let mut out = vec![0x02];
        if x[0] & 0x80 != 0 {
            out.push(x.len() as u8 + 1);
            out.push(0);
        } else {
            out.push(x.len() as u8);
        }
        out.extend_from_slice(x);
        out
    }
    let body = [int(&sig[..32]), int(&sig[32..])].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    Ok(out)
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
        // The device is a platform key's: a software key made now would be a second identity.
        None if t.get_opt(DEVICE_COLLECTION, PLATFORM_KEY_ID)?.is_some() => Err(platform_key_needed()),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
    use zhangban_base::store::{FileVault, KeyVault};

    use super::*;

    fn store(dir: &std::path::Path) -> Arc<Store> {
        let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
        Arc::new(Store::create(dir, vault, None).unwrap())
    }

    /// A platform key that answers in DER, like Android Keystore and `SecKeyCreateSignature`.
    struct DerKey(DeviceKey);
    impl DeviceSigner for DerKey {
        fn public_key(&self) -> Vec<u8> {
            self.0.public_key().to_vec()
        }
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
            self.0.sign(msg)
        }
    }

    fn der_key() -> Arc<DerKey> {
        let dir = tempfile::tempdir().unwrap();
        Arc::new(DerKey(device_key(&store(dir.path())).unwrap()))
    }

    #[test]
    fn der_and_raw_signatures_convert_both_ways_and_verify() {
        let k = der_key();
        for i in 0..200u32 {
            let msg = i.to_be_bytes();
            let der = k.sign(&msg).unwrap();
            let raw = signature_to_raw(&der).unwrap();
            assert_eq!(raw.len(), 64);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key()).verify(&msg, &raw).unwrap();
            assert_eq!(raw_to_der(&raw).unwrap(), der, "DER is canonical");
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, k.public_key())
                .verify(&msg, &raw_to_der(&raw).unwrap())
                .unwrap();
            assert_eq!(signature_to_raw(&raw).unwrap(), raw, "r ‖ s passes through");
        }
        // Short r and s (leading zero bytes) are padded back.
        let mut raw = vec![0u8; 64];
        raw[31] = 1;
        raw[32] = 0x80;
        assert_eq!(
            raw_to_der(&raw).unwrap(),
            [&[0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00][..], &raw[32..]].concat()
        );
        assert_eq!(signature_to_raw(&raw_to_der(&raw).unwrap()).unwrap(), raw);
    }

    #[test]
    fn malformed_signatures_are_refused_typed() {
        let der = der_key().sign(b"x").unwrap();
        let mut cases: Vec<Vec<u8>> =
            vec![vec![], vec![0x30], der[..der.len() - 1].to_vec(), [&der[..], &[0]].concat()];
        let mut long = der.clone();
        long[1] = 0x81; // long-form length
        cases.push(long);
        let mut negative = der.clone();
        negative[4] |= 0x80;
        if negative[3] == 0x21 {
            negative[4] = 0x80; // a sign byte turned into a value byte: not minimal or negative either way
        }
        cases.push(negative);
        cases.push(vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x22, 0x00]); // a 34-byte integer claimed
        for c in cases {
            let e = signature_to_raw(&c).unwrap_err();
            assert!(matches!(e, Error::Validation { ref field, .. } if field == "signature"), "{c:?}: {e:?}");
        }
        assert!(raw_to_der(&[0u8; 63]).is_err());
    }

    #[test]
    fn the_store_decides_the_device_key_once() {
        // A new store takes the platform key; the same key later is fine; another one is refused, typed.
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let hw = der_key();
        let id = identity(&s, Some(hw.clone())).unwrap();
        assert!(matches!(id, DeviceIdentity::Platform(_)));
        assert_eq!(id.public_key(), hw.public_key());
        let der = id.sign_der(b"challenge").unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, hw.public_key()).verify(b"challenge", &der).unwrap();
        let raw = id.signer(s.clone()).unwrap().sign(b"p").unwrap();
        assert_eq!(raw.len(), 64, "the wallet signs r ‖ s");
        assert!(matches!(identity(&s, Some(hw.clone())).unwrap(), DeviceIdentity::Platform(_)));
        let e = identity(&s, Some(der_key())).err().unwrap();
        assert!(matches!(e, Error::Validation { ref field, .. } if field == "device_key"), "{e:?}");
        // No second identity: neither a software key made on demand nor a signature without the platform.
        assert!(device_key(&s).is_err());
        assert!(identity(&s, None).is_err());
        assert_eq!(device_public_key(&s).unwrap(), hw.public_key());
        let reading = store_signer(s.clone()).unwrap();
        assert_eq!(reading.public_key(), hw.public_key());
        assert!(matches!(reading.sign(b"x"), Err(Error::Validation { .. })));

        // An older store with its software key keeps it, whatever the platform offers.
        let dir2 = tempfile::tempdir().unwrap();
        let older = store(dir2.path());
        let own = device_key(&older).unwrap().public_key().to_vec();
        let id = identity(&older, Some(der_key())).unwrap();
        assert!(matches!(id, DeviceIdentity::Store(_)));
        assert_eq!(id.public_key(), own);
        assert!(older.get_opt(DEVICE_COLLECTION, PLATFORM_KEY_ID).unwrap().is_none());

        // A platform key that is not a P-256 point is refused.
        struct Bad;
        impl DeviceSigner for Bad {
            fn public_key(&self) -> Vec<u8> {
                vec![4; 10]
            }
            fn sign(&self, _: &[u8]) -> Result<Vec<u8>> {
                Ok(vec![0; 64])
            }
        }
        let dir3 = tempfile::tempdir().unwrap();
        assert!(identity(&store(dir3.path()), Some(Arc::new(Bad))).is_err());
    }
}
