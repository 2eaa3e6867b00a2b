//! The append-only, hash-chained audit log: every presentation, share, grant and agent access.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's fields (length-prefixed),
//! so removing, reordering or altering an entry breaks the chain at that point. The `detail` is sealed
//! under the store's data key (it may name recipients); the chain is over the sealed bytes, so
//! [`verify`] needs no key. SQLite triggers refuse UPDATE and DELETE on the table.

use ring::aead::LessSafeKey;
use ring::digest;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::{Error, Result};

/// The first entry's `prev_hash`.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// What happened, for [`crate::store::Store::audit`].
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// Who did it: `"self"`, a device id, an agent id.
    pub actor: &'a str,
    /// What was done, e.g. `"licence.present"`, `"licence.grant"`, `"agent.access"`.
    pub action: &'a str,
    /// Whose data it concerns (a subject id).
    pub subject: &'a str,
    /// What it concerns (a licence id, a case id).
    pub target: &'a str,
    /// Anything else, as JSON (recipient, disclosed fields, purpose). Sealed.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AuditVerification {
    pub entries: u64,
    /// The sequence number of the first entry whose link is broken, if any.
    pub first_broken: Option<i64>,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &[u8],
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    target: &str,
    detail: &[u8],
) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"zhangban-audit-v1");
    ctx.update(prev);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&at.to_be_bytes());
    for part in [actor.as_bytes(), action.as_bytes(), subject.as_bytes(), target.as_bytes(), detail] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    ctx.finish().as_ref().to_vec()
}

pub(crate) fn append(conn: &Connection, key: &LessSafeKey, e: &NewEntry<'_>, now: i64) -> Result<i64> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_vec()),
    };
    let detail_json = serde_json::to_vec(&e.detail)?;
    let detail = crypto::seal(key, &crypto::aad("audit_log", &seq.to_string(), "detail"), &detail_json)?;
    let hash = entry_hash(&prev, seq, now, e.actor, e.action, e.subject, e.target, &detail);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, target, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![seq, now, e.actor, e.action, e.subject, e.target, detail, prev, hash],
    )?;
    Ok(seq)
}

pub(crate) fn list(conn: &Connection, key: &LessSafeKey, target: Option<&str>) -> Result<Vec<AuditEntry>> {
    let mut st = conn.prepare_cached(
        "SELECT seq, at, actor, action, subject, target, detail, hash FROM audit_log
         WHERE (?1 IS NULL OR target = ?1) ORDER BY seq",
    )?;
    let rows = st.query_map(params![target], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Vec<u8>>(6)?,
            r.get::<_, Vec<u8>>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, actor, action, subject, target, detail, hash) = row?;
        let plain = crypto::open(key, &crypto::aad("audit_log", &seq.to_string(), "detail"), &detail)
            .ok_or_else(|| Error::corrupted("audit_log", seq))?;
        let detail = serde_json::from_slice(&plain).map_err(|_| Error::corrupted("audit_log", seq))?;
        out.push(AuditEntry { seq, at, actor, action, subject, target, detail, hash: hex::encode(hash) });
    }
    Ok(out)
}

pub(crate) fn verify(conn: &Connection) -> Result<AuditVerification> {
    let mut st = conn.prepare(
        "SELECT seq, at, actor, action, subject, target, detail, prev_hash, hash FROM audit_log ORDER BY seq",
    )?;
    let mut rows = st.query([])?;
    let mut expected_prev = GENESIS.to_vec();
    let mut expected_seq = 1i64;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        n += 1;
        let seq: i64 = r.get(0)?;
        let prev: Vec<u8> = r.get(7)?;
        let hash: Vec<u8> = r.get(8)?;
        let computed = entry_hash(
            &prev,
            seq,
            r.get(1)?,
            &r.get::<_, String>(2)?,
            &r.get::<_, String>(3)?,
            &r.get::<_, String>(4)?,
            &r.get::<_, String>(5)?,
            &r.get::<_, Vec<u8>>(6)?,
        );
        if seq != expected_seq || prev != expected_prev || computed != hash {
            return Ok(AuditVerification { entries: n, first_broken: Some(seq) });
        }
        expected_prev = hash;
        expected_seq += 1;
    }
    Ok(AuditVerification { entries: n, first_broken: None })
}
