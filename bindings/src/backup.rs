//! FFI exports: backup, restore on a new phone, re-binding, following a case by its receipt. Thin: every
//! rule and text lives in `zhangban_core::backup` (recovery code, sealed file, restore) and
//! `zhangban_core::sync` (`rebind`, `follow`), whose records cross as they are; their errors map in
//! `error.rs` (a backup problem is `ZhangbanError::Backup { code, .. }`).
//!
//! Old phone: [`ZhangbanBackup`] makes the recovery code, writes the backup file the shell hands to the OS
//! (Storage Access Framework, iOS Files), and signs a phone-to-phone transfer. New phone:
//! [`inspect_backup`] (no code), [`open_backup_file`] (the code, Argon2id: async), `restore` into a new
//! folder, then `ZhangbanStore.open` and [`ZhangbanBackup`] to register, re-bind and follow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zhangban_core::backup::{self, BackupInfo, BackupKey, BackupSummary, RestoreSummary};
use zhangban_core::cases::CaseSummary;
use zhangban_core::store::Store;
use zhangban_core::sync::blob::BlobInfo;
use zhangban_core::sync::rebind::{self, RebindReport, TransferProof};
use zhangban_core::sync::PlatformClient;
use zhangban_core::wallet::Wallet;
use zhangban_core::SystemClock;

use crate::error::{guard, guard_ffi, ZhangbanError};
use crate::runtime::{blocking, exit_safe};
use crate::store::ZhangbanStore;
use crate::vault::{core_vault, KeyVault};

/// The plaintext header of a backup file (no code needed): `Backup{code: "not_a_backup" | "truncated" |
/// "damaged" | "unsupported_version"}` when it is not one this app can restore.
#[uniffi::export]
pub fn inspect_backup(path: String) -> Result<BackupInfo, ZhangbanError> {
    guard_ffi(|| backup::inspect_backup(Path::new(&path)))
}

/// Opens the backup at `path` with the typed-in recovery code: a typo is `Backup{code: "code_typo"}` at
/// once, a code that does not fit `Backup{code: "wrong_code"}` after the KDF (Argon2id, 32 MiB: async).
#[uniffi::export(async_runtime = "tokio")]
pub async fn open_backup_file(path: String, code: String) -> Result<Arc<ZhangbanBackupFile>, ZhangbanError> {
    open_backup_files(vec![path], code).await
}

/// Opens a full backup and the increments made after it (`paths` in any order: the core orders them by
/// their headers, `backup::open_chain`) with the recovery code, which opens the newest file. A missing or
/// foreign file is refused at `restore` (`Backup{code: "missing_base" | "increment_missing" |
/// "chain_order"}`) before anything is written.
#[uniffi::export(async_runtime = "tokio")]
pub async fn open_backup_files(paths: Vec<String>, code: String) -> Result<Arc<ZhangbanBackupFile>, ZhangbanError> {
    exit_safe(async move {
        let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
        let (paths, key) = blocking(move || backup::open_chain(&paths, &code)).await?;
        Ok(Arc::new(ZhangbanBackupFile { paths, key }))
    })
    .await
}

/// Backup files opened with their code, ready to restore.
#[derive(uniffi::Object)]
pub struct ZhangbanBackupFile {
    paths: Vec<PathBuf>,
    key: BackupKey,
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanBackupFile {
    /// Restores into a new store in `dir` (missing or empty) with its own data key from `vault` (and
    /// `pin`): every chunk and the manifest are checked before the folder appears, so on any error nothing
    /// is at `dir`. Then open it with `ZhangbanStore.open(dir, vault)`. The restored outbox waits until the
    /// licences are re-bound (`ZhangbanBackup.rebind_*`).
    pub async fn restore(
        &self,
        dir: String,
        vault: Arc<dyn KeyVault>,
        pin: Option<String>,
    ) -> Result<RestoreSummary, ZhangbanError> {
        exit_safe(async move {
            let (paths, key, vault) = (self.paths.clone(), self.key.clone(), core_vault(vault));
            blocking(move || {
                let clock = Arc::new(SystemClock);
                backup::restore_chain(&paths, &key, Path::new(&dir), vault, pin.as_deref(), clock).map(|r| r.1)
            })
            .await
        })
        .await
    }
}

/// Backup and the move to a new phone, for one store.
#[derive(uniffi::Object)]
pub struct ZhangbanBackup {
    store: Arc<Store>,
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanBackup {
    #[uniffi::constructor]
    pub fn new(store: Arc<ZhangbanStore>) -> Arc<Self> {
        Arc::new(ZhangbanBackup { store: store.core().clone() })
    }

    pub fn has_recovery_code(&self) -> Result<bool, ZhangbanError> {
        guard_ffi(|| backup::has_recovery_code(&self.store))
    }

    /// Whether to offer a recovery code now (a licence is held and there is no code yet).
    pub fn should_offer_recovery_code(&self) -> Result<bool, ZhangbanError> {
        guard_ffi(|| backup::should_offer_recovery_code(&self.store))
    }

    /// Makes a recovery code (the first time also the backup key; later the same key is re-wrapped under
    /// the new code, nothing is re-encrypted). Returns it grouped, to show once: it is kept nowhere.
    pub async fn make_recovery_code(&self) -> Result<String, ZhangbanError> {
        self.off_thread(|s| Ok(backup::make_recovery_code(s)?.grouped())).await
    }

    /// Checks a code the person typed back against the current one (`Backup{code: "wrong_code"}` …).
    pub async fn check_recovery_code(&self, code: String) -> Result<(), ZhangbanError> {
        self.off_thread(move |s| Ok(backup::check_recovery_code(s, &code)?)).await
    }

    /// Backs up into the file at `path` (streamed; written under `path.part` and renamed when complete).
    pub async fn back_up(&self, path: String) -> Result<BackupSummary, ZhangbanError> {
        self.off_thread(move |s| Ok(backup::write_backup(s, Path::new(&path))?)).await
    }

    /// Backs up into the file at `path` only what changed since the last backup made here (an increment:
    /// keep it with the files before it). The first backup here, or the first after a restore, is full
    /// (`BackupSummary.base_id` is null).
    pub async fn back_up_increment(&self, path: String) -> Result<BackupSummary, ZhangbanError> {
        self.off_thread(move |s| Ok(backup::write_increment(s, Path::new(&path))?)).await
    }

    /// The old phone this store was restored from, until its licences are re-bound here.
    pub fn awaiting_transfer_from(&self) -> Result<Option<String>, ZhangbanError> {
        guard_ffi(|| backup::awaiting_transfer_from(&self.store))
    }

    /// New phone: the `ZBTQ1:` QR to show the old phone.
    pub fn transfer_request(&self) -> Result<String, ZhangbanError> {
        guard(|| rebind::transfer_request_text(&self.store))
    }

    /// Old phone: signs the hand-over to the new phone whose `ZBTQ1:` QR it scanned; the `ZBT1:` QR to
    /// show back.
    pub fn sign_transfer(&self, request_qr: String) -> Result<String, ZhangbanError> {
        guard(|| rebind::sign_transfer_text(&self.store, &request_qr))
    }

    /// New phone (registered): moves the person from the old phone after the platform's identity check
    /// (`code`: its one-time code) and re-issues every licence to this phone's device key.
    pub async fn rebind_with_code(
        &self,
        base_url: String,
        from_device: String,
        code: String,
    ) -> Result<RebindReport, ZhangbanError> {
        self.rebind(base_url, from_device, TransferProof::OneTimeCode(code)).await
    }

    /// New phone (registered): the same, with the old phone's `ZBT1:` QR as the proof.
    pub async fn rebind_with_transfer(
        &self,
        base_url: String,
        transfer_qr: String,
    ) -> Result<RebindReport, ZhangbanError> {
        let t = guard(|| rebind::parse_transfer_text(&transfer_qr))?;
        self.rebind(base_url, t.from_device, TransferProof::OldPhoneSignature(t.signature)).await
    }

    /// Keeps the sealed backup file at `path` on the platform as this person's opaque blob (in 1 MiB
    /// parts; the platform cannot read it). Replaces the previous one once complete. A full backup only
    /// (`Backup{code: "missing_base"}` for an increment).
    pub async fn upload_backup(&self, base_url: String, path: String) -> Result<BlobInfo, ZhangbanError> {
        exit_safe(async move {
            guard_ffi(|| backup::check_uploadable(Path::new(&path)))?;
            Ok(PlatformClient::new(&base_url)?.upload_backup(&self.store, Path::new(&path)).await?)
        })
        .await
    }

    /// The blob the platform keeps for this person, if any (a new phone asks before restoring).
    pub async fn backup_on_platform(&self, base_url: String) -> Result<Option<BlobInfo>, ZhangbanError> {
        exit_safe(async move { Ok(PlatformClient::new(&base_url)?.backup_blob(&self.store).await?) }).await
    }

    /// Downloads that blob into `path` (appears only when whole and matching its SHA-256, and not older
    /// than a backup this phone made or restored, or than the generation the platform was told of:
    /// else `Backup{code: "older_backup"}` and nothing stays at `path`); then `open_backup_file(path, code)`.
    pub async fn download_backup(&self, base_url: String, path: String) -> Result<BlobInfo, ZhangbanError> {
        let path = PathBuf::from(path);
        exit_safe(async move { Ok(PlatformClient::new(&base_url)?.download_backup_checked(&self.store, &path).await?) })
            .await
    }

    /// Backup files handed to this phone (Files, iCloud Drive, SAF; one, or a full backup and its increments,
    /// in any order), checked before the code is asked for: their headers, then the newest one's generation
    /// against this phone's and what the platform attests for its key (`Backup{code: "older_backup"}`: a
    /// rollback). Offline (`Network`), only `inspect_backup` can be shown: its date and generation,
    /// unchecked (docs/SECURITY.md § restore).
    pub async fn check_backup_files(&self, base_url: String, paths: Vec<String>) -> Result<BackupInfo, ZhangbanError> {
        let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
        exit_safe(async move { Ok(PlatformClient::new(&base_url)?.check_backup_files(&self.store, &paths).await?) })
            .await
    }

    /// Follows a case filed elsewhere (a counter, an agent) by its receipt: it joins `subject`'s list.
    pub async fn follow_case(
        &self,
        base_url: String,
        subject: String,
        receipt: String,
        applicant_id: String,
        query_code: String,
    ) -> Result<CaseSummary, ZhangbanError> {
        exit_safe(async move {
            let client = PlatformClient::new(&base_url)?;
            let case = client.follow_case(&self.store, &subject, &receipt, &applicant_id, &query_code).await?;
            Ok(CaseSummary::from(&case))
        })
        .await
    }
}

impl ZhangbanBackup {
    /// Runs `f` with the store on the blocking pool (a backup reads or writes the whole store), exit-safe.
    async fn off_thread<T, F>(&self, f: F) -> Result<T, ZhangbanError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ZhangbanError> + Send + 'static,
    {
        let store = self.store.clone();
        exit_safe(blocking(move || f(&store))).await
    }

    async fn rebind(
        &self,
        base_url: String,
        from: String,
        proof: TransferProof,
    ) -> Result<RebindReport, ZhangbanError> {
        exit_safe(async move {
            let store = self.store.clone();
            let wallet = blocking(move || Wallet::open(store)).await?;
            Ok(PlatformClient::new(&base_url)?.rebind(&wallet, &from, &proof).await?)
        })
        .await
    }
}
