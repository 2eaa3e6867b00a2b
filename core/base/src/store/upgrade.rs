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
