//! 授权用证 / 加注件: a scoped, time-limited, revocable copy of a licence for one recipient and one
//! purpose, signed by the holder's device key and verifiable offline by the recipient.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::device::DeviceSigner;
use super::error::{WResult, WalletError};
use super::format::*;
use super::trust::{StatusLists, TrustList};
use super::types::LicenceType;
use super::verify::{
    check_items, check_licence, check_status, check_trust_age, disclosed, DisclosedElement, IssuerInfo, Policy,
};
use crate::store::{PutOptions, Store, SELF_SUBJECT};
use crate::{Error, Result};

pub const DEFAULT_GRANT_SECS: i64 = 30 * 24 * 3600;
pub const MAX_GRANT_SECS: i64 = 365 * 24 * 3600;
pub const SINGLE_USE_SECS: i64 = 24 * 3600;

/// How long a grant lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case", tag = "kind", content = "until")]
pub enum GrantExpiry {
    /// 30 days.
    Default,
    /// Until this time (Unix seconds), at most one year ahead.
    Until(i64),
    /// One use, within 24 hours.
    SingleUse,
}

impl GrantExpiry {
    /// (expires_at, single_use) for a grant made at `now`.
    pub fn resolve(self, now: i64) -> Result<(i64, bool)> {
        match self {
            GrantExpiry::Default => Ok((now + DEFAULT_GRANT_SECS, false)),
            GrantExpiry::SingleUse => Ok((now + SINGLE_USE_SECS, true)),
            GrantExpiry::Until(t) if t > now && t - now <= MAX_GRANT_SECS => Ok((t, false)),
            GrantExpiry::Until(_) => Err(Error::validation(
                "expires_at",
                "授权期限须晚于现在且不超过 1 年",
                "a grant must expire after now and within one year",
            )),
        }
    }
}

/// What a holder signs to revoke a grant: the bytes `ZBGR1` followed by the grant id. Signed with the same
/// device key that signed the grant, so only the holder can revoke it: a recipient honours a revocation only
/// when the signature verifies under the grant's device key (issue 10, finding 15).
pub fn revocation_tbs(grant_id: &[u8]) -> Vec<u8> {
    let mut m = b"ZBGR1".to_vec();
    m.extend_from_slice(grant_id);
    m
}

/// A revocation as the platform relays it (`GET /v1/grants/revoked`): the grant id and the holder's raw
/// ES256 signature (r ‖ s) over [`revocation_tbs`], both hex. The platform cannot forge or check it against
/// the grant (it never sees the grant); the recipient does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GrantRevocation {
    pub grant_id: String,
    pub signature: String,
}

/// Whether `key` is an uncompressed SEC1 P-256 public key (the form every device key here has).
pub fn is_device_public_key(key: &[u8]) -> bool {
    key.len() == 65 && key[0] == 0x04
}

/// Builds a grant for `recipient` (a display name) bound to `recipient_key`, the recipient's device
/// public key: only a [`GrantVerifier`] holding that key accepts it.
#[allow(clippy::too_many_arguments)]
pub fn build_grant(
    licence: &IssuedLicence,
    ids: &[u32],
    recipient: &str,
    recipient_key: &[u8],
    purpose: &str,
    expiry: GrantExpiry,
    now: i64,
    signer: &dyn DeviceSigner,
) -> Result<GrantToken> {
    if recipient.trim().is_empty() || recipient.len() > 128 {
        return Err(Error::validation("recipient", "请填写被授权的部门或代办人", "name the department or agent"));
    }
    if !is_device_public_key(recipient_key) {
        return Err(Error::validation(
            "recipient_key",
            "被授权方的公钥无效：请扫描对方手机上的公钥码",
            "the recipient's public key is not valid: scan the key code on the recipient's phone",
        ));
    }
    if purpose.trim().is_empty() || purpose.len() > 128 {
        return Err(Error::validation("purpose", "请填写授权用途", "state the purpose of the grant"));
    }
    let (expires_at, single_use) = expiry.resolve(now)?;
    let mut chosen = Vec::new();
    for b in &licence.items {
        let item = ElementItem::decode(b).map_err(|_| Error::corrupted("licence", &licence.signed.body.licence_id))?;
        if ids.contains(&item.id) {
            chosen.push((item.id, b.clone()));
        }
    }
    zhangban_base::sort::sort_by_key(&mut chosen, |(i, _)| *i);
    if chosen.is_empty() || chosen.len() != ids.len() {
        return Err(Error::validation("elements", "证照中没有所选的项目", "the licence lacks a chosen element"));
    }
    let ids: Vec<u32> = chosen.iter().map(|(i, _)| *i).collect();
    let mut grant_id = vec![0u8; 16];
    SystemRandom::new().fill(&mut grant_id).map_err(|_| Error::Internal("rng".into()))?;
    let mut g = GrantToken {
        signed: licence.signed.clone(),
        items: chosen.into_iter().map(|(_, b)| b).collect(),
        grant_id,
        recipient: recipient.to_string(),
        purpose: purpose.to_string(),
        issued_at: now,
        expires_at,
        single_use,
        device_signature: Vec::new(),
        recipient_key: Some(recipient_key.to_vec()),
    };
    g.device_signature = signer.sign(&g.tbs(&ids))?;
    Ok(g)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VerifiedGrant {
    pub grant_id: String,
    pub issuer: IssuerInfo,
    pub licence_type: LicenceType,
    pub licence_id: String,
    pub recipient: String,
    pub purpose: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub single_use: bool,
    pub disclosed: Vec<DisclosedElement>,
}

/// A grant check as a screen shows it: accepted with its content, or refused with a typed reason
/// (`reason_code`) and its text. A refused grant is an answer, not an error of the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GrantOutcome {
    pub accepted: bool,
    pub reason_code: Option<String>,
    pub reason: Option<crate::Text>,
    pub grant: Option<VerifiedGrant>,
}

impl From<WResult<VerifiedGrant>> for GrantOutcome {
    fn from(r: WResult<VerifiedGrant>) -> Self {
        match r {
            Ok(g) => GrantOutcome { accepted: true, reason_code: None, reason: None, grant: Some(g) },
            Err(e) => GrantOutcome {
                accepted: false,
                reason_code: Some(e.code().into()),
                reason: Some(crate::Text::new(e.message_zh(), e.message_en())),
                grant: None,
            },
        }
    }
}

/// Collection of single-use grants a recipient used (record id: a hash of the grant id), so a restart
/// does not make them usable again.
pub const USED_GRANTS: &str = "grant_used";

#[derive(Serialize, Deserialize)]
struct UsedGrant {
    expires_at: i64,
}

/// The recipient's side: verifies grants offline, only those bound to its own key, and remembers the
/// single-use grants it used (in memory, and in the store when given one).
#[derive(Debug)]
pub struct GrantVerifier {
    /// The recipient's device public key (SEC1): a grant bound to another key is refused.
    pub recipient_key: Vec<u8>,
    pub trust: TrustList,
    pub status: StatusLists,
    /// Revocations from the platform (when last online): grant id → the signatures claimed for it. Only a
    /// signature by the grant's own device key revokes it; anyone else's claim is ignored.
    pub revoked: HashMap<Vec<u8>, Vec<Vec<u8>>>,
    used: Mutex<HashSet<Vec<u8>>>,
    store: Option<Arc<Store>>,
}

impl GrantVerifier {
    pub fn new(recipient_key: &[u8], trust: TrustList, status: impl Into<StatusLists>) -> GrantVerifier {
        GrantVerifier {
            recipient_key: recipient_key.to_vec(),
            trust,
            status: status.into(),
            revoked: HashMap::new(),
            used: Mutex::default(),
            store: None,
        }
    }

    /// Replaces the revocations with `list` (hex, as the platform relays them; malformed ones are skipped).
    pub fn set_revocations(&mut self, list: &[GrantRevocation]) {
        self.revoked.clear();
        for r in list {
            if let (Ok(id), Ok(sig)) = (hex::decode(&r.grant_id), hex::decode(&r.signature)) {
                self.revoked.entry(id).or_default().push(sig);
            }
        }
    }

    /// Keeps used single-use grants in `store` ([`USED_GRANTS`]), checked and recorded in one transaction.
    pub fn with_store(mut self, store: Arc<Store>) -> GrantVerifier {
        self.store = Some(store);
        self
    }

    fn used_id(grant_id: &[u8]) -> String {
        hex::encode(&ring::digest::digest(&ring::digest::SHA256, grant_id).as_ref()[..16])
    }

    /// Marks a single-use grant used; `Err(GrantAlreadyUsed)` when it was.
    fn use_once(&self, grant_id: &[u8], expires_at: i64) -> WResult<()> {
        let mut used = self.used.lock().map_err(|_| WalletError::Malformed { what: "grant cache".into() })?;
        if used.contains(grant_id) {
            return Err(WalletError::GrantAlreadyUsed);
        }
        if let Some(store) = &self.store {
            let id = Self::used_id(grant_id);
            let fresh = store
                .transaction(|t| {
                    if t.get_opt(USED_GRANTS, &id)?.is_some() {
                        return Ok(false);
                    }
                    t.put_json(USED_GRANTS, &id, SELF_SUBJECT, &UsedGrant { expires_at }, PutOptions::default())?;
                    // Putting back the files of before this use must not make the grant usable again.
                    t.anchor();
                    Ok(true)
                })
                // A store that cannot record the use (locked, full) must not let the grant through.
                .map_err(|e| WalletError::Malformed { what: format!("used-grant record: {e}") })?;
            if !fresh {
                used.insert(grant_id.to_vec());
                return Err(WalletError::GrantAlreadyUsed);
            }
        }
        used.insert(grant_id.to_vec());
        Ok(())
    }

    /// Verifies a `ZBG1:` grant; a single-use grant is marked used when it verifies.
    pub fn verify(&self, grant_text: &str, now: i64, policy: &Policy) -> WResult<VerifiedGrant> {
        self.verify_token(GrantToken::from_text(grant_text)?, now, policy)
    }

    /// [`GrantVerifier::verify`] of a decoded grant ([`GrantToken::decode`]): the same checks, in the same
    /// order (a delegation's shared licences go through here on the agent's phone).
    pub fn verify_token(&self, g: GrantToken, now: i64, policy: &Policy) -> WResult<VerifiedGrant> {
        let skew = policy.skew();
        let Some(bound_to) = &g.recipient_key else {
            return Err(WalletError::GrantTerms {
                what: "an old grant not bound to the recipient's key (ask the holder for a new one)".into(),
            });
        };
        let (entry, t) = check_licence(&g.signed, &self.trust, now, skew)?;
        let items = check_items(&g.signed, t, &g.items)?;
        let ids: Vec<u32> = items.iter().map(|i| i.id).collect();
        let mso = &g.signed.body;
        if !mso.device_key.verify(&g.tbs(&ids), &g.device_signature) {
            return Err(WalletError::BadDeviceSignature);
        }
        let limit = if g.single_use { SINGLE_USE_SECS } else { MAX_GRANT_SECS };
        if g.expires_at <= g.issued_at || g.expires_at - g.issued_at > limit {
            return Err(WalletError::GrantTerms { what: "expiry beyond the allowed period".into() });
        }
        if g.issued_at > now.saturating_add(skew) {
            return Err(WalletError::GrantTerms { what: "issued in the future".into() });
        }
        if now - skew > g.expires_at {
            return Err(WalletError::GrantExpired { expires_at: g.expires_at });
        }
        if *bound_to != self.recipient_key {
            return Err(WalletError::GrantWrongRecipient { recipient: g.recipient });
        }
        if let Some(claims) = self.revoked.get(&g.grant_id) {
            let tbs = revocation_tbs(&g.grant_id);
            if claims.iter().any(|sig| mso.device_key.verify(&tbs, sig)) {
                return Err(WalletError::GrantRevoked);
            }
        }
        check_trust_age(&self.trust, now, policy.max_trust_age_secs)?;
        check_status(mso, &self.status, now, policy.max_status_age_secs)?;
        if g.single_use {
            self.use_once(&g.grant_id, g.expires_at)?;
        }
        Ok(VerifiedGrant {
            grant_id: hex::encode(&g.grant_id),
            issuer: IssuerInfo::from(entry),
            licence_type: t,
            licence_id: mso.licence_id.clone(),
            recipient: g.recipient,
            purpose: g.purpose,
            issued_at: g.issued_at,
            expires_at: g.expires_at,
            single_use: g.single_use,
            disclosed: disclosed(t, &items),
        })
    }
}
