//! FFI exports: the e-licence wallet (电子证照). Type mapping only; every rule lives in
//! `zhangban_core::wallet`.
//!
//! - [`ZhangbanWallet`]: the holder's wallet over a [`ZhangbanStore`]; its device key is the store-held
//!   key, or a [`DeviceSigner`] the shell implements (StrongBox / Secure Enclave).
//! - [`ZhangbanVerifier`]: offline verification for clerks, hotels and agents. A refused code is not an
//!   error: [`VerificationOutcome`] carries the typed reason (`reason_code`) and its zh / en texts.
//! - [`render_qr`]: the QR code of a presentation as a module matrix and an SVG.

use std::sync::Arc;

use zhangban_core::wallet as w;
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};
use crate::store::ZhangbanStore;

/// Why a platform signer could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DeviceSignerError {
    /// The key cannot be used now (user not authenticated, hardware busy, key missing).
    #[error("device key unavailable: {detail}")]
    Unavailable { detail: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for DeviceSignerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        DeviceSignerError::Unavailable { detail: format!("unexpected error from the platform signer: {}", e.reason) }
    }
}

/// The holder's device key, held by the platform (a hardware key). ES256 only for now: `public_key` is
/// the SEC1 uncompressed P-256 point (65 bytes); `sign` returns r ‖ s (64 bytes) of ECDSA over SHA-256.
#[uniffi::export(with_foreign)]
pub trait DeviceSigner: Send + Sync {
    fn public_key(&self) -> Vec<u8>;
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, DeviceSignerError>;
}

struct ForeignSigner(Arc<dyn DeviceSigner>);

impl w::DeviceSigner for ForeignSigner {
    fn public_key(&self) -> Vec<u8> {
        self.0.public_key()
    }
    fn sign(&self, msg: &[u8]) -> zhangban_core::Result<Vec<u8>> {
        self.0.sign(msg.to_vec()).map_err(|e| CoreError::Storage(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DisclosurePreset {
    /// Every element.
    Full,
    /// 酒店入住: name and masked ID number.
    HotelCheckIn,
    /// 年龄核验: `age_over_18` only.
    AgeCheck,
    /// Chosen element keys (e.g. `["name", "address"]`).
    Custom { elements: Vec<String> },
}

impl From<DisclosurePreset> for w::Preset {
    fn from(p: DisclosurePreset) -> Self {
        match p {
            DisclosurePreset::Full => w::Preset::Full,
            DisclosurePreset::HotelCheckIn => w::Preset::HotelCheckIn,
            DisclosurePreset::AgeCheck => w::Preset::AgeCheck,
            DisclosurePreset::Custom { elements } => w::Preset::Custom(elements),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LicenceState {
    Valid,
    /// Ends within 30 days.
    Expiring,
    Expired,
    NotYetValid,
    Revoked,
    /// Revocation unknown: no status list, or one older than 7 days.
    StatusStale,
}

impl From<w::LicenceStatus> for LicenceState {
    fn from(s: w::LicenceStatus) -> Self {
        match s {
            w::LicenceStatus::Valid => LicenceState::Valid,
            w::LicenceStatus::Expiring => LicenceState::Expiring,
            w::LicenceStatus::Expired => LicenceState::Expired,
            w::LicenceStatus::NotYetValid => LicenceState::NotYetValid,
            w::LicenceStatus::Revoked => LicenceState::Revoked,
            w::LicenceStatus::StatusStale => LicenceState::StatusStale,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IssuerRecord {
    pub kid: String,
    pub uscc: String,
    pub name_zh: String,
    pub name_en: String,
}

impl From<w::IssuerInfo> for IssuerRecord {
    fn from(i: w::IssuerInfo) -> Self {
        IssuerRecord { kid: i.kid, uscc: i.uscc, name_zh: i.name_zh, name_en: i.name_en }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LicenceItem {
    pub licence_id: String,
    /// e.g. `resident_id`, `business_licence`.
    pub licence_type: String,
    pub type_name_zh: String,
    pub type_name_en: String,
    pub issuer: IssuerRecord,
    pub valid_from: i64,
    pub valid_until: i64,
    pub status: LicenceState,
    pub status_zh: String,
    pub status_en: String,
    pub status_age_secs: Option<i64>,
    pub imported_at: i64,
}

impl From<w::LicenceSummary> for LicenceItem {
    fn from(s: w::LicenceSummary) -> Self {
        LicenceItem {
            licence_id: s.licence_id,
            licence_type: s.licence_type.key().into(),
            type_name_zh: s.type_name_zh,
            type_name_en: s.type_name_en,
            issuer: s.issuer.into(),
            valid_from: s.valid_from,
            valid_until: s.valid_until,
            status: s.status.into(),
            status_zh: s.status.label_zh().into(),
            status_en: s.status.label_en().into(),
            status_age_secs: s.status_age_secs,
            imported_at: s.imported_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LicenceElement {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    /// For display.
    pub display: String,
    /// The value as JSON (text, number, boolean, or a list of members).
    pub value_json: String,
}

impl From<w::DisclosedElement> for LicenceElement {
    fn from(d: w::DisclosedElement) -> Self {
        LicenceElement {
            value_json: serde_json::to_string(&d.value).unwrap_or_default(),
            key: d.key,
            name_zh: d.name_zh,
            name_en: d.name_en,
            display: d.display,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LicenceDetails {
    pub summary: LicenceItem,
    pub elements: Vec<LicenceElement>,
}

/// Sequence and age of the cached trust and status lists.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ListAges {
    pub trust_sequence: Option<u64>,
    pub trust_age_secs: Option<i64>,
    pub status_sequence: Option<u64>,
    pub status_age_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresentationCode {
    pub licence_id: String,
    /// `ZB1:…`: draw it with [`render_qr`].
    pub qr_text: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Replace it with a fresh presentation at this time (Unix seconds).
    pub refresh_at: i64,
    pub purpose: String,
    pub disclosed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QrModules {
    pub width: u32,
    pub version: i16,
    /// Row-major, `width * width`, true = dark; draw with a 4-module light quiet zone.
    pub modules: Vec<bool>,
    pub svg: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GrantTerm {
    /// 30 days.
    Default,
    /// Until `expires_at` (Unix seconds), at most one year ahead.
    Until { expires_at: i64 },
    /// One use within 24 hours.
    SingleUse,
}

impl From<GrantTerm> for w::GrantExpiry {
    fn from(t: GrantTerm) -> Self {
        match t {
            GrantTerm::Default => w::GrantExpiry::Default,
            GrantTerm::Until { expires_at } => w::GrantExpiry::Until(expires_at),
            GrantTerm::SingleUse => w::GrantExpiry::SingleUse,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GrantInfo {
    pub grant_id: String,
    pub licence_id: String,
    pub recipient: String,
    pub purpose: String,
    pub elements: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub single_use: bool,
    pub revoked_at: Option<i64>,
    /// `ZBG1:…`, given to the recipient.
    pub text: String,
}

impl From<w::GrantRecord> for GrantInfo {
    fn from(g: w::GrantRecord) -> Self {
        GrantInfo {
            grant_id: g.grant_id,
            licence_id: g.licence_id,
            recipient: g.recipient,
            purpose: g.purpose,
            elements: g.elements,
            issued_at: g.issued_at,
            expires_at: g.expires_at,
            single_use: g.single_use,
            revoked_at: g.revoked_at,
            text: g.text,
        }
    }
}

/// One line of the privacy dashboard.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UsageRecord {
    pub at: i64,
    /// `licence.import`, `licence.present`, `licence.grant`, `licence.grant.revoke`.
    pub action: String,
    pub licence_id: String,
    pub recipient: Option<String>,
    pub purpose: Option<String>,
    pub elements: Vec<String>,
}

impl From<w::UsageEntry> for UsageRecord {
    fn from(u: w::UsageEntry) -> Self {
        UsageRecord {
            at: u.at,
            action: u.action,
            licence_id: u.licence_id,
            recipient: u.recipient,
            purpose: u.purpose,
            elements: u.elements,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifyPolicy {
    pub max_status_age_secs: i64,
    pub clock_skew_secs: i64,
    /// Empty accepts any purpose.
    pub accepted_purposes: Vec<String>,
}

impl From<VerifyPolicy> for w::Policy {
    fn from(p: VerifyPolicy) -> Self {
        w::Policy {
            max_status_age_secs: p.max_status_age_secs,
            clock_skew_secs: p.clock_skew_secs,
            accepted_purposes: p.accepted_purposes,
        }
    }
}

/// The default verification policy: status list at most 7 days old, 30 s clock skew, any purpose.
#[uniffi::export]
pub fn default_verify_policy() -> VerifyPolicy {
    let p = w::Policy::default();
    VerifyPolicy {
        max_status_age_secs: p.max_status_age_secs,
        clock_skew_secs: p.clock_skew_secs,
        accepted_purposes: p.accepted_purposes,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedLicence {
    pub issuer: IssuerRecord,
    pub licence_type: String,
    pub type_name_zh: String,
    pub type_name_en: String,
    pub licence_id: String,
    pub valid_from: i64,
    pub valid_until: i64,
    /// Exactly the disclosed elements.
    pub disclosed: Vec<LicenceElement>,
    pub purpose: String,
    pub not_before: i64,
    pub not_after: i64,
    pub status_age_secs: i64,
    pub warnings: Vec<String>,
}

/// A verification result: accepted with the verified content, or refused with a typed reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerificationOutcome {
    pub accepted: bool,
    /// e.g. `window_expired`, `revoked`, `digest_mismatch` (see docs/formats.md).
    pub reason_code: Option<String>,
    pub reason_zh: Option<String>,
    pub reason_en: Option<String>,
    pub verified: Option<VerifiedLicence>,
}

fn outcome(r: Result<w::Verified, w::WalletError>) -> VerificationOutcome {
    match r {
        Ok(v) => VerificationOutcome {
            accepted: true,
            reason_code: None,
            reason_zh: None,
            reason_en: None,
            verified: Some(VerifiedLicence {
                issuer: v.issuer.into(),
                licence_type: v.licence_type.key().into(),
                type_name_zh: v.type_name_zh,
                type_name_en: v.type_name_en,
                licence_id: v.licence_id,
                valid_from: v.valid_from,
                valid_until: v.valid_until,
                disclosed: v.disclosed.into_iter().map(Into::into).collect(),
                purpose: v.purpose,
                not_before: v.not_before,
                not_after: v.not_after,
                status_age_secs: v.status_age_secs,
                warnings: v.warnings,
            }),
        },
        Err(e) => VerificationOutcome {
            accepted: false,
            reason_code: Some(e.code().into()),
            reason_zh: Some(e.message_zh()),
            reason_en: Some(e.message_en()),
            verified: None,
        },
    }
}

/// Renders a QR code (error correction M) as a module matrix and an SVG.
#[uniffi::export]
pub fn render_qr(text: String) -> Result<QrModules, ZhangbanError> {
    guard(|| {
        let q = w::qr::render(&text)?;
        Ok(QrModules { width: q.width, version: q.version, modules: q.modules, svg: q.svg })
    })
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

    /// A wallet whose device key is held by the platform (StrongBox / Secure Enclave).
    #[uniffi::constructor]
    pub fn with_signer(store: Arc<ZhangbanStore>, signer: Arc<dyn DeviceSigner>) -> Arc<Self> {
        Arc::new(ZhangbanWallet {
            inner: w::Wallet::with_signer(store.core().clone(), Arc::new(ForeignSigner(signer))),
        })
    }

    pub fn device_public_key(&self) -> Vec<u8> {
        self.inner.device_public_key()
    }

    /// Signs the issuer's nonce (proof of possession of the device key, for issuance).
    pub fn prove_possession(&self, nonce: Vec<u8>) -> Result<Vec<u8>, ZhangbanError> {
        guard(|| self.inner.prove_possession(&nonce))
    }

    /// Verifies (against the pinned platform root key) and caches a signed trust list; returns its sequence.
    pub fn update_trust_list(&self, signed: Vec<u8>, now: i64) -> Result<u64, ZhangbanError> {
        guard(|| Ok(self.inner.update_trust_list(&signed, now)?.sequence))
    }

    pub fn update_status_list(&self, signed: Vec<u8>, now: i64) -> Result<u64, ZhangbanError> {
        guard(|| Ok(self.inner.update_status_list(&signed, now)?.sequence))
    }

    pub fn list_ages(&self, now: i64) -> Result<ListAges, ZhangbanError> {
        guard(|| {
            let c = self.inner.cache_info(now)?;
            Ok(ListAges {
                trust_sequence: c.trust_sequence,
                trust_age_secs: c.trust_age_secs,
                status_sequence: c.status_sequence,
                status_age_secs: c.status_age_secs,
            })
        })
    }

    /// Imports an issued licence after every check; a refusal is `ZhangbanError::Licence` whose
    /// `reason` starts with the reason code (e.g. `device_key_mismatch: …`).
    pub fn import_licence(&self, licence: Vec<u8>, now: i64) -> Result<LicenceItem, ZhangbanError> {
        guard(|| Ok(self.inner.import(&licence, now)?.into()))
    }

    pub fn licences(&self, now: i64) -> Result<Vec<LicenceItem>, ZhangbanError> {
        guard(|| Ok(self.inner.licences(now)?.into_iter().map(Into::into).collect()))
    }

    pub fn licence(&self, licence_id: String, now: i64) -> Result<LicenceDetails, ZhangbanError> {
        guard(|| {
            let d = self.inner.licence(&licence_id, now)?;
            Ok(LicenceDetails { summary: d.summary.into(), elements: d.elements.into_iter().map(Into::into).collect() })
        })
    }

    /// 亮证: a presentation valid for 60 s from `now`.
    pub fn present(
        &self,
        licence_id: String,
        preset: DisclosurePreset,
        purpose: Option<String>,
        now: i64,
    ) -> Result<PresentationCode, ZhangbanError> {
        guard(|| {
            let p = self.inner.present(&licence_id, &preset.into(), purpose.as_deref(), now)?;
            Ok(PresentationCode {
                licence_id: p.licence_id,
                qr_text: p.qr_text,
                not_before: p.not_before,
                not_after: p.not_after,
                refresh_at: p.refresh_at,
                purpose: p.purpose,
                disclosed: p.disclosed,
            })
        })
    }

    pub fn grant(
        &self,
        licence_id: String,
        preset: DisclosurePreset,
        recipient: String,
        purpose: String,
        term: GrantTerm,
        now: i64,
    ) -> Result<GrantInfo, ZhangbanError> {
        guard(|| Ok(self.inner.grant(&licence_id, &preset.into(), &recipient, &purpose, term.into(), now)?.into()))
    }

    pub fn grants(&self, licence_id: Option<String>) -> Result<Vec<GrantInfo>, ZhangbanError> {
        guard(|| Ok(self.inner.grants(licence_id.as_deref())?.into_iter().map(Into::into).collect()))
    }

    /// Revokes a grant: shown revoked at once and queued for the platform.
    pub fn revoke_grant(&self, grant_id: String, now: i64) -> Result<GrantInfo, ZhangbanError> {
        guard(|| Ok(self.inner.revoke_grant(&grant_id, now)?.into()))
    }

    /// The privacy dashboard: who received what and when, per licence (or all).
    pub fn usage(&self, licence_id: Option<String>) -> Result<Vec<UsageRecord>, ZhangbanError> {
        guard(|| Ok(self.inner.usage(licence_id.as_deref())?.into_iter().map(Into::into).collect()))
    }

    /// An offline verifier from this store's cached lists.
    pub fn verifier(&self) -> Result<Arc<ZhangbanVerifier>, ZhangbanError> {
        guard(|| Ok(Arc::new(ZhangbanVerifier { inner: self.inner.verifier()? })))
    }
}

/// Offline verification with a replay cache (in memory, and in the store: a replay is refused after a
/// restart too).
#[derive(uniffi::Object)]
pub struct ZhangbanVerifier {
    inner: w::Verifier,
}

#[uniffi::export]
impl ZhangbanVerifier {
    /// Verifies a scanned `ZB1:` text at `now` (Unix seconds) under `policy`, with no network.
    pub fn verify(&self, qr_text: String, now: i64, policy: VerifyPolicy) -> VerificationOutcome {
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.verify(&qr_text, now, &policy.into())));
        match r {
            Ok(r) => outcome(r),
            Err(_) => outcome(Err(w::WalletError::Malformed { what: "internal error".into() })),
        }
    }
}

fn client(platform_url: &str) -> Result<zhangban_core::sync::PlatformClient, ZhangbanError> {
    Ok(zhangban_core::sync::PlatformClient::new(platform_url)?)
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanWallet {
    /// Downloads the trust list and the status list, checks them against the pinned root key, caches them.
    pub async fn refresh_lists(&self, platform_url: String) -> Result<ListAges, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            let c = client(&platform_url)?.refresh_wallet_lists(&self.inner).await?;
            Ok(ListAges {
                trust_sequence: c.trust_sequence,
                trust_age_secs: c.trust_age_secs,
                status_sequence: c.status_sequence,
                status_age_secs: c.status_age_secs,
            })
        })
        .await
    }

    /// Requests a licence bound to this device (the device must be registered with the platform):
    /// nonce, proof of possession, issuance, then import with every check. `elements_json` is an object
    /// of element key → value, e.g. `{"name": "张三", "id_number": "…"}`.
    pub async fn request_licence(
        &self,
        platform_url: String,
        licence_type: String,
        elements_json: String,
    ) -> Result<LicenceItem, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            let t = w::LicenceType::from_key(&licence_type).ok_or_else(|| {
                ZhangbanError::from(CoreError::validation("licence_type", "未知的证照类型", "unknown licence type"))
            })?;
            if elements_json.len() > 64 * 1024 {
                return Err(CoreError::validation("elements_json", "内容过长", "too long").into());
            }
            let elements: std::collections::BTreeMap<String, w::ElementValue> = serde_json::from_str(&elements_json)
                .map_err(|e| CoreError::validation("elements_json", "不是有效的 JSON 对象", e.to_string()))?;
            Ok(client(&platform_url)?.request_licence(&self.inner, t, &elements).await?.into())
        })
        .await
    }

    /// Sends queued grant revocations to the platform; returns how many were sent.
    pub async fn send_grant_revocations(&self, platform_url: String) -> Result<u32, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            Ok(client(&platform_url)?.send_grant_revocations(&self.inner).await? as u32)
        })
        .await
    }
}
