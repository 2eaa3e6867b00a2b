//! 授权用证 / 加注件: a scoped, time-limited, revocable copy of a licence for one recipient and one
//! purpose, signed by the holder's device key and verifiable offline by the recipient.

use std::collections::HashSet;
use std::sync::Mutex;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::device::DeviceSigner;
use super::error::{WResult, WalletError};
use super::format::*;
use super::trust::{StatusList, TrustList};
use super::types::LicenceType;
use super::verify::{check_items, check_licence, check_status, disclosed, DisclosedElement, IssuerInfo, Policy};
use crate::{Error, Result};

pub const DEFAULT_GRANT_SECS: i64 = 30 * 24 * 3600;
pub const MAX_GRANT_SECS: i64 = 365 * 24 * 3600;
pub const SINGLE_USE_SECS: i64 = 24 * 3600;

/// How long a grant lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[allow(clippy::too_many_arguments)]
pub fn build_grant(
    licence: &IssuedLicence,
    ids: &[u32],
    recipient: &str,
    purpose: &str,
    expiry: GrantExpiry,
    now: i64,
    signer: &dyn DeviceSigner,
) -> Result<GrantToken> {
    if recipient.trim().is_empty() || recipient.len() > 128 {
        return Err(Error::validation("recipient", "请填写被授权的部门或代办人", "name the department or agent"));
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
    chosen.sort_by_key(|(i, _)| *i);
    if chosen.is_empty() || chosen.len() != ids.len() {
        return Err(Error::validation("elements", "证照中没有所选的项目", "the licence lacks a chosen element"));
    }
    let ids: Vec<u32> = chosen.iter().map(|(i, _)| *i).collect();
    let mut grant_id = vec![0u8; 16];
    SystemRandom::new().fill(&mut grant_id).map_err(|_| Error::Internal("rng".into()))?;
    let tbs =
        grant_tbs(&licence.signed.body.licence_id, &ids, &grant_id, recipient, purpose, now, expires_at, single_use);
    let device_signature = signer.sign(&tbs)?;
    Ok(GrantToken {
        signed: licence.signed.clone(),
        items: chosen.into_iter().map(|(_, b)| b).collect(),
        grant_id,
        recipient: recipient.to_string(),
        purpose: purpose.to_string(),
        issued_at: now,
        expires_at,
        single_use,
        device_signature,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The recipient's side: verifies grants offline and remembers single-use grants it used.
#[derive(Debug)]
pub struct GrantVerifier {
    pub recipient: String,
    pub trust: TrustList,
    pub status: Option<StatusList>,
    /// Grant ids the holder revoked (from the platform, when last online).
    pub revoked: HashSet<Vec<u8>>,
    used: Mutex<HashSet<Vec<u8>>>,
}

impl GrantVerifier {
    pub fn new(recipient: &str, trust: TrustList, status: Option<StatusList>) -> GrantVerifier {
        GrantVerifier { recipient: recipient.into(), trust, status, revoked: HashSet::new(), used: Mutex::default() }
    }

    /// Verifies a `ZBG1:` grant; a single-use grant is marked used when it verifies.
    pub fn verify(&self, grant_text: &str, now: i64, policy: &Policy) -> WResult<VerifiedGrant> {
        let g = GrantToken::from_text(grant_text)?;
        let skew = policy.clock_skew_secs.max(0);
        let (entry, t) = check_licence(&g.signed, &self.trust, now, skew)?;
        let items = check_items(&g.signed, t, &g.items)?;
        let ids: Vec<u32> = items.iter().map(|i| i.id).collect();
        let mso = &g.signed.body;
        let tbs = grant_tbs(
            &mso.licence_id,
            &ids,
            &g.grant_id,
            &g.recipient,
            &g.purpose,
            g.issued_at,
            g.expires_at,
            g.single_use,
        );
        if !mso.device_key.verify(&tbs, &g.device_signature) {
            return Err(WalletError::BadDeviceSignature);
        }
        let limit = if g.single_use { SINGLE_USE_SECS } else { MAX_GRANT_SECS };
        if g.expires_at - g.issued_at > limit {
            return Err(WalletError::GrantTerms { what: "expiry beyond the allowed period".into() });
        }
        if now - skew > g.expires_at {
            return Err(WalletError::GrantExpired { expires_at: g.expires_at });
        }
        if g.recipient != self.recipient {
            return Err(WalletError::GrantWrongRecipient { recipient: g.recipient });
        }
        if self.revoked.contains(&g.grant_id) {
            return Err(WalletError::GrantRevoked);
        }
        check_status(mso.status_index, self.status.as_ref(), now, policy.max_status_age_secs)?;
        if g.single_use {
            let mut used = self.used.lock().map_err(|_| WalletError::Malformed { what: "grant cache".into() })?;
            if !used.insert(g.grant_id.clone()) {
                return Err(WalletError::GrantAlreadyUsed);
            }
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
