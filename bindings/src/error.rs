//! FFI exports: error.
//!
//! The one public error type of the FFI, [`ZhangbanError`], mapped from `zhangban_core::Error` in exactly
//! one place (the `From` impl below). Kotlin sees `ZhangbanException.WrongPin(attemptsLeft)` and so on,
//! Swift `ZhangbanError.wrongPin(attemptsLeft:)`, Python `ZhangbanError.WrongPin`. Every variant tells the
//! shell what to do next; `text_zh()` / `text_en()` give the text a person reads.
//!
//! Free-text fields are called `detail`, not `message`: a field named `message` collides with
//! `Throwable.message` in the generated Kotlin (uniffi-rs issue #1434).
//!
//! Other bindings files (wallet, forms, cases) return `Result<T, ZhangbanError>` and convert core errors
//! with `?` (through `From`), or wrap a whole call in [`guard`] so that no panic crosses the boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};

use zhangban_core::backup::BackupError;
use zhangban_core::Error as CoreError;

/// What went wrong, and what the shell should do about it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum ZhangbanError {
    /// The store is locked. `retry_after_secs == 0`: ask for the PIN now; otherwise too many wrong PINs,
    /// show a countdown and ask again after that many seconds.
    Locked { retry_after_secs: u64 },
    /// The key vault's key does not open this store (a restored backup on another device, a reset
    /// Keystore). The data cannot be read on this device.
    WrongKey,
    /// A wrong PIN; `attempts_left` before waiting times start.
    WrongPin { attempts_left: u32 },
    /// No such record, subject, attachment or store.
    NotFound { what: String },
    /// Input that breaks a rule; `field` names where (a form path, a parameter name).
    Validation { field: String, message_zh: String, message_en: String },
    /// Stored data failed its integrity check; other records are still readable.
    Corrupted { table: String, record: String },
    /// The data belongs to a subject (a principal) whose key was erased.
    Shredded { subject: String },
    /// The store's files were replaced by an older copy (tampering: to undo a PIN count, a used grant):
    /// refused. Show the text; the store cannot be used as it is.
    RolledBack,
    /// The platform vault keeps the store's key behind the person's authentication: show the system prompt
    /// (BiometricPrompt / LocalAuthentication), then call again.
    NeedsUserAuthentication,
    /// An agent acted for a principal outside an active delegation; `missing` says what is missing
    /// (`delegation`, `action:submit`, `item:…`, `validity`, `revoked`, `used`, `certificate`).
    PermissionDenied { missing: String, message_zh: String, message_en: String },
    /// The platform could not be reached; the operation is kept and may be retried.
    Network { detail: String },
    /// The platform refused the request; retrying the same request will not help.
    Rejected { status: u16, detail: String },
    /// A licence or presentation failed its checks.
    Licence { reason: String },
    /// The platform's device key (Keystore / Secure Enclave) could not sign now; nothing was signed.
    DeviceKeyUnavailable { detail: String },
    /// Local storage failed (disk full, file system error, the key vault unavailable); try again later.
    Storage { detail: String },
    /// A bug or an impossible state; `detail` is for developers.
    Internal { detail: String },
    /// A recovery code or backup file problem (`zhangban_core::backup::BackupError`); `code` says which:
    /// `code_format`, `code_typo`, `wrong_code`, `no_recovery_code`, `not_a_backup`,
    /// `unsupported_version`, `truncated`, `damaged`, `target_exists`. Nothing was restored.
    Backup { code: String, message_zh: String, message_en: String },
}

impl From<BackupError> for ZhangbanError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Store(e) => e.into(),
            e => {
                ZhangbanError::Backup { code: e.code().into(), message_zh: e.message_zh(), message_en: e.message_en() }
            }
        }
    }
}

/// The variants that map one to one, written once for both directions: the core's on the left, the FFI's
/// on the right (the same names bound on each side). `Io` and `Backup` map one way only (see below).
macro_rules! both_ways {
    ($([$($core:tt)+] <=> [$($ffi:tt)+]),+ $(,)?) => {
        impl From<CoreError> for ZhangbanError {
            fn from(e: CoreError) -> Self {
                match e {
                    $(CoreError::$($core)+ => ZhangbanError::$($ffi)+,)+
                    CoreError::Io(detail) => ZhangbanError::Storage { detail },
                }
            }
        }

        impl ZhangbanError {
            /// The core error this one stands for (used for the bilingual texts, which live in the core).
            fn to_core(&self) -> CoreError {
                match self.clone() {
                    $(ZhangbanError::$($ffi)+ => CoreError::$($core)+,)+
                    // Its texts are the backup crate's own (see `text_zh`); no core error stands for it.
                    ZhangbanError::Backup { code, message_zh, message_en } => {
                        CoreError::Validation { field: code, message_zh, message_en }
                    }
                }
            }
        }
    };
}

both_ways! {
    [Locked { retry_after_secs }] <=> [Locked { retry_after_secs }],
    [WrongKey] <=> [WrongKey],
    [WrongPin { attempts_left }] <=> [WrongPin { attempts_left }],
    [NotFound { what }] <=> [NotFound { what }],
    [Validation { field, message_zh, message_en }] <=> [Validation { field, message_zh, message_en }],
    [Corrupted { table, record }] <=> [Corrupted { table, record }],
    [Shredded { subject }] <=> [Shredded { subject }],
    [RolledBack] <=> [RolledBack],
    [NeedsUserAuthentication] <=> [NeedsUserAuthentication],
    [PermissionDenied { missing, message_zh, message_en }] <=> [PermissionDenied { missing, message_zh, message_en }],
    [Network(detail)] <=> [Network { detail }],
    [Rejected { status, message }] <=> [Rejected { status, detail: message }],
    [Licence(reason)] <=> [Licence { reason }],
    [DeviceKeyUnavailable(detail)] <=> [DeviceKeyUnavailable { detail }],
    [Storage(detail)] <=> [Storage { detail }],
    [Internal(detail)] <=> [Internal { detail }],
}

/// The English text of the core (`text_en`): the only wording, kept in the core.
impl std::fmt::Display for ZhangbanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text_en())
    }
}

impl std::error::Error for ZhangbanError {}

impl ZhangbanError {
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        ZhangbanError::Internal { detail: detail.into() }
    }
}

#[uniffi::export]
impl ZhangbanError {
    /// What happened and what to do, in Chinese: the whole text to show the person using the app.
    /// (Named `text_*`, not `message_*`: in Python the `Validation` variant's `message_zh` field would
    /// hide a method of that name.)
    pub fn text_zh(&self) -> String {
        match self {
            ZhangbanError::Backup { message_zh, .. } => message_zh.clone(),
            e => e.to_core().message_zh(),
        }
    }

    /// What happened and what to do, in English: the whole text to show.
    pub fn text_en(&self) -> String {
        match self {
            ZhangbanError::Backup { message_en, .. } => message_en.clone(),
            e => e.to_core().message_en(),
        }
    }
}

/// Runs `f` and turns a panic into `ZhangbanError::Internal`, so that no panic reaches the FFI (UniFFI
/// would catch it too, but as an untyped `InternalException`). Every export goes through this.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, CoreError>) -> Result<T, ZhangbanError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(ZhangbanError::from),
        Err(payload) => Err(ZhangbanError::internal(panic_text(payload.as_ref()))),
    }
}

/// Like [`guard`] for closures that fail with another error the FFI maps (a backup's) or with `ZhangbanError`.
pub(crate) fn guard_ffi<T, E: Into<ZhangbanError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, ZhangbanError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(Into::into),
        Err(payload) => Err(ZhangbanError::internal(panic_text(payload.as_ref()))),
    }
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("panic caught at the FFI boundary: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_maps_and_round_trips() {
        let cases = vec![
            CoreError::Locked { retry_after_secs: 30 },
            CoreError::WrongKey,
            CoreError::WrongPin { attempts_left: 3 },
            CoreError::not_found("case 7"),
            CoreError::validation("applicant.name", "姓名不能为空", "name is required"),
            CoreError::corrupted("records/profile", "me"),
            CoreError::Shredded { subject: "p1".into() },
            CoreError::RolledBack,
            CoreError::NeedsUserAuthentication,
            CoreError::permission_denied(
                "action:submit",
                "委托范围不含“提交”",
                "the delegation does not cover 'submit'",
            ),
            CoreError::Network("timeout".into()),
            CoreError::Rejected { status: 409, message: "duplicate".into() },
            CoreError::Licence("expired".into()),
            CoreError::DeviceKeyUnavailable("KeyPermanentlyInvalidatedException".into()),
            CoreError::Storage("disk full".into()),
            CoreError::Internal("bug".into()),
        ];
        for core in cases {
            let (zh, en) = (core.message_zh(), core.message_en());
            let ffi = ZhangbanError::from(core);
            assert_eq!(ffi.text_zh(), zh);
            assert_eq!(ffi.text_en(), en);
            assert!(!ffi.text_zh().is_empty() && !ffi.text_en().is_empty());
        }
    }

    #[test]
    fn a_backup_error_keeps_its_code_and_texts_and_a_store_error_its_own_type() {
        let e = ZhangbanError::from(BackupError::WrongCode);
        assert!(matches!(&e, ZhangbanError::Backup { code, .. } if code == "wrong_code"));
        assert_eq!(
            (e.text_zh(), e.text_en()),
            (BackupError::WrongCode.message_zh(), BackupError::WrongCode.message_en())
        );
        assert_eq!(ZhangbanError::from(BackupError::Store(CoreError::WrongKey)), ZhangbanError::WrongKey);
    }

    #[test]
    fn io_maps_to_storage_and_keeps_its_detail() {
        let e = ZhangbanError::from(CoreError::Io("no space left".into()));
        assert_eq!(e, ZhangbanError::Storage { detail: "no space left".into() });
        assert!(e.text_en().contains("free space"));
    }

    #[test]
    fn validation_keeps_the_field() {
        let e = ZhangbanError::from(CoreError::validation("pin", "太短", "too short"));
        match e {
            ZhangbanError::Validation { field, message_zh, message_en } => {
                assert_eq!((field.as_str(), message_zh.as_str(), message_en.as_str()), ("pin", "太短", "too short"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn guard_turns_a_panic_into_internal() {
        let r: Result<(), _> = guard(|| panic!("boom"));
        match r {
            Err(ZhangbanError::Internal { detail }) => assert!(detail.contains("boom"), "{detail}"),
            other => panic!("unexpected {other:?}"),
        }
        let r: Result<u8, _> = guard_ffi(|| -> Result<u8, ZhangbanError> { panic!("{}", String::from("owned")) });
        assert!(matches!(r, Err(ZhangbanError::Internal { detail }) if detail.contains("owned")));
        assert_eq!(guard(|| Ok(7)), Ok(7));
    }
}
