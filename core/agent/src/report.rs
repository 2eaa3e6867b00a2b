//! The agent's access report (issue 11, "the principal's view"): every `agent.access` entry this phone
//! wrote for a principal (allowed or refused: fill, submit, follow, receive results, a licence element,
//! another principal's record) is reported to the platform at sync, which relays it to the principal's
//! own phone as a root-signed [`crate::RelayedActivity`] (docs/formats.md § 10, docs/platform-api.md
//! "Access reports", ADR 0044).
//!
//! * **The queue is the audit log itself.** An access entry is committed before the action's answer
//!   returns ([`crate::access`]); the report reads the entries after a kept cursor (collection
//!   [`REPORT_STATE`]), oldest first, and moves the cursor only after the platform acknowledged them. A
//!   kill -9 at any point loses no entry, and a report sent whose answer was lost is sent again: the
//!   platform keeps each (agent, entry number) once, so the principal sees each access once, in order.
//! * **Signed by the agent's device key** (the key its certificate names): a COSE_Sign1 over the entries
//!   ([`AccessReport`]), sent with the certificate and the mandates the entries are under (the platform
//!   checks that each is this agent's: a delegation's principal signature naming the agent's key, or a
//!   door consent the agent's key signed).
//! * **Bounded:** at most [`MAX_REPORT_ENTRIES`] entries and [`MAX_REPORT_BYTES`] signed bytes per report, and
//!   a body of at most [`MAX_REPORT_BODY`] (the platform's limit): fewer entries when over.
//! * **Which entries:** those naming a mandate this phone still holds (the principal's record, sealed under
//!   their key): her current one, or one a newer delegation replaced (kept in the record for this). Door consents are reported too: the platform keeps them for the clerk's view (the
//!   principal has no phone to relay to). Entries with no mandate (no delegation on this phone, a door
//!   intake not confirmed yet, the agent's own) and entries of a principal whose data was erased (retention
//!   over: their key is gone) are passed over. The retention sweep keeps a principal whose entries were not
//!   reported yet ([`unreported`]), up to [`crate::agent::UNREPORTED_GRACE_DAYS`] past the end.
//! * **Refused for good** (ADR 0045): a report the platform refuses with a 4xx that retrying cannot fix (its
//!   certificate ended or expired, an unknown agent, a mandate it does not take) is not rebuilt at every sync
//!   for ever. Its entries' range is kept in a bounded record for the agent, sealed under the agent's own key
//!   ([`UNDELIVERED`], [`Undelivered`]: how many, when, the platform's status and reason, typed and in both
//!   languages), the cursor moves past them and later entries flow ([`not_delivered`]). When the phone's
//!   certificate changes (renewed), each kept range is sent once more ([`prepare_resend`]); refused again, it
//!   waits for the next certificate.

use ciborium::value::Value as Cbor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zhangban_base::store::{PutOptions, Store, Txn, SELF_SUBJECT};
use zhangban_base::Text;
use zhangban_wallet::format::{
    as_array, as_bool, as_i64, as_text, as_u64, decode_cbor, encode_cbor, int, map, sign1_create, sign1_parse,
    sign1_payload, sign1_value, sign1_verify, text, uint, IntMap,
};
use zhangban_wallet::{DeviceSigner, WalletError};

use crate::access::{self, AccessEntry, PrincipalRecord, AUDIT_ACTION};
use crate::mandate::{key_id, Assurance, MANDATE_VERSION};
use crate::{denied, Result};

/// Where the report's cursor is kept (owner subject): `{"seq": <last audit entry the platform took>}`.
pub const REPORT_STATE: &str = "agent_access_report";
const CURSOR_ID: &str = "cursor";
/// Entries per report.
pub const MAX_REPORT_ENTRIES: usize = 100;
/// Largest signed report (the entries; the certificate and mandates travel beside it).
pub const MAX_REPORT_BYTES: usize = 32 * 1024;
/// Largest body of `POST /v1/agents/access` (the certificate, the mandates the entries are under, the signed
/// report, JSON with hex): the platform refuses a larger one, so [`prepare`] sends fewer entries rather than
/// one it would refuse. A single entry always fits: a delegation is at most
/// [`crate::mandate::MAX_DELEGATION_BYTES`] (a door consent less), the signed report [`MAX_REPORT_BYTES`],
/// each twice that in hex, far under this (checked by a test); were one not to, it is passed over (the
/// cursor moves past it) rather than block every later report.
pub const MAX_REPORT_BODY: usize = 256 * 1024;
// One entry always fits a body: the largest delegation or door consent, and the largest signed report, each in
// hex, with 16 KB for the certificate and the JSON around them. Checked when compiling.
const _: () = assert!(
    2 * crate::mandate::MAX_DELEGATION_BYTES + 2 * crate::mandate::MAX_SIGNED_BYTES + 2 * MAX_REPORT_BYTES + 16 * 1024
        < MAX_REPORT_BODY
);
/// Item codes kept per entry, and the longest text of an entry's field.
const MAX_ITEMS: usize = 20;
const MAX_FIELD: usize = 100;

/// One access as reported: the audit entry's number on the agent's phone, when, under which mandate, the
/// action, allowed or not, the items (or the licence element) and, when refused, what was missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedAccess {
    pub seq: u64,
    pub at: i64,
    pub mandate_id: String,
    /// `fill`, `submit`, `follow`, `receive_results`.
    pub action: String,
    pub allowed: bool,
    pub items: Vec<String>,
    /// `resident_id.address` when the access was to one licence element.
    pub element: Option<String>,
    /// What was missing when refused (`revoked`, `item:MZ-002`, …).
    pub missing: Option<String>,
}

/// A batch of accesses signed by the agent's device key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessReport {
    pub agent_id: String,
    pub entries: Vec<ReportedAccess>,
}

fn opt_text(v: Option<&str>) -> Cbor {
    v.map_or(Cbor::Null, text)
}

impl AccessReport {
    fn to_value(&self) -> Cbor {
        let entries = self
            .entries
            .iter()
            .map(|e| {
                map(vec![
                    (1, uint(e.seq)),
                    (2, int(e.at)),
                    (3, text(&e.mandate_id)),
                    (4, text(&e.action)),
                    (5, Cbor::Bool(e.allowed)),
                    (6, Cbor::Array(e.items.iter().map(|i| text(i)).collect())),
                    (7, opt_text(e.element.as_deref())),
                    (8, opt_text(e.missing.as_deref())),
                ])
            })
            .collect();
        map(vec![(1, uint(MANDATE_VERSION)), (2, text(&self.agent_id)), (3, Cbor::Array(entries))])
    }

    /// Signs with the agent's device key (`agent_key` is its public key, named by the COSE key id).
    pub fn sign(&self, agent_key: &[u8], sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        let s = sign1_create(&key_id(agent_key), encode_cbor(&self.to_value()), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// Checks the agent's signature with `agent_key` (from the agent's certificate) and the bounds: at most
    /// [`MAX_REPORT_ENTRIES`] entries in increasing order, each field bounded.
    pub fn verify(signed: &[u8], agent_key: &[u8]) -> Result<AccessReport> {
        if signed.len() > MAX_REPORT_BYTES {
            return Err(WalletError::TooLong { len: signed.len(), max: MAX_REPORT_BYTES }.into());
        }
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        if kid != key_id(agent_key) || !sign1_verify(&s, agent_key) {
            return Err(denied(
                "signature",
                "访问记录报告不是该帮办员的设备签名的",
                "the access report was not signed by this agent's device key",
            ));
        }
        let v = sign1_payload(&s)?;
        let w = "access report";
        let m = IntMap::new(&v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != MANDATE_VERSION {
            return Err(WalletError::UnsupportedVersion { version }.into());
        }
        let short = |v: &Cbor| -> Result<String> {
            let t = as_text(v, w)?;
            if t.is_empty() || t.chars().count() > MAX_FIELD {
                return Err(WalletError::TooLong { len: t.chars().count(), max: MAX_FIELD }.into());
            }
            Ok(t.to_string())
        };
        let opt = |v: Option<&Cbor>| -> Result<Option<String>> {
            match v {
                None | Some(Cbor::Null) => Ok(None),
                Some(v) => short(v).map(Some),
            }
        };
        let list = as_array(m.get(3, w)?, w)?;
        if list.len() > MAX_REPORT_ENTRIES {
            return Err(WalletError::TooLong { len: list.len(), max: MAX_REPORT_ENTRIES }.into());
        }
        let mut entries: Vec<ReportedAccess> = Vec::with_capacity(list.len());
        for e in list {
            let m = IntMap::new(e, w)?;
            let items = as_array(m.get(6, w)?, w)?;
            if items.len() > MAX_ITEMS {
                return Err(WalletError::TooLong { len: items.len(), max: MAX_ITEMS }.into());
            }
            let r = ReportedAccess {
                seq: as_u64(m.get(1, w)?, w)?,
                at: as_i64(m.get(2, w)?, w)?,
                mandate_id: short(m.get(3, w)?)?,
                action: short(m.get(4, w)?)?,
                allowed: as_bool(m.get(5, w)?, w)?,
                items: items.iter().map(short).collect::<Result<_>>()?,
                element: opt(m.opt(7))?,
                missing: opt(m.opt(8))?,
            };
            if crate::Action::parse(&r.action).is_none() {
                return Err(crate::bad("action", "访问记录的操作无法识别", "the access entry's action is unknown"));
            }
            if entries.last().is_some_and(|p| p.seq >= r.seq) {
                return Err(crate::bad("seq", "访问记录须按顺序排列", "access entries must be in increasing order"));
            }
            entries.push(r);
        }
        // The agent id is checked against the certificate by the platform.
        let agent_id = as_text(m.get(2, w)?, w)?.to_string();
        Ok(AccessReport { agent_id, entries })
    }
}

/// What the sync runner sends next: `body` for `POST /v1/agents/access` (None: the entries read were all
/// passed over, nothing to send), the first and the last audit entry it covers (the cursor once the platform
/// took it).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedReport {
    pub body: Option<Value>,
    pub from: i64,
    pub through: i64,
    pub entries: usize,
}

/// Access reports the platform refused for good, kept for the agent (owner subject: sealed under the agent's
/// own key), one record per refused range (ADR 0045).
pub const UNDELIVERED: &str = "agent_access_undelivered";
/// Records kept; past it the two oldest merge into one (their range and counts: a report sent again over
/// the merged range is harmless, the platform keeps each entry once).
pub const MAX_UNDELIVERED: usize = 50;

/// What the platform refused a report for (its `403 proxy_refused` names it: docs/platform-api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedFor {
    /// The agent's certificate: expired, ended by the service centre, or issued for another phone.
    Certificate,
    /// The agent is not known to the platform.
    Agent,
    /// The report's signature.
    Signature,
    /// A mandate the report carried.
    Mandate,
    /// Any other refusal of the request (a 4xx other than 401, 408, 429).
    Request,
}

impl RefusedFor {
    /// From the platform's answer: a `403 proxy_refused` message begins "proxy refused (<what>): …".
    pub fn from_answer(status: u16, message_en: &str) -> RefusedFor {
        let what = message_en.strip_prefix("proxy refused (").and_then(|r| r.split_once(')')).map(|(w, _)| w);
        match (status, what) {
            (403, Some("certificate")) => RefusedFor::Certificate,
            (403, Some("agent")) => RefusedFor::Agent,
            (403, Some("signature")) => RefusedFor::Signature,
            (403, Some("mandate")) => RefusedFor::Mandate,
            _ => RefusedFor::Request,
        }
    }
}

/// A range of access entries the platform refused for good: the principals did not see them (ADR 0045).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undelivered {
    /// The audit entries it covers, first and last (entries in it that a report passes over are not counted).
    pub from: i64,
    pub through: i64,
    /// Entries the refused report carried.
    pub entries: u32,
    /// When the platform refused it (the last time).
    pub at: i64,
    pub status: u16,
    pub refused_for: RefusedFor,
    /// The platform's reason, in both languages.
    pub reason: Text,
    /// The certificate it was refused under (a fingerprint): after a renewal the range is sent once more.
    pub certificate: String,
}

fn undelivered_id(from: i64) -> String {
    format!("{from:020}")
}

/// The fingerprint of the phone's current certificate (None: not an agent's phone).
fn certificate_mark(store: &Store) -> Result<Option<String>> {
    Ok(crate::access::stored_certificate(store)?.map(|(hex, _)| {
        let d = ring::digest::digest(&ring::digest::SHA256, hex.as_bytes());
        hex::encode(&d.as_ref()[..16])
    }))
}

/// The kept ranges the platform refused for good, oldest first.
pub fn undelivered(store: &Store) -> Result<Vec<Undelivered>> {
    let mut v: Vec<Undelivered> =
        store.list(UNDELIVERED, Some(SELF_SUBJECT))?.iter().map(|r| r.json()).collect::<Result<_>>()?;
    zhangban_base::sort::sort_by_key(&mut v, |u| u.from);
    Ok(v)
}

fn put_undelivered(t: &mut Txn<'_>, u: &Undelivered) -> Result<()> {
    t.put_json(UNDELIVERED, &undelivered_id(u.from), SELF_SUBJECT, u, PutOptions::default())
}

/// The platform refused report `p` for good (`status`, `reason`): its range is kept for the agent
/// ([`UNDELIVERED`], bounded) and the cursor moves past it, in one transaction, so later entries flow.
pub fn not_delivered(store: &Store, p: &PreparedReport, status: u16, reason: &Text) -> Result<Undelivered> {
    let certificate = certificate_mark(store)?.unwrap_or_default();
    let kept = undelivered(store)?;
    store.transaction(|t| {
        let u = Undelivered {
            from: p.from,
            through: p.through,
            entries: p.entries as u32,
            at: t.now(),
            status,
            refused_for: RefusedFor::from_answer(status, &reason.en),
            reason: cut_text(reason),
            certificate: certificate.clone(),
        };
        put_undelivered(t, &u)?;
        // Bounded: the two oldest merge while there are too many.
        let mut all = kept.clone();
        all.push(u.clone());
        while all.len() > MAX_UNDELIVERED {
            let (a, b) = (all.remove(0), all.remove(0));
            t.delete(UNDELIVERED, &undelivered_id(a.from))?;
            t.delete(UNDELIVERED, &undelivered_id(b.from))?;
            let merged = Undelivered { from: a.from, entries: a.entries.saturating_add(b.entries), ..b };
            put_undelivered(t, &merged)?;
            all.insert(0, merged);
        }
        move_cursor(t, p.through)?;
        Ok(u)
    })
}

/// What the agent's card says of the kept ranges (None: none kept): how many entries did not reach the
/// principals, the platform's last reason, and that they go again with a renewed certificate.
pub fn not_delivered_text(kept: &[Undelivered]) -> Option<Text> {
    let last = kept.iter().max_by_key(|u| u.at)?;
    let n = i64::from(kept.iter().map(|u| u.entries).fold(0u32, u32::saturating_add));
    let head = Text::count(
        n,
        "{n} 条访问记录被平台拒收，未能送达委托人",
        "{n} access entry was refused by the platform and has not reached the principal",
        "{n} access entries were refused by the platform and have not reached the principals",
    );
    // Why: the platform's own words without its code ("代办被拒绝（certificate）：" / "proxy refused
    // (certificate): "), else the core's for what it was refused for.
    let detail = |s: &str, open: &str, close: &str| {
        s.strip_prefix(open).and_then(|r| r.split_once(close)).map(|(_, d)| d.trim().to_string())
    };
    let platform = match (
        detail(&last.reason.zh, "代办被拒绝（", "）：").filter(|d| !d.is_empty()),
        detail(&last.reason.en, "proxy refused (", "): ").filter(|d| !d.is_empty()),
    ) {
        (Some(zh), Some(en)) => Some(Text::new(zh, en)),
        _ => None,
    };
    let why = platform.unwrap_or_else(|| match last.refused_for {
        RefusedFor::Certificate => {
            Text::new("平台已不再接受本机的帮办员证", "the platform no longer accepts this phone's agent card")
        }
        RefusedFor::Agent => Text::new("平台没有这位帮办员的登记", "the platform has no record of this agent"),
        RefusedFor::Signature => {
            Text::new("记录的签名未通过平台核验", "the platform could not verify the records' signature")
        }
        RefusedFor::Mandate => {
            Text::new("平台不接受其中的授权委托", "the platform did not accept a delegation in them")
        }
        RefusedFor::Request => last.reason.clone(),
    });
    Some(Text::new(
        format!("{}（{}）。证书更新后将重新发送。", head.zh, why.zh),
        format!(
            "{} ({}). {} sent again once the certificate is renewed.",
            head.en,
            why.en,
            if n == 1 { "It is" } else { "They are" }
        ),
    ))
}

fn cut_text(t: &Text) -> Text {
    let cut = |s: &str| s.chars().take(300).collect::<String>();
    Text::new(cut(&t.zh), cut(&t.en))
}

/// After the phone's certificate changed (renewed), the first kept range refused under another certificate,
/// prepared to be sent once more (None: nothing to send again). A range none of whose entries a report can
/// carry any more (their principals erased) is dropped.
pub fn prepare_resend(store: &Store, signer: &dyn DeviceSigner) -> Result<Option<(Undelivered, PreparedReport)>> {
    let Some(mark) = certificate_mark(store)? else { return Ok(None) };
    for u in undelivered(store)?.into_iter().filter(|u| u.certificate != mark) {
        match prepare_range(store, signer, u.from - 1, u.through)? {
            Some(p) => return Ok(Some((u, p))),
            None => {
                store.delete(UNDELIVERED, &undelivered_id(u.from))?;
            }
        }
    }
    Ok(None)
}

/// The platform took (or had nothing to take of) `p`, sent again from the kept range `u`: the range shrinks
/// past it, and goes when it is all sent.
pub fn resent(store: &Store, u: &Undelivered, p: &PreparedReport) -> Result<()> {
    store.transaction(|t| {
        t.delete(UNDELIVERED, &undelivered_id(u.from))?;
        if p.through < u.through {
            let rest =
                Undelivered { from: p.through + 1, entries: u.entries.saturating_sub(p.entries as u32), ..u.clone() };
            put_undelivered(t, &rest)?;
        }
        Ok(())
    })
}

/// The kept range `u`, sent again, was refused again: it waits for the next certificate, with the new reason.
pub fn refused_again(store: &Store, u: &Undelivered, status: u16, reason: &Text) -> Result<()> {
    let certificate = certificate_mark(store)?.unwrap_or_default();
    store.transaction(|t| {
        let again = Undelivered {
            at: t.now(),
            status,
            refused_for: RefusedFor::from_answer(status, &reason.en),
            reason: cut_text(reason),
            certificate: certificate.clone(),
            ..u.clone()
        };
        put_undelivered(t, &again)
    })
}

/// The last audit entry number the platform took (0: none yet).
pub fn cursor(store: &Store) -> Result<i64> {
    Ok(store
        .get_opt(REPORT_STATE, CURSOR_ID)?
        .map(|r| r.json::<Value>())
        .transpose()?
        .and_then(|v| v.get("seq").and_then(Value::as_i64))
        .unwrap_or(0))
}

/// The platform took the report through audit entry `through`: the cursor moves there (never back).
pub fn reported(store: &Store, through: i64) -> Result<()> {
    store.transaction(|t| move_cursor(t, through))
}

fn move_cursor(t: &mut Txn<'_>, through: i64) -> Result<()> {
    let now = match t.get_opt(REPORT_STATE, CURSOR_ID)? {
        Some(r) => r.json::<Value>()?.get("seq").and_then(Value::as_i64).unwrap_or(0),
        None => 0,
    };
    if through > now {
        t.put_json(REPORT_STATE, CURSOR_ID, SELF_SUBJECT, &json!({ "seq": through }), PutOptions::default())?;
    }
    Ok(())
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_FIELD).collect()
}

/// The next report of this agent's phone (None: not an agent's phone, or nothing after the cursor), signed
/// with `signer` (the device key its certificate names).
pub fn prepare(store: &Store, signer: &dyn DeviceSigner) -> Result<Option<PreparedReport>> {
    prepare_range(store, signer, cursor(store)?, i64::MAX)
}

/// The report of the entries after `after` up to `upto` (a kept range sent again, or up to the end).
fn prepare_range(store: &Store, signer: &dyn DeviceSigner, after: i64, upto: i64) -> Result<Option<PreparedReport>> {
    let Some((cert_hex, agent_id)) = crate::access::stored_certificate(store)? else { return Ok(None) };
    let mut read = store.audit_entries_after(AUDIT_ACTION, after, MAX_REPORT_ENTRIES)?;
    read.retain(|e| e.seq <= upto);
    let Some(last) = read.last().map(|e| e.seq) else { return Ok(None) };
    let first = read.first().map_or(last, |e| e.seq);
    let mut entries = Vec::with_capacity(read.len());
    // mandate id → (assurance, signed hex)
    let mut mandates: Vec<(String, Assurance, String)> = Vec::new();
    for e in &read {
        let Ok(a) = serde_json::from_value::<AccessEntry>(e.detail.clone()) else { continue };
        let Some(rec) = access::load(store, &e.subject)? else { continue };
        let Some(id) = entry_mandate(&rec, &a, e.at) else { continue };
        // The mandate held now, or one a newer delegation replaced (kept in the record for this).
        let Some((assurance, hex)) = rec.mandate_for_report(&id) else { continue };
        if u64::try_from(e.seq).is_err() {
            continue;
        }
        if !mandates.iter().any(|(i, _, _)| *i == id) {
            mandates.push((id.clone(), assurance, hex.to_string()));
        }
        entries.push(ReportedAccess {
            seq: e.seq as u64,
            at: e.at,
            mandate_id: id,
            action: a.action.as_str().to_string(),
            allowed: a.allowed,
            items: a.items.iter().take(MAX_ITEMS).map(|i| cut(i)).filter(|i| !i.is_empty()).collect(),
            element: a.element.as_deref().map(cut).filter(|s| !s.is_empty()),
            missing: a.missing.as_deref().map(cut).filter(|s| !s.is_empty()),
        });
    }
    if entries.is_empty() {
        return Ok(Some(PreparedReport { body: None, from: first, through: last, entries: 0 }));
    }
    let key = signer.public_key();
    let all = entries.len();
    // Fewer entries when the signed report or the body would be too large: the cursor then stops at the last
    // one sent (entries passed over after it are read again next time, and passed over again).
    loop {
        let report = AccessReport { agent_id: agent_id.clone(), entries: entries.clone() };
        let signed = report.sign(&key, |m| signer.sign(m))?;
        let used = mandates.iter().filter(|(i, _, _)| entries.iter().any(|e| e.mandate_id == *i));
        let body = json!({
            "certificate": cert_hex,
            "mandates": used.map(|(id, a, hex)| json!({
                "id": id, "assurance": if *a == Assurance::Door { "door" } else { "delegation" }, "mandate": hex,
            }))
                .collect::<Vec<_>>(),
            "report": hex::encode(&signed),
        });
        let fits = signed.len() <= MAX_REPORT_BYTES && body_len(&body) <= MAX_REPORT_BODY;
        if fits || entries.len() == 1 {
            let through = match entries.last() {
                Some(e) if entries.len() < all => e.seq as i64,
                _ => last,
            };
            // One entry that cannot fit alone would be refused for ever: passed over, never blocking the rest.
            let (body, n) = if fits { (Some(body), entries.len()) } else { (None, 0) };
            return Ok(Some(PreparedReport { body, from: first, through, entries: n }));
        }
        entries.truncate(entries.len() / 2);
    }
}

/// The size of `body` as sent (compact JSON).
fn body_len(body: &Value) -> usize {
    serde_json::to_vec(body).map_or(usize::MAX, |b| b.len())
}

/// The mandate an access entry is reported under: the one it names, or for an entry written before entries
/// named their mandate, the one held then if it is today's.
fn entry_mandate(rec: &PrincipalRecord, a: &AccessEntry, at: i64) -> Option<String> {
    match &a.mandate {
        Some(id) => Some(id.clone()),
        None => rec.mandate.as_ref().filter(|m| at >= m.valid_from).map(|m| m.id.clone()),
    }
}

/// Whether `subject` has an access entry after the cursor that a report would still send (one under a
/// mandate their record holds or kept): the retention sweep keeps such a principal until it was reported
/// (up to [`crate::agent::UNREPORTED_GRACE_DAYS`] past the end).
///
/// The ranges the platform refused for good ([`Undelivered`]) count too: they are sent again after a renewed
/// certificate, and only a principal still on the phone can be reported then (ADR 0045; the same cap).
pub fn unreported(store: &Store, subject: &str) -> Result<bool> {
    let Some(rec) = access::load(store, subject)? else { return Ok(false) };
    let mut ranges = vec![(cursor(store)?, i64::MAX)];
    ranges.extend(undelivered(store)?.iter().map(|u| (u.from - 1, u.through)));
    for (mut after, upto) in ranges {
        loop {
            let read = store.audit_entries_after(AUDIT_ACTION, after, 500)?;
            let Some(last) = read.last().map(|e| e.seq) else { break };
            for e in read.iter().filter(|e| e.subject == subject && e.seq <= upto) {
                let Ok(a) = serde_json::from_value::<AccessEntry>(e.detail.clone()) else { continue };
                if entry_mandate(&rec, &a, e.at).is_some_and(|id| rec.mandate_for_report(&id).is_some()) {
                    return Ok(true);
                }
            }
            if last >= upto {
                break;
            }
            after = last;
        }
    }
    Ok(false)
}
