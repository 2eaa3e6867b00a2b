//! Talking to the platform (政务服务平台): the HTTP client ([`client`]), the device's identity, and what
//! the platform gave us (registration, catalog version). Later: submission through the outbox
//! (`outbox.rs`) and the sync loop (`loop.rs`), owned by cases.
//!
//! What lives in the store:
//! * `device/key`: the device's P-256 signing key (PKCS#8), encrypted like every record. Its public key
//!   is what the platform registers (and what a licence binds the holder's device to).
//! * `device/registration`: the device id and bearer token from the platform (encrypted: the token is a
//!   secret).
//! * setting `catalog.version` (plaintext) and one `catalog/<item id>` record per service item.
//! * `licence_queue/<case id>` (tagged `pending`): an approved case whose licence the sync loop still has
//!   to fetch into the wallet ([`issuance`]).

// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

use zhangban_base::{audit, notify, outbox, store, Error, Result};
use zhangban_calendar as calendar;
use zhangban_cases as cases;
use zhangban_forms as forms;
use zhangban_remind as remind;
use zhangban_wallet as wallet;
pub mod agent_api;
pub mod blob;
pub mod client;
pub mod follow;
pub mod http;
pub mod issuance;
#[cfg(test)]
mod issuance_tests;
pub mod rebind;
pub mod runner;
pub mod tls;
pub mod wallet_api;
pub use wallet_api::StatusScope;

pub use client::{CatalogUpdate, ClientConfig, DeviceInfo, PlatformClient, Registration};

use crate::store::Store;
pub use zhangban_wallet::device::{device_key, DeviceKey, DEVICE_COLLECTION, DEVICE_KEY_ID};

/// Record id of the platform registration (in the device collection).
pub const REGISTRATION_ID: &str = "registration";

/// Context of a registration signature (versioned: a new layout gets a new context).
pub const REGISTRATION_CONTEXT: &str = "ZB-Register-v1";

/// What a device signs to register: the platform's one-time challenge and everything it registers, as a
/// JSON array (unambiguous, no field can run into the next). Signing it with the private key of
/// `info.public_key` proves the device holds that key, so nobody who merely knows a device's public key
/// can register as that device and take over its token.
pub fn registration_tbs(challenge: &str, info: &DeviceInfo) -> Vec<u8> {
    serde_json::json!([REGISTRATION_CONTEXT, challenge, info.public_key, info.platform, info.model, info.app_version])
        .to_string()
        .into_bytes()
}

/// Checks a registration signature (ASN.1 DER ECDSA P-256 / SHA-256, hex) against `info.public_key`
/// (uncompressed SEC1, hex). The platform's side of [`registration_tbs`], kept here so both sides share it.
pub fn verify_registration(challenge: &str, info: &DeviceInfo, signature_hex: &str) -> bool {
    let (Ok(key), Ok(sig)) = (hex::decode(&info.public_key), hex::decode(signature_hex)) else { return false };
    if key.len() != 65 || sig.len() > 80 {
        return false;
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&registration_tbs(challenge, info), &sig)
        .is_ok()
}

/// The platform registration held locally, if the device registered.
pub fn registration(store: &Store) -> Result<Option<Registration>> {
    store.get_opt(DEVICE_COLLECTION, REGISTRATION_ID)?.map(|r| r.json()).transpose()
}

/// An operation the platform refused, as a screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct QuarantinedOp {
    pub op_id: String,
    pub case_id: String,
    pub kind: outbox::OpKind,
    /// The platform's HTTP status (0: refused on the phone, e.g. an attachment gone).
    pub status: u16,
    /// Why, in both languages as the platform worded it.
    pub reason: zhangban_base::Text,
}

/// The operations the platform refused, oldest first, with their reasons.
pub fn quarantined_ops(store: &Store) -> Result<Vec<QuarantinedOp>> {
    Ok(outbox::quarantined(store)?
        .into_iter()
        .map(|o| QuarantinedOp {
            status: o.problem.as_ref().map_or(0, |p| p.status),
            reason: o.problem.map(|p| p.text()).unwrap_or_default(),
            op_id: o.id,
            case_id: o.case_id,
            kind: o.kind,
        })
        .collect())
}

/// Whether this store's device is registered with a platform.
pub fn is_registered(store: &Store) -> Result<bool> {
    Ok(registration(store)?.is_some())
}

/// Registers this store's device with the platform at `base_url`, once before sync; the registration
/// (device id, token) is kept encrypted. Returns the device id. `platform`: `android`, `ios` or `desktop`.
/// The key registered is the store's device key as [`zhangban_wallet::device::identity`] decides it: the
/// `signer`'s (a StrongBox / Secure Enclave key) on a new store, the software key (made on first use)
/// without a signer or on an older store that has one.
pub async fn register_device(
    store: &Store,
    base_url: &str,
    platform: String,
    model: String,
    app_version: String,
    signer: Option<std::sync::Arc<dyn zhangban_wallet::DeviceSigner>>,
) -> Result<String> {
    let key = zhangban_wallet::device::identity(store, signer.clone())?;
    if let Some(s) = &signer {
        // The session holds it from now on: every later signature (issuance, transfer, agent) uses it.
        store.offer_device_signer(s.clone());
    }
    let info = DeviceInfo { public_key: key.public_key_hex(), platform, model, app_version };
    Ok(PlatformClient::new(base_url)?.register_device_signed(store, &info, signer).await?.device_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileVault;
    use std::sync::Arc;

    #[test]
    fn device_key_is_created_once_and_signs() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
        let store = Store::create(&dir.path().join("s"), vault, None).unwrap();
        let k1 = device_key(&store).unwrap();
        let k2 = device_key(&store).unwrap();
        assert_eq!(k1.public_key(), k2.public_key());
        assert_eq!(k1.public_key().len(), 65);
        let sig = k1.sign(b"hello").unwrap();
        let pk = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, k1.public_key());
        assert!(pk.verify(b"hello", &sig).is_ok());
        assert!(pk.verify(b"hellO", &sig).is_err());
        assert!(registration(&store).unwrap().is_none());
        assert_eq!(zhangban_catalog::catalog_version(&store).unwrap(), 0);
    }
}
