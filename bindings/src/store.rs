//! FFI exports: store.
//!
//! [`ZhangbanStore`] is the encrypted local store as the shells see it: open / lock / unlock, records,
//! subjects, attachments, the audit log and an integrity check. Thin: every rule lives in
//! `zhangban_core::store`. Other bindings files take an `Arc<ZhangbanStore>` and reach the core store
//! through [`ZhangbanStore::core`].
//!
//! Calls are synchronous and fast, except: `create`/`unlock`/`change_pin` with a PIN run PBKDF2 with
//! 600,000 iterations on purpose (about half a second on a phone), so shells call them off the main
//! thread; `integrity_check` is async.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zhangban_core::audit::{Entry, NewEntry, Verification};
use zhangban_core::store::{AttachmentInfo, PutOptions, Record, Store, Subject, SubjectKind};
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};
use crate::runtime::blocking;
use crate::vault::{core_vault, KeyVault};

/// The subject id of the phone's owner; every store has it.
#[uniffi::export]
pub fn self_subject() -> String {
    zhangban_core::store::SELF_SUBJECT.to_string()
}

/// One decrypted record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreRecord {
    pub seq: i64,
    pub collection: String,
    pub id: String,
    pub subject: String,
    /// Non-sensitive plaintext state (e.g. "pending"), if any.
    pub tag: Option<String>,
    pub body: Vec<u8>,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<Record> for StoreRecord {
    fn from(r: Record) -> Self {
        StoreRecord {
            seq: r.seq,
            collection: r.collection,
            id: r.id,
            subject: r.subject,
            tag: r.tag,
            body: r.body.to_vec(),
            updated_at: r.updated_at,
        }
    }
}

/// What [`salvage_store`] could read from a damaged store.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SalvageReport {
    /// Every record that still decrypts and authenticates, oldest first.
    pub records: Vec<StoreRecord>,
    /// What could not be read: `"<collection>/<id>"`, `"seq <n>"`, a broken access path
    /// (`"index …"`, `"table records"`), or `"meta/canary"`.
    pub damaged: Vec<String>,
    /// How many records the store should hold (from the counts kept beside the table; 0 if unreadable).
    pub expected_records: u64,
}

/// Opens a damaged store (one that `open` or a read reports as `Corrupted`) only to export what still
/// reads: changes no data, runs no migration; a PIN store needs its PIN and the attempt is counted as
/// at unlock. `WrongKey` only when the vault's key truly does not fit. Call it off the main thread (it
/// reads the whole file).
#[uniffi::export]
pub fn salvage_store(
    dir: String,
    vault: Arc<dyn KeyVault>,
    pin: Option<String>,
) -> Result<SalvageReport, ZhangbanError> {
    guard(|| {
        let s = zhangban_core::store::salvage(Path::new(&dir), core_vault(vault), pin.as_deref())?;
        Ok(SalvageReport {
            expected_records: s.expected.values().sum(),
            damaged: s.damaged,
            records: s.records.into_iter().map(StoreRecord::from).collect(),
        })
    })
}

/// Whom a subject stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SubjectType {
    /// The phone's owner.
    Owner,
    /// A family member the owner applies for.
    Family,
    /// An enterprise the owner represents.
    Enterprise,
    /// A principal (委托人) an agent serves.
    Principal,
}

impl From<SubjectType> for SubjectKind {
    fn from(k: SubjectType) -> Self {
        match k {
            SubjectType::Owner => SubjectKind::Owner,
            SubjectType::Family => SubjectKind::Family,
            SubjectType::Enterprise => SubjectKind::Enterprise,
            SubjectType::Principal => SubjectKind::Principal,
        }
    }
}

impl From<SubjectKind> for SubjectType {
    fn from(k: SubjectKind) -> Self {
        match k {
            SubjectKind::Owner => SubjectType::Owner,
            SubjectKind::Family => SubjectType::Family,
            SubjectKind::Enterprise => SubjectType::Enterprise,
            SubjectKind::Principal => SubjectType::Principal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SubjectInfo {
    pub id: String,
    pub kind: SubjectType,
    pub label: String,
    pub created_at: i64,
    /// True once the subject's key was erased (crypto-shredded).
    pub shredded: bool,
}

impl From<Subject> for SubjectInfo {
    fn from(s: Subject) -> Self {
        SubjectInfo { id: s.id, kind: s.kind.into(), label: s.label, created_at: s.created_at, shredded: s.shredded }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentMeta {
    pub id: String,
    pub subject: String,
    pub name: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

impl From<AttachmentInfo> for AttachmentMeta {
    fn from(a: AttachmentInfo) -> Self {
        AttachmentMeta { id: a.id, subject: a.subject, name: a.name, size: a.size, sha256: a.sha256 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub target: String,
    /// The entry's detail, as JSON text.
    pub detail_json: String,
    /// Hex SHA-256 of this link of the chain.
    pub hash: String,
}

impl From<Entry> for AuditEntry {
    fn from(e: Entry) -> Self {
        AuditEntry {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            target: e.target,
            detail_json: e.detail.to_string(),
            hash: e.hash,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditVerification {
    pub entries: u64,
    /// Sequence number of the first entry whose link is broken; `None` when the chain is intact.
    pub first_broken: Option<i64>,
}

impl From<Verification> for AuditVerification {
    fn from(v: Verification) -> Self {
        AuditVerification { entries: v.entries, first_broken: v.first_broken }
    }
}

/// The encrypted store of one person (or one agent).
#[derive(uniffi::Object)]
pub struct ZhangbanStore {
    inner: Arc<Store>,
}

impl ZhangbanStore {
    /// The core store, for other bindings files (wallet, forms, cases).
    #[allow(dead_code)] // used by the wallet / forms / cases bindings files as they land
    pub(crate) fn core(&self) -> &Arc<Store> {
        &self.inner
    }

    fn wrap(store: Store) -> Arc<Self> {
        Arc::new(ZhangbanStore { inner: Arc::new(store) })
    }
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, CoreError> {
    String::from_utf8(bytes).map_err(|_| {
        CoreError::validation(
            what,
            "内容不是文本（UTF-8），请按字节读取",
            "the body is not UTF-8 text; read it as bytes",
        )
    })
}

#[uniffi::export]
impl ZhangbanStore {
    /// Creates a new store in `dir` (created if missing). With `pin`, unlocking needs the PIN (6 to 128
    /// characters). Fails with `Validation{field: "dir"}` if a store already exists there.
    #[uniffi::constructor]
    pub fn create(dir: String, vault: Arc<dyn KeyVault>, pin: Option<String>) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Store::create(Path::new(&dir), core_vault(vault), pin.as_deref()).map(Self::wrap))
    }

    /// Opens the store in `dir`. Without a PIN it is unlocked at once; with one it opens locked
    /// (`is_locked()`), and `unlock(pin)` must follow. `WrongKey` if the vault's key does not fit.
    #[uniffi::constructor]
    pub fn open(dir: String, vault: Arc<dyn KeyVault>) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Store::open(Path::new(&dir), core_vault(vault)).map(Self::wrap))
    }

    /// Opens the store in `dir`, or creates it there; unlocks with `pin` when it has one.
    #[uniffi::constructor]
    pub fn open_or_create(
        dir: String,
        vault: Arc<dyn KeyVault>,
        pin: Option<String>,
    ) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Store::open_or_create(Path::new(&dir), core_vault(vault), pin.as_deref()).map(Self::wrap))
    }

    pub fn store_id(&self) -> String {
        self.inner.store_id().to_string()
    }

    /// Path of the SQLite database file (for diagnostics and fault tests).
    pub fn db_path(&self) -> String {
        self.inner.db_path().to_string_lossy().into_owned()
    }

    // ---- lock state -----------------------------------------------------------------------------

    pub fn is_locked(&self) -> bool {
        guard(|| Ok(self.inner.is_locked())).unwrap_or(true)
    }

    pub fn has_pin(&self) -> Result<bool, ZhangbanError> {
        guard(|| self.inner.has_pin())
    }

    /// Forgets every key in memory (call when the app goes to the background).
    pub fn lock(&self) {
        // `Store::lock` cannot fail; `guard` only keeps a panic on this side.
        let _ = guard(|| {
            self.inner.lock();
            Ok(())
        });
    }

    /// Unlocks with the vault and the PIN (if the store has one). Errors: `WrongPin{attempts_left}`,
    /// `Locked{retry_after_secs}` after too many wrong PINs, `WrongKey`.
    pub fn unlock(&self, pin: Option<String>) -> Result<(), ZhangbanError> {
        guard(|| self.inner.unlock(pin.as_deref()))
    }

    /// Seconds before another PIN attempt is allowed (0: now).
    pub fn lockout_remaining(&self) -> Result<u64, ZhangbanError> {
        guard(|| self.inner.lockout_remaining())
    }

    /// Sets, changes or removes (`new_pin = None`) the PIN; the old PIN is needed if there is one.
    pub fn change_pin(&self, old_pin: Option<String>, new_pin: Option<String>) -> Result<(), ZhangbanError> {
        guard(|| self.inner.change_pin(old_pin.as_deref(), new_pin.as_deref()))
    }

    // ---- records --------------------------------------------------------------------------------

    /// Writes (inserts or replaces) a record of `subject` with a byte body.
    pub fn put(&self, collection: String, id: String, subject: String, body: Vec<u8>) -> Result<(), ZhangbanError> {
        guard(|| self.inner.put(&collection, &id, &subject, &body))
    }

    /// Writes a record with a text (usually JSON) body.
    pub fn put_string(
        &self,
        collection: String,
        id: String,
        subject: String,
        body: String,
    ) -> Result<(), ZhangbanError> {
        guard(|| self.inner.put(&collection, &id, &subject, body.as_bytes()))
    }

    /// Writes a record with a plaintext `tag` (non-sensitive state) and/or a sensitive `lookup`
    /// identifier, stored only as a keyed hash (see `find_by_lookup`).
    pub fn put_with(
        &self,
        collection: String,
        id: String,
        subject: String,
        body: Vec<u8>,
        tag: Option<String>,
        lookup: Option<String>,
    ) -> Result<(), ZhangbanError> {
        guard(|| {
            let opts = PutOptions { tag: tag.as_deref(), lookup: lookup.as_deref() };
            self.inner.put_with(&collection, &id, &subject, &body, opts)
        })
    }

    /// Reads a record. `NotFound`, `Corrupted{table, record}` (other records stay readable), `Locked`.
    pub fn get(&self, collection: String, id: String) -> Result<StoreRecord, ZhangbanError> {
        guard(|| self.inner.get(&collection, &id).map(StoreRecord::from))
    }

    /// Like `get`, but `None` instead of `NotFound`.
    pub fn get_opt(&self, collection: String, id: String) -> Result<Option<StoreRecord>, ZhangbanError> {
        guard(|| self.inner.get_opt(&collection, &id).map(|r| r.map(StoreRecord::from)))
    }

    /// Reads a record's body as text (`Validation{field: "body"}` if it is not UTF-8).
    pub fn get_string(&self, collection: String, id: String) -> Result<String, ZhangbanError> {
        guard(|| utf8(self.inner.get(&collection, &id)?.body.to_vec(), "body"))
    }

    /// Records of a collection, optionally of one subject, oldest first.
    pub fn list(&self, collection: String, subject: Option<String>) -> Result<Vec<StoreRecord>, ZhangbanError> {
        guard(|| Ok(self.inner.list(&collection, subject.as_deref())?.into_iter().map(StoreRecord::from).collect()))
    }

    /// Records of a collection with a given tag, oldest first.
    pub fn list_tagged(&self, collection: String, tag: String) -> Result<Vec<StoreRecord>, ZhangbanError> {
        guard(|| Ok(self.inner.list_tagged(&collection, &tag)?.into_iter().map(StoreRecord::from).collect()))
    }

    /// Records whose lookup identifier equals `value` (compared as keyed hashes, never plaintext).
    pub fn find_by_lookup(&self, collection: String, value: String) -> Result<Vec<StoreRecord>, ZhangbanError> {
        guard(|| Ok(self.inner.find_by_lookup(&collection, &value)?.into_iter().map(StoreRecord::from).collect()))
    }

    /// Deletes a record; false if there was none.
    pub fn delete(&self, collection: String, id: String) -> Result<bool, ZhangbanError> {
        guard(|| self.inner.delete(&collection, &id))
    }

    // ---- subjects -------------------------------------------------------------------------------

    /// Creates a subject with its own key; returns its id.
    pub fn create_subject(&self, kind: SubjectType, label: String) -> Result<String, ZhangbanError> {
        guard(|| self.inner.create_subject(kind.into(), &label))
    }

    pub fn subjects(&self) -> Result<Vec<SubjectInfo>, ZhangbanError> {
        guard(|| Ok(self.inner.subjects()?.into_iter().map(SubjectInfo::from).collect()))
    }

    /// Erases a subject: deletes its key, records and attachments (crypto-shredding). Not the owner.
    pub fn shred_subject(&self, id: String) -> Result<(), ZhangbanError> {
        guard(|| self.inner.shred_subject(&id))
    }

    // ---- attachments ----------------------------------------------------------------------------

    /// Encrypts `data` into a new attachment of `subject`.
    pub fn write_attachment(
        &self,
        subject: String,
        name: String,
        data: Vec<u8>,
    ) -> Result<AttachmentMeta, ZhangbanError> {
        guard(|| self.inner.write_attachment(&subject, &name, &mut data.as_slice()).map(AttachmentMeta::from))
    }

    /// Encrypts the file at `path` (streamed, not loaded whole) into a new attachment of `subject`.
    pub fn write_attachment_from_path(
        &self,
        subject: String,
        name: String,
        path: String,
    ) -> Result<AttachmentMeta, ZhangbanError> {
        guard(|| {
            let mut f = fs::File::open(&path).map_err(|e| {
                CoreError::validation("path", format!("无法读取文件：{e}"), format!("cannot read: {e}"))
            })?;
            self.inner.write_attachment(&subject, &name, &mut f).map(AttachmentMeta::from)
        })
    }

    pub fn attachment_info(&self, id: String) -> Result<AttachmentMeta, ZhangbanError> {
        guard(|| self.inner.attachment_info(&id).map(AttachmentMeta::from))
    }

    /// Decrypts a whole attachment into memory. `Corrupted` if any chunk fails its check.
    pub fn read_attachment(&self, id: String) -> Result<Vec<u8>, ZhangbanError> {
        guard(|| self.inner.read_attachment_to_vec(&id))
    }

    /// Decrypts an attachment into the file at `path` (streamed). The file appears only when every
    /// chunk checked out (written to a temporary beside it, then renamed). Returns the size.
    pub fn read_attachment_to_path(&self, id: String, path: String) -> Result<u64, ZhangbanError> {
        guard(|| {
            let dest = PathBuf::from(&path);
            let tmp = dest.with_extension("zbtmp");
            let result = (|| {
                let mut f = fs::File::create(&tmp)?;
                let n = self.inner.read_attachment(&id, &mut f)?;
                f.flush()?;
                f.sync_all()?;
                drop(f);
                fs::rename(&tmp, &dest)?;
                Ok(n)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        })
    }

    pub fn delete_attachment(&self, id: String) -> Result<(), ZhangbanError> {
        guard(|| self.inner.delete_attachment(&id))
    }

    // ---- audit ----------------------------------------------------------------------------------

    /// Appends to the hash-chained audit log; `detail_json` must be JSON. Returns the entry's number.
    pub fn audit_append(
        &self,
        actor: String,
        action: String,
        subject: String,
        target: String,
        detail_json: String,
    ) -> Result<i64, ZhangbanError> {
        guard(|| {
            let detail: serde_json::Value = serde_json::from_str(&detail_json)
                .map_err(|_| CoreError::validation("detail_json", "不是有效的 JSON", "not valid JSON"))?;
            let entry = NewEntry { actor: &actor, action: &action, subject: &subject, target: &target, detail };
            self.inner.audit(&entry)
        })
    }

    /// The audit log (optionally only entries about `target`), oldest first.
    pub fn audit_entries(&self, target: Option<String>) -> Result<Vec<AuditEntry>, ZhangbanError> {
        guard(|| Ok(self.inner.audit_entries(target.as_deref())?.into_iter().map(AuditEntry::from).collect()))
    }

    /// Walks the audit chain; reports the first broken link.
    pub fn audit_verify(&self) -> Result<AuditVerification, ZhangbanError> {
        guard(|| self.inner.audit_verify().map(AuditVerification::from))
    }

    // ---- settings and maintenance ---------------------------------------------------------------

    /// A non-sensitive plaintext setting (readable while locked).
    pub fn setting(&self, key: String) -> Result<Option<String>, ZhangbanError> {
        guard(|| self.inner.setting(&key))
    }

    pub fn set_setting(&self, key: String, value: String) -> Result<(), ZhangbanError> {
        guard(|| self.inner.set_setting(&key, &value))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanStore {
    /// SQLite's integrity check of the whole file, off the caller's thread (it reads every page).
    /// `Corrupted{table: "database"}` when SQLite finds damage.
    pub async fn integrity_check(&self) -> Result<(), ZhangbanError> {
        crate::runtime::exit_safe(async move {
            let store = self.inner.clone();
            blocking(move || store.integrity_check()).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::file_vault;

    fn vault(dir: &Path, name: &str) -> Arc<dyn KeyVault> {
        file_vault(dir.join(name).to_string_lossy().into_owned()).unwrap()
    }

    fn s(p: &Path) -> String {
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn records_subjects_attachments_and_audit_through_the_facade() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let v = vault(tmp.path(), "v.key");
        let st = ZhangbanStore::create(s(&dir), v.clone(), None).unwrap();
        assert!(!st.is_locked());
        st.put_string("profile".into(), "me".into(), self_subject(), r#"{"name":"李奶奶"}"#.into()).unwrap();
        assert_eq!(st.get_string("profile".into(), "me".into()).unwrap(), r#"{"name":"李奶奶"}"#);
        st.put("blob".into(), "b".into(), self_subject(), vec![0xff, 0xfe]).unwrap();
        assert!(matches!(
            st.get_string("blob".into(), "b".into()),
            Err(ZhangbanError::Validation { field, .. }) if field == "body"
        ));
        assert!(matches!(st.get("profile".into(), "nobody".into()), Err(ZhangbanError::NotFound { .. })));
        assert_eq!(st.get_opt("profile".into(), "nobody".into()).unwrap(), None);

        st.put_with("person".into(), "p".into(), self_subject(), b"{}".to_vec(), Some("t".into()), Some("ID1".into()))
            .unwrap();
        assert_eq!(st.find_by_lookup("person".into(), "ID1".into()).unwrap().len(), 1);
        assert_eq!(st.list_tagged("person".into(), "t".into()).unwrap()[0].id, "p");

        let p = st.create_subject(SubjectType::Principal, "王大爷".into()).unwrap();
        st.put("draft".into(), "d1".into(), p.clone(), b"x".to_vec()).unwrap();
        let a = st.write_attachment(p.clone(), "id.jpg".into(), vec![9u8; 100_000]).unwrap();
        assert_eq!(st.read_attachment(a.id.clone()).unwrap(), vec![9u8; 100_000]);
        let out = tmp.path().join("out.jpg");
        assert_eq!(st.read_attachment_to_path(a.id.clone(), s(&out)).unwrap(), 100_000);
        assert_eq!(fs::read(&out).unwrap(), vec![9u8; 100_000]);
        st.shred_subject(p.clone()).unwrap();
        assert!(matches!(
            st.put("draft".into(), "d2".into(), p.clone(), b"x".to_vec()),
            Err(ZhangbanError::Shredded { subject }) if subject == p
        ));
        assert!(st.subjects().unwrap().iter().any(|x| x.id == p && x.shredded));

        let n = st
            .audit_append(
                "self".into(),
                "licence.present".into(),
                self_subject(),
                "L1".into(),
                r#"{"to":"hotel"}"#.into(),
            )
            .unwrap();
        assert_eq!(n, 1);
        let e = st.audit_entries(Some("L1".into())).unwrap();
        assert_eq!(e[0].detail_json, r#"{"to":"hotel"}"#);
        assert_eq!(st.audit_verify().unwrap(), AuditVerification { entries: 1, first_broken: None });
        assert!(matches!(
            st.audit_append("a".into(), "b".into(), "c".into(), "d".into(), "{nope".into()),
            Err(ZhangbanError::Validation { field, .. }) if field == "detail_json"
        ));

        st.lock();
        assert!(matches!(st.get("profile".into(), "me".into()), Err(ZhangbanError::Locked { retry_after_secs: 0 })));
        st.unlock(None).unwrap();
        drop(st);
        let other = vault(tmp.path(), "other.key");
        assert!(matches!(ZhangbanStore::open(s(&dir), other), Err(ZhangbanError::WrongKey)));
        let again = ZhangbanStore::open(s(&dir), v).unwrap();
        assert_eq!(again.list("profile".into(), None).unwrap().len(), 1);
    }

    #[test]
    fn a_failed_attachment_read_leaves_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let st = ZhangbanStore::create(s(&tmp.path().join("st")), vault(tmp.path(), "v.key"), None).unwrap();
        let out = tmp.path().join("never.bin");
        assert!(matches!(st.read_attachment_to_path("missing".into(), s(&out)), Err(ZhangbanError::NotFound { .. })));
        assert!(!out.exists());
        assert!(!out.with_extension("zbtmp").exists());
    }
}
