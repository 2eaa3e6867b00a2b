//! The upgrade of a store of format 1 to format 2 (docs/formats.md § store), at its first unlock by this
//! code, in one transaction: a subject key ring is made (its key in the vault), every subject key moves
//! from the data key into the ring, each label and attachment name is sealed anew under its subject's key,
//! an erased subject's label is removed, and the audit log is re-chained with its key (see
//! [`crate::audit::upgrade`]). Something that does not open (damaged) is left as it is: it is reported as
//! damage when it is read, and the rest is upgraded.
//!
//! A copy of the files taken *before* the upgrade still holds subject keys under the data key alone: the
//! erasure of a subject holds against copies taken after the store was upgraded (docs/SECURITY.md).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{params, Connection};

use super::{keys, ring_aad, KeyVault, Unlocked, SELF_SUBJECT};
use crate::crypto;
use crate::Result;

pub(super) fn to_format2(conn: &mut Connection, vault: &dyn KeyVault, store_id: &str, u: &mut Unlocked) -> Result<()> {
    let tx = conn.transaction()?;
    let ring = keys::new_ring(&tx, vault, store_id, &u.keys, 1)?;
    keys::meta_set(&tx, "ring_destroyed_below", &1u64.to_be_bytes())?;
    let subjects: Vec<(String, Option<Vec<u8>>, Vec<u8>)> = {
        let mut st = tx.prepare("SELECT id, wrapped_key, label FROM subjects")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    let mut live: HashMap<String, super::SubjectKey> = HashMap::new();
    let mut erased: HashSet<String> = HashSet::new();
    for (id, wrapped, label) in subjects {
        let Some(wrapped) = wrapped else {
            tx.execute("UPDATE subjects SET label = x'' WHERE id = ?1", [&id])?;
            erased.insert(id);
            continue;
        };
        let Some(raw) = crypto::open(&u.keys.data, &crypto::aad("subjects", &id, "key"), &wrapped) else { continue };
        let key = crypto::aead_key(&raw)?;
        let rewrapped = crypto::seal(&ring.wrap, &ring_aad(&id), &raw)?;
        let label_aad = crypto::aad("subjects", &id, "label");
        let label = match crypto::open(&u.keys.data, &label_aad, &label) {
            Some(plain) => crypto::seal(&key, &label_aad, &plain)?,
            None => label,
        };
        tx.execute("UPDATE subjects SET wrapped_key = ?2, label = ?3 WHERE id = ?1", params![id, rewrapped, label])?;
        live.insert(id, Arc::new(key));
    }
    let names: Vec<(String, String, Vec<u8>)> = {
        let mut st = tx.prepare("SELECT id, subject, name FROM attachments")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    for (id, subject, name) in names {
        let aad = crypto::aad("attachments", &id, "name");
        if let (Some(key), Some(plain)) = (live.get(&subject), crypto::open(&u.keys.data, &aad, &name)) {
            tx.execute(
                "UPDATE attachments SET name = ?2 WHERE id = ?1",
                params![id, crypto::seal(key, &aad, &plain)?],
            )?;
        }
    }
    // The owner's details stay under the data key, as new ones are written.
    let subject_key = |s: &str| if s == SELF_SUBJECT { None } else { live.get(s).cloned() };
    crate::audit::upgrade(&tx, &u.audit_keys(), &subject_key, &|s| erased.contains(s))?;
    tx.commit()?;
    u.ring = Some(ring);
    u.subject_keys = live;
    Ok(())
}

/// The upgrade to record format 2 (ADR 0033), at the first unlock by this code, in one transaction, after
/// the record head of before was checked:
///
/// * **the data key is rotated** (finding 3, the rest): a new random data key, wrapped under a new vault
///   alias (`keys::rotate_envelope`); the aliases of before are destroyed once this commits. A copy of the
///   files taken before — of format 1, whose subject keys are sealed under the old data key alone, or any
///   other — then names a vault key that no longer exists, and the live store no longer holds the old data
///   key either: nothing opens the old copy's subject keys. The canary, the record head and the audit log
///   (its chain key and the owner's details: `audit::rekey`) move to the new key; the subject keys move to
///   a new ring (a new ring key; the old ring alias is destroyed too); the keyed lookups keep their key
///   (sealed under the new data key, as a restored store keeps its own), so no lookup hash changes;
/// * **every record is sealed again** with all its columns in the associated data (`record_aad`);
/// * the record head is made over every collection and bound to the anchor (the epoch moves).
///
/// A record that does not open under format 1 is left as it is (damage, reported when read), unless it
/// opens under format 2: then the store already was of format 2 and its record format was deleted to make
/// it run this upgrade again (which would take the head from the rows as they are): `Corrupted`.
pub(super) fn to_records_v2(
    conn: &mut Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    u: &mut Unlocked,
    pin_layer: Option<&ring::aead::LessSafeKey>,
) -> Result<()> {
    let tx = conn.transaction()?;
    let raw = crypto::random_key()?;
    let mut new = keys::Keys::from_raw(&raw)?;
    // The keyed lookups keep their key: sealed under the new data key (`export.rs` reads it at unlock).
    new.lookup_raw = u.keys.lookup_raw.clone();
    new.lookup = crate::wipe::Wiped::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &new.lookup_raw));
    let sealed_lookup = crypto::seal(&new.data, &crypto::aad("meta", keys::LOOKUP_KEY_META, "key"), &new.lookup_raw)?;
    keys::meta_set(&tx, keys::LOOKUP_KEY_META, &sealed_lookup)?;

    // Every record sealed again with all its columns bound (its subject key does not change).
    type Row = (i64, String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);
    let rows: Vec<Row> = {
        let mut st = tx.prepare("SELECT seq, collection, id, subject, tag, lookup, body, updated_at FROM records")?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    for (seq, collection, id, subject, tag, lookup, body, at) in rows {
        let Ok(key) = super::subject_key(&tx, u, &subject) else { continue };
        let (Ok(v1), Ok(v2)) = (
            super::record_aad_v1(&collection, &id, &subject),
            super::record_aad(&collection, &id, &subject, tag.as_deref(), lookup.as_deref(), at),
        ) else {
            continue;
        };
        match crypto::open(&key, &v1, &body) {
            Some(plain) => {
                let sealed = crypto::seal(&key, &v2, &plain)?;
                tx.execute("UPDATE records SET body = ?2 WHERE seq = ?1", params![seq, sealed])?;
            }
            None if crypto::open(&key, &v2, &body).is_some() => {
                return Err(crate::Error::corrupted("meta", keys::RECORD_FORMAT_META));
            }
            None => {}
        }
    }

    // The audit log under the new keys (its targets' tokens too), and the subject kinds sealed under the
    // data key (finding 11) sealed again — before the ring changes, while the subjects' keys still open
    // under the old one.
    {
        let new_audit = crate::audit::AuditKeys { data: &new.data, chain: &new.audit };
        let Unlocked { keys: old_keys, subject_keys, ring: old_ring, .. } = &mut *u;
        let mut key_of =
            |subject: &str| super::subject_key_in(&tx, subject_keys, old_ring.as_ref(), &old_keys.data, subject);
        crate::audit::rekey(
            &tx,
            &crate::audit::AuditKeys { data: &old_keys.data, chain: &old_keys.audit },
            &new_audit,
            &mut key_of,
        )?;
    }
    let kinds: Vec<(String, Vec<u8>)> = {
        let mut st = tx.prepare("SELECT id, kind_sealed FROM subjects WHERE kind_sealed IS NOT NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    for (id, sealed) in kinds {
        // A kind that does not open (damaged) stays as it is: reading it reports the damage.
        if let Ok(kind) = super::metadata::open_kind(&u.keys.data, &id, "", Some(&sealed)) {
            let again = super::metadata::seal_kind(&new.data, &id, kind)?;
            tx.execute("UPDATE subjects SET kind_sealed = ?2 WHERE id = ?1", params![id, again])?;
        }
    }

    // The subject keys under a new ring made from the new data key (the old ring alias is destroyed after).
    let old_ring = u.ring.as_ref().ok_or_else(|| crate::Error::Internal("store without a subject ring".into()))?;
    let ring = keys::new_ring(&tx, vault, store_id, &new, old_ring.generation + 1)?;
    let wrapped: Vec<(String, Vec<u8>)> = {
        let mut st = tx.prepare("SELECT id, wrapped_key FROM subjects WHERE wrapped_key IS NOT NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        rows
    };
    for (id, w) in wrapped {
        // A wrapped key that does not open (damaged) stays as it is: it never opens again.
        if let Some(k) = crypto::open(&old_ring.wrap, &ring_aad(&id), &w) {
            let rewrapped = crypto::seal(&ring.wrap, &ring_aad(&id), &k)?;
            tx.execute("UPDATE subjects SET wrapped_key = ?2 WHERE id = ?1", params![id, rewrapped])?;
        }
    }

    keys::rotate_envelope(&tx, vault, store_id, &raw, &new, pin_layer)?;
    let head = super::heads::start(&tx, &new.data, &new.head)?;
    let g = super::heads::rebind(&tx, &new.data, &head)?;
    let bound = super::anchor::Heads::Sealed(head.bind(), g);
    super::anchor::advance(&tx, vault, store_id, bound)?;
    tx.commit()?;
    new.anchor_heads = bound;
    u.keys = new;
    u.ring = Some(ring);
    u.records_v2 = true;
    let _ = super::anchor::destroy_old(conn, vault, store_id);
    Ok(())
}
