//! FFI exports: the platform key vault.
//!
//! [`KeyVault`] is a foreign trait: the Android shell implements it with the Keystore (StrongBox where
//! present), the iOS shell with the Keychain / Secure Enclave. [`file_vault`] returns a Rust
//! implementation that keeps its key in a file: for desktop tools and tests only, weaker than a
//! hardware-backed vault (anyone who copies both files can open a store without a PIN).

use std::path::Path;
use std::sync::Arc;

use zhangban_core::store::{FileVault, KeyVault as CoreKeyVault, VaultError};

use crate::error::{guard, ZhangbanError};

/// Why a vault could not wrap or unwrap a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyVaultError {
    /// The vault cannot be used now (user not authenticated, hardware busy, key missing). The store
    /// reports `ZhangbanError::Storage`; try again later.
    #[error("key vault unavailable: {detail}")]
    Unavailable { detail: String },
    /// The wrapped key does not open with this vault's key. The store reports `ZhangbanError::WrongKey`.
    #[error("key vault could not unwrap the key")]
    UnwrapFailed,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyVaultError {
    /// A foreign implementation threw something other than `KeyVaultError`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyVaultError::Unavailable { detail: format!("unexpected error from the platform vault: {}", e.reason) }
    }
}

/// Wraps and unwraps a store's keys (its data key, its subject ring key) with keys only the platform
/// holds. `alias` names the key: one per alias, made on the first `wrap`. `wrap` must be randomised or
/// deterministic, `unwrap(wrap(x)) == x`, and `unwrap` must fail with `UnwrapFailed` (not return other
/// bytes) when the blob was not made by this vault's key of that alias — an authenticated cipher such as
/// AES-GCM in the Keystore / Keychain does that.
#[uniffi::export(with_foreign)]
pub trait KeyVault: Send + Sync {
    fn wrap(&self, alias: String, plaintext: Vec<u8>) -> Result<Vec<u8>, KeyVaultError>;
    fn unwrap(&self, alias: String, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyVaultError>;
    /// Deletes the key of `alias` for good (`KeyStore.deleteEntry`, `SecItemDelete`): nothing it wrapped
    /// may ever unwrap again. Erasing a principal depends on it (a copy of the store's files taken before
    /// holds its key under the ring key this destroys). No key under `alias`: return normally.
    fn destroy(&self, alias: String) -> Result<(), KeyVaultError>;
}

/// The file vault of the core, exported as a [`KeyVault`].
struct FileKeyVault(FileVault);

impl KeyVault for FileKeyVault {
    fn wrap(&self, alias: String, plaintext: Vec<u8>) -> Result<Vec<u8>, KeyVaultError> {
        CoreKeyVault::wrap(&self.0, &alias, &plaintext).map_err(from_core)
    }
    fn unwrap(&self, alias: String, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyVaultError> {
        CoreKeyVault::unwrap(&self.0, &alias, &wrapped).map_err(from_core)
    }
    fn destroy(&self, alias: String) -> Result<(), KeyVaultError> {
        CoreKeyVault::destroy(&self.0, &alias).map_err(from_core)
    }
}

fn from_core(e: VaultError) -> KeyVaultError {
    match e {
        VaultError::Unavailable(detail) => KeyVaultError::Unavailable { detail },
        VaultError::UnwrapFailed => KeyVaultError::UnwrapFailed,
    }
}

/// A vault whose 32-byte key lives in the file at `path` (created, mode 0600, if missing).
/// Desktop and tests only: weaker than the Keystore / Keychain.
#[uniffi::export]
pub fn file_vault(path: String) -> Result<Arc<dyn KeyVault>, ZhangbanError> {
    guard(|| Ok(Arc::new(FileKeyVault(FileVault::open_or_create(Path::new(&path))?)) as Arc<dyn KeyVault>))
}

/// Adapts the exported trait (implemented in Kotlin, Swift, Python or Rust) to the core's trait.
pub(crate) struct VaultAdapter(pub Arc<dyn KeyVault>);

impl CoreKeyVault for VaultAdapter {
    fn wrap(&self, alias: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.wrap(alias.to_string(), plaintext.to_vec()).map_err(to_core)
    }
    fn unwrap(&self, alias: &str, wrapped: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.unwrap(alias.to_string(), wrapped.to_vec()).map_err(to_core)
    }
    fn destroy(&self, alias: &str) -> Result<(), VaultError> {
        self.0.destroy(alias.to_string()).map_err(to_core)
    }
}

fn to_core(e: KeyVaultError) -> VaultError {
    match e {
        KeyVaultError::Unavailable { detail } => VaultError::Unavailable(detail),
        KeyVaultError::UnwrapFailed => VaultError::UnwrapFailed,
    }
}

/// The core vault behind an exported one (for other bindings files that open a core `Store`).
pub(crate) fn core_vault(vault: Arc<dyn KeyVault>) -> Arc<dyn CoreKeyVault> {
    Arc::new(VaultAdapter(vault))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_vault_round_trips_and_rejects_a_foreign_blob() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_vault(dir.path().join("a.key").to_string_lossy().into_owned()).unwrap();
        let b = file_vault(dir.path().join("b.key").to_string_lossy().into_owned()).unwrap();
        let w = a.wrap("alias".into(), vec![7; 32]).unwrap();
        assert_eq!(a.unwrap("alias".into(), w.clone()).unwrap(), vec![7; 32]);
        assert_eq!(b.unwrap("alias".into(), w.clone()), Err(KeyVaultError::UnwrapFailed));
        assert_eq!(a.unwrap("other".into(), w), Err(KeyVaultError::UnwrapFailed));
    }

    /// Finding 12: the shell's vault is the attacker here — it records everything the core hands to `wrap`
    /// and everything `unwrap` gives back (what a heap dump, a log line or a crash report of the shell holds).
    /// No 32-byte window of that traffic may open the store's canary as an AES-256-GCM key (the data key in
    /// the clear), and no value of a key's length may cross as it is (a ring key).
    #[test]
    fn attack_the_shells_vault_never_sees_a_key_in_the_clear() {
        use crate::store::ZhangbanStore;
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

        struct Recording {
            inner: Arc<dyn KeyVault>,
            seen: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
        }
        impl KeyVault for Recording {
            fn wrap(&self, alias: String, plaintext: Vec<u8>) -> Result<Vec<u8>, KeyVaultError> {
                self.seen.lock().unwrap().push((alias.clone(), plaintext.clone()));
                self.inner.wrap(alias, plaintext)
            }
            fn unwrap(&self, alias: String, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyVaultError> {
                let out = self.inner.unwrap(alias.clone(), wrapped)?;
                self.seen.lock().unwrap().push((alias, out.clone()));
                Ok(out)
            }
            fn destroy(&self, alias: String) -> Result<(), KeyVaultError> {
                self.inner.destroy(alias)
            }
        }

        let opens_canary = |canary: &[u8], candidate: &[u8]| {
            let mut aad = Vec::new();
            for part in ["meta", "canary", "value"] {
                aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
                aad.extend_from_slice(part.as_bytes());
            }
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, candidate).unwrap());
            let nonce = Nonce::try_assume_unique_for_key(&canary[1..13]).unwrap();
            let mut buf = canary[13..].to_vec();
            key.open_in_place(nonce, Aad::from(&aad), &mut buf).is_ok()
        };
        for pin in [None, Some("246810".to_string())] {
            let dir = tempfile::tempdir().unwrap();
            let recording = Arc::new(Recording {
                inner: file_vault(dir.path().join("v.key").to_string_lossy().into_owned()).unwrap(),
                seen: Default::default(),
            });
            let vault: Arc<dyn KeyVault> = recording.clone();
            let path = dir.path().join("s").to_string_lossy().into_owned();
            let store = ZhangbanStore::create(path.clone(), vault.clone(), pin.clone()).unwrap();
            let p = store.create_subject(zhangban_core::store::SubjectKind::Principal, "李奶奶".into()).unwrap();
            store.shred_subject(p).unwrap();
            drop(store);
            let store = ZhangbanStore::open(path.clone(), vault).unwrap();
            if pin.is_some() {
                store.unlock(pin.clone()).unwrap();
            }
            let db = store.db_path();
            drop(store);
            let canary: Vec<u8> = rusqlite::Connection::open(db)
                .unwrap()
                .query_row("SELECT value FROM meta WHERE key = 'canary'", [], |r| r.get(0))
                .unwrap();
            let seen = recording.seen.lock().unwrap();
            assert!(seen.iter().any(|(a, _)| a.starts_with("zhangban.store.")), "the envelope went through the vault");
            assert!(seen.iter().any(|(a, _)| a.starts_with("zhangban.ring.")), "a ring key went through the vault");
            for (alias, v) in seen.iter() {
                for w in v.windows(32) {
                    assert!(!opens_canary(&canary, w), "the data key crossed the FFI in the clear (alias {alias})");
                }
            }
            for (alias, v) in seen.iter() {
                assert_ne!(v.len(), 32, "a value of a key's length crossed as it is (alias {alias}, PIN {pin:?})");
            }
        }
    }

    #[test]
    fn a_bad_key_file_is_a_validation_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short.key");
        std::fs::write(&p, [1u8; 5]).unwrap();
        match file_vault(p.to_string_lossy().into_owned()) {
            Err(ZhangbanError::Validation { field, .. }) => assert_eq!(field, "vault key"),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => panic!("a 5-byte key was accepted"),
        }
    }
}
