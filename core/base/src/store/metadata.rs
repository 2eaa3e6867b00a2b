//! Personal metadata kept out of the plaintext columns (docs/SECURITY.md, finding 11; ADR 0032).
//!
//! Someone with the store's files and no key used to read which licences a person holds (licence ids as
//! record ids and as audit targets, so also when each was shown), the SHA-256 of every attachment's
//! plaintext and its exact size, and the kind of every subject (a principal, a family member). Now:
//!
//! * **Keyed ids**: a collection whose natural id is a sensitive identifier (a licence id) keeps its
//!   records under [`keyed_id`] — `k1` and 32 hex digits of an HMAC-SHA256, under the store's lookup key,
//!   of the collection and the identifier. Deterministic (a feature gets a record by the identifier it
//!   knows, one index probe as before) but meaningless without the key. The lookup key is derived from the
//!   data key and moves with a backup, so a restored store computes the same ids. [`KEYED_IDS`] lists the
//!   collections; their records of a store of before are renamed at its first unlock.
//! * **Audit targets** are a keyed token in the `target` column (what the chain binds and what a query by
//!   target compares); the target itself is sealed beside it (`audit.rs`).
//! * **Subject kinds** are sealed under the data key (`subjects.kind_sealed`); the `kind` column is empty.
//! * **Attachments**: size and SHA-256 are sealed under the subject's key (`attachments.sealed_meta`); the
//!   clear columns hold 0 and ''. Each file is padded with zero bytes after its last chunk to a bucket
//!   ([`padded_len`], Padmé: at most 12 % more, at least 4 KiB), so its length tells only the bucket.
//!
//! The conversion of a store of before ([`seal_all`]) runs at every unlock and does nothing once done: a
//! store imported from an older backup is converted at its next unlock too.

use std::fs;
use std::io::Write;

use ring::aead::LessSafeKey;
use ring::hmac;
use rusqlite::{params, Connection, OptionalExtension};

use super::{attachments, record_aad, record_aad_v1, subject_key, SubjectKind, Unlocked};
use crate::crypto;
use crate::{Error, Result};

/// Collections whose record id is a keyed id of a sensitive identifier (the licence id): the wallet's
/// licences, an agent's checked and shared licences of a principal, the renewal drafts of a licence.
pub const KEYED_IDS: &[&str] = &["licence", "agent_licence", "agent_shared", "remind_renewal"];

const KEYED_PREFIX: &str = "k1";
/// Smallest padded attachment file.
const MIN_PADDED: u64 = 4096;

/// The record id of `value` in `collection`: `k1` + hex of the first 16 bytes of HMAC-SHA256(lookup key,
/// "zhangban keyed id v1" || len(collection) u32 BE || collection || value). The label's first four bytes,
/// read as a length, exceed any collection name, so no keyed id is ever a lookup hash's prefix.
pub(crate) fn keyed_id(key: &hmac::Key, collection: &str, value: &str) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"zhangban keyed id v1");
    ctx.update(&(collection.len() as u32).to_be_bytes());
    ctx.update(collection.as_bytes());
    ctx.update(value.as_bytes());
    format!("{KEYED_PREFIX}{}", hex::encode(&ctx.sign().as_ref()[..16]))
}

/// Whether `id` has the form of a keyed id.
pub fn is_keyed_id(id: &str) -> bool {
    id.len() == 34
        && id.starts_with(KEYED_PREFIX)
        && id[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The length an attachment file of `raw` bytes is padded to (Padmé, Nikitin et al. 2019: the low bits of
/// the length are rounded up so that only O(log log n) bits of it remain, at most 12 % more; at least
/// 4 KiB).
pub(crate) fn padded_len(raw: u64) -> u64 {
    let l = raw.max(MIN_PADDED);
    let e = 63 - u64::from(l.leading_zeros()); // floor(log2 l), l >= 4096
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let low = e - s;
    let mask = (1u64 << low) - 1;
    (l + mask) & !mask
}

// ---- subject kinds ------------------------------------------------------------------------------

fn kind_aad(id: &str) -> Vec<u8> {
    crypto::aad("subjects", id, "kind")
}

pub(crate) fn seal_kind(data: &LessSafeKey, id: &str, kind: SubjectKind) -> Result<Vec<u8>> {
    crypto::seal(data, &kind_aad(id), kind.as_str().as_bytes())
}

/// The kind of a subject row: sealed (`kind_sealed`), or in the clear column of a store not converted yet.
pub(crate) fn open_kind(data: &LessSafeKey, id: &str, clear: &str, sealed: Option<&[u8]>) -> Result<SubjectKind> {
    let damaged = || Error::corrupted("subjects", id);
    match sealed {
        Some(s) => {
            let plain = crypto::open(data, &kind_aad(id), s).ok_or_else(damaged)?;
            std::str::from_utf8(&plain).ok().and_then(SubjectKind::parse).ok_or_else(damaged)
        }
        None => SubjectKind::parse(clear).ok_or_else(damaged),
    }
}

/// The kind of subject `id` (`None` when there is no such subject).
pub(crate) fn kind_of(conn: &Connection, data: &LessSafeKey, id: &str) -> Result<Option<SubjectKind>> {
    let row: Option<(String, Option<Vec<u8>>)> = conn
        .prepare_cached("SELECT kind, kind_sealed FROM subjects WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(clear, sealed)| open_kind(data, id, &clear, sealed.as_deref())).transpose()
}

// ---- attachments --------------------------------------------------------------------------------

fn meta_aad(id: &str) -> Vec<u8> {
    crypto::aad("attachments", id, "meta")
}

/// Size (u64 BE) and plaintext SHA-256 (32 bytes) of an attachment, sealed under its subject's key.
pub(crate) fn seal_attachment_meta(key: &LessSafeKey, id: &str, size: u64, sha256_hex: &str) -> Result<Vec<u8>> {
    let sha = hex::decode(sha256_hex).map_err(|_| Error::Internal("attachment digest is not hex".into()))?;
    let mut plain = Vec::with_capacity(8 + sha.len());
    plain.extend_from_slice(&size.to_be_bytes());
    plain.extend_from_slice(&sha);
    crypto::seal(key, &meta_aad(id), &plain)
}

/// (size, SHA-256 hex) of an attachment row: from its sealed meta, or from the clear columns of a store
/// not converted yet.
pub(crate) fn open_attachment_meta(
    key: &LessSafeKey,
    id: &str,
    sealed: Option<&[u8]>,
    clear_size: i64,
    clear_sha: &str,
) -> Result<(u64, String)> {
    let damaged = || Error::corrupted("attachments", id);
    match sealed {
        Some(s) => {
            let plain = crypto::open(key, &meta_aad(id), s).ok_or_else(damaged)?;
            if plain.len() != 8 + 32 {
                return Err(damaged());
            }
            let size = u64::from_be_bytes(plain[..8].try_into().map_err(|_| damaged())?);
            Ok((size, hex::encode(&plain[8..])))
        }
        None => Ok((u64::try_from(clear_size).map_err(|_| damaged())?, clear_sha.to_string())),
    }
}

/// Inserts an attachment's row: its name and meta sealed, nothing of either in the clear.
pub(crate) fn insert_attachment(
    tx: &Connection,
    key: &LessSafeKey,
    info: &attachments::AttachmentInfo,
    sealed_name: &[u8],
    now: i64,
) -> Result<()> {
    let meta = seal_attachment_meta(key, &info.id, info.size, &info.sha256)?;
    tx.execute(
        "INSERT INTO attachments (id, subject, name, size, sha256, created_at, sealed_meta)
         VALUES (?1, ?2, ?3, 0, '', ?4, ?5)",
        params![info.id, info.subject, sealed_name, now, meta],
    )?;
    Ok(())
}

/// Pads an attachment file written before padding (zero bytes after its last chunk). A file padded already
/// or of another length than its size says is left alone (reading it reports the damage).
fn pad_file(dir: &std::path::Path, id: &str, size: u64) -> Result<()> {
    let path = attachments::file_path(dir, id);
    let Ok(meta) = fs::metadata(&path) else { return Ok(()) };
    let raw = attachments::raw_len(id, size);
    if meta.len() != raw {
        return Ok(());
    }
    let mut f = fs::OpenOptions::new().append(true).open(&path)?;
    let pad = padded_len(raw) - raw;
    let zeros = vec![0u8; 64 * 1024];
    let mut left = pad;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    Ok(())
}

// ---- the conversion of a store of before ---------------------------------------------------------

const AUDIT_DONE: &str = "audit_targets_sealed";

/// A record kept under a licence id, to be renamed to its keyed id.
struct Rename {
    seq: i64,
    collection: String,
    id: String,
    subject: String,
    tag: Option<String>,
    lookup: Option<Vec<u8>>,
    body: Vec<u8>,
    updated_at: i64,
}

/// Converts what a store of before keeps in the clear, in one transaction (see the module's text). Cheap
/// when there is nothing to do: three small queries and a `meta` read.
pub(crate) fn seal_all(conn: &mut Connection, dir: &std::path::Path, u: &mut Unlocked) -> Result<bool> {
    let kinds: Vec<(String, String)> = {
        let mut st = conn.prepare_cached("SELECT id, kind FROM subjects WHERE kind_sealed IS NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    let files: Vec<(String, String, i64, String)> = {
        let mut st =
            conn.prepare_cached("SELECT id, subject, size, sha256 FROM attachments WHERE sealed_meta IS NULL")?;
        let rows =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    let mut renames: Vec<Rename> = Vec::new();
    for c in KEYED_IDS {
        let mut st = conn.prepare_cached(
            "SELECT seq, id, subject, tag, lookup, body, updated_at FROM records WHERE collection = ?1",
        )?;
        let rows: Vec<Rename> = st
            .query_map([c], |r| {
                Ok(Rename {
                    seq: r.get(0)?,
                    collection: c.to_string(),
                    id: r.get(1)?,
                    subject: r.get(2)?,
                    tag: r.get(3)?,
                    lookup: r.get(4)?,
                    body: r.get(5)?,
                    updated_at: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        renames.extend(rows.into_iter().filter(|r| !is_keyed_id(&r.id)));
    }
    let audit_done = super::keys::meta_get(conn, AUDIT_DONE)?.is_some();
    if kinds.is_empty() && files.is_empty() && renames.is_empty() && audit_done {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    for (id, clear) in kinds {
        // A kind that does not parse (damaged) stays as it is: reading it reports the damage.
        if let Some(kind) = SubjectKind::parse(&clear) {
            let sealed = seal_kind(&u.keys.data, &id, kind)?;
            tx.execute("UPDATE subjects SET kind = '', kind_sealed = ?2 WHERE id = ?1", params![id, sealed])?;
        }
    }
    for (id, subject, size, sha) in files {
        let Ok(key) = subject_key(&tx, u, &subject) else { continue };
        let Ok(size) = u64::try_from(size) else { continue };
        let Ok(meta) = seal_attachment_meta(&key, &id, size, &sha) else { continue };
        if attachments::is_attachment_id(&id) {
            pad_file(dir, &id, size)?;
        }
        tx.execute("UPDATE attachments SET size = 0, sha256 = '', sealed_meta = ?2 WHERE id = ?1", params![id, meta])?;
    }
    // A store of record format 2 keeps its head over every collection: the renamed row's hash goes out
    // under its old id and in under the new one (a store of format 1 gets its head made by the upgrade).
    let mut head = super::heads::Pending::default();
    for r in renames {
        let Ok(key) = subject_key(&tx, u, &r.subject) else { continue };
        let new_id = keyed_id(&u.keys.lookup, &r.collection, &r.id);
        let aad = |id: &str| -> Result<Vec<u8>> {
            if u.records_v2 {
                record_aad(&r.collection, id, &r.subject, r.tag.as_deref(), r.lookup.as_deref(), r.updated_at)
            } else {
                record_aad_v1(&r.collection, id, &r.subject)
            }
        };
        // A body that does not open (damaged) keeps its row: reading it reports the damage.
        let Some(plain) = crypto::open(&key, &aad(&r.id)?, &r.body) else { continue };
        let taken: bool = tx.query_row(
            "SELECT count(*) > 0 FROM records WHERE collection = ?1 AND id = ?2",
            params![r.collection, new_id],
            |row| row.get(0),
        )?;
        if u.records_v2 {
            head.toggle_row(&tx, &u.keys.data, &u.keys.head, &r.collection, &r.id, false)?;
        }
        if taken {
            tx.execute("DELETE FROM records WHERE seq = ?1", [r.seq])?;
            continue;
        }
        let sealed = crypto::seal(&key, &aad(&new_id)?, &plain)?;
        tx.execute("UPDATE records SET id = ?2, body = ?3 WHERE seq = ?1", params![r.seq, new_id, sealed])?;
        if u.records_v2 {
            head.toggle_row(&tx, &u.keys.data, &u.keys.head, &r.collection, &new_id, true)?;
        }
    }
    head.save(&tx, &u.keys.data)?;
    if !audit_done {
        let Unlocked { keys, subject_keys, ring, .. } = u;
        let mut key_of = |subject: &str| super::subject_key_in(&tx, subject_keys, ring.as_ref(), &keys.data, subject);
        crate::audit::seal_targets(
            &tx,
            &crate::audit::AuditKeys { data: &keys.data, chain: &keys.audit },
            &mut key_of,
        )?;
        super::keys::meta_set(&tx, AUDIT_DONE, b"1")?;
    }
    tx.commit()?;
    // The pages of before (with the clear values) are in the file until the WAL is copied back; copied
    // (`secure_delete` zeroes what was freed) and emptied, a copy of the files taken now holds none of it.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_buckets_are_coarse_and_cost_at_most_twelve_percent() {
        assert_eq!(padded_len(0), 4096);
        assert_eq!(padded_len(4096), 4096);
        assert_eq!(padded_len(100_109), 100_352);
        assert_eq!(padded_len(100_308), 100_352);
        for raw in [5_000u64, 65_000, 100_000, 1_000_000, 5_123_456, 64 * 1024 * 1024 + 9_999] {
            let p = padded_len(raw);
            assert!(p >= raw && (p - raw) as f64 <= raw as f64 * 0.12, "{raw} -> {p}");
            assert_eq!(padded_len(p), p, "a bucket is its own bucket");
        }
        // Many lengths, few buckets: about 1,000 lengths around 1 MB share a handful.
        let buckets: std::collections::BTreeSet<u64> = (1_000_000..1_001_000).map(padded_len).collect();
        assert!(buckets.len() <= 2, "{buckets:?}");
    }

    #[test]
    fn keyed_ids_have_their_form_and_depend_on_key_collection_and_value() {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]);
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]);
        let a = keyed_id(&k, "licence", "1100001234567890X");
        assert!(is_keyed_id(&a), "{a}");
        assert_eq!(a, keyed_id(&k, "licence", "1100001234567890X"));
        assert_ne!(a, keyed_id(&other, "licence", "1100001234567890X"));
        assert_ne!(a, keyed_id(&k, "agent_licence", "1100001234567890X"));
        assert_ne!(a, keyed_id(&k, "licence", "1100001234567890Y"));
        assert!(!is_keyed_id("1100001234567890X") && !is_keyed_id(&a.to_uppercase()));
    }
}
