//! FFI exports: the e-licence wallet (电子证照). The records and enums are the core's own
//! (`zhangban_core::wallet`: `LicenceSummary`, `Preset`, `PresentationOut`, `GrantRecord`,
//! `VerificationOutcome`, …); this file holds only the objects, the foreign signer and the error mapping.
//!
//! - [`ZhangbanWallet`]: the holder's wallet over a [`ZhangbanStore`]; its device key is the store-held
//!   key, or a [`DeviceSigner`] the shell implements (StrongBox / Secure Enclave).
//! - [`ZhangbanVerifier`]: offline verification for clerks, hotels and agents. A refused code is not an
//!   error: `VerificationOutcome` carries the typed reason (`reason_code`) and its text.
//! - [`render_qr`]: the QR code of a presentation as a module matrix and an SVG.

use std::sync::Arc;

use zhangban_core::store::Store;
use zhangban_core::wallet as w;
use zhangban_core::wallet::{
    CacheInfo, EngagementCode, GrantExpiry, GrantOutcome, GrantRecord, LicenceDetail, LicenceSummary, Policy,
    PresentationOut, Preset, QrImage, UsageEntry, VerificationOutcome,
};
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};
use crate::store::ZhangbanStore;

/// Why a platform signer could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DeviceSignerError {
    /// The key cannot be used now (user not authenticated, hardware busy, key missing).
    #[error("device key unavailable: {detail}")]
    Unavailable { detail: String },
    /// The key is kept behind the person's authentication and it was not given (Keystore's
    /// `UserNotAuthenticatedException`, LocalAuthentication): the app asks, then calls again.
    #[error("the device key needs the user to authenticate")]
    NeedsUserAuthentication,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for DeviceSignerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        DeviceSignerError::Unavailable { detail: format!("unexpected error from the platform signer: {}", e.reason) }
    }
}

/// The holder's device key, held by the platform (a hardware key). ES256 only for now: `public_key` is
/// the SEC1 uncompressed P-256 point (65 bytes); `sign` returns ECDSA over SHA-256 as ASN.1 DER (what
/// Android Keystore and `SecKeyCreateSignature` give) or r ‖ s (64 bytes): the core converts.
#[uniffi::export(with_foreign)]
pub trait DeviceSigner: Send + Sync {
    fn public_key(&self) -> Vec<u8>;
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, DeviceSignerError>;
}

pub(crate) struct ForeignSigner(pub(crate) Arc<dyn DeviceSigner>);

impl w::DeviceSigner for ForeignSigner {
    fn public_key(&self) -> Vec<u8> {
        self.0.public_key()
    }
    fn sign(&self, msg: &[u8]) -> zhangban_core::Result<Vec<u8>> {
        self.0.sign(msg.to_vec()).map_err(|e| match e {
            DeviceSignerError::Unavailable { detail } => CoreError::DeviceKeyUnavailable(detail),
            DeviceSignerError::NeedsUserAuthentication => CoreError::NeedsUserAuthentication,
        })
    }
}

/// Renders a QR code (error correction M) as a module matrix and an SVG.
#[uniffi::export]
pub fn render_qr(text: String) -> Result<QrImage, ZhangbanError> {
    guard(|| w::qr::render(&text))
}

/// The holder's wallet.
#[derive(uniffi::Object)]
pub struct ZhangbanWallet {
    inner: w::Wallet,
}

#[uniffi::export]
impl ZhangbanWallet {
    /// A wallet whose device key is kept (encrypted) in the store: the key the device registers with.
    #[uniffi::constructor]
    pub fn open(store: Arc<ZhangbanStore>) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Ok(Arc::new(ZhangbanWallet { inner: w::Wallet::open(store.core().clone())? })))
    }

    /// A wallet whose device key is held by the platform (StrongBox / Secure Enclave): recorded as the
    /// store's device key on first use; a store that already has its software key keeps it.
    #[uniffi::constructor]
    pub fn with_signer(store: Arc<ZhangbanStore>, signer: Arc<dyn DeviceSigner>) -> Result<Arc<Self>, ZhangbanError> {
        let (store, platform) = (store.core().clone(), Arc::new(ForeignSigner(signer)));
        guard(|| Ok(Arc::new(ZhangbanWallet { inner: w::Wallet::with_platform_signer(store, platform)? })))
    }

    pub fn device_public_key(&self) -> Vec<u8> {
        self.inner.device_public_key()
    }

    /// Signs the issuer's nonce (proof of possession of the device key, for issuance).
    pub fn prove_possession(&self, nonce: Vec<u8>) -> Result<Vec<u8>, ZhangbanError> {
        guard(|| self.inner.prove_possession(&nonce))
    }

    /// Verifies (against the pinned platform root key) and caches a signed trust list; returns its sequence.
    pub fn update_trust_list(&self, signed: Vec<u8>) -> Result<u64, ZhangbanError> {
        guard(|| Ok(self.inner.update_trust_list(&signed, self.now())?.sequence))
    }

    pub fn update_status_list(&self, signed: Vec<u8>) -> Result<u64, ZhangbanError> {
        guard(|| Ok(self.inner.update_status_list(&signed, self.now())?.sequence))
    }

    /// Sequence and age of the cached trust and status lists.
    pub fn cache_info(&self) -> Result<CacheInfo, ZhangbanError> {
        guard(|| self.inner.cache_info(self.now()))
    }

    /// Imports an issued licence after every check; a refusal is `ZhangbanError::Licence` whose
    /// `reason` starts with the reason code (e.g. `device_key_mismatch: …`).
    pub fn import_licence(&self, licence: Vec<u8>) -> Result<LicenceSummary, ZhangbanError> {
        guard(|| self.inner.import(&licence, self.now()))
    }

    /// The wallet list: every licence with its status (and its text) now.
    pub fn licences(&self) -> Result<Vec<LicenceSummary>, ZhangbanError> {
        guard(|| self.inner.licences(self.now()))
    }

    pub fn licence(&self, licence_id: String) -> Result<LicenceDetail, ZhangbanError> {
        guard(|| self.inner.licence(&licence_id, self.now()))
    }

    /// 亮证: a presentation valid for 60 s from now.
    pub fn present(
        &self,
        licence_id: String,
        preset: Preset,
        purpose: Option<String>,
    ) -> Result<PresentationOut, ZhangbanError> {
        guard(|| self.inner.present(&licence_id, &preset, purpose.as_deref(), self.now()))
    }

    /// Engagement mode: a presentation answering the `ZBE1:` code scanned from the verifier's screen (its
    /// challenge and purpose); the code is good at that verifier only.
    pub fn present_engaged(
        &self,
        licence_id: String,
        preset: Preset,
        engagement_text: String,
    ) -> Result<PresentationOut, ZhangbanError> {
        guard(|| self.inner.present_engaged(&licence_id, &preset, &engagement_text, self.now()))
    }

    /// 授权用证 for `recipient` (a name people read), bound to `recipient_key` (the recipient's
    /// `device_public_key`, scanned from its phone): only that phone's grant verifier accepts it.
    pub fn grant(
        &self,
        licence_id: String,
        preset: Preset,
        recipient: String,
        recipient_key: Vec<u8>,
        purpose: String,
        expiry: GrantExpiry,
    ) -> Result<GrantRecord, ZhangbanError> {
        guard(|| self.inner.grant(&licence_id, &preset, &recipient, &recipient_key, &purpose, expiry, self.now()))
    }

    /// The recipient's side of 授权用证: verifies grants bound to this device's key, offline, from the
    /// cached lists; used single-use grants are remembered in the store.
    pub fn grant_verifier(&self) -> Result<Arc<ZhangbanGrantVerifier>, ZhangbanError> {
        let store = self.inner.store().clone();
        guard(|| {
            Ok(Arc::new(ZhangbanGrantVerifier { inner: std::sync::Mutex::new(self.inner.grant_verifier()?), store }))
        })
    }

    pub fn grants(&self, licence_id: Option<String>) -> Result<Vec<GrantRecord>, ZhangbanError> {
        guard(|| self.inner.grants(licence_id.as_deref()))
    }

    /// Revokes a grant: shown revoked at once and queued for the platform.
    pub fn revoke_grant(&self, grant_id: String) -> Result<GrantRecord, ZhangbanError> {
        guard(|| self.inner.revoke_grant(&grant_id, self.now()))
    }

    /// The privacy dashboard: who received what and when, per licence (or all).
    pub fn usage(&self, licence_id: Option<String>) -> Result<Vec<UsageEntry>, ZhangbanError> {
        guard(|| self.inner.usage(licence_id.as_deref()))
    }

    /// An offline verifier from this store's cached lists.
    pub fn verifier(&self) -> Result<Arc<ZhangbanVerifier>, ZhangbanError> {
        guard(|| Ok(Arc::new(ZhangbanVerifier { inner: self.inner.verifier()?, store: self.inner.store().clone() })))
    }
}

impl ZhangbanWallet {
    /// Now, from the store's clock: no time crosses the FFI (ADR 0019).
    fn now(&self) -> i64 {
        self.inner.store().now()
    }
}

/// Offline verification with a replay cache (in memory, and in the store: a replay is refused after a
/// restart too).
#[derive(uniffi::Object)]
pub struct ZhangbanVerifier {
    inner: w::Verifier,
    /// Its clock: the store the verifier was made from.
    store: Arc<Store>,
}

/// The outcome of a verification, with a panic caught and refused as malformed (never across the FFI).
fn outcome<V, O: From<Result<V, w::WalletError>>>(f: impl FnOnce() -> Result<V, w::WalletError>) -> O {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(w::WalletError::Malformed { what: "internal error".into() }))
        .into()
}

#[uniffi::export]
impl ZhangbanVerifier {
    /// Verifies a scanned `ZB1:` text now (the store's clock) under `policy`, with no network.
    pub fn verify(&self, qr_text: String, policy: Policy) -> VerificationOutcome {
        outcome(|| self.inner.verify(&qr_text, self.store.now(), &policy))
    }

    /// Engagement mode: a fresh challenge for `purpose` to show as a QR code (it replaces the previous one).
    pub fn engage(&self, purpose: String) -> Result<EngagementCode, ZhangbanError> {
        guard(|| Ok(self.inner.engage(&purpose, self.store.now())?.code()))
    }

    /// Engagement mode: verifies a scanned code against the challenge shown now ([`Self::engage`]); a code
    /// made for another verifier (relayed) or a one-way code is refused (`engagement_mismatch`).
    pub fn verify_engaged(&self, qr_text: String, policy: Policy) -> VerificationOutcome {
        outcome(|| self.inner.verify_current(&qr_text, self.store.now(), &policy))
    }
}

/// The recipient's grant verifier (see [`ZhangbanWallet::grant_verifier`]).
#[derive(uniffi::Object)]
pub struct ZhangbanGrantVerifier {
    inner: std::sync::Mutex<w::GrantVerifier>,
    store: Arc<Store>,
}

#[uniffi::export]
impl ZhangbanGrantVerifier {
    /// The holders' signed revocations, from the platform when last online (only a revocation signed by
    /// the grant's own device key counts).
    pub fn set_revocations(&self, revocations: Vec<w::GrantRevocation>) {
        let _ = self.inner.lock().map(|mut g| g.set_revocations(&revocations));
    }

    /// Verifies a `ZBG1:` grant now (the store's clock) under `policy`, with no network; a panic is refused
    /// as malformed.
    pub fn verify(&self, grant_text: String, policy: Policy) -> GrantOutcome {
        outcome(|| match self.inner.lock() {
            Ok(g) => g.verify(&grant_text, self.store.now(), &policy),
            Err(_) => Err(w::WalletError::Malformed { what: "grant verifier".into() }),
        })
    }
}

fn client(platform_url: &str) -> Result<zhangban_core::sync::PlatformClient, ZhangbanError> {
    Ok(zhangban_core::sync::PlatformClient::new(platform_url)?)
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanWallet {
    /// Downloads the trust list and the status lists, checks them against the pinned root key, caches them:
    /// a holder's own shards, or with `every_shard` (a verifier's device) every shard (ADR 0039).
    #[uniffi::method(default(every_shard = false))]
    pub async fn refresh_lists(&self, platform_url: String, every_shard: bool) -> Result<CacheInfo, ZhangbanError> {
        let go = async move { Ok(client(&platform_url)?.refresh_lists_for(&self.inner, every_shard.into()).await?) };
        crate::runtime::exit_safe(go).await
    }

    /// Requests a licence bound to this device (the device must be registered with the platform):
    /// nonce, proof of possession, issuance, then import with every check. `licence_type` is a key
    /// (`resident_id`, …); `case_id`: the platform case whose approval offered the licence, or `None`: the
    /// record the platform's register holds for this device's person. The platform takes the contents from
    /// its own records, never from the phone.
    pub async fn request_licence(
        &self,
        platform_url: String,
        licence_type: String,
        case_id: Option<String>,
    ) -> Result<LicenceSummary, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            let t = w::LicenceType::parse(&licence_type)?;
            Ok(client(&platform_url)?.request_licence(&self.inner, t, case_id.as_deref()).await?)
        })
        .await
    }
}
