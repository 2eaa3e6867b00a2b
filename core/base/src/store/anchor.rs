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
//!
//! **The record head is bound to the epoch** (payload version 3): the payload also carries a digest of the
//! anchored part of the sealed record head (`heads.rs`, [`super::heads::Head::bind`]), and every
//! transaction that changes that part moves the epoch (`Store::transaction`). So an older head put back
//! *with* every covered row of its moment (which make it, so the head check alone passes), the anchor's rows
//! left current, is refused at unlock: the vault's payload names another head (`RolledBack`). The PIN path
//! moves the epoch without the data key: it carries the digest over from the payload it just checked.
//!
//! **Crash windows.** The vault makes the key of epoch e+1 inside the transaction, before its commit; the key
//! of e is destroyed after it. Killed before the commit: the files name e (whose key still exists) and the
//! vault holds an orphan key of e+1 — the next advance destroys it before it wraps, so a blob wrapped under
//! it by the transaction that never committed (in a torn WAL) never opens again. Killed between the commit
//! and the destruction: the key of e lives until the next open or change destroys it; until then the files
//! of one change back are not told from the current ones (the two-phase limit: the vault offers no
//! "exists", and destroying first would make a kill before the commit brick the store). So nothing is
//! released from a change before that destruction ([`destroy_old_before_release`], ADR 0033): the result of
//! an anchored transaction, the trial of a PIN. A kill in the window released nothing; putting back the files
//! of one change back then gains nothing answered from it.

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

/// What the anchor says of the sealed record head (`heads.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heads {
    /// Version 1: made before the head (a store without one gets it at its next unlock).
    None,
    /// Version 2: the store keeps a head (deleting it does not turn its check off), not bound to it; the
    /// next unlock binds it.
    Kept,
    /// Version 3: the store keeps a head whose anchored part has this digest.
    Bound([u8; 32]),
}

const V1: &[u8] = b"zhangban anchor v1";
const V2: &[u8] = b"zhangban anchor v2";
const V3: &[u8] = b"zhangban anchor v3";

fn payload(store_id: &str, epoch: u64, heads: Heads) -> Vec<u8> {
    let mut p = match heads {
        Heads::None => V1,
        Heads::Kept => V2,
        Heads::Bound(_) => V3,
    }
    .to_vec();
    p.extend_from_slice(&(store_id.len() as u32).to_be_bytes());
    p.extend_from_slice(store_id.as_bytes());
    p.extend_from_slice(&epoch.to_be_bytes());
    if let Heads::Bound(d) = heads {
        p.extend_from_slice(&d);
    }
    p
}

/// The payload's statement about the head, when `p` is a payload of this store and epoch.
fn parse(p: &[u8], store_id: &str, epoch: u64) -> Option<Heads> {
    if p == payload(store_id, epoch, Heads::None) {
        return Some(Heads::None);
    }
    if p == payload(store_id, epoch, Heads::Kept) {
        return Some(Heads::Kept);
    }
    let d: [u8; 32] = p.get(p.len().checked_sub(32)?..)?.try_into().ok()?;
    (p == payload(store_id, epoch, Heads::Bound(d))).then_some(Heads::Bound(d))
}

fn digest(epoch: u64, blob: &[u8]) -> Vec<u8> {
    let mut b = epoch.to_be_bytes().to_vec();
    b.extend_from_slice(blob);
    ring::digest::digest(&ring::digest::SHA256, &b).as_ref().to_vec()
}

fn vault_err(e: VaultError) -> Error {
    match e {
        VaultError::UnwrapFailed => Error::WrongKey,
        VaultError::Unavailable { detail: m } => Error::Io(format!("key vault unavailable: {m}")),
        VaultError::NeedsUserAuthentication => Error::NeedsUserAuthentication,
    }
}

/// Moves the store to the next epoch on `conn` (the caller's transaction, or committed at once): the vault
/// makes the new epoch's key, wrapping a payload that says `heads` (the digest of the record head's
/// anchored part as this transaction leaves it, or, on the PIN path, what the checked payload said). The
/// old key is destroyed by [`destroy_old`] once this is committed.
pub(crate) fn advance(conn: &Connection, vault: &dyn KeyVault, store_id: &str, heads: Heads) -> Result<u64> {
    let epoch = meta_u64(conn, EPOCH)? + 1;
    // A key of this epoch can only be left by a transaction that never committed (killed after the vault
    // made it): a fresh one, so what that one wrapped never opens. Best effort: a vault that cannot destroy
    // keys gives no rollback protection anyway (module docs).
    let _ = vault.destroy(&alias(store_id, epoch));
    let blob = vault.wrap(&alias(store_id, epoch), &payload(store_id, epoch, heads)).map_err(vault_err)?;
    meta_set(conn, EPOCH, &epoch.to_be_bytes())?;
    meta_set(conn, BLOB, &blob)?;
    meta_set(conn, DIGEST, &digest(epoch, &blob))?;
    Ok(epoch)
}

/// Destroys the keys of every epoch before the current one not known destroyed yet. Best effort for the
/// callers that only tidy up (an open, a binding): a failure leaves them for the next call. A change whose
/// result must not be released before the destruction uses [`destroy_old_before_release`].
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

/// The crash window after a commit (ADR 0033): the previous epoch's key must be destroyed before the result
/// of an anchored change is released — a PIN tried, a used grant or a seen nonce answered. Until then the
/// files of one change back are not told from the current ones; if nothing was released from the change,
/// putting them back gains nothing (a process killed in the window released nothing: its next open destroys
/// the key). So a failure to destroy is an error (`Io`: the key vault is unavailable; the change stays
/// committed and its result is not given) — for a vault that has destroyed this store's keys before. A
/// vault that never has (one that cannot destroy keys gives no rollback protection at all, docs/SECURITY.md)
/// keeps the best effort, so such vaults still work.
pub(crate) fn destroy_old_before_release(conn: &Connection, vault: &dyn KeyVault, store_id: &str) -> Result<()> {
    let destroys = meta_u64(conn, DESTROYED_BELOW)? >= 2;
    match destroy_old(conn, vault, store_id) {
        Err(e) if destroys => Err(e),
        _ => Ok(()),
    }
}

/// Checks at open that the files are of the vault's current epoch: `RolledBack` when they name an epoch
/// whose key the vault destroyed (an older copy put back), `Corrupted` when the anchor's bytes are damaged,
/// `WrongKey` when the vault answers with other bytes. A store without an anchor (made before it existed)
/// gets one — only if its envelope is of before the anchor (`anchored` false: `keys.rs` moves it once this
/// is done); an anchored store without its anchor's rows is damage (they were deleted to pass an older
/// copy off as a store of before the anchor). Returns what the anchor says of the record head (the unlock
/// checks the head against it).
pub(crate) fn check(conn: &Connection, vault: &dyn KeyVault, store_id: &str, anchored: bool) -> Result<Heads> {
    let damaged = || Error::corrupted("meta", "anchor");
    let Some(epoch_bytes) = meta_get(conn, EPOCH)? else {
        if anchored {
            return Err(damaged());
        }
        advance(conn, vault, store_id, Heads::None)?;
        return Ok(Heads::None);
    };
    let epoch = u64::from_be_bytes(<[u8; 8]>::try_from(epoch_bytes.as_slice()).map_err(|_| damaged())?);
    let blob = meta_get(conn, BLOB)?.ok_or_else(damaged)?;
    let intact = meta_get(conn, DIGEST)?.is_some_and(|d| d == digest(epoch, &blob));
    let heads = match vault.unwrap(&alias(store_id, epoch), &blob) {
        Ok(p) => match parse(&p, store_id, epoch) {
            Some(h) => h,
            None if intact => return Err(Error::WrongKey),
            None => return Err(damaged()),
        },
        Err(VaultError::UnwrapFailed) if intact => return Err(Error::RolledBack),
        Err(VaultError::UnwrapFailed) => return Err(damaged()),
        Err(e) => return Err(vault_err(e)),
    };
    let _ = destroy_old(conn, vault, store_id);
    Ok(heads)
}
