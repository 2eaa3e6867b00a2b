//! Export and import of a whole store, for the end-to-end encrypted backup (`zhangban-backup`).
//!
//! Export reads everything that is the person's in plaintext (records page by page in `seq` order, so a
//! backup streams in bounded memory; subjects; settings; attachments; the audit log; the lookup key) and
//! import writes it into a *fresh* store, keeping record ids, subjects, tags, the keyed lookup hashes and
//! the times. The restored store has its own data key, vault and subject keys: only the lookup key moves
//! with the data (its keyed hashes are in the records), sealed under the new data key in `meta`.

use std::io::Read;

use rusqlite::params;
use zeroize::Zeroizing;

use super::{attachments, keys, subject_key, AttachmentInfo, Store, Subject, Txn, MAX_RECORD_BYTES};
use crate::crypto;
use crate::{Error, Result};

/// One record as a backup carries it: the decrypted body and the plaintext columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedRecord {
    pub seq: i64,
    pub collection: String,
    pub id: String,
    pub subject: String,
    pub tag: Option<String>,
    /// The keyed hash (HMAC-SHA256 under the lookup key) of the record's sensitive identifier.
    pub lookup: Option<Vec<u8>>,
    pub body: Zeroizing<Vec<u8>>,
    pub updated_at: i64,
}

type ExportRow = (i64, String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);

impl Store {
    /// Up to `limit` records of every collection with `seq > after_seq`, in `seq` order, decrypted.
    /// Records of shredded subjects are gone already (shredding deletes them); a record that does not
    /// authenticate is `Corrupted` naming it: a backup never carries damaged data silently.
    pub fn export_records(&self, after_seq: i64, limit: usize) -> Result<Vec<ExportedRecord>> {
        self.export_records_written_after(-1, after_seq, limit)
    }

    /// The store's write sequence: a counter that every insert or update of a record and every stored
    /// attachment moves up by one (triggers, migration 13), whatever the clock says. An incremental
    /// backup remembers it and later carries what was written after it.
    pub fn write_sequence(&self) -> Result<i64> {
        let g = self.guard();
        Ok(g.conn.query_row("SELECT n FROM write_seq WHERE id = 1", [], |r| r.get(0))?)
    }

    /// Like [`Store::export_records`], only the records written after write sequence `after_write`
    /// ([`Store::write_sequence`]): an incremental backup. Not by `updated_at`: a clock set back and
    /// forward again between two backups would hide the writes made while it was behind (ADR 0021). An
    /// update keeps its `seq`, so `seq` cannot tell what changed either.
    pub fn export_records_written_after(
        &self,
        after_write: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<ExportedRecord>> {
        self.read(|conn, u| {
            let mut st = conn.prepare_cached(
                "SELECT seq, collection, id, subject, tag, lookup, body, updated_at FROM records
                 WHERE seq > ?1 AND wseq > ?3 ORDER BY seq LIMIT ?2",
            )?;
            let rows: Vec<ExportRow> = st
                .query_map(params![after_seq, limit as i64, after_write], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            drop(st);
            rows.into_iter()
                .map(|(seq, collection, id, subject, tag, lookup, body, updated_at)| {
                    let rec = super::decode_row(
                        conn,
                        u,
                        &collection,
                        (seq, id, subject, tag, lookup.clone(), body, updated_at),
                    )?;
                    Ok(ExportedRecord {
                        seq,
                        collection,
                        id: rec.id,
                        subject: rec.subject,
                        tag: rec.tag,
                        lookup,
                        body: rec.body,
                        updated_at,
                    })
                })
                .collect()
        })
    }

    /// Up to `limit` record keys `(seq, collection, id, subject)` with `seq > after_seq`, in `seq` order,
    /// from the plaintext columns only (nothing is decrypted): what an incremental backup lists as alive.
    pub fn record_keys(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, String, String, String)>> {
        let g = self.guard();
        let mut st = g
            .conn
            .prepare_cached("SELECT seq, collection, id, subject FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = st
            .query_map(params![after_seq, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// How many records the store holds, by the counts its triggers keep.
    pub fn record_total(&self) -> Result<u64> {
        let g = self.guard();
        let n: i64 = g.conn.query_row("SELECT COALESCE(SUM(n), 0) FROM record_counts", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// The raw lookup key (32 bytes), for a backup: the restored store must compute the same keyed hashes.
    pub fn export_lookup_key(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.read(|_, u| Ok(u.keys.lookup_raw.clone()))
    }

    /// Adopts the lookup key of the store a backup came from. Only for a store that holds no keyed hash
    /// yet (a fresh store being restored into), so no existing lookup stops working.
    pub fn adopt_lookup_key(&self, raw: &[u8]) -> Result<()> {
        if raw.len() != 32 {
            return Err(Error::corrupted("backup", "lookup key"));
        }
        self.transaction(|t| {
            // Keyed ids (finding 11) are made with the lookup key too.
            let keyed = super::KEYED_IDS.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
            let used: i64 = t.tx.query_row(
                &format!("SELECT count(*) FROM records WHERE lookup IS NOT NULL OR collection IN ({keyed})"),
                [],
                |r| r.get(0),
            )?;
            if used > 0 {
                return Err(Error::validation(
                    "store",
                    "只能恢复到新的空白数据中",
                    "a backup can only be restored into a new, empty store",
                ));
            }
            let sealed = crypto::seal(&t.u.keys.data, &crypto::aad("meta", keys::LOOKUP_KEY_META, "key"), raw)?;
            keys::meta_set(&t.tx, keys::LOOKUP_KEY_META, &sealed)?;
            t.u.keys.lookup_raw = Zeroizing::new(raw.to_vec());
            t.u.keys.lookup = crate::wipe::Wiped::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, raw));
            Ok(())
        })
    }

    /// Every plaintext setting (`Store::setting`), sorted by key.
    pub fn settings(&self) -> Result<Vec<(String, String)>> {
        let g = self.guard();
        let mut st = g.conn.prepare("SELECT key, value FROM meta WHERE key LIKE 'setting.%' ORDER BY key")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (k, v) = row?;
            let v = String::from_utf8(v).map_err(|_| Error::corrupted("meta", &k))?;
            out.push((k["setting.".len()..].to_string(), v));
        }
        Ok(out)
    }

    /// Every attachment of every subject that is not shredded, oldest first.
    pub fn attachments(&self) -> Result<Vec<AttachmentInfo>> {
        self.attachments_written_after(-1)
    }

    /// The attachments stored after write sequence `after_write` ([`Store::write_sequence`]) of every
    /// subject that is not shredded, oldest first: an incremental backup's new ones (an attachment never
    /// changes once stored).
    pub fn attachments_written_after(&self, after_write: i64) -> Result<Vec<AttachmentInfo>> {
        let ids: Vec<String> = {
            let g = self.guard();
            let mut st = g.conn.prepare(
                "SELECT a.id FROM attachments a JOIN subjects s ON s.id = a.subject
                 WHERE s.wrapped_key IS NOT NULL AND a.wseq > ?1 ORDER BY a.wseq, a.created_at, a.id",
            )?;
            let ids = st.query_map([after_write], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            ids
        };
        ids.iter().map(|id| self.attachment_info(id)).collect()
    }

    /// The ids and subjects of every attachment of a subject that is not shredded (nothing decrypted).
    pub fn attachment_ids(&self) -> Result<Vec<(String, String)>> {
        let g = self.guard();
        let mut st = g.conn.prepare(
            "SELECT a.id, a.subject FROM attachments a JOIN subjects s ON s.id = a.subject
             WHERE s.wrapped_key IS NOT NULL ORDER BY a.created_at, a.id",
        )?;
        let ids = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Writes an attachment under the id it had in the store a backup came from, checking that the
    /// bytes read are exactly `size` bytes with SHA-256 `sha256`.
    pub fn import_attachment(&self, info: &AttachmentInfo, reader: &mut dyn Read) -> Result<()> {
        let damaged = || Error::corrupted("backup", format!("attachment {}", info.id));
        if !attachments::is_attachment_id(&info.id) {
            return Err(damaged());
        }
        let key = self.read(|conn, u| subject_key(conn, u, &info.subject))?;
        let written = attachments::write_with_id(&self.dir, &key, &info.id, &info.subject, &info.name, reader)?;
        if written.size != info.size || written.sha256 != info.sha256 {
            let _ = std::fs::remove_file(attachments::file_path(&self.dir, &info.id));
            return Err(damaged());
        }
        let sealed_name = crypto::seal(&key, &crypto::aad("attachments", &info.id, "name"), info.name.as_bytes())?;
        self.transaction(|t| {
            let now = t.now();
            super::metadata::insert_attachment(&t.tx, &key, info, &sealed_name, now)
        })
    }
}

impl Txn<'_> {
    /// Writes a record exactly as exported (id, subject, tag, keyed lookup hash, time), sealed under the
    /// subject key of this store.
    pub fn import_record(&mut self, r: &ExportedRecord) -> Result<()> {
        if r.body.len() > MAX_RECORD_BYTES {
            return Err(Error::corrupted("backup", format!("{}/{}", r.collection, r.id)));
        }
        // Exactly as exported: a backup made before keyed ids (finding 11) carries licence ids as record
        // ids, which the next unlock converts (`metadata::seal_all`).
        self.write_row(super::heads::RowCols {
            collection: &r.collection,
            id: &r.id,
            subject: &r.subject,
            tag: r.tag.as_deref(),
            lookup: r.lookup.as_deref(),
            body: &r.body,
            updated_at: r.updated_at,
        })
    }

    /// Creates a subject as exported (id, kind, label, creation time) with a new key of this store; the
    /// owner subject, which every store has, only gets its label.
    pub fn import_subject(&mut self, s: &Subject) -> Result<()> {
        let exists = super::metadata::kind_of(&self.tx, &self.u.keys.data, &s.id)?;
        if exists.is_none() {
            self.create_subject(&s.id, s.kind, &s.label)?;
        } else if exists != Some(s.kind) {
            return Err(Error::corrupted("backup", format!("subject {}", s.id)));
        }
        let key = subject_key(&self.tx, self.u, &s.id)?;
        let label = crypto::seal(&key, &crypto::aad("subjects", &s.id, "label"), s.label.as_bytes())?;
        self.tx.execute(
            "UPDATE subjects SET label = ?2, created_at = ?3 WHERE id = ?1",
            params![s.id, label, s.created_at],
        )?;
        Ok(())
    }

    /// Sets a plaintext setting inside the transaction, with its tag (ADR 0036: covered by the record head).
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.remove_setting(key)?;
        let tag = super::heads::setting_tag(&self.u.keys.head, key, value.as_bytes());
        keys::meta_set(&self.tx, &format!("setting.{key}"), value.as_bytes())?;
        keys::meta_set(&self.tx, &format!("setting_tag.{key}"), &tag)?;
        self.heads.toggle_setting(&self.tx, &self.u.keys.data, &tag, true)
    }

    /// Removes a plaintext setting and its tag inside the transaction; true when it was there.
    pub fn remove_setting(&mut self, key: &str) -> Result<bool> {
        if let Some(t) = keys::meta_get(&self.tx, &format!("setting_tag.{key}"))? {
            if let Ok(t) = <[u8; 32]>::try_from(t.as_slice()) {
                self.heads.toggle_setting(&self.tx, &self.u.keys.data, &t, false)?;
            }
        }
        self.tx.execute("DELETE FROM meta WHERE key = ?1", [format!("setting_tag.{key}")])?;
        Ok(self.tx.execute("DELETE FROM meta WHERE key = ?1", [format!("setting.{key}")])? > 0)
    }
}
