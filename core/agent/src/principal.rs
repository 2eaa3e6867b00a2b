//! The principal's side (委托人手机, or a family member's phone standing in for it: 亲友代办): read an
//! agent's certificate offline, create and sign a delegation shown as a QR, revoke it (queued for the
//! platform, which lists it for the agent's phone), and see what the agent did from the entries the
//! platform relays.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use zhangban_base::audit::NewEntry;
use zhangban_base::outbox::{self, OpKind};
use zhangban_base::store::{PutOptions, Store, Txn, SELF_SUBJECT};
use zhangban_wallet::{DeviceSigner, GrantExpiry, Preset, Wallet};

use crate::cert::AgentCertificate;
use crate::mandate::{shared_purpose, Delegation, Relative, Revocation, Scope, DEFAULT_VALID_DAYS, MAX_VALID_DAYS};
use crate::{bad, Error, Result};

/// Delegations this phone gave (owner subject), tag `active`, `revoke_pending` or `revoked`.
pub const GIVEN: &str = "delegation_given";
/// What agents did for this phone's owner, as the platform relayed it (owner subject).
pub const ACTIVITY: &str = "agent_activity";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GivenDelegation {
    pub id: String,
    pub agent_name: String,
    pub org_name: String,
    pub scope: Scope,
    pub valid_from: i64,
    pub valid_until: i64,
    pub single_use: bool,
    /// The QR text to show the agent.
    pub text: String,
    pub revoked_at: Option<i64>,
    /// The signed revocation (hex), until the platform has it.
    pub revocation_hex: Option<String>,
    pub revocation_sent: bool,
}

/// One thing an agent did for this phone's owner (relayed by the platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ActivityEntry {
    pub seq: u64,
    pub at: i64,
    /// The agent (or clerk) who acted.
    pub actor: String,
    /// `submitted`, `accepted`, `supplement_requested`, `completed`, …
    pub kind: String,
    pub case_title: String,
    pub receipt: Option<String>,
    /// An access (kind `access:<action>` or `access:denied:<action>`): the licence element used
    /// (`resident_id.address`), if it was one.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub element: Option<String>,
    /// A refused access: what was missing (`revoked`, `validity`, `item:MZ-002`, …).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub missing: Option<String>,
}

/// A licence of this phone's wallet the principal shares into a delegation, and which of its elements
/// (selective disclosure, as in a grant: only those travel, each checkable against the issuer's signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LicenceShare {
    pub licence_id: String,
    /// Element keys (`name`, `id_number`, …).
    pub elements: Vec<String>,
}

/// Everything a delegation is signed from: the agent's `ZBA1:` certificate text, who the principal is,
/// the scope, the validity (None: 30 days; at most 365), single use, the licences shared into it and, on a
/// family member's phone, the relative who signs (亲友代办).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DelegationRequest {
    pub agent_certificate: String,
    pub principal_name: String,
    pub principal_id_number: String,
    pub scope: Scope,
    pub valid_days: Option<u32>,
    pub single_use: bool,
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub shares: Vec<LicenceShare>,
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub relative: Option<Relative>,
}

impl DelegationRequest {
    /// A request for 30 days, multiple use, sharing nothing, from the principal's own phone.
    pub fn new(agent_certificate: &str, principal_name: &str, principal_id_number: &str, scope: Scope) -> Self {
        DelegationRequest {
            agent_certificate: agent_certificate.into(),
            principal_name: principal_name.into(),
            principal_id_number: principal_id_number.into(),
            scope,
            valid_days: None,
            single_use: false,
            shares: vec![],
            relative: None,
        }
    }

    /// Shares these licences (the elements chosen of each) into the delegation.
    pub fn sharing(self, shares: &[LicenceShare]) -> Self {
        DelegationRequest { shares: shares.to_vec(), ..self }
    }

    /// Signed on a family member's phone for a relative without one (亲友代办).
    pub fn by_relative(self, name: &str, relation: &str) -> Self {
        DelegationRequest { relative: Some(Relative { name: name.into(), relation: relation.into() }), ..self }
    }
}

pub struct PrincipalSide {
    store: Arc<Store>,
    signer: Arc<dyn DeviceSigner>,
    root_key: Vec<u8>,
    /// This phone's wallet: the licences a delegation may share.
    wallet: Wallet,
}

impl PrincipalSide {
    pub fn new(wallet: &Wallet) -> PrincipalSide {
        let crate::Phone { store, signer, root_key, wallet } = crate::Phone::of(wallet);
        PrincipalSide { store, signer, root_key, wallet }
    }

    /// The store of this phone.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(crate) fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// Checks an agent's certificate QR offline (platform root signature, validity now).
    pub fn read_certificate(&self, text: &str) -> Result<AgentCertificate> {
        AgentCertificate::verify(&AgentCertificate::from_text(text)?, &self.root_key, self.store.now())
    }

    /// Creates and signs a delegation to the agent whose certificate QR was scanned, stores it and
    /// returns it with its QR text. `valid_days`: None = 30, at most 365. (A shortcut for
    /// [`PrincipalSide::delegate_with`] without shared licences or a relative.)
    pub fn delegate(
        &self,
        agent_certificate: &str,
        principal_name: &str,
        principal_id_number: &str,
        scope: Scope,
        valid_days: Option<u32>,
        single_use: bool,
    ) -> Result<GivenDelegation> {
        let req = DelegationRequest::new(agent_certificate, principal_name, principal_id_number, scope);
        self.delegate_with(&DelegationRequest { valid_days, single_use, ..req })
    }

    /// The one path that signs a delegation (the principal's own, one sharing licences, a relative's).
    ///
    /// Shared licences (`shares`): of each licence of this phone's wallet, only the chosen elements travel
    /// (a grant bound to the agent's device key, for this delegation, until it ends), and the scope's
    /// licence types and element lists take them in, so the agent may use exactly those elements. The
    /// agent's phone checks them offline against the issuers' signatures.
    ///
    /// 亲友代办 (`relative`): a family member's phone delegates for a relative who has no phone of their
    /// own; the delegation names the relative who signed (with this phone's key) and carries the lower
    /// assurance [`crate::Assurance::Family`], which the platform accepts only for items offered at home.
    pub fn delegate_with(&self, req: &DelegationRequest) -> Result<GivenDelegation> {
        let DelegationRequest {
            agent_certificate,
            principal_name,
            principal_id_number,
            scope,
            valid_days,
            single_use,
            shares,
            relative,
        } = req;
        let (valid_days, single_use, scope) = (*valid_days, *single_use, scope.clone());
        let relative = relative
            .as_ref()
            .map(|r| Relative { name: r.name.trim().to_string(), relation: r.relation.trim().to_string() });
        let cert = self.read_certificate(agent_certificate)?;
        let name = principal_name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            return Err(bad("principal_name", "请填写姓名（至多 50 字）", "enter the name (≤ 50 characters)"));
        }
        zhangban_base::ids::validate_id_number(principal_id_number, self.store.today())
            .map_err(|e| Error::validation("principal_id_number", e.message_zh(), e.message_en()))?;
        let days = valid_days.unwrap_or(DEFAULT_VALID_DAYS);
        if days == 0 || days > MAX_VALID_DAYS {
            return Err(bad("valid_days", "有效期须为 1 至 365 天", "validity must be 1 to 365 days"));
        }
        let now = self.store.now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let valid_until = now + i64::from(days) * 86_400;
        let mut scope = scope;
        let mut shared = Vec::with_capacity(shares.len());
        for sh in shares {
            let (t, ids, g) = self.wallet.grant_token(
                &sh.licence_id,
                &Preset::Custom(sh.elements.clone()),
                &cert.name,
                &cert.device_key,
                &shared_purpose(&id),
                GrantExpiry::Until(valid_until),
                now,
            )?;
            let keys = ids.iter().filter_map(|i| t.element(*i).map(|d| d.key.to_string()));
            crate::mandate::add_elements(&mut scope, t.key(), keys);
            shared.push(g.encode());
        }
        let d = Delegation {
            id,
            principal_name: name.to_string(),
            principal_id_masked: zhangban_wallet::ids::mask_id_number(principal_id_number),
            principal_key: self.signer.public_key(),
            agent_id: cert.agent_id.clone(),
            agent_cert_id: cert.cert_id.clone(),
            agent_key: cert.device_key.clone(),
            scope,
            valid_from: now,
            valid_until,
            single_use,
            relative,
            shared,
        };
        let signed = d.sign(|m| self.signer.sign(m))?;
        let g = GivenDelegation {
            id: d.id.clone(),
            agent_name: cert.name.clone(),
            org_name: cert.org_name.clone(),
            scope: d.scope.clone(),
            valid_from: d.valid_from,
            valid_until: d.valid_until,
            single_use,
            text: Delegation::to_text(&signed),
            revoked_at: None,
            revocation_hex: None,
            revocation_sent: false,
        };
        self.store.transaction(|t| {
            t.put_json(GIVEN, &g.id, SELF_SUBJECT, &g, PutOptions { tag: Some("active"), lookup: None })?;
            t.audit(&NewEntry {
                actor: "self",
                action: "agent.delegate",
                subject: SELF_SUBJECT,
                target: &g.id,
                detail: json!({
                    "agent": cert.agent_id, "items": g.scope.items, "valid_until": g.valid_until,
                    "elements": g.scope.elements, "shared": shares.iter().map(|s| &s.licence_id).collect::<Vec<_>>(),
                }),
            })?;
            Ok(())
        })?;
        Ok(g)
    }

    /// The principal confirms, on their own phone, the summary the agent showed (its Chinese text): the
    /// phone signs its SHA-256 (hex text) with the key of the delegation; the agent's phone checks it.
    pub fn confirm_summary(&self, summary_zh: &str) -> Result<String> {
        let hash = crate::mandate::sha256_hex(summary_zh.as_bytes());
        Ok(hex::encode(self.signer.sign(hash.as_bytes())?))
    }

    pub fn given(&self) -> Result<Vec<GivenDelegation>> {
        let mut v: Vec<GivenDelegation> =
            self.store.list(GIVEN, Some(SELF_SUBJECT))?.iter().map(|r| r.json()).collect::<Result<_>>()?;
        zhangban_base::sort::sort_by_key(&mut v, |g| std::cmp::Reverse(g.valid_from));
        Ok(v)
    }

    /// Revokes a delegation at once on this phone and queues the signed revocation for the platform
    /// (sent at the next sync; the agent's phone stops at its next sync after that).
    pub fn revoke(&self, id: &str) -> Result<GivenDelegation> {
        let mut g: GivenDelegation = self.store.get_json(GIVEN, id)?;
        if g.revoked_at.is_some() {
            return Ok(g);
        }
        let now = self.store.now();
        let r = Revocation { delegation_id: g.id.clone(), at: now };
        let signed = r.sign(&self.signer.public_key(), |m| self.signer.sign(m))?;
        g.revoked_at = Some(now);
        g.revocation_hex = Some(hex::encode(signed));
        self.store.transaction(|t| {
            t.put_json(GIVEN, &g.id, SELF_SUBJECT, &g, PutOptions { tag: Some("revoke_pending"), lookup: None })?;
            queue_revocation(t, &g)?;
            t.audit(&NewEntry {
                actor: "self",
                action: "agent.revoke",
                subject: SELF_SUBJECT,
                target: &g.id,
                detail: json!({}),
            })?;
            Ok(())
        })?;
        Ok(g)
    }

    /// Revocations not yet taken by the platform.
    pub fn pending_revocations(&self) -> Result<Vec<GivenDelegation>> {
        pending_revocations(&self.store)
    }

    /// Keeps an entry the platform relayed about what an agent did for this phone's owner.
    pub fn record_activity(&self, e: &ActivityEntry) -> Result<()> {
        self.store.transaction(|t| record_activity_in(t, e))
    }

    /// What agents did for this phone's owner, newest first.
    pub fn activity(&self) -> Result<Vec<ActivityEntry>> {
        let mut v: Vec<ActivityEntry> =
            self.store.list(ACTIVITY, Some(SELF_SUBJECT))?.iter().map(|r| r.json()).collect::<Result<_>>()?;
        zhangban_base::sort::sort_by_key(&mut v, |e| std::cmp::Reverse(e.seq));
        Ok(v)
    }
}

/// What the platform relays to a principal's phone about an action taken for them (an agent's submission,
/// a clerk's decision on that case), signed by the platform root key (COSE_Sign1, ES256, the root's key id)
/// and naming the principal's device key, so their phone keeps only statements the platform signed, about
/// them: an entry altered on the way, relayed to another principal's phone, or made up is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedActivity {
    /// The principal's device key (SEC1): the key that signed the delegation.
    pub principal_key: Vec<u8>,
    pub mandate_id: String,
    pub kind: String,
    pub at: i64,
    pub actor: String,
    pub case_title: String,
    pub receipt: Option<String>,
    /// Key 9, an access to one licence element (`resident_id.address`); absent otherwise.
    pub element: Option<String>,
    /// Key 10, what was missing when an access was refused; absent otherwise.
    pub missing: Option<String>,
}

/// Kinds of relayed accesses start with this (`access:fill`, `access:denied:submit`).
pub const ACCESS_KIND: &str = "access:";

/// Largest signed relayed entry accepted.
pub const MAX_RELAYED_BYTES: usize = 2048;

impl RelayedActivity {
    fn to_value(&self) -> ciborium::value::Value {
        use zhangban_wallet::format::{bytes, int, map, text, uint};
        let mut entries = vec![
            (1, uint(crate::mandate::MANDATE_VERSION)),
            (2, bytes(&self.principal_key)),
            (3, text(&self.mandate_id)),
            (4, text(&self.kind)),
            (5, int(self.at)),
            (6, text(&self.actor)),
            (7, text(&self.case_title)),
            (8, self.receipt.as_deref().map_or(ciborium::value::Value::Null, text)),
        ];
        // Keys 9 and 10 only when set: an entry without them is byte for byte what an older platform signed.
        if let Some(e) = &self.element {
            entries.push((9, text(e)));
        }
        if let Some(m) = &self.missing {
            entries.push((10, text(m)));
        }
        map(entries)
    }

    /// Signs with the platform root key (the platform does this; the sandbox in tests).
    pub fn sign(&self, sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        use zhangban_wallet::format::{encode_cbor, sign1_create, sign1_value};
        let s = sign1_create(zhangban_wallet::trust::ROOT_KID, encode_cbor(&self.to_value()), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// Checks the root signature (bounded) and returns the statement.
    pub fn verify(signed: &[u8], root_key: &[u8]) -> Result<RelayedActivity> {
        use zhangban_wallet::format::{
            as_bytes, as_i64, as_text, as_u64, decode_cbor, sign1_parse, sign1_payload, sign1_verify, IntMap,
        };
        use zhangban_wallet::WalletError;
        if signed.len() > MAX_RELAYED_BYTES {
            return Err(WalletError::TooLong { len: signed.len(), max: MAX_RELAYED_BYTES }.into());
        }
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        if kid != zhangban_wallet::trust::ROOT_KID || !sign1_verify(&s, root_key) {
            return Err(crate::denied(
                "signature",
                "该办理记录不是平台签发的",
                "this activity entry was not signed by the platform",
            ));
        }
        let v = sign1_payload(&s)?;
        let w = "relayed activity";
        let m = IntMap::new(&v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != crate::mandate::MANDATE_VERSION {
            return Err(WalletError::UnsupportedVersion { version }.into());
        }
        let short = |k: i64, max: usize| -> Result<String> {
            let t = as_text(m.get(k, w)?, w)?;
            if t.chars().count() > max {
                return Err(WalletError::TooLong { len: t.chars().count(), max }.into());
            }
            Ok(t.to_string())
        };
        Ok(RelayedActivity {
            principal_key: as_bytes(m.get(2, w)?, w)?.to_vec(),
            mandate_id: short(3, 64)?,
            kind: short(4, 50)?,
            at: as_i64(m.get(5, w)?, w)?,
            actor: short(6, 100)?,
            case_title: short(7, 200)?,
            receipt: match m.opt(8) {
                None | Some(ciborium::value::Value::Null) => None,
                Some(_) => Some(short(8, 64)?),
            },
            element: match m.opt(9) {
                None => None,
                Some(_) => Some(short(9, 100)?),
            },
            missing: match m.opt(10) {
                None => None,
                Some(_) => Some(short(10, 100)?),
            },
        })
    }
}

/// The entry a principal's phone keeps from a relayed statement (hex of the signed bytes): checked against
/// the platform `root_key`, and it must name `my_key` (this phone's device key). Anything else is refused.
pub fn activity_from_relayed(seq: u64, signed_hex: &str, root_key: &[u8], my_key: &[u8]) -> Result<ActivityEntry> {
    let bytes =
        hex::decode(signed_hex).map_err(|_| bad("signed", "办理记录格式不正确", "the activity entry is not hex"))?;
    let r = RelayedActivity::verify(&bytes, root_key)?;
    if r.principal_key != my_key {
        return Err(crate::denied(
            "principal",
            "该办理记录不是关于本机机主的",
            "this activity entry is about someone else",
        ));
    }
    Ok(ActivityEntry {
        seq,
        at: r.at,
        actor: r.actor,
        kind: r.kind,
        case_title: r.case_title,
        receipt: r.receipt,
        element: r.element,
        missing: r.missing,
    })
}

/// [`PrincipalSide::record_activity`] inside the caller's transaction (the sync runner's events page).
pub fn record_activity_in(t: &mut zhangban_base::store::Txn<'_>, e: &ActivityEntry) -> Result<()> {
    t.put_json(ACTIVITY, &format!("{:012}", e.seq), SELF_SUBJECT, e, PutOptions::default())
}

/// Revocations not yet taken by the platform (queued in the one outbox; the sync runner sends them).
pub fn pending_revocations(store: &Store) -> Result<Vec<GivenDelegation>> {
    store.list_tagged(GIVEN, "revoke_pending")?.iter().map(|r| r.json()).collect()
}

/// The outbox target of a delegation's revocation: `delegation:<id>`.
pub const DELEGATION_TARGET: &str = "delegation:";

/// Queues the signed revocation of `g` for the platform (`OpKind::RevokeDelegation`) in the caller's
/// transaction: the body is what `POST /v1/delegations/revocations` takes.
fn queue_revocation(t: &mut Txn<'_>, g: &GivenDelegation) -> Result<()> {
    let body = json!({ "delegation": g.text, "revocation": g.revocation_hex });
    let target = format!("{DELEGATION_TARGET}{}", g.id);
    outbox::enqueue(t, SELF_SUBJECT, &target, OpKind::RevokeDelegation, outbox::new_key(), body, vec![]).map(|_| ())
}

/// Queues the revocations an older version left waiting outside the outbox (it sent them itself): each
/// `revoke_pending` delegation without a queued operation gets one. Returns how many were queued; called
/// by the sync runner before it sends, harmless to call again.
pub fn queue_legacy_revocations(store: &Store) -> Result<usize> {
    let waiting = pending_revocations(store)?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let queued: Vec<String> = outbox::pending(store)?
        .into_iter()
        .chain(outbox::quarantined(store)?)
        .filter(|o| o.kind == OpKind::RevokeDelegation)
        .map(|o| o.case_id)
        .collect();
    store.transaction(|t| {
        let mut n = 0;
        for g in waiting.iter().filter(|g| !queued.contains(&format!("{DELEGATION_TARGET}{}", g.id))) {
            queue_revocation(t, g)?;
            n += 1;
        }
        Ok(n)
    })
}

/// The platform took the revocation queued for `target` (`delegation:<id>`), inside the sync runner's
/// transaction that removes the operation.
pub fn revocation_sent_in(t: &mut Txn<'_>, target: &str) -> Result<()> {
    let Some(id) = target.strip_prefix(DELEGATION_TARGET) else { return Ok(()) };
    let Some(rec) = t.get_opt(GIVEN, id)? else { return Ok(()) };
    let mut g: GivenDelegation = rec.json()?;
    g.revocation_sent = true;
    t.put_json(GIVEN, id, SELF_SUBJECT, &g, PutOptions { tag: Some("revoked"), lookup: None })
}
