//! The platform key vault: the only holder of the key that wraps a store's data key.
//!
//! Android implements it with the Keystore (StrongBox where present), iOS with the Keychain / Secure
//! Enclave, through the foreign trait in `bindings/`. [`FileVault`] keeps its key in a file beside the
//! store: fine for desktop tools and tests, **weaker** than a hardware-backed vault, because anyone who can
//! copy both files can open the store (a PIN still protects it).
//!
//! Every alias has its own key, and [`KeyVault::destroy`] deletes it for good: that is what makes erasing a
//! subject hold against a copy of the store's files taken before (the store's subject keys are wrapped under
//! a vault key that is destroyed when one is erased; docs/SECURITY.md, finding 3).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

use crate::crypto;
use crate::wipe::Wiped;

/// Wraps and unwraps small secrets (a store's data key, its subject ring key). `alias` names the key
/// inside the vault: one key per alias, made on the first `wrap`.
pub trait KeyVault: Send + Sync {
    fn wrap(&self, alias: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError>;
    fn unwrap(&self, alias: &str, wrapped: &[u8]) -> Result<Vec<u8>, VaultError>;
    /// Destroys the key of `alias` for good: nothing it wrapped can be unwrapped again, by anyone (the
    /// Keystore entry / Keychain item is deleted). An alias without a key is not an error.
    fn destroy(&self, alias: &str) -> Result<(), VaultError>;
}

/// Why a vault could not wrap, unwrap or destroy a key (the FFI's `KeyVaultError` mirrors it in `bindings/`:
/// a UniFFI error of another namespace cannot cross a callback in the generated Python).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The vault cannot be used now (hardware busy, key missing, the platform failed). The store reports
    /// `Io` (FFI: `ZhangbanError::Storage`); try again later.
    #[error("key vault unavailable: {detail}")]
    Unavailable { detail: String },
    /// The wrapped blob does not open with this vault's key. The store reports `WrongKey`.
    #[error("key vault could not unwrap the key")]
    UnwrapFailed,
    /// The key is gated by the platform's user authentication (Android Keystore
    /// `setUserAuthenticationRequired`, iOS Keychain `.userPresence`: [`vault_key_needs_user_authentication`])
    /// and the person has not confirmed it is them recently. The store reports `NeedsUserAuthentication`:
    /// the shell asks (BiometricPrompt / LocalAuthentication) and tries again.
    #[error("the key vault needs the user to authenticate")]
    NeedsUserAuthentication,
}

/// Whether the platform vault must gate the key of `alias` behind the person's own authentication (finding
/// 6): the key that wraps a store's data key (`zhangban.store.<id>…`), so that calling the vault — malware
/// running as the app — no longer gives the PIN-sealed data key to try every PIN against offline. The ring,
/// anchor and other keys are not gated: they are used on every erasure, PIN attempt, used grant and list
/// update, and none of them opens the data without the data key. Both shells create the key of such an
/// alias gated (Keystore `setUserAuthenticationRequired` + StrongBox; Keychain `.userPresence` under the
/// Secure Enclave key), and report [`VaultError::NeedsUserAuthentication`] when the platform says the person
/// must authenticate first.
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn vault_key_needs_user_authentication(alias: &str) -> bool {
    alias.starts_with("zhangban.store.")
}

/// The title of the shells' prompt when the core says `NeedsUserAuthentication` (finding 6): the rule of
/// when to ask is the core's (that error, and only it: ask once, then call again), and so are the words —
/// this title and, below it, the error's own text. Android shows it in BiometricPrompt (strong biometric or
/// the screen lock), iOS in `LAContext.evaluatePolicy(.deviceOwnerAuthentication)`.
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn user_authentication_prompt_title() -> crate::Text {
    crate::Text::new("确认是您本人", "Confirm it is you")
}

/// How long after the person authenticated a gated key stays usable (Keystore
/// `setUserAuthenticationParameters`, Keychain `LAContext.touchIDAuthenticationAllowableReuseDuration`):
/// long enough for one unlock (the PIN typed after the prompt), short enough that malware waiting in the
/// background rarely finds the key open. One figure for both shells.
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn vault_user_authentication_validity_secs() -> u32 {
    30
}

/// A vault whose master key is a 32-byte file (mode 0600). Weaker than a hardware vault: see the module
/// docs.
///
/// Each alias has its own random key, kept sealed under the master key in `<file>.aliases/<SHA-256 of the
/// alias>` (made by the first `wrap`); `destroy` overwrites and deletes that file. Blobs: `0x02 ‖ sealed`
/// under the alias key. Blobs of format `0x01` (sealed under the master key itself, with the alias as
/// associated data) were made before alias keys existed and still unwrap, for stores made then.
pub struct FileVault {
    key: Wiped<LessSafeKey>,
    path: PathBuf,
    /// Serialises the making of alias keys (two threads must not make two keys for one alias).
    making: std::sync::Mutex<()>,
}

const ALIAS_BLOB: u8 = 2;

impl FileVault {
    /// Opens the vault key at `path`, creating a random one if the file does not exist.
    pub fn open_or_create(path: &Path) -> crate::Result<Self> {
        let raw: Zeroizing<Vec<u8>> = match fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = crypto::random_key()?;
                write_private(path, key.as_slice())?;
                Zeroizing::new(key.to_vec())
            }
            Err(e) => return Err(e.into()),
        };
        Self::from_key_bytes(&raw, path)
    }

    /// A vault over given key bytes (tests: a second vault with another key gives `WrongKey`).
    pub fn from_key_bytes(raw: &[u8], path: &Path) -> crate::Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| {
            crate::Error::validation(
                "vault key",
                "密钥文件长度错误（应为 32 字节）",
                "vault key file must hold 32 bytes",
            )
        })?;
        Ok(FileVault {
            key: Wiped::new(LessSafeKey::new(unbound)),
            path: path.to_path_buf(),
            making: std::sync::Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn alias_file(&self, alias: &str) -> PathBuf {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, alias.as_bytes());
        self.path.with_file_name(format!("{name}.aliases")).join(hex::encode(digest.as_ref()))
    }

    /// The key of `alias`: `None` when it has none (never made, or destroyed); `UnwrapFailed` when its
    /// file does not open under this master key (another vault's, or damaged).
    fn alias_key(&self, alias: &str) -> Result<Option<Wiped<LessSafeKey>>, VaultError> {
        let sealed = match fs::read(self.alias_file(alias)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(VaultError::Unavailable { detail: e.to_string() }),
        };
        let raw = crypto::open(&self.key, &alias_key_aad(alias), &sealed).ok_or(VaultError::UnwrapFailed)?;
        crypto::aead_key(&raw).map(Some).map_err(|e| VaultError::Unavailable { detail: e.to_string() })
    }

    fn alias_key_or_make(&self, alias: &str) -> Result<Wiped<LessSafeKey>, VaultError> {
        let _making = self.making.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = self.alias_key(alias)? {
            return Ok(k);
        }
        let raw = crypto::random_key().map_err(|e| VaultError::Unavailable { detail: e.to_string() })?;
        let sealed = crypto::seal(&self.key, &alias_key_aad(alias), raw.as_slice())
            .map_err(|e| VaultError::Unavailable { detail: e.to_string() })?;
        let file = self.alias_file(alias);
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir).map_err(|e| VaultError::Unavailable { detail: e.to_string() })?;
        }
        write_private(&file, &sealed).map_err(|e| VaultError::Unavailable { detail: e.to_string() })?;
        crypto::aead_key(raw.as_slice()).map_err(|e| VaultError::Unavailable { detail: e.to_string() })
    }
}

fn alias_key_aad(alias: &str) -> Vec<u8> {
    crypto::aad("file_vault", alias, "key")
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A fresh name, created exclusively: a file or symlink someone planted at a predictable temporary
    // name is never opened (a symlink would otherwise receive the key).
    let mut r = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r)
        .map_err(|_| std::io::Error::other("random generator failed"))?;
    let tmp = path.with_extension(format!("{}.tmp", hex::encode(r)));
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

impl KeyVault for FileVault {
    fn wrap(&self, alias: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let key = self.alias_key_or_make(alias)?;
        let sealed = crypto::seal(&key, alias.as_bytes(), plaintext)
            .map_err(|e| VaultError::Unavailable { detail: e.to_string() })?;
        let mut out = Vec::with_capacity(1 + sealed.len());
        out.push(ALIAS_BLOB);
        out.extend_from_slice(&sealed);
        Ok(out)
    }
    fn unwrap(&self, alias: &str, wrapped: &[u8]) -> Result<Vec<u8>, VaultError> {
        match wrapped.split_first() {
            Some((&ALIAS_BLOB, sealed)) => {
                let key = self.alias_key(alias)?.ok_or(VaultError::UnwrapFailed)?;
                crypto::open(&key, alias.as_bytes(), sealed).map(|z| z.to_vec()).ok_or(VaultError::UnwrapFailed)
            }
            // Made before alias keys (a store's envelope from then): under the master key.
            _ => crypto::open(&self.key, alias.as_bytes(), wrapped).map(|z| z.to_vec()).ok_or(VaultError::UnwrapFailed),
        }
    }
    fn destroy(&self, alias: &str) -> Result<(), VaultError> {
        let _making = self.making.lock().unwrap_or_else(|p| p.into_inner());
        let file = self.alias_file(alias);
        let len = match fs::metadata(&file) {
            Ok(m) => m.len() as usize,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(VaultError::Unavailable { detail: e.to_string() }),
        };
        // Overwritten in place before it is unlinked (a file system may still keep old blocks: a hardware
        // vault's deletion is the one that holds; see the module docs).
        let wipe = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).open(&file)?;
            f.write_all(&vec![0u8; len])?;
            f.sync_all()
        };
        wipe().map_err(|e| VaultError::Unavailable { detail: e.to_string() })?;
        fs::remove_file(&file).map_err(|e| VaultError::Unavailable { detail: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_keys_are_separate_and_destroyed_for_good() {
        let tmp = tempfile::tempdir().unwrap();
        let v = FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap();
        let a = v.wrap("a", b"secret a").unwrap();
        let b = v.wrap("b", b"secret b").unwrap();
        assert_eq!(v.unwrap("a", &a).unwrap(), b"secret a");
        assert!(matches!(v.unwrap("b", &a), Err(VaultError::UnwrapFailed)));
        // Another master key at the same path reads no alias key.
        let other = FileVault::from_key_bytes(&[9u8; 32], &tmp.path().join("vault.key")).unwrap();
        assert!(matches!(other.unwrap("a", &a), Err(VaultError::UnwrapFailed)));
        v.destroy("a").unwrap();
        assert!(matches!(v.unwrap("a", &a), Err(VaultError::UnwrapFailed)));
        // A new key for the alias does not open what the destroyed one wrapped.
        let again = v.wrap("a", b"new").unwrap();
        assert!(matches!(v.unwrap("a", &a), Err(VaultError::UnwrapFailed)));
        assert_eq!(v.unwrap("a", &again).unwrap(), b"new");
        assert_eq!(v.unwrap("b", &b).unwrap(), b"secret b");
        v.destroy("never").unwrap();
        // A blob of the first format (master key, alias as associated data) still opens.
        let legacy = crypto::seal(&v.key, b"store", b"old envelope").unwrap();
        assert_eq!(v.unwrap("store", &legacy).unwrap(), b"old envelope");
    }
}
