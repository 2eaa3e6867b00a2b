//! The platform key vault: the only holder of the key that wraps a store's data key.
//!
//! Android implements it with the Keystore (StrongBox where present), iOS with the Keychain / Secure
//! Enclave, through the foreign trait in `bindings/`. [`FileVault`] keeps its key in a file beside the
//! store: fine for desktop tools and tests, **weaker** than a hardware-backed vault, because anyone who can
//! copy both files can open the store (a PIN still protects it).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

use crate::crypto;

/// Wraps and unwraps small secrets (a store's data key). `alias` names the key inside the vault.
pub trait KeyVault: Send + Sync {
    fn wrap(&self, alias: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError>;
    fn unwrap(&self, alias: &str, wrapped: &[u8]) -> Result<Vec<u8>, VaultError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    /// The vault cannot be used now (user not authenticated, hardware busy, key missing).
    #[error("key vault unavailable: {0}")]
    Unavailable(String),
    /// The wrapped blob does not open with this vault's key.
    #[error("key vault could not unwrap the key")]
    UnwrapFailed,
}

/// A vault whose key is a 32-byte file (mode 0600). Weaker than a hardware vault: see the module docs.
pub struct FileVault {
    key: LessSafeKey,
    path: PathBuf,
}

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
        Ok(FileVault { key: LessSafeKey::new(unbound), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
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
        crypto::seal(&self.key, alias.as_bytes(), plaintext).map_err(|e| VaultError::Unavailable(e.to_string()))
    }
    fn unwrap(&self, alias: &str, wrapped: &[u8]) -> Result<Vec<u8>, VaultError> {
        crypto::open(&self.key, alias.as_bytes(), wrapped).map(|z| z.to_vec()).ok_or(VaultError::UnwrapFailed)
    }
}
