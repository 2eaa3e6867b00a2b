//! The sealed head of the security-relevant collections (docs/SECURITY.md, finding 10).
//!
//! Each record is sealed on its own, so an older ciphertext of a record written back in its row (the rest
//! of the file current) reads as valid, and a deleted row is simply gone. For the collections where that
//! matters — the device key, used single-use grants, seen verifier nonces, the trust and status lists, the
//! outbox — the store keeps one *head*: the number of their rows and the XOR of a keyed hash (HMAC-SHA256
//! under a key derived from the data key) of every column of each row (collection, id, subject, tag, keyed
//! lookup, sealed body, `updated_at`). The sealed body changes with every write (a fresh random nonce), so
//! a row's hash is its version. Every write through the store updates the head in the same transaction
//! (the old row's hash out, the new one in); the head is sealed under the data key (`meta.record_head`).
//!
//! Every unlock (and every open of a store without a PIN) recomputes it from the rows: an old row written
//! back, a row deleted or added, or one of its plaintext columns changed, is `RolledBack` (every row still
//! opens: an older copy of a row) or `Corrupted` (a row does not open: damage). That the store *has* a head
//! is itself kept where the files cannot reach: the rollback anchor's payload (`anchor.rs`, version 2) says
//! so, and an older anchor names a destroyed vault key; so deleting the head does not turn the check off.
//!
//! Limits: checked at unlock, not at each read (malware running as the app can write through the store
//! anyway); the other collections (drafts, cases, settings) are not covered; a store upgraded to this
//! format trusts its rows as they are at that first unlock.

use ring::aead::LessSafeKey;
use ring::hmac;
use rusqlite::{params, Connection, OptionalExtension};

use super::keys::{meta_get, meta_set};
use crate::{crypto, Error, Result};

/// The collections the head covers (their owners: the wallet — `device`, `grant_used`, `verifier_nonce`,
/// `wallet_list`, the old `wallet_outbox` — and base's `outbox`). Sorted.
pub const HEADED: &[&str] = &["device", "grant_used", "outbox", "verifier_nonce", "wallet_list", "wallet_outbox"];

/// Meta key of the sealed head.
pub(crate) const HEAD_META: &str = "record_head";

pub(crate) fn headed(collection: &str) -> bool {
    HEADED.contains(&collection)
}

/// Count and XOR of the row hashes of the headed collections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Head {
    n: u64,
    x: [u8; 32],
}

impl Head {
    fn toggle(&mut self, h: &[u8; 32], add: bool) {
        for (a, b) in self.x.iter_mut().zip(h) {
            *a ^= b;
        }
        self.n = if add { self.n.wrapping_add(1) } else { self.n.wrapping_sub(1) };
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = self.n.to_be_bytes().to_vec();
        v.extend_from_slice(&self.x);
        v
    }

    fn decode(b: &[u8]) -> Option<Head> {
        if b.len() != 40 {
            return None;
        }
        let mut x = [0u8; 32];
        x.copy_from_slice(&b[8..]);
        Some(Head { n: u64::from_be_bytes(b[..8].try_into().ok()?), x })
    }
}

/// The key of the row hashes, derived from the data key's derivation key (`keys.rs`).
pub(crate) fn head_key(derive: &hmac::Key) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(derive, b"zhangban record head v1").as_ref())
}

type Row = (String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);

fn row_hash(key: &hmac::Key, r: &Row) -> [u8; 32] {
    let (collection, id, subject, tag, lookup, body, updated_at) = r;
    let mut c = hmac::Context::with_key(key);
    let mut part = |b: Option<&[u8]>| match b {
        None => c.update(&[0]),
        Some(b) => {
            c.update(&[1]);
            c.update(&(b.len() as u64).to_be_bytes());
            c.update(b);
        }
    };
    part(Some(collection.as_bytes()));
    part(Some(id.as_bytes()));
    part(Some(subject.as_bytes()));
    part(tag.as_deref().map(str::as_bytes));
    part(lookup.as_deref());
    part(Some(body));
    part(Some(&updated_at.to_be_bytes()));
    let mut h = [0u8; 32];
    h.copy_from_slice(c.sign().as_ref());
    h
}

const COLUMNS: &str = "collection, id, subject, tag, lookup, body, updated_at";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

/// The hash of the row (`collection`, `id`) as it is now, if there is one.
pub(crate) fn row_now(conn: &Connection, key: &hmac::Key, collection: &str, id: &str) -> Result<Option<[u8; 32]>> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM records WHERE collection = ?1 AND id = ?2"))?
        .query_row(params![collection, id], read_row)
        .optional()?;
    Ok(row.map(|r| row_hash(key, &r)))
}

/// Every headed row as it is now: the head they make, and the rows (for telling damage from rollback).
fn rows_now(conn: &Connection, key: &hmac::Key) -> Result<(Head, Vec<Row>)> {
    let list = HEADED.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM records WHERE collection IN ({list})"))?;
    let rows: Vec<Row> = st.query_map([], read_row)?.collect::<rusqlite::Result<_>>()?;
    let mut head = Head::default();
    for r in &rows {
        head.toggle(&row_hash(key, r), true);
    }
    Ok((head, rows))
}

fn aad() -> Vec<u8> {
    crypto::aad("meta", HEAD_META, "head")
}

/// The sealed head, if the store has one (`Corrupted` when it does not open).
pub(crate) fn load(conn: &Connection, data: &LessSafeKey) -> Result<Option<Head>> {
    let Some(sealed) = meta_get(conn, HEAD_META)? else { return Ok(None) };
    crypto::open(data, &aad(), &sealed)
        .and_then(|p| Head::decode(&p))
        .map(Some)
        .ok_or_else(|| Error::corrupted("meta", HEAD_META))
}

pub(crate) fn save(conn: &Connection, data: &LessSafeKey, head: &Head) -> Result<()> {
    meta_set(conn, HEAD_META, &crypto::seal(data, &aad(), &head.encode())?)
}

/// Whether the store has a head (the anchor's payload says so from then on).
pub(crate) fn exists(conn: &Connection) -> Result<bool> {
    Ok(meta_get(conn, HEAD_META)?.is_some())
}

/// The head of the rows as they are now, sealed: a new store, or one upgraded to keep a head.
pub(crate) fn start(conn: &Connection, data: &LessSafeKey, key: &hmac::Key) -> Result<()> {
    let (head, _) = rows_now(conn, key)?;
    save(conn, data, &head)
}

/// What the unlock check found.
pub(crate) enum Checked {
    /// The rows make the sealed head.
    Matches,
    /// No head yet, and none required (a store made before it): the caller starts one.
    Missing,
    /// The rows do not make the head: (collection, id, subject, sealed body) of every covered row, so the
    /// caller can tell damage (a row that does not open) from an older copy (`RolledBack`).
    Differs(Vec<(String, String, String, Vec<u8>)>),
}

/// At unlock: do the rows of the covered collections make the sealed head? A head the anchor requires but
/// that is not there is `Corrupted`.
pub(crate) fn check(conn: &Connection, data: &LessSafeKey, key: &hmac::Key, required: bool) -> Result<Checked> {
    let sealed = match load(conn, data)? {
        Some(h) => h,
        None if required => return Err(Error::corrupted("meta", HEAD_META)),
        None => return Ok(Checked::Missing),
    };
    let (now, rows) = rows_now(conn, key)?;
    if now == sealed {
        return Ok(Checked::Matches);
    }
    Ok(Checked::Differs(rows.into_iter().map(|(c, id, s, _, _, body, _)| (c, id, s, body)).collect()))
}

/// The head a transaction keeps up to date: loaded at its first write to a headed collection.
#[derive(Default)]
pub(crate) struct Pending {
    head: Option<Head>,
}

impl Pending {
    /// Takes the row's current hash out (`add = false`, before a write) or puts it in (after).
    pub(crate) fn toggle_row(
        &mut self,
        conn: &Connection,
        data: &LessSafeKey,
        key: &hmac::Key,
        collection: &str,
        id: &str,
        add: bool,
    ) -> Result<()> {
        if !headed(collection) {
            return Ok(());
        }
        if self.head.is_none() {
            self.head = Some(load(conn, data)?.unwrap_or_default());
        }
        if let (Some(h), Some(head)) = (row_now(conn, key, collection, id)?, self.head.as_mut()) {
            head.toggle(&h, add);
        }
        Ok(())
    }

    /// Takes out every headed row of `subject` (before they are deleted with it).
    pub(crate) fn remove_subject(
        &mut self,
        conn: &Connection,
        data: &LessSafeKey,
        key: &hmac::Key,
        subject: &str,
    ) -> Result<()> {
        let list = HEADED.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
        let rows: Vec<Row> = {
            let mut st =
                conn.prepare(&format!("SELECT {COLUMNS} FROM records WHERE subject = ?1 AND collection IN ({list})"))?;
            let rows = st.query_map([subject], read_row)?.collect::<rusqlite::Result<_>>()?;
            rows
        };
        if rows.is_empty() {
            return Ok(());
        }
        if self.head.is_none() {
            self.head = Some(load(conn, data)?.unwrap_or_default());
        }
        if let Some(head) = self.head.as_mut() {
            for r in &rows {
                head.toggle(&row_hash(key, r), false);
            }
        }
        Ok(())
    }

    /// Seals the head if this transaction changed it.
    pub(crate) fn save(&self, conn: &Connection, data: &LessSafeKey) -> Result<()> {
        match &self.head {
            Some(h) => save(conn, data, h),
            None => Ok(()),
        }
    }
}
