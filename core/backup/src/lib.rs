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
use zhangban_base::Text;

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

/// Where the store keeps what its next backup builds on and the highest generation it knows.
const CHAIN_ID: &str = "chain";

/// What this store remembers of its backups (record `backup_key/chain`, sealed like every record, never
/// backed up).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ChainState {
    /// The highest generation this store made, restored or accepted: a file below it is a rollback.
    generation: u64,
    /// The last file made on this store, which an increment builds on (none after a restore: the new
    /// phone's first backup is full).
    last: Option<LastBackup>,
    /// The highest generation the platform acknowledged (`zhangban-sync` reports a new one at its next
    /// run, [`unreported_generation`]): what a new phone of the same person checks a file against.
    #[serde(default)]
    reported: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastBackup {
    backup_id: String,
    chain_index: u32,
    /// The time it was made (shown; no longer what an increment is chosen by).
    since: i64,
    /// The store's write sequence when it was made: an increment carries what was written after it. `None`
    /// in a chain remembered before the write sequence existed: the next backup is then full.
    #[serde(default)]
    after_write: Option<i64>,
    /// The last audit entry it carried.
    audit_seq: i64,
}

fn load_chain(store: &Store) -> Result<ChainState> {
    Ok(store.get_opt(KEY_COLLECTION, CHAIN_ID)?.map(|r| r.json()).transpose()?.unwrap_or_default())
}

fn save_chain(store: &Store, chain: &ChainState) -> Result<()> {
    store.put(KEY_COLLECTION, CHAIN_ID, SELF_SUBJECT, &json_bytes(chain)?)?;
    Ok(())
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
    /// An increment's lists of what was alive when it was made: record keys and attachment ids (a record
    /// or attachment not listed was deleted, or its subject shredded, and goes at restore). 0 in a full
    /// backup.
    #[serde(default)]
    pub live_records: u64,
    #[serde(default)]
    pub live_attachments: u64,
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
    /// The backup this one builds on (hex id), `None` for a full backup.
    pub base_id: Option<String>,
    /// 0 for a full backup, n for the n-th increment on it.
    pub chain_index: u32,
    /// This store's backup counter (see [`check_not_older`]).
    pub generation: u64,
    /// Hex id of the store's backup key (the same in every backup of it, after a code change too).
    pub key_id: String,
    /// What the file holds, worded for the screen ("1,203 条记录 · 4 个附件 · 2.1 MB"): [`counts_text`].
    pub counts: Text,
}

/// The size of a file for a person: bytes under 1 KB, else KB / MB with one decimal (1 KB = 1,024 bytes).
pub fn size_text(bytes: u64) -> Text {
    if bytes < 1024 {
        return Text::count(bytes as i64, "{n} 字节", "{n} byte", "{n} bytes");
    }
    let (v, unit) = if bytes < 1024 * 1024 { (bytes as f64 / 1024.0, "KB") } else { (bytes as f64 / 1048576.0, "MB") };
    let t = format!("{v:.1} {unit}");
    Text::new(t.clone(), t)
}

/// A whole number with thousands separators ("1,203"), the same in both languages.
fn grouped(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn count(n: u64, zh: &str, en_one: &str, en_other: &str) -> Text {
    let t = Text::count(n.min(i64::MAX as u64) as i64, zh, en_one, en_other);
    let g = grouped(n);
    let n = n.to_string();
    Text::new(t.zh.replacen(&n, &g, 1), t.en.replacen(&n, &g, 1))
}

/// What a backup holds, worded for the backup screen: records, attachments and the file's size.
pub fn counts_text(records: u64, attachments: u64, bytes: u64) -> Text {
    let parts = [
        count(records, "{n} 条记录", "{n} record", "{n} records"),
        count(attachments, "{n} 个附件", "{n} attachment", "{n} attachments"),
        size_text(bytes),
    ];
    Text::new(
        parts.iter().map(|t| t.zh.as_str()).collect::<Vec<_>>().join(" · "),
        parts.iter().map(|t| t.en.as_str()).collect::<Vec<_>>().join(" · "),
    )
}

/// The files a person picked on a new phone, before the code is asked for: how many, and the newest's
/// generation (its backup number), worded for the restore screen.
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn picked_text(files: u32, generation: u64) -> Text {
    let picked = count(u64::from(files), "已选 {n} 个文件", "{n} file picked", "{n} files picked");
    Text::new(
        format!("{}，最新一份是第 {generation} 次备份。", picked.zh),
        format!("{}; the newest is backup number {generation}.", picked.en),
    )
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

/// Backs the whole store up into `path` (created or replaced when complete): a full backup, which later
/// increments ([`write_increment`]) build on. Needs a recovery code made before
/// ([`make_recovery_code`]), not the code itself.
pub fn write_backup(store: &Store, path: &Path) -> Result<BackupSummary> {
    write_file(store, path, false)
}

/// Backs up into `path` only what changed since the last backup made on this store (records written
/// since, new attachments and audit entries, and the lists of what is still alive, so deletions and
/// shredding hold at restore). Restoring needs every file of the chain, the full backup first
/// ([`restore_chain`]). What changed is found by the store's write sequence, so a clock set back and
/// forward again misses nothing (ADR 0021). When this store has made no backup yet (or was just
/// restored), this is a full backup: `BackupSummary.base_id` is `None`.
pub fn write_increment(store: &Store, path: &Path) -> Result<BackupSummary> {
    write_file(store, path, true)
}

fn write_file(store: &Store, path: &Path, increment: bool) -> Result<BackupSummary> {
    let state = load_state(store)?.ok_or(BackupError::NoRecoveryCode)?;
    let (key, params, salt, wrapped) =
        state.parts().ok_or_else(|| BackupError::Store(zhangban_base::Error::corrupted(KEY_COLLECTION, KEY_ID)))?;
    let chain = load_chain(store)?;
    let now = store.now();
    // What changed is found by the store's write sequence, not the clock (ADR 0021); read before any
    // record is, so a write made while this file is written goes (again) into the next one.
    let write_mark = store.write_sequence()?;
    let base = if increment { chain.last.clone().filter(|l| l.after_write.is_some()) } else { None };
    let link = base.as_ref().and_then(|b| Some((hex_array::<16>(&b.backup_id)?, b.chain_index.checked_add(1)?)));
    let base = if link.is_some() { base } else { None };
    let generation = chain.generation.saturating_add(1);
    let header = Header::new(params, salt, key.id, wrapped, now, generation, link)?;
    let part = part_path(path);
    let result = (|| -> Result<(BackupSummary, i64)> {
        let file = fs::File::create(&part)?;
        let mut w = ItemWriter::new(BufWriter::with_capacity(256 * 1024, file), &header, &key)?;
        let (manifest, audit_seq) = write_items(store, &mut w, base.as_ref())?;
        let (buf, bytes) = w.finish()?;
        let file = buf.into_inner().map_err(|e| BackupError::from(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&part, path)?;
        if let Some(parent) = path.parent().and_then(|p| fs::File::open(p).ok()) {
            let _ = parent.sync_all();
        }
        let counts = counts_text(manifest.records, manifest.attachments, bytes);
        let summary = BackupSummary {
            manifest,
            bytes,
            backup_id: hex::encode(header.backup_id),
            base_id: base.as_ref().map(|b| b.backup_id.clone()),
            chain_index: header.chain_index,
            generation,
            key_id: hex::encode(key.id),
            counts,
        };
        Ok((summary, audit_seq))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    let (summary, audit_seq) = result?;
    let last = LastBackup {
        backup_id: summary.backup_id.clone(),
        chain_index: header.chain_index,
        since: now,
        after_write: Some(write_mark),
        audit_seq,
    };
    save_chain(store, &ChainState { generation, last: Some(last), reported: chain.reported })?;
    store.audit(&NewEntry {
        actor: SELF_SUBJECT,
        action: "backup.write",
        subject: SELF_SUBJECT,
        target: &summary.backup_id,
        detail: json!({ "records": summary.manifest.records, "attachments": summary.manifest.attachments,
                        "bytes": summary.bytes, "base": summary.base_id, "generation": generation }),
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

/// Keys (or ids) per live-list item, and the bytes of ids after which an item is closed early (long ids):
/// an item stays far below [`format::MAX_ITEM`].
const LIVE_PAGE: usize = 1024;
const LIVE_PAGE_BYTES: usize = 512 * 1024;

/// Writes the items of a full backup (`base` `None`) or of an increment on `base`; returns the manifest
/// and the last audit entry's sequence number.
fn write_items<W: Write>(store: &Store, w: &mut ItemWriter<W>, base: Option<&LastBackup>) -> Result<(Manifest, i64)> {
    let mut m = Manifest::default();
    let meta = Meta {
        format: format::VERSION as u32,
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
    // Subjects and settings are few: every file lists all of them (a subject missing from an increment
    // was shredded, a setting removed).
    for s in subjects.into_iter().filter(|s| !s.shredded && s.kind != SubjectKind::Principal) {
        let item = SubjectItem { id: s.id, kind: s.kind, label: s.label, created_at: s.created_at };
        w.item(kind::SUBJECT, &json_bytes(&item)?)?;
        m.subjects += 1;
    }
    for (k, v) in store.settings()? {
        w.item(kind::SETTING, &json_bytes(&json!({ "k": k, "v": v }))?)?;
        m.settings += 1;
    }
    if base.is_none() {
        w.item(kind::LOOKUP_KEY, &store.export_lookup_key()?)?;
    }
    let after_write = base.and_then(|b| b.after_write).unwrap_or(-1);
    let kept = |collection: &str, subject: &str| !EXCLUDED.contains(&collection) && !principals.contains(subject);
    let mut after = 0i64;
    loop {
        let page = store.export_records_written_after(after_write, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page.iter().filter(|r| kept(&r.collection, &r.subject)) {
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
    if base.is_some() {
        // Every record still alive, by key only: the restore deletes what an earlier file brought and is
        // gone since (deleted, or its subject shredded).
        let mut after = 0i64;
        let mut keys: Vec<(String, String)> = Vec::with_capacity(LIVE_PAGE);
        let mut key_bytes = 0usize;
        loop {
            let page = store.record_keys(after, PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.0;
            for (_, c, id, subject) in page {
                if kept(&c, &subject) {
                    key_bytes += c.len() + id.len();
                    keys.push((c, id));
                    if keys.len() == LIVE_PAGE || key_bytes > LIVE_PAGE_BYTES {
                        key_bytes = 0;
                        m.live_records += keys.len() as u64;
                        w.item(kind::LIVE_RECORDS, &json_bytes(&keys)?)?;
                        keys.clear();
                    }
                }
            }
        }
        if !keys.is_empty() {
            m.live_records += keys.len() as u64;
            w.item(kind::LIVE_RECORDS, &json_bytes(&keys)?)?;
        }
    }
    let after_audit = base.map(|b| b.audit_seq).unwrap_or(i64::MIN);
    let mut audit_seq = after_audit.max(0);
    for e in store.audit_entries(None)? {
        audit_seq = audit_seq.max(e.seq);
        if e.seq <= after_audit || principals.contains(&e.subject) {
            continue;
        }
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
    for a in store.attachments_written_after(after_write)?.into_iter().filter(|a| !principals.contains(&a.subject)) {
        w.item(kind::ATTACHMENT, &json_bytes(&a)?)?;
        let n = store.read_attachment(&a.id, &mut DataItems(w))?;
        w.item(kind::ATTACHMENT_END, &[])?;
        m.attachments += 1;
        m.attachment_bytes += n;
    }
    if base.is_some() {
        let ids: Vec<String> =
            store.attachment_ids()?.into_iter().filter(|(_, s)| !principals.contains(s)).map(|(id, _)| id).collect();
        for page in ids.chunks(LIVE_PAGE) {
            w.item(kind::LIVE_ATTACHMENTS, &json_bytes(&page)?)?;
            m.live_attachments += page.len() as u64;
        }
    }
    m.digest = w.digest_so_far();
    w.item(kind::MANIFEST, &json_bytes(&m)?)?;
    Ok((m, audit_seq))
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
    /// The backup this increment builds on (hex id), `None` for a full backup.
    pub base_id: Option<String>,
    /// 0 for a full backup, n for the n-th increment on it.
    pub chain_index: u32,
    /// The store's backup counter when it was made (0 in a version 1 file).
    pub generation: u64,
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
        base_id: h.is_increment().then(|| hex::encode(h.base_id)),
        chain_index: h.chain_index,
        generation: h.generation,
    })
}

/// Checks that the file at `path` can be kept on the platform alone: a full backup (`MissingBase` for an
/// increment, which restores only with the files before it; the platform keeps one file).
pub fn check_uploadable(path: &Path) -> Result<BackupInfo> {
    let info = inspect_backup(path)?;
    if info.base_id.is_some() {
        return Err(BackupError::MissingBase);
    }
    Ok(info)
}

/// The highest backup generation this store made, restored or accepted (0: none yet).
pub fn known_generation(store: &Store) -> Result<u64> {
    Ok(load_chain(store)?.generation)
}

/// What a phone tells the platform after a backup it made or restored (`POST /v1/backup/generation`):
/// which store's backups (the key id) have reached which generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BackupMark {
    pub key_id: String,
    pub generation: u64,
}

/// The generation this store reached and has not had acknowledged by the platform yet (none: nothing
/// new, or no recovery code). The sync run reports it and then calls [`note_reported`].
pub fn unreported_generation(store: &Store) -> Result<Option<BackupMark>> {
    let chain = load_chain(store)?;
    let Some(state) = load_state(store)? else { return Ok(None) };
    if chain.generation == 0 || chain.generation <= chain.reported {
        return Ok(None);
    }
    Ok(Some(BackupMark { key_id: state.key_id, generation: chain.generation }))
}

/// Remembers that the platform acknowledged `generation` (it keeps the highest it was told).
pub fn note_reported(store: &Store, generation: u64) -> Result<()> {
    let mut chain = load_chain(store)?;
    if generation > chain.reported {
        chain.reported = generation;
        save_chain(store, &chain)?;
    }
    Ok(())
}

/// Checks a backup file's header (`info`, from [`inspect_backup`]) before a restore: older than the highest
/// generation this phone knows, or than `attested` — what the platform was told by the person's phones
/// for this backup key (`GET /v1/backup/generation/{key_id}`) — it is `OlderBackup`: a rollback (an old
/// copy in a cloud drive, a file someone handed over, a blob served stale). `attested` `None`: the platform
/// was not asked (offline) or knows none; a brand-new phone then knows nothing to compare with and the
/// app shows the file's date and generation (docs/SECURITY.md). Nothing is removed.
pub fn check_not_older(store: &Store, info: &BackupInfo, attested: Option<u64>) -> Result<()> {
    let known = load_chain(store)?.generation.max(attested.unwrap_or(0));
    if info.generation < known {
        return Err(BackupError::OlderBackup { known, got: info.generation });
    }
    Ok(())
}

/// Checks a backup file that reached this phone from outside — downloaded from the platform, handed over
/// — against the highest generation this phone knows and what the platform attests (`attested`, see
/// [`check_not_older`]): a file older than that is `OlderBackup` (whoever served it rolled the backup
/// back) and is removed. A newer or equal one is accepted and its generation remembered. The generation is
/// in the header, which every chunk authenticates: raised by whoever cannot seal chunks, the file stops
/// opening (`Damaged`) at restore.
pub fn accept_download(store: &Store, path: &Path, attested: Option<u64>) -> Result<BackupInfo> {
    let info = match inspect_backup(path) {
        Ok(i) => i,
        Err(e) => {
            let _ = fs::remove_file(path);
            return Err(e);
        }
    };
    if let Err(e) = check_not_older(store, &info, attested) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    let mut chain = load_chain(store)?;
    if info.generation > chain.generation {
        chain.generation = info.generation;
        save_chain(store, &chain)?;
    }
    Ok(info)
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
    /// Files restored: the full backup and the increments after it.
    pub files: u32,
    /// The generation of the last file (the restored store remembers it: an older file is refused later).
    pub generation: u64,
    /// Records and attachments in the restored store.
    pub records: u64,
    pub attachments: u64,
}

fn restoring_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    dir.with_file_name(name)
}

/// Restores the backup at `path` (key from [`open_backup`]) into a new store in `dir`, which must not
/// exist or be empty: [`restore_chain`] with one full backup.
pub fn restore(
    path: &Path,
    key: &BackupKey,
    dir: &Path,
    vault: Arc<dyn KeyVault>,
    pin: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(Store, RestoreSummary)> {
    restore_chain(&[path.to_path_buf()], key, dir, vault, pin, clock)
}

/// Checks, from the headers alone and before anything is written, that `headers` are a full backup and
/// its increments in the order they were made, each building on the one before.
pub fn check_chain(headers: &[Header]) -> Result<()> {
    let first = headers.first().ok_or(BackupError::MissingBase)?;
    if first.is_increment() {
        return Err(BackupError::MissingBase);
    }
    for (i, pair) in headers.windows(2).enumerate() {
        let (prev, h) = (&pair[0], &pair[1]);
        let position = i as u32 + 2;
        if h.key_id != first.key_id {
            return Err(BackupError::ChainOrder { position });
        }
        if h.is_increment() && h.base_id == prev.backup_id && h.chain_index == prev.chain_index + 1 {
            continue;
        }
        // The file that builds on `prev` is further down the list: the files are out of order.
        if headers[i + 1..].iter().any(|l| l.is_increment() && l.base_id == prev.backup_id) {
            return Err(BackupError::ChainOrder { position });
        }
        if h.is_increment() && h.chain_index > prev.chain_index + 1 {
            return Err(BackupError::IncrementMissing { after: prev.chain_index, found: h.chain_index });
        }
        return Err(BackupError::ChainOrder { position });
    }
    Ok(())
}

/// Puts backup files picked in any order (a multiple selection in the system's file picker lists them as
/// it likes) in the order a restore takes them, from their headers alone: full backups first, then the
/// increments by chain index. Nothing is left out or guessed: a selection that is not one chain (a file
/// missing, two full backups, another store's file) stays refused by [`restore_chain`], typed
/// (`IncrementMissing`, `ChainOrder`, `MissingBase`).
pub fn order_chain(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = paths
        .iter()
        .map(|p| Ok((Header::read(&mut fs::File::open(p)?)?, p.clone())))
        .collect::<Result<Vec<(Header, PathBuf)>>>()?;
    zhangban_base::sort::sort_by_key(&mut files, |(h, _)| (h.is_increment(), h.chain_index, h.generation));
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Opens the backup files the person picked (one full backup, or it and its increments, in any order)
/// with the typed-in code: [`order_chain`], then [`open_backup`] of the newest file (its header carries
/// the code's latest wrap). Returns the files in restore order and the key, for [`restore_chain`].
pub fn open_chain(paths: &[PathBuf], code_text: &str) -> Result<(Vec<PathBuf>, BackupKey)> {
    let ordered = order_chain(paths)?;
    let newest = ordered.last().ok_or(BackupError::MissingBase)?;
    let (_, key) = open_backup(newest, code_text)?;
    Ok((ordered, key))
}

/// The file of `paths` with the highest generation, and its header (no code needed): what a new phone
/// checks against the generation the platform attests before asking for the code (the older files of a
/// chain are older by construction; the newest decides).
pub fn newest_file(paths: &[PathBuf]) -> Result<(PathBuf, BackupInfo)> {
    let mut newest: Option<(PathBuf, BackupInfo)> = None;
    for p in paths {
        let info = inspect_backup(p)?;
        if newest.as_ref().is_none_or(|(_, n)| info.generation > n.generation) {
            newest = Some((p.clone(), info));
        }
    }
    newest.ok_or(BackupError::MissingBase)
}

/// Restores a full backup and the increments made after it (`paths`, in the order they were made; key
/// from [`open_backup`] of any of them, all share it) into a new store in `dir`, which must not exist or be
/// empty. A missing or misplaced file is refused from the headers before anything is written
/// (`MissingBase`, `IncrementMissing`, `ChainOrder`). The new store gets its own data key from `vault`
/// (and `pin`). It is built beside `dir` and renamed into place in one step after every chunk and manifest
/// of every file checked out: on any error (or a kill) nothing is at `dir`. Each increment's updates are
/// applied over the files before it, then what it does not list as alive goes: a record erased (or a
/// subject shredded) on the phone does not come back from an earlier file.
pub fn restore_chain(
    paths: &[PathBuf],
    key: &BackupKey,
    dir: &Path,
    vault: Arc<dyn KeyVault>,
    pin: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(Store, RestoreSummary)> {
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        return Err(BackupError::TargetExists);
    }
    let headers = paths.iter().map(|p| Header::read(&mut fs::File::open(p)?)).collect::<Result<Vec<Header>>>()?;
    check_chain(&headers)?;
    let tmp = restoring_path(dir);
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let built = (|| -> Result<RestoreSummary> {
        let store = Store::create_with(&tmp, vault.clone(), pin, &PinPolicy::default(), clock.clone())?;
        let mut origin: Option<String> = None;
        let mut last = None;
        for (i, (path, header)) in paths.iter().zip(&headers).enumerate() {
            let mut f = BufReader::with_capacity(256 * 1024, fs::File::open(path)?);
            if Header::read(&mut f)? != *header {
                return Err(BackupError::damaged("header changed while restoring"));
            }
            let mut r = ItemReader::new(f, header, key)?;
            let (summary, meta) = read_items(&store, &mut r, header)?;
            // Every file of a chain comes from the same store.
            if origin.get_or_insert_with(|| meta.origin_store.clone()) != &meta.origin_store {
                return Err(BackupError::ChainOrder { position: i as u32 + 1 });
            }
            last = Some(summary);
        }
        let (mut summary, header) = match (last, headers.last()) {
            (Some(s), Some(h)) => (s, h),
            _ => return Err(BackupError::MissingBase),
        };
        summary.files = headers.len() as u32;
        summary.records = store.record_total()?;
        summary.attachments = store.attachment_ids()?.len() as u64;
        // The same backup key and the newest file's code wrap: later backups on this phone open with the
        // same code. The next backup here is full (a new chain) and counts on from this generation.
        save_state(&store, key, header.params, &header.salt, &header.wrapped)?;
        save_chain(&store, &ChainState { generation: header.generation, last: None, reported: 0 })?;
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
            detail: json!({ "records": summary.records, "attachments": summary.attachments, "files": summary.files,
                            "generation": summary.generation, "origin_device": summary.origin_device }),
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

/// What an increment lists as alive; everything else goes once the increment checked out.
#[derive(Default)]
struct Alive {
    subjects: std::collections::HashSet<String>,
    settings: std::collections::HashSet<String>,
    records: std::collections::HashSet<(String, String)>,
    attachments: std::collections::HashSet<String>,
}

impl Alive {
    /// Removes from `store` what this increment does not list: shredded subjects, removed settings,
    /// deleted records and attachments.
    fn apply(&self, store: &Store) -> Result<()> {
        for s in store.subjects()? {
            if s.id != SELF_SUBJECT && !s.shredded && !self.subjects.contains(&s.id) {
                store.shred_subject(&s.id)?;
            }
        }
        for (k, _) in store.settings()? {
            if !self.settings.contains(&k) {
                store.remove_setting(&k)?;
            }
        }
        let mut gone = Vec::new();
        let mut after = 0i64;
        loop {
            let page = store.record_keys(after, PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.0;
            for (_, c, id, _) in page {
                if !EXCLUDED.contains(&c.as_str()) && !self.records.contains(&(c.clone(), id.clone())) {
                    gone.push((c, id));
                }
            }
        }
        for page in gone.chunks(PAGE) {
            store.transaction(|t| page.iter().try_for_each(|(c, id)| t.delete(c, id).map(|_| ())))?;
        }
        for (id, _) in store.attachment_ids()? {
            if !self.attachments.contains(&id) {
                store.delete_attachment(&id)?;
            }
        }
        Ok(())
    }
}

fn read_items<R: std::io::BufRead>(
    store: &Store,
    r: &mut ItemReader<R>,
    header: &Header,
) -> Result<(RestoreSummary, Meta)> {
    let increment = header.is_increment();
    let mut alive = Alive::default();
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
                alive.subjects.insert(subject.id);
                got.subjects += 1;
            }
            kind::SETTING => {
                let s: BTreeMap<String, String> = parse(&p, "setting")?;
                let (Some(k), Some(v)) = (s.get("k"), s.get("v")) else { return Err(bad_item("setting")) };
                store.transaction(|t| t.set_setting(k, v))?;
                alive.settings.insert(k.clone());
                got.settings += 1;
            }
            kind::LOOKUP_KEY if !increment => store.adopt_lookup_key(&p)?,
            kind::LIVE_RECORDS if increment => {
                let keys: Vec<(String, String)> = parse(&p, "live records")?;
                got.live_records += keys.len() as u64;
                alive.records.extend(keys);
            }
            kind::LIVE_ATTACHMENTS if increment => {
                let ids: Vec<String> = parse(&p, "live attachments")?;
                got.live_attachments += ids.len() as u64;
                alive.attachments.extend(ids);
            }
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
                // An increment repeats an attachment stored in the same second as the file before it.
                let res = if increment && store.attachment_info(&info.id).is_ok() {
                    std::io::copy(&mut items, &mut std::io::sink()).map(|_| ()).map_err(zhangban_base::Error::from)
                } else {
                    store.import_attachment(&info, &mut items)
                };
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
    if increment {
        alive.apply(store)?;
    }
    let summary = RestoreSummary {
        manifest,
        origin_device: meta.origin_device.clone(),
        backup_id: hex::encode(header.backup_id),
        created_at: header.created_at,
        files: 1,
        generation: header.generation,
        records: 0,
        attachments: 0,
    };
    Ok((summary, meta))
}

#[cfg(test)]
mod tests;
