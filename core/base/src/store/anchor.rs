//! The rollback anchor (docs/SECURITY.md, finding 10): a counter the store's files cannot carry back.
//!
//! An attacker with the files (a rooted phone, a forensic tool) can put back an older copy of them: to undo
//! the count of wrong PINs (five fresh guesses after each restore), to use a single-use grant again, to replay
//! a nonce, to bring back an older trust or status list. Nothing inside the files can tell an older copy from
//! the current one; what the attacker cannot put back is the platform vault (Keystore / Keychain keys live
//! outside the app's files, are not in its backups, and a deleted key stays deleted).
//!
//! So the store keeps an *epoch*: `meta.anchor_epoch` = e, and `meta.anchor_blob` = the vault's wrap, under
//! the alias `zhangban.anchor.<store id>.<e>`, of ("zhangban anchor v1", store id, e). Every security-relevant
//! change (a PIN attempt counted; a transaction that calls [`super::Txn::anchor`]: used grants, seen nonces,
//! trust and status lists) moves to epoch e+1 in the same transaction and, once committed, the vault destroys
//! the alias of e. Opening a store checks that the vault still opens the blob of the epoch its files name:
//! files of an older epoch name a destroyed key, and the store refuses them (`RolledBack`). The check needs no
//! PIN and no data key, so it runs before any PIN is tried.
//!
//! Limits: a change is protected once the vault has destroyed the old alias (done after the commit; a failed
//! destruction is retried at the next open or change). A vault that cannot destroy keys (the Kotlin kit's
//! `AesGcmKeyVault` without `destroyKey`) gives no protection; `FileVault` gives none against an attacker who
//! also puts back the vault's folder.

use rusqlite::Connection;

use super::keys::{meta_get, meta_set, meta_u64};
use super::vault::{KeyVault, VaultError};
use crate::{Error, Result};

const EPOCH: &str = "anchor_epoch";
const BLOB: &str = "anchor_blob";
const DIGEST: &str = "anchor_sha256";
const DESTROYED_BELOW: &str = "anchor_destroyed_below";

fn alias(store_id: &str, epoch: u64) -> String {
    format!("zhangban.anchor.{store_id}.{epoch}")
}

/// Version 2 also says the store keeps a sealed record head (`heads.rs`): from the first epoch with it,
/// deleting the head does not turn its check off (an older payload names a destroyed key).
fn payload(store_id: &str, epoch: u64, heads: bool) -> Vec<u8> {
    let mut p = if heads { b"zhangban anchor v2".to_vec() } else { b"zhangban anchor v1".to_vec() };
    p.extend_from_slice(&(store_id.len() as u32).to_be_bytes());
    p.extend_from_slice(store_id.as_bytes());
    p.extend_from_slice(&epoch.to_be_bytes());
    p
}

fn digest(epoch: u64, blob: &[u8]) -> Vec<u8> {
    let mut b = epoch.to_be_bytes().to_vec();
    b.extend_from_slice(blob);
    ring::digest::digest(&ring::digest::SHA256, &b).as_ref().to_vec()
}

fn vault_err(e: VaultError) -> Error {
    match e {
        VaultError::UnwrapFailed => Error::WrongKey,
        VaultError::Unavailable(m) => Error::Io(format!("key vault unavailable: {m}")),
    }
}

/// Moves the store to the next epoch on `conn` (the caller's transaction, or committed at once): the vault
/// makes the new epoch's key. The old one is destroyed by [`destroy_old`] once this is committed.
pub(crate) fn advance(conn: &Connection, vault: &dyn KeyVault, store_id: &str) -> Result<u64> {
    let epoch = meta_u64(conn, EPOCH)? + 1;
    let heads = super::heads::exists(conn)?;
    let blob = vault.wrap(&alias(store_id, epoch), &payload(store_id, epoch, heads)).map_err(vault_err)?;
    meta_set(conn, EPOCH, &epoch.to_be_bytes())?;
    meta_set(conn, BLOB, &blob)?;
    meta_set(conn, DIGEST, &digest(epoch, &blob))?;
    Ok(epoch)
}

/// Destroys the keys of every epoch before the current one not known destroyed yet. Best effort for the
/// callers: a failure leaves them for the next call.
pub(crate) fn destroy_old(conn: &Connection, vault: &dyn KeyVault, store_id: &str) -> Result<()> {
    let epoch = meta_u64(conn, EPOCH)?;
    let mut below = meta_u64(conn, DESTROYED_BELOW)?.max(1);
    while below < epoch {
        vault.destroy(&alias(store_id, below)).map_err(vault_err)?;
        below += 1;
        meta_set(conn, DESTROYED_BELOW, &below.to_be_bytes())?;
    }
    Ok(())
}

/// Checks at open that the files are of the vault's current epoch: `RolledBack` when they name an epoch
/// whose key the vault destroyed (an older copy put back), `Corrupted` when the anchor's bytes are damaged,
/// `WrongKey` when the vault answers with other bytes. A store without an anchor (made before it existed)
/// gets one. Returns whether the anchor says the store keeps a sealed record head.
pub(crate) fn check(conn: &Connection, vault: &dyn KeyVault, store_id: &str) -> Result<bool> {
    let Some(epoch_bytes) = meta_get(conn, EPOCH)? else {
        advance(conn, vault, store_id)?;
        return Ok(false);
    };
    let damaged = || Error::corrupted("meta", "anchor");
    let epoch = u64::from_be_bytes(<[u8; 8]>::try_from(epoch_bytes.as_slice()).map_err(|_| damaged())?);
    let blob = meta_get(conn, BLOB)?.ok_or_else(damaged)?;
    let intact = meta_get(conn, DIGEST)?.is_some_and(|d| d == digest(epoch, &blob));
    let heads = match vault.unwrap(&alias(store_id, epoch), &blob) {
        Ok(p) if p == payload(store_id, epoch, true) => true,
        Ok(p) if p == payload(store_id, epoch, false) => false,
        Ok(_) if intact => return Err(Error::WrongKey),
        Err(VaultError::UnwrapFailed) if intact => return Err(Error::RolledBack),
        Ok(_) | Err(VaultError::UnwrapFailed) => return Err(damaged()),
        Err(e) => return Err(vault_err(e)),
    };
    let _ = destroy_old(conn, vault, store_id);
    Ok(heads)
}
