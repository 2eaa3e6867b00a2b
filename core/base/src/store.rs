//! The encrypted local store.
//!
//! * SQLite (rusqlite, bundled), WAL, one writer connection, numbered migrations (`migrations.rs`).
//! * A random data key per store, wrapped by the platform's [`KeyVault`]; an optional PIN adds a
//!   PBKDF2-derived layer checked only at unlock (`keys.rs`).
//! * Every record belongs to a subject ([`SubjectKind`]: the person, a family member, an enterprise, an
//!   agent's principal) and is sealed (AES-256-GCM, random nonce) under that subject's key, with
//!   associated data binding every column of its row (record format 2, ADR 0033: collection, id, subject,
//!   tag, keyed lookup, `updated_at`); a sealed record head over every collection is checked at unlock, so
//!   an older record written back in place is `RolledBack` (`heads.rs`). Subject keys are sealed under the *ring*, whose
//!   key only the vault holds (`keys.rs`). [`Store::shred_subject`] deletes the subject's key and moves the
//!   others to a new ring, destroying the old ring key in the vault: the subject's records, label,
//!   attachment names and audit details become unreadable at once, in copies of the files taken before
//!   too (crypto-shredding; docs/SECURITY.md, finding 3).
//! * Equality lookups on sensitive identifiers use [`Store::lookup_hash`] (HMAC-SHA256), never plaintext.
//! * Encrypted attachment files (`attachments.rs`) and the hash-chained audit log (`crate::audit`).
//!
//! Most features keep their data as records in a *collection* (`"licence"`, `"draft"`, `"case"`,
//! `"outbox"`…) with a JSON body; [`Store::transaction`] groups several writes atomically.

mod anchor;
mod attachments;

mod export;
mod heads;
mod keys;
mod metadata;
mod migrations;
mod plain;
mod salvage;
mod upgrade;
mod vault;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ring::aead::LessSafeKey;
use ring::hmac;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

pub use attachments::{AttachmentInfo, CHUNK_SIZE, MAX_ATTACHMENT_BYTES, MAX_RANGE};
pub use export::ExportedRecord;
pub use heads::HEADED;
pub use keys::{lockout_delay, PinPolicy, LOCKOUT_FREE_ATTEMPTS, MIN_PIN_ITERATIONS};
pub use metadata::{is_keyed_id, KEYED_IDS};
pub use plain::Plain;

/// The longest subject label a store takes (a name, "妈妈", "委托人 李秀英").
pub const MAX_LABEL_CHARS: usize = 200;
/// The longest attachment name a store takes (a file name).
pub const MAX_ATTACHMENT_NAME_CHARS: usize = 255;
pub use salvage::{salvage, Salvage, SalvageReport, StoreRecord};
pub use vault::{
    user_authentication_prompt_title, vault_key_needs_user_authentication, vault_user_authentication_validity_secs,
    FileVault, KeyVault, VaultError,
};

use crate::clock::{Clock, SystemClock};
use crate::crypto;
use crate::{Error, Result};

/// The plaintext setting that holds [`Store::lock_after_background`]'s delay (seconds).
pub const LOCK_AFTER_SETTING: &str = "lock_after_background_secs";
/// A store with a PIN locks this long after the app left the screen, unless the person chose otherwise.
pub const DEFAULT_LOCK_AFTER_SECS: u32 = 30;
/// The longest delay a person may choose (an hour).
pub const MAX_LOCK_AFTER_SECS: u32 = 3600;

/// How long changes may stay unbound while the store is open (ADR 0038): the first commit that finds the
/// oldest unbound change this many seconds old (by the store's clock: the boot clock where there is one)
/// binds after committing ([`Store::bind_changes`], best effort).
pub const BIND_AFTER_SECS: u32 = 60;

/// The time [`BIND_AFTER_SECS`] is measured on: the boot clock (which the person cannot set) where the
/// platform has one, else the wall clock.
fn bind_clock(clock: &dyn Clock) -> i64 {
    clock.since_boot_secs().and_then(|b| i64::try_from(b).ok()).unwrap_or_else(|| clock.now_secs())
}

/// Whether changes unbound since `since` are to be bound at `now` (both [`bind_clock`]): older than the bound,
/// or a wall clock set back past them (bound then rather than wait for it to come round again).
fn bind_due(since: i64, now: i64) -> bool {
    now < since || now.saturating_sub(since) >= i64::from(BIND_AFTER_SECS)
}

/// The subject every store has: the person who owns the phone.
pub const SELF_SUBJECT: &str = "self";

/// [`SELF_SUBJECT`], for the shells (exported from here).
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn self_subject() -> String {
    SELF_SUBJECT.to_string()
}
const DB_FILE: &str = "zhangban.db";
/// Largest record body accepted (bodies are JSON documents, not files: files are attachments).
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// Whom a subject stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// The phone's owner.
    Owner,
    /// A family member the owner applies for.
    Family,
    /// An enterprise the owner represents.
    Enterprise,
    /// A principal (委托人) an agent serves under a delegation.
    Principal,
}

impl SubjectKind {
    fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Owner => "owner",
            SubjectKind::Family => "family",
            SubjectKind::Enterprise => "enterprise",
            SubjectKind::Principal => "principal",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => SubjectKind::Owner,
            "family" => SubjectKind::Family,
            "enterprise" => SubjectKind::Enterprise,
            "principal" => SubjectKind::Principal,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Subject {
    pub id: String,
    pub kind: SubjectKind,
    pub label: String,
    pub created_at: i64,
    pub shredded: bool,
}

/// One decrypted record.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: i64,
    pub collection: String,
    pub id: String,
    pub subject: String,
    pub tag: Option<String>,
    pub body: Zeroizing<Vec<u8>>,
    pub updated_at: i64,
}

impl Record {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|_| Error::corrupted(self.collection.clone(), &self.id))
    }
}

/// Optional columns of a write.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions<'a> {
    /// Non-sensitive state kept in plaintext for queries (e.g. `"pending"` in the outbox).
    pub tag: Option<&'a str>,
    /// A sensitive identifier (an ID number) to look the record up by; stored only as an HMAC.
    pub lookup: Option<&'a str>,
}

pub(crate) struct Unlocked {
    pub keys: keys::Keys,
    subject_keys: HashMap<String, SubjectKey>,
    /// The subject key ring; `None` only for a format-1 store read by salvage (not upgraded).
    ring: Option<keys::Ring>,
    /// Record format 2 (ADR 0033): every record's associated data binds all its columns, and every
    /// collection is in the record head. `false` only before the upgrade (and in salvage of such a store).
    records_v2: bool,
    /// Since when (by [`bind_clock`]) the record head has changes not bound to the anchor — an ordinary or
    /// outbox change, which does not move the rollback epoch (ADR 0036); `None`: bound. [`Store::lock`],
    /// closing, the app leaving the screen and the first commit [`BIND_AFTER_SECS`] after it bind them
    /// (ADR 0038). `Some(i64::MIN)`: unbound since before this unlock (the first commit binds).
    unbound_since: Option<i64>,
    /// Each row's hash as this store last wrote it (`heads::Versions`, ADR 0036): every read compares the
    /// row it decrypts. `None` in salvage (no per-read check).
    versions: Option<heads::Versions>,
    /// SQLite's `data_version` when the versions were last known right: another connection's commit changes
    /// it, and the next read or transaction checks the file's rows against its sealed head first ([`Unlocked::follow`]).
    data_version: i64,
    /// The head's generation this store last saw: one lower in the file is an older head put back.
    generation: u64,
}

impl Unlocked {
    /// The keys and ring of a store, nothing bound, checked or followed yet: what `load`, `create` and
    /// salvage start from.
    fn new(keys: keys::Keys, ring: Option<keys::Ring>, records_v2: bool) -> Unlocked {
        Unlocked {
            keys,
            subject_keys: HashMap::new(),
            ring,
            records_v2,
            unbound_since: None,
            versions: None,
            data_version: 0,
            generation: 0,
        }
    }

    /// The keys of an unlocked store: its ring loaded (a format-1 store upgraded to format 2 first), its
    /// record head checked, what a store of before keeps in the clear sealed or keyed (finding 11,
    /// `metadata.rs`), a store of record format 1 upgraded (every record sealed again, the data key
    /// rotated: `upgrade.rs`), and any old vault key whose destruction was cut short destroyed now.
    /// The PIN-derived key of this unlock (`keys.pin_layer`), needed by the rotation, is dropped when this
    /// returns.
    fn load(
        conn: &mut Connection,
        vault: &dyn KeyVault,
        store_id: &str,
        dir: &Path,
        mut keys: keys::Keys,
    ) -> Result<Unlocked> {
        let pin_layer = keys.pin_layer.take();
        let ring = keys::load_ring(conn, vault, store_id, &keys, true)?;
        let records_v2 = keys::record_format(conn)? >= 2;
        let mut u = Unlocked::new(keys, ring, records_v2);
        if u.ring.is_none() {
            upgrade::to_format2(conn, vault, store_id, &mut u)?;
        }
        u.check_head(conn, vault, store_id)?;
        // What a store of before keeps in the clear is sealed or keyed now (finding 11) — before the upgrade
        // to record format 2, which seals every record again (under its keyed id) and makes the head from them.
        let converted = metadata::seal_all(conn, dir, &mut u)?;
        let upgraded = !u.records_v2;
        if upgraded {
            upgrade::to_records_v2(conn, vault, store_id, &mut u, pin_layer.as_deref())?;
        }
        u.check_settings(conn)?;
        // The rows' versions for the per-read check: those the head check computed, unless a conversion
        // or the upgrade has written rows since (or the check took its slower path).
        if converted || upgraded || u.versions.is_none() {
            u.versions = Some(heads::versions_now(conn, &u.keys.head)?);
        }
        u.data_version = data_version(conn)?;
        u.generation = heads::generation(conn)?;
        // Best effort here: an erasure reports its own failure to destroy, and a later one finishes it.
        let _ = keys::destroy_old_rings(conn, vault, store_id);
        keys::destroy_replaced_envelopes(conn, vault, store_id);
        Ok(u)
    }

    /// Whether a row as read opens under its subject's key (damage is a row that does not).
    fn row_opens(&mut self, conn: &Connection, r: &heads::Row) -> bool {
        let (collection, id, subject, tag, lookup, body, at) = r.clone();
        decode_row(conn, self, &collection, (0, id, subject, tag, lookup, body, at)).is_ok()
    }

    /// The sealed head of the security-relevant collections against their rows (`heads.rs`): an older row
    /// written back, or one deleted, is `RolledBack`. A store that has no head yet (made before it) gets one
    /// now, and a store whose anchor does not bind its head yet (made before that) is bound now: its anchor
    /// says so from then on.
    fn check_head(&mut self, conn: &mut Connection, vault: &dyn KeyVault, store_id: &str) -> Result<()> {
        let said = self.keys.anchor_heads;
        // The head in the files must be sealed under the generation the vault's payload names (ADR 0036): one
        // of an older generation is an older head put back, whatever its rows.
        if let anchor::Heads::Sealed(_, g) = said {
            match heads::generation(conn)?.cmp(&g) {
                // An older head put back opens under its own generation; a generation damaged in the file does
                // not open the head it names, and is damage, not a rollback.
                std::cmp::Ordering::Less if matches!(heads::load(conn, &self.keys.data), Ok(Some(_))) => {
                    return Err(Error::RolledBack)
                }
                std::cmp::Ordering::Less | std::cmp::Ordering::Greater => {
                    return Err(Error::corrupted("meta", heads::GENERATION_META))
                }
                std::cmp::Ordering::Equal => {}
            }
        }
        let bound_to = match said {
            anchor::Heads::Bound(d) | anchor::Heads::Sealed(d, _) => Some(d),
            anchor::Heads::None | anchor::Heads::Kept => None,
        };
        let sealed = matches!(said, anchor::Heads::Sealed(..));
        let checked = heads::check(
            conn,
            &self.keys.data,
            &self.keys.head,
            said != anchor::Heads::None,
            self.records_v2,
            &mut self.versions,
        )?;
        let head = match checked {
            // The rows make the head, and it is the one the vault's payload names (an older head put back
            // with all its rows makes itself, but not that). A store of record format 1 is sealed anew by
            // its upgrade right after this.
            heads::Checked::Matches(head) if sealed && bound_to == Some(head.bind()) => return Ok(()),
            heads::Checked::Matches(head) if bound_to.is_some_and(|d| d != head.bind()) => {
                return Err(Error::RolledBack)
            }
            // Made before the binding, the parts or the generations: bound now, sealed as parts.
            heads::Checked::Matches(head) => head,
            heads::Checked::Missing => heads::start(conn, &self.keys.data, &self.keys.head)?,
            heads::Checked::Differs(rows) => {
                if let Some(c) =
                    short_collections(conn, &rows, !self.records_v2)?.into_iter().find(|c| heads::headed(c))
                {
                    return Err(Error::corrupted(
                        format!("records/{c}"),
                        "rows the kept count names are not reachable",
                    ));
                }
                for r in &rows {
                    if !self.row_opens(conn, r) {
                        return Err(Error::corrupted(format!("records/{}", r.0), &r.1));
                    }
                }
                return Err(Error::RolledBack);
            }
            heads::Checked::OrdinaryDiffers { mut stored, now, collections, rows } => {
                let short = short_collections(conn, &rows, false)?;
                if bound_to.is_some_and(|d| d != stored.bind()) {
                    return Err(Error::RolledBack);
                }
                // An ordinary collection whose rows all open but do not make its part: an older record
                // written back, one deleted or added, a plaintext column changed. One with a row that does
                // not open is damaged: that row reads as `Corrupted` (the others still read, ADR 0003), and
                // the collection's part is taken from its rows as they are now (ADR 0033: damage in the same
                // collection can hide an older record; the damage itself stays visible).
                // A row of a collection the head does not know that does not open may be a row whose
                // collection name was damaged: the collection it left is then short for damage, not a delete.
                let mut unknown_damaged = false;
                for r in rows.iter().filter(|r| !heads::headed(&r.0) && !stored.has_ordinary(&r.0)) {
                    unknown_damaged |= !self.row_opens(conn, r);
                }
                for c in &collections {
                    // Fewer (or more) rows than the kept count: a damaged page (an SQL delete keeps the count).
                    let mut damaged = unknown_damaged || short.contains(c);
                    for r in rows.iter().filter(|r| &r.0 == c) {
                        damaged |= !self.row_opens(conn, r);
                    }
                    if !damaged {
                        return Err(Error::RolledBack);
                    }
                    stored.rebase(&now, c);
                }
                if sealed {
                    let tx = conn.transaction()?;
                    heads::save(&tx, &self.keys.data, &stored)?;
                    tx.commit()?;
                    return Ok(());
                }
                stored
            }
        };
        let tx = conn.transaction()?;
        let g = heads::rebind(&tx, &self.keys.data, &head)?;
        let bound = anchor::Heads::Sealed(head.bind(), g);
        anchor::advance(&tx, vault, store_id, bound)?;
        tx.commit()?;
        self.keys.anchor_heads = bound;
        let _ = anchor::destroy_old(conn, vault, store_id);
        Ok(())
    }

    /// The plaintext settings against the head's settings part (ADR 0036): a setting put back with its
    /// older tag, or one deleted or added, is `RolledBack`; a setting whose tag does not fit its value
    /// (edited in the file, or damaged) reads `Corrupted` and its tag is taken as it is (damage, as for an
    /// ordinary collection). A head of before gets its part now, every setting tagged as it is (after the
    /// data-key rotation too: the tags are under the head key).
    fn check_settings(&mut self, conn: &mut Connection) -> Result<()> {
        let Some(mut head) = heads::load(conn, &self.keys.data)? else { return Ok(()) };
        let read = |prefix: &str| -> Result<Vec<(String, Vec<u8>)>> {
            let mut st = conn.prepare("SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1")?;
            let rows = st
                .query_map([prefix], |r| Ok((r.get::<_, String>(0)?[prefix.len()..].to_string(), r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        };
        let values = read("setting.")?;
        let tags: HashMap<String, Vec<u8>> = read("setting_tag.")?.into_iter().collect();
        let tx = conn.transaction()?;
        let Some(kept) = head.settings else {
            let mut part = heads::Part::default();
            for (k, v) in &values {
                let tag = heads::setting_tag(&self.keys.head, k, v);
                keys::meta_set(&tx, &format!("setting_tag.{k}"), &tag)?;
                part.toggle(&tag, true);
            }
            head.settings = Some(part);
            heads::save(&tx, &self.keys.data, &head)?;
            tx.commit()?;
            self.unbound_since = Some(i64::MIN);
            return Ok(());
        };
        let mut now = heads::Part::default();
        let mut damaged = false;
        for (k, v) in &values {
            match tags.get(k).and_then(|t| <[u8; 32]>::try_from(t.as_slice()).ok()) {
                Some(t) => {
                    damaged |= t != heads::setting_tag(&self.keys.head, k, v);
                    now.toggle(&t, true);
                }
                None => damaged = true,
            }
        }
        for (k, t) in &tags {
            if !values.iter().any(|(v, _)| v == k) {
                match <[u8; 32]>::try_from(t.as_slice()) {
                    Ok(t) => now.toggle(&t, true),
                    Err(_) => damaged = true,
                }
            }
        }
        if now == kept {
            return Ok(());
        }
        if !damaged {
            return Err(Error::RolledBack);
        }
        head.settings = Some(now);
        heads::save(&tx, &self.keys.data, &head)?;
        tx.commit()?;
        Ok(())
    }

    fn put_version(v: &mut heads::Versions, collection: &str, id: &str, h: Option<[u8; 32]>) {
        match h {
            Some(h) => {
                v.entry(collection.to_string()).or_default().insert(id.to_string(), h);
            }
            None => {
                if let Some(c) = v.get_mut(collection) {
                    c.remove(id);
                }
            }
        }
    }

    /// Before a read or a transaction (ADR 0036): when another connection has committed since this one last
    /// looked (SQLite's `data_version`) — another store object over the same files (a background task's sync),
    /// or whoever writes the file through SQLite under the open store — the rows must make the sealed head in
    /// the file (which only a holder of the data key writes), of no older generation than this store saw, and
    /// the settings' tags its settings part; then this store takes the rows' versions as they are. Otherwise
    /// `RolledBack`, on this and every later read until the store is opened again.
    fn follow(&mut self, conn: &Connection) -> Result<()> {
        if self.versions.is_none() {
            return Ok(());
        }
        let version = data_version(conn)?;
        if version == self.data_version {
            return Ok(());
        }
        let stored = heads::load(conn, &self.keys.data)?.ok_or_else(|| Error::corrupted("meta", heads::HEAD_META))?;
        let generation = heads::generation(conn)?;
        if generation < self.generation {
            return Err(Error::RolledBack);
        }
        let (mut now, versions) = heads::head_and_versions(conn, &self.keys.head)?;
        now.settings = stored.settings;
        if now != stored || stored.settings.is_some_and(|p| Some(p) != heads::settings_part(conn).ok()) {
            return Err(Error::RolledBack);
        }
        self.versions = Some(versions);
        self.generation = generation;
        self.data_version = version;
        Ok(())
    }

    /// Puts back the versions a failed transaction changed (in reverse order).
    fn undo_versions(&mut self, undo: Vec<(String, String, Option<[u8; 32]>)>) {
        if let Some(v) = self.versions.as_mut() {
            for (c, id, h) in undo.into_iter().rev() {
                Self::put_version(v, &c, &id, h);
            }
        }
    }

    /// The per-read check (ADR 0036): the row as read must be the version this store last wrote or followed
    /// ([`Unlocked::follow`] has already refused another connection's rows that do not make the sealed head:
    /// `RolledBack`). A row of another version here changed without any commit through SQLite — the file
    /// edited under it, or damage read differently than at the unlock — and is `Corrupted`.
    fn check_version(&self, collection: &str, id: &str, h: &[u8; 32]) -> Result<()> {
        match &self.versions {
            Some(v) if v.get(collection).and_then(|c| c.get(id)) != Some(h) => {
                Err(Error::corrupted(format!("records/{collection}"), id))
            }
            _ => Ok(()),
        }
    }

    /// Whether the store last wrote a row (`collection`, `id`) (a read that finds none: deleted under it).
    fn wrote(&self, collection: &str, id: &str) -> bool {
        self.versions.as_ref().is_some_and(|v| v.get(collection).is_some_and(|c| c.contains_key(id)))
    }

    fn audit_keys(&self) -> crate::audit::AuditKeys<'_> {
        crate::audit::AuditKeys { data: &self.keys.data, chain: &self.keys.audit }
    }
}

struct Inner {
    conn: Connection,
    unlocked: Option<Unlocked>,
}

/// The encrypted store of one person (or one agent). Cheap to share: wrap it in an `Arc`.
pub struct Store {
    dir: PathBuf,
    store_id: String,
    vault: Arc<dyn KeyVault>,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
    /// The platform's device key the app offered for this session ([`Store::offer_device_signer`]).
    platform_signer: std::sync::RwLock<Option<Arc<dyn crate::signer::DeviceSigner>>>,
}

/// Closing the store binds what changed since the last bind, as [`Store::lock`] does (best effort).
impl Drop for Store {
    fn drop(&mut self) {
        if let Ok(mut g) = self.inner.lock() {
            let _ = self.bind_in(&mut g);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("store_id", &self.store_id).finish()
    }
}

fn open_connection(path: &Path, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // WAL + NORMAL: a committed transaction survives the process being killed (the WAL is in the OS);
    // only a power cut may lose the last commits. One writer: this connection.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA secure_delete = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Store {
    /// Creates a new store in `dir` (created if missing). With `pin`, unlocking needs the PIN.
    pub fn create(dir: &Path, vault: Arc<dyn KeyVault>, pin: Option<&str>) -> Result<Store> {
        Self::create_with(dir, vault, pin, &PinPolicy::default(), Arc::new(SystemClock))
    }

    pub fn create_with_policy(
        dir: &Path,
        vault: Arc<dyn KeyVault>,
        pin: Option<&str>,
        policy: &PinPolicy,
    ) -> Result<Store> {
        Self::create_with(dir, vault, pin, policy, Arc::new(SystemClock))
    }

    /// Creates a store that reads the time from `clock` (tests, the demo, time travel).
    pub fn create_with(
        dir: &Path,
        vault: Arc<dyn KeyVault>,
        pin: Option<&str>,
        policy: &PinPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Store> {
        fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        if path.exists() {
            return Err(Error::validation(
                "dir",
                "该目录中已有数据，请直接打开",
                "a store already exists in this folder; open it instead",
            ));
        }
        // Built under a temporary name and renamed once complete: a process killed half-way through
        // leaves no half store that could never be opened (found by the kill -9 fault test).
        let tmp = dir.join(format!("{DB_FILE}.creating"));
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = fs::remove_file(dir.join(format!("{DB_FILE}.creating{suffix}")));
        }
        let mut conn = open_connection(&tmp, true)?;
        migrations::migrate(&mut conn, clock.now_secs())?;
        let store_id = uuid::Uuid::new_v4().to_string();
        let mut unlocked = {
            let tx = conn.transaction()?;
            keys::meta_set(&tx, "store_id", store_id.as_bytes())?;
            let keys = keys::create(&tx, vault.as_ref(), &store_id, pin, policy)?;
            let ring = keys::new_ring(&tx, vault.as_ref(), &store_id, &keys, 1)?;
            let mut head = heads::start(&tx, &keys.data, &keys.head)?;
            head.settings = Some(heads::Part::default());
            let g = heads::rebind(&tx, &keys.data, &head)?;
            anchor::advance(&tx, vault.as_ref(), &store_id, anchor::Heads::Sealed(head.bind(), g))?;
            keys::meta_set(&tx, keys::RECORD_FORMAT_META, &keys::RECORD_FORMAT.to_be_bytes())?;
            let mut u = Unlocked { versions: Some(heads::Versions::new()), ..Unlocked::new(keys, Some(ring), true) };
            {
                let mut txn = Txn {
                    tx,
                    u: &mut u,
                    clock: clock.as_ref(),
                    anchor: false,
                    heads: heads::Pending::default(),
                    undo: Vec::new(),
                };
                txn.create_subject(SELF_SUBJECT, SubjectKind::Owner, "本人 / owner")?;
                txn.tx.commit()?;
            }
            u
        };
        // Closing the only connection checkpoints the WAL into the file and removes it.
        conn.close().map_err(|(_, e)| Error::from(e))?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        let conn = open_connection(&path, false)?;
        unlocked.subject_keys.clear();
        fs::create_dir_all(dir.join(attachments::DIR))?;
        let store = Store {
            dir: dir.to_path_buf(),
            store_id,
            vault,
            clock,
            inner: Mutex::new(Inner { conn, unlocked: Some(unlocked) }),
            platform_signer: Default::default(),
        };
        Ok(store)
    }

    /// Opens an existing store. Without a PIN it is unlocked with the vault at once; with a PIN it opens
    /// locked and [`Store::unlock`] must follow.
    pub fn open(dir: &Path, vault: Arc<dyn KeyVault>) -> Result<Store> {
        Self::open_with(dir, vault, Arc::new(SystemClock))
    }

    /// Opens an existing store that reads the time from `clock`.
    pub fn open_with(dir: &Path, vault: Arc<dyn KeyVault>, clock: Arc<dyn Clock>) -> Result<Store> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(Error::not_found(format!("store in {}", dir.display())));
        }
        let mut conn = open_connection(&path, false)?;
        migrations::migrate(&mut conn, clock.now_secs())?;
        let store_id = keys::meta_get(&conn, "store_id")?
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or_else(|| Error::corrupted("meta", "store_id"))?;
        let unlocked = if keys::has_pin(&conn)? {
            None
        } else {
            let k = keys::unlock(&conn, vault.as_ref(), &store_id, None, clock.as_ref())?;
            Some(Unlocked::load(&mut conn, vault.as_ref(), &store_id, dir, k)?)
        };
        attachments::remove_temporaries(&dir.join(attachments::DIR));
        Ok(Store {
            dir: dir.to_path_buf(),
            store_id,
            vault,
            clock,
            inner: Mutex::new(Inner { conn, unlocked }),
            platform_signer: Default::default(),
        })
    }

    /// Opens the store in `dir`, creating it if there is none.
    pub fn open_or_create(dir: &Path, vault: Arc<dyn KeyVault>, pin: Option<&str>) -> Result<Store> {
        Self::open_or_create_with(dir, vault, pin, Arc::new(SystemClock))
    }

    /// [`Store::open_or_create`] with a clock.
    pub fn open_or_create_with(
        dir: &Path,
        vault: Arc<dyn KeyVault>,
        pin: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<Store> {
        if dir.join(DB_FILE).exists() {
            let s = Self::open_with(dir, vault, clock)?;
            if s.is_locked() {
                s.unlock(pin)?;
            }
            Ok(s)
        } else {
            Self::create_with(dir, vault, pin, &PinPolicy::default(), clock)
        }
    }

    /// The clock every feature reads the time from (the system clock unless the store was opened with
    /// another one).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Now, in seconds since the Unix epoch, from the store's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Today's date in Asia/Shanghai, from the store's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn db_path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    fn guard(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back), so
        // a poisoned lock is safe to take over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_locked(&self) -> bool {
        self.guard().unlocked.is_none()
    }

    pub fn has_pin(&self) -> Result<bool> {
        keys::has_pin(&self.guard().conn)
    }

    /// How long the app may stay in the background before it locks (forgets its keys and asks for the PIN):
    /// the person's setting, else [`DEFAULT_LOCK_AFTER_SECS`]; `None` for a store without a PIN (nothing to
    /// ask for: it would unlock again with no question). Readable while locked. Both shells wait this long
    /// after leaving the screen, then [`Store::lock`]; coming back sooner cancels it.
    pub fn lock_after_background(&self) -> Result<Option<u32>> {
        if !self.has_pin()? {
            return Ok(None);
        }
        // A value edited in the file (its tag does not fit, ADR 0036) counts as not set: the default.
        let set = self.setting_or_unset(LOCK_AFTER_SETTING)?.and_then(|v| v.parse::<u32>().ok());
        Ok(Some(set.unwrap_or(DEFAULT_LOCK_AFTER_SECS).min(MAX_LOCK_AFTER_SECS)))
    }

    /// The app left the screen (both shells call it from their lifecycle hook: Android `onStop`, iOS
    /// `scenePhase == .background`): the changes since the last bind are bound to the rollback anchor now
    /// ([`Store::bind_changes`], best effort: a vault that fails leaves them to the next chance), since the
    /// process may be killed in the background without a lock or a close (ADR 0038); then the delay after which
    /// the shell locks ([`Store::lock_after_background`]: `None`, never).
    pub fn left_the_screen(&self) -> Result<Option<u32>> {
        let _ = self.bind_changes();
        self.lock_after_background()
    }

    /// Sets the delay of [`Store::lock_after_background`]: 0 (at once) to [`MAX_LOCK_AFTER_SECS`].
    pub fn set_lock_after_background(&self, secs: u32) -> Result<()> {
        if secs > MAX_LOCK_AFTER_SECS {
            return Err(Error::validation(
                "lock_after_background",
                format!("离开应用后自动锁定的等待时间最长为 {} 分钟。", MAX_LOCK_AFTER_SECS / 60),
                format!("The app locks at most {} minutes after you leave it.", MAX_LOCK_AFTER_SECS / 60),
            ));
        }
        self.set_setting(LOCK_AFTER_SETTING, &secs.to_string())
    }

    /// Offers the platform's device key (Android Keystore / StrongBox, iOS Secure Enclave) for this session:
    /// the app does it once, right after opening the store, and every path that signs with the device key
    /// asks for it here ([`Store::platform_signer`]) — a wallet, the background licence issuance, the
    /// old phone's transfer signature, an agent's door consent (ADR 0035). Holding it decides nothing:
    /// `zhangban_wallet::device::identity` decides once per store whether the device key is this one (a new
    /// store) or the store's own software key (an older store keeps it), and refuses a replaced key. A later
    /// offer replaces the earlier one. The signer stays across [`Store::lock`]: the hardware guards its key
    /// itself, and every signature needs records that a locked store does not give.
    pub fn offer_device_signer(&self, signer: Arc<dyn crate::signer::DeviceSigner>) {
        *self.platform_signer.write().unwrap_or_else(|p| p.into_inner()) = Some(signer);
    }

    /// The platform signer offered for this session, if any ([`Store::offer_device_signer`]).
    pub fn platform_signer(&self) -> Option<Arc<dyn crate::signer::DeviceSigner>> {
        self.platform_signer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets every key in memory; records cannot be read until [`Store::unlock`]. Changes made since the
    /// last bind are bound to the rollback anchor first ([`Store::bind_changes`]; best effort: a vault that
    /// fails now leaves them to the next lock or anchored change).
    pub fn lock(&self) {
        let mut g = self.guard();
        let _ = self.bind_in(&mut g);
        g.unlocked = None;
    }

    /// Binds the record head as it is now to the rollback anchor (ADR 0036): the head is sealed under the next
    /// generation and the vault's payload names it, so files put back from before this call — drafts, cases,
    /// the outbox, settings, with their head — are `RolledBack`. Ordinary changes do not do this each (a
    /// vault key made and one destroyed per change); [`Store::lock`] does it, and the sync runner after a run
    /// that changed the outbox. Nothing to do when nothing changed since the last bind.
    pub fn bind_changes(&self) -> Result<()> {
        let mut g = self.guard();
        self.bind_in(&mut g)
    }

    fn bind_in(&self, g: &mut Inner) -> Result<()> {
        let Inner { conn, unlocked } = g;
        let Some(u) = unlocked.as_mut() else { return Ok(()) };
        if u.unbound_since.is_none() {
            return Ok(());
        }
        let tx = conn.transaction()?;
        let Some(head) = heads::load(&tx, &u.keys.data)? else { return Ok(()) };
        let generation = heads::rebind(&tx, &u.keys.data, &head)?;
        anchor::advance(&tx, self.vault.as_ref(), &self.store_id, anchor::Heads::Sealed(head.bind(), generation))?;
        tx.commit()?;
        u.unbound_since = None;
        u.generation = generation;
        let _ = anchor::destroy_old(conn, self.vault.as_ref(), &self.store_id);
        Ok(())
    }

    /// Unlocks with the vault (and `pin` when the store has one). Wrong PINs are counted on disk; after
    /// five the error is `Locked { retry_after_secs }`.
    pub fn unlock(&self, pin: Option<&str>) -> Result<()> {
        let mut g = self.guard();
        let k = keys::unlock(&g.conn, self.vault.as_ref(), &self.store_id, pin, self.clock.as_ref())?;
        g.unlocked = Some(Unlocked::load(&mut g.conn, self.vault.as_ref(), &self.store_id, &self.dir, k)?);
        Ok(())
    }

    /// Seconds before another PIN attempt is allowed.
    pub fn lockout_remaining(&self) -> Result<u64> {
        keys::lockout_remaining(&self.guard().conn, self.clock.as_ref())
    }

    /// Sets, changes or removes (`new_pin = None`) the PIN. The old PIN is required if there is one.
    pub fn change_pin(&self, old_pin: Option<&str>, new_pin: Option<&str>) -> Result<()> {
        let mut g = self.guard();
        if g.unlocked.is_none() {
            return Err(Error::Locked { retry_after_secs: 0 });
        }
        // The old PIN is checked, and a wrong one counted, outside the transaction below: a failed
        // check inside it would roll its own count back (guesses through change_pin were free).
        keys::unlock(&g.conn, self.vault.as_ref(), &self.store_id, old_pin, self.clock.as_ref())?;
        let tx = g.conn.transaction()?;
        keys::change_pin(
            &tx,
            self.vault.as_ref(),
            &self.store_id,
            old_pin,
            new_pin,
            &PinPolicy::default(),
            self.clock.as_ref(),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` in one SQLite transaction: all its writes land, or none.
    pub fn transaction<R>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<R>) -> Result<R> {
        let mut g = self.guard();
        let (r, anchored, due) = {
            let Inner { conn, unlocked } = &mut *g;
            let unlocked = unlocked.as_mut().ok_or(Error::Locked { retry_after_secs: 0 })?;
            unlocked.follow(conn)?;
            let tx = conn.transaction()?;
            let mut txn = Txn {
                tx,
                u: unlocked,
                clock: self.clock.as_ref(),
                anchor: false,
                heads: heads::Pending::default(),
                undo: Vec::new(),
            };
            let done = f(&mut txn);
            let Txn { tx, anchor: asked, heads, u, undo, .. } = txn;
            // The rows' versions follow the commit: a transaction that fails puts back those it changed.
            let committed = done.and_then(|r| {
                heads.save(&tx, &u.keys.data)?;
                // A change of the head's anchored part moves the epoch too: the anchor binds that part
                // (`anchor.rs`), so an older head put back with all its rows is refused.
                let anchored = asked || heads.moves_epoch();
                if anchored {
                    anchor::advance(&tx, self.vault.as_ref(), &self.store_id, bound_head(&tx, &u.keys, &heads)?)?;
                }
                let generation = heads::generation(&tx)?;
                tx.commit()?;
                Ok((r, anchored, generation))
            });
            let (r, anchored, generation) = match committed {
                Ok(v) => v,
                Err(e) => {
                    u.undo_versions(undo);
                    return Err(e);
                }
            };
            // Bound now (anchored), or left for the next bind: `Store::lock`, closing, the app leaving the
            // screen, or the first commit that finds the oldest unbound change `BIND_AFTER_SECS` old (ADR 0038).
            let mut due = false;
            if anchored {
                u.unbound_since = None;
                u.generation = generation;
            } else if heads.changed() {
                let now = bind_clock(self.clock.as_ref());
                due = bind_due(*u.unbound_since.get_or_insert(now), now);
            }
            (r, anchored, due)
        };
        if due {
            // Best effort, after the commit: a vault that fails now (busy, or waiting for the person) neither
            // fails nor undoes this write; the changes stay unbound and the next commit tries again.
            let _ = self.bind_in(&mut g);
        }
        if anchored {
            // The result is released only once the epoch of before is gone (the crash window, ADR 0033): if
            // the vault cannot destroy it now, the change stays committed and the caller gets `Io` instead of
            // its result; the next change or open destroys it.
            anchor::destroy_old_before_release(&g.conn, self.vault.as_ref(), &self.store_id)?;
        }
        Ok(r)
    }

    /// Reads through the same machinery as a transaction, without writing.
    fn read<R>(&self, f: impl FnOnce(&Connection, &mut Unlocked) -> Result<R>) -> Result<R> {
        let mut g = self.guard();
        let Inner { conn, unlocked } = &mut *g;
        let unlocked = unlocked.as_mut().ok_or(Error::Locked { retry_after_secs: 0 })?;
        unlocked.follow(conn)?;
        f(conn, unlocked)
    }

    // ---- subjects -------------------------------------------------------------------------------

    /// Creates a subject with its own random key; returns its id.
    pub fn create_subject(&self, kind: SubjectKind, label: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.create_subject_with_id(&id, kind, label)?;
        Ok(id)
    }

    /// `Validation{field: "label"}` beyond [`MAX_LABEL_CHARS`] (a label is read with every list of subjects).
    pub fn create_subject_with_id(&self, id: &str, kind: SubjectKind, label: &str) -> Result<()> {
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(Error::validation(
                "label",
                format!("名称过长（最多 {MAX_LABEL_CHARS} 个字）"),
                format!("the label is too long ({MAX_LABEL_CHARS} characters at most)"),
            ));
        }
        self.transaction(|t| t.create_subject(id, kind, label))
    }

    pub fn subjects(&self) -> Result<Vec<Subject>> {
        self.read(|conn, u| {
            let mut st = conn.prepare_cached(
                "SELECT id, kind, label, created_at, wrapped_key IS NULL, kind_sealed FROM subjects
                 ORDER BY created_at, id",
            )?;
            type Row = (String, String, Vec<u8>, i64, bool, Option<Vec<u8>>);
            let rows: Vec<Row> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                .collect::<rusqlite::Result<_>>()?;
            drop(st);
            let mut out = Vec::new();
            for (id, kind, label, created_at, shredded, kind_sealed) in rows {
                // An erased subject's label went with its key.
                let label = if shredded {
                    String::new()
                } else {
                    let key = subject_key(conn, u, &id)?;
                    crypto::open(&key, &crypto::aad("subjects", &id, "label"), &label)
                        .and_then(|v| String::from_utf8(v.to_vec()).ok())
                        .ok_or_else(|| Error::corrupted("subjects", &id))?
                };
                let kind = metadata::open_kind(&u.keys.data, &id, &kind, kind_sealed.as_deref())?;
                out.push(Subject { id, kind, label, created_at, shredded });
            }
            Ok(out)
        })
    }

    /// What kind of subject `id` is (`NotFound` when there is none).
    pub fn subject_kind(&self, id: &str) -> Result<SubjectKind> {
        self.read(|conn, u| {
            metadata::kind_of(conn, &u.keys.data, id)?.ok_or_else(|| Error::not_found(format!("subject {id}")))
        })
    }

    /// Crypto-shredding: deletes the subject's key, label, records and attachments, and moves every other
    /// subject key to a new ring, destroying the old ring key in the vault. Anything left of the subject
    /// anywhere — a free page, the WAL, a copy of the files taken before — can no longer be decrypted with
    /// any key that still exists. Erasing a subject erased before finishes a destruction that failed
    /// (the vault unavailable: `Io`, and the erasure is otherwise done).
    pub fn shred_subject(&self, id: &str) -> Result<()> {
        if id == SELF_SUBJECT {
            return Err(Error::validation("subject", "不能清除本人数据", "the owner subject cannot be erased"));
        }
        let mut g = self.guard();
        let Inner { conn, unlocked } = &mut *g;
        let u = unlocked.as_mut().ok_or(Error::Locked { retry_after_secs: 0 })?;
        u.follow(conn)?;
        let erased: Option<bool> =
            conn.query_row("SELECT wrapped_key IS NULL FROM subjects WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        let files = match erased {
            None => return Err(Error::not_found(format!("subject {id}"))),
            Some(true) => Vec::new(),
            Some(false) => {
                let tx = conn.transaction()?;
                let old = u.ring.as_ref().ok_or_else(|| Error::Internal("store without a subject ring".into()))?;
                let new = keys::new_ring(&tx, self.vault.as_ref(), &self.store_id, &u.keys, old.generation + 1)?;
                let others: Vec<(String, Vec<u8>)> = {
                    let mut st =
                        tx.prepare("SELECT id, wrapped_key FROM subjects WHERE wrapped_key IS NOT NULL AND id != ?1")?;
                    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
                    rows
                };
                for (other, wrapped) in others {
                    // A wrapped key that no longer opens (damaged) is left as it is: it never opens again.
                    if let Some(raw) = crypto::open(&old.wrap, &ring_aad(&other), &wrapped) {
                        let rewrapped = crypto::seal(&new.wrap, &ring_aad(&other), &raw)?;
                        tx.execute("UPDATE subjects SET wrapped_key = ?2 WHERE id = ?1", params![other, rewrapped])?;
                    }
                }
                tx.execute(
                    "UPDATE subjects SET wrapped_key = NULL, label = x'', shredded_at = ?2 WHERE id = ?1",
                    params![id, self.clock.now_secs()],
                )?;
                let mut head = heads::Pending::default();
                head.remove_subject(&tx, &u.keys.data, &u.keys.head, id)?;
                let gone: Vec<(String, String)> = {
                    let mut st = tx.prepare("SELECT collection, id FROM records WHERE subject = ?1")?;
                    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
                    rows
                };
                tx.execute("DELETE FROM records WHERE subject = ?1", [id])?;
                head.save(&tx, &u.keys.data)?;
                if head.moves_epoch() {
                    anchor::advance(&tx, self.vault.as_ref(), &self.store_id, bound_head(&tx, &u.keys, &head)?)?;
                }
                let files: Vec<String> = {
                    let mut st = tx.prepare("SELECT id FROM attachments WHERE subject = ?1")?;
                    let rows = st.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                    rows
                };
                tx.execute("DELETE FROM attachments WHERE subject = ?1", [id])?;
                tx.commit()?;
                // The erasure's head: bound with it (an anchored part changed) or at the next bind (ADR 0036).
                if head.moves_epoch() {
                    u.unbound_since = None;
                    u.generation = heads::generation(conn)?;
                } else {
                    u.unbound_since.get_or_insert(bind_clock(self.clock.as_ref()));
                }
                u.ring = Some(new);
                u.subject_keys.remove(id);
                if let Some(v) = u.versions.as_mut() {
                    for (c, i) in gone {
                        Unlocked::put_version(v, &c, &i, None);
                    }
                }
                files
            }
        };
        // The WAL still holds the pages of before: copied into the file (where secure_delete zeroes what
        // was freed) and emptied. Then the old ring key goes.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = anchor::destroy_old(conn, self.vault.as_ref(), &self.store_id);
        let destroyed = keys::destroy_old_rings(conn, self.vault.as_ref(), &self.store_id);
        drop(g);
        for f in files {
            let _ = fs::remove_file(attachments::file_path(&self.dir, &f));
        }
        destroyed
    }

    // ---- records --------------------------------------------------------------------------------

    pub fn put(&self, collection: &str, id: &str, subject: &str, body: &[u8]) -> Result<()> {
        self.transaction(|t| t.put(collection, id, subject, body, PutOptions::default()))
    }

    pub fn put_with(&self, collection: &str, id: &str, subject: &str, body: &[u8], opts: PutOptions<'_>) -> Result<()> {
        self.transaction(|t| t.put(collection, id, subject, body, opts))
    }

    pub fn put_json<T: Serialize>(&self, collection: &str, id: &str, subject: &str, value: &T) -> Result<()> {
        let body = Zeroizing::new(serde_json::to_vec(value)?);
        self.put(collection, id, subject, &body)
    }

    pub fn get(&self, collection: &str, id: &str) -> Result<Record> {
        self.read(|conn, u| get_record(conn, u, collection, id))
    }

    pub fn get_opt(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        match self.get(collection, id) {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn get_json<T: DeserializeOwned>(&self, collection: &str, id: &str) -> Result<T> {
        self.get(collection, id)?.json()
    }

    /// All records of a collection (optionally of one subject), oldest first. Fails on the first
    /// damaged record; use [`Store::scan`] to read around damage.
    pub fn list(&self, collection: &str, subject: Option<&str>) -> Result<Vec<Record>> {
        self.scan(collection, subject, None)?.into_iter().collect()
    }

    /// Records with a given tag (e.g. outbox entries that are `"pending"`), oldest first.
    pub fn list_tagged(&self, collection: &str, tag: &str) -> Result<Vec<Record>> {
        self.scan(collection, None, Some(tag))?.into_iter().collect()
    }

    /// Like `list`, but a damaged record yields its own `Err(Corrupted)` and the rest still come back.
    pub fn scan(&self, collection: &str, subject: Option<&str>, tag: Option<&str>) -> Result<Vec<Result<Record>>> {
        self.read(|conn, u| scan_records(conn, u, collection, subject, tag))
    }

    /// The write generation of `collection`: a number that grows with every insert, update or delete of one
    /// of its records — through this store, another connection or another process (triggers in the file
    /// keep it, migration 11). While it is equal, the collection's records are as they were: a cache of
    /// data derived from them (the reminder engine's parsed cases and findings) need not read them again.
    /// Read it *before* reading the records, so a write in between makes the cache older, never newer.
    /// 0 for a collection never written.
    pub fn generation(&self, collection: &str) -> Result<i64> {
        self.read(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT n FROM record_generations WHERE collection = ?1")?
                .query_row([collection], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
    }

    /// The records of `collection` whose plaintext columns pass `keep(subject, tag, updated_at)`, oldest
    /// first, in one pass over the collection: only those are decrypted (a screen that needs a few hundred
    /// of ten thousand records — the reminder engine's open and recently completed cases). Every row is
    /// still read and counted against the kept count, so a damaged table is `Corrupted`, never a short
    /// answer; what the predicate selects rests on the plaintext columns (there is no index to check an
    /// arbitrary predicate against).
    pub fn scan_matching(
        &self,
        collection: &str,
        keep: &dyn Fn(&str, Option<&str>, i64) -> bool,
    ) -> Result<Vec<Result<Record>>> {
        self.read(|conn, u| {
            let mut st = conn.prepare_cached(
                "SELECT seq, id, subject, tag, body, updated_at, lookup FROM records WHERE collection = ?1 ORDER BY seq",
            )?;
            let mut rows: Vec<RawRow> = Vec::new();
            let mut seen = 0i64;
            let mut q = st.query(params![collection])?;
            while let Some(r) = q.next().map_err(|_| Error::corrupted(format!("records/{collection}"), "*"))? {
                seen += 1;
                let (subject, tag, at): (String, Option<String>, i64) = (r.get(2)?, r.get(3)?, r.get(5)?);
                if keep(&subject, tag.as_deref(), at) {
                    rows.push((r.get(0)?, r.get(1)?, subject, tag, r.get(6)?, r.get(4)?, at));
                }
            }
            drop(q);
            drop(st);
            let kept = kept_count(conn, collection)?;
            if seen != kept {
                return Err(Error::corrupted(
                    format!("records/{collection}"),
                    format!("{seen} of {kept} records reachable"),
                ));
            }
            Ok(rows.into_iter().map(|row| decode_row(conn, u, collection, row)).collect())
        })
    }

    /// Incremental reading for a cache of what was decoded from records: like [`Store::scan_matching`], but
    /// a kept record whose version the caller already has (`known(id, version)`) is not decrypted. Every
    /// kept record comes back as `(id, version, record)`, the record `None` when known. A record's version
    /// is the start of its sealed body (format byte and random nonce): it changes on every write, and
    /// reveals nothing. Every row is read and counted against the kept count, as `scan_matching` does.
    pub fn scan_changed(
        &self,
        collection: &str,
        keep: &dyn Fn(&str, Option<&str>, i64) -> bool,
        known: &dyn Fn(&str, &[u8]) -> bool,
    ) -> Result<Vec<Versioned>> {
        self.read(|conn, u| {
            let mut st = conn.prepare_cached(
                "SELECT seq, id, subject, tag, body, updated_at, lookup FROM records WHERE collection = ?1 ORDER BY seq",
            )?;
            let mut rows: Vec<(String, Vec<u8>, Option<RawRow>)> = Vec::new();
            let mut seen = 0i64;
            let mut q = st.query(params![collection])?;
            while let Some(r) = q.next().map_err(|_| Error::corrupted(format!("records/{collection}"), "*"))? {
                seen += 1;
                let (subject, tag, at): (String, Option<String>, i64) = (r.get(2)?, r.get(3)?, r.get(5)?);
                if !keep(&subject, tag.as_deref(), at) {
                    continue;
                }
                let id: String = r.get(1)?;
                let (version, raw) = versioned_row(r, collection, &id, subject, tag, at, known)?;
                rows.push((id, version, raw));
            }
            drop(q);
            drop(st);
            let kept = kept_count(conn, collection)?;
            if seen != kept {
                return Err(Error::corrupted(
                    format!("records/{collection}"),
                    format!("{seen} of {kept} records reachable"),
                ));
            }
            Ok(rows
                .into_iter()
                .map(|(id, version, raw)| (id, version, raw.map(|row| decode_row(conn, u, collection, row))))
                .collect())
        })
    }

    /// Incremental reading for a cache that was filled at generation `since` ([`Store::generation`], read
    /// before the rows): the records of `collection` written since, from the change log the write triggers
    /// keep (migration 12) — a few rows, not the whole collection. Each comes back as
    /// [`Written::Kept`] (passes `keep`; decrypted unless `known(id, version)`, as [`Store::scan_changed`]
    /// does) or [`Written::Dropped`] (no longer passes `keep`: the cache forgets it). `None` when the cache
    /// must read the whole collection again: a record was deleted since (a delete leaves no trace of its
    /// id in the log), or more than `max` records were written. Unlike a full scan this does not count the
    /// table's rows (a damaged table is found by the next full scan).
    pub fn scan_written_since(
        &self,
        collection: &str,
        since: i64,
        max: usize,
        keep: &dyn Fn(&str, Option<&str>, i64) -> bool,
        known: &dyn Fn(&str, &[u8]) -> bool,
    ) -> Result<Option<Vec<Written>>> {
        self.read(|conn, u| {
            let deleted: i64 = conn
                .prepare_cached("SELECT deleted FROM record_generations WHERE collection = ?1")?
                .query_row([collection], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if deleted > since {
                return Ok(None);
            }
            let mut st = conn.prepare_cached(
                "SELECT r.seq, r.id, r.subject, r.tag, r.body, r.updated_at, r.lookup FROM record_changes c
                 JOIN records r ON r.collection = c.collection AND r.id = c.id
                 WHERE c.collection = ?1 AND c.gen > ?2 ORDER BY r.seq LIMIT ?3",
            )?;
            let limit = i64::try_from(max).unwrap_or(i64::MAX - 1).saturating_add(1);
            let mut rows: Vec<(String, Option<Vec<u8>>, Option<RawRow>)> = Vec::new();
            let mut q = st.query(params![collection, since, limit])?;
            while let Some(r) = q.next().map_err(|_| Error::corrupted(format!("records/{collection}"), "*"))? {
                if rows.len() >= max {
                    return Ok(None);
                }
                let (subject, tag, at): (String, Option<String>, i64) = (r.get(2)?, r.get(3)?, r.get(5)?);
                let id: String = r.get(1)?;
                if !keep(&subject, tag.as_deref(), at) {
                    rows.push((id, None, None));
                    continue;
                }
                let (version, raw) = versioned_row(r, collection, &id, subject, tag, at, known)?;
                rows.push((id, Some(version), raw));
            }
            drop(q);
            drop(st);
            Ok(Some(
                rows.into_iter()
                    .map(|(id, version, raw)| match version {
                        None => Written::Dropped(id),
                        Some(v) => Written::Kept((id, v, raw.map(|row| decode_row(conn, u, collection, row)))),
                    })
                    .collect(),
            ))
        })
    }

    /// How many records of `collection` each (subject, tag) holds, from the counts the triggers of
    /// migration 14 keep in the write's own transaction (no row of the collection is read, no body
    /// decrypted): for summaries such as an agent's home over thousands of cases. Their sum must equal the
    /// collection's kept count (migration 10) and each must name a subject of the store: a damaged count
    /// is `Corrupted`, never a short summary. (A tag is plain text, as it is in `records`: a damaged one
    /// reads as another tag, as it did when these counts were taken from the rows.)
    pub fn tag_counts(&self, collection: &str) -> Result<Vec<(String, Option<String>, i64)>> {
        self.read(|conn, _| {
            let damaged = |what: &str| Error::corrupted(format!("record_subject_counts/{collection}"), what);
            let mut st =
                conn.prepare_cached("SELECT subject, tag, n FROM record_subject_counts WHERE collection = ?1")?;
            let rows: Vec<(String, String, i64)> = st
                .query_map([collection], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|_| damaged("*"))?;
            drop(st);
            // Every count names a subject of this store (a damaged name would move records to nobody).
            let subjects: std::collections::HashSet<String> = conn
                .prepare_cached("SELECT id FROM subjects")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|_| damaged("subjects"))?;
            let mut out = Vec::with_capacity(rows.len());
            let mut sum = 0i64;
            for (subject, tag, n) in rows {
                if !subjects.contains(&subject) {
                    return Err(damaged(&subject));
                }
                let tag = match tag.as_str() {
                    "" => None,
                    t => Some(t.strip_prefix('=').ok_or_else(|| damaged(&subject))?.to_string()),
                };
                if n <= 0 {
                    return Err(damaged(&subject));
                }
                sum += n;
                out.push((subject, tag, n));
            }
            if sum != kept_count(conn, collection)? {
                return Err(damaged("sum"));
            }
            Ok(out)
        })
    }

    /// Records whose lookup identifier equals `value` (compared as HMACs).
    pub fn find_by_lookup(&self, collection: &str, value: &str) -> Result<Vec<Record>> {
        self.read(|conn, u| {
            let h = lookup_hash(&u.keys.lookup, collection, value);
            let mut st = conn
                .prepare_cached("SELECT id, lookup FROM records WHERE collection = ?1 AND lookup = ?2 ORDER BY seq")?;
            let rows: Vec<(String, Option<Vec<u8>>)> = st
                .query_map(params![collection, h], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            drop(st);
            if rows.is_empty() {
                // None through the lookup index: make sure the table agrees (see `check_miss`).
                let in_table: rusqlite::Result<i64> = conn
                    .prepare_cached("SELECT count(*) FROM records NOT INDEXED WHERE collection = ?1 AND lookup = ?2")
                    .and_then(|mut st| st.query_row(params![collection, h], |r| r.get(0)));
                match in_table {
                    Ok(0) => {}
                    _ => return Err(Error::corrupted(format!("records/{collection}"), "lookup index")),
                }
            }
            rows.iter()
                .map(|(id, found)| {
                    // A damaged index may point at another row (see `get_record`).
                    if found.as_deref() != Some(h.as_slice()) {
                        return Err(Error::corrupted(format!("records/{collection}"), id));
                    }
                    get_record(conn, u, collection, id)
                })
                .collect()
        })
    }

    pub fn delete(&self, collection: &str, id: &str) -> Result<bool> {
        self.transaction(|t| t.delete(collection, id))
    }

    /// The keyed hash used for equality lookups of a sensitive identifier in `collection`.
    pub fn lookup_hash(&self, collection: &str, value: &str) -> Result<Vec<u8>> {
        self.read(|_, u| Ok(lookup_hash(&u.keys.lookup, collection, value)))
    }

    /// The record id under which `collection` keeps the record of a sensitive identifier `value` (a licence
    /// id): a keyed hash, so the files never name the identifier (finding 11; `metadata.rs`). The same
    /// value gives the same id in this store and in one restored from its backup.
    pub fn keyed_id(&self, collection: &str, value: &str) -> Result<String> {
        self.read(|_, u| Ok(metadata::keyed_id(&u.keys.lookup, collection, value)))
    }

    // ---- plaintext settings (non-sensitive: cursors, versions) ----------------------------------

    /// A non-sensitive value kept in plaintext (e.g. a sync cursor). Readable while locked, as the files say
    /// it; while unlocked it is checked against its tag (ADR 0036): a value edited in the file is
    /// `Corrupted { meta, setting.<key> }` (setting it again mends it), and the unlock finds one put back or
    /// deleted (`RolledBack`).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        let g = self.guard();
        let name = format!("setting.{key}");
        let Some(value) = keys::meta_get(&g.conn, &name)? else { return Ok(None) };
        if let Some(u) = g.unlocked.as_ref() {
            let tag = keys::meta_get(&g.conn, &format!("setting_tag.{key}"))?;
            if tag.as_deref() != Some(&heads::setting_tag(&u.keys.head, key, &value)[..]) {
                return Err(Error::corrupted("meta", name));
            }
        }
        Ok(String::from_utf8(value).ok())
    }

    /// [`Store::setting`] with a value that is not the one the store wrote (edited in the file, or damaged:
    /// `Corrupted`) read as not set: for the settings whose default is the safe value (the lock delay, the
    /// catalog version, the reminders' settings and last sync, the agent's retention).
    pub fn setting_or_unset(&self, key: &str) -> Result<Option<String>> {
        match self.setting(key) {
            Err(Error::Corrupted { .. }) => Ok(None),
            other => other,
        }
    }

    /// Sets a plaintext setting (with its tag, under the record head: the store must be unlocked).
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.transaction(|t| t.set_setting(key, value))
    }

    /// Removes a plaintext setting; true when it was there.
    pub fn remove_setting(&self, key: &str) -> Result<bool> {
        self.transaction(|t| t.remove_setting(key))
    }

    // ---- attachments ----------------------------------------------------------------------------

    /// Encrypts `reader` into a new attachment file of `subject` (streamed in chunks, written atomically).
    /// `Validation{field: "name"}` beyond [`MAX_ATTACHMENT_NAME_CHARS`] (the name goes to the platform with it).
    pub fn write_attachment(
        &self,
        subject: &str,
        name: &str,
        reader: &mut dyn std::io::Read,
    ) -> Result<AttachmentInfo> {
        if name.chars().count() > MAX_ATTACHMENT_NAME_CHARS {
            return Err(Error::validation(
                "name",
                format!("文件名过长（最多 {MAX_ATTACHMENT_NAME_CHARS} 个字）"),
                format!("the file name is too long ({MAX_ATTACHMENT_NAME_CHARS} characters at most)"),
            ));
        }
        let key = self.read(|conn, u| subject_key(conn, u, subject))?;
        let info = attachments::write(&self.dir, &key, subject, name, reader)?;
        let sealed_name = crypto::seal(&key, &crypto::aad("attachments", &info.id, "name"), name.as_bytes())?;
        self.transaction(|t| {
            let now = t.now();
            metadata::insert_attachment(&t.tx, &key, &info, &sealed_name, now)
        })?;
        Ok(info)
    }

    pub fn attachment_info(&self, id: &str) -> Result<AttachmentInfo> {
        self.read(|conn, u| {
            type Row = (String, Vec<u8>, i64, String, Option<Vec<u8>>);
            let row: Option<Row> = conn
                .prepare_cached("SELECT subject, name, size, sha256, sealed_meta FROM attachments WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?;
            let (subject, name, size, sha256, meta) =
                row.ok_or_else(|| Error::not_found(format!("attachment {id}")))?;
            let key = subject_key(conn, u, &subject)?;
            let name = crypto::open(&key, &crypto::aad("attachments", id, "name"), &name)
                .and_then(|v| String::from_utf8(v.to_vec()).ok())
                .ok_or_else(|| Error::corrupted("attachments", id))?;
            let (size, sha256) = metadata::open_attachment_meta(&key, id, meta.as_deref(), size, &sha256)?;
            Ok(AttachmentInfo { id: id.to_string(), subject, name, size, sha256 })
        })
    }

    /// Decrypts an attachment into `writer`, chunk by chunk. On `Err(Corrupted)` the bytes already
    /// written must be discarded (write to a temporary file, as the shells do).
    pub fn read_attachment(&self, id: &str, writer: &mut dyn std::io::Write) -> Result<u64> {
        let info = self.attachment_info(id)?;
        let key = self.read(|conn, u| subject_key(conn, u, &info.subject))?;
        attachments::read(&self.dir, &key, id, info.size, writer)
    }

    pub fn read_attachment_to_vec(&self, id: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_attachment(id, &mut out)?;
        Ok(out)
    }

    /// Encrypts the file at `path` (streamed, not loaded whole) into a new attachment of `subject`.
    /// `Validation{field: "path"}` when the file cannot be read.
    pub fn write_attachment_from_path(&self, subject: &str, name: &str, path: &Path) -> Result<AttachmentInfo> {
        let mut f = fs::File::open(path).map_err(|e| {
            Error::validation("path", format!("无法读取文件：{e}"), format!("cannot read the file: {e}"))
        })?;
        self.write_attachment(subject, name, &mut f)
    }

    /// Decrypts an attachment into the file at `path` (streamed). The file appears only when every chunk
    /// checked out: it is written to a temporary beside it, synced, then renamed. Returns the size.
    pub fn read_attachment_to_path(&self, id: &str, path: &Path) -> Result<u64> {
        let tmp = path.with_extension("zbtmp");
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            let n = self.read_attachment(id, &mut f)?;
            std::io::Write::flush(&mut f)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, path)?;
            Ok(n)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Decrypts bytes `offset .. offset + len` of an attachment (fewer at its end; empty at it), opening
    /// only the chunks that hold them: for resumable uploads of large files. `len` is at most
    /// [`MAX_RANGE`]; an `offset` past the end is a validation error.
    pub fn read_attachment_range(&self, id: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let info = self.attachment_info(id)?;
        let key = self.read(|conn, u| subject_key(conn, u, &info.subject))?;
        attachments::read_range(&self.dir, &key, id, info.size, offset, len)
    }

    pub fn delete_attachment(&self, id: &str) -> Result<()> {
        // Only an id of the store's own form names a file: `../x` must not reach outside the folder.
        if !attachments::is_attachment_id(id) {
            return Err(Error::not_found("attachment"));
        }
        self.transaction(|t| {
            t.tx.execute("DELETE FROM attachments WHERE id = ?1", [id])?;
            Ok(())
        })?;
        let _ = fs::remove_file(attachments::file_path(&self.dir, id));
        Ok(())
    }

    // ---- audit ----------------------------------------------------------------------------------

    pub fn audit(&self, entry: &crate::audit::NewEntry<'_>) -> Result<i64> {
        self.transaction(|t| t.audit(entry))
    }

    /// The audit log (of one target); a detail about an erased subject reads as `null`.
    pub fn audit_entries(&self, target: Option<&str>) -> Result<Vec<crate::audit::AuditEntry>> {
        self.read(|conn, u| {
            let Unlocked { keys, subject_keys, ring, .. } = u;
            let mut key_of = |subject: &str| subject_key_in(conn, subject_keys, ring.as_ref(), &keys.data, subject);
            crate::audit::list(
                conn,
                &crate::audit::AuditKeys { data: &keys.data, chain: &keys.audit },
                &mut key_of,
                target,
            )
        })
    }

    /// The audit entries of `action` after sequence number `after`, oldest first, at most `limit` (for a
    /// reader that keeps its own cursor); a detail about an erased subject reads as `null`.
    pub fn audit_entries_after(&self, action: &str, after: i64, limit: usize) -> Result<Vec<crate::audit::AuditEntry>> {
        self.read(|conn, u| {
            let Unlocked { keys, subject_keys, ring, .. } = u;
            let mut key_of = |subject: &str| subject_key_in(conn, subject_keys, ring.as_ref(), &keys.data, subject);
            crate::audit::list_after(
                conn,
                &crate::audit::AuditKeys { data: &keys.data, chain: &keys.audit },
                &mut key_of,
                action,
                after,
                limit,
            )
        })
    }

    /// Walks the keyed audit chain and compares its end with the sealed head; reports the first broken
    /// link (or the first missing entry). Needs the store unlocked (the chain key comes from the data key).
    pub fn audit_verify(&self) -> Result<crate::audit::AuditVerification> {
        self.read(|conn, u| crate::audit::verify(conn, &u.audit_keys()))
    }

    // ---- maintenance ----------------------------------------------------------------------------

    /// `PRAGMA integrity_check`: Ok when SQLite finds the file sound.
    pub fn integrity_check(&self) -> Result<()> {
        let g = self.guard();
        let res: String = g.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if res == "ok" {
            Ok(())
        } else {
            Err(Error::corrupted("database", res))
        }
    }

    /// Runs `f` with the raw connection, for module tables that live outside `records`. Writes here are
    /// not encrypted by the store: use [`Txn::seal`] for sensitive columns.
    pub fn with_txn_raw<R>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R>) -> Result<R> {
        self.transaction(|t| f(&t.tx))
    }
}

/// One open transaction; see [`Store::transaction`].
pub struct Txn<'a> {
    tx: rusqlite::Transaction<'a>,
    u: &'a mut Unlocked,
    clock: &'a dyn Clock,
    /// Set by [`Txn::anchor`]: the commit moves the store to the next rollback epoch.
    anchor: bool,
    /// The head of the security-relevant collections, kept up to date by the writes (`heads.rs`).
    heads: heads::Pending,
    /// The rows' versions this transaction changed, as they were (put back if it fails).
    undo: Vec<(String, String, Option<[u8; 32]>)>,
}

impl Txn<'_> {
    /// Now, in seconds since the Unix epoch, from the store's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Today's date in Asia/Shanghai, from the store's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today()
    }

    /// The store's clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock
    }

    pub fn create_subject(&mut self, id: &str, kind: SubjectKind, label: &str) -> Result<()> {
        let ring = self.u.ring.as_ref().ok_or_else(|| Error::Internal("store without a subject ring".into()))?;
        let key = crypto::random_key()?;
        let wrapped = crypto::seal(&ring.wrap, &ring_aad(id), key.as_slice())?;
        let label =
            crypto::seal(&*crypto::aead_key(key.as_slice())?, &crypto::aad("subjects", id, "label"), label.as_bytes())?;
        // The kind is sealed (a principal or a family member is personal metadata: finding 11).
        let kind = metadata::seal_kind(&self.u.keys.data, id, kind)?;
        self.tx.execute(
            "INSERT INTO subjects (id, kind, label, wrapped_key, created_at, kind_sealed)
             VALUES (?1, '', ?2, ?3, ?4, ?5)",
            params![id, label, wrapped, self.clock.now_secs(), kind],
        )?;
        Ok(())
    }

    /// [`Store::keyed_id`] inside a transaction.
    pub fn keyed_id(&self, collection: &str, value: &str) -> String {
        metadata::keyed_id(&self.u.keys.lookup, collection, value)
    }

    pub fn put(&mut self, collection: &str, id: &str, subject: &str, body: &[u8], opts: PutOptions<'_>) -> Result<()> {
        if body.len() > MAX_RECORD_BYTES {
            return Err(Error::validation("record", "记录过大", "record too large"));
        }
        let lookup = opts.lookup.map(|v| lookup_hash(&self.u.keys.lookup, collection, v));
        let now = self.clock.now_secs();
        let (tag, lookup) = (opts.tag, lookup.as_deref());
        self.write_row(heads::RowCols { collection, id, subject, tag, lookup, body, updated_at: now })
    }

    /// Seals `body` with every column in its associated data (record format 2), writes the row, and keeps
    /// the record head: the old row's hash out, the new one in.
    pub(crate) fn write_row(&mut self, row: heads::RowCols<'_>) -> Result<()> {
        let heads::RowCols { collection, id, subject, tag, lookup, body, updated_at } = row;
        let key = subject_key(&self.tx, self.u, subject)?;
        let sealed = crypto::seal(&key, &record_aad(collection, id, subject, tag, lookup, updated_at)?, body)?;
        self.head_row(collection, id, false)?;
        let mut st = self.tx.prepare_cached(
            "INSERT INTO records (collection, id, subject, tag, lookup, body, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(collection, id) DO UPDATE SET subject = excluded.subject, tag = excluded.tag,
                 lookup = excluded.lookup, body = excluded.body, updated_at = excluded.updated_at",
        )?;
        st.execute(params![collection, id, subject, tag, lookup, sealed, updated_at])?;
        drop(st);
        let h = heads::hash_of(&self.u.keys.head, heads::RowCols { body: &sealed, ..row }, true);
        self.set_version(collection, id, Some(h));
        self.heads.toggle_hash(&self.tx, &self.u.keys.data, collection, &h, true)
    }

    /// Records the row's new version (or its deletion) for the per-read check, keeping the old one to undo.
    fn set_version(&mut self, collection: &str, id: &str, h: Option<[u8; 32]>) {
        if let Some(v) = self.u.versions.as_mut() {
            let old = v.get(collection).and_then(|c| c.get(id)).copied();
            self.undo.push((collection.to_string(), id.to_string(), old));
            Unlocked::put_version(v, collection, id, h);
        }
    }

    /// Takes the row out of the head of the covered collections (before a write) or puts it in (after).
    fn head_row(&mut self, collection: &str, id: &str, add: bool) -> Result<()> {
        self.heads.toggle_row(&self.tx, &self.u.keys.data, &self.u.keys.head, collection, id, add)
    }

    pub fn put_json<T: Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        subject: &str,
        value: &T,
        opts: PutOptions<'_>,
    ) -> Result<()> {
        let body = Zeroizing::new(serde_json::to_vec(value)?);
        self.put(collection, id, subject, &body, opts)
    }

    /// Changes only the plaintext tag of a record (and its `updated_at`, as every write does: an
    /// incremental backup finds changes by it).
    /// The tag is in the record's associated data (record format 2), so the body is sealed again.
    pub fn set_tag(&mut self, collection: &str, id: &str, tag: Option<&str>) -> Result<bool> {
        let now = self.clock.now_secs();
        let row: Option<RawRow> = self
            .tx
            .prepare_cached(
                "SELECT seq, id, subject, tag, lookup, body, updated_at FROM records WHERE collection = ?1 AND id = ?2",
            )?
            .query_row(params![collection, id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })
            .optional()?;
        let Some(row) = row else { return Ok(false) };
        let lookup = row.4.clone();
        let record = decode_row(&self.tx, self.u, collection, row)?;
        let (subject, lookup) = (record.subject.as_str(), lookup.as_deref());
        self.write_row(heads::RowCols { collection, id, subject, tag, lookup, body: &record.body, updated_at: now })?;
        Ok(true)
    }

    pub fn get(&mut self, collection: &str, id: &str) -> Result<Record> {
        get_record(&self.tx, self.u, collection, id)
    }

    pub fn get_opt(&mut self, collection: &str, id: &str) -> Result<Option<Record>> {
        match get_record(&self.tx, self.u, collection, id) {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn list(&mut self, collection: &str, subject: Option<&str>) -> Result<Vec<Record>> {
        scan_records(&self.tx, self.u, collection, subject, None)?.into_iter().collect()
    }

    pub fn list_tagged(&mut self, collection: &str, tag: &str) -> Result<Vec<Record>> {
        scan_records(&self.tx, self.u, collection, None, Some(tag))?.into_iter().collect()
    }

    pub fn delete(&mut self, collection: &str, id: &str) -> Result<bool> {
        self.head_row(collection, id, false)?;
        self.set_version(collection, id, None);
        Ok(self.tx.execute("DELETE FROM records WHERE collection = ?1 AND id = ?2", params![collection, id])? > 0)
    }

    pub fn audit(&mut self, entry: &crate::audit::NewEntry<'_>) -> Result<i64> {
        let at = self.clock.now_secs();
        self.audit_at(entry, at)
    }

    /// Appends an audit entry with the time given (a restored log is re-chained in this store, entry by
    /// entry, in the original order). Its detail is sealed under its subject's key while that subject has
    /// one (the owner's details under the data key), so that erasing the subject erases it.
    pub fn audit_at(&mut self, entry: &crate::audit::NewEntry<'_>, at: i64) -> Result<i64> {
        let key = if entry.subject == SELF_SUBJECT {
            None
        } else {
            match subject_key(&self.tx, self.u, entry.subject) {
                Ok(k) => Some(k),
                Err(Error::Shredded { .. } | Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        crate::audit::append(&self.tx, &self.u.audit_keys(), key.as_ref().map(|k| -> &LessSafeKey { k }), entry, at)
    }

    /// Seals a value for a module's own table, bound to (table, record, column), under the data key.
    pub fn seal(&self, table: &str, record: &str, column: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        crypto::seal(&self.u.keys.data, &crypto::aad(table, record, column), plaintext)
    }

    /// Opens what [`Txn::seal`] sealed; `Corrupted` names table and record when it does not open.
    pub fn open(&self, table: &str, record: &str, column: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        crypto::open(&self.u.keys.data, &crypto::aad(table, record, column), blob)
            .ok_or_else(|| Error::corrupted(table, record))
    }

    pub fn raw(&self) -> &rusqlite::Transaction<'_> {
        &self.tx
    }

    /// Marks this transaction as security-relevant (a used single-use grant, a seen nonce, a trust or
    /// status list): its commit moves the store to the next rollback epoch and the vault destroys the key
    /// of the one before (`anchor.rs`), so putting back a copy of the files from before it is refused
    /// (`RolledBack`). Costs a vault wrap and a vault destroy.
    pub fn anchor(&mut self) {
        self.anchor = true;
    }
}

/// Before a head that the rows do not make is called a rollback: the collections where the rows read are not
/// as many as the kept counts (migration 10's triggers, which an SQL delete keeps too) say — a damaged page
/// that hides rows, damage, never `RolledBack`. `covered_only`: the rows are those of the covered collections.
fn short_collections(conn: &Connection, rows: &[heads::Row], covered_only: bool) -> Result<Vec<String>> {
    let mut seen: HashMap<&str, i64> = HashMap::new();
    for r in rows {
        *seen.entry(r.0.as_str()).or_default() += 1;
    }
    let mut st = conn.prepare("SELECT collection, n FROM record_counts")?;
    let kept: Vec<(String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()
        .map_err(|_| Error::corrupted("record_counts", "*"))?;
    let kept: HashMap<String, i64> =
        kept.into_iter().filter(|(c, n)| *n != 0 && (!covered_only || heads::headed(c))).collect();
    let mut short: Vec<String> =
        kept.iter().filter(|(c, n)| seen.get(c.as_str()) != Some(*n)).map(|(c, _)| c.clone()).collect();
    short.extend(seen.keys().filter(|c| !kept.contains_key(**c)).map(|c| c.to_string()));
    Ok(short)
}

/// What a transaction's move of the rollback epoch says of the record head: the digest of its anchored part
/// as the transaction leaves it, and the next generation, under which the head is sealed again here (a bind:
/// `anchor.rs`, `heads.rs`; ADR 0036).
fn bound_head(tx: &Connection, keys: &keys::Keys, pending: &heads::Pending) -> Result<anchor::Heads> {
    let head = match pending.head() {
        Some(h) => Some(h.clone()),
        None => heads::load(tx, &keys.data)?,
    };
    let Some(head) = head else { return Ok(anchor::Heads::None) };
    let g = heads::rebind(tx, &keys.data, &head)?;
    Ok(anchor::Heads::Sealed(head.bind(), g))
}

/// The associated data of a record of format 2 (ADR 0033; docs/formats.md § store): every column the row
/// holds besides the sealed body, each length-prefixed — `"zhangban record v2"`, collection, id, subject,
/// tag and keyed lookup (each `0` when absent, `1` ‖ length ‖ bytes when present), `updated_at` (i64
/// big-endian). So a tag, lookup, time or subject changed in the file makes the record fail to open
/// (`Corrupted`) when it is read. Built in one allocation (it is on every read and write;
/// `record_aad_layout` below pins the bytes).
fn record_aad(
    collection: &str,
    id: &str,
    subject: &str,
    tag: Option<&str>,
    lookup: Option<&[u8]>,
    updated_at: i64,
) -> Result<Vec<u8>> {
    check_collection(collection)?;
    const LABEL: &[u8] = b"zhangban record v2";
    let optional = |b: Option<&[u8]>| b.map_or(1, |b| 5 + b.len());
    let mut a = Vec::with_capacity(
        16 + LABEL.len()
            + collection.len()
            + id.len()
            + subject.len()
            + optional(tag.map(str::as_bytes))
            + optional(lookup)
            + 8,
    );
    for part in [LABEL, collection.as_bytes(), id.as_bytes(), subject.as_bytes()] {
        a.extend_from_slice(&(part.len() as u32).to_be_bytes());
        a.extend_from_slice(part);
    }
    for part in [tag.map(str::as_bytes), lookup] {
        match part {
            None => a.push(0),
            Some(b) => {
                a.push(1);
                a.extend_from_slice(&(b.len() as u32).to_be_bytes());
                a.extend_from_slice(b);
            }
        }
    }
    a.extend_from_slice(&updated_at.to_be_bytes());
    Ok(a)
}

/// A collection name is not empty and has no '/' (refused at every seal and open; finding 14: the record
/// format 1 joined collection and id with '/').
fn check_collection(collection: &str) -> Result<()> {
    if collection.is_empty() || collection.contains('/') {
        return Err(Error::validation(
            "collection",
            "数据集合名称不能为空或含有“/”",
            "a collection name must not be empty or contain '/'",
        ));
    }
    Ok(())
}

/// The associated data of record format 1: `crypto::aad("records", "<collection>/<id>", "body") ||
/// subject` (read only by the upgrade to format 2 and by salvage of a store not upgraded). A collection
/// name never contains '/': then the first '/' ends it, and collection `a/b` with id `c` cannot take the
/// associated data of collection `a` with id `b/c` (finding 14).
fn record_aad_v1(collection: &str, id: &str, subject: &str) -> Result<Vec<u8>> {
    check_collection(collection)?;
    let record_len = collection.len() + 1 + id.len();
    let mut a = Vec::with_capacity(4 + 7 + 4 + record_len + 4 + 4 + subject.len());
    a.extend_from_slice(&7u32.to_be_bytes());
    a.extend_from_slice(b"records");
    a.extend_from_slice(&(record_len as u32).to_be_bytes());
    a.extend_from_slice(collection.as_bytes());
    a.push(b'/');
    a.extend_from_slice(id.as_bytes());
    a.extend_from_slice(&4u32.to_be_bytes());
    a.extend_from_slice(b"body");
    a.extend_from_slice(subject.as_bytes());
    Ok(a)
}

#[cfg(test)]
#[test]
fn record_aad_layout() {
    let mut expected = crypto::aad("records", "licence/r-1", "body");
    expected.extend_from_slice(b"self");
    assert_eq!(record_aad_v1("licence", "r-1", "self").unwrap(), expected);
    assert!(record_aad_v1("a/b", "c", "self").is_err());
    let mut v2 = Vec::new();
    for part in [&b"zhangban record v2"[..], b"licence", b"r-1", b"self"] {
        v2.extend_from_slice(&(part.len() as u32).to_be_bytes());
        v2.extend_from_slice(part);
    }
    v2.extend_from_slice(&[1, 0, 0, 0, 4]);
    v2.extend_from_slice(b"open");
    v2.push(0);
    v2.extend_from_slice(&1_700_000_000i64.to_be_bytes());
    assert_eq!(record_aad("licence", "r-1", "self", Some("open"), None, 1_700_000_000).unwrap(), v2);
    assert!(record_aad("a/b", "c", "self", None, None, 0).is_err());
    // Every column counts: another tag, lookup, time or subject is other associated data.
    let base = record_aad("c", "i", "s", Some("t"), Some(b"l"), 1).unwrap();
    for other in [
        record_aad("c", "i", "s", None, Some(b"l"), 1),
        record_aad("c", "i", "s", Some("t"), None, 1),
        record_aad("c", "i", "s", Some("t"), Some(b"l"), 2),
        record_aad("c", "i", "s2", Some("t"), Some(b"l"), 1),
        record_aad("c", "i", "s", Some(""), Some(b"l"), 1),
    ] {
        assert_ne!(other.unwrap(), base);
    }
}

/// Associated data of a subject key sealed under the ring.
fn ring_aad(subject: &str) -> Vec<u8> {
    crypto::aad("subjects", subject, "ring key")
}

fn lookup_hash(key: &hmac::Key, collection: &str, value: &str) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(&(collection.len() as u32).to_be_bytes());
    ctx.update(collection.as_bytes());
    ctx.update(value.as_bytes());
    ctx.sign().as_ref().to_vec()
}

pub(crate) use crate::crypto::SubjectKey;

fn subject_key(conn: &Connection, u: &mut Unlocked, subject: &str) -> Result<SubjectKey> {
    subject_key_in(conn, &mut u.subject_keys, u.ring.as_ref(), &u.keys.data, subject)
}

/// [`subject_key`] over the parts of [`Unlocked`] (so the data key can be borrowed beside it).
fn subject_key_in(
    conn: &Connection,
    cache: &mut HashMap<String, SubjectKey>,
    ring: Option<&keys::Ring>,
    data: &LessSafeKey,
    subject: &str,
) -> Result<SubjectKey> {
    if let Some(k) = cache.get(subject) {
        return Ok(k.clone());
    }
    let wrapped: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT wrapped_key FROM subjects WHERE id = ?1")?
        .query_row([subject], |r| r.get(0))
        .optional()?;
    let wrapped = match wrapped {
        None => return Err(Error::not_found(format!("subject {subject}"))),
        Some(None) => return Err(Error::Shredded { subject: subject.to_string() }),
        Some(Some(w)) => w,
    };
    let raw = match ring {
        Some(ring) => crypto::open(&ring.wrap, &ring_aad(subject), &wrapped),
        // Format 1 (salvage of a store not upgraded): under the data key.
        None => crypto::open(data, &crypto::aad("subjects", subject, "key"), &wrapped),
    }
    .ok_or_else(|| Error::corrupted("subjects", subject))?;
    let key = Arc::new(crypto::aead_key(&raw)?);
    cache.insert(subject.to_string(), key.clone());
    Ok(key)
}

/// `(seq, id, subject, tag, lookup, sealed body, updated_at)` of one row as read.
type RawRow = (i64, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);

/// A row of `SELECT seq, id, subject, tag, body, updated_at, lookup` as the scans for caches read it: the
/// body's version (its first bytes: format and nonce), and the raw row to decrypt unless `known(id, version)`.
fn versioned_row(
    r: &rusqlite::Row<'_>,
    collection: &str,
    id: &str,
    subject: String,
    tag: Option<String>,
    at: i64,
    known: &dyn Fn(&str, &[u8]) -> bool,
) -> Result<(Vec<u8>, Option<RawRow>)> {
    let body = r.get_ref(4)?.as_blob().map_err(|_| Error::corrupted(format!("records/{collection}"), id))?;
    let version = body[..body.len().min(1 + ring::aead::NONCE_LEN)].to_vec();
    let raw = if known(id, &version) {
        None
    } else {
        Some((r.get(0)?, id.to_string(), subject, tag, r.get(6)?, body.to_vec(), at))
    };
    Ok((version, raw))
}

/// One kept record of [`Store::scan_changed`]: its id, its version, and the record when the caller did not
/// know that version.
pub type Versioned = (String, Vec<u8>, Option<Result<Record>>);

/// One record written since a generation ([`Store::scan_written_since`]).
#[derive(Debug)]
pub enum Written {
    /// It passes the caller's filter: as [`Store::scan_changed`] gives it.
    Kept(Versioned),
    /// It no longer passes the filter (its id).
    Dropped(String),
}

/// SQLite's count of commits by other connections to this file, as this connection sees it.
fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?)
}

fn decode_row(conn: &Connection, u: &mut Unlocked, collection: &str, row: RawRow) -> Result<Record> {
    let (seq, id, subject, tag, lookup, body, updated_at) = row;
    // Every record's subject exists (a foreign key): a subject that is not there is a damaged row.
    let key = subject_key(conn, u, &subject).map_err(|e| match e {
        Error::NotFound { .. } | Error::Storage(_) => Error::corrupted(format!("records/{collection}"), &id),
        other => other,
    })?;
    let aad = if u.records_v2 {
        record_aad(collection, &id, &subject, tag.as_deref(), lookup.as_deref(), updated_at)?
    } else {
        record_aad_v1(collection, &id, &subject)?
    };
    let version = (u.records_v2 && u.versions.is_some()).then(|| {
        let (tag, lookup) = (tag.as_deref(), lookup.as_deref());
        let cols = heads::RowCols { collection, id: &id, subject: &subject, tag, lookup, body: &body, updated_at };
        heads::hash_of(&u.keys.head, cols, true)
    });
    let body =
        crypto::open_owned(&key, &aad, body).ok_or_else(|| Error::corrupted(format!("records/{collection}"), &id))?;
    if let Some(h) = version {
        u.check_version(collection, &id, &h)?;
    }
    Ok(Record { seq, collection: collection.to_string(), id, subject, tag, body, updated_at })
}

fn get_record(conn: &Connection, u: &mut Unlocked, collection: &str, id: &str) -> Result<Record> {
    let row: Option<RawRow> = conn
        .prepare_cached(
            "SELECT seq, id, subject, tag, lookup, body, updated_at FROM records WHERE collection = ?1 AND id = ?2",
        )?
        .query_row(params![collection, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .optional()
        .map_err(|e| match Error::from(e) {
            Error::Storage(_) | Error::Corrupted { .. } => Error::corrupted(format!("records/{collection}"), id),
            other => other,
        })?;
    let Some(row) = row else {
        // A row the file held at the last check (`Unlocked::follow`) that its key no longer finds: damage.
        return Err(match check_miss(conn, collection, id) {
            Error::NotFound { .. } if u.wrote(collection, id) => Error::corrupted(format!("records/{collection}"), id),
            e => e,
        });
    };
    // A damaged index can lead SQLite to another row; its own id would then authenticate, so the id must
    // be the one asked for (found by the byte-flip fault test).
    if row.1 != id {
        return Err(Error::corrupted(format!("records/{collection}"), id));
    }
    decode_row(conn, u, collection, row)
}

/// How many records `collection` holds by the count the triggers of migration 10 keep.
fn kept_count(conn: &Connection, collection: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT n FROM record_counts WHERE collection = ?1")?
        .query_row([collection], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// A miss through the `(collection, id)` index is reported as `NotFound` only when the table agrees:
/// a scan that uses no index does not find the id either, and the collection holds, by that scan, as
/// many rows as the kept count says. Otherwise the index or a table page is damaged: `Corrupted` naming
/// the record. Costs a scan of the table and an integrity check of it, on a miss only.
fn check_miss(conn: &Connection, collection: &str, id: &str) -> Error {
    let damaged = || Error::corrupted(format!("records/{collection}"), id);
    let scan: rusqlite::Result<(i64, i64)> = conn
        .prepare_cached(
            "SELECT count(*), count(CASE WHEN id = ?2 THEN 1 END) FROM records NOT INDEXED WHERE collection = ?1",
        )
        .and_then(|mut st| st.query_row(params![collection, id], |r| Ok((r.get(0)?, r.get(1)?))));
    match (scan, kept_count(conn, collection)) {
        (Ok((n, 0)), Ok(kept)) if n == kept => {}
        _ => return damaged(),
    }
    // The row may still be there under a damaged name, or the index's order be broken so that a
    // search passes it by: SQLite's own check of the table and its indexes decides.
    let check: rusqlite::Result<String> = conn.query_row("PRAGMA integrity_check(records)", [], |r| r.get(0));
    match check.as_deref() {
        Ok("ok") => Error::not_found(format!("{collection} {id}")),
        _ => damaged(),
    }
}

fn scan_records(
    conn: &Connection,
    u: &mut Unlocked,
    collection: &str,
    subject: Option<&str>,
    tag: Option<&str>,
) -> Result<Vec<Result<Record>>> {
    // One subject's records: read through the subject's own rows and kept count (see `scan_subject`).
    if let Some(subject) = subject {
        return scan_subject(conn, u, collection, subject, tag);
    }
    // Every row of the collection is counted (the tag filter is applied here), so that their number can be
    // checked against the kept count: a damaged index or table page must not make a short list look
    // like the whole one. Only the plain columns are read for that (the body comes before `updated_at`
    // in the table, so neither is read here): the sealed bodies are fetched for the rows that pass the
    // filter only, by their row id.
    type Meta = (i64, String, String, Option<String>);
    let damaged = |e: rusqlite::Error| match Error::from(e) {
        Error::Storage(_) | Error::Corrupted { .. } => Error::corrupted(format!("records/{collection}"), "*"),
        other => other,
    };
    let mut st = conn.prepare_cached("SELECT seq, id, subject, tag FROM records WHERE collection = ?1 ORDER BY seq")?;
    let rows: Vec<Meta> = st
        .query_map(params![collection], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()
        .map_err(damaged)?;
    drop(st);
    let kept = kept_count(conn, collection)?;
    if rows.len() as i64 != kept {
        return Err(Error::corrupted(
            format!("records/{collection}"),
            format!("{} of {kept} records reachable", rows.len()),
        ));
    }
    let rows: Vec<Meta> = rows.into_iter().filter(|row| tag.is_none_or(|t| Some(t) == row.3.as_deref())).collect();
    // The filter column is plain text a damaged page can change, dropping a row from the answer
    // unseen: the filter's own index must count the same rows.
    if let Some(tag) = tag {
        let by_index: rusqlite::Result<i64> = conn
            .prepare_cached("SELECT count(*) FROM records INDEXED BY records_tag WHERE collection = ?1 AND tag = ?2")
            .and_then(|mut st| st.query_row(params![collection, tag], |r| r.get(0)));
        if by_index.ok() != Some(rows.len() as i64) {
            return Err(Error::corrupted(format!("records/{collection}"), "filter index"));
        }
    }
    Ok(read_bodies(conn, u, collection, rows))
}

/// The sealed bodies of the rows a scan counted and kept, fetched by row id and decrypted.
fn read_bodies(
    conn: &Connection,
    u: &mut Unlocked,
    collection: &str,
    rows: Vec<(i64, String, String, Option<String>)>,
) -> Vec<Result<Record>> {
    type BodyRow = (String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);
    let mut body_of = match conn
        .prepare_cached("SELECT collection, id, subject, tag, lookup, body, updated_at FROM records WHERE seq = ?1")
    {
        Ok(st) => st,
        Err(_) => return vec![Err(Error::corrupted(format!("records/{collection}"), "*"))],
    };
    let mut out = Vec::with_capacity(rows.len());
    for (seq, id, subj, tag) in rows {
        let full: rusqlite::Result<BodyRow> = body_of
            .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)));
        out.push(match full {
            // The row read again must be the row counted: a damaged page could show other columns.
            Ok((c2, i2, s2, t2, lookup, body, at)) if c2 == collection && i2 == id && s2 == subj && t2 == tag => {
                decode_row(conn, u, collection, (seq, id, subj, tag, lookup, body, at))
            }
            _ => Err(Error::corrupted(format!("records/{collection}"), &id)),
        });
    }
    out
}

/// [`scan_records`] for one subject (issue 11: an agent's switch to one of 100 principals among 10,000
/// cases): only that subject's rows are read, through the `(collection, subject)` index, and their number
/// is checked against the count the triggers of migration 14 keep for the subject in the write's own
/// transaction — so a damaged index or page is `Corrupted`, never a short list, without reading the
/// other subjects' rows. Each row is read again by its id and must be in the collection and of the
/// subject asked for (a damaged index entry may point elsewhere), and no row may come twice.
fn scan_subject(
    conn: &Connection,
    u: &mut Unlocked,
    collection: &str,
    subject: &str,
    tag: Option<&str>,
) -> Result<Vec<Result<Record>>> {
    let damaged = |e: rusqlite::Error| match Error::from(e) {
        Error::Storage(_) | Error::Corrupted { .. } => Error::corrupted(format!("records/{collection}"), "*"),
        other => other,
    };
    let mut st = conn.prepare_cached(
        "SELECT seq, id, tag FROM records INDEXED BY records_collection_subject
         WHERE collection = ?1 AND subject = ?2 ORDER BY seq",
    )?;
    let rows: Vec<(i64, String, Option<String>)> = st
        .query_map(params![collection, subject], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()
        .map_err(damaged)?;
    drop(st);
    let kept: i64 = conn
        .prepare_cached("SELECT ifnull(sum(n), 0) FROM record_subject_counts WHERE collection = ?1 AND subject = ?2")?
        .query_row(params![collection, subject], |r| r.get(0))
        .map_err(damaged)?;
    if rows.len() as i64 != kept {
        return Err(Error::corrupted(
            format!("records/{collection}"),
            format!("{} of {kept} records of the subject reachable", rows.len()),
        ));
    }
    if rows.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(Error::corrupted(format!("records/{collection}"), "subject index"));
    }
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|row| tag.is_none_or(|t| Some(t) == row.2.as_deref()))
        .map(|(seq, id, t)| (seq, id, subject.to_string(), t))
        .collect();
    // The tag is plain text a damaged page can change, dropping a row from the answer unseen: the rows
    // with the tag must be as many as the count kept for it.
    if let Some(t) = tag {
        let kept: i64 = conn
            .prepare_cached(
                "SELECT ifnull(sum(n), 0) FROM record_subject_counts WHERE collection = ?1 AND subject = ?2 AND tag = ?3",
            )?
            .query_row(params![collection, subject, format!("={t}")], |r| r.get(0))
            .map_err(damaged)?;
        if rows.len() as i64 != kept {
            return Err(Error::corrupted(format!("records/{collection}"), "tag count"));
        }
    }
    Ok(read_bodies(conn, u, collection, rows))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
impl Store {
    fn set_raw_meta_for_test(&self, key: &str, value: &[u8]) {
        let g = self.guard();
        keys::meta_set(&g.conn, key, value).unwrap();
    }
}
