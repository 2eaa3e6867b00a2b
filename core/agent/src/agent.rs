//! The agent's side (帮办员手机): certificate, principals, door intake, drafts and submissions for a
//! principal, revocations from the platform, retention and automatic erasure.
//!
//! Each principal is a store subject of kind `Principal` with its own key: their record, drafts,
//! attachments and cases are sealed under it and listed by it, so lists never mix principals and
//! erasing one is deleting one key ([`zhangban_base::store::Store::shred_subject`]). Every call that
//! touches a principal's data goes through [`crate::access::authorize`] (audited).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zhangban_base::audit::NewEntry;
use zhangban_base::outbox;
use zhangban_base::store::{AttachmentInfo, PutOptions, Store, SubjectKind, SELF_SUBJECT};
use zhangban_base::Text;
use zhangban_cases::{self as cases, Case, CaseState, Proxy};
use zhangban_catalog::Catalog;
use zhangban_forms::draft::AutofillOptions;
use zhangban_forms::session::{self, DraftInfo};
use zhangban_forms::{ActingGate, Editor, HeldLicence, LicenceSource, MaterialChoice, Session};
use zhangban_wallet::format::GrantToken;
use zhangban_wallet::{DeviceSigner, Wallet};

use crate::access::{
    self, stored_agent_id, MandateRecord, PrincipalRecord, StoredCert, CERTIFICATE, DEFAULT_RETENTION_DAYS, PRINCIPALS,
    RETENTION_SETTING,
};
use crate::cert::AgentCertificate;
use crate::mandate::{
    sha256_hex, Action, Assurance, Delegation, DoorConsent, Evidence, Scope, DEFAULT_VALID_DAYS, EVIDENCE_KINDS,
    MAX_VALID_DAYS,
};
use crate::{bad, denied, report, Error, Result};

/// Whether this phone is an agent's (an agent certificate is installed).
pub fn is_agent_phone(store: &Store) -> Result<bool> {
    Ok(stored_agent_id(store)?.is_some())
}

/// Where a principal's mandate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PrincipalStatus {
    /// Door intake started, consent not captured yet.
    Intake,
    Active,
    NotYetValid,
    Expired,
    Revoked,
    /// Single use, used.
    Used,
}

/// One line of the agent's home: a principal and what they need now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PrincipalLine {
    pub subject: String,
    pub name: String,
    pub id_masked: String,
    pub assurance: Option<Assurance>,
    pub status: PrincipalStatus,
    pub valid_until: Option<i64>,
    pub open_drafts: u32,
    /// Cases waiting to be sent (queued on this phone).
    pub queued: u32,
    /// Cases that need the agent now (补正 requested).
    pub needs_action: u32,
    pub cases: u32,
    /// What this principal needs now, in one line (zh/en), computed here for both shells.
    pub needs_now: Text,
    /// How the principal agreed (a delegation from their phone, a door consent at lower assurance, or a
    /// door intake not finished yet), in words for the home's badge.
    pub assurance_text: Text,
}

/// A service item a mandate covers (or a door consent may cover), with its name for the screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ScopeItem {
    pub code: String,
    pub name: Text,
}

/// A principal's screen after switching to them: their line, cases and drafts (one call).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PrincipalView {
    pub line: PrincipalLine,
    /// The banner every screen for this principal shows: whose data this is (not the agent's own).
    pub banner: Text,
    /// What the mandate covers: the items the agent may start an application for.
    pub items: Vec<ScopeItem>,
    pub cases: Vec<cases::CaseSummary>,
    pub drafts: Vec<DraftInfo>,
}

/// The door intake's first step: who is at the door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DoorIntake {
    pub principal_name: String,
    pub principal_id_number: String,
}

/// The door consent's second step: what was captured (attachments written for the principal's subject
/// with [`Agent::attach`]) and what the principal agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DoorConsentInput {
    pub items: Vec<String>,
    pub id_photo: String,
    pub principal_photo: String,
    pub signature: String,
    /// The plain-language summary read out / shown in large text and confirmed.
    pub summary: String,
    /// Days of validity (None: 30; at most 365).
    pub valid_days: Option<u32>,
    pub single_use: bool,
}

/// An agent's phone.
pub struct Agent {
    store: Arc<Store>,
    signer: Arc<dyn DeviceSigner>,
    root_key: Vec<u8>,
    /// The phone's wallet (its cached trust and status lists verify principals' e-licence QRs).
    wallet: Wallet,
}

/// Licences a principal showed at the door (亮证), verified offline: their disclosed, issuer-signed
/// fields, kept under the principal's key (collection, id = keyed id of the licence id).
pub const PRINCIPAL_LICENCES: &str = "agent_licence";
/// Licences a principal shared into their delegation (collection, id = keyed id of the licence id, sealed under the
/// principal's key): the grant's bytes, verified again at every use.
pub const SHARED_LICENCES: &str = "agent_shared";

/// Mandates that ended on this phone (revoked, or erased after their retention), under the agent's own subject
/// (collection, id = keyed id of the mandate id; body: why, as the refusal's `missing`). They outlive the
/// principal's erasure, so the delegation's QR scanned again never brings a mandate back (issue 10).
pub const ENDED_MANDATES: &str = "agent_mandate_ended";

/// Remembers that mandate `id` ended (`why`: `revoked`, `used`, `validity`) at `at`, in [`ENDED_MANDATES`].
fn remember_ended(t: &mut zhangban_base::store::Txn<'_>, id: &str, why: &str, at: i64) -> Result<()> {
    let key = t.keyed_id(ENDED_MANDATES, id);
    t.put_json(ENDED_MANDATES, &key, SELF_SUBJECT, &json!({ "why": why, "at": at }), PutOptions::default())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SharedLicence {
    mandate_id: String,
    /// The grant (docs/formats.md § 8) as the delegation carried it, hex.
    grant_hex: String,
}

/// Purposes a principal's presentation to an agent may carry.
pub const PRESENTATION_PURPOSES: [&str; 2] = ["full", "custom"];

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("store", &self.store).finish()
    }
}

fn validity(valid_days: Option<u32>, now: i64) -> Result<(i64, i64)> {
    let days = valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    if days == 0 || days > MAX_VALID_DAYS {
        return Err(bad("valid_days", "有效期须为 1 至 365 天", "validity must be 1 to 365 days"));
    }
    Ok((now, now + i64::from(days) * 86_400))
}

impl Agent {
    /// The agent mode of `wallet`'s phone: its device key is the agent's key.
    pub fn new(wallet: &Wallet) -> Agent {
        let crate::Phone { store, signer, root_key, wallet } = crate::Phone::of(wallet);
        Agent { store, signer, root_key, wallet }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    // ---- certificate ---------------------------------------------------------------------------

    /// Keeps the platform's certificate for this phone after checking it: root signature, validity, and
    /// that it names this phone's device key.
    pub fn install_certificate(&self, signed: &[u8]) -> Result<AgentCertificate> {
        let c = AgentCertificate::verify(signed, &self.root_key, self.store.now())?;
        if c.device_key != self.signer.public_key() {
            return Err(denied(
                "certificate",
                "该帮办员证书不属于本机",
                "this agent certificate was issued for another device",
            ));
        }
        self.store.transaction(|t| {
            t.put_json(
                CERTIFICATE,
                "current",
                SELF_SUBJECT,
                &StoredCert { signed_hex: hex::encode(signed), agent_id: c.agent_id.clone() },
                PutOptions::default(),
            )?;
            t.audit(&NewEntry {
                actor: &c.agent_id,
                action: "agent.certificate",
                subject: SELF_SUBJECT,
                target: &c.cert_id,
                detail: json!({ "org": c.org_code, "valid_until": c.valid_until }),
            })?;
            Ok(())
        })?;
        Ok(c)
    }

    fn signed_certificate(&self) -> Result<Option<Vec<u8>>> {
        match self.store.get_opt(CERTIFICATE, "current")? {
            None => Ok(None),
            Some(r) => {
                let s: StoredCert = r.json()?;
                Ok(Some(hex::decode(s.signed_hex).map_err(|_| Error::corrupted(CERTIFICATE, "current"))?))
            }
        }
    }

    /// The stored certificate (root signature re-checked), if any.
    pub fn certificate(&self) -> Result<Option<AgentCertificate>> {
        self.signed_certificate()?.map(|b| AgentCertificate::verify_signature(&b, &self.root_key)).transpose()
    }

    /// This phone's certificate in words, as its card shows it ([`crate::cert::AgentCard`]), if it has one.
    pub fn card(&self) -> Result<Option<crate::cert::AgentCard>> {
        let Some(mut card) = self.certificate()?.map(AgentCertificate::card) else { return Ok(None) };
        card.not_delivered = report::not_delivered_text(&report::undelivered(&self.store)?);
        Ok(Some(card))
    }

    /// The QR text of this phone's certificate, for a principal to scan before delegating.
    pub fn certificate_text(&self) -> Result<String> {
        let b = self.signed_certificate()?.ok_or_else(no_certificate)?;
        Ok(AgentCertificate::to_text(&b))
    }

    /// The certificate, valid now: every action for a principal needs it.
    fn active_certificate(&self) -> Result<(AgentCertificate, Vec<u8>)> {
        let b = self.signed_certificate()?.ok_or_else(no_certificate)?;
        Ok((AgentCertificate::verify(&b, &self.root_key, self.store.now())?, b))
    }

    fn agent_id(&self) -> String {
        agent_id(&self.store)
    }

    // ---- principals ------------------------------------------------------------------------------

    /// Scans a principal's delegation QR and verifies it offline: the principal's signature, that it
    /// names this agent's certificate and device key, that it is not already over. Creates the principal
    /// (a subject with its own key) or renews the mandate of the one who signed it before.
    pub fn accept_delegation(&self, qr_text: &str) -> Result<PrincipalLine> {
        let (cert, _) = self.active_certificate()?;
        let signed = Delegation::from_text(qr_text)?;
        let d = Delegation::verify(&signed)?;
        let now = self.store.now();
        let refuse = |missing: &str, zh: &str, en: &str| -> Result<PrincipalLine> {
            let e = denied(missing, zh, en);
            access::audit(&self.store, &cert.agent_id, SELF_SUBJECT, Action::Fill, &d.scope.items, Some(&e))?;
            Err(e)
        };
        if d.agent_cert_id != cert.cert_id || d.agent_key != self.signer.public_key() {
            return refuse("agent", "该委托书不是授权给本帮办员的", "this delegation names another agent");
        }
        if now > d.valid_until {
            return refuse("validity", "该委托书已过期", "this delegation has expired");
        }
        // The same QR scanned again (a photo kept) never undoes what happened to its mandate since, and a
        // delegation older than the one held never replaces it.
        let key_hex = hex::encode(&d.principal_key);
        let existing = self.records()?.into_iter().find(|r| r.principal_key_hex.as_deref() == Some(&key_hex));
        let held = existing.as_ref().and_then(|r| r.mandate.as_ref());
        let ended = self.store.get_opt(ENDED_MANDATES, &self.store.keyed_id(ENDED_MANDATES, &d.id)?)?;
        let why = ended.map(|r| r.json::<Value>()).transpose()?.and_then(|v| v["why"].as_str().map(str::to_string));
        if why.as_deref() == Some("used")
            || held.is_some_and(|m| m.id == d.id && m.used_by_case.is_some() && m.single_use)
        {
            return refuse("used", "该授权委托仅限一次，已用于一件申请", "this single-use delegation was already used");
        }
        if why.is_some() || held.is_some_and(|m| m.id == d.id && m.revoked_at.is_some()) {
            return refuse("revoked", "委托人已撤销该授权委托", "the principal revoked this delegation");
        }
        if held.is_some_and(|m| m.id != d.id && d.valid_from < m.valid_from) {
            return refuse(
                "superseded",
                "这份委托书早于本机已有的委托，不能取代它",
                "this delegation is older than the one this phone holds and cannot replace it",
            );
        }
        // Shared licences: each checked offline (issuer signature and trust, digests, the principal's device
        // signature, bound to this phone's key, status) and only within the per-field scope.
        let mut shared = Vec::with_capacity(d.shared.len());
        for (g, bytes) in d.shared_grants()?.into_iter().zip(&d.shared) {
            let policy = zhangban_wallet::Policy::default();
            let v = match self.wallet.grant_verifier().and_then(|gv| Ok(gv.verify_token(g, now, &policy)?)) {
                Ok(v) => v,
                Err(e) => {
                    return refuse(
                        "shared_licence",
                        &format!("委托人共享的证照未通过核验：{}", e.message_zh()),
                        &format!("a licence the principal shared does not verify: {}", e.message_en()),
                    )
                }
            };
            let t = v.licence_type.key();
            if let Some(e) = v.disclosed.iter().find(|e| !d.scope.element_allowed(t, &e.key)) {
                let m = MandateRecord::of_scope(&d.scope);
                let err = access::element_refusal(&m, t, &e.key)
                    .unwrap_or_else(|| Error::Internal("element outside the scope".into()));
                access::audit_element(&self.store, &cert.agent_id, SELF_SUBJECT, t, &e.key, Some(&err))?;
                return Err(err);
            }
            shared.push((v, hex::encode(bytes)));
        }
        let subject = match &existing {
            Some(r) => r.subject.clone(),
            None => self.store.create_subject(SubjectKind::Principal, &d.principal_name)?,
        };
        let mut rec = PrincipalRecord {
            subject: subject.clone(),
            name: d.principal_name.clone(),
            id_masked: d.principal_id_masked.clone(),
            principal_key_hex: Some(key_hex),
            created_at: existing.as_ref().map_or(now, |r| r.created_at),
            mandate: existing.as_ref().and_then(|r| r.mandate.clone()),
            previous: existing.as_ref().map(|r| r.previous.clone()).unwrap_or_default(),
        };
        // A newer delegation replaces the mandate held; the replaced one is kept for the access report.
        rec.replace_mandate(MandateRecord {
            id: d.id.clone(),
            assurance: d.assurance(),
            signed_hex: hex::encode(&signed),
            scope: d.scope.clone(),
            valid_from: d.valid_from,
            valid_until: d.valid_until,
            single_use: d.single_use,
            used_by_case: None,
            revoked_at: None,
            completed_at: None,
        });
        let old_shared: Vec<String> =
            self.store.list(SHARED_LICENCES, Some(&subject))?.into_iter().map(|r| r.id).collect();
        self.store.transaction(|t| {
            access::put_principal(t, &rec)?;
            // A renewed delegation replaces what the previous one shared.
            for id in &old_shared {
                t.delete(SHARED_LICENCES, id)?;
            }
            for (v, grant_hex) in &shared {
                let body = SharedLicence { mandate_id: d.id.clone(), grant_hex: grant_hex.clone() };
                let id = t.keyed_id(SHARED_LICENCES, &v.licence_id);
                t.put_json(SHARED_LICENCES, &id, &subject, &body, PutOptions::default())?;
            }
            t.audit(&NewEntry {
                actor: &cert.agent_id,
                action: "agent.delegation",
                subject: &subject,
                target: &d.id,
                detail: json!({
                    "assurance": d.assurance(), "items": d.scope.items, "valid_until": d.valid_until,
                    "elements": d.scope.elements,
                    "shared": shared.iter().map(|(v, _)| &v.licence_id).collect::<Vec<_>>(),
                }),
            })?;
            Ok(())
        })?;
        self.line(&rec, &HashMap::new(), now)
    }

    /// Door intake, step 1 (principal without a phone): who is at the door. Creates the principal's
    /// subject; its photos and signature are then written with [`Agent::attach_intake`].
    pub fn open_door_intake(&self, who: &DoorIntake) -> Result<PrincipalLine> {
        let (cert, _) = self.active_certificate()?;
        let name = who.principal_name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            return Err(bad("principal_name", "请填写委托人姓名（至多 50 字）", "enter the principal's name (≤ 50)"));
        }
        let today = self.store.today();
        zhangban_base::ids::validate_id_number(&who.principal_id_number, today)
            .map_err(|e| Error::validation("principal_id_number", e.message_zh(), e.message_en()))?;
        let now = self.store.now();
        let subject = self.store.create_subject(SubjectKind::Principal, name)?;
        let rec = PrincipalRecord {
            subject: subject.clone(),
            name: name.to_string(),
            id_masked: zhangban_wallet::ids::mask_id_number(&who.principal_id_number),
            principal_key_hex: None,
            created_at: now,
            mandate: None,
            previous: Vec::new(),
        };
        self.store.transaction(|t| {
            access::put_principal(t, &rec)?;
            // The full ID number is kept sealed under the principal's key for the consent to sign.
            t.put_json("agent_intake", &subject, &subject, who, PutOptions::default())?;
            t.audit(&NewEntry {
                actor: &cert.agent_id,
                action: "agent.door_intake",
                subject: &subject,
                target: &subject,
                detail: json!({}),
            })?;
            Ok(())
        })?;
        self.line(&rec, &HashMap::new(), now)
    }

    /// Writes a photo or the signature image of a door intake, encrypted under the principal's key.
    /// Allowed before the consent exists (the consent needs these), only for a principal in intake.
    pub fn attach_intake(&self, principal: &str, name: &str, reader: &mut dyn std::io::Read) -> Result<AttachmentInfo> {
        let (cert, _) = self.active_certificate()?;
        match access::load(&self.store, principal)? {
            Some(r) if r.mandate.is_none() => self.store.write_attachment(principal, name, reader),
            _ => Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Fill)),
        }
    }

    /// Door intake, step 2: the consent. Checks that the three pictures are this principal's, signs the
    /// record with the agent's key (lower assurance) and makes it the principal's mandate.
    pub fn record_door_consent(&self, principal: &str, input: &DoorConsentInput) -> Result<PrincipalLine> {
        let (cert, _) = self.active_certificate()?;
        let mut rec = match access::load(&self.store, principal)? {
            Some(r) if r.mandate.is_none() => r,
            Some(_) => return Err(bad("principal", "该委托人已有授权", "this principal already has a mandate")),
            None => return Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Fill)),
        };
        let who: DoorIntake = self.store.get_json("agent_intake", principal)?;
        let summary = input.summary.trim();
        if summary.is_empty() || summary.chars().count() > 2000 {
            return Err(bad("summary", "请填写向委托人确认的内容摘要", "enter the summary the principal confirmed"));
        }
        let mut evidence = Vec::new();
        for (kind, id) in EVIDENCE_KINDS.iter().zip([&input.id_photo, &input.principal_photo, &input.signature]) {
            let info = self.store.attachment_info(id).map_err(|_| {
                bad(format!("evidence.{kind}"), "找不到该照片或签名", "that photo or signature was not found")
            })?;
            if info.subject != principal {
                return Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Fill));
            }
            evidence.push(Evidence { kind: kind.to_string(), sha256: info.sha256 });
        }
        let now = self.store.now();
        let (valid_from, valid_until) = validity(input.valid_days, now)?;
        let consent = DoorConsent {
            id: uuid::Uuid::new_v4().simple().to_string(),
            principal_name: who.principal_name.trim().to_string(),
            principal_id_number: who.principal_id_number.clone(),
            agent_id: cert.agent_id.clone(),
            agent_cert_id: cert.cert_id.clone(),
            scope: Scope {
                items: input.items.clone(),
                licence_types: vec![],
                actions: Action::ALL.to_vec(),
                elements: vec![],
            },
            valid_from,
            valid_until,
            single_use: input.single_use,
            evidence,
            summary_sha256: sha256_hex(summary.as_bytes()),
        };
        let signed = consent.sign(&self.signer.public_key(), |m| self.signer.sign(m))?;
        rec.replace_mandate(MandateRecord {
            id: consent.id.clone(),
            assurance: Assurance::Door,
            signed_hex: hex::encode(&signed),
            scope: consent.scope.clone(),
            valid_from,
            valid_until,
            single_use: input.single_use,
            used_by_case: None,
            revoked_at: None,
            completed_at: None,
        });
        self.store.transaction(|t| {
            access::put_principal(t, &rec)?;
            t.put_json("agent_summary", principal, principal, &json!({ "summary": summary }), PutOptions::default())?;
            t.audit(&NewEntry {
                actor: &cert.agent_id,
                action: "agent.door_consent",
                subject: principal,
                target: &consent.id,
                detail: json!({ "assurance": "door", "items": consent.scope.items, "valid_until": valid_until }),
            })?;
            Ok(())
        })?;
        self.line(&rec, &HashMap::new(), now)
    }

    fn records(&self) -> Result<Vec<PrincipalRecord>> {
        records(&self.store)
    }

    fn status(rec: &PrincipalRecord, now: i64) -> PrincipalStatus {
        match &rec.mandate {
            None => PrincipalStatus::Intake,
            Some(m) if m.revoked_at.is_some() => PrincipalStatus::Revoked,
            Some(m) if now > m.valid_until => PrincipalStatus::Expired,
            Some(m) if now + access::CLOCK_SKEW_SECS < m.valid_from => PrincipalStatus::NotYetValid,
            Some(m) if m.single_use && m.used_by_case.is_some() => PrincipalStatus::Used,
            Some(_) => PrincipalStatus::Active,
        }
    }

    fn line(&self, rec: &PrincipalRecord, counts: &HashMap<(String, String), u32>, now: i64) -> Result<PrincipalLine> {
        let n = |c: &str, tag: &str| counts.get(&(c.to_string(), tag.to_string())).copied().unwrap_or(0);
        let status = Self::status(rec, now);
        let mut open_drafts = n(session::DRAFTS, "open");
        let mut queued = n(cases::COLLECTION, CaseState::Queued.as_str());
        let mut needs_action = n(cases::COLLECTION, CaseState::SupplementRequested.as_str());
        let cases: u32 = counts.iter().filter(|((c, _), _)| c == cases::COLLECTION).map(|(_, v)| *v).sum();
        // Ended (revoked, expired, single use and its case decided): nothing is to be done for them any more
        // (ADR 0043). The line says so, and which of their cases are still under way, to hand back.
        let end = access::acting_of(rec).and_then(|a| a.end(now));
        if end.is_some() {
            (open_drafts, queued, needs_action) = (0, 0, 0);
        }
        let under_way: u32 = CaseState::UNDER_WAY.iter().map(|s| n(cases::COLLECTION, s.as_str())).sum();
        // Their operations still on this phone, queued or held back once the end was known (ADR 0045).
        let unsent = n(outbox::COLLECTION, outbox::PENDING) + n(outbox::COLLECTION, outbox::QUARANTINED);
        let needs_now = match (end, status) {
            (Some((e, _)), _) => zhangban_base::acting::end_text(e, &rec.name, under_way, unsent),
            (None, status) => match status {
                PrincipalStatus::Intake => Text::new(
                    "待完成上门确认（证件照、本人照片、签名）",
                    "door consent to finish (ID photo, photo, signature)",
                ),
                // (Revoked and expired are ended: worded above.)
                PrincipalStatus::NotYetValid => Text::new("委托尚未生效", "delegation not yet valid"),
                _ if needs_action > 0 => Text::new(
                    format!("{needs_action} 件需要补正或修改后重新提交"),
                    format!("{needs_action} case(s) need material or a fix"),
                ),
                _ if queued > 0 => Text::new(
                    format!("{queued} 件待联网发送"),
                    format!("{queued} case(s) waiting for signal to be sent"),
                ),
                _ if open_drafts > 0 => Text::new(
                    format!("{open_drafts} 份申请待填完提交"),
                    format!("{open_drafts} application(s) to finish and submit"),
                ),
                PrincipalStatus::Used => {
                    Text::new("一次性委托已使用，等待办结", "single-use delegation used: waiting for the result")
                }
                _ if cases > 0 => Text::new("办理中，暂无需操作", "in progress: nothing to do now"),
                _ => Text::new("可开始填报", "ready to start an application"),
            },
        };
        Ok(PrincipalLine {
            subject: rec.subject.clone(),
            name: rec.name.clone(),
            id_masked: rec.id_masked.clone(),
            assurance: rec.mandate.as_ref().map(|m| m.assurance),
            status,
            valid_until: rec.mandate.as_ref().map(|m| m.valid_until),
            open_drafts,
            queued,
            needs_action,
            cases,
            needs_now,
            assurance_text: match rec.mandate.as_ref().map(|m| m.assurance) {
                Some(Assurance::Delegation) => {
                    Text::new("授权委托（委托人手机签署）", "delegation signed on their phone")
                }
                Some(Assurance::Door) => Text::new("上门确认（较低保障等级）", "door consent (lower assurance)"),
                Some(Assurance::Family) => Text::new(
                    "亲友代办（亲属手机签署，较低保障等级）",
                    "signed by a relative's phone (lower assurance)",
                ),
                None => Text::new("上门确认未完成", "door consent not finished"),
            },
        })
    }

    /// The agent's home: every principal on this phone with what each needs now, those needing
    /// something first. Counts come from the plaintext tags (no principal's data is decrypted but
    /// their own record), so the screen stays fast with thousands of cases.
    pub fn principals(&self) -> Result<Vec<PrincipalLine>> {
        let now = self.store.now();
        let mut counts: HashMap<String, HashMap<(String, String), u32>> = HashMap::new();
        for c in [cases::COLLECTION, session::DRAFTS, outbox::COLLECTION] {
            for (subject, tag, n) in self.store.tag_counts(c)? {
                counts.entry(subject).or_default().insert((c.to_string(), tag.unwrap_or_default()), n as u32);
            }
        }
        let empty = HashMap::new();
        let mut out = self
            .records()?
            .iter()
            .map(|r| self.line(r, counts.get(&r.subject).unwrap_or(&empty), now))
            .collect::<Result<Vec<_>>>()?;
        zhangban_base::sort::sort_by_key(&mut out, |l| {
            let active = matches!(l.status, PrincipalStatus::Active | PrincipalStatus::Intake);
            (!active, l.needs_action == 0, l.queued == 0 && l.open_drafts == 0, l.name.clone())
        });
        Ok(out)
    }

    /// Switching to a principal: their line, cases and drafts (audited as `follow`).
    pub fn switch_to(&self, principal: &str) -> Result<(PrincipalLine, Vec<Case>, Vec<DraftInfo>)> {
        self.switched(principal).map(|(_, line, list, drafts)| (line, list, drafts))
    }

    /// [`Agent::switch_to`] with the principal's record the check read (read once per switch).
    fn switched(&self, principal: &str) -> Result<(PrincipalRecord, PrincipalLine, Vec<Case>, Vec<DraftInfo>)> {
        let agent = self.agent_id();
        let rec = access::authorize(&self.store, &agent, principal, Action::Follow, &[])?;
        let list = cases::list(&self.store, principal)?;
        let drafts = session::list(&self.store, principal)?;
        let mut counts = HashMap::new();
        for c in &list {
            *counts.entry((cases::COLLECTION.to_string(), c.state.as_str().to_string())).or_insert(0) += 1;
        }
        for d in &drafts {
            let tag = if d.submitted { "submitted" } else { "open" };
            *counts.entry((session::DRAFTS.to_string(), tag.to_string())).or_insert(0) += 1;
        }
        let line = self.line(&rec, &counts, self.store.now())?;
        Ok((rec, line, list, drafts))
    }

    /// [`Agent::switch_to`] as one screen record.
    pub fn view(&self, principal: &str) -> Result<PrincipalView> {
        let (rec, line, list, drafts) = self.switched(principal)?;
        let catalog = Catalog::current(&self.store)?;
        let codes = rec.mandate.map(|m| m.scope.items);
        let banner = Text::new(
            format!(
                "正在为委托人 {}（{}）办理：以下都是委托人本人的资料和办件，不是您自己的",
                line.name, line.id_masked
            ),
            format!(
                "Acting for principal {} ({}): everything below is the principal's own data and cases, not yours",
                line.name, line.id_masked
            ),
        );
        Ok(PrincipalView {
            banner,
            items: codes.unwrap_or_default().iter().map(|c| scope_item(&catalog, c)).collect(),
            line,
            cases: list.iter().map(cases::CaseSummary::from).collect(),
            drafts,
        })
    }

    /// The items a door consent may cover: those the catalog offers at home (上门办), where the platform
    /// accepts the lower assurance.
    pub fn door_items(&self, catalog: &Catalog) -> Vec<ScopeItem> {
        catalog
            .doc
            .items
            .iter()
            .filter(|i| i.channels.contains(&zhangban_catalog::Channel::AtHome))
            .map(|i| ScopeItem { code: i.code.clone(), name: i.name.clone() })
            .collect()
    }

    /// The plain-language summary the agent reads out (and shows in large text) at the door before the
    /// principal signs: who acts for whom, for what, for how long, and that it can be withdrawn. Its
    /// Chinese text is what the door consent signs (its SHA-256).
    pub fn door_summary(
        &self,
        principal: &str,
        catalog: &Catalog,
        items: &[String],
        valid_days: Option<u32>,
    ) -> Result<Text> {
        let (cert, _) = self.active_certificate()?;
        let who: DoorIntake = match access::load(&self.store, principal)? {
            Some(r) if r.mandate.is_none() => self.store.get_json("agent_intake", principal)?,
            _ => return Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Fill)),
        };
        if items.is_empty() {
            return Err(bad("items", "请选择要代办的事项", "choose the items to apply for"));
        }
        let names: Vec<Text> = items.iter().map(|c| scope_item(catalog, c).name).collect();
        let days = valid_days.unwrap_or(DEFAULT_VALID_DAYS);
        let zh_items = names.iter().map(|n| n.zh.as_str()).collect::<Vec<_>>().join("、");
        let en_items = names.iter().map(|n| n.en.as_str()).collect::<Vec<_>>().join(", ");
        Ok(Text::new(
            format!(
                "{}，您委托{}（{}帮办员）代您办理：{zh_items}。帮办员可以为您填写、提交申请，查看进度，领取结果。委托 {days} 天内有效，您可以随时撤销。",
                who.principal_name.trim(), cert.name, cert.org_name
            ),
            format!(
                "{}, you ask {} (agent of {}) to apply for you: {en_items}. The agent may fill in and submit the applications, follow them and receive the results. Valid for {days} days; you may withdraw it at any time.",
                who.principal_name.trim(), cert.name, cert.org_name
            ),
        ))
    }

    // ---- acting for a principal ---------------------------------------------------------------------

    fn items(catalog: &Catalog, target: &str) -> Result<Vec<String>> {
        Ok(catalog.items_of(target)?.iter().map(|i| i.code.clone()).collect())
    }

    /// At the door: checks the principal's e-licence QR (亮证, `ZB1:`) offline against this phone's
    /// cached trust and status lists, and keeps the disclosed, issuer-signed fields under the principal's
    /// key, so their drafts are filled (and materials exempted) from their own licence. Scope: `fill`; a
    /// delegation must name the licence type (a door consent: the principal is there, showing it).
    pub fn check_principal_licence(&self, principal: &str, qr_text: &str) -> Result<zhangban_wallet::Verified> {
        let agent = self.agent_id();
        let rec = access::authorize(&self.store, &agent, principal, Action::Fill, &[])?;
        let policy = zhangban_wallet::Policy {
            accepted_purposes: PRESENTATION_PURPOSES.map(String::from).to_vec(),
            ..zhangban_wallet::Policy::default()
        };
        let v = self.wallet.verifier()?.verify(qr_text, self.store.now(), &policy)?;
        let t = v.licence_type.key().to_string();
        if let Some(m) = rec.mandate.as_ref().filter(|m| m.assurance != Assurance::Door) {
            if !m.scope.licence_types.contains(&t) {
                let e = denied(
                    &format!("licence:{t}"),
                    &format!("授权范围不含证照“{}”", v.type_name.zh),
                    &format!("the delegation does not cover the licence '{}'", v.type_name.en),
                );
                access::audit(&self.store, &agent, principal, Action::Fill, &[], Some(&e))?;
                return Err(e);
            }
        }
        // The licence must be the principal's own: an ID number it discloses is compared with theirs (masked, as
        // this phone knows it); one that discloses none cannot be told apart and is refused. Before, the agent's
        // own licence (or another principal's) filled this principal's drafts as verified (issue 10).
        let holder: Vec<String> = v
            .disclosed
            .iter()
            .filter_map(|e| match (e.key.as_str(), &e.value) {
                ("id_number" | "holder_id_number", zhangban_wallet::ElementValue::Text(s)) => {
                    Some(zhangban_wallet::ids::mask_id_number(s))
                }
                ("id_number_masked", zhangban_wallet::ElementValue::Text(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if holder.is_empty() {
            return Err(bad(
                "qr_text",
                "请出示显示身份证号码的亮证码：本机须核对这是委托人本人的证照",
                "show a code that discloses the ID number: this phone checks that the licence is the principal's own",
            ));
        }
        if holder.iter().any(|h| *h != rec.id_masked) {
            let e = denied("principal", "这张证照不是该委托人本人的", "this licence is not the principal's own");
            access::audit(&self.store, &agent, principal, Action::Fill, &[], Some(&e))?;
            return Err(e);
        }
        // Per-field scope: a disclosed element the mandate does not cover is not kept (each refusal audited).
        let mut fields = std::collections::BTreeMap::new();
        for e in &v.disclosed {
            match rec.mandate.as_ref().and_then(|m| access::element_refusal(m, &t, &e.key)) {
                Some(err) => access::audit_element(&self.store, &agent, principal, &t, &e.key, Some(&err))?,
                None => {
                    fields.insert(e.key.clone(), serde_json::to_value(&e.value).unwrap_or(Value::Null));
                }
            }
        }
        let held = HeldLicence {
            licence_type: t,
            licence_id: v.licence_id.clone(),
            as_of: date(v.valid_from.max(0)).unwrap_or_default(),
            valid_until: date(v.valid_until),
            fields,
        };
        self.store.transaction(|t| {
            let id = t.keyed_id(PRINCIPAL_LICENCES, &held.licence_id);
            t.put_json(PRINCIPAL_LICENCES, &id, principal, &held, PutOptions::default())?;
            t.audit(&NewEntry {
                actor: &agent,
                action: "agent.licence_checked",
                subject: principal,
                target: &held.licence_id,
                detail: json!({ "type": held.licence_type, "fields": held.fields.keys().collect::<Vec<_>>() }),
            })?;
            Ok(())
        })?;
        Ok(v)
    }

    fn gate(&self, catalog: &Catalog, target: &str) -> Result<Arc<dyn ActingGate>> {
        Ok(Arc::new(Gate {
            store: self.store.clone(),
            agent_id: self.agent_id(),
            items: Self::items(catalog, target)?,
        }))
    }

    /// Starts a draft for the principal (scope: `fill` on every item of `target`, checked now and before
    /// every edit, each audited; edits are recorded as the agent's). Autofill uses only what belongs to
    /// the principal: their profile on this phone and the licences they showed at the door
    /// ([`Agent::check_principal_licence`]), never the agent's own.
    pub fn start_draft(&self, principal: &str, catalog: &Catalog, target: &str) -> Result<Session> {
        self.active_certificate()?;
        let opts = AutofillOptions::at(self.store.clock().as_ref());
        let gate = Some(self.gate(catalog, target)?);
        Session::start_gated(self.store.clone(), catalog, principal, target, self, &opts, gate)
    }

    /// Reopens a principal's draft (scope: `fill`); a draft of another principal is refused.
    pub fn resume_draft(&self, principal: &str, catalog: &Catalog, draft_id: &str) -> Result<Session> {
        let agent = self.agent_id();
        let snap = session::list(&self.store, principal)?;
        if !snap.iter().any(|d| d.id == draft_id) {
            return Err(access::other_principal(&self.store, &agent, principal, Action::Fill));
        }
        let target = snap.iter().find(|d| d.id == draft_id).map(|d| d.target.clone()).unwrap_or_default();
        let gate = Some(self.gate(catalog, &target)?);
        Session::resume_gated(self.store.clone(), catalog, draft_id, self.store.today(), gate)
    }

    /// One edit of a principal's draft (scope: `fill`, checked and audited by the draft's gate), marked
    /// agent-entered.
    pub fn edit(&self, principal: &str, _catalog: &Catalog, s: &mut Session, path: &str, value: Value) -> Result<()> {
        let agent = self.agent_id();
        if s.draft.subject != principal {
            return Err(access::other_principal(&self.store, &agent, principal, Action::Fill));
        }
        s.set(path, value, Editor::Agent { agent })
    }

    /// Chooses how a material of the principal's draft is dealt with (scope: `fill`); an attachment must
    /// be the principal's own (written with [`Agent::attach`]).
    pub fn set_material(
        &self,
        principal: &str,
        catalog: &Catalog,
        s: &mut Session,
        code: &str,
        choice: Option<MaterialChoice>,
    ) -> Result<()> {
        let agent = self.agent_id();
        let foreign = match &choice {
            Some(MaterialChoice::Attached { attachment_id }) => {
                self.store.attachment_info(attachment_id).map(|a| a.subject != principal).unwrap_or(true)
            }
            _ => false,
        };
        if s.draft.subject != principal || foreign {
            return Err(access::other_principal(&self.store, &agent, principal, Action::Fill));
        }
        let _ = catalog;
        s.set_material(code, choice)
    }

    /// A photo of material for the principal, encrypted under their key (scope: `fill`).
    pub fn attach(&self, principal: &str, name: &str, reader: &mut dyn std::io::Read) -> Result<AttachmentInfo> {
        access::authorize(&self.store, &self.agent_id(), principal, Action::Fill, &[])?;
        self.store.write_attachment(principal, name, reader)
    }

    /// The plain-language summary of a principal's draft, for the principal to read in large text (or
    /// to hear) before they confirm: what is applied for, by whom, with which values and materials.
    pub fn confirmation_summary(&self, principal: &str, catalog: &Catalog, s: &Session) -> Result<Text> {
        let agent = self.certificate()?.map(|c| c.name).unwrap_or_default();
        if s.draft.subject != principal {
            return Err(access::other_principal(&self.store, &self.agent_id(), principal, Action::Fill));
        }
        let title = catalog.target(&s.draft.target)?.name().clone();
        let mut zh = format!("您委托帮办员{agent}为您办理：{}。\n填写的内容：", title.zh);
        let mut en = format!("You asked agent {agent} to apply for: {}.\nWhat was filled in: ", title.en);
        let values: Vec<_> = s
            .draft
            .view()
            .into_iter()
            .filter(|f| f.visible && !f.value.is_null())
            .map(|f| {
                let v = f.value.as_str().map(str::to_string).unwrap_or_else(|| f.value.to_string());
                (format!("{}：{v}", f.label.zh), format!("{}: {v}", f.label.en))
            })
            .collect();
        zh.push_str(&values.iter().map(|v| v.0.clone()).collect::<Vec<_>>().join("；"));
        en.push_str(&values.iter().map(|v| v.1.clone()).collect::<Vec<_>>().join("; "));
        let materials: Vec<_> = s.draft.material_report().into_iter().map(|m| m.name).collect();
        zh.push_str(&format!(
            "。\n提交的材料：{}。\n提交后由政府部门审核，结果会告诉您。",
            materials.iter().map(|m| m.zh.clone()).collect::<Vec<_>>().join("、")
        ));
        en.push_str(&format!(
            ".\nMaterial: {}.\nAfter submission the department reviews it and you will be told the result.",
            materials.iter().map(|m| m.en.clone()).collect::<Vec<_>>().join(", ")
        ));
        Ok(Text::new(zh, en))
    }

    /// The principal confirmed the summary: with a signature image (an attachment of theirs) or with
    /// their phone's signature over the summary's SHA-256 (checked with the key of their delegation).
    /// Kept with the draft and sent with the submission.
    pub fn record_confirmation(
        &self,
        principal: &str,
        catalog: &Catalog,
        s: &Session,
        signature_image: Option<&str>,
        phone_signature_hex: Option<&str>,
    ) -> Result<String> {
        let agent = self.agent_id();
        let rec =
            access::authorize(&self.store, &agent, principal, Action::Fill, &Self::items(catalog, &s.draft.target)?)?;
        let summary = self.confirmation_summary(principal, catalog, s)?;
        let hash = sha256_hex(summary.zh.as_bytes());
        let how = match (signature_image, phone_signature_hex) {
            (Some(id), _) => {
                if self.store.attachment_info(id).map(|a| a.subject != principal).unwrap_or(true) {
                    return Err(access::other_principal(&self.store, &agent, principal, Action::Fill));
                }
                json!({ "signature_image": id })
            }
            (None, Some(sig)) => {
                let key = rec.principal_key_hex.as_deref().and_then(|k| hex::decode(k).ok()).ok_or_else(|| {
                    bad("phone_signature", "该委托人没有登记手机", "this principal has no phone on record")
                })?;
                let sig_bytes = hex::decode(sig).map_err(|_| bad("phone_signature", "签名格式不正确", "not hex"))?;
                if !zhangban_wallet::format::es256_verify(&key, hash.as_bytes(), &sig_bytes) {
                    return Err(denied(
                        "signature",
                        "委托人手机的确认签名无效",
                        "the principal's confirmation signature does not verify",
                    ));
                }
                json!({ "phone_signature": sig })
            }
            (None, None) => {
                return Err(bad(
                    "confirmation",
                    "请委托人签名或用手机确认",
                    "the principal must sign or confirm on their phone",
                ))
            }
        };
        let body = json!({ "summary_sha256": hash, "how": how, "at": self.store.now() });
        self.store.put_json("agent_confirmation", s.id(), principal, &body)?;
        Ok(hash)
    }

    /// Submits the principal's draft (scope: `submit` on its items): the case carries the agent's
    /// certificate and the mandate for the platform to check again; queued offline like any other.
    pub fn submit(&self, principal: &str, catalog: &Catalog, s: &mut Session) -> Result<Case> {
        let (cert, cert_bytes) = self.active_certificate()?;
        if s.draft.subject != principal {
            return Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Submit));
        }
        // Submitted already (a second tap, the app back after a kill): its one case, as it is. Nothing is sent or
        // used again, so no access is recorded for her (she would read a second submission) and a single-use
        // mandate spent by this very draft does not refuse it.
        if let Some(case_id) = s.submitted_case() {
            return cases::get(&self.store, case_id);
        }
        let items = Self::items(catalog, &s.draft.target)?;
        let rec = access::authorize(&self.store, &cert.agent_id, principal, Action::Submit, &items)?;
        let m = rec.mandate.as_ref().ok_or_else(|| Error::Internal("authorized without a mandate".into()))?;
        let confirmation = self.store.get_opt("agent_confirmation", s.id())?.map(|r| r.json::<Value>()).transpose()?;
        let proxy = mandate_proxy(&cert, &cert_bytes, &rec, confirmation)?;
        let case = cases::submit_draft_as(s, catalog, Some(&proxy))?;
        if m.single_use {
            self.store.transaction(|t| {
                let mut r: PrincipalRecord = t.get(PRINCIPALS, principal)?.json()?;
                if let Some(m) = r.mandate.as_mut() {
                    m.used_by_case.get_or_insert(case.id.clone());
                }
                // Remembered apart from her record too: erased by any path, the QR still finds it spent.
                remember_ended(t, &m.id, "used", case.created_at)?;
                access::put_principal(t, &r)
            })?;
        }
        Ok(case)
    }

    /// Sends a principal's case the platform refused again, with the agent's fix (scope: `submit` on the
    /// case's items and on every item the fix moves it to). It carries the mandate like the first
    /// submission, and the principal's confirmation when the values are unchanged (changed values were
    /// not what they confirmed). Another principal's case, a revoked or expired mandate, an item outside
    /// it: `PermissionDenied`, audited.
    pub fn resubmit(&self, principal: &str, case_id: &str, fix: &cases::Fix) -> Result<Case> {
        let (cert, cert_bytes) = self.active_certificate()?;
        let c = cases::get(&self.store, case_id)?;
        if c.subject != principal {
            return Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Submit));
        }
        let mut items = c.item_codes.clone();
        items.extend(fix.item_codes.iter().flatten().filter(|i| !c.item_codes.contains(i)).cloned());
        let rec = access::authorize_for_case(&self.store, &cert.agent_id, principal, Action::Submit, &items, case_id)?;
        let confirmation = match (&fix.values, &c.draft_id) {
            (cases::ValuesChange::Keep, Some(d)) => {
                self.store.get_opt("agent_confirmation", d)?.map(|r| r.json::<Value>()).transpose()?
            }
            _ => None,
        };
        let proxy = mandate_proxy(&cert, &cert_bytes, &rec, confirmation)?;
        cases::resubmit_as(&self.store, case_id, fix, Some(&proxy))
    }

    /// The principal's cases (scope: `follow`).
    pub fn cases(&self, principal: &str) -> Result<Vec<Case>> {
        access::authorize(&self.store, &self.agent_id(), principal, Action::Follow, &[])?;
        cases::list(&self.store, principal)
    }

    /// One case of the principal (scope: `follow`); another principal's case is refused.
    pub fn case(&self, principal: &str, case_id: &str) -> Result<Case> {
        let agent = self.agent_id();
        let c = cases::get(&self.store, case_id)?;
        if c.subject != principal {
            return Err(access::other_principal(&self.store, &agent, principal, Action::Follow));
        }
        access::authorize(&self.store, &agent, principal, Action::Follow, &c.item_codes)?;
        Ok(c)
    }

    /// Results to hand over (scope: `receive_results`): the principal's cases with a receipt or an outcome.
    pub fn results(&self, principal: &str) -> Result<Vec<Case>> {
        access::authorize(&self.store, &self.agent_id(), principal, Action::ReceiveResults, &[])?;
        Ok(cases::list(&self.store, principal)?
            .into_iter()
            .filter(|c| c.receipt.is_some() || c.result.is_some() || c.state.is_final())
            .collect())
    }

    /// Supplies material for the principal's case (scope: `submit` on its items).
    pub fn supply(
        &self,
        principal: &str,
        case_id: &str,
        values: Value,
        attachments: &[String],
        note: &str,
    ) -> Result<()> {
        let (cert, _) = self.active_certificate()?;
        let c = cases::get(&self.store, case_id)?;
        if c.subject != principal {
            return Err(access::other_principal(&self.store, &cert.agent_id, principal, Action::Submit));
        }
        let rec = access::authorize(&self.store, &cert.agent_id, principal, Action::Submit, &c.item_codes)?;
        let proxy = Proxy {
            agent_id: cert.agent_id.clone(),
            body: json!({ "mandate_id": rec.mandate.as_ref().map(|m| m.id.clone()) }),
        };
        cases::supply_as(&self.store, case_id, values, attachments, note, Some(&proxy))
    }

    // ---- revocation, retention, erasure -------------------------------------------------------------

    /// Marks the mandates the platform lists as revoked; further use stops at once. Returns the
    /// principals affected.
    pub fn apply_revocations(&self, mandate_ids: &[String]) -> Result<Vec<String>> {
        apply_revocations(&self.store, mandate_ids)
    }

    /// Days kept after a mandate ends before the principal's data is erased.
    pub fn retention_days(&self) -> Result<u32> {
        retention_days(&self.store)
    }

    pub fn set_retention_days(&self, days: u32) -> Result<()> {
        if days > 365 {
            return Err(bad("retention_days", "保留期至多 365 天", "retention is at most 365 days"));
        }
        self.store.set_setting(RETENTION_SETTING, &days.to_string())
    }

    /// See [`sweep`].
    pub fn sweep(&self) -> Result<Vec<String>> {
        sweep(&self.store)
    }
}

/// What a submission under `rec`'s mandate carries for the platform to check again.
fn mandate_proxy(
    cert: &AgentCertificate,
    cert_bytes: &[u8],
    rec: &PrincipalRecord,
    confirmation: Option<Value>,
) -> Result<Proxy> {
    let m = rec.mandate.as_ref().ok_or_else(|| Error::Internal("authorized without a mandate".into()))?;
    Ok(Proxy {
        agent_id: cert.agent_id.clone(),
        body: json!({
            "certificate": hex::encode(cert_bytes),
            "assurance": m.assurance,
            "mandate": m.signed_hex,
            "principal_key": rec.principal_key_hex,
            "confirmation": confirmation,
        }),
    })
}

fn scope_item(catalog: &Catalog, code: &str) -> ScopeItem {
    let name = catalog.target(code).map(|t| t.name().clone()).unwrap_or_else(|_| Text::new(code, code));
    ScopeItem { code: code.to_string(), name }
}

fn agent_id(store: &Store) -> String {
    stored_agent_id(store).ok().flatten().filter(|a| !a.is_empty()).unwrap_or_else(|| "agent".to_string())
}

/// The agent's own index of principals: one record per principal, each sealed under its subject (a
/// shredded principal's record is gone with its rows).
fn records(store: &Store) -> Result<Vec<PrincipalRecord>> {
    let mut out = Vec::new();
    for r in store.scan(PRINCIPALS, None, None)? {
        match r {
            Ok(r) => out.push(r.json()?),
            Err(Error::Shredded { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// On an agent's phone, a notice about a principal's case names the principal first (`【李秀英】高龄津贴申领：
/// 已受理`): the sync runner passes every notice through here before the shell posts it, so that with many
/// principals a notification never leaves unsaid whose case it is. Other notices are left as they are.
pub fn name_notice(store: &Store, n: &mut zhangban_base::notify::Notice) {
    if n.subject == SELF_SUBJECT {
        return;
    }
    if let Ok(Some(rec)) = access::load(store, &n.subject) {
        n.title_zh = format!("【{}】{}", rec.name, n.title_zh);
        n.title_en = format!("[{}] {}", rec.name, n.title_en);
    }
}

/// The case screen as the shells open a case by its id (the 待办 home, a notification): the owner's and a
/// family member's as they are; a principal's only under their mandate (scope `follow` on its items, checked
/// and audited like every access of agent mode), so a revoked principal's case no longer opens (issue 10).
/// What an agent does for the principal there is only 补正 and resending a refused case, through agent mode
/// ([`supply_case`], [`resubmit_case`]): rating, complaining and giving up are the principal's own (the core
/// refuses them to an agent), so they are not offered.
pub fn view_case(store: &Store, case_id: &str) -> Result<cases::CaseView> {
    let c = cases::get(store, case_id)?;
    let principal = store.subject_kind(&c.subject)? == SubjectKind::Principal;
    if principal {
        access::authorize(store, &agent_id(store), &c.subject, Action::Follow, &c.item_codes)?;
    }
    let mut view = cases::view_of(store, &c, None)?;
    if principal {
        let a = &mut view.actions;
        (a.rate, a.complain, a.discard) = (false, false, false);
    }
    Ok(view)
}

/// The agent for calls made by a case's id (the case screen): `None` for the owner's and a family member's case.
fn acting_for(store: &Arc<Store>, subject: &str) -> Result<Option<Agent>> {
    if store.subject_kind(subject)? != SubjectKind::Principal {
        return Ok(None);
    }
    Ok(Some(Agent::new(&Wallet::open(store.clone())?)))
}

/// 补正 from the case screen: the owner's and a family member's case as [`cases::supply`]; a principal's through
/// agent mode ([`Agent::supply`]: the mandate's scope `submit` on the case's items, audited), so the 待办 home
/// of an agent's phone leads to a 补正 that can be sent, and never without an active delegation.
pub fn supply_case(store: &Arc<Store>, case_id: &str, values: Value, attachments: &[String], note: &str) -> Result<()> {
    let c = cases::get(store, case_id)?;
    match acting_for(store, &c.subject)? {
        Some(agent) => agent.supply(&c.subject, case_id, values, attachments, note),
        None => cases::supply(store, case_id, values, attachments, note),
    }
}

/// Resending a refused case from the case screen: as [`supply_case`], a principal's through [`Agent::resubmit`].
pub fn resubmit_case(store: &Arc<Store>, case_id: &str, fix: &cases::Fix) -> Result<Case> {
    let c = cases::get(store, case_id)?;
    match acting_for(store, &c.subject)? {
        Some(agent) => agent.resubmit(&c.subject, case_id, fix),
        None => cases::resubmit(store, case_id, fix),
    }
}

/// A file for a case screen's 补正 or resend: the owner's and a family member's as the store's plain call
/// ([`Store::plain`]); a principal's through agent mode ([`Agent::attach`]: scope `fill`, audited).
pub fn attach_for(
    store: &Arc<Store>,
    subject: &str,
    name: &str,
    reader: &mut dyn std::io::Read,
) -> Result<AttachmentInfo> {
    match acting_for(store, subject)? {
        Some(agent) => agent.attach(subject, name, reader),
        None => store.plain().write_attachment(subject, name, reader),
    }
}

/// Marks the listed mandates revoked (the sync runner calls this with the platform's list).
pub fn apply_revocations(store: &Store, mandate_ids: &[String]) -> Result<Vec<String>> {
    let now = store.now();
    let agent = agent_id(store);
    let mut hit = Vec::new();
    // Remembered apart from the principal's record (which goes with their erasure): the platform sends
    // each revocation once, and the delegation's QR must not bring the mandate back later.
    if !mandate_ids.is_empty() {
        store.transaction(|t| {
            for id in mandate_ids {
                if t.get_opt(ENDED_MANDATES, &t.keyed_id(ENDED_MANDATES, id))?.is_none() {
                    remember_ended(t, id, "revoked", now)?;
                }
            }
            Ok(())
        })?;
    }
    for mut r in records(store)? {
        let Some(m) = r.mandate.as_mut() else { continue };
        if m.revoked_at.is_none() && mandate_ids.contains(&m.id) {
            m.revoked_at = Some(now);
            let subject = r.subject.clone();
            let id = m.id.clone();
            store.transaction(|t| {
                access::put_principal(t, &r)?;
                t.audit(&NewEntry {
                    actor: &agent,
                    action: "agent.revoked",
                    subject: &subject,
                    target: &id,
                    detail: json!({}),
                })?;
                Ok(())
            })?;
            hit.push(subject);
        }
    }
    Ok(hit)
}

pub fn retention_days(store: &Store) -> Result<u32> {
    Ok(store.setting_or_unset(RETENTION_SETTING)?.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RETENTION_DAYS))
}

/// When the principal's mandate ended, if it did: revoked, expired, or single use with its case final.
fn ended_at(store: &Store, r: &PrincipalRecord, now: i64) -> Result<Option<i64>> {
    let Some(m) = &r.mandate else { return Ok(None) };
    if let Some(at) = m.revoked_at {
        return Ok(Some(at));
    }
    if now > m.valid_until {
        return Ok(Some(m.valid_until));
    }
    if let Some(case_id) = &m.used_by_case {
        if let Some(at) = m.completed_at {
            return Ok(Some(at));
        }
        if cases::get(store, case_id).is_ok_and(|c| c.state.is_final()) {
            // First seen completed now: kept, so the retention counts from here.
            let subject = r.subject.clone();
            store.transaction(|t| {
                let mut rec: PrincipalRecord = t.get(PRINCIPALS, &subject)?.json()?;
                if let Some(m) = rec.mandate.as_mut() {
                    m.completed_at = Some(now);
                }
                access::put_principal(t, &rec)
            })?;
            return Ok(Some(now));
        }
    }
    Ok(None)
}

/// Days past a mandate's end after which a principal is erased even with accesses not reported yet (the
/// phone never reached the platform): the person's right to be forgotten and the store's size then win over
/// the report (ADR 0044 § 5).
pub const UNREPORTED_GRACE_DAYS: u32 = 30;

/// Erases (crypto-shreds) every principal whose mandate ended more than the retention period ago: their
/// key goes, and with it their record, drafts, cases, attachments and label. The sync runner calls it on
/// every run, after the access report. A principal with `agent.access` entries not reported yet is kept
/// until they were, at most [`UNREPORTED_GRACE_DAYS`] past the end. Returns the erased subjects.
pub fn sweep(store: &Store) -> Result<Vec<String>> {
    let now = store.now();
    let keep = i64::from(retention_days(store)?) * 86_400;
    let agent = agent_id(store);
    let mut erased = Vec::new();
    let records = records(store)?;
    publish_acting_once(store, &records)?;
    for r in records {
        if let Some(end) = ended_at(store, &r, now)? {
            if now >= end + keep {
                // Accesses not reported yet are reported first (the sync reports before it sweeps), while the
                // end is less than UNREPORTED_GRACE_DAYS past: then erasure wins (ADR 0044 § 5).
                if now < end + i64::from(UNREPORTED_GRACE_DAYS) * 86_400 && report::unreported(store, &r.subject)? {
                    continue;
                }
                if let Some(m) = &r.mandate {
                    let why = if m.revoked_at.is_some() {
                        "revoked"
                    } else if m.used_by_case.is_some() {
                        "used"
                    } else {
                        "validity"
                    };
                    store.transaction(|t| remember_ended(t, &m.id, why, end))?;
                }
                store.shred_subject(&r.subject)?;
                store.audit(&NewEntry {
                    actor: &agent,
                    action: "agent.erase",
                    subject: &r.subject,
                    target: &r.subject,
                    detail: json!({ "ended_at": end, "retention_days": keep / 86_400 }),
                })?;
                erased.push(r.subject);
            }
        }
    }
    Ok(erased)
}

/// Set once every principal's `acting` record was published (a store of before ADR 0043 holds revoked or used
/// principals without one, whom the reminder engine would otherwise keep on the home until their erasure).
const ACTING_PUBLISHED: &str = "agent.acting_published";

/// Publishes every principal's `acting` record once, on the first sweep of a store written before there was one.
fn publish_acting_once(store: &Store, records: &[PrincipalRecord]) -> Result<()> {
    if records.is_empty() || store.setting_or_unset(ACTING_PUBLISHED)?.is_some() {
        return Ok(());
    }
    store.transaction(|t| {
        for r in records {
            zhangban_base::acting::publish(t, &r.subject, access::acting_of(r).as_ref())?;
        }
        Ok(())
    })?;
    store.set_setting(ACTING_PUBLISHED, "1")
}

fn no_certificate() -> Error {
    denied(
        "certificate",
        "本机还没有帮办员证书：请先向平台注册为帮办员",
        "this phone has no agent certificate: register as an agent with the platform first",
    )
}

fn date(s: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(s, 0).map(|d| d.date_naive().format("%Y-%m-%d").to_string())
}

impl Agent {
    /// The licences a principal shared into their delegation, verified again now against this phone's
    /// trust list (issuer signature, digests, the principal's device signature): their disclosed elements.
    /// A grant that no longer verifies (a withdrawn issuer key, a damaged record) is left out.
    fn shared_licences(&self, principal: &str) -> Result<Vec<HeldLicence>> {
        let recs = self.store.list(SHARED_LICENCES, Some(principal))?;
        if recs.is_empty() {
            return Ok(Vec::new());
        }
        let Some(trust) = self.wallet.trust_list()? else { return Ok(Vec::new()) };
        let now = self.store.now();
        let mut out = Vec::with_capacity(recs.len());
        for r in recs {
            let sh: SharedLicence = r.json()?;
            let Ok(g) = hex::decode(&sh.grant_hex).map_err(|_| ()).and_then(|b| GrantToken::decode(&b).map_err(|_| ()))
            else {
                continue;
            };
            let Ok((_, t)) = zhangban_wallet::verify::check_licence(&g.signed, &trust, now, 0) else { continue };
            let Ok(items) = zhangban_wallet::verify::check_items(&g.signed, t, &g.items) else { continue };
            let ids: Vec<u32> = items.iter().map(|i| i.id).collect();
            if !g.signed.body.device_key.verify(&g.tbs(&ids), &g.device_signature) {
                continue;
            }
            let p = &g.signed.body;
            out.push(HeldLicence {
                licence_type: t.key().to_string(),
                licence_id: p.licence_id.clone(),
                as_of: date(p.valid_from.max(0)).unwrap_or_default(),
                valid_until: date(p.valid_until),
                fields: zhangban_wallet::verify::disclosed(t, &items)
                    .into_iter()
                    .map(|e| (e.key, serde_json::to_value(&e.value).unwrap_or(Value::Null)))
                    .collect(),
            });
        }
        Ok(out)
    }

    /// One element of a principal's licence, for the agent to use (scope: `fill`, and the per-field scope:
    /// the mandate must name this element of this licence type). Refused → `PermissionDenied` naming
    /// `element:<type>.<key>`; an element in scope the principal has not disclosed (not shared, not shown
    /// at the door) → `PermissionDenied` too. Both audited, as is the allowed use.
    pub fn licence_element(&self, principal: &str, licence_type: &str, key: &str) -> Result<Value> {
        let agent = self.agent_id();
        let rec = access::authorize(&self.store, &agent, principal, Action::Fill, &[])?;
        let m = rec.mandate.as_ref().ok_or_else(|| Error::Internal("authorized without a mandate".into()))?;
        if let Some(e) = access::element_refusal(m, licence_type, key) {
            access::audit_element(&self.store, &agent, principal, licence_type, key, Some(&e))?;
            return Err(e);
        }
        let value = self
            .held(principal)?
            .into_iter()
            .filter(|l| l.licence_type == licence_type)
            .find_map(|l| l.fields.get(key).cloned());
        let Some(value) = value else {
            let e = denied(
                &format!("element:{licence_type}.{key}"),
                "委托人没有向您出示或共享这一证照项目",
                "the principal has not shown or shared this licence element with you",
            );
            access::audit_element(&self.store, &agent, principal, licence_type, key, Some(&e))?;
            return Err(e);
        };
        access::audit_element(&self.store, &agent, principal, licence_type, key, None)?;
        Ok(value)
    }
}

/// A principal's licences on the agent's phone: those they shared into their delegation (verified again
/// against the issuers' signatures) and those they showed at the door, only theirs, and of each only the
/// elements the mandate's per-field scope covers (any other is left out and its refusal audited).
impl LicenceSource for Agent {
    fn held(&self, subject: &str) -> Result<Vec<HeldLicence>> {
        if subject == SELF_SUBJECT {
            return Ok(Vec::new());
        }
        let Some(m) = access::load(&self.store, subject)?.and_then(|r| r.mandate) else { return Ok(Vec::new()) };
        let mut out: Vec<HeldLicence> =
            self.store.list(PRINCIPAL_LICENCES, Some(subject))?.iter().map(|r| r.json()).collect::<Result<_>>()?;
        out.extend(self.shared_licences(subject)?);
        let agent = self.agent_id();
        for l in &mut out {
            let refused: Vec<(String, Error)> = l
                .fields
                .keys()
                .filter_map(|k| access::element_refusal(&m, &l.licence_type, k).map(|e| (k.clone(), e)))
                .collect();
            for (k, e) in refused {
                l.fields.remove(&k);
                access::audit_element(&self.store, &agent, subject, &l.licence_type, &k, Some(&e))?;
            }
        }
        Ok(out)
    }
}

/// The check a principal's draft runs when opened and before every edit ([`ActingGate`]).
struct Gate {
    store: Arc<Store>,
    agent_id: String,
    items: Vec<String>,
}

impl ActingGate for Gate {
    fn check(&self, subject: &str, _target: &str) -> Result<Editor> {
        access::authorize(&self.store, &self.agent_id, subject, Action::Fill, &self.items)?;
        Ok(Editor::Agent { agent: self.agent_id.clone() })
    }

    fn standing(&self, subject: &str) -> Result<()> {
        let rec = access::load(&self.store, subject)?;
        let scope = rec.as_ref().and_then(|r| r.mandate.as_ref()).map(|m| &m.scope);
        let refused = access::ended(rec.as_ref(), self.store.now())
            .or_else(|| scope.and_then(|sc| access::out_of_scope(sc, Action::Fill, &self.items)));
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
