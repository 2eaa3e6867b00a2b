//! The outbox: every outgoing operation (submission, supplement, rating, complaint, 催办, and the revocations
//! of a licence grant or of a delegation), stored in the same transaction as the change that caused it, with
//! an idempotency key made once and kept across retries and restarts. There is no other queue: the sync
//! runner sends all of them, in order per target, with the same retry, quarantine and hold rules. Records live in collection `"outbox"`, tagged `pending` or `quarantined`; a finished
//! operation is deleted in the same transaction that stores its result (the receipt).

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{PutOptions, Store, Txn};
use crate::{Error, Result};

pub const COLLECTION: &str = "outbox";
pub const PENDING: &str = "pending";
pub const QUARANTINED: &str = "quarantined";
/// Setting that holds the whole outbox while present (its value: the platform id of the phone a restored
/// store came from). A store restored from a backup sends nothing until the platform has moved the old
/// phone's cases and idempotency keys to this phone (`zhangban-sync`, `rebind`): only then does a kept
/// key find the first answer, so an operation the old phone already sent is not filed twice.
pub const HOLD_SETTING: &str = "outbox.hold_until_transfer_from";

/// A request the platform refused (4xx): shown to the person, kept out of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub status: u16,
    /// Why, in English (or the only language the platform gave).
    pub message: String,
    /// Why, in Chinese; empty: `message` stands for both (see [`Problem::text`]).
    #[serde(default)]
    pub message_zh: String,
    pub op: String,
}

impl Problem {
    /// A refusal worded in both languages (`reason.zh` may be empty: `reason.en` then stands for both).
    pub fn new(status: u16, reason: &crate::Text, op: impl Into<String>) -> Problem {
        let cut = |s: &str| s.chars().take(500).collect::<String>();
        Problem { status, message: cut(&reason.en), message_zh: cut(&reason.zh), op: op.into() }
    }

    /// The reason in both languages, for a screen to pick one. Stored before reasons were bilingual, it is
    /// one text, "中文 / English" when the platform gave both: read back split at " / ".
    pub fn text(&self) -> crate::Text {
        if !self.message_zh.is_empty() {
            return crate::Text::new(self.message_zh.clone(), self.message.clone());
        }
        match self.message.split_once(" / ") {
            Some((zh, en)) if !zh.is_ascii() && en.is_ascii() => crate::Text::new(zh, en),
            _ => crate::Text::new(self.message.clone(), self.message.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Submit,
    Supplement,
    Rate,
    Complain,
    /// 催办: asks the platform to act on a case past its promised completion date.
    Urge,
    /// The holder revoked a licence grant (`target`: `grant:<grant id>`; the wallet owns it).
    RevokeGrant,
    /// A principal revoked a delegation (`target`: `delegation:<id>`; zhangban-agent owns it).
    RevokeDelegation,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Submit => "submit",
            OpKind::Supplement => "supplement",
            OpKind::Rate => "rate",
            OpKind::Complain => "complain",
            OpKind::Urge => "urge",
            OpKind::RevokeGrant => "revoke_grant",
            OpKind::RevokeDelegation => "revoke_delegation",
        }
    }

    /// Whether the operation is about a case (its `case_id` is a local case id); the revocations are not.
    pub fn is_case_op(self) -> bool {
        !matches!(self, OpKind::RevokeGrant | OpKind::RevokeDelegation)
    }
}

/// An attachment to upload before the operation is sent. `upload_id` is derived from the operation's
/// idempotency key, so a retry (or a restart) resumes the same upload on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub attachment_id: String,
    pub upload_id: String,
    pub name: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex: the platform checks each chunk and the whole.
    pub sha256: String,
}

/// One outgoing operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub id: String,
    /// What the operation is about, and the unit of ordering (one operation per target in flight): the
    /// local case id for case operations, `grant:<id>` / `delegation:<id>` for the revocations.
    pub case_id: String,
    pub subject: String,
    pub kind: OpKind,
    /// Made once when the operation is queued; sent with every attempt.
    pub idempotency_key: String,
    pub body: Value,
    pub uploads: Vec<Upload>,
    /// Creation order (microseconds and a counter): operations of one case are sent in this order.
    pub order: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub problem: Option<Problem>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next_order(micros: i64) -> i64 {
    micros.saturating_mul(16) + (COUNTER.fetch_add(1, Ordering::Relaxed) % 16) as i64
}

/// Describes the attachments to upload (read before the transaction that queues the operation).
pub fn prepare_uploads(store: &Store, subject: &str, attachments: &[String], key: &str) -> Result<Vec<Upload>> {
    attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let info = store
                .attachment_info(a)
                .map_err(|_| Error::validation(format!("attachments[{i}]"), "附件不存在。", "attachment not found."))?;
            if info.subject != subject {
                return Err(another_subjects(format!("attachments[{i}]")));
            }
            Ok(Upload {
                attachment_id: a.clone(),
                upload_id: format!("{key}-{i}"),
                name: info.name,
                size: info.size,
                sha256: info.sha256,
            })
        })
        .collect()
}

/// An attachment of another subject given for this one's application: every submission, supplement and
/// draft material is one subject's (a principal's ID photo never goes into the agent's own case).
pub fn another_subjects(field: String) -> Error {
    Error::validation(
        field,
        "这份附件属于另一个人，不能用于本申请；请为本申请的申请人重新添加。",
        "this attachment is another person's and cannot go into this application; add one for its applicant.",
    )
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Queues an operation inside the caller's transaction.
pub fn enqueue(
    t: &mut Txn<'_>,
    subject: &str,
    case_id: &str,
    kind: OpKind,
    key: String,
    body: Value,
    uploads: Vec<Upload>,
) -> Result<Op> {
    let order = next_order(t.clock().now_micros());
    let op = Op {
        id: format!("{order:020}-{}", &key[..8.min(key.len())]),
        case_id: case_id.into(),
        subject: subject.into(),
        kind,
        idempotency_key: key,
        body,
        uploads,
        order,
        attempts: 0,
        last_error: None,
        problem: None,
    };
    t.put_json(COLLECTION, &op.id, subject, &op, PutOptions { tag: Some(PENDING), lookup: None })?;
    Ok(op)
}

/// The pending or refused operation of `kind` about `target`, if one is queued.
pub fn find(store: &Store, kind: OpKind, target: &str) -> Result<Option<Op>> {
    Ok(pending(store)?.into_iter().chain(quarantined(store)?).find(|o| o.kind == kind && o.case_id == target))
}

fn sorted(mut v: Vec<Op>) -> Vec<Op> {
    crate::sort::sort_by_key(&mut v, |o| o.order);
    v
}

/// Operations waiting to be sent, oldest first.
pub fn pending(store: &Store) -> Result<Vec<Op>> {
    Ok(sorted(store.list_tagged(COLLECTION, PENDING)?.iter().map(|r| r.json()).collect::<Result<_>>()?))
}

/// How many operations will be sent: those pending, less an agent's principal's whose mandate ended (ADR 0045:
/// the next sync holds them back, they will not be sent). What "n waiting to be sent" counts.
pub fn waiting_count(store: &Store) -> Result<u32> {
    let ended = crate::acting::ended(store, store.now())?;
    Ok(pending(store)?.iter().filter(|o| !ended.contains_key(&o.subject)).count() as u32)
}

/// Operations the platform refused, with their reasons.
pub fn quarantined(store: &Store) -> Result<Vec<Op>> {
    Ok(sorted(store.list_tagged(COLLECTION, QUARANTINED)?.iter().map(|r| r.json()).collect::<Result<_>>()?))
}

/// Records a failed attempt that may be retried (network, 5xx); returns the operation as now stored
/// (`None` when it is no longer in the outbox).
pub fn note_failure(store: &Store, op: &Op, error: &str) -> Result<Option<Op>> {
    store.transaction(|t| {
        let Some(r) = t.get_opt(COLLECTION, &op.id)? else { return Ok(None) };
        let mut cur: Op = r.json()?;
        cur.attempts = cur.attempts.saturating_add(1);
        cur.last_error = Some(error.chars().take(300).collect());
        t.put_json(COLLECTION, &cur.id, &cur.subject, &cur, PutOptions { tag: Some(PENDING), lookup: None })?;
        Ok(Some(cur))
    })
}

/// Moves an operation out of the queue with the platform's reason (inside the caller's transaction).
pub fn quarantine_in(t: &mut Txn<'_>, op: &Op, problem: Problem) -> Result<()> {
    let mut cur = op.clone();
    cur.attempts = cur.attempts.saturating_add(1);
    cur.problem = Some(problem);
    t.put_json(COLLECTION, &cur.id, &cur.subject, &cur, PutOptions { tag: Some(QUARANTINED), lookup: None })
}

/// Drops a quarantined operation (the person gave up on it or will submit anew).
pub fn discard(store: &Store, op_id: &str) -> Result<bool> {
    store.delete(COLLECTION, op_id)
}
