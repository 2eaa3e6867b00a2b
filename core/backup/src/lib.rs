//! End-to-end encrypted backup of the Zhangban (掌办) core: a lost or new phone loses nothing.
//!
//! * [`make_recovery_code`]: a random backup key for the store (made once) and a recovery code the
//!   person writes down (`code.rs`); the key is wrapped under Argon2id(code). A new code re-wraps the
//!   same key: nothing is re-encrypted, and backups made with the old code still open with it.
//! * [`write_backup`]: everything that is the person's — every record of every collection (profiles,
//!   drafts, cases with their timelines, the outbox with its idempotency keys, licences, grants, the
//!   usage log, sync cursors), subjects, settings, attachments, the audit log and the lookup key —
//!   streamed into a sealed, chunked file (`format.rs`) at the path the shell hands over (Storage Access
//!   Framework / iOS Files), written under a temporary name and renamed when complete. The code is not
//!   needed to back up. What is bound to this device stays out: its key and platform registration. So do an
//!   agent's principals (委托人): their data is held only while a delegation lasts and its erasure
//!   (crypto-shredding) must hold against every copy; the platform keeps their cases.
//! * [`open_backup`] + [`restore`]: on the new phone, the code opens the file's key (a typo is caught by
//!   the check symbol before the KDF; a wrong code is `WrongCode` after it); the file is read chunk by
//!   chunk into a fresh store under a temporary folder that is renamed into place only after the final
//!   chunk and the manifest check out. Any damage, truncation, reordering or foreign chunk is a typed
//!   error and nothing is restored. The restored store has its own data key, vault and (later) device key;
//!   re-binding the licences to that key is the platform's part (`zhangban-sync`, `rebind`).
// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod code;
pub mod error;
pub mod format;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;
use zhangban_base::audit::NewEntry;
use zhangban_base::clock::Clock;
use zhangban_base::outbox;
use zhangban_base::store::{
    AttachmentInfo, ExportedRecord, KeyVault, PinPolicy, Store, Subject, SubjectKind, SELF_SUBJECT,
};

pub use code::{KdfParams, RecoveryCode};
pub use error::BackupError;
use format::{kind, ItemReader, ItemWriter};
pub use format::{BackupKey, Header};

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

/// Where the store keeps its backup key (raw, sealed like every record) and the current code's wrap.
pub const KEY_COLLECTION: &str = "backup_key";
const KEY_ID: &str = "key";
/// Collections bound to this device that a backup leaves out: the device key and the platform
/// registration (`device`), and the backup key's own record (restored from the code instead).
pub const EXCLUDED: &[&str] = &["device", KEY_COLLECTION];
/// Records per page read from the store and per transaction written to the new one.
const PAGE: usize = 256;

#[derive(Serialize, Deserialize)]
struct KeyState {
    key_id: String,
    key: String,
    salt: String,
    m_kib: u32,
    t: u32,
    p: u32,
    wrapped: String,
}

fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}

impl KeyState {
    fn parts(&self) -> Option<(BackupKey, KdfParams, [u8; 16], [u8; 60])> {
        let key = Zeroizing::new(hex_array::<32>(&self.key)?);
        Some((
            BackupKey { id: hex_array(&self.key_id)?, key },
            KdfParams { m_kib: self.m_kib, t: self.t, p: self.p },
            hex_array(&self.salt)?,
            hex_array(&self.wrapped)?,
        ))
    }
}

fn load_state(store: &Store) -> Result<Option<KeyState>> {
    Ok(store.get_opt(KEY_COLLECTION, KEY_ID)?.map(|r| r.json()).transpose()?)
}

fn save_state(store: &Store, key: &BackupKey, params: KdfParams, salt: &[u8; 16], wrapped: &[u8; 60]) -> Result<()> {
    let state = KeyState {
        key_id: hex::encode(key.id),
        key: hex::encode(key.key.as_slice()),
        salt: hex::encode(salt),
        m_kib: params.m_kib,
        t: params.t,
        p: params.p,
        wrapped: hex::encode(wrapped),
    };
    let body = Zeroizing::new(serde_json::to_vec(&state).map_err(zhangban_base::Error::from)?);
    drop(state);
    store.put(KEY_COLLECTION, KEY_ID, SELF_SUBJECT, &body)?;
    Ok(())
}

/// Whether this store has a recovery code (and so can be backed up).
pub fn has_recovery_code(store: &Store) -> Result<bool> {
    Ok(load_state(store)?.is_some())
}

/// Whether the app should offer to make a recovery code now: the person holds a licence (the wallet's
/// collection `licence`) and has no code yet — from the first licence on, losing the phone would cost
/// something that takes a trip to a counter to get back.
pub fn should_offer_recovery_code(store: &Store) -> Result<bool> {
    if has_recovery_code(store)? {
        return Ok(false);
    }
    Ok(!store.list(LICENCE_COLLECTION, Some(SELF_SUBJECT))?.is_empty())
}

/// The wallet's collection of licences (`zhangban-wallet`; the backup depends on base only).
const LICENCE_COLLECTION: &str = "licence";

/// Makes a new recovery code with the default KDF parameters; see [`make_recovery_code_with`].
pub fn make_recovery_code(store: &Store) -> Result<RecoveryCode> {
    make_recovery_code_with(store, KdfParams::DEFAULT)
}

/// Makes a new recovery code: the first time, also the store's random backup key; later, the same key
/// is re-wrapped under the new code (new salt), so nothing is re-encrypted. Show the code once; it is
/// not kept anywhere.
pub fn make_recovery_code_with(store: &Store, params: KdfParams) -> Result<RecoveryCode> {
    params.check()?;
    let key = match load_state(store)? {
        Some(s) => {
            s.parts().ok_or_else(|| BackupError::Store(zhangban_base::Error::corrupted(KEY_COLLECTION, KEY_ID)))?.0
        }
        None => {
            let mut id = [0u8; 16];
            code::fill_random(&mut id)?;
            let mut key = Zeroizing::new([0u8; 32]);
            code::fill_random(key.as_mut())?;
            BackupKey { id, key }
        }
    };
    let code = RecoveryCode::generate()?;
    let mut salt = [0u8; 16];
    code::fill_random(&mut salt)?;
    let kek = params.derive(&code, &salt)?;
    let wrapped = format::wrap_key(&kek, &key.key, &Header::wrap_aad(params, &salt, &key.id))?;
    save_state(store, &key, params, &salt, &wrapped)?;
    store.audit(&NewEntry {
        actor: SELF_SUBJECT,
        action: "backup.code",
        subject: SELF_SUBJECT,
        target: &hex::encode(key.id),
        detail: json!({ "kdf": "argon2id", "m_kib": params.m_kib, "t": params.t, "p": params.p }),
    })?;
    Ok(code)
}

/// What a backup holds, counted (the manifest, also shown before a restore).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Manifest {
    pub records: u64,
    pub subjects: u64,
    pub settings: u64,
    pub audit: u64,
    pub attachments: u64,
    pub attachment_bytes: u64,
    /// Records per collection (`licence`, `case`, `draft`, `outbox`, …).
    pub collections: HashMap<String, u64>,
    /// SHA-256 of every item before the manifest, hex.
    pub digest: String,
}

impl Manifest {
    /// Records of `collection`.
    pub fn count(&self, collection: &str) -> u64 {
        self.collections.get(collection).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    format: u32,
    created_at: i64,
    origin_store: String,
    /// The platform's id of the phone the backup was made on (the restore's re-binding names it).
    origin_device: Option<String>,
}

/// What [`write_backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BackupSummary {
    pub manifest: Manifest,
    /// Bytes of the file.
    pub bytes: u64,
    /// Hex id of this backup file.
    pub backup_id: String,
}

struct DataItems<'a, W: Write>(&'a mut ItemWriter<W>);

impl<W: Write> Write for DataItems<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(format::CHUNK);
        self.0.item(kind::ATTACHMENT_DATA, &buf[..n]).map_err(|e| std::io::Error::other(e.message_en()))?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

/// Backs the store up into `path` (created or replaced when complete). Needs a recovery code made
/// before ([`make_recovery_code`]), not the code itself.
pub fn write_backup(store: &Store, path: &Path) -> Result<BackupSummary> {
    let state = load_state(store)?.ok_or(BackupError::NoRecoveryCode)?;
    let (key, params, salt, wrapped) =
        state.parts().ok_or_else(|| BackupError::Store(zhangban_base::Error::corrupted(KEY_COLLECTION, KEY_ID)))?;
    let header = Header::new(params, salt, key.id, wrapped, store.now())?;
    let part = part_path(path);
    let result = (|| -> Result<BackupSummary> {
        let file = fs::File::create(&part)?;
        let mut w = ItemWriter::new(BufWriter::with_capacity(256 * 1024, file), &header, &key)?;
        let manifest = write_items(store, &mut w)?;
        let (buf, bytes) = w.finish()?;
        let file = buf.into_inner().map_err(|e| BackupError::from(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&part, path)?;
        if let Some(parent) = path.parent().and_then(|p| fs::File::open(p).ok()) {
            let _ = parent.sync_all();
        }
        Ok(BackupSummary { manifest, bytes, backup_id: hex::encode(header.backup_id) })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    let summary = result?;
    store.audit(&NewEntry {
        actor: SELF_SUBJECT,
        action: "backup.write",
        subject: SELF_SUBJECT,
        target: &summary.backup_id,
        detail: json!({ "records": summary.manifest.records, "attachments": summary.manifest.attachments, "bytes": summary.bytes }),
    })?;
    Ok(summary)
}

fn origin_device(store: &Store) -> Result<Option<String>> {
    // `device/registration` (zhangban-sync) holds the platform's id of this phone; only the id is kept.
    let Some(r) = store.get_opt("device", "registration")? else { return Ok(None) };
    let v: serde_json::Value = r.json()?;
    Ok(v.get("device_id").and_then(|d| d.as_str()).map(str::to_string))
}

fn json_bytes<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(v).map_err(zhangban_base::Error::from)?)
}

#[derive(Serialize, Deserialize)]
struct SubjectItem {
    id: String,
    kind: SubjectKind,
    label: String,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct RecordHead {
    c: String,
    id: String,
    s: String,
    t: Option<String>,
    l: Option<String>,
    u: i64,
}

#[derive(Serialize, Deserialize)]
struct AuditItem {
    at: i64,
    actor: String,
    action: String,
    subject: String,
    target: String,
    detail: serde_json::Value,
}

fn write_items<W: Write>(store: &Store, w: &mut ItemWriter<W>) -> Result<Manifest> {
    let mut m = Manifest::default();
    let meta = Meta {
        format: 1,
        created_at: store.now(),
        origin_store: store.store_id().to_string(),
        origin_device: origin_device(store)?,
    };
    w.item(kind::META, &json_bytes(&meta)?)?;
    // An agent's principals (委托人) stay out: their data is theirs, held only while a delegation lasts, and
    // erasing it (crypto-shredding) must hold against every copy — a backup file is one.
    let subjects = store.subjects()?;
    let principals: std::collections::HashSet<String> =
        subjects.iter().filter(|s| s.kind == SubjectKind::Principal).map(|s| s.id.clone()).collect();
    for s in subjects.into_iter().filter(|s| !s.shredded && s.kind != SubjectKind::Principal) {
        let item = SubjectItem { id: s.id, kind: s.kind, label: s.label, created_at: s.created_at };
        w.item(kind::SUBJECT, &json_bytes(&item)?)?;
        m.subjects += 1;
    }
    for (k, v) in store.settings()? {
        w.item(kind::SETTING, &json_bytes(&json!({ "k": k, "v": v }))?)?;
        m.settings += 1;
    }
    w.item(kind::LOOKUP_KEY, &store.export_lookup_key()?)?;
    let mut after = 0i64;
    loop {
        let page = store.export_records(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page.iter().filter(|r| !EXCLUDED.contains(&r.collection.as_str()) && !principals.contains(&r.subject))
        {
            let head = RecordHead {
                c: r.collection.clone(),
                id: r.id.clone(),
                s: r.subject.clone(),
                t: r.tag.clone(),
                l: r.lookup.as_ref().map(hex::encode),
                u: r.updated_at,
            };
            let head = json_bytes(&head)?;
            w.item_parts(kind::RECORD, &[&(head.len() as u32).to_be_bytes(), &head, &r.body])?;
            m.records += 1;
            *m.collections.entry(r.collection.clone()).or_default() += 1;
        }
    }
    for e in store.audit_entries(None)?.into_iter().filter(|e| !principals.contains(&e.subject)) {
        let item = AuditItem {
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            target: e.target,
            detail: e.detail,
        };
        w.item(kind::AUDIT, &json_bytes(&item)?)?;
        m.audit += 1;
    }
    for a in store.attachments()?.into_iter().filter(|a| !principals.contains(&a.subject)) {
        w.item(kind::ATTACHMENT, &json_bytes(&a)?)?;
        let n = store.read_attachment(&a.id, &mut DataItems(w))?;
        w.item(kind::ATTACHMENT_END, &[])?;
        m.attachments += 1;
        m.attachment_bytes += n;
    }
    m.digest = w.digest_so_far();
    w.item(kind::MANIFEST, &json_bytes(&m)?)?;
    Ok(m)
}

/// Reads the header of the backup at `path` and opens its key with the typed-in code: a typo is
/// `CodeTypo` (before the KDF), a code that does not fit is `WrongCode` (after it).
pub fn open_backup(path: &Path, code_text: &str) -> Result<(Header, BackupKey)> {
    let code = RecoveryCode::parse(code_text)?;
    let mut f = fs::File::open(path)?;
    let header = Header::read(&mut f)?;
    let kek = header.params.derive(&code, &header.salt)?;
    let raw = format::unwrap_key(&kek, &header.wrapped, &Header::wrap_aad(header.params, &header.salt, &header.key_id))
        .ok_or(BackupError::WrongCode)?;
    Ok((header.clone(), BackupKey { id: header.key_id, key: raw }))
}

/// What the plaintext header of a backup file says, read without the code (to show before asking for it):
/// when it was made, by which store's key, with which KDF, how large it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BackupInfo {
    pub backup_id: String,
    /// Same in every backup of one store (and after a code change): which phone's backups these are.
    pub key_id: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub kdf_m_kib: u32,
    pub kdf_t: u32,
    pub kdf_p: u32,
    /// Bytes of the file.
    pub bytes: u64,
}

/// Reads the header of the backup at `path` (no code needed): `NotABackup`, `Truncated`,
/// `UnsupportedVersion` or `Damaged` when it is not one this app can restore. The chunks are checked only
/// by a restore (with the code).
pub fn inspect_backup(path: &Path) -> Result<BackupInfo> {
    let mut f = fs::File::open(path)?;
    let bytes = f.metadata()?.len();
    let h = Header::read(&mut f)?;
    Ok(BackupInfo {
        backup_id: hex::encode(h.backup_id),
        key_id: hex::encode(h.key_id),
        created_at: h.created_at,
        kdf_m_kib: h.params.m_kib,
        kdf_t: h.params.t,
        kdf_p: h.params.p,
        bytes,
    })
}

/// Checks a typed-in code against this store's current one (the app asks the person to type the code
/// back before it counts as written down): `CodeFormat` / `CodeTypo` before the KDF, `WrongCode` after
/// it, `NoRecoveryCode` when none was made.
pub fn check_recovery_code(store: &Store, code_text: &str) -> Result<()> {
    let code = RecoveryCode::parse(code_text)?;
    let state = load_state(store)?.ok_or(BackupError::NoRecoveryCode)?;
    let (key, params, salt, wrapped) =
        state.parts().ok_or_else(|| BackupError::Store(zhangban_base::Error::corrupted(KEY_COLLECTION, KEY_ID)))?;
    let kek = params.derive(&code, &salt)?;
    format::unwrap_key(&kek, &wrapped, &Header::wrap_aad(params, &salt, &key.id)).ok_or(BackupError::WrongCode)?;
    Ok(())
}

/// The platform id of the old phone this store was restored from, while its licences are not re-bound
/// yet (the restored outbox waits until then; `zhangban-sync`'s `rebind` lifts the hold).
pub fn awaiting_transfer_from(store: &Store) -> Result<Option<String>> {
    Ok(store.setting(outbox::HOLD_SETTING)?)
}

/// What a restore brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RestoreSummary {
    pub manifest: Manifest,
    /// The platform's id of the phone the backup came from (for re-binding its licences).
    pub origin_device: Option<String>,
    pub backup_id: String,
    pub created_at: i64,
}

fn restoring_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    dir.with_file_name(name)
}

/// Restores the backup at `path` (key from [`open_backup`]) into a new store in `dir`, which must not
/// exist or be empty. The new store gets its own data key from `vault` (and `pin`). It is built beside
/// `dir` and renamed into place in one step after every chunk and the manifest checked out: on any error
/// (or a kill) nothing is at `dir`.
pub fn restore(
    path: &Path,
    key: &BackupKey,
    dir: &Path,
    vault: Arc<dyn KeyVault>,
    pin: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(Store, RestoreSummary)> {
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        return Err(BackupError::TargetExists);
    }
    let tmp = restoring_path(dir);
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let built = (|| -> Result<RestoreSummary> {
        let store = Store::create_with(&tmp, vault.clone(), pin, &PinPolicy::default(), clock.clone())?;
        let mut f = BufReader::with_capacity(256 * 1024, fs::File::open(path)?);
        let header = Header::read(&mut f)?;
        let mut r = ItemReader::new(f, &header, key)?;
        let summary = read_items(&store, &mut r, &header)?;
        // The same backup key and code wrap: later backups on this phone open with the same code.
        save_state(&store, key, header.params, &header.salt, &header.wrapped)?;
        // The restored outbox waits until the platform moved the old phone's cases here (zhangban-sync,
        // `rebind`): then its kept idempotency keys find the answers the old phone was given.
        if let Some(origin) = &summary.origin_device {
            store.set_setting(outbox::HOLD_SETTING, origin)?;
        }
        store.audit(&NewEntry {
            actor: SELF_SUBJECT,
            action: "backup.restore",
            subject: SELF_SUBJECT,
            target: &summary.backup_id,
            detail: json!({ "records": summary.manifest.records, "attachments": summary.manifest.attachments,
                            "origin_device": summary.origin_device }),
        })?;
        Ok(summary)
    })();
    let summary = match built {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if dir.exists() {
        fs::remove_dir(dir)?;
    }
    fs::rename(&tmp, dir)?;
    if let Some(parent) = dir.parent().and_then(|p| fs::File::open(p).ok()) {
        let _ = parent.sync_all();
    }
    let store = Store::open_with(dir, vault, clock)?;
    if store.is_locked() {
        store.unlock(pin)?;
    }
    Ok((store, summary))
}

struct AttachmentItems<'a, R: std::io::BufRead> {
    r: &'a mut ItemReader<R>,
    cur: Zeroizing<Vec<u8>>,
    pos: usize,
    done: bool,
    err: Option<BackupError>,
}

impl<R: std::io::BufRead> Read for AttachmentItems<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.r.next() {
                Ok(Some((kind::ATTACHMENT_DATA, data))) => {
                    self.cur = data;
                    self.pos = 0;
                }
                Ok(Some((kind::ATTACHMENT_END, _))) => self.done = true,
                Ok(_) => {
                    self.err = Some(BackupError::damaged("attachment items"));
                    return Err(std::io::Error::other("damaged"));
                }
                Err(e) => {
                    self.err = Some(e);
                    return Err(std::io::Error::other("damaged"));
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn bad_item(what: &str) -> BackupError {
    BackupError::damaged(format!("item: {what}"))
}

fn parse<T: for<'de> Deserialize<'de>>(payload: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(payload).map_err(|_| bad_item(what))
}

fn read_items<R: std::io::BufRead>(store: &Store, r: &mut ItemReader<R>, header: &Header) -> Result<RestoreSummary> {
    let mut got = Manifest::default();
    let meta: Meta = match r.next()? {
        Some((kind::META, p)) => parse(&p, "meta")?,
        _ => return Err(bad_item("meta first")),
    };
    let mut batch: Vec<ExportedRecord> = Vec::new();
    let mut batch_bytes = 0usize;
    let flush = |batch: &mut Vec<ExportedRecord>| -> Result<()> {
        if !batch.is_empty() {
            store.transaction(|t| batch.iter().try_for_each(|rec| t.import_record(rec)))?;
            batch.clear();
        }
        Ok(())
    };
    let manifest: Manifest = loop {
        let (k, p) = r.next()?.ok_or_else(|| bad_item("no manifest"))?;
        if k != kind::RECORD {
            flush(&mut batch)?;
            batch_bytes = 0;
        }
        match k {
            kind::SUBJECT => {
                let s: SubjectItem = parse(&p, "subject")?;
                let subject =
                    Subject { id: s.id, kind: s.kind, label: s.label, created_at: s.created_at, shredded: false };
                store.transaction(|t| t.import_subject(&subject))?;
                got.subjects += 1;
            }
            kind::SETTING => {
                let s: BTreeMap<String, String> = parse(&p, "setting")?;
                let (Some(k), Some(v)) = (s.get("k"), s.get("v")) else { return Err(bad_item("setting")) };
                store.transaction(|t| t.set_setting(k, v))?;
                got.settings += 1;
            }
            kind::LOOKUP_KEY => store.adopt_lookup_key(&p)?,
            kind::RECORD => {
                if p.len() < 4 {
                    return Err(bad_item("record"));
                }
                let hl = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
                let head: RecordHead = parse(p.get(4..4 + hl).ok_or_else(|| bad_item("record"))?, "record")?;
                let lookup = match &head.l {
                    Some(h) => Some(hex::decode(h).map_err(|_| bad_item("record"))?),
                    None => None,
                };
                *got.collections.entry(head.c.clone()).or_default() += 1;
                got.records += 1;
                batch_bytes += p.len();
                batch.push(ExportedRecord {
                    seq: 0,
                    collection: head.c,
                    id: head.id,
                    subject: head.s,
                    tag: head.t,
                    lookup,
                    body: Zeroizing::new(p[4 + hl..].to_vec()),
                    updated_at: head.u,
                });
                if batch.len() >= PAGE || batch_bytes > 8 * 1024 * 1024 {
                    flush(&mut batch)?;
                    batch_bytes = 0;
                }
            }
            kind::AUDIT => {
                let a: AuditItem = parse(&p, "audit")?;
                let entry = NewEntry {
                    actor: &a.actor,
                    action: &a.action,
                    subject: &a.subject,
                    target: &a.target,
                    detail: a.detail.clone(),
                };
                store.transaction(|t| t.audit_at(&entry, a.at))?;
                got.audit += 1;
            }
            kind::ATTACHMENT => {
                let info: AttachmentInfo = parse(&p, "attachment")?;
                let mut items =
                    AttachmentItems { r: &mut *r, cur: Zeroizing::new(Vec::new()), pos: 0, done: false, err: None };
                let res = store.import_attachment(&info, &mut items);
                if let Some(e) = items.err.take() {
                    return Err(e);
                }
                res?;
                if !items.done {
                    return Err(bad_item("attachment end"));
                }
                got.attachments += 1;
                got.attachment_bytes += info.size;
            }
            kind::MANIFEST => {
                got.digest = r.digest_before_manifest();
                break parse(&p, "manifest")?;
            }
            _ => return Err(bad_item("unknown kind")),
        }
    };
    if !r.at_end()? {
        return Err(BackupError::damaged("data after the manifest"));
    }
    if manifest != got {
        return Err(BackupError::damaged("manifest"));
    }
    Ok(RestoreSummary {
        manifest,
        origin_device: meta.origin_device,
        backup_id: hex::encode(header.backup_id),
        created_at: header.created_at,
    })
}

#[cfg(test)]
mod tests;
