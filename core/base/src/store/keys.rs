//! The key hierarchy: vault key → (optional PIN layer) → data key → subject keys.
//!
//! * The data key is 32 random bytes, created with the store. The vault wraps it (alias
//!   `zhangban.store.<store id>`); with a PIN it is first sealed under a PBKDF2-HMAC-SHA256 key
//!   (at least [`MIN_PIN_ITERATIONS`]), derived only at unlock.
//! * A canary sealed under the data key tells a wrong key (`WrongKey`) from damaged data. Plain SHA-256
//!   digests of the envelope and of the canary (`meta.envelope_sha256`, `meta.canary_sha256`) tell a
//!   wrong key from a *damaged envelope or canary*: when either fails to open, the error is `WrongKey`
//!   only if its bytes are still the ones written (digest matches), `Corrupted` otherwise. Stores made
//!   before the digests get them at their next successful unlock.
//! * Wrong PINs are counted in the database *before* the PIN is tried, so killing the app mid-check does
//!   not reset the count, on every path that checks a PIN (unlock, salvage, `change_pin`: committed before
//!   any transaction that could roll it back). After [`LOCKOUT_FREE_ATTEMPTS`] failures each further try
//!   waits 30 s, doubling up to a day.
//! * The wait is measured on the boot clock ([`Clock::since_boot_secs`], which the person cannot set):
//!   setting the wall clock forward does not shorten it, setting it back does not lengthen it, and a
//!   restart makes the wait start again from the restart (the time since boot is all that surely
//!   passed). Without a boot clock the wall clock counts, never backwards; a wait is never longer than
//!   the delay itself.

use std::num::NonZeroU32;

use ring::aead::LessSafeKey;
use ring::{hmac, pbkdf2};
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use super::vault::{KeyVault, VaultError};
use crate::clock::Clock;
use crate::crypto;
use crate::wipe::Wiped;
use crate::{Error, Result};

pub const MIN_PIN_ITERATIONS: u32 = 600_000;
pub const LOCKOUT_FREE_ATTEMPTS: u32 = 5;
const CANARY: &[u8] = b"zhangban-canary-v1";
const MAX_LOCKOUT_SECS: u64 = 86_400;

/// PIN rules checked at creation and when changing the PIN.
#[derive(Debug, Clone)]
pub struct PinPolicy {
    pub iterations: u32,
    pub min_len: usize,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy { iterations: MIN_PIN_ITERATIONS, min_len: 6 }
    }
}

/// Unlocked key material of one store.
pub(crate) struct Keys {
    pub data: Wiped<LessSafeKey>,
    pub lookup: Wiped<hmac::Key>,
    /// The raw lookup key, for a backup (a restored store must compute the same keyed hashes).
    pub lookup_raw: Zeroizing<Vec<u8>>,
    /// Keys the audit chain (HMAC-SHA256): without the data key nobody can remake a link.
    pub audit: Wiped<hmac::Key>,
    /// Combined with the ring key into the key that wraps subject keys ([`ring_wrap_key`]).
    ring_secret: Zeroizing<Vec<u8>>,
    /// Keys the row hashes of the sealed record head (`heads.rs`).
    pub head: Wiped<hmac::Key>,
    /// What the rollback anchor says of the record head: kept (a missing one is damage), bound to it.
    pub anchor_heads: super::anchor::Heads,
    /// The PIN-derived key of the unlock that made these keys, only until `Unlocked::load` has used it
    /// (the one-time data-key rotation of the upgrade to record format 2 wraps the new key in it).
    pub pin_layer: Option<Wiped<LessSafeKey>>,
}

/// Meta key of a lookup key adopted from a backup, sealed under the data key.
pub(crate) const LOOKUP_KEY_META: &str = "lookup_key";

impl Keys {
    pub(crate) fn from_raw(raw: &[u8; 32]) -> Result<Self> {
        let data = crypto::aead_key(raw)?;
        // The lookup key is derived, never the data key itself: an HMAC over a fixed label.
        let derive = Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, raw));
        let lookup_raw = Zeroizing::new(hmac::sign(&derive, b"zhangban lookup key v1").as_ref().to_vec());
        let audit_raw = Zeroizing::new(hmac::sign(&derive, b"zhangban audit key v1").as_ref().to_vec());
        let ring_secret = Zeroizing::new(hmac::sign(&derive, b"zhangban subject ring v1").as_ref().to_vec());
        let head = super::heads::head_key(&derive);
        Ok(Keys {
            data,
            lookup: Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, &lookup_raw)),
            lookup_raw,
            audit: Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, &audit_raw)),
            ring_secret,
            head,
            anchor_heads: super::anchor::Heads::None,
            pin_layer: None,
        })
    }
}

// ---- the subject key ring (store format 2; docs/SECURITY.md, finding 3) -------------------------------
//
// Every subject key is sealed under the *ring wrap key* = HMAC-SHA256(ring secret (from the data key),
// "zhangban subject ring" ‖ generation ‖ ring key). The ring key is 32 random bytes that only the vault
// holds in clear: wrapped under the vault alias `zhangban.ring.<store id>.<generation>`. Erasing a subject
// makes a new generation (a new ring key under a new alias, every other subject key re-sealed) and then
// destroys the old alias in the vault: a copy of the files taken before holds subject keys under a ring key
// that no longer exists anywhere. Both halves are needed: the vault alone (malware calling it) lacks the
// data key (behind the PIN); the data key alone lacks the ring key.

/// The store format this code writes: 2 = subject keys in the ring, labels and attachment names under the
/// subject's key, keyed audit chain with a sealed head. A store of format 1 is upgraded at its first unlock.
pub(crate) const FORMAT: u64 = 2;

/// The current ring: its generation and the key that wraps subject keys.
pub(crate) struct Ring {
    pub generation: u64,
    pub wrap: Wiped<LessSafeKey>,
}

fn ring_alias(store_id: &str, generation: u64) -> String {
    format!("zhangban.ring.{store_id}.{generation}")
}

fn ring_wrap_key(keys: &Keys, generation: u64, ring_raw: &[u8]) -> Result<Wiped<LessSafeKey>> {
    let k = Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, &keys.ring_secret));
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(b"zhangban subject ring");
    ctx.update(&generation.to_be_bytes());
    ctx.update(ring_raw);
    let raw = Zeroizing::new(ctx.sign().as_ref().to_vec());
    crypto::aead_key(&raw)
}

fn ring_digest(generation: u64, blob: &[u8]) -> Vec<u8> {
    let mut b = generation.to_be_bytes().to_vec();
    b.extend_from_slice(blob);
    sha256(&b)
}

/// Meta key of the record format (ADR 0033): absent = 1 (record associated data binds collection, id and
/// subject; ordinary collections outside the record head; the data key of before), 2 = every column in the
/// associated data, every collection in the head, the data key rotated once and its envelope under
/// [`rekeyed_alias`].
pub(crate) const RECORD_FORMAT_META: &str = "record_format";
/// The record format this code writes.
pub(crate) const RECORD_FORMAT: u64 = 2;

pub(crate) fn record_format(conn: &Connection) -> Result<u64> {
    match meta_get(conn, RECORD_FORMAT_META)? {
        None => Ok(1),
        Some(v) => match <[u8; 8]>::try_from(v.as_slice()).map(u64::from_be_bytes) {
            Ok(f) if f >= RECORD_FORMAT => Ok(f),
            _ => Err(Error::corrupted("meta", RECORD_FORMAT_META)),
        },
    }
}

pub(crate) fn store_format(conn: &Connection) -> Result<u64> {
    meta_u64(conn, "format").map(|f| f.max(1))
}

/// Makes a ring of `generation`: a new ring key wrapped by the vault (which makes the alias's key) and
/// written to `meta` on `conn` (the caller's transaction). If that transaction does not commit, the new
/// alias is an orphan the next [`destroy_old_rings`] does not know of: harmless (it wraps nothing kept).
pub(crate) fn new_ring(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    keys: &Keys,
    generation: u64,
) -> Result<Ring> {
    let raw = crypto::random_key()?;
    let blob = wrap_secret(conn, vault, &ring_alias(store_id, generation), raw.as_slice())?;
    meta_set(conn, "ring_generation", &generation.to_be_bytes())?;
    meta_set(conn, "ring_key", &blob)?;
    meta_set(conn, "ring_key_sha256", &ring_digest(generation, &blob))?;
    meta_set(conn, "format", &FORMAT.to_be_bytes())?;
    Ok(Ring { generation, wrap: ring_wrap_key(keys, generation, raw.as_slice())? })
}

/// The ring of a store of format 2 (`None` for format 1). A ring key the vault no longer holds (a copy of
/// the files from before an erasure) is `WrongKey` when its bytes are intact, `Corrupted` when damaged. A
/// ring key the vault held in the clear (code of before) is wrapped again, sealed, when `reseal`.
pub(crate) fn load_ring(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    keys: &Keys,
    reseal: bool,
) -> Result<Option<Ring>> {
    if store_format(conn)? < 2 {
        return Ok(None);
    }
    let damaged = || Error::corrupted("meta", "ring_key");
    let generation = meta_u64(conn, "ring_generation")?;
    let blob = meta_get(conn, "ring_key")?.ok_or_else(damaged)?;
    let intact = meta_get(conn, "ring_key_sha256")?.is_some_and(|d| d == ring_digest(generation, &blob));
    let ring_alias = ring_alias(store_id, generation);
    let from_vault = match vault.unwrap(&ring_alias, &blob) {
        Ok(v) => v,
        Err(VaultError::UnwrapFailed) if intact => return Err(Error::WrongKey),
        Err(VaultError::UnwrapFailed) => return Err(damaged()),
        Err(e) => return Err(vault_err(e)),
    };
    let (raw, plain) = match open_secret(conn, &ring_alias, from_vault, 32) {
        Ok(r) => r,
        Err(_) => return Err(if intact { Error::WrongKey } else { damaged() }),
    };
    if raw.len() != 32 {
        return Err(if intact { Error::WrongKey } else { damaged() });
    }
    if plain && reseal {
        conn.execute_batch("SAVEPOINT reseal_ring")?;
        let resealed = (|| {
            let blob = wrap_secret(conn, vault, &ring_alias, &raw)?;
            meta_set(conn, "ring_key", &blob)?;
            meta_set(conn, "ring_key_sha256", &ring_digest(generation, &blob))
        })();
        match resealed {
            Ok(()) => conn.execute_batch("RELEASE reseal_ring")?,
            Err(e) => {
                conn.execute_batch("ROLLBACK TO reseal_ring; RELEASE reseal_ring")?;
                return Err(e);
            }
        }
    }
    Ok(Some(Ring { generation, wrap: ring_wrap_key(keys, generation, &raw)? }))
}

/// Destroys in the vault the ring keys of every generation before the current one that is not known to be
/// destroyed yet (an erasure whose destruction failed or was cut short is finished here). Committed on
/// `conn` as it goes.
pub(crate) fn destroy_old_rings(conn: &Connection, vault: &dyn KeyVault, store_id: &str) -> Result<()> {
    let current = meta_u64(conn, "ring_generation")?;
    let mut below = meta_u64(conn, "ring_destroyed_below")?.max(1);
    while below < current {
        vault.destroy(&ring_alias(store_id, below)).map_err(vault_err)?;
        below += 1;
        meta_set(conn, "ring_destroyed_below", &below.to_be_bytes())?;
    }
    Ok(())
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

pub(crate) fn meta_set(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn meta_u64(conn: &Connection, key: &str) -> Result<u64> {
    Ok(meta_get(conn, key)?.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map(u64::from_be_bytes).unwrap_or(0))
}

/// The vault alias of the envelope. A store made (or first unlocked) by code that keeps the rollback anchor
/// has its envelope here, so its files without the anchor's rows are damage, not a store of before the
/// anchor (whose envelope is under [`legacy_alias`], destroyed when it moves here).
fn alias(store_id: &str) -> String {
    format!("zhangban.store.{store_id}.anchored")
}

/// The envelope's alias of before the anchor.
fn legacy_alias(store_id: &str) -> String {
    format!("zhangban.store.{store_id}")
}

/// The envelope's alias from record format 2 on: the data key was rotated when the store moved here, and
/// the aliases of before ([`alias`], [`legacy_alias`]) are destroyed (finding 3: a copy of the files taken
/// before, whose subject keys are sealed under the old data key, finds no vault key that opens it).
fn rekeyed_alias(store_id: &str) -> String {
    format!("zhangban.store.{store_id}.rekeyed")
}

/// Meta key set while the aliases an envelope left at the rotation are not destroyed yet.
const REPLACED_ALIASES_PENDING: &str = "envelope_replaced_aliases_pending";

/// Rotation of the data key (the upgrade to record format 2, `upgrade.rs`), inside the caller's
/// transaction: `raw` (the new data key) wrapped in the PIN layer when the store has one, under
/// [`rekeyed_alias`]; the canary sealed anew; the aliases of before marked for destruction once this is
/// committed ([`destroy_replaced_envelopes`]).
pub(crate) fn rotate_envelope(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    raw: &[u8; 32],
    new: &Keys,
    pin_layer: Option<&LessSafeKey>,
) -> Result<()> {
    let inner: Zeroizing<Vec<u8>> = match (has_pin(conn)?, pin_layer) {
        (false, _) => Zeroizing::new(raw.to_vec()),
        (true, Some(k)) => Zeroizing::new(crypto::seal(k, &crypto::aad("meta", "envelope", "pin"), raw)?),
        (true, None) => return Err(Error::Internal("the PIN layer is needed to rotate the data key".into())),
    };
    let envelope = wrap_secret(conn, vault, &rekeyed_alias(store_id), &inner)?;
    meta_set(conn, "envelope", &envelope)?;
    meta_set(conn, "envelope_sha256", &envelope_digest(conn, &envelope)?)?;
    let canary = crypto::seal(&new.data, &crypto::aad("meta", "canary", "value"), CANARY)?;
    meta_set(conn, "canary", &canary)?;
    meta_set(conn, "canary_sha256", &sha256(&canary))?;
    meta_set(conn, REPLACED_ALIASES_PENDING, b"1")?;
    meta_set(conn, RECORD_FORMAT_META, &RECORD_FORMAT.to_be_bytes())
}

/// Best effort, after a rotation committed: destroys the envelope aliases of before (the old data key is
/// then nowhere). A failure is retried at the next unlock.
pub(crate) fn destroy_replaced_envelopes(conn: &Connection, vault: &dyn KeyVault, store_id: &str) {
    if matches!(meta_get(conn, REPLACED_ALIASES_PENDING), Ok(Some(_)))
        && vault.destroy(&alias(store_id)).is_ok()
        && vault.destroy(&legacy_alias(store_id)).is_ok()
    {
        let _ = conn.execute("DELETE FROM meta WHERE key = ?1", [REPLACED_ALIASES_PENDING]);
    }
}

/// The alias the store's envelope is under now: [`rekeyed_alias`] from record format 2 on, else [`alias`].
fn envelope_alias(conn: &Connection, store_id: &str) -> Result<String> {
    Ok(if record_format(conn)? >= RECORD_FORMAT { rekeyed_alias(store_id) } else { alias(store_id) })
}

// ---- what the platform vault sees (docs/SECURITY.md, finding 12) -----------------------------------------
//
// The vault is the shell's code (Keystore / Keychain through the FFI): what it wraps crosses the FFI as a
// managed byte array that the Kotlin and Swift kits cannot wipe reliably, and its `unwrap` answers the same
// way. So the core seals each secret first under a store-local key L (`meta.vault_seal_key`, 32 random
// bytes), bound to the alias: the shell sees only `seal(L, aad(vault, alias, sealed), secret)` — never the
// data key, the PIN layer or a ring key in the clear. A heap dump, a log line or a crash report of the shell
// gives nothing without the store's files; with them (malware running as the app) the vault could be
// called anyway.

const VAULT_SEAL_META: &str = "vault_seal_key";
/// SHA-256 of L, tagged (written with L; added at the next unlock to a store made before it): a damaged L
/// must be reported as damage, not as a vault key that does not fit (ADR 0003; the byte-flip test met it).
const VAULT_SEAL_DIGEST: &str = "vault_seal_key_sha256";

fn vault_seal_digest(raw: &[u8]) -> Vec<u8> {
    sha256(&[b"zhangban vault seal key v1".as_slice(), raw].concat())
}

/// Gives a store whose L predates its digest the digest (at an unlock that opened a secret with L, so L is
/// the one that sealed it).
pub(crate) fn ensure_vault_seal_digest(conn: &Connection) -> Result<()> {
    if let (Some(raw), None) = (meta_get(conn, VAULT_SEAL_META)?, meta_get(conn, VAULT_SEAL_DIGEST)?) {
        meta_set(conn, VAULT_SEAL_DIGEST, &vault_seal_digest(&raw))?;
    }
    Ok(())
}

fn vault_aad(alias: &str) -> Vec<u8> {
    crypto::aad("vault", alias, "sealed")
}

fn vault_seal_key(conn: &Connection) -> Result<Option<Wiped<LessSafeKey>>> {
    match meta_get(conn, VAULT_SEAL_META)? {
        None => Ok(None),
        Some(raw) if raw.len() == 32 => crypto::aead_key(&Zeroizing::new(raw)).map(Some),
        Some(_) => Err(Error::corrupted("meta", VAULT_SEAL_META)),
    }
}

/// Wraps `secret` with the vault under `alias`, sealed in the core first (L made now, on `conn`, if the
/// store has none yet).
pub(crate) fn wrap_secret(conn: &Connection, vault: &dyn KeyVault, alias: &str, secret: &[u8]) -> Result<Vec<u8>> {
    let l = match vault_seal_key(conn)? {
        Some(l) => l,
        None => {
            let raw = crypto::random_key()?;
            meta_set(conn, VAULT_SEAL_META, raw.as_slice())?;
            meta_set(conn, VAULT_SEAL_DIGEST, &vault_seal_digest(raw.as_slice()))?;
            crypto::aead_key(raw.as_slice())?
        }
    };
    vault.wrap(alias, &crypto::seal(&l, &vault_aad(alias), secret)?).map_err(vault_err)
}

/// What the vault's `unwrap` of `alias` gave, opened: the secret, and `true` when it was wrapped in the
/// clear (by the code of before; `plain_len` bytes: the caller wraps it again, sealed). Anything else is
/// the vault answering with other bytes: `WrongKey` — unless L itself is no longer the one written (its
/// digest differs): `Corrupted`.
pub(crate) fn open_secret(
    conn: &Connection,
    alias: &str,
    from_vault: Vec<u8>,
    plain_len: usize,
) -> Result<(Zeroizing<Vec<u8>>, bool)> {
    let from_vault = Zeroizing::new(from_vault);
    if let Some(l) = vault_seal_key(conn)? {
        if let Some(secret) = crypto::open(&l, &vault_aad(alias), &from_vault) {
            return Ok((secret, false));
        }
    }
    if from_vault.len() == plain_len {
        return Ok((from_vault, true));
    }
    if let (Some(raw), Some(d)) = (meta_get(conn, VAULT_SEAL_META)?, meta_get(conn, VAULT_SEAL_DIGEST)?) {
        if d != vault_seal_digest(&raw) {
            return Err(Error::corrupted("meta", VAULT_SEAL_META));
        }
    }
    Err(Error::WrongKey)
}

/// The length of an envelope's content as the code of before wrapped it: the data key, or the PIN layer
/// sealed around it.
fn plain_envelope_len(has_pin: bool) -> usize {
    if has_pin {
        32 + crypto::OVERHEAD
    } else {
        32
    }
}

/// Meta key set while the legacy alias of a moved envelope is not destroyed yet.
const LEGACY_ALIAS_PENDING: &str = "envelope_legacy_alias_pending";

/// Moves an envelope found under [`legacy_alias`] (or wrapped in the clear) to [`alias`], sealed (the anchor
/// is in place by now), then destroys the legacy alias: a copy of the files from before — which a missing anchor let through as a
/// store of before the anchor — no longer opens. A destruction that fails is retried at the next unlock.
fn move_envelope(conn: &Connection, vault: &dyn KeyVault, store_id: &str, inner: &[u8]) -> Result<()> {
    conn.execute_batch("SAVEPOINT move_envelope")?;
    let moved = (|| {
        let envelope = wrap_secret(conn, vault, &alias(store_id), inner)?;
        meta_set(conn, "envelope", &envelope)?;
        meta_set(conn, "envelope_sha256", &envelope_digest(conn, &envelope)?)?;
        meta_set(conn, LEGACY_ALIAS_PENDING, b"1")
    })();
    match moved {
        Ok(()) => conn.execute_batch("RELEASE move_envelope")?,
        Err(e) => {
            conn.execute_batch("ROLLBACK TO move_envelope; RELEASE move_envelope")?;
            return Err(e);
        }
    }
    destroy_legacy_alias(conn, vault, store_id);
    Ok(())
}

/// Best effort: destroys the legacy alias of a moved envelope if that is still to be done.
fn destroy_legacy_alias(conn: &Connection, vault: &dyn KeyVault, store_id: &str) {
    if matches!(meta_get(conn, LEGACY_ALIAS_PENDING), Ok(Some(_))) && vault.destroy(&legacy_alias(store_id)).is_ok() {
        let _ = conn.execute("DELETE FROM meta WHERE key = ?1", [LEGACY_ALIAS_PENDING]);
    }
}

/// Most PBKDF2 iterations a stored PIN envelope may ask for (about 20 s on a slow phone). A damaged or
/// tampered `pin_params` naming more is corruption, not hours of work at unlock.
pub const MAX_PIN_ITERATIONS: u32 = 10_000_000;

pub(crate) fn pin_key(pin: &str, salt: &[u8], iterations: u32) -> Result<Wiped<LessSafeKey>> {
    if !(MIN_PIN_ITERATIONS..=MAX_PIN_ITERATIONS).contains(&iterations) {
        return Err(Error::corrupted("meta", "pin_params"));
    }
    let iters = NonZeroU32::new(iterations).ok_or_else(|| Error::Internal("zero PIN iterations".into()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iters, salt, pin.as_bytes(), out.as_mut());
    crypto::aead_key(out.as_slice())
}

fn check_pin_rules(pin: &str, policy: &PinPolicy) -> Result<()> {
    if policy.iterations < MIN_PIN_ITERATIONS {
        return Err(Error::Internal(format!("PIN iterations below {MIN_PIN_ITERATIONS}")));
    }
    if pin.chars().count() < policy.min_len || pin.len() > 128 {
        return Err(Error::validation(
            "pin",
            format!("PIN 长度应为 {} 到 128 位", policy.min_len),
            format!("the PIN must be {} to 128 characters long", policy.min_len),
        ));
    }
    Ok(())
}

/// Creates the key envelope of a new store and returns its unlocked keys.
pub(crate) fn create(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    pin: Option<&str>,
    policy: &PinPolicy,
) -> Result<Keys> {
    let raw = crypto::random_key()?;
    let inner: Zeroizing<Vec<u8>> = match pin {
        None => Zeroizing::new(raw.to_vec()),
        Some(pin) => {
            check_pin_rules(pin, policy)?;
            let mut salt = [0u8; 16];
            crypto::fill_random(&mut salt)?;
            let mut params = salt.to_vec();
            params.extend_from_slice(&policy.iterations.to_be_bytes());
            meta_set(conn, "pin_params", &params)?;
            let k = pin_key(pin, &salt, policy.iterations)?;
            Zeroizing::new(crypto::seal(&k, &crypto::aad("meta", "envelope", "pin"), raw.as_slice())?)
        }
    };
    // A new store is of record format 2 from the start: its envelope under the alias of that format.
    let envelope = wrap_secret(conn, vault, &rekeyed_alias(store_id), &inner)?;
    meta_set(conn, "envelope", &envelope)?;
    meta_set(conn, "envelope_sha256", &envelope_digest(conn, &envelope)?)?;
    let keys = Keys::from_raw(&raw)?;
    let canary = crypto::seal(&keys.data, &crypto::aad("meta", "canary", "value"), CANARY)?;
    meta_set(conn, "canary", &canary)?;
    meta_set(conn, "canary_sha256", &sha256(&canary))?;
    meta_set(conn, "ring_destroyed_below", &1u64.to_be_bytes())?;
    Ok(keys)
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b).as_ref().to_vec()
}

/// The digest kept for the envelope covers the store id too: the vault alias is made from it, so a
/// damaged store id also makes the vault refuse an intact envelope.
pub(crate) fn envelope_digest(conn: &Connection, envelope: &[u8]) -> Result<Vec<u8>> {
    let id = meta_get(conn, "store_id")?.unwrap_or_default();
    let mut b = (id.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(&id);
    b.extend_from_slice(envelope);
    Ok(sha256(&b))
}

/// The error for `what` (`envelope` or `canary`) failing to open: `Corrupted` when its bytes are no
/// longer the ones written (its digest differs, or the digest itself is gone or damaged while the
/// store has digests), `WrongKey` when they are intact — the key really does not fit.
fn wrong_key_or_damage(conn: &Connection, what: &str, bytes: &[u8]) -> Error {
    let digest = if what == "envelope" { envelope_digest(conn, bytes) } else { Ok(sha256(bytes)) };
    let Ok(digest) = digest else { return Error::corrupted("meta", "store_id") };
    match meta_get(conn, &format!("{what}_sha256")) {
        Ok(Some(d)) if d == digest => Error::WrongKey,
        Ok(Some(_)) => Error::corrupted("meta", what),
        // A store made before the digests: nothing to tell damage by.
        Ok(None)
            if meta_get(conn, "envelope_sha256").ok().flatten().is_none()
                && meta_get(conn, "canary_sha256").ok().flatten().is_none() =>
        {
            Error::WrongKey
        }
        Ok(None) => Error::corrupted("meta", format!("{what}_sha256")),
        Err(e) => e,
    }
}

fn vault_err(e: VaultError) -> Error {
    match e {
        VaultError::UnwrapFailed => Error::WrongKey,
        VaultError::Unavailable { detail: m } => Error::Io(format!("key vault unavailable: {m}")),
        VaultError::NeedsUserAuthentication => Error::NeedsUserAuthentication,
    }
}

pub(crate) fn has_pin(conn: &Connection) -> Result<bool> {
    Ok(meta_get(conn, "pin_params")?.is_some())
}

/// Seconds to wait before the next PIN attempt is allowed (0: allowed now): the delay for the count of
/// failures, less the time that surely passed since the last one (see the module comment).
pub(crate) fn lockout_remaining(conn: &Connection, clock: &dyn Clock) -> Result<u64> {
    let failures = meta_u64(conn, "pin_failures")?;
    if failures < LOCKOUT_FREE_ATTEMPTS as u64 {
        return Ok(0);
    }
    let wait = lockout_delay(failures);
    let last_boot = meta_get(conn, "pin_last_failure_boot")?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(u64::from_be_bytes);
    let passed = match (clock.since_boot_secs(), last_boot) {
        // Same boot: the boot clock's difference.
        (Some(now), Some(last)) if now >= last => now - last,
        // Restarted since: only the time since this boot surely passed.
        (Some(now), Some(_)) => now,
        // No boot clock (or a failure recorded before it was kept): the wall clock, never backwards.
        _ => {
            let last = meta_u64(conn, "pin_last_failure")? as i64;
            u64::try_from(clock.now_secs().saturating_sub(last)).unwrap_or(0)
        }
    };
    Ok(wait.saturating_sub(passed))
}

/// Records one more PIN attempt before it is tried (on the connection, committed): the count and when, and
/// the store moves to the next rollback epoch with it (`anchor.rs`): putting back the files of before the
/// attempt is then refused, so no restore gives fresh guesses.
fn count_attempt(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    clock: &dyn Clock,
    heads: super::anchor::Heads,
) -> Result<u64> {
    conn.execute_batch("SAVEPOINT count_attempt")?;
    let counted = write_attempt(conn, vault, store_id, clock, heads);
    match counted {
        Ok(_) => conn.execute_batch("RELEASE count_attempt")?,
        Err(_) => conn.execute_batch("ROLLBACK TO count_attempt; RELEASE count_attempt")?,
    }
    let failures = counted?;
    // The PIN is tried only once the epoch of before is gone: no guess is answered while an older copy of
    // the files (with fewer attempts counted) would still be taken for the current one.
    super::anchor::destroy_old_before_release(conn, vault, store_id)?;
    Ok(failures)
}

/// `heads`: what the anchor checked just before said of the record head, carried over (no data key here).
fn write_attempt(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    clock: &dyn Clock,
    heads: super::anchor::Heads,
) -> Result<u64> {
    let failures = meta_u64(conn, "pin_failures")? + 1;
    meta_set(conn, "pin_failures", &failures.to_be_bytes())?;
    meta_set(conn, "pin_last_failure", &(clock.now_secs().max(0) as u64).to_be_bytes())?;
    match clock.since_boot_secs() {
        Some(b) => meta_set(conn, "pin_last_failure_boot", &b.to_be_bytes())?,
        None => {
            conn.execute("DELETE FROM meta WHERE key = 'pin_last_failure_boot'", [])?;
        }
    }
    super::anchor::advance(conn, vault, store_id, heads)?;
    Ok(failures)
}

/// The wait after `failures` consecutive wrong PINs: none for the first five, then 30 s doubling.
pub fn lockout_delay(failures: u64) -> u64 {
    if failures < LOCKOUT_FREE_ATTEMPTS as u64 {
        return 0;
    }
    let doublings = (failures - LOCKOUT_FREE_ATTEMPTS as u64).min(20);
    (30u64 << doublings).min(MAX_LOCKOUT_SECS)
}

/// Opens the envelope with the vault (and the PIN, when the store has one) and checks the canary.
pub(crate) fn unlock(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    pin: Option<&str>,
    clock: &dyn Clock,
) -> Result<Keys> {
    let (keys, canary_ok) = unlock_keys(conn, vault, store_id, pin, clock, false)?;
    canary_ok?;
    // Stores made before the digests get them now that the key is known to fit.
    if meta_get(conn, "envelope_sha256")?.is_none() || meta_get(conn, "canary_sha256")?.is_none() {
        if let (Some(e), Some(c)) = (meta_get(conn, "envelope")?, meta_get(conn, "canary")?) {
            meta_set(conn, "envelope_sha256", &envelope_digest(conn, &e)?)?;
            meta_set(conn, "canary_sha256", &sha256(&c))?;
        }
    }
    Ok(keys)
}

/// For salvage: like [`unlock`] (the PIN is counted the same way), but a damaged canary does not stop
/// it — the records' own authentication tells what still reads. Returns whether the canary was sound.
pub(crate) fn unlock_for_salvage(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    pin: Option<&str>,
    clock: &dyn Clock,
) -> Result<(Keys, bool)> {
    let (keys, canary_ok) = unlock_keys(conn, vault, store_id, pin, clock, true)?;
    match canary_ok {
        Ok(()) => Ok((keys, true)),
        Err(Error::Corrupted { .. }) => Ok((keys, false)),
        Err(e) => Err(e),
    }
}

/// The data key from the envelope, and the canary's verdict on it.
fn unlock_keys(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    pin: Option<&str>,
    clock: &dyn Clock,
    salvage: bool,
) -> Result<(Keys, Result<()>)> {
    let envelope = meta_get(conn, "envelope")?.ok_or_else(|| Error::corrupted("meta", "envelope"))?;
    let pin_params = meta_get(conn, "pin_params")?;
    let has_pin = pin_params.is_some();
    // Salvage reads a damaged store: a damaged anchor does not stop it (a rolled-back one does) — unless
    // the store has a PIN: its attempts are counted in the files, which only the anchor vouches for (an
    // older copy with one byte of its anchor flipped gave fresh guesses through salvage).
    let anchor_check = |anchored: bool| match super::anchor::check(conn, vault, store_id, anchored) {
        Err(Error::Corrupted { .. }) if salvage && !has_pin => {
            Ok(super::anchor::Said { heads: super::anchor::Heads::None, pin: None })
        }
        other => other,
    };
    let anchor_heads: super::anchor::Heads;
    let mut pin_layer = None;
    // The envelope under the alias of an anchored store, else under the one of before the anchor (`true`),
    // opened from the core's seal (`true` when the vault held it in the clear: code of before).
    let plain_len = plain_envelope_len(has_pin);
    let current = envelope_alias(conn, store_id)?;
    let rekeyed = current == rekeyed_alias(store_id);
    // Nothing opened the envelope under the aliases its record format names: if one of the other family
    // does, the record format in `meta` is damaged (a flipped or lost row), not the key wrong.
    let not_opened = |envelope: &[u8], others: &[String]| -> Error {
        if others.iter().any(|a| vault.unwrap(a, envelope).is_ok()) {
            return Error::corrupted("meta", RECORD_FORMAT_META);
        }
        wrong_key_or_damage(conn, "envelope", envelope)
    };
    let unwrap = |envelope: &[u8]| -> Result<(Zeroizing<Vec<u8>>, bool, bool)> {
        match vault.unwrap(&current, envelope) {
            Ok(v) => {
                let (inner, plain) = open_secret(conn, &current, v, plain_len)?;
                return Ok((inner, false, plain));
            }
            // A store of record format 2 has its envelope under the rotated alias only.
            Err(VaultError::UnwrapFailed) if rekeyed => {
                return Err(not_opened(envelope, &[alias(store_id), legacy_alias(store_id)]))
            }
            Err(VaultError::UnwrapFailed) => {}
            Err(e) => return Err(vault_err(e)),
        }
        match vault.unwrap(&legacy_alias(store_id), envelope) {
            Ok(v) => {
                let (inner, plain) = open_secret(conn, &legacy_alias(store_id), v, plain_len)?;
                Ok((inner, true, plain))
            }
            Err(VaultError::UnwrapFailed) => Err(not_opened(envelope, &[rekeyed_alias(store_id)])),
            Err(e) => Err(vault_err(e)),
        }
    };
    // Once the anchor is checked (or made, for a store of before it): the envelope moves to the anchored
    // alias, sealed, and the legacy alias is destroyed. Salvage changes nothing.
    let moved = |inner: &[u8], legacy: bool, plain: bool| -> Result<()> {
        if salvage {
            return Ok(());
        }
        if legacy || plain {
            move_envelope(conn, vault, store_id, inner)?;
        } else {
            destroy_legacy_alias(conn, vault, store_id);
        }
        Ok(())
    };
    let raw: Zeroizing<[u8; 32]> = match (pin_params, pin) {
        (None, _) => {
            let (inner, legacy, plain) = unwrap(&envelope)?;
            // The vault knows this store (its envelope opened): now are these files its current ones?
            anchor_heads = anchor_check(!legacy)?.heads;
            moved(&inner, legacy, plain)?;
            to_key(&inner).ok_or_else(|| wrong_key_or_damage(conn, "envelope", &envelope))?
        }
        (Some(_), None) => return Err(Error::Locked { retry_after_secs: lockout_remaining(conn, clock)? }),
        (Some(params), Some(pin)) => {
            let wait = lockout_remaining(conn, clock)?;
            if wait > 0 {
                return Err(Error::Locked { retry_after_secs: wait });
            }
            if params.len() != 20 {
                return Err(Error::corrupted("meta", "pin_params"));
            }
            let (salt, iters) = params.split_at(16);
            let iterations = u32::from_be_bytes([iters[0], iters[1], iters[2], iters[3]]);
            let (inner, legacy, plain) = unwrap(&envelope)?;
            // Files put back from before earlier attempts are refused before any new attempt is counted.
            let said = anchor_check(!legacy)?;
            anchor_heads = said.heads;
            // The count of wrong PINs and their times are the vault's (anchor payload version 4), not the
            // files': a count edited down (or a last failure moved back) in the files is put right before the
            // wait is measured (ADR 0036).
            if let Some(pin) = said.pin {
                if pin != super::anchor::PinState::from_meta(conn)? {
                    pin.to_meta(conn)?;
                    let wait = lockout_remaining(conn, clock)?;
                    if wait > 0 {
                        return Err(Error::Locked { retry_after_secs: wait });
                    }
                }
            }
            moved(&inner, legacy, plain)?;
            // Count the attempt before trying it: a kill during the slow derivation still counts.
            let failures = count_attempt(conn, vault, store_id, clock, anchor_heads)?;
            let k = pin_key(pin, salt, iterations)?;
            match crypto::open(&k, &crypto::aad("meta", "envelope", "pin"), &inner) {
                Some(raw) => {
                    meta_set(conn, "pin_failures", &0u64.to_be_bytes())?;
                    // The vault's payload says the count too: moved on with it, or the next unlock would
                    // take back the count of before this right PIN.
                    if matches!(anchor_heads, super::anchor::Heads::Sealed(..)) {
                        super::anchor::advance(conn, vault, store_id, anchor_heads)?;
                        let _ = super::anchor::destroy_old(conn, vault, store_id);
                    }
                    pin_layer = Some(k);
                    to_key(&raw).ok_or(Error::WrongKey)?
                }
                None => {
                    let left = (LOCKOUT_FREE_ATTEMPTS as u64).saturating_sub(failures);
                    return Err(if left == 0 {
                        Error::Locked { retry_after_secs: lockout_delay(failures) }
                    } else {
                        Error::WrongPin { attempts_left: left as u32 }
                    });
                }
            }
        }
    };
    let mut keys = Keys::from_raw(&raw)?;
    keys.anchor_heads = anchor_heads;
    keys.pin_layer = pin_layer;
    if !salvage {
        ensure_vault_seal_digest(conn)?;
    }
    // A store restored from a backup keeps the lookup key of the store it came from (the keyed hashes
    // in its records were made with it): kept sealed under the data key (`export.rs`).
    if let Some(sealed) = meta_get(conn, LOOKUP_KEY_META)? {
        let raw = crypto::open(&keys.data, &crypto::aad("meta", LOOKUP_KEY_META, "key"), &sealed)
            .ok_or_else(|| Error::corrupted("meta", LOOKUP_KEY_META))?;
        keys.lookup_raw = Zeroizing::new(raw.to_vec());
        keys.lookup = Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, &raw));
    }
    let canary = match meta_get(conn, "canary")? {
        Some(c) => c,
        None => return Ok((keys, Err(Error::corrupted("meta", "canary")))),
    };
    let verdict = match crypto::open(&keys.data, &crypto::aad("meta", "canary", "value"), &canary) {
        Some(v) if v.as_slice() == CANARY => Ok(()),
        // The canary does not open: a wrong key only if neither it nor the envelope was damaged.
        _ => match wrong_key_or_damage(conn, "canary", &canary) {
            Error::WrongKey => Err(wrong_key_or_damage(conn, "envelope", &envelope)),
            other => Err(other),
        },
    };
    Ok((keys, verdict))
}

/// Replaces the PIN layer (or adds / removes it) around the same data key. Requires an unlocked store.
/// Runs inside the caller's transaction: the caller checks (and so counts) the old PIN with [`unlock`]
/// *before* opening it, so that a wrong old PIN stays counted when the transaction rolls back.
pub(crate) fn change_pin(
    conn: &Connection,
    vault: &dyn KeyVault,
    store_id: &str,
    old_pin: Option<&str>,
    new_pin: Option<&str>,
    policy: &PinPolicy,
    clock: &dyn Clock,
) -> Result<()> {
    // Re-derive the raw data key through the normal unlock path (the old PIN checked again).
    let _ = unlock(conn, vault, store_id, old_pin, clock)?;
    // Read after `unlock`: it moves an envelope of before the anchor to the anchored alias.
    let envelope = meta_get(conn, "envelope")?.ok_or_else(|| Error::corrupted("meta", "envelope"))?;
    let pin_params = meta_get(conn, "pin_params")?;
    let current = envelope_alias(conn, store_id)?;
    let from_vault = vault.unwrap(&current, &envelope).map_err(vault_err)?;
    let (inner, _) = open_secret(conn, &current, from_vault, plain_envelope_len(pin_params.is_some()))?;
    let raw: Zeroizing<Vec<u8>> = match (pin_params, old_pin) {
        (Some(params), Some(pin)) if params.len() == 20 => {
            let iterations = u32::from_be_bytes([params[16], params[17], params[18], params[19]]);
            let k = pin_key(pin, &params[..16], iterations)?;
            crypto::open(&k, &crypto::aad("meta", "envelope", "pin"), &inner).ok_or(Error::WrongKey)?
        }
        _ => inner.clone(),
    };
    let new_inner: Zeroizing<Vec<u8>> = match new_pin {
        None => {
            conn.execute("DELETE FROM meta WHERE key = 'pin_params'", [])?;
            raw.clone()
        }
        Some(pin) => {
            check_pin_rules(pin, policy)?;
            let mut salt = [0u8; 16];
            crypto::fill_random(&mut salt)?;
            let mut params = salt.to_vec();
            params.extend_from_slice(&policy.iterations.to_be_bytes());
            meta_set(conn, "pin_params", &params)?;
            let k = pin_key(pin, &salt, policy.iterations)?;
            Zeroizing::new(crypto::seal(&k, &crypto::aad("meta", "envelope", "pin"), &raw)?)
        }
    };
    let envelope = wrap_secret(conn, vault, &current, &new_inner)?;
    meta_set(conn, "envelope", &envelope)?;
    meta_set(conn, "envelope_sha256", &envelope_digest(conn, &envelope)?)?;
    Ok(())
}

fn to_key(bytes: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(Zeroizing::new(arr))
}

#[cfg(test)]
mod tests {
    use super::lockout_delay;

    #[test]
    fn lockout_grows_and_caps() {
        assert_eq!(lockout_delay(4), 0);
        assert_eq!(lockout_delay(5), 30);
        assert_eq!(lockout_delay(6), 60);
        assert_eq!(lockout_delay(7), 120);
        assert_eq!(lockout_delay(40), 86_400);
    }
}
