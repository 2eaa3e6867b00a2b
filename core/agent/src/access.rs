//! The scope check: every action an agent takes for a principal passes [`authorize`], which reads the
//! principal's mandate on this phone and either allows it or returns [`Error::PermissionDenied`] naming
//! what is missing. Both outcomes are written to the hash-chained audit log as `agent.access`
//! (committed before the answer returns, so a refusal is on record even though nothing else happens).

use serde::{Deserialize, Serialize};
use serde_json::json;
use zhangban_base::acting::{self, Acting, End};
use zhangban_base::audit::NewEntry;
use zhangban_base::deadline::{self, Deadline, DeadlineKind};
use zhangban_base::store::{PutOptions, Store, Txn};

use crate::mandate::{Action, Assurance, Scope};
use crate::{denied, Error, Result};

/// One record per principal on the agent's phone (collection [`PRINCIPALS`], id = the principal's
/// subject id, sealed under that subject's key: shredding the subject erases it too).
pub const PRINCIPALS: &str = "agent_principal";
/// The agent's certificate (owner subject).
pub const CERTIFICATE: &str = "agent_cert";

/// The installed certificate as kept in [`CERTIFICATE`] (id `current`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredCert {
    pub(crate) signed_hex: String,
    /// From the certificate, checked when it was installed.
    #[serde(default)]
    pub(crate) agent_id: String,
}

/// The agent id of this phone's installed certificate, if any.
pub(crate) fn stored_agent_id(store: &Store) -> Result<Option<String>> {
    Ok(store.get_opt(CERTIFICATE, "current")?.map(|r| r.json::<StoredCert>()).transpose()?.map(|c| c.agent_id))
}

/// The installed certificate (hex of its signed bytes) and its agent id, if any.
pub(crate) fn stored_certificate(store: &Store) -> Result<Option<(String, String)>> {
    Ok(store
        .get_opt(CERTIFICATE, "current")?
        .map(|r| r.json::<StoredCert>())
        .transpose()?
        .map(|c| (c.signed_hex, c.agent_id)))
}
/// Days a principal's data is kept after its mandate ended (expired, revoked or used and completed)
/// before it is crypto-shredded: a plaintext setting (`Store::setting`), default [`DEFAULT_RETENTION_DAYS`].
pub const RETENTION_SETTING: &str = "agent.retention_days";
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
pub const AUDIT_ACTION: &str = "agent.access";

/// The mandate as kept on the agent's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateRecord {
    pub id: String,
    pub assurance: Assurance,
    /// The signed delegation or door consent, hex (sent with every submission under it).
    pub signed_hex: String,
    pub scope: Scope,
    pub valid_from: i64,
    pub valid_until: i64,
    pub single_use: bool,
    /// The case a single-use mandate was used for.
    #[serde(default)]
    pub used_by_case: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// When the work under it was seen completed (single use, its case final).
    #[serde(default)]
    pub completed_at: Option<i64>,
}

impl MandateRecord {
    /// A mandate of `scope` only (for checking a delegation's shared licences before it is kept).
    pub fn of_scope(scope: &Scope) -> MandateRecord {
        MandateRecord {
            id: String::new(),
            assurance: Assurance::Delegation,
            signed_hex: String::new(),
            scope: scope.clone(),
            valid_from: 0,
            valid_until: 0,
            single_use: false,
            used_by_case: None,
            revoked_at: None,
            completed_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRecord {
    pub subject: String,
    pub name: String,
    /// The principal's ID number, masked, for the agent's screens.
    pub id_masked: String,
    /// The principal's device key, when they delegated from a phone (events reach it too).
    #[serde(default)]
    pub principal_key_hex: Option<String>,
    pub created_at: i64,
    /// None while a door intake has not been confirmed yet.
    pub mandate: Option<MandateRecord>,
    /// The mandates a newer one replaced (a delegation renewed: the principal added an item), newest last,
    /// at most [`MAX_PREVIOUS_MANDATES`]: the accesses made under them are still reported to the platform,
    /// which needs each one's signed text to relay them ([`crate::report`], ADR 0044 § 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<PreviousMandate>,
}

/// Replaced mandates kept in a principal's record (sealed with it, erased with it).
pub const MAX_PREVIOUS_MANDATES: usize = 8;

/// A mandate a newer one replaced: what the access report sends with the entries made under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousMandate {
    pub id: String,
    pub assurance: Assurance,
    pub signed_hex: String,
}

impl PrincipalRecord {
    /// Puts `m` in place of the mandate held, keeping the one it replaces (when another) among
    /// [`PrincipalRecord::previous`], the oldest dropped past [`MAX_PREVIOUS_MANDATES`].
    pub fn replace_mandate(&mut self, m: MandateRecord) {
        if let Some(old) = self.mandate.take().filter(|o| o.id != m.id) {
            self.previous.retain(|p| p.id != old.id && p.id != m.id);
            self.previous.push(PreviousMandate { id: old.id, assurance: old.assurance, signed_hex: old.signed_hex });
            let over = self.previous.len().saturating_sub(MAX_PREVIOUS_MANDATES);
            self.previous.drain(..over);
        }
        self.previous.retain(|p| p.id != m.id);
        self.mandate = Some(m);
    }

    /// The id, assurance and signed text of mandate `id` if this record holds it now or kept it.
    pub fn mandate_for_report(&self, id: &str) -> Option<(Assurance, &str)> {
        if let Some(m) = self.mandate.as_ref().filter(|m| m.id == id) {
            return Some((m.assurance, &m.signed_hex));
        }
        self.previous.iter().find(|p| p.id == id).map(|p| (p.assurance, p.signed_hex.as_str()))
    }
}

/// Writes a principal's record and, in the same transaction, publishes when their mandate runs out for the
/// reminder engine (`zhangban_base::deadline`; withdrawn once it was revoked or used) and whether it ended
/// (`zhangban_base::acting`: an ended principal leaves the 待办 home and the plan at once, ADR 0043):
/// reminders may not depend on agent mode, so agent mode tells them through base.
pub fn put_principal(t: &mut Txn<'_>, rec: &PrincipalRecord) -> Result<()> {
    t.put_json(PRINCIPALS, &rec.subject, &rec.subject, rec, PutOptions::default())?;
    let runs_out = rec.mandate.as_ref().filter(|m| m.revoked_at.is_none() && m.used_by_case.is_none());
    let d =
        runs_out.map(|m| Deadline { kind: DeadlineKind::Delegation, name: rec.name.clone(), ends_at: m.valid_until });
    deadline::publish(t, &format!("delegation:{}", rec.subject), &rec.subject, d.as_ref())?;
    acting::publish(t, &rec.subject, acting_of(rec).as_ref())
}

/// What the other features learn of a principal's mandate (`zhangban_base::acting`): when it runs out by the
/// clock, and whether it ended otherwise — revoked, or single use with its case final. None before a door
/// intake is confirmed.
pub fn acting_of(rec: &PrincipalRecord) -> Option<Acting> {
    rec.mandate.as_ref().map(|m| Acting {
        valid_until: m.valid_until,
        ended: match (m.revoked_at, m.completed_at) {
            (Some(at), _) => Some((End::Revoked, at)),
            (None, Some(at)) => Some((End::Completed, at)),
            (None, None) => None,
        },
    })
}

/// An `agent.access` entry as the audit log keeps it (detail part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    pub action: Action,
    pub items: Vec<String>,
    pub allowed: bool,
    /// What was missing when refused.
    pub missing: Option<String>,
    /// The licence element asked for (`resident_id.address`), when the access was to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// The mandate the principal's record held at the time (None: no mandate on this phone): the access
    /// report names it to the platform, which relays the entry to that mandate's principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate: Option<String>,
}

/// The id of the mandate `principal` has on this phone now, if any (what an `agent.access` entry names).
fn mandate_of(store: &Store, principal: &str) -> Option<String> {
    load(store, principal).ok().flatten().and_then(|r| r.mandate).map(|m| m.id)
}

pub fn load(store: &Store, principal: &str) -> Result<Option<PrincipalRecord>> {
    match store.get_opt(PRINCIPALS, principal) {
        Ok(Some(r)) if r.subject == principal => Ok(Some(r.json()?)),
        Ok(_) => Ok(None),
        Err(Error::Shredded { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How far the agent's phone's clock may be behind the clock of the phone that signed a delegation: a delegation
/// starts when it is signed, and two phones' clocks differ by seconds or minutes, so one scanned at once from a
/// phone a little ahead is usable at once (not "not valid at this time" until the agent's clock catches up). The
/// end of a mandate is not stretched.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// Whether the mandate ended for good: no record (never delegated, or erased), revoked, or out of its
/// validity. What [`refusal`] checks first, and all a read of an open draft checks (not audited).
pub fn ended(rec: Option<&PrincipalRecord>, now: i64) -> Option<Error> {
    let Some(rec) = rec else {
        return Some(denied(
            "delegation",
            "本机没有该委托人的授权委托（或其数据已清除）",
            "there is no delegation from this principal on this phone (or their data was erased)",
        ));
    };
    let m = rec.mandate.as_ref()?;
    if m.revoked_at.is_some() {
        return Some(denied("revoked", "委托人已撤销该授权委托", "the principal revoked this delegation"));
    }
    if now + CLOCK_SKEW_SECS < m.valid_from || now > m.valid_until {
        return Some(denied(
            "validity",
            "授权委托不在有效期内，请委托人重新授权",
            "the delegation is not valid at this time; ask the principal for a new one",
        ));
    }
    None
}

/// Why `action` on `items` is not allowed for `rec` at `now`, or None when it is.
pub fn refusal(rec: Option<&PrincipalRecord>, action: Action, items: &[String], now: i64) -> Option<Error> {
    if let Some(e) = ended(rec, now) {
        return Some(e);
    }
    let Some(rec) = rec else {
        return ended(None, now); // (not reached: `ended` refuses a missing record)
    };
    let Some(m) = rec.mandate.as_ref() else {
        return Some(denied(
            "delegation",
            "上门确认尚未完成：请先采集证件照、本人照片和签名",
            "the door consent is not complete: capture the ID photo, the principal's photo and the signature first",
        ));
    };
    if m.single_use && m.used_by_case.is_some() && matches!(action, Action::Fill | Action::Submit) {
        return Some(denied(
            "used",
            "该授权委托仅限一次，已用于一件申请",
            "this single-use delegation was already used for an application",
        ));
    }
    out_of_scope(&m.scope, action, items)
}

/// Whether `action` on `items` is outside `scope` (a newer, narrower delegation may have replaced the one a draft
/// was opened under).
pub fn out_of_scope(scope: &Scope, action: Action, items: &[String]) -> Option<Error> {
    if !scope.actions.contains(&action) {
        return Some(denied(
            &format!("action:{}", action.as_str()),
            &format!("授权范围不含“{}”", action.label_zh()),
            &format!("the delegation does not allow '{}'", action.label_en()),
        ));
    }
    if let Some(i) = items.iter().find(|i| !scope.items.contains(i)) {
        return Some(denied(
            &format!("item:{i}"),
            &format!("授权范围不含事项 {i}"),
            &format!("the delegation does not cover service item {i}"),
        ));
    }
    None
}

/// Checks `action` on `items` for `principal`, writes the `agent.access` audit entry (allowed or
/// refused) and returns the principal's record when allowed.
pub fn authorize(
    store: &Store,
    agent_id: &str,
    principal: &str,
    action: Action,
    items: &[String],
) -> Result<PrincipalRecord> {
    let now = store.now();
    let rec = load(store, principal)?;
    let refused = refusal(rec.as_ref(), action, items, now);
    let mandate = rec.as_ref().and_then(|r| r.mandate.as_ref()).map(|m| m.id.clone());
    audit_with(store, agent_id, principal, action, items, refused.as_ref(), mandate)?;
    match (refused, rec) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => Ok(r),
        (None, None) => Err(Error::Internal("authorized without a record".into())),
    }
}

/// [`authorize`] for an operation on one case (a resubmission): a single-use mandate that was used for
/// THIS case still allows it (the refused submission never reached the platform as a use).
pub fn authorize_for_case(
    store: &Store,
    agent_id: &str,
    principal: &str,
    action: Action,
    items: &[String],
    case_id: &str,
) -> Result<PrincipalRecord> {
    let now = store.now();
    let rec = load(store, principal)?;
    let mut seen = rec.clone();
    if let Some(m) = seen.as_mut().and_then(|r| r.mandate.as_mut()) {
        if m.used_by_case.as_deref() == Some(case_id) {
            m.used_by_case = None;
        }
    }
    let refused = refusal(seen.as_ref(), action, items, now);
    let mandate = rec.as_ref().and_then(|r| r.mandate.as_ref()).map(|m| m.id.clone());
    audit_with(store, agent_id, principal, action, items, refused.as_ref(), mandate)?;
    match (refused, rec) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => Ok(r),
        (None, None) => Err(Error::Internal("authorized without a record".into())),
    }
}

/// Writes one `agent.access` entry.
pub fn audit(
    store: &Store,
    agent_id: &str,
    principal: &str,
    action: Action,
    items: &[String],
    refused: Option<&Error>,
) -> Result<()> {
    audit_with(store, agent_id, principal, action, items, refused, mandate_of(store, principal))
}

/// [`audit`] naming the mandate the caller read already.
fn audit_with(
    store: &Store,
    agent_id: &str,
    principal: &str,
    action: Action,
    items: &[String],
    refused: Option<&Error>,
    mandate: Option<String>,
) -> Result<()> {
    let missing = match refused {
        Some(Error::PermissionDenied { missing, .. }) => Some(missing.clone()),
        Some(_) => Some("error".to_string()),
        None => None,
    };
    let entry =
        AccessEntry { action, items: items.to_vec(), allowed: refused.is_none(), missing, element: None, mandate };
    store.audit(&NewEntry {
        actor: agent_id,
        action: AUDIT_ACTION,
        subject: principal,
        target: items.first().map(String::as_str).unwrap_or(action.as_str()),
        detail: json!(entry),
    })?;
    Ok(())
}

/// Why the agent may not use element `key` of the principal's licence of type `licence_type` under mandate
/// `m` (per-field scope), or None when it may. A door consent has no element lists: the principal is there
/// and chooses what their 亮证 discloses.
pub fn element_refusal(m: &MandateRecord, licence_type: &str, key: &str) -> Option<Error> {
    if m.assurance == Assurance::Door || m.scope.element_allowed(licence_type, key) {
        return None;
    }
    let (zh_t, en_t) = zhangban_wallet::LicenceType::from_key(licence_type)
        .map(|t| {
            let name = t.element_by_key(key).map(|d| (d.name_zh, d.name_en)).unwrap_or((key, key));
            (format!("{}的“{}”", t.name_zh(), name.0), format!("'{}' of the {}", name.1, t.name_en()))
        })
        .unwrap_or_else(|| (format!("{licence_type}.{key}"), format!("{licence_type}.{key}")));
    Some(denied(
        &format!("element:{licence_type}.{key}"),
        &format!("授权范围不含证照项目{zh_t}"),
        &format!("the delegation does not cover {en_t}"),
    ))
}

/// Writes the `agent.access` entry of one use of a licence element (allowed or refused).
pub fn audit_element(
    store: &Store,
    agent_id: &str,
    principal: &str,
    licence_type: &str,
    key: &str,
    refused: Option<&Error>,
) -> Result<()> {
    let element = format!("{licence_type}.{key}");
    let missing = match refused {
        Some(Error::PermissionDenied { missing, .. }) => Some(missing.clone()),
        Some(_) => Some("error".to_string()),
        None => None,
    };
    let entry = AccessEntry {
        action: Action::Fill,
        items: vec![],
        allowed: refused.is_none(),
        missing,
        element: Some(element),
        mandate: mandate_of(store, principal),
    };
    store.audit(&NewEntry {
        actor: agent_id,
        action: AUDIT_ACTION,
        subject: principal,
        target: &format!("element:{licence_type}.{key}"),
        detail: json!(entry),
    })?;
    Ok(())
}

/// A refusal for reaching another principal's record through this one's mandate (audited).
pub fn other_principal(store: &Store, agent_id: &str, principal: &str, action: Action) -> Error {
    let e = denied(
        "principal",
        "该记录属于另一位委托人，不能在此委托下查看或办理",
        "this record belongs to another principal; it cannot be used under this delegation",
    );
    match audit(store, agent_id, principal, action, &[], Some(&e)) {
        Ok(()) => e,
        Err(a) => a,
    }
}
