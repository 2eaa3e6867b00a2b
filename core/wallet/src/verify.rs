//! Offline verification of presentations (for clerks, hotels, agents), from cached trust and status
//! lists, with a verifier-side replay cache. Also the licence checks shared with import and grants.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::engage::Engagement;
use super::error::{WResult, WalletError};
use super::format::*;
use super::ids::LicenceId;
use super::trust::{StatusLists, TrustEntry, TrustList};
use super::types::{ElementValue, LicenceType};
use crate::store::{Store, SELF_SUBJECT};
use crate::Text;

/// What a verifier accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Policy {
    /// Oldest status list accepted (seconds since it was issued).
    pub max_status_age_secs: i64,
    /// Oldest trust list accepted (seconds since it was issued): a list kept stale (sync blocked) must not
    /// keep a withdrawn issuer key trusted. Default [`MAX_TRUST_AGE_SECS`].
    #[serde(default = "default_max_trust_age")]
    pub max_trust_age_secs: i64,
    /// Clock difference allowed between holder and verifier; the core caps it at [`MAX_CLOCK_SKEW_SECS`].
    pub clock_skew_secs: i64,
    /// Purposes accepted. Empty accepts none (`no_purpose_policy`): a verifier must say what it checks for.
    pub accepted_purposes: Vec<String>,
}

/// Largest clock skew any policy gets, whatever the shell asks for: a larger one would turn a 60-second
/// code (or a screenshot of it) into a long-lived one.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The default oldest trust list a verifier accepts: 7 days, the status list's default too (both lists come
/// in the same sync, and the platform signs both afresh for every fetch).
pub const MAX_TRUST_AGE_SECS: i64 = 7 * 24 * 3600;

fn default_max_trust_age() -> i64 {
    MAX_TRUST_AGE_SECS
}

impl Policy {
    /// The skew actually applied: `clock_skew_secs` within `0..=MAX_CLOCK_SKEW_SECS`.
    pub fn skew(&self) -> i64 {
        self.clock_skew_secs.clamp(0, MAX_CLOCK_SKEW_SECS)
    }

    /// The purpose check: `purpose` must be listed (an empty list accepts none).
    pub fn check_purpose(&self, purpose: &str) -> WResult<()> {
        if self.accepted_purposes.is_empty() {
            return Err(WalletError::NoPurposePolicy);
        }
        if !self.accepted_purposes.iter().any(|a| a == purpose) {
            return Err(WalletError::PurposeNotAccepted { purpose: purpose.into() });
        }
        Ok(())
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_status_age_secs: 7 * 24 * 3600,
            max_trust_age_secs: MAX_TRUST_AGE_SECS,
            clock_skew_secs: 30,
            accepted_purposes: Vec::new(),
        }
    }
}

/// The default verification policy: status and trust lists at most 7 days old, 30 s clock skew, no purpose
/// (a verifier lists the purposes it accepts).
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn default_verify_policy() -> Policy {
    Policy::default()
}

/// A verification result as a screen shows it: accepted with the verified content, or refused with a typed
/// reason (`reason_code`, e.g. `window_expired`, `revoked`; see docs/formats.md) and its text. A refused code
/// is an answer, not an error of the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VerificationOutcome {
    pub accepted: bool,
    pub reason_code: Option<String>,
    pub reason: Option<Text>,
    pub verified: Option<Verified>,
}

impl From<WResult<Verified>> for VerificationOutcome {
    fn from(r: WResult<Verified>) -> Self {
        match r {
            Ok(v) => VerificationOutcome { accepted: true, reason_code: None, reason: None, verified: Some(v) },
            Err(e) => VerificationOutcome {
                accepted: false,
                reason_code: Some(e.code().into()),
                reason: Some(Text::new(e.message_zh(), e.message_en())),
                verified: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct IssuerInfo {
    pub kid: String,
    pub uscc: String,
    pub name_zh: String,
    pub name_en: String,
}

impl From<&TrustEntry> for IssuerInfo {
    fn from(e: &TrustEntry) -> Self {
        IssuerInfo {
            kid: e.kid_hex(),
            uscc: e.issuer_uscc.clone(),
            name_zh: e.name_zh.clone(),
            name_en: e.name_en.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DisclosedElement {
    pub key: String,
    /// 姓名 / Name …
    pub name: Text,
    pub value: ElementValue,
    /// `value` for display.
    pub display: String,
}

/// A verified presentation: exactly what the verifier may rely on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Verified {
    pub issuer: IssuerInfo,
    pub licence_type: LicenceType,
    pub type_name: Text,
    pub licence_id: String,
    pub valid_from: i64,
    pub valid_until: i64,
    /// The disclosed elements, and only those, in element-id order.
    pub disclosed: Vec<DisclosedElement>,
    pub purpose: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Age of the status list the revocation check used.
    pub status_age_secs: i64,
    /// Age of the trust list the issuer check used.
    pub trust_age_secs: i64,
    pub warnings: Vec<String>,
}

/// The licence-level checks every path shares: trust, issuer signature, identifier, issuer match,
/// type authorisation, validity dates. Returns the trust entry and the licence type.
pub fn check_licence<'t>(
    signed: &SignedLicence,
    trust: &'t TrustList,
    now: i64,
    skew: i64,
) -> WResult<(&'t TrustEntry, LicenceType)> {
    let entry = trust.active_key(&signed.kid, now)?;
    if !sign1_verify(&signed.sign1, &entry.public_key) {
        return Err(WalletError::BadIssuerSignature);
    }
    let p = &signed.body;
    let id = LicenceId::parse(&p.licence_id).map_err(|e| WalletError::InvalidIdentifier {
        field: "证照标识 licence id".into(),
        zh: e.message_zh(),
        en: e.message_en(),
    })?;
    let t = LicenceType::from_code(&id.type_code)
        .ok_or_else(|| WalletError::UnknownLicenceType { code: id.type_code.clone() })?;
    if id.issuer_uscc != entry.issuer_uscc || !entry.types.iter().any(|c| c == t.code()) {
        return Err(WalletError::IssuerNotAuthorised { kid: entry.kid_hex() });
    }
    if now + skew < p.valid_from {
        return Err(WalletError::NotYetValid { valid_from: p.valid_from });
    }
    if now - skew > p.valid_until {
        return Err(WalletError::Expired { valid_until: p.valid_until });
    }
    Ok((entry, t))
}

/// The trust list's age at `now`, refused past `max_age` (`trust_stale`): otherwise an attacker who blocks
/// the verifier's sync keeps a withdrawn issuer key trusted for as long as they like.
pub fn check_trust_age(trust: &TrustList, now: i64, max_age: i64) -> WResult<i64> {
    let age = now.saturating_sub(trust.issued_at).max(0);
    if age > max_age {
        return Err(WalletError::TrustStale { age_secs: age, max_secs: max_age });
    }
    Ok(age)
}

/// Revocation check of a licence against its own cached status list (its shard); returns the list's age. A
/// licence whose list is not held is `status_unknown`, never valid.
pub fn check_status(licence: &LicencePayload, status: &StatusLists, now: i64, max_age: i64) -> WResult<i64> {
    let (list, index) = licence.status_slot();
    let sl = status.get(list).ok_or(WalletError::StatusUnknown)?;
    let age = (now - sl.issued_at).max(0);
    if age > max_age {
        return Err(WalletError::StatusStale { age_secs: age, max_secs: max_age });
    }
    match sl.is_revoked(index) {
        None => Err(WalletError::StatusIndexOutOfRange { index, size: sl.size }),
        Some(true) => Err(WalletError::Revoked),
        Some(false) => Ok(age),
    }
}

/// Decodes disclosed items and checks each against the issuer's digest. Ids must be distinct.
pub fn check_items(signed: &SignedLicence, t: LicenceType, items: &[Vec<u8>]) -> WResult<Vec<ElementItem>> {
    let mut out: Vec<ElementItem> = Vec::with_capacity(items.len());
    for b in items {
        let item = ElementItem::decode(b)?;
        let name = t.element(item.id).map(|d| d.key.to_string()).unwrap_or_else(|| format!("#{}", item.id));
        match signed.body.digests.get(&item.id) {
            Some(d) if d.as_slice() == element_digest(b) => {}
            _ => return Err(WalletError::DigestMismatch { element: name }),
        }
        let def = t.element(item.id).ok_or(WalletError::InvalidElement { field: name.clone() })?;
        if !item.value.matches_kind(def.kind) {
            return Err(WalletError::InvalidElement { field: name });
        }
        if out.iter().any(|o| o.id == item.id) {
            return Err(WalletError::DuplicateItem { element: name });
        }
        out.push(item);
    }
    zhangban_base::sort::sort_by_key(&mut out, |i| i.id);
    Ok(out)
}

pub fn disclosed(t: LicenceType, items: &[ElementItem]) -> Vec<DisclosedElement> {
    items
        .iter()
        .filter_map(|i| {
            t.element(i.id).map(|d| DisclosedElement {
                key: d.key.into(),
                name: Text::new(d.name_zh, d.name_en),
                display: i.value.display(),
                value: i.value.clone(),
            })
        })
        .collect()
}

/// Nonces seen within their window, so the same presentation is accepted once.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: HashMap<Vec<u8>, i64>,
}

impl ReplayCache {
    /// Most nonces kept; beyond it the earliest-expiring are dropped.
    pub const CAPACITY: usize = 100_000;

    pub fn contains(&self, nonce: &[u8], now: i64) -> bool {
        self.seen.get(nonce).is_some_and(|&exp| exp >= now)
    }

    pub fn insert(&mut self, nonce: &[u8], expires: i64, now: i64) {
        if self.seen.len() >= Self::CAPACITY {
            self.seen.retain(|_, &mut e| e >= now);
            if self.seen.len() >= Self::CAPACITY {
                if let Some(k) = self.seen.iter().min_by_key(|(_, &e)| e).map(|(k, _)| k.clone()) {
                    self.seen.remove(&k);
                }
            }
        }
        self.seen.insert(nonce.to_vec(), expires);
    }
}

/// Collection of nonces a verifier accepted, kept until their window closes (see [`Verifier::with_store`]).
pub const SEEN_NONCES: &str = "verifier_nonce";

/// An offline verifier: a trust list, the status lists it holds (one per shard) and a replay cache.
#[derive(Debug)]
pub struct Verifier {
    pub trust: TrustList,
    pub status: StatusLists,
    replay: Mutex<ReplayCache>,
    /// Where accepted nonces are also kept, so a restarted verifier app still refuses a replay.
    seen_store: Option<Arc<Store>>,
    accepted: AtomicU32,
    /// The challenge this verifier shows now (engagement mode), if any.
    engagement: Mutex<Option<Engagement>>,
}

#[derive(Serialize, Deserialize)]
struct SeenNonce {
    expires: i64,
}

impl Verifier {
    pub fn new(trust: TrustList, status: impl Into<StatusLists>) -> Verifier {
        Verifier {
            trust,
            status: status.into(),
            replay: Mutex::new(ReplayCache::default()),
            seen_store: None,
            accepted: AtomicU32::new(0),
            engagement: Mutex::new(None),
        }
    }

    /// Also remembers accepted nonces in `store` until their window closes, so the same presentation
    /// is refused after the verifier (or the app) restarts. The in-memory cache stays the first check; if
    /// the store cannot be read or written (locked, full) the verifier still refuses replays within this
    /// process. Nonces whose window closed are deleted now and then (the first acceptance, then every
    /// [`Verifier::PURGE_EVERY`]).
    pub fn with_store(mut self, store: Arc<Store>) -> Verifier {
        self.seen_store = Some(store);
        self
    }

    pub const PURGE_EVERY: u32 = 256;

    fn purge_store(store: &Store, now: i64) {
        let Ok(rows) = store.scan(SEEN_NONCES, None, None) else { return };
        let expired: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.ok())
            .filter(|r| r.json::<SeenNonce>().map_or(true, |n| n.expires < now))
            .map(|r| r.id)
            .collect();
        if !expired.is_empty() {
            let _ = store.transaction(|t| {
                for id in &expired {
                    t.delete(SEEN_NONCES, id)?;
                }
                Ok(())
            });
        }
    }

    /// Record id of a nonce (a hash: the nonce itself needs no keeping).
    fn nonce_id(nonce: &[u8]) -> String {
        hex::encode(&ring::digest::digest(&ring::digest::SHA256, nonce).as_ref()[..16])
    }

    fn seen_in_store(&self, nonce: &[u8], now: i64) -> bool {
        let Some(store) = &self.seen_store else { return false };
        match store.get_opt(SEEN_NONCES, &Self::nonce_id(nonce)) {
            Ok(Some(r)) => r.json::<SeenNonce>().map_or(true, |n| n.expires >= now),
            _ => false,
        }
    }

    fn remember_in_store(&self, nonce: &[u8], expires: i64, now: i64) {
        if let Some(store) = &self.seen_store {
            if self.accepted.fetch_add(1, Ordering::Relaxed) % Self::PURGE_EVERY == 0 {
                Self::purge_store(store, now);
            }
            // Anchored: putting back the files of before would let the code be replayed here.
            let _ = store.transaction(|t| {
                t.put_json(
                    SEEN_NONCES,
                    &Self::nonce_id(nonce),
                    SELF_SUBJECT,
                    &SeenNonce { expires },
                    Default::default(),
                )?;
                t.anchor();
                Ok(())
            });
        }
    }

    /// Verifies a one-way `ZB1:` presentation at `now` (Unix seconds) under `policy`, with no network.
    /// A code made for another verifier's challenge (engaged) is refused here: see [`Verifier::verify_engaged`].
    pub fn verify(&self, qr_text: &str, now: i64, policy: &Policy) -> WResult<Verified> {
        self.verify_inner(qr_text, None, now, policy)
    }

    /// Engagement mode: verifies a `ZB1:` code that must answer `engagement` (the challenge this verifier
    /// showed, for its purpose), so a code relayed from another verifier is refused.
    pub fn verify_engaged(
        &self,
        qr_text: &str,
        engagement: &Engagement,
        now: i64,
        policy: &Policy,
    ) -> WResult<Verified> {
        self.verify_inner(qr_text, Some(engagement), now, policy)
    }

    /// Engagement mode, verifier side: a fresh challenge for `purpose`, to show as a QR code (`to_text`);
    /// it replaces the one shown before. [`Verifier::verify_current`] checks codes against it.
    pub fn engage(&self, purpose: &str, now: i64) -> crate::Result<Engagement> {
        let e = Engagement::new(purpose, now)?;
        if let Ok(mut g) = self.engagement.lock() {
            *g = Some(e.clone());
        }
        Ok(e)
    }

    /// Verifies a code against the challenge this verifier shows now ([`Verifier::engage`]); without one,
    /// every code is refused (`engagement_mismatch`).
    pub fn verify_current(&self, qr_text: &str, now: i64, policy: &Policy) -> WResult<Verified> {
        let e = self.engagement.lock().ok().and_then(|g| g.clone()).ok_or(WalletError::EngagementMismatch)?;
        self.verify_engaged(qr_text, &e, now, policy)
    }

    fn verify_inner(
        &self,
        qr_text: &str,
        engagement: Option<&Engagement>,
        now: i64,
        policy: &Policy,
    ) -> WResult<Verified> {
        let p = Presentation::from_text(qr_text)?;
        let skew = policy.skew();
        match (engagement, &p.challenge) {
            (None, None) => {}
            (Some(e), Some(c)) if e.challenge == *c && e.purpose == p.purpose => e.check_fresh(now, skew)?,
            _ => return Err(WalletError::EngagementMismatch),
        }
        // Cheap checks of the window's shape first (step 3): it must not end before it starts, nor
        // last longer than 60 s.
        if p.not_after < p.not_before {
            return Err(WalletError::NegativeWindow { not_before: p.not_before, not_after: p.not_after });
        }
        let window = p.not_after.saturating_sub(p.not_before);
        if window > MAX_WINDOW_SECS {
            return Err(WalletError::WindowTooLong { secs: window });
        }
        let (entry, t) = check_licence(&p.signed, &self.trust, now, skew)?;
        let mso = &p.signed.body;
        let items = check_items(&p.signed, t, &p.items)?;
        let ids: Vec<u32> = p.items.iter().filter_map(|b| ElementItem::decode(b).ok().map(|i| i.id)).collect();
        if !mso.device_key.verify(&p.tbs(&ids), &p.device_signature) {
            return Err(WalletError::BadDeviceSignature);
        }
        if now + skew < p.not_before {
            return Err(WalletError::WindowNotYetValid { not_before: p.not_before });
        }
        if now - skew > p.not_after {
            return Err(WalletError::WindowExpired { not_after: p.not_after });
        }
        let trust_age = check_trust_age(&self.trust, now, policy.max_trust_age_secs)?;
        let status_age = check_status(mso, &self.status, now, policy.max_status_age_secs)?;
        policy.check_purpose(&p.purpose)?;
        {
            let mut cache = self.replay.lock().map_err(|_| WalletError::Malformed { what: "replay cache".into() })?;
            if cache.contains(&p.nonce, now) || self.seen_in_store(&p.nonce, now) {
                return Err(WalletError::Replay);
            }
            cache.insert(&p.nonce, p.not_after + skew, now);
            self.remember_in_store(&p.nonce, p.not_after + skew, now);
        }
        let mut warnings = Vec::new();
        if status_age > policy.max_status_age_secs / 2 {
            warnings.push(format!(
                "状态列表已有 {} 小时未更新 / status list is {} h old",
                status_age / 3600,
                status_age / 3600
            ));
        }
        if trust_age > policy.max_trust_age_secs / 2 {
            warnings.push(format!(
                "签发机构信任列表已有 {} 小时未更新 / trust list is {} h old",
                trust_age / 3600,
                trust_age / 3600
            ));
        }
        if mso.valid_until - now < 30 * 24 * 3600 {
            warnings.push("证照将在 30 天内到期 / licence expires within 30 days".into());
        }
        Ok(Verified {
            issuer: IssuerInfo::from(entry),
            licence_type: t,
            type_name: t.name(),
            licence_id: mso.licence_id.clone(),
            valid_from: mso.valid_from,
            valid_until: mso.valid_until,
            disclosed: disclosed(t, &items),
            purpose: p.purpose,
            not_before: p.not_before,
            not_after: p.not_after,
            status_age_secs: status_age,
            trust_age_secs: trust_age,
            warnings,
        })
    }
}
