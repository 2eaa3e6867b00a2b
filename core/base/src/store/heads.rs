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
//! **Bound to the rollback anchor** (`anchor.rs`, payload version 3): the head has two parts. The
//! *anchored* part covers the collections whose every change is security-relevant and rare (`device`,
//! `grant_used`, `verifier_nonce`, `wallet_list`: [`ANCHORED`]); a transaction that changes it moves the
//! rollback epoch, and the vault-wrapped payload of the new epoch names that part ([`Head::bind`]). So an
//! older head put back *together with* every covered row of its moment (the rows make it) is still refused:
//! its anchored part is not the one the vault names. The *outbox* part (`outbox`, `wallet_outbox`) changes
//! with every submission and every answer of the platform: moving the epoch for each (a vault key made and
//! one destroyed, about 9 ms with `FileVault`, 70 times an outbox write) would cut the sync rate several
//! times over, so it is checked against its rows and bound at the next *bind* (below), not at each write.
//!
//! **Every collection** (record format 2, ADR 0033): after the two parts, one count and XOR per ordinary
//! collection (drafts, cases, profiles, …), over each row's columns and its sealed body's *version* (length,
//! nonce, GCM tag: the record's associated data binds every column, so the tag authenticates the rest).
//! Not bound to the anchor. At unlock an ordinary collection whose rows all open but do not make its part is
//! `RolledBack`; one with a row that does not open is damage, and its part is taken from its rows.
//!
//! **Generations** (ADR 0036): the head is sealed with its generation in its associated data
//! ([`GENERATION_META`]), and the anchor's payload (version 4) names it. A bind — every anchored change,
//! `Store::lock`, closing the store, the end of a sync run — seals the head under the next generation and
//! moves the anchor: every part (ordinary, outbox, the settings' tags) put back from before the last bind is
//! `RolledBack`. Each read is checked too: [`Versions`] (the rows' hashes kept in memory) and, after another
//! connection's commit, the file's rows against this head (`Unlocked::follow` in `store.rs`).
//!
//! Limits: changes since the last bind put back with their head; damage in an ordinary collection hides an
//! older record of it written back with it; a store upgraded to this format trusts its rows as they are at
//! that first unlock.

use std::collections::{BTreeMap, HashMap};

use ring::aead::LessSafeKey;
use ring::hmac;
use rusqlite::{params, Connection, OptionalExtension};

use super::keys::{meta_get, meta_set};
use crate::{crypto, Error, Result};

/// The collections the head covers (their owners: the wallet — `device`, `grant_used`, `verifier_nonce`,
/// `wallet_list`, the old `wallet_outbox` — and base's `outbox`). Sorted.
pub const HEADED: &[&str] = &["device", "grant_used", "outbox", "verifier_nonce", "wallet_list", "wallet_outbox"];

/// The covered collections whose every change moves the rollback epoch (the anchored part of the head).
pub const ANCHORED: &[&str] = &["device", "grant_used", "verifier_nonce", "wallet_list"];

/// Meta key of the sealed head.
pub(crate) const HEAD_META: &str = "record_head";

pub(crate) fn headed(collection: &str) -> bool {
    HEADED.contains(&collection)
}

/// Which part of the head a covered collection's rows go to: 0 anchored, 1 outbox.
fn part(collection: &str) -> usize {
    if ANCHORED.contains(&collection) {
        0
    } else {
        1
    }
}

/// Count and XOR of the row hashes of one part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Part {
    n: u64,
    x: [u8; 32],
}

impl Part {
    pub(crate) fn toggle(&mut self, h: &[u8; 32], add: bool) {
        for (a, b) in self.x.iter_mut().zip(h) {
            *a ^= b;
        }
        self.n = if add { self.n.wrapping_add(1) } else { self.n.wrapping_sub(1) };
    }

    fn encode(&self, v: &mut Vec<u8>) {
        v.extend_from_slice(&self.n.to_be_bytes());
        v.extend_from_slice(&self.x);
    }

    fn decode(b: &[u8]) -> Option<Part> {
        let (n, x) = b.split_at_checked(8)?;
        Some(Part { n: u64::from_be_bytes(n.try_into().ok()?), x: x.try_into().ok()? })
    }
}

/// The head: the anchored part, the outbox part, and one part per ordinary collection (record format 2:
/// every collection is covered; ADR 0033).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Head {
    parts: [Part; 2],
    ordinary: BTreeMap<String, Part>,
    /// The plaintext settings (`meta` rows `setting.<key>`, ADR 0036): count and XOR of each one's tag
    /// ([`setting_tag`]). `None`: a head of before (the unlock tags every setting as it is then).
    pub(crate) settings: Option<Part>,
}

/// The entry of the settings part in an encoded head: a name no collection can have (a collection name with
/// '/' is refused at every seal).
const SETTINGS_PART: &str = "/settings";

/// The tag of one plaintext setting (ADR 0036): HMAC under the head key over its key and value,
/// length-prefixed. Kept beside it (`meta` row `setting_tag.<key>`); the head's settings part covers every
/// tag, so a setting edited is found at its read, and one put back or deleted at the unlock.
pub(crate) fn setting_tag(key: &hmac::Key, name: &str, value: &[u8]) -> [u8; 32] {
    let mut c = hmac::Context::with_key(key);
    c.update(b"zhangban setting v1");
    c.update(&(name.len() as u64).to_be_bytes());
    c.update(name.as_bytes());
    c.update(&(value.len() as u64).to_be_bytes());
    c.update(value);
    let mut h = [0u8; 32];
    h.copy_from_slice(c.sign().as_ref());
    h
}

impl Head {
    fn toggle(&mut self, collection: &str, h: &[u8; 32], add: bool) {
        if headed(collection) {
            self.parts[part(collection)].toggle(h, add);
        } else {
            let p = self.ordinary.entry(collection.to_string()).or_default();
            p.toggle(h, add);
            if *p == Part::default() {
                self.ordinary.remove(collection);
            }
        }
    }

    /// The two covered parts, then each ordinary collection (length-prefixed name, part), sorted.
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(80 + self.ordinary.len() * 60);
        self.parts[0].encode(&mut v);
        self.parts[1].encode(&mut v);
        for (c, p) in &self.ordinary {
            v.extend_from_slice(&(c.len() as u32).to_be_bytes());
            v.extend_from_slice(c.as_bytes());
            p.encode(&mut v);
        }
        if let Some(p) = &self.settings {
            v.extend_from_slice(&(SETTINGS_PART.len() as u32).to_be_bytes());
            v.extend_from_slice(SETTINGS_PART.as_bytes());
            p.encode(&mut v);
        }
        v
    }

    /// 80 bytes and more: the two parts and the ordinary collections. 40 bytes: a head of before the parts
    /// (one count and XOR over every covered collection), read only by the unlock check, which makes the
    /// store a new one.
    fn decode(b: &[u8]) -> Option<Stored> {
        if b.len() == 40 {
            return Some(Stored::Whole(Part::decode(b)?));
        }
        let (fixed, mut rest) = b.split_at_checked(80)?;
        let mut head = Head {
            parts: [Part::decode(&fixed[..40])?, Part::decode(&fixed[40..])?],
            ordinary: BTreeMap::new(),
            settings: None,
        };
        while !rest.is_empty() {
            let (n, r) = rest.split_at_checked(4)?;
            let n = u32::from_be_bytes(n.try_into().ok()?) as usize;
            let (name, r) = r.split_at_checked(n)?;
            let (p, r) = r.split_at_checked(40)?;
            let name = std::str::from_utf8(name).ok()?.to_string();
            if name == SETTINGS_PART {
                if head.settings.replace(Part::decode(p)?).is_some() {
                    return None;
                }
                rest = r;
                continue;
            }
            if headed(&name) || head.ordinary.insert(name, Part::decode(p)?).is_some() {
                return None;
            }
            rest = r;
        }
        Some(Stored::Parts(head))
    }

    /// The ordinary collections whose part differs between `self` and `other`.
    pub(crate) fn ordinary_differences(&self, other: &Head) -> Vec<String> {
        let mut names: Vec<String> = self.ordinary.keys().chain(other.ordinary.keys()).cloned().collect();
        crate::sort::sort_by(&mut names, Ord::cmp);
        names.dedup();
        names.retain(|c| self.ordinary.get(c) != other.ordinary.get(c));
        names
    }

    /// Whether `c` is an ordinary collection this head has a part for.
    pub(crate) fn has_ordinary(&self, c: &str) -> bool {
        self.ordinary.contains_key(c)
    }

    /// Whether the covered parts (anchored and outbox) are equal.
    pub(crate) fn covered_equal(&self, other: &Head) -> bool {
        self.parts == other.parts
    }

    /// `self` with the part of the ordinary collection `c` taken from `other` (a collection re-based on
    /// damage at unlock).
    pub(crate) fn rebase(&mut self, other: &Head, c: &str) {
        match other.ordinary.get(c) {
            Some(p) => {
                self.ordinary.insert(c.to_string(), *p);
            }
            None => {
                self.ordinary.remove(c);
            }
        }
    }

    /// Both covered parts as one (what a head of before the parts held).
    fn whole(&self) -> Part {
        let mut w = self.parts[0];
        for (a, b) in w.x.iter_mut().zip(&self.parts[1].x) {
            *a ^= b;
        }
        w.n = w.n.wrapping_add(self.parts[1].n);
        w
    }

    /// What the rollback anchor binds: a digest of the anchored part.
    pub(crate) fn bind(&self) -> [u8; 32] {
        let mut v = b"zhangban record head, anchored part v1".to_vec();
        self.parts[0].encode(&mut v);
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &v).as_ref());
        out
    }
}

/// A sealed head as the files hold it.
enum Stored {
    Parts(Head),
    Whole(Part),
}

/// The key of the row hashes, derived from the data key's derivation key (`keys.rs`).
pub(crate) fn head_key(derive: &hmac::Key) -> crate::wipe::Wiped<hmac::Key> {
    let raw = zeroize::Zeroizing::new(hmac::sign(derive, b"zhangban record head v1").as_ref().to_vec());
    crate::wipe::Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, &raw))
}

pub(crate) type Row = (String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);

/// One row's seven columns, borrowed: what a write has in hand ([`super::Txn::write_row`]) or a read found,
/// and what the row's hash covers ([`hash_of`]).
#[derive(Clone, Copy)]
pub(crate) struct RowCols<'a> {
    pub collection: &'a str,
    pub id: &'a str,
    pub subject: &'a str,
    pub tag: Option<&'a str>,
    pub lookup: Option<&'a [u8]>,
    pub body: &'a [u8],
    pub updated_at: i64,
}

impl<'a> RowCols<'a> {
    /// The columns of a row as read ([`Row`]).
    pub(crate) fn of(r: &'a Row) -> RowCols<'a> {
        let (collection, id, subject, tag, lookup, body, updated_at) = r;
        RowCols {
            collection,
            id,
            subject,
            tag: tag.as_deref(),
            lookup: lookup.as_deref(),
            body,
            updated_at: *updated_at,
        }
    }
}

/// The hash of one row from its columns (the values a write has in hand, or a row read). For an ordinary
/// collection, record format 2 (`v2`, ADR 0033) hashes the sealed body's *version* — its length, its first 13 bytes (format and random
/// nonce) and its last 16 (the AES-GCM tag, which authenticates the ciphertext and every other column under
/// the subject's key) — instead of the whole body: a body written back is another version, and damage inside
/// it is found when it is read; the unlock then hashes 37 bytes per row, not the records. The covered
/// collections (few rows, security-relevant) hash the whole body, as format 1 did: damage in one of them is
/// found at the unlock.
pub(crate) fn hash_of(key: &hmac::Key, r: RowCols<'_>, v2: bool) -> [u8; 32] {
    let body = r.body;
    if v2 && !headed(r.collection) && body.len() >= 29 {
        let version = body_version(body.len(), &body[..13], &body[body.len() - 16..]);
        return hash_parts(key, RowCols { body: &version, ..r });
    }
    hash_parts(key, r)
}

/// What an ordinary row's hash covers of its sealed body (record format 2): "v2", its length, its first 13
/// bytes, its last 16.
fn body_version(len: usize, first: &[u8], last: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + 8 + 29);
    v.extend_from_slice(b"v2");
    v.extend_from_slice(&(len as u64).to_be_bytes());
    v.extend_from_slice(first);
    v.extend_from_slice(last);
    v
}

/// The row's hash over its columns as given (`body`: the sealed body, or its version).
fn hash_parts(key: &hmac::Key, r: RowCols<'_>) -> [u8; 32] {
    let mut c = hmac::Context::with_key(key);
    let mut part = |b: Option<&[u8]>| match b {
        None => c.update(&[0]),
        Some(b) => {
            c.update(&[1]);
            c.update(&(b.len() as u64).to_be_bytes());
            c.update(b);
        }
    };
    part(Some(r.collection.as_bytes()));
    part(Some(r.id.as_bytes()));
    part(Some(r.subject.as_bytes()));
    part(r.tag.map(str::as_bytes));
    part(r.lookup);
    part(Some(r.body));
    part(Some(&r.updated_at.to_be_bytes()));
    let mut h = [0u8; 32];
    h.copy_from_slice(c.sign().as_ref());
    h
}

fn row_hash(key: &hmac::Key, r: &Row, v2: bool) -> [u8; 32] {
    hash_of(key, RowCols::of(r), v2)
}

/// Read as bytes (a damaged text column must not make the row unreadable here: it is damage the record's
/// own authentication reports); valid UTF-8 reads as the text written.
const COLUMNS: &str = "CAST(collection AS BLOB), CAST(id AS BLOB), CAST(subject AS BLOB), CAST(tag AS BLOB), \
                       CAST(lookup AS BLOB), CAST(body AS BLOB), CAST(updated_at AS INTEGER)";

fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        text(r.get(0)?),
        text(r.get(1)?),
        text(r.get(2)?),
        r.get::<_, Option<Vec<u8>>>(3)?.map(text),
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

/// The hash of the row (`collection`, `id`) as it is now, if there is one.
pub(crate) fn row_now(conn: &Connection, key: &hmac::Key, collection: &str, id: &str) -> Result<Option<[u8; 32]>> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM records WHERE collection = ?1 AND id = ?2"))?
        .query_row(params![collection, id], read_row)
        .optional()?;
    Ok(row.map(|r| row_hash(key, &r, true)))
}

/// Every row as it is now: the head they make, and the rows (for telling damage from rollback). With
/// `covered_only` (a store of record format 1, whose ordinary collections have no head yet), the covered
/// collections only.
fn rows_now(conn: &Connection, key: &hmac::Key, covered_only: bool) -> Result<(Head, Vec<Row>)> {
    let sql = if covered_only {
        let list = HEADED.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
        format!("SELECT {COLUMNS} FROM records WHERE collection IN ({list})")
    } else {
        format!("SELECT {COLUMNS} FROM records")
    };
    let mut st = conn.prepare(&sql)?;
    let rows: Vec<Row> = st.query_map([], read_row)?.collect::<rusqlite::Result<_>>()?;
    let mut head = Head::default();
    for r in &rows {
        head.toggle(&r.0, &row_hash(key, r, !covered_only), true);
    }
    Ok((head, rows))
}

/// Every row's hash as the store last wrote it, by collection and id (ADR 0036): made at unlock from the
/// rows the head check has just vouched for, kept by every commit, and compared with each row a read
/// decrypts — a row written back, added or deleted under an open store is `RolledBack` at its read.
pub(crate) type Versions = HashMap<String, HashMap<String, [u8; 32]>>;

/// The hash of each row as it is now (record format 2): [`Versions`].
pub(crate) fn versions_now(conn: &Connection, key: &hmac::Key) -> Result<Versions> {
    Ok(head_now(conn, key)?.1)
}

/// The head the rows make now (without its settings part) and each row's hash.
pub(crate) fn head_and_versions(conn: &Connection, key: &hmac::Key) -> Result<(Head, Versions)> {
    head_now(conn, key)
}

/// The settings part the tags in the file make now (every `setting_tag.*` row; one not 32 bytes long is
/// damage).
pub(crate) fn settings_part(conn: &Connection) -> Result<Part> {
    let mut st = conn.prepare("SELECT value FROM meta WHERE substr(key, 1, 12) = 'setting_tag.'")?;
    let tags = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut part = Part::default();
    for t in tags {
        let t = <[u8; 32]>::try_from(t.as_slice()).map_err(|_| Error::corrupted("meta", "setting_tag"))?;
        part.toggle(&t, true);
    }
    Ok(part)
}

/// The head every row makes now (record format 2), reading of an ordinary row's body only its version: the
/// unlock of a store of many records reads a few dozen bytes of each, not the records. With each row's hash.
fn head_now(conn: &Connection, key: &hmac::Key) -> Result<(Head, Versions)> {
    let covered = HEADED.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
    let mut st = conn.prepare(&format!(
        "SELECT CAST(collection AS BLOB), CAST(id AS BLOB), CAST(subject AS BLOB), CAST(tag AS BLOB),
                CAST(lookup AS BLOB), CASE WHEN whole THEN CAST(body AS BLOB) END, CAST(updated_at AS INTEGER),
                length(CAST(body AS BLOB)), substr(CAST(body AS BLOB), 1, 13), substr(CAST(body AS BLOB), -16)
         FROM (SELECT *, collection IN ({covered}) OR length(CAST(body AS BLOB)) < 29 AS whole FROM records)"
    ))?;
    let mut head = Head::default();
    let mut versions = Versions::new();
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (collection, id, h) = version_hash(key, r)?;
        head.toggle(&collection, &h, true);
        versions.entry(collection).or_default().insert(id, h);
    }
    Ok((head, versions))
}

/// The hash of a row of [`head_now`]'s query.
fn version_hash(key: &hmac::Key, r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, [u8; 32])> {
    let (collection, id, subject) = (text(r.get(0)?), text(r.get(1)?), text(r.get(2)?));
    let tag = r.get::<_, Option<Vec<u8>>>(3)?.map(text);
    let lookup: Option<Vec<u8>> = r.get(4)?;
    let at: i64 = r.get(6)?;
    let len: i64 = r.get(7)?;
    let body: Vec<u8>;
    let version;
    let part: &[u8] = if headed(&collection) || len < 29 {
        body = r.get(5)?;
        &body
    } else {
        let (first, last): (Vec<u8>, Vec<u8>) = (r.get(8)?, r.get(9)?);
        version = body_version(len as usize, &first, &last);
        &version
    };
    let cols = RowCols {
        collection: &collection,
        id: &id,
        subject: &subject,
        tag: tag.as_deref(),
        lookup: lookup.as_deref(),
        body: part,
        updated_at: at,
    };
    let h = hash_parts(key, cols);
    Ok((collection, id, h))
}

/// Meta key of the head's *generation* (ADR 0036): the head is sealed with it in its associated data, and
/// the rollback anchor's payload (version 4) names the generation of the last bind. Each bind — every
/// anchored change, and [`super::Store::lock`] after ordinary or outbox changes — seals the head under the
/// next generation in the same transaction as the anchor's move. A head sealed under an older generation
/// (an older head put back with its rows, of any part) does not open as the current one: `RolledBack`.
pub(crate) const GENERATION_META: &str = "record_head_generation";

/// The generation the files name (0: a head of before generations, sealed without one).
pub(crate) fn generation(conn: &Connection) -> Result<u64> {
    super::keys::meta_u64(conn, GENERATION_META)
}

fn aad(generation: u64) -> Vec<u8> {
    if generation == 0 {
        crypto::aad("meta", HEAD_META, "head")
    } else {
        crypto::aad("meta", HEAD_META, &format!("head, generation {generation}"))
    }
}

/// Seals `head` under the next generation (a bind): the caller moves the anchor in the same transaction,
/// naming it. Returns the new generation.
pub(crate) fn rebind(conn: &Connection, data: &LessSafeKey, head: &Head) -> Result<u64> {
    let g = generation(conn)? + 1;
    meta_set(conn, GENERATION_META, &g.to_be_bytes())?;
    save(conn, data, head)?;
    Ok(g)
}

fn load_stored(conn: &Connection, data: &LessSafeKey) -> Result<Option<Stored>> {
    let Some(sealed) = meta_get(conn, HEAD_META)? else { return Ok(None) };
    crypto::open(data, &aad(generation(conn)?), &sealed)
        .and_then(|p| Head::decode(&p))
        .map(Some)
        .ok_or_else(|| Error::corrupted("meta", HEAD_META))
}

/// The sealed head, if the store has one (`Corrupted` when it does not open, or is of before the parts:
/// the unlock check has made every unlocked store's head a new one).
pub(crate) fn load(conn: &Connection, data: &LessSafeKey) -> Result<Option<Head>> {
    match load_stored(conn, data)? {
        None => Ok(None),
        Some(Stored::Parts(h)) => Ok(Some(h)),
        Some(Stored::Whole(_)) => Err(Error::corrupted("meta", HEAD_META)),
    }
}

pub(crate) fn save(conn: &Connection, data: &LessSafeKey, head: &Head) -> Result<()> {
    meta_set(conn, HEAD_META, &crypto::seal(data, &aad(generation(conn)?), &head.encode())?)
}

/// The head of every row as it is now, sealed: a new store, or one upgraded to record format 2.
pub(crate) fn start(conn: &Connection, data: &LessSafeKey, key: &hmac::Key) -> Result<Head> {
    let (head, _) = rows_now(conn, key, false)?;
    save(conn, data, &head)?;
    Ok(head)
}

/// Seals the head of the covered rows only (a store of record format 1): for the upgrade tests.
#[cfg(test)]
pub(crate) fn start_covered_for_test(conn: &Connection, data: &LessSafeKey, key: &hmac::Key) -> Result<Head> {
    let (head, _) = rows_now(conn, key, true)?;
    save(conn, data, &head)?;
    Ok(head)
}

/// Seals the head of the rows in the format of before the parts (one count and XOR): for the upgrade test.
#[cfg(test)]
pub(crate) fn save_whole_for_test(conn: &Connection, data: &LessSafeKey, key: &hmac::Key) -> Result<()> {
    let (head, _) = rows_now(conn, key, true)?;
    let mut v = Vec::new();
    head.whole().encode(&mut v);
    meta_set(conn, HEAD_META, &crypto::seal(data, &aad(generation(conn)?), &v)?)
}

/// What the unlock check found.
pub(crate) enum Checked {
    /// The rows make the sealed head (this one; of another format than this code's — before the parts, or
    /// of record format 1 — the caller or the upgrade seals it again).
    Matches(Head),
    /// No head yet, and none required (a store made before it): the caller starts one.
    Missing,
    /// The covered rows do not make the head: every row, so the caller can tell damage (a row that does
    /// not open) from an older copy (`RolledBack`).
    Differs(Vec<Row>),
    /// The covered parts match; these ordinary collections do not (the stored head, the head the rows
    /// make, the collections, and every row): the caller tells damage from an older copy per collection.
    OrdinaryDiffers { stored: Head, now: Head, collections: Vec<String>, rows: Vec<Row> },
}

/// At unlock: do the rows make the sealed head? A head the anchor requires but that is not there is
/// `Corrupted`. (Whether the head is the one the anchor binds is the caller's check.) `ordinary`: the store is
/// of record format 2 (every collection is in the head); otherwise only the covered collections are.
pub(crate) fn check(
    conn: &Connection,
    data: &LessSafeKey,
    key: &hmac::Key,
    required: bool,
    ordinary: bool,
    versions: &mut Option<Versions>,
) -> Result<Checked> {
    let stored = match load_stored(conn, data)? {
        Some(h) => h,
        None if required => return Err(Error::corrupted("meta", HEAD_META)),
        None => return Ok(Checked::Missing),
    };
    // The head the rows make, reading of an ordinary row's body only what its hash covers (its version); the
    // whole rows only when it differs (to tell damage from an older copy).
    // The settings part is checked by the caller against the settings (`Store::check_settings`).
    let settings = match &stored {
        Stored::Parts(h) => h.settings,
        Stored::Whole(_) => None,
    };
    let mut now = if ordinary {
        let (head, v) = head_now(conn, key)?;
        *versions = Some(v);
        head
    } else {
        rows_now(conn, key, true)?.0
    };
    now.settings = settings;
    if matches!(&stored, Stored::Parts(h) if *h == now) {
        return Ok(Checked::Matches(now));
    }
    *versions = None;
    let (mut now, rows) = rows_now(conn, key, !ordinary)?;
    now.settings = settings;
    match stored {
        Stored::Parts(h) if !ordinary && h.covered_equal(&now) => Ok(Checked::Matches(now)),
        Stored::Parts(h) if h == now => Ok(Checked::Matches(now)),
        Stored::Parts(h) if h.covered_equal(&now) => {
            let collections = now.ordinary_differences(&h);
            Ok(Checked::OrdinaryDiffers { stored: h, now, collections, rows })
        }
        Stored::Whole(w) if !ordinary && w == now.whole() => Ok(Checked::Matches(now)),
        _ => Ok(Checked::Differs(rows)),
    }
}

/// The head a transaction keeps up to date: loaded at its first write.
#[derive(Default)]
pub(crate) struct Pending {
    head: Option<Head>,
    /// A row's hash went out or in: the commit seals the head.
    changed: bool,
    /// A row of an anchored collection changed: the commit moves the rollback epoch too.
    anchored: bool,
}

impl Pending {
    fn loaded(&mut self, conn: &Connection, data: &LessSafeKey) -> Result<&mut Head> {
        if self.head.is_none() {
            self.head = Some(load(conn, data)?.unwrap_or_default());
        }
        self.head.as_mut().ok_or_else(|| Error::Internal("record head not loaded".into()))
    }

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
        if let Some(h) = row_now(conn, key, collection, id)? {
            self.toggle_hash(conn, data, collection, &h, add)?;
        }
        Ok(())
    }

    /// Puts in (or takes out) a row's hash the caller computed from the values it wrote ([`hash_of`]).
    pub(crate) fn toggle_hash(
        &mut self,
        conn: &Connection,
        data: &LessSafeKey,
        collection: &str,
        h: &[u8; 32],
        add: bool,
    ) -> Result<()> {
        self.loaded(conn, data)?.toggle(collection, h, add);
        self.changed = true;
        self.anchored |= headed(collection) && part(collection) == 0;
        Ok(())
    }

    /// Takes a setting's tag out of the settings part (before it is changed or removed) or puts it in.
    pub(crate) fn toggle_setting(
        &mut self,
        conn: &Connection,
        data: &LessSafeKey,
        tag: &[u8; 32],
        add: bool,
    ) -> Result<()> {
        self.loaded(conn, data)?.settings.get_or_insert_with(Part::default).toggle(tag, add);
        self.changed = true;
        Ok(())
    }

    /// Takes out every row of `subject` (before they are deleted with it).
    pub(crate) fn remove_subject(
        &mut self,
        conn: &Connection,
        data: &LessSafeKey,
        key: &hmac::Key,
        subject: &str,
    ) -> Result<()> {
        let rows: Vec<Row> = {
            let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM records WHERE subject = ?1"))?;
            let rows = st.query_map([subject], read_row)?.collect::<rusqlite::Result<_>>()?;
            rows
        };
        for r in &rows {
            self.toggle_hash(conn, data, &r.0, &row_hash(key, r, true), false)?;
        }
        Ok(())
    }

    /// Seals the head if this transaction changed it.
    pub(crate) fn save(&self, conn: &Connection, data: &LessSafeKey) -> Result<()> {
        match &self.head {
            Some(h) if self.changed => save(conn, data, h),
            _ => Ok(()),
        }
    }

    /// Whether this transaction changed the head.
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }

    /// Whether the commit must move the rollback epoch (the anchored part changed).
    pub(crate) fn moves_epoch(&self) -> bool {
        self.anchored
    }

    /// The head as this transaction leaves it, when it touched a collection.
    pub(crate) fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }
}
