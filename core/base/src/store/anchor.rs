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
//! **Version 4** (ADR 0036): the payload also names the head's *generation* (every part of the head put back
//! from before the last bind is refused, `heads.rs`) and the PIN attempt state ([`PinState`]: the count of
//! wrong PINs and the times of the last), which the unlock takes over whatever the files say.
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
    /// Version 4 (ADR 0036): the head's anchored part has this digest, and the head in the files must be
    /// sealed under this *generation* (`heads.rs`): a head sealed before the last bind — an older head put
    /// back with its rows, whatever part changed — no longer opens as the current one. The payload also
    /// carries the PIN attempt state ([`PinState`]).
    Sealed([u8; 32], u64),
}

/// The count of wrong PINs and when the last was, as the vault's payload (version 4) vouches for them:
/// `meta.pin_failures` and its times in the files are only a copy an attacker could edit (finding 10,
/// ADR 0036); the unlock takes these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PinState {
    pub failures: u64,
    pub last_wall: u64,
    pub last_boot: Option<u64>,
}

impl PinState {
    /// As the files say now (the caller has just written them, or checked them against the payload).
    pub(crate) fn from_meta(conn: &Connection) -> Result<PinState> {
        Ok(PinState {
            failures: meta_u64(conn, "pin_failures")?,
            last_wall: meta_u64(conn, "pin_last_failure")?,
            last_boot: meta_get(conn, "pin_last_failure_boot")?
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map(u64::from_be_bytes),
        })
    }

    /// Writes this state into the files (when they said otherwise: edited, or damaged).
    pub(crate) fn to_meta(self, conn: &Connection) -> Result<()> {
        meta_set(conn, "pin_failures", &self.failures.to_be_bytes())?;
        meta_set(conn, "pin_last_failure", &self.last_wall.to_be_bytes())?;
        match self.last_boot {
            Some(b) => meta_set(conn, "pin_last_failure_boot", &b.to_be_bytes()),
            None => {
                conn.execute("DELETE FROM meta WHERE key = 'pin_last_failure_boot'", [])?;
                Ok(())
            }
        }
    }

    fn encode(&self, v: &mut Vec<u8>) {
        v.extend_from_slice(&self.failures.to_be_bytes());
        v.extend_from_slice(&self.last_wall.to_be_bytes());
        v.extend_from_slice(&self.last_boot.unwrap_or(u64::MAX).to_be_bytes());
    }

    fn decode(b: &[u8]) -> Option<PinState> {
        let n = |i: usize| -> Option<u64> { Some(u64::from_be_bytes(b.get(i * 8..i * 8 + 8)?.try_into().ok()?)) };
        let boot = n(2)?;
        Some(PinState { failures: n(0)?, last_wall: n(1)?, last_boot: (boot != u64::MAX).then_some(boot) })
    }
}

/// What a checked anchor says: of the record head, and (version 4) of the PIN attempts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Said {
    pub heads: Heads,
    pub pin: Option<PinState>,
}

const V1: &[u8] = b"zhangban anchor v1";
const V2: &[u8] = b"zhangban anchor v2";
const V3: &[u8] = b"zhangban anchor v3";
const V4: &[u8] = b"zhangban anchor v4";

/// The payload: version, store id, epoch; v3 and v4 the anchored part's digest; v4 the head's generation and
/// the PIN attempt state (`pin`, only written by v4).
fn payload(store_id: &str, epoch: u64, heads: Heads, pin: PinState) -> Vec<u8> {
    let mut p = match heads {
        Heads::None => V1,
        Heads::Kept => V2,
        Heads::Bound(_) => V3,
        Heads::Sealed(..) => V4,
    }
    .to_vec();
    p.extend_from_slice(&(store_id.len() as u32).to_be_bytes());
    p.extend_from_slice(store_id.as_bytes());
    p.extend_from_slice(&epoch.to_be_bytes());
    match heads {
        Heads::Bound(d) => p.extend_from_slice(&d),
        Heads::Sealed(d, g) => {
            p.extend_from_slice(&d);
            p.extend_from_slice(&g.to_be_bytes());
            pin.encode(&mut p);
        }
        Heads::None | Heads::Kept => {}
    }
    p
}

/// The payload's statement, when `p` is a payload of this store and epoch.
fn parse(p: &[u8], store_id: &str, epoch: u64) -> Option<Said> {
    let none = PinState::default();
    let said = |heads| Some(Said { heads, pin: None });
    if p == payload(store_id, epoch, Heads::None, none) {
        return said(Heads::None);
    }
    if p == payload(store_id, epoch, Heads::Kept, none) {
        return said(Heads::Kept);
    }
    if p.starts_with(V4) {
        // The fixed prefix (version, store id, epoch), then 32 + 8 + 24 bytes.
        let tail = p.get(p.len().checked_sub(64)?..)?;
        let d: [u8; 32] = tail[..32].try_into().ok()?;
        let g = u64::from_be_bytes(tail[32..40].try_into().ok()?);
        let pin = PinState::decode(&tail[40..])?;
        let heads = Heads::Sealed(d, g);
        return (p == payload(store_id, epoch, heads, pin)).then_some(Said { heads, pin: Some(pin) });
    }
    let d: [u8; 32] = p.get(p.len().checked_sub(32)?..)?.try_into().ok()?;
    (p == payload(store_id, epoch, Heads::Bound(d), none)).then_some(Said { heads: Heads::Bound(d), pin: None })
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
    // The PIN attempt state as the files say it now: the PIN path has just written it (its count before
    // the try), every other caller runs after the unlock made the files agree with the checked payload.
    let pin = PinState::from_meta(conn)?;
    let blob = vault.wrap(&alias(store_id, epoch), &payload(store_id, epoch, heads, pin)).map_err(vault_err)?;
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
pub(crate) fn check(conn: &Connection, vault: &dyn KeyVault, store_id: &str, anchored: bool) -> Result<Said> {
    let damaged = || Error::corrupted("meta", "anchor");
    let Some(epoch_bytes) = meta_get(conn, EPOCH)? else {
        if anchored {
            return Err(damaged());
        }
        advance(conn, vault, store_id, Heads::None)?;
        return Ok(Said { heads: Heads::None, pin: None });
    };
    let epoch = u64::from_be_bytes(<[u8; 8]>::try_from(epoch_bytes.as_slice()).map_err(|_| damaged())?);
    let blob = meta_get(conn, BLOB)?.ok_or_else(damaged)?;
    let intact = meta_get(conn, DIGEST)?.is_some_and(|d| d == digest(epoch, &blob));
    let said = match vault.unwrap(&alias(store_id, epoch), &blob) {
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
    Ok(said)
}
