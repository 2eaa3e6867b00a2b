//! The append-only, keyed, hash-chained audit log: every presentation, share, grant and agent access.
//!
//! Store format 2 (docs/formats.md § store; docs/SECURITY.md, finding 7):
//! * Each entry's `hash` is HMAC-SHA256, under a key derived from the store's data key, over the previous
//!   entry's hash and every field of the entry (length-prefixed: seq, time, actor, action, subject, target,
//!   which key sealed the detail, the sealed detail). Removing, reordering, altering or re-chaining entries
//!   breaks the chain at that point, and without the data key nobody can remake a link.
//! * A sealed **head** in `meta` (`audit_head`: count, last seq and last hash, sealed under the data key)
//!   is written in the same transaction as each entry, so a log whose tail was dropped is detected too.
//! * The `detail` (it may name recipients and persons) is sealed under the key of the entry's subject
//!   when that subject has a live key other than the owner's (`detail_key = 'subject'`), otherwise under
//!   the data key (`'data'`). Erasing a subject destroys its key and with it every detail about it,
//!   also in copies of the file taken before; such a detail reads as `null`. `'erased'` marks a detail
//!   removed when a format-1 store was upgraded (its subject was erased already).
//! * SQLite triggers refuse UPDATE and DELETE on the table (a guard against the app's own mistakes: an
//!   attacker with the file drops them; the keyed chain and the head are what catch that attacker).
//!
//! What it does not catch: the whole file rolled back to an older copy (log and head together), which is
//! finding 10; an attacker who holds the data key (the vault and the PIN) can write a valid log.

use ring::aead::LessSafeKey;
use ring::{digest, hmac};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto;
use crate::{Error, Result};

/// The first entry's `prev_hash`.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// `meta` key of the sealed head, and of the first entry found broken when a format-1 log was upgraded.
const HEAD: &str = "audit_head";
const BROKEN_BEFORE_UPGRADE: &str = "audit_broken_at";

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
    /// The detail; `null` when its subject was erased (its key is gone).
    pub detail: serde_json::Value,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AuditVerification {
    pub entries: u64,
    /// The sequence number of the first entry whose link is broken, if any; one past the last entry
    /// present when entries after it were removed (the sealed head counts more).
    pub first_broken: Option<i64>,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The keys of the log: the data key (the head, details about no live subject) and the chain key.
pub(crate) struct AuditKeys<'a> {
    pub data: &'a LessSafeKey,
    pub chain: &'a hmac::Key,
}

/// One row as stored.
struct Row {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    target: String,
    detail_key: String,
    detail: Vec<u8>,
    prev: Vec<u8>,
    hash: Vec<u8>,
    /// The target sealed under the detail's key (finding 11); `None` in a log not converted yet, whose
    /// `target` column is the target itself.
    target_sealed: Option<Vec<u8>>,
}

const ROW_COLUMNS: &str = "seq, at, actor, action, subject, target, detail_key, detail, prev_hash, hash, target_sealed";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        target: r.get(5)?,
        detail_key: r.get(6)?,
        detail: r.get(7)?,
        prev: r.get(8)?,
        hash: r.get(9)?,
        target_sealed: r.get(10)?,
    })
}

/// The keyed token that stands for a target in the `target` column (finding 11): `t1` + hex of the first
/// 16 bytes of HMAC-SHA256(chain key, "zhangban audit target v1" || target). The chain binds it, and a
/// query by target compares it; the target itself is sealed in `target_sealed`.
pub(crate) fn target_token(chain: &hmac::Key, target: &str) -> String {
    let mut ctx = hmac::Context::with_key(chain);
    ctx.update(b"zhangban audit target v1");
    ctx.update(target.as_bytes());
    format!("t1{}", hex::encode(&ctx.sign().as_ref()[..16]))
}

fn target_aad(seq: i64) -> Vec<u8> {
    crypto::aad("audit_log", &seq.to_string(), "target")
}

/// The link of format 1 (plain SHA-256): only to check a log written before the upgrade.
fn entry_hash_v1(prev: &[u8], r: &Row) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"zhangban-audit-v1");
    ctx.update(prev);
    ctx.update(&r.seq.to_be_bytes());
    ctx.update(&r.at.to_be_bytes());
    for part in [r.actor.as_bytes(), r.action.as_bytes(), r.subject.as_bytes(), r.target.as_bytes(), &r.detail] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    ctx.finish().as_ref().to_vec()
}

/// The link of format 2: HMAC-SHA256 under the chain key over the previous hash and every field.
#[allow(clippy::too_many_arguments)]
fn entry_hash(
    key: &hmac::Key,
    prev: &[u8],
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    target: &str,
    detail_key: &str,
    detail: &[u8],
) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"zhangban-audit-v2");
    ctx.update(&(prev.len() as u64).to_be_bytes());
    ctx.update(prev);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&at.to_be_bytes());
    for part in
        [actor.as_bytes(), action.as_bytes(), subject.as_bytes(), target.as_bytes(), detail_key.as_bytes(), detail]
    {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    ctx.sign().as_ref().to_vec()
}

fn row_hash(key: &hmac::Key, prev: &[u8], r: &Row) -> Vec<u8> {
    entry_hash(key, prev, r.seq, r.at, &r.actor, &r.action, &r.subject, &r.target, &r.detail_key, &r.detail)
}

fn detail_aad(seq: i64) -> Vec<u8> {
    crypto::aad("audit_log", &seq.to_string(), "detail")
}

fn head_aad() -> Vec<u8> {
    crypto::aad("meta", HEAD, "v2")
}

fn write_head(conn: &Connection, keys: &AuditKeys<'_>, count: u64, last_seq: i64, last_hash: &[u8]) -> Result<()> {
    let mut plain = Zeroizing::new(Vec::with_capacity(16 + last_hash.len()));
    plain.extend_from_slice(&count.to_be_bytes());
    plain.extend_from_slice(&last_seq.to_be_bytes());
    plain.extend_from_slice(last_hash);
    let sealed = crypto::seal(keys.data, &head_aad(), &plain)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![HEAD, sealed],
    )?;
    Ok(())
}

/// The sealed head: (count, last seq, last hash); `None` when there is none; `Err` when it does not open.
fn read_head(conn: &Connection, keys: &AuditKeys<'_>) -> Result<Option<(u64, i64, Vec<u8>)>> {
    let sealed: Option<Vec<u8>> =
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [HEAD], |r| r.get(0)).optional()?;
    let Some(sealed) = sealed else { return Ok(None) };
    let plain = crypto::open(keys.data, &head_aad(), &sealed).ok_or_else(|| Error::corrupted("meta", HEAD))?;
    if plain.len() != 16 + 32 {
        return Err(Error::corrupted("meta", HEAD));
    }
    let count = u64::from_be_bytes(plain[..8].try_into().map_err(|_| Error::corrupted("meta", HEAD))?);
    let seq = i64::from_be_bytes(plain[8..16].try_into().map_err(|_| Error::corrupted("meta", HEAD))?);
    Ok(Some((count, seq, plain[16..].to_vec())))
}

/// Appends an entry. `subject_key` is the key of the entry's subject when it has a live one other than the
/// owner's (the detail is sealed under it); `None` seals it under the data key.
pub(crate) fn append(
    conn: &Connection,
    keys: &AuditKeys<'_>,
    subject_key: Option<&LessSafeKey>,
    e: &NewEntry<'_>,
    now: i64,
) -> Result<i64> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_vec()),
    };
    let detail_json = Zeroizing::new(serde_json::to_vec(&e.detail)?);
    let (detail_key, key) = match subject_key {
        Some(k) => ("subject", k),
        None => ("data", keys.data),
    };
    let detail = crypto::seal(key, &detail_aad(seq), &detail_json)?;
    // The target (a licence id says which licence was shown) is sealed like the detail; the column holds
    // its keyed token, which the chain binds.
    let token = target_token(keys.chain, e.target);
    let target_sealed = crypto::seal(key, &target_aad(seq), e.target.as_bytes())?;
    let hash = entry_hash(keys.chain, &prev, seq, now, e.actor, e.action, e.subject, &token, detail_key, &detail);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, target, detail_key, detail, prev_hash, hash,
                                target_sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![seq, now, e.actor, e.action, e.subject, token, detail_key, detail, prev, hash, target_sealed],
    )?;
    write_head(conn, keys, seq as u64, seq, &hash)?;
    Ok(seq)
}

/// How a detail is opened: `subject_key(subject)` gives the key of a subject (`Err(Shredded)` once erased).
pub(crate) type SubjectKeyOf<'a> = dyn FnMut(&str) -> Result<crate::crypto::SubjectKey> + 'a;

pub(crate) fn list(
    conn: &Connection,
    keys: &AuditKeys<'_>,
    subject_key: &mut SubjectKeyOf<'_>,
    target: Option<&str>,
) -> Result<Vec<AuditEntry>> {
    let token = target.map(|t| target_token(keys.chain, t));
    let rows: Vec<Row> = {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM audit_log
             WHERE ?1 IS NULL OR (target_sealed IS NOT NULL AND target = ?2) OR (target_sealed IS NULL AND target = ?1)
             ORDER BY seq"
        ))?;
        let rows = st.query_map(params![target, token], row)?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    open_rows(keys, subject_key, rows)
}

/// Entries of `action` after sequence number `after`, oldest first, at most `limit` (a reader that keeps
/// its own cursor: the agent's access report).
pub(crate) fn list_after(
    conn: &Connection,
    keys: &AuditKeys<'_>,
    subject_key: &mut SubjectKeyOf<'_>,
    action: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let rows: Vec<Row> = {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM audit_log WHERE action = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(params![action, after, limit], row)?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    open_rows(keys, subject_key, rows)
}

/// Opens the details and targets of `rows` (an erased subject's read as [`erased_entry`]).
fn open_rows(keys: &AuditKeys<'_>, subject_key: &mut SubjectKeyOf<'_>, rows: Vec<Row>) -> Result<Vec<AuditEntry>> {
    let data = keys.data;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq = r.seq;
        let damaged = || Error::corrupted("audit_log", seq);
        let key: Option<crate::crypto::SubjectKey> = match r.detail_key.as_str() {
            "data" => None,
            "subject" => match subject_key(&r.subject) {
                Ok(k) => Some(k),
                Err(Error::Shredded { .. }) => None,
                Err(_) => return Err(damaged()),
            },
            "erased" => None,
            _ => return Err(damaged()),
        };
        if key.is_none() && r.detail_key != "data" {
            // Erased: the detail and the target went with the subject's key.
            out.push(erased_entry(r));
            continue;
        }
        let key: &LessSafeKey = match &key {
            Some(k) => k,
            None => data,
        };
        let plain = crypto::open(key, &detail_aad(seq), &r.detail).ok_or_else(damaged)?;
        let target = match &r.target_sealed {
            None => r.target.clone(),
            Some(sealed) => {
                let t = crypto::open(key, &target_aad(seq), sealed)
                    .and_then(|t| String::from_utf8(t.to_vec()).ok())
                    .ok_or_else(damaged)?;
                // The chain binds the token: the sealed target must be the one it stands for.
                if target_token(keys.chain, &t) != r.target {
                    return Err(damaged());
                }
                t
            }
        };
        let detail = serde_json::from_slice(&plain).map_err(|_| damaged())?;
        out.push(AuditEntry {
            seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            target,
            detail,
            hash: hex::encode(r.hash),
        });
    }
    Ok(out)
}

/// An entry about an erased subject: its detail and its target went with the subject's key.
fn erased_entry(r: Row) -> AuditEntry {
    let target = if r.target_sealed.is_some() { String::new() } else { r.target };
    AuditEntry {
        seq: r.seq,
        at: r.at,
        actor: r.actor,
        action: r.action,
        subject: r.subject,
        target,
        detail: serde_json::Value::Null,
        hash: hex::encode(r.hash),
    }
}

/// Finding 11's conversion of a log written before, inside the caller's transaction: the chain is checked
/// first (a break found is kept in `meta` and reported by every later [`verify`], as at the format-2
/// upgrade); every target still in the clear is sealed under its detail's key (an erased subject's is
/// dropped) and replaced by its keyed token; every link is remade and the head written.
pub(crate) fn seal_targets(conn: &Connection, keys: &AuditKeys<'_>, subject_key: &mut SubjectKeyOf<'_>) -> Result<()> {
    let rows: Vec<Row> = {
        let mut st = conn.prepare(&format!("SELECT {ROW_COLUMNS} FROM audit_log ORDER BY seq"))?;
        let rows = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    if rows.iter().all(|r| r.target_sealed.is_some()) {
        return Ok(());
    }
    let mut prev = GENESIS.to_vec();
    let mut expected_seq = 1;
    let mut broken = None;
    for r in &rows {
        if broken.is_none() && (r.seq != expected_seq || r.prev != prev || row_hash(keys.chain, &r.prev, r) != r.hash) {
            broken = Some(r.seq);
        }
        prev = r.hash.clone();
        expected_seq = r.seq + 1;
    }
    if let Some(b) = broken {
        let before: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [BROKEN_BEFORE_UPGRADE], |r| r.get(0))
            .optional()?;
        let earlier = before.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map(i64::from_be_bytes);
        let b = earlier.map_or(b, |e| e.min(b));
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![BROKEN_BEFORE_UPGRADE, b.to_be_bytes().to_vec()],
        )?;
    }
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update;")?;
    let mut prev = GENESIS.to_vec();
    let mut last_seq = 0;
    for mut r in rows.into_iter() {
        if r.target_sealed.is_none() {
            let sealed = match r.detail_key.as_str() {
                "data" => Some(crypto::seal(keys.data, &target_aad(r.seq), r.target.as_bytes())?),
                "subject" => match subject_key(&r.subject) {
                    Ok(k) => Some(crypto::seal(&k, &target_aad(r.seq), r.target.as_bytes())?),
                    // The subject was erased (its key is gone): its detail is unreadable, its target goes.
                    Err(Error::Shredded { .. }) => {
                        r.detail_key = "erased".into();
                        r.detail = Vec::new();
                        Some(Vec::new())
                    }
                    // A damaged subject key: the row stays as it is (reading it reports the damage).
                    Err(_) => None,
                },
                "erased" => Some(Vec::new()),
                _ => None,
            };
            if let Some(sealed) = sealed {
                r.target = target_token(keys.chain, &r.target);
                r.target_sealed = Some(sealed);
            }
        }
        r.prev = prev;
        r.hash = row_hash(keys.chain, &r.prev, &r);
        conn.execute(
            "UPDATE audit_log SET target = ?2, target_sealed = ?3, detail_key = ?4, detail = ?5, prev_hash = ?6,
                                  hash = ?7
             WHERE seq = ?1",
            params![r.seq, r.target, r.target_sealed, r.detail_key, r.detail, r.prev, r.hash],
        )?;
        last_seq = r.seq;
        prev = r.hash;
    }
    relinked(conn, keys, last_seq, &prev)
}

/// The end of every rewrite of the chain (finding 11's conversion, an upgrade, the rotation): the
/// append-only trigger made again and the sealed head written for the chain as it now ends.
fn relinked(conn: &Connection, keys: &AuditKeys<'_>, last_seq: i64, last_hash: &[u8]) -> Result<()> {
    conn.execute_batch(
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;",
    )?;
    let count: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?;
    if count > 0 {
        write_head(conn, keys, count as u64, last_seq, last_hash)?;
    }
    Ok(())
}

/// Walks the keyed chain and compares its end with the sealed head.
pub(crate) fn verify(conn: &Connection, keys: &AuditKeys<'_>) -> Result<AuditVerification> {
    let mut st = conn.prepare(&format!("SELECT {ROW_COLUMNS} FROM audit_log ORDER BY seq"))?;
    let mut rows = st.query([])?;
    let mut expected_prev = GENESIS.to_vec();
    let mut expected_seq = 1i64;
    let mut n = 0u64;
    let mut first_broken = None;
    while let Some(r) = rows.next()? {
        n += 1;
        let r = row(r)?;
        if first_broken.is_none()
            && (r.seq != expected_seq || r.prev != expected_prev || row_hash(keys.chain, &r.prev, &r) != r.hash)
        {
            first_broken = Some(r.seq);
        }
        expected_prev = r.hash;
        expected_seq = r.seq + 1;
    }
    drop(rows);
    drop(st);
    if first_broken.is_none() {
        // The end of the chain must be the end the head records: a dropped tail leaves a shorter chain
        // that is valid link by link.
        let last_seq = expected_seq - 1;
        let head = read_head(conn, keys).unwrap_or(Some((u64::MAX, -1, Vec::new())));
        let matches = match &head {
            None => n == 0,
            Some((count, seq, hash)) => *count == n && *seq == last_seq && *hash == expected_prev,
        };
        if !matches {
            let kept = head.map(|(count, _, _)| count).unwrap_or(0);
            first_broken = Some(if kept > n { last_seq + 1 } else { 1 });
        }
    }
    let before: Option<Vec<u8>> =
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [BROKEN_BEFORE_UPGRADE], |r| r.get(0)).optional()?;
    if let Some(b) = before.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(i64::from_be_bytes) {
        first_broken = Some(first_broken.map_or(b, |f: i64| f.min(b)));
    }
    Ok(AuditVerification { entries: n, first_broken })
}

/// Upgrades a format-1 log (plain SHA-256 chain, every detail under the data key) to format 2, inside the
/// caller's transaction: the old chain is checked first (a break found is kept in `meta` and reported by
/// every later [`verify`], so the upgrade never launders a tampered log); each detail about a subject for
/// which `live` gives a key (the caller gives none for the owner) is sealed anew under that key, each about
/// a subject `erased` says was erased is removed; every link is remade with the chain key and the head
/// written.
pub(crate) fn upgrade(
    conn: &Connection,
    keys: &AuditKeys<'_>,
    live: &dyn Fn(&str) -> Option<crate::crypto::SubjectKey>,
    erased: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let rows: Vec<Row> = {
        let mut st = conn.prepare(&format!("SELECT {ROW_COLUMNS} FROM audit_log ORDER BY seq"))?;
        let rows = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    let mut prev = GENESIS.to_vec();
    let mut expected_seq = 1;
    let mut broken = None;
    for r in &rows {
        if broken.is_none() && (r.seq != expected_seq || r.prev != prev || entry_hash_v1(&r.prev, r) != r.hash) {
            broken = Some(r.seq);
        }
        prev = r.hash.clone();
        expected_seq = r.seq + 1;
    }
    if let Some(b) = broken {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![BROKEN_BEFORE_UPGRADE, b.to_be_bytes().to_vec()],
        )?;
    }
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update;")?;
    let mut prev = GENESIS.to_vec();
    let mut last_seq = 0;
    for mut r in rows.into_iter() {
        if r.detail_key == "data" {
            if let Some(k) = live(&r.subject) {
                // A detail that does not open (damaged) stays as it is: it is reported when read.
                if let Some(plain) = crypto::open(keys.data, &detail_aad(r.seq), &r.detail) {
                    r.detail = crypto::seal(&k, &detail_aad(r.seq), &plain)?;
                    r.detail_key = "subject".into();
                }
            } else if erased(&r.subject) {
                r.detail = Vec::new();
                r.detail_key = "erased".into();
            }
        }
        r.prev = prev;
        r.hash = row_hash(keys.chain, &r.prev, &r);
        conn.execute(
            "UPDATE audit_log SET detail_key = ?2, detail = ?3, prev_hash = ?4, hash = ?5 WHERE seq = ?1",
            params![r.seq, r.detail_key, r.detail, r.prev, r.hash],
        )?;
        last_seq = r.seq;
        prev = r.hash;
    }
    relinked(conn, keys, last_seq, &prev)
}

/// Moves the log from one data key to another (the data-key rotation of the upgrade to record format 2,
/// ADR 0033), inside the caller's transaction: the chain is checked under the old keys first (a break found
/// is kept in `meta` and reported by every later [`verify`]: the rotation never launders a tampered log);
/// each detail sealed under the old data key is sealed anew under the new one (one that does not open stays
/// as it is: reported when read); every link is remade with the new chain key and the head written.
pub(crate) fn rekey(
    conn: &Connection,
    old: &AuditKeys<'_>,
    new: &AuditKeys<'_>,
    subject_key: &mut SubjectKeyOf<'_>,
) -> Result<()> {
    let checked = verify(conn, old)?;
    if let Some(b) = checked.first_broken {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
            params![BROKEN_BEFORE_UPGRADE, b.to_be_bytes().to_vec()],
        )?;
    }
    let rows: Vec<Row> = {
        let mut st = conn.prepare(&format!("SELECT {ROW_COLUMNS} FROM audit_log ORDER BY seq"))?;
        let rows = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    if rows.is_empty() {
        conn.execute("DELETE FROM meta WHERE key = ?1", [HEAD])?;
        return Ok(());
    }
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update;")?;
    let mut prev = GENESIS.to_vec();
    let mut last_seq = 0;
    for mut r in rows.into_iter() {
        if r.detail_key == "data" {
            if let Some(plain) = crypto::open(old.data, &detail_aad(r.seq), &r.detail) {
                r.detail = crypto::seal(new.data, &detail_aad(r.seq), &plain)?;
            }
        }
        // The target (finding 11): its token is keyed by the chain key, which changes with the data key, so
        // it is made again; a target sealed under the data key is sealed again under the new one (a
        // subject's key does not change). One that does not open (damaged, or its subject erased) keeps
        // its token: the chain binds it as it is.
        if let Some(sealed) = r.target_sealed.clone().filter(|t| !t.is_empty()) {
            let target = match r.detail_key.as_str() {
                "data" => crypto::open(old.data, &target_aad(r.seq), &sealed),
                "subject" => subject_key(&r.subject).ok().and_then(|k| crypto::open(&k, &target_aad(r.seq), &sealed)),
                _ => None,
            };
            if let Some(t) = target.as_ref().and_then(|t| std::str::from_utf8(t).ok()) {
                r.target = target_token(new.chain, t);
                if r.detail_key == "data" {
                    r.target_sealed = Some(crypto::seal(new.data, &target_aad(r.seq), t.as_bytes())?);
                }
            }
        }
        r.prev = prev;
        r.hash = row_hash(new.chain, &r.prev, &r);
        conn.execute(
            "UPDATE audit_log SET detail = ?2, target = ?3, target_sealed = ?4, prev_hash = ?5, hash = ?6
             WHERE seq = ?1",
            params![r.seq, r.detail, r.target, r.target_sealed, r.prev, r.hash],
        )?;
        last_seq = r.seq;
        prev = r.hash;
    }
    relinked(conn, new, last_seq, &prev)
}
