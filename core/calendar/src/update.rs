//! Signed calendar updates from the platform (years after the bundled data, or corrections).
//!
//! Envelope (JSON): `{"kid": "...", "alg": "ES256", "payload": "<text>", "signature": "<hex>"}` where
//! `payload` is `version N` on its first line followed by calendar text in the bundled format, and
//! `signature` is the ECDSA P-256 / SHA-256 signature (64 bytes, r‖s) over the payload's UTF-8 bytes.
//! Only the pinned platform key is accepted; a version not newer than the one applied is refused
//! (no rollback). The verified envelope is kept in the store and re-verified on every load.

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde::{Deserialize, Serialize};

use super::{parse, Calendar, Origin, YearData};
use crate::store::{Store, SELF_SUBJECT};
use crate::{Error, Result};

/// Key id of the pinned platform calendar key (from the build input: [`zhangban_base::anchors`]).
pub const PLATFORM_KEY_ID: &str = zhangban_base::anchors::CALENDAR_KEY_ID;

/// The collection of the stored signed update (one record, `latest`).
pub const COLLECTION: &str = "calendar_update";
const MAX_ENVELOPE: usize = super::MAX_CALENDAR_TEXT + 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedUpdate {
    pub kid: String,
    pub alg: String,
    pub payload: String,
    pub signature: String,
}

/// A key allowed to sign calendar updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: String,
    /// Uncompressed P-256 public key (65 bytes).
    pub public_key: Vec<u8>,
}

impl TrustedKey {
    /// The pinned platform key.
    pub fn platform() -> TrustedKey {
        TrustedKey { kid: PLATFORM_KEY_ID.into(), public_key: zhangban_base::anchors::CALENDAR_PUBLIC_KEY.to_vec() }
    }
}

/// A verified update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUpdate {
    pub version: u64,
    pub years: Vec<YearData>,
}

fn bad(en: impl Into<String>) -> Error {
    let en = en.into();
    Error::validation("calendar_update", format!("日历更新无效：{en}"), format!("invalid calendar update: {en}"))
}

/// Signs calendar text as an update (the platform side; used by the sandbox and tests).
pub fn sign(pkcs8: &[u8], kid: &str, version: u64, calendar_text: &str) -> Result<SignedUpdate> {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
        .map_err(|_| Error::Internal("bad signing key".into()))?;
    let payload = format!("version {version}\n{calendar_text}");
    let sig = key.sign(&rng, payload.as_bytes()).map_err(|_| Error::Internal("signing failed".into()))?;
    Ok(SignedUpdate { kid: kid.into(), alg: "ES256".into(), payload, signature: hex::encode(sig.as_ref()) })
}

/// The public key of a PKCS#8 signing key (uncompressed point).
pub fn public_key_of(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new())
        .map_err(|_| Error::Internal("bad signing key".into()))?;
    Ok(key.public_key().as_ref().to_vec())
}

/// Parses and verifies an envelope against `key`.
pub fn verify(envelope: &[u8], key: &TrustedKey) -> Result<VerifiedUpdate> {
    if envelope.len() > MAX_ENVELOPE {
        return Err(bad("too large"));
    }
    let env: SignedUpdate = serde_json::from_slice(envelope).map_err(|e| bad(format!("not an envelope: {e}")))?;
    verify_envelope(&env, key)
}

pub fn verify_envelope(env: &SignedUpdate, key: &TrustedKey) -> Result<VerifiedUpdate> {
    if env.alg != "ES256" {
        return Err(bad(format!("algorithm {} not accepted", env.alg)));
    }
    if env.kid != key.kid {
        return Err(bad(format!("unknown key id {}", env.kid)));
    }
    let sig = hex::decode(&env.signature).map_err(|_| bad("signature is not hex"))?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.public_key)
        .verify(env.payload.as_bytes(), &sig)
        .map_err(|_| bad("signature does not verify"))?;
    let (first, text) = env.payload.split_once('\n').ok_or_else(|| bad("no version line"))?;
    let version = first
        .strip_prefix("version ")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| bad("bad version line"))?;
    let years = parse::parse(text)?;
    Ok(VerifiedUpdate { version, years })
}

/// The applied update's version, if any.
pub fn applied_version(store: &Store) -> Result<Option<u64>> {
    Ok(store.get_opt(COLLECTION, "latest")?.map(|r| r.json::<SignedUpdate>()).transpose()?.and_then(|env| {
        env.payload.split_once('\n').and_then(|(l, _)| l.strip_prefix("version ").and_then(|v| v.trim().parse().ok()))
    }))
}

/// Verifies `envelope` with the pinned key and, if newer than the applied one, keeps it.
pub fn apply(store: &Store, envelope: &[u8]) -> Result<VerifiedUpdate> {
    apply_with_key(store, envelope, &TrustedKey::platform())
}

pub fn apply_with_key(store: &Store, envelope: &[u8], key: &TrustedKey) -> Result<VerifiedUpdate> {
    let v = verify(envelope, key)?;
    if let Some(cur) = applied_version(store)? {
        if v.version <= cur {
            return Err(bad(format!("version {} is not newer than the applied version {cur}", v.version)));
        }
    }
    let env: SignedUpdate = serde_json::from_slice(envelope)?;
    store.put_json(COLLECTION, "latest", SELF_SUBJECT, &env)?;
    Ok(v)
}

/// The bundled calendar plus the stored update (re-verified with the pinned key).
pub fn load(store: &Store) -> Result<Calendar> {
    load_with_key(store, &TrustedKey::platform())
}

pub fn load_with_key(store: &Store, key: &TrustedKey) -> Result<Calendar> {
    let mut cal = (*Calendar::bundled()).clone();
    if let Some(r) = store.get_opt(COLLECTION, "latest")? {
        let env: SignedUpdate = r.json()?;
        let v = verify_envelope(&env, key)?;
        for y in v.years {
            cal.insert_year(y, Origin::Update { version: v.version });
        }
    }
    Ok(cal)
}
