//! FFI exports: store.
//!
//! [`ZhangbanStore`] is the encrypted local store as the shells see it: open / lock / unlock, subjects,
//! attachments, reading the audit log and an integrity check. Records, audit entries and settings are
//! written only by the features (profile, drafts, wallet, cases), never raw by a shell: a raw write could
//! put a profile, a licence or a case behind every rule. Thin: every rule lives in `zhangban_core::store`. Other bindings files take an `Arc<ZhangbanStore>` and reach the core store
//! through [`ZhangbanStore::core`].
//!
//! Calls are synchronous and fast, except: `create`/`unlock`/`change_pin` with a PIN run PBKDF2 with
//! 600,000 iterations on purpose (about half a second on a phone), so shells call them off the main
//! thread; `integrity_check` is async.

use std::path::Path;
use std::sync::Arc;

use zhangban_core::audit::{AuditEntry, AuditVerification};
use zhangban_core::store::{AttachmentInfo, SalvageReport, Store, Subject, SubjectKind};
use zhangban_core::{Clock, FixedClock};

use crate::error::{guard, ZhangbanError};
use crate::runtime::blocking;
use crate::vault::{core_vault, KeyVault};

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
    guard(|| Ok(zhangban_core::store::salvage(Path::new(&dir), core_vault(vault), pin.as_deref())?.report()))
}

/// A clock that stands still until told to move, for tests and the demo: a store opened with it
/// ([`ZhangbanStore::open_or_create_with_clock`]) reads the time from it. Refused (`Validation{field:
/// "clock"}`) in a build that does not pin the sandbox's test anchors (ADR 0019).
#[derive(uniffi::Object)]
pub struct ZhangbanTestClock(Arc<FixedClock>);

#[uniffi::export]
impl ZhangbanTestClock {
    #[uniffi::constructor]
    pub fn new(unix_secs: i64) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Ok(Arc::new(ZhangbanTestClock(zhangban_core::clock::test_clock(unix_secs)?))))
    }

    /// Sets the wall clock (Unix seconds).
    pub fn set(&self, unix_secs: i64) {
        self.0.set(unix_secs)
    }

    /// Time passes: `secs` later (negative: earlier).
    pub fn advance(&self, secs: i64) {
        self.0.advance(secs)
    }

    pub fn now(&self) -> i64 {
        self.0.now_secs()
    }
}

/// The encrypted store of one person (or one agent).
#[derive(uniffi::Object)]
pub struct ZhangbanStore {
    inner: Arc<Store>,
}

impl ZhangbanStore {
    /// The core store, for other bindings files (wallet, forms, cases).
    pub(crate) fn core(&self) -> &Arc<Store> {
        &self.inner
    }

    fn wrap(store: Store) -> Arc<Self> {
        Arc::new(ZhangbanStore { inner: Arc::new(store) })
    }
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

    /// [`Self::open_or_create`] with a test clock (tests and the demo step it).
    #[uniffi::constructor]
    pub fn open_or_create_with_clock(
        dir: String,
        vault: Arc<dyn KeyVault>,
        pin: Option<String>,
        clock: Arc<ZhangbanTestClock>,
    ) -> Result<Arc<Self>, ZhangbanError> {
        let (vault, clock) = (core_vault(vault), clock.0.clone());
        guard(|| Store::open_or_create_with(Path::new(&dir), vault, pin.as_deref(), clock).map(Self::wrap))
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

    /// Offers the platform's device key (Android Keystore / StrongBox, iOS Secure Enclave) for this session,
    /// once, right after opening: every path that signs with the device key uses it (the wallet, the
    /// background licence issuance, registration, the old phone's transfer signature, agent mode). The core
    /// decides whether it is the store's key (ADR 0029, 0035). Cannot fail or panic (a poisoned lock is taken over).
    pub fn offer_device_signer(&self, signer: Arc<dyn crate::wallet::DeviceSigner>) {
        self.inner.offer_device_signer(Arc::new(crate::wallet::ForeignSigner(signer)))
    }

    /// Forgets every key in memory (the app stayed in the background as long as `left_the_screen` said).
    pub fn lock(&self) {
        // `Store::lock` cannot fail; only a panic is kept on this side.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.lock()));
    }

    /// The app left the screen: binds the changes since the last bind (best effort, ADR 0038), then the seconds
    /// to wait before `lock` (the person's setting, else 30 s); `None`: never (no PIN). The core decides both.
    pub fn left_the_screen(&self) -> Result<Option<u32>, ZhangbanError> {
        guard(|| self.inner.left_the_screen())
    }

    /// Sets that delay: 0 (at once) to 3,600 s (`Validation{field: "lock_after_background"}` beyond).
    pub fn set_lock_after_background(&self, secs: u32) -> Result<(), ZhangbanError> {
        guard(|| self.inner.set_lock_after_background(secs))
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

    // ---- subjects -------------------------------------------------------------------------------

    /// Creates a subject with its own key; returns its id.
    pub fn create_subject(&self, kind: SubjectKind, label: String) -> Result<String, ZhangbanError> {
        guard(|| self.inner.create_subject(kind, &label))
    }

    pub fn subjects(&self) -> Result<Vec<Subject>, ZhangbanError> {
        guard(|| self.inner.subjects())
    }

    /// Erases a subject: deletes its key, records and attachments (crypto-shredding). Not the owner.
    pub fn shred_subject(&self, id: String) -> Result<(), ZhangbanError> {
        guard(|| self.inner.shred_subject(&id))
    }

    // ---- attachments ----------------------------------------------------------------------------

    /// Encrypts `data` into a new attachment of `subject`; a principal's (an agent's phone, for a case's 补正)
    /// only under their mandate (scope `fill`, audited).
    pub fn write_attachment(
        &self,
        subject: String,
        name: String,
        data: Vec<u8>,
    ) -> Result<AttachmentInfo, ZhangbanError> {
        guard(|| zhangban_core::agent::agent::attach_for(&self.inner, &subject, &name, &mut data.as_slice()))
    }

    /// Encrypts the file at `path` (streamed, not loaded whole) into a new attachment of `subject`.
    pub fn write_attachment_from_path(
        &self,
        subject: String,
        name: String,
        path: String,
    ) -> Result<AttachmentInfo, ZhangbanError> {
        guard(|| self.inner.plain().write_attachment_from_path(&subject, &name, Path::new(&path)))
    }

    pub fn attachment_info(&self, id: String) -> Result<AttachmentInfo, ZhangbanError> {
        guard(|| self.inner.plain().attachment_info(&id))
    }

    /// Decrypts a whole attachment into memory. `Corrupted` if any chunk fails its check.
    pub fn read_attachment(&self, id: String) -> Result<Vec<u8>, ZhangbanError> {
        guard(|| self.inner.plain().read_attachment_to_vec(&id))
    }

    /// Decrypts an attachment into the file at `path` (streamed); the file appears only when every chunk
    /// checked out. Returns the size.
    pub fn read_attachment_to_path(&self, id: String, path: String) -> Result<u64, ZhangbanError> {
        guard(|| self.inner.plain().read_attachment_to_path(&id, Path::new(&path)))
    }

    pub fn delete_attachment(&self, id: String) -> Result<(), ZhangbanError> {
        guard(|| self.inner.plain().delete_attachment(&id))
    }

    // ---- audit ----------------------------------------------------------------------------------

    /// The audit log (optionally only entries about `target`), oldest first.
    pub fn audit_entries(&self, target: Option<String>) -> Result<Vec<AuditEntry>, ZhangbanError> {
        guard(|| self.inner.audit_entries(target.as_deref()))
    }

    /// Walks the audit chain; reports the first broken link.
    pub fn audit_verify(&self) -> Result<AuditVerification, ZhangbanError> {
        guard(|| self.inner.audit_verify())
    }

    // ---- settings and maintenance ---------------------------------------------------------------

    /// A non-sensitive plaintext setting (readable while locked).
    pub fn setting(&self, key: String) -> Result<Option<String>, ZhangbanError> {
        guard(|| self.inner.setting(&key))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanStore {
    /// SQLite's integrity check of the whole file, off the caller's thread (it reads every page).
    /// `Corrupted{table: "database"}` when SQLite finds damage.
    pub async fn integrity_check(&self) -> Result<(), ZhangbanError> {
        let store = self.inner.clone();
        crate::runtime::exit_safe(blocking(move || store.integrity_check())).await
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
    fn subjects_attachments_audit_and_keys_through_the_facade() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let v = vault(tmp.path(), "v.key");
        let st = ZhangbanStore::create(s(&dir), v.clone(), None).unwrap();
        assert!(!st.is_locked());

        // A family member (a principal's attachments are agent mode's: `Store::plain`, tests/python/test_ffi_attacks.py).
        let p = st.create_subject(SubjectKind::Family, "王大爷".into()).unwrap();
        let a = st.write_attachment(p.clone(), "id.jpg".into(), vec![9u8; 100_000]).unwrap();
        assert_eq!(st.attachment_info(a.id.clone()).unwrap(), a);
        assert_eq!(st.read_attachment(a.id.clone()).unwrap(), vec![9u8; 100_000]);
        st.shred_subject(p.clone()).unwrap();
        assert!(matches!(
            st.write_attachment(p.clone(), "x".into(), vec![1]),
            Err(ZhangbanError::Shredded { subject }) if subject == p
        ));
        assert!(st.subjects().unwrap().iter().any(|x| x.id == p && x.kind == SubjectKind::Family && x.shredded));
        assert!(matches!(st.read_attachment(a.id), Err(ZhangbanError::NotFound { .. })));

        // Audit entries are written by features (the wallet, cases); here the core's own call stands in.
        let detail = serde_json::json!({"to": "hotel"});
        let entry = zhangban_core::audit::NewEntry {
            actor: "self",
            action: "licence.present",
            subject: zhangban_core::store::SELF_SUBJECT,
            target: "L1",
            detail: detail.clone(),
        };
        assert_eq!(st.core().audit(&entry).unwrap(), 1);
        assert_eq!(st.audit_entries(Some("L1".into())).unwrap()[0].detail, detail);
        assert_eq!(st.audit_verify().unwrap(), AuditVerification { entries: 1, first_broken: None });

        st.lock();
        assert!(matches!(st.audit_entries(None), Err(ZhangbanError::Locked { retry_after_secs: 0 })));
        st.unlock(None).unwrap();
        drop(st);
        let other = vault(tmp.path(), "other.key");
        assert!(matches!(ZhangbanStore::open(s(&dir), other), Err(ZhangbanError::WrongKey)));
        assert_eq!(ZhangbanStore::open(s(&dir), v).unwrap().audit_entries(None).unwrap().len(), 1);
    }

    #[test]
    fn a_missing_source_file_is_a_validation_error_of_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let st = ZhangbanStore::create(s(&tmp.path().join("st")), vault(tmp.path(), "v.key"), None).unwrap();
        let r = st.write_attachment_from_path(
            zhangban_core::store::self_subject(),
            "x".into(),
            s(&tmp.path().join("missing.bin")),
        );
        assert!(matches!(r, Err(ZhangbanError::Validation { field, .. }) if field == "path"));
    }
}
