//! E-licence wallet (电子证照): licences, 亮证 presentations, offline verification, grants.
//!
//! - [`types`]: licence types, their elements and display names, disclosure presets.
//! - [`ids`]: GB/T 36904 identifiers (ISO 7064 MOD 37,36), GB 32100 credit codes, GB 11643 ID numbers.
//! - [`format`]: CBOR / COSE_Sign1 structures, the `ZB1:` text codec, the bounded CBOR pre-scan.
//! - [`issue`] (issuing and import checks), [`present`], [`verify`], [`grant`], [`qr`], [`trust`].
//! - [`Wallet`]: the holder's wallet over the encrypted store; the device key signs through
//!   [`DeviceSigner`], so a hardware key can replace the store-held key later.
//!
//! Formats are specified byte by byte in `docs/formats.md`; vectors are in `tests/vectors/`.

// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

use zhangban_base::{audit, store, Error, Result, Text};
pub mod device;
pub mod engage;
pub mod error;
pub mod format;
pub mod grant;
pub mod ids;
pub mod issue;
pub mod present;
pub mod qr;
pub mod trust;
pub mod types;
pub mod verify;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_metadata;
#[cfg(test)]
mod tests_shards;
#[cfg(test)]
pub mod vectors;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use device::{DeviceSigner, SoftwareKey};
pub use engage::{Engagement, EngagementCode};
pub use error::WalletError;
pub use grant::{revocation_tbs, GrantExpiry, GrantOutcome, GrantRevocation, GrantVerifier, VerifiedGrant};
pub use qr::QrImage;
pub use trust::{StatusList, StatusLists, TrustEntry, TrustList, MAX_STATUS_LISTS};
pub use types::{ElementValue, LicenceType, Preset};
pub use verify::{
    default_verify_policy, DisclosedElement, IssuerInfo, Policy, VerificationOutcome, Verified, Verifier,
};

use crate::audit::NewEntry;
use crate::store::{PutOptions, Store, Txn, SELF_SUBJECT};
use format::IssuedLicence;
use zhangban_base::outbox::{self, OpKind};

pub const LICENCE_COLLECTION: &str = "licence";
pub const GRANT_COLLECTION: &str = "licence_grant";
pub const LIST_COLLECTION: &str = "wallet_list";
/// Grant revocations waiting to be sent to the platform (tag `pending`).
/// Where grant revocations were queued before the one outbox (stores made before it): moved into the
/// outbox by [`migrate_legacy_outbox`], keeping their idempotency keys.
pub const LEGACY_OUTBOX_COLLECTION: &str = "wallet_outbox";
/// The outbox target of a grant's revocation: `grant:<grant id>`.
pub const GRANT_TARGET: &str = "grant:";
/// A licence is "expiring" this long before its end.
pub const EXPIRING_SECS: i64 = 30 * 24 * 3600;
/// The holder's own view: a status list older than this is shown as stale.
pub const HOLDER_STATUS_MAX_AGE_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum LicenceStatus {
    Valid,
    /// Ends within 30 days.
    Expiring,
    Expired,
    NotYetValid,
    Revoked,
    /// No status list, or one older than 7 days: revocation unknown.
    StatusStale,
}

impl LicenceStatus {
    pub fn label_zh(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "有效",
            LicenceStatus::Expiring => "即将到期（30 天内）",
            LicenceStatus::Expired => "已过期",
            LicenceStatus::NotYetValid => "尚未生效",
            LicenceStatus::Revoked => "已注销",
            LicenceStatus::StatusStale => "状态未更新，请联网刷新",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::Expiring => "expires within 30 days",
            LicenceStatus::Expired => "expired",
            LicenceStatus::NotYetValid => "not yet valid",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::StatusStale => "status not refreshed; go online to update",
        }
    }
    /// The status as a person reads it (有效 / 即将到期 / 已注销 …).
    pub fn text(self) -> Text {
        Text::line(self.label_zh(), self.label_en())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LicenceSummary {
    pub licence_id: String,
    pub licence_type: LicenceType,
    /// 居民身份证 / Resident identity card …
    pub type_name: Text,
    pub issuer: IssuerInfo,
    pub valid_from: i64,
    pub valid_until: i64,
    pub status: LicenceStatus,
    /// `status` as a person reads it, worded by the core.
    pub status_text: Text,
    /// Age of the cached status list, if one is cached.
    pub status_age_secs: Option<i64>,
    pub imported_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LicenceDetail {
    pub summary: LicenceSummary,
    pub elements: Vec<DisclosedElement>,
}

/// The stored form of a licence (record in the `licence` collection, sealed by the store).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLicence {
    licence_id: String,
    licence_type: LicenceType,
    issuer: IssuerInfo,
    /// The issued licence's CBOR ({1: COSE_Sign1, 2: items}), hex.
    cbor_hex: String,
    valid_from: i64,
    valid_until: i64,
    /// The signed status index (`status_list × MAX_STATUS_BITS + bit`).
    status_index: u64,
    /// The licence's status list (shard); licences kept before sharding have none: list 0 (ADR 0039).
    #[serde(default)]
    status_list: u32,
    imported_at: i64,
}

impl StoredLicence {
    /// Revoked (`Some(true)`), not revoked (`Some(false)`), or unknown: its own list is not held or does not
    /// cover it.
    fn revoked_in(&self, status: &StatusLists) -> Option<bool> {
        let (list, index) = format::status_slot(self.status_list, self.status_index);
        status.get(list).and_then(|s| s.is_revoked(index))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedList {
    cbor_hex: String,
    fetched_at: i64,
}

/// Ages of the cached lists, for the shells ("status list updated 3 h ago").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CacheInfo {
    pub trust_sequence: Option<u64>,
    pub trust_age_secs: Option<i64>,
    /// Sequence of status list 0.
    pub status_sequence: Option<u64>,
    /// Age of the oldest status list the licences this phone keeps are checked against (with no licence, list
    /// 0's); none when one of them is not held (ADR 0039).
    pub status_age_secs: Option<i64>,
}

/// The status list age a screen shows for a set of licences: the oldest of their own lists' ages (`ages`, none
/// for a list not held, and then none), or `list0`'s when there is no licence.
pub fn status_age_of(ages: Vec<Option<i64>>, list0: Option<i64>) -> Option<i64> {
    if ages.is_empty() {
        return list0;
    }
    ages.into_iter().try_fold(i64::MIN, |oldest, a| a.map(|a| oldest.max(a)))
}

/// The store id of status list `id`: list 0 keeps the id of before sharding (`status`), so a store made
/// before it opens with its list in place (no migration).
fn status_key(id: u32) -> String {
    if id == 0 {
        "status".to_string()
    } else {
        format!("status.{id}")
    }
}

/// A presentation ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PresentationOut {
    pub licence_id: String,
    pub qr_text: String,
    pub not_before: i64,
    pub not_after: i64,
    /// When a screen should replace it with a fresh one: half-way through the window, so a code shown is
    /// never about to lapse while being scanned.
    pub refresh_at: i64,
    pub purpose: String,
    pub disclosed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GrantRecord {
    pub grant_id: String,
    pub licence_id: String,
    pub recipient: String,
    pub purpose: String,
    pub elements: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub single_use: bool,
    pub revoked_at: Option<i64>,
    /// The `ZBG1:` text given to the recipient.
    pub text: String,
}

/// One line of the privacy dashboard: who received what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct UsageEntry {
    pub at: i64,
    pub action: String,
    pub licence_id: String,
    pub recipient: Option<String>,
    pub purpose: Option<String>,
    pub elements: Vec<String>,
    /// The line as a person reads it: what was done with which licence, to whom, which fields, for what.
    pub text: Text,
}

/// A purpose as a person reads it: the presets' purposes by name, any other as it was given.
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn purpose_text(purpose: &str) -> Text {
    match purpose {
        "hotel-check-in" => Text::new("酒店入住", "hotel check-in"),
        "age-check" => Text::new("年龄核验", "age check"),
        "full" => Text::new("全部信息", "everything"),
        other => Text::new(other, other),
    }
}

/// The words of one usage line (the licence's type and element names from its definition).
fn usage_text(
    action: &str,
    t: Option<LicenceType>,
    recipient: Option<&str>,
    purpose: Option<&str>,
    elements: &[String],
) -> Text {
    let names = |zh: bool| {
        let n: Vec<&str> = elements
            .iter()
            .map(|k| match t.and_then(|t| t.element_by_key(k)) {
                Some(d) if zh => d.name_zh,
                Some(d) => d.name_en,
                None => k.as_str(),
            })
            .collect();
        n.join(if zh { "、" } else { ", " })
    };
    let (tz, te) = t.map(|t| (t.name_zh(), t.name_en())).unwrap_or(("证照", "licence"));
    let p = purpose.map(purpose_text);
    let (pz, pe) = p.map(|p| (format!("（用途：{}）", p.zh), format!(" (for {})", p.en))).unwrap_or_default();
    let who = recipient.unwrap_or("");
    match action {
        "licence.import" => Text::new(format!("领取{tz}"), format!("Received the {te}")),
        "licence.present" => {
            Text::new(format!("亮证：{tz}，出示{}{pz}", names(true)), format!("Showed the {te}: {}{pe}", names(false)))
        }
        "licence.grant" => Text::new(
            format!("授权“{who}”使用{tz}：{}{pz}", names(true)),
            format!("Granted “{who}” the {te}: {}{pe}", names(false)),
        ),
        "licence.grant.revoke" => Text::new(format!("撤回授权：{tz}"), format!("Withdrew a grant of the {te}")),
        other => Text::new(other, other),
    }
}

/// The holder's wallet.
pub struct Wallet {
    store: Arc<Store>,
    signer: Arc<dyn DeviceSigner>,
    root_key: Vec<u8>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet").field("store", &self.store).finish()
    }
}

fn hex_decode(h: &str, table: &str, id: &str) -> Result<Vec<u8>> {
    hex::decode(h).map_err(|_| Error::corrupted(table.to_string(), id))
}

impl Wallet {
    /// The store's wallet, signing with the device key [`device::store_signer`] gives: the platform key
    /// offered for the session ([`Store::offer_device_signer`]) when the store's key is that one, else the
    /// store-held key (created on first use), opened only to sign: a locked store signs nothing. A store
    /// whose device key is a platform key nobody offered reads as usual and refuses to sign, typed.
    pub fn open(store: Arc<Store>) -> Result<Wallet> {
        let key = device::store_signer(store.clone())?;
        Ok(Wallet::with_signer(store, key))
    }

    /// Offers `platform` (StrongBox / Secure Enclave, signing in DER or r ‖ s) for the session
    /// ([`Store::offer_device_signer`]: every other path that signs gets it too) and opens the wallet: the
    /// key is recorded as the store's device key on first use; a store that already has its software key
    /// keeps it (its licences are bound to it). See [`device::identity`].
    pub fn with_platform_signer(store: Arc<Store>, platform: Arc<dyn DeviceSigner>) -> Result<Wallet> {
        // A replaced key is refused before the session holds it (the key offered earlier stays).
        device::identity(&store, Some(platform.clone()))?;
        store.offer_device_signer(platform);
        Wallet::open(store)
    }

    /// A wallet whose device key is held elsewhere (a hardware key).
    pub fn with_signer(store: Arc<Store>, signer: Arc<dyn DeviceSigner>) -> Wallet {
        Wallet { store, signer, root_key: trust::pinned_root_key() }
    }

    /// Replaces the pinned platform root key (tests and vectors only).
    pub fn with_root_key(mut self, root_key: Vec<u8>) -> Wallet {
        self.root_key = root_key;
        self
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The device key's signer (agent mode signs door consents and delegations with it).
    pub fn signer(&self) -> Arc<dyn DeviceSigner> {
        self.signer.clone()
    }

    /// The platform root key this wallet checks against (the pinned one unless a test replaced it).
    pub fn root_key(&self) -> &[u8] {
        &self.root_key
    }

    pub fn device_public_key(&self) -> Vec<u8> {
        self.signer.public_key()
    }

    /// Proof of possession for issuance: the device signs the issuer's nonce.
    pub fn prove_possession(&self, nonce: &[u8]) -> Result<Vec<u8>> {
        if nonce.len() < 16 || nonce.len() > 64 {
            return Err(Error::validation("nonce", "签发随机数长度不正确", "issuer nonce must be 16–64 bytes"));
        }
        self.signer.sign(&issue::possession_tbs(nonce, &self.signer.public_key()))
    }

    // --- trust and status lists -------------------------------------------------------------

    fn cached(&self, id: &str) -> Result<Option<(Vec<u8>, i64)>> {
        match self.store.get_opt(LIST_COLLECTION, id)? {
            None => Ok(None),
            Some(r) => {
                let c: CachedList = r.json()?;
                Ok(Some((hex_decode(&c.cbor_hex, LIST_COLLECTION, id)?, c.fetched_at)))
            }
        }
    }

    fn put_list(&self, id: &str, bytes: &[u8], now: i64) -> Result<()> {
        let c = CachedList { cbor_hex: hex::encode(bytes), fetched_at: now };
        // Anchored: putting back the files of before would bring back an older list (a revoked licence
        // shown as valid, an issuer key withdrawn since).
        self.store.transaction(|t| {
            t.put_json(LIST_COLLECTION, id, SELF_SUBJECT, &c, Default::default())?;
            t.anchor();
            Ok(())
        })
    }

    /// The cached trust list (re-verified against the pinned root).
    pub fn trust_list(&self) -> Result<Option<TrustList>> {
        match self.cached("trust")? {
            None => Ok(None),
            Some((b, _)) => Ok(Some(TrustList::verify(&b, &self.root_key)?)),
        }
    }

    /// The cached status list 0 (the only one before sharding).
    pub fn status_list(&self) -> Result<Option<StatusList>> {
        self.status_list_of(0)
    }

    /// The cached status list `id` (re-verified against the pinned root; it must name that id).
    pub fn status_list_of(&self, id: u32) -> Result<Option<StatusList>> {
        match self.cached(&status_key(id))? {
            None => Ok(None),
            Some((b, _)) => self.open_status(id, &b).map(Some),
        }
    }

    /// A cached status list re-verified against the pinned root; it must name the shard it is kept as.
    fn open_status(&self, id: u32, b: &[u8]) -> Result<StatusList> {
        let sl = StatusList::verify(b, &self.root_key)?;
        if sl.list_id != id {
            return Err(Error::corrupted(LIST_COLLECTION, status_key(id)));
        }
        Ok(sl)
    }

    /// Every cached status list, one per shard (at most [`MAX_STATUS_LISTS`]), each re-verified.
    pub fn status_lists(&self) -> Result<StatusLists> {
        let mut out = StatusLists::default();
        for r in self.store.list(LIST_COLLECTION, Some(SELF_SUBJECT))? {
            let id = match r.id.as_str() {
                "status" => 0,
                other => match other.strip_prefix("status.").and_then(|n| n.parse::<u32>().ok()) {
                    Some(id) if id != 0 && id < MAX_STATUS_LISTS => id,
                    _ => continue,
                },
            };
            let c: CachedList = r.json()?;
            out.insert(self.open_status(id, &hex_decode(&c.cbor_hex, LIST_COLLECTION, &r.id)?)?);
        }
        Ok(out)
    }

    /// The cached status lists of shards `ids` only (each re-verified once): a screen of licences reads their own
    /// lists, not every shard a verifier's device holds (up to [`MAX_STATUS_LISTS`]).
    fn status_lists_of(&self, ids: impl IntoIterator<Item = u32>) -> Result<StatusLists> {
        let ids: std::collections::BTreeSet<u32> = ids.into_iter().collect();
        let mut out = StatusLists::default();
        for id in ids {
            out.extend(self.status_list_of(id)?);
        }
        Ok(out)
    }

    /// The status lists this phone needs as a holder: list 0 and the list of every licence it keeps (its
    /// owner's and its principals').
    pub fn needed_status_lists(&self) -> Result<std::collections::BTreeSet<u32>> {
        Ok(std::iter::once(0).chain(self.stored_licences(None)?.iter().map(|r| r.status_list)).collect())
    }

    /// Verifies and caches a signed trust list; refuses one older than the cached one.
    pub fn update_trust_list(&self, bytes: &[u8], now: i64) -> Result<TrustList> {
        let tl = TrustList::verify(bytes, &self.root_key)?;
        if let Some(old) = self.trust_list()? {
            if tl.sequence < old.sequence {
                return Err(WalletError::ListRollback { list: "信任列表 trust list" }.into());
            }
        }
        self.put_list("trust", bytes, now)?;
        Ok(tl)
    }

    /// Verifies and caches a signed status list under its own shard id (inside the signature); refuses one
    /// older than the cached copy of that shard (each shard has its own sequence).
    pub fn update_status_list(&self, bytes: &[u8], now: i64) -> Result<StatusList> {
        let sl = StatusList::verify(bytes, &self.root_key)?;
        if let Some(old) = self.status_list_of(sl.list_id)? {
            if sl.sequence < old.sequence {
                return Err(WalletError::ListRollback { list: "状态列表 status list" }.into());
            }
        }
        self.put_list(&status_key(sl.list_id), bytes, now)?;
        Ok(sl)
    }

    /// As [`Wallet::update_status_list`], for a list asked for as shard `expected`: one signed as another
    /// shard is refused (`status_list_mismatch`) and nothing is kept.
    pub fn update_status_shard(&self, expected: u32, bytes: &[u8], now: i64) -> Result<StatusList> {
        let found = StatusList::verify(bytes, &self.root_key)?.list_id;
        if found != expected {
            return Err(WalletError::StatusListMismatch { expected, found }.into());
        }
        self.update_status_list(bytes, now)
    }

    /// Sequences and ages of the cached lists. The status list age is that of the oldest list the licences this
    /// phone keeps (its owner's and its principals') are checked against, none while one of those is not held;
    /// with no licence, list 0's ([`status_age_of`], ADR 0039).
    pub fn cache_info(&self, now: i64) -> Result<CacheInfo> {
        let recs = self.stored_licences(None)?;
        let lists = self.status_lists_of(std::iter::once(0).chain(recs.iter().map(|r| r.status_list)))?;
        let ages = recs.iter().map(|r| lists.get(r.status_list).map(|s| now - s.issued_at)).collect();
        self.info(lists.get(0), ages, now)
    }

    /// The stored licences of `subject` (`None`: every subject's).
    fn stored_licences(&self, subject: Option<&str>) -> Result<Vec<StoredLicence>> {
        self.store.list(LICENCE_COLLECTION, subject)?.iter().map(|rec| rec.json()).collect()
    }

    /// As [`Wallet::cache_info`], for the licences a screen has just read (their summaries at `now`, each with its
    /// own list's age): no licence is read again (the 待办 home).
    pub fn cache_info_for(&self, licences: &[LicenceSummary], now: i64) -> Result<CacheInfo> {
        self.info(self.status_list()?.as_ref(), licences.iter().map(|l| l.status_age_secs).collect(), now)
    }

    fn info(&self, list0: Option<&StatusList>, ages: Vec<Option<i64>>, now: i64) -> Result<CacheInfo> {
        let t = self.trust_list()?;
        Ok(CacheInfo {
            trust_sequence: t.as_ref().map(|t| t.sequence),
            trust_age_secs: t.as_ref().map(|t| now - t.issued_at),
            status_sequence: list0.map(|s| s.sequence),
            status_age_secs: status_age_of(ages, list0.map(|s| now - s.issued_at)),
        })
    }

    /// An offline verifier from the cached lists (a clerk's or hotel's device).
    /// An offline verifier from the cached lists; the nonces it accepts are also kept in this store
    /// until their window closes, so a replay is refused even after the app restarts.
    pub fn verifier(&self) -> Result<Verifier> {
        let trust = self.trust_list()?.ok_or(WalletError::NoTrustList)?;
        Ok(Verifier::new(trust, self.status_lists()?).with_store(self.store.clone()))
    }

    /// The recipient's side of 授权用证: a grant verifier for grants bound to this device's key, from the
    /// cached lists, remembering used single-use grants in this store (a restart does not forget them).
    pub fn grant_verifier(&self) -> Result<GrantVerifier> {
        let trust = self.trust_list()?.ok_or(WalletError::NoTrustList)?;
        Ok(GrantVerifier::new(&self.device_public_key(), trust, self.status_lists()?).with_store(self.store.clone()))
    }

    // --- licences -----------------------------------------------------------------------------

    /// Imports an issued licence after every check (see [`issue::check_import`]).
    pub fn import(&self, bytes: &[u8], now: i64) -> Result<LicenceSummary> {
        let trust = self.trust_list()?.ok_or(WalletError::NoTrustList)?;
        let status = self.status_lists()?;
        let c = issue::check_import(bytes, &trust, &status, &self.signer.public_key(), now)?;
        let p = &c.licence.signed.body;
        let rec = StoredLicence {
            licence_id: p.licence_id.clone(),
            licence_type: c.licence_type,
            issuer: IssuerInfo::from(&c.issuer),
            cbor_hex: hex::encode(c.licence.encode()),
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            status_index: p.status_index,
            status_list: p.status_list,
            imported_at: now,
        };
        let body = serde_json::to_vec(&rec)?;
        self.store.transaction(|t| {
            // Kept under a keyed id: the files never name the licences a person holds (finding 11).
            let id = t.keyed_id(LICENCE_COLLECTION, &rec.licence_id);
            t.put(LICENCE_COLLECTION, &id, SELF_SUBJECT, &body, PutOptions::default())?;
            t.audit(&NewEntry {
                actor: "self",
                action: "licence.import",
                subject: SELF_SUBJECT,
                target: &rec.licence_id,
                detail: serde_json::json!({ "issuer": rec.issuer.name_zh, "type": rec.licence_type }),
            })?;
            Ok(())
        })?;
        Ok(self.summary(&rec, &status, now))
    }

    /// The licence's status from its own status list (shard): one not held is "status not refreshed",
    /// never valid.
    fn summary(&self, r: &StoredLicence, status: &StatusLists, now: i64) -> LicenceSummary {
        let age = status.get(r.status_list).map(|s| now - s.issued_at);
        let revoked = r.revoked_in(status);
        let st = if revoked == Some(true) {
            LicenceStatus::Revoked
        } else if now > r.valid_until {
            LicenceStatus::Expired
        } else if now < r.valid_from {
            LicenceStatus::NotYetValid
        } else if age.is_none_or(|a| a > HOLDER_STATUS_MAX_AGE_SECS) || revoked.is_none() {
            LicenceStatus::StatusStale
        } else if r.valid_until - now <= EXPIRING_SECS {
            LicenceStatus::Expiring
        } else {
            LicenceStatus::Valid
        };
        LicenceSummary {
            licence_id: r.licence_id.clone(),
            licence_type: r.licence_type,
            type_name: r.licence_type.name(),
            issuer: r.issuer.clone(),
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            status: st,
            status_text: st.text(),
            status_age_secs: age,
            imported_at: r.imported_at,
        }
    }

    fn stored(&self, licence_id: &str) -> Result<(StoredLicence, IssuedLicence)> {
        let r: StoredLicence =
            self.store.get_json(LICENCE_COLLECTION, &self.store.keyed_id(LICENCE_COLLECTION, licence_id)?)?;
        let b = hex_decode(&r.cbor_hex, LICENCE_COLLECTION, licence_id)?;
        let l = IssuedLicence::decode(&b).map_err(|_| Error::corrupted(LICENCE_COLLECTION, licence_id))?;
        Ok((r, l))
    }

    /// Removes a licence from the wallet (e.g. the old phone's copy once the platform re-bound it to this
    /// phone's key as `replaced_by`); the removal is in the audit log. True when it was there.
    pub fn remove_licence(&self, licence_id: &str, action: &str, replaced_by: &str) -> Result<bool> {
        self.store.transaction(|t| {
            let id = t.keyed_id(LICENCE_COLLECTION, licence_id);
            if !t.delete(LICENCE_COLLECTION, &id)? {
                return Ok(false);
            }
            t.audit(&NewEntry {
                actor: "self",
                action,
                subject: SELF_SUBJECT,
                target: licence_id,
                detail: serde_json::json!({ "replaced_by": replaced_by }),
            })?;
            Ok(true)
        })
    }

    /// Every licence of the phone's owner with its status at `now`.
    pub fn licences(&self, now: i64) -> Result<Vec<LicenceSummary>> {
        self.licences_of(SELF_SUBJECT, now)
    }

    /// The licences held for `subject` (the owner's, or those kept for a principal), with their status
    /// at `now`. A licence of one subject never appears in another's list.
    pub fn licences_of(&self, subject: &str, now: i64) -> Result<Vec<LicenceSummary>> {
        let recs = self.stored_licences(Some(subject))?;
        let status = self.status_lists_of(recs.iter().map(|r| r.status_list))?;
        let mut out: Vec<LicenceSummary> = recs.iter().map(|r| self.summary(r, &status, now)).collect();
        zhangban_base::sort::sort_by(&mut out, |a, b| {
            (a.licence_type.code(), &a.licence_id).cmp(&(b.licence_type.code(), &b.licence_id))
        });
        Ok(out)
    }

    pub fn licence(&self, licence_id: &str, now: i64) -> Result<LicenceDetail> {
        let (r, l) = self.stored(licence_id)?;
        let items = l
            .items
            .iter()
            .map(|b| format::ElementItem::decode(b))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::corrupted(LICENCE_COLLECTION, licence_id))?;
        Ok(LicenceDetail {
            summary: self.summary(&r, &self.status_lists_of([r.status_list])?, now),
            elements: verify::disclosed(r.licence_type, &items),
        })
    }

    fn element_ids(&self, r: &StoredLicence, l: &IssuedLicence, preset: &Preset) -> Result<Vec<u32>> {
        let available: Vec<u32> = l.signed.body.digests.keys().copied().collect();
        preset.element_ids(r.licence_type, &available).map_err(|k| {
            Error::validation(
                format!("elements.{k}"),
                format!("该证照没有项目“{k}”"),
                format!("this licence has no element '{k}'"),
            )
        })
    }

    fn keys_of(t: LicenceType, ids: &[u32]) -> Vec<String> {
        ids.iter().filter_map(|i| t.element(*i).map(|d| d.key.to_string())).collect()
    }

    /// Builds a 亮证 presentation (valid 60 s from `now`) and logs it.
    pub fn present(
        &self,
        licence_id: &str,
        preset: &Preset,
        purpose: Option<&str>,
        now: i64,
    ) -> Result<PresentationOut> {
        let purpose = purpose.unwrap_or(preset.default_purpose());
        self.present_inner(licence_id, preset, purpose, None, now)
    }

    /// Engagement mode: a presentation answering the verifier's `ZBE1:` code (scanned from its screen):
    /// the purpose is the verifier's, and the device signature covers its challenge, so the code is good
    /// at that verifier only (see [`engage`]).
    pub fn present_engaged(
        &self,
        licence_id: &str,
        preset: &Preset,
        engagement_text: &str,
        now: i64,
    ) -> Result<PresentationOut> {
        let e = Engagement::from_text(engagement_text)?;
        e.check_fresh(now, verify::MAX_CLOCK_SKEW_SECS)?;
        self.present_inner(licence_id, preset, &e.purpose.clone(), Some(&e), now)
    }

    fn present_inner(
        &self,
        licence_id: &str,
        preset: &Preset,
        purpose: &str,
        engagement: Option<&Engagement>,
        now: i64,
    ) -> Result<PresentationOut> {
        let (r, l) = self.stored(licence_id)?;
        let ids = self.element_ids(&r, &l, preset)?;
        let w = present::DEFAULT_WINDOW_SECS;
        let p = match engagement {
            Some(e) => present::build_engaged_presentation(&l, &ids, e, now, w, self.signer.as_ref())?,
            None => present::build_presentation(&l, &ids, purpose, now, w, self.signer.as_ref())?,
        };
        let disclosed = Self::keys_of(r.licence_type, &ids);
        self.store.audit(&NewEntry {
            actor: "self",
            action: "licence.present",
            subject: SELF_SUBJECT,
            target: licence_id,
            detail: serde_json::json!({
                "purpose": purpose, "elements": disclosed, "not_before": p.not_before, "not_after": p.not_after,
                "engaged": engagement.is_some(),
            }),
        })?;
        Ok(PresentationOut {
            licence_id: licence_id.into(),
            qr_text: p.to_text(),
            not_before: p.not_before,
            not_after: p.not_after,
            refresh_at: p.not_before + (p.not_after - p.not_before) / 2,
            purpose: purpose.into(),
            disclosed,
        })
    }

    /// A grant (§ 8 of docs/formats.md) of the preset's elements of `licence_id`, bound to `recipient_key`,
    /// with its licence type and element ids, not kept in the grant list: [`Wallet::grant`] keeps it; a
    /// delegation carries it inside its own signed bytes (a shared licence, revoked with the delegation).
    #[allow(clippy::too_many_arguments)]
    pub fn grant_token(
        &self,
        licence_id: &str,
        preset: &Preset,
        recipient: &str,
        recipient_key: &[u8],
        purpose: &str,
        expiry: GrantExpiry,
        now: i64,
    ) -> Result<(LicenceType, Vec<u32>, format::GrantToken)> {
        let (r, l) = self.stored(licence_id)?;
        let ids = self.element_ids(&r, &l, preset)?;
        let g = grant::build_grant(&l, &ids, recipient, recipient_key, purpose, expiry, now, self.signer.as_ref())?;
        Ok((r.licence_type, ids, g))
    }

    /// Grants a licence (the preset's elements) to `recipient` (a name shown to people) for `purpose`, bound
    /// to `recipient_key` (the recipient's device public key, from its phone), signed by the device key.
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        &self,
        licence_id: &str,
        preset: &Preset,
        recipient: &str,
        recipient_key: &[u8],
        purpose: &str,
        expiry: GrantExpiry,
        now: i64,
    ) -> Result<GrantRecord> {
        let (t, ids, g) = self.grant_token(licence_id, preset, recipient, recipient_key, purpose, expiry, now)?;
        let rec = GrantRecord {
            grant_id: hex::encode(&g.grant_id),
            licence_id: licence_id.into(),
            recipient: g.recipient.clone(),
            purpose: g.purpose.clone(),
            elements: Self::keys_of(t, &ids),
            issued_at: g.issued_at,
            expires_at: g.expires_at,
            single_use: g.single_use,
            revoked_at: None,
            text: g.to_text(),
        };
        let body = serde_json::to_vec(&rec)?;
        self.store.transaction(|t| {
            t.put(
                GRANT_COLLECTION,
                &rec.grant_id,
                SELF_SUBJECT,
                &body,
                PutOptions { tag: Some("active"), lookup: None },
            )?;
            t.audit(&NewEntry {
                actor: "self",
                action: "licence.grant",
                subject: SELF_SUBJECT,
                target: licence_id,
                detail: serde_json::json!({
                    "grant_id": rec.grant_id, "recipient": rec.recipient, "purpose": rec.purpose,
                    "elements": rec.elements, "expires_at": rec.expires_at, "single_use": rec.single_use,
                }),
            })?;
            Ok(())
        })?;
        Ok(rec)
    }

    pub fn grants(&self, licence_id: Option<&str>) -> Result<Vec<GrantRecord>> {
        let mut out = Vec::new();
        for r in self.store.list(GRANT_COLLECTION, None)? {
            let g: GrantRecord = r.json()?;
            if licence_id.is_none_or(|l| l == g.licence_id) {
                out.push(g);
            }
        }
        zhangban_base::sort::sort_by_key(&mut out, |g| (g.issued_at, g.grant_id.clone()));
        Ok(out)
    }

    /// Revokes a grant: shown as revoked at once, and queued in the one outbox for the sync runner
    /// (`OpKind::RevokeGrant`, target `grant:<id>`), in the same transaction.
    pub fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<GrantRecord> {
        let mut g: GrantRecord = self.store.get_json(GRANT_COLLECTION, grant_id)?;
        if g.revoked_at.is_some() {
            return Ok(g);
        }
        g.revoked_at = Some(now);
        let body = serde_json::to_vec(&g)?;
        // Signed by the key that signed the grant: recipients honour no one else's revocation.
        let id_bytes = hex::decode(&g.grant_id).map_err(|_| Error::corrupted(GRANT_COLLECTION, &g.grant_id))?;
        let signature = self.signer.sign(&revocation_tbs(&id_bytes))?;
        self.store.transaction(|t| {
            t.put(
                GRANT_COLLECTION,
                &g.grant_id,
                SELF_SUBJECT,
                &body,
                PutOptions { tag: Some("revoked"), lookup: None },
            )?;
            queue_revocation(t, &g.grant_id, &signature, outbox::new_key())?;
            t.audit(&NewEntry {
                actor: "self",
                action: "licence.grant.revoke",
                subject: SELF_SUBJECT,
                target: &g.licence_id,
                detail: serde_json::json!({ "grant_id": g.grant_id, "recipient": g.recipient }),
            })?;
            Ok(())
        })?;
        Ok(g)
    }

    /// Grant revocations not yet taken by the platform (grant ids, oldest first; refused ones included).
    pub fn pending_revocations(&self) -> Result<Vec<String>> {
        let queued = outbox::pending(&self.store)?.into_iter().chain(outbox::quarantined(&self.store)?);
        let mut ids: Vec<String> = queued
            .filter(|o| o.kind == OpKind::RevokeGrant)
            .filter_map(|o| o.case_id.strip_prefix(GRANT_TARGET).map(str::to_string))
            .collect();
        for rec in self.store.list_tagged(LEGACY_OUTBOX_COLLECTION, "pending")? {
            ids.extend(rec.id.strip_prefix("grant-revoke-").map(str::to_string));
        }
        Ok(ids)
    }

    /// The privacy dashboard: every import, presentation, grant and revocation, per licence or all, in the
    /// order they happened (the audit chain's order: uses within one second keep theirs, which a sort by
    /// `at` does not). A screen shows it reversed, newest first.
    pub fn usage(&self, licence_id: Option<&str>) -> Result<Vec<UsageEntry>> {
        let mut out = Vec::new();
        for e in self.store.audit_entries(licence_id)? {
            if !e.action.starts_with("licence.") {
                continue;
            }
            let d = &e.detail;
            let recipient = d.get("recipient").and_then(|v| v.as_str()).map(str::to_string);
            let purpose = d.get("purpose").and_then(|v| v.as_str()).map(str::to_string);
            let elements: Vec<String> = d
                .get("elements")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            // A licence removed since keeps its lines, worded without its type.
            let t = self
                .store
                .keyed_id(LICENCE_COLLECTION, &e.target)
                .and_then(|id| self.store.get_json::<StoredLicence>(LICENCE_COLLECTION, &id))
                .ok()
                .map(|r| r.licence_type);
            let text = usage_text(&e.action, t, recipient.as_deref(), purpose.as_deref(), &elements);
            out.push(UsageEntry {
                at: e.at,
                action: e.action.clone(),
                licence_id: e.target.clone(),
                recipient,
                purpose,
                elements,
                text,
            });
        }
        // Newest first, as 用证记录 shows it: the audit chain's order reversed (a sort by time would misorder
        // uses within one second), so neither shell reverses it.
        out.reverse();
        Ok(out)
    }
}

/// Queues the revocation of `grant_id`, with the holder's `signature` over [`revocation_tbs`], for the
/// platform in the caller's transaction.
fn queue_revocation(t: &mut Txn<'_>, grant_id: &str, signature: &[u8], key: String) -> Result<()> {
    let target = format!("{GRANT_TARGET}{grant_id}");
    let body = serde_json::json!({ "grant_id": grant_id, "signature": hex::encode(signature) });
    outbox::enqueue(t, SELF_SUBJECT, &target, OpKind::RevokeGrant, key, body, vec![]).map(|_| ())
}

/// Moves grant revocations queued by an older version (collection `wallet_outbox`) into the one outbox,
/// each keeping its idempotency key (the record id it was sent with), in one transaction. Returns how
/// many moved. Called by the sync runner before it sends; harmless to call again. Each is signed with the
/// store's device key, the only signer those versions had.
pub fn migrate_legacy_outbox(store: &Store) -> Result<usize> {
    let legacy = store.list_tagged(LEGACY_OUTBOX_COLLECTION, "pending")?;
    if legacy.is_empty() {
        return Ok(0);
    }
    let signer = device::load_or_create_device_key(store)?;
    store.transaction(|t| {
        let mut moved = 0;
        for rec in &legacy {
            let v: serde_json::Value = rec.json()?;
            if let Some(grant_id) = v.get("grant_id").and_then(|g| g.as_str()) {
                let id_bytes =
                    hex::decode(grant_id).map_err(|_| Error::corrupted(LEGACY_OUTBOX_COLLECTION, &rec.id))?;
                let signature = signer.sign(&revocation_tbs(&id_bytes))?;
                queue_revocation(t, grant_id, &signature, rec.id.clone())?;
                moved += 1;
            }
            t.delete(LEGACY_OUTBOX_COLLECTION, &rec.id)?;
        }
        Ok(moved)
    })
}
