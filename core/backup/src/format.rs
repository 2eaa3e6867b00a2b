//! The backup file, byte by byte (also in docs/formats.md § "Backup file").
//!
//! ```text
//! header (194 bytes, plaintext, authenticated; version 1 files, 182 bytes, are read too — see below):
//!   0  "ZBK1"              magic
//!   4  version  u8 = 2
//!   5  kdf      u8 = 1     Argon2id v0x13
//!   6  m_kib    u32 BE     memory
//!  10  t        u32 BE     passes
//!  14  p        u32 BE     lanes
//!  18  salt     16         KDF salt (per recovery code)
//!  34  key_id   16         id of the backup key (same in every backup of one store)
//!  50  backup_id 16        random per file
//!  66  created_at i64 BE   seconds since the epoch
//!  74  base_id  16         zero: a full backup; else the backup_id of the file this increment builds on
//!  90  generation u64 BE   counts the backups of this store and of the stores restored from it (rollback)
//!  98  chain_index u32 BE  0: a full backup; n: the n-th increment on it
//! 102  wrapped  60         nonce(12) ‖ AES-256-GCM(KEK, backup key)(32) ‖ tag(16); AAD = wrap_aad (below)
//! 162  sha256   32         SHA-256 of bytes 0..162 (tells damage from a wrong code)
//! chunks, until the end of the file:
//!   len u32 BE ‖ AES-256-GCM(chunk key, nonce = index u64 BE ‖ 0 0 0 ‖ final u8, AAD = header sha256)
//!   chunk key = HKDF-SHA256(salt = backup_id, IKM = backup key, info = "zhangban backup chunks v1")
//!   every chunk but the final one holds exactly 65,536 plaintext bytes; the final one 1..=65,536.
//! ```
//! Version 1 (182 bytes) has no generation and chain index (read as 0 and 0: a full backup): `wrapped` at
//! 90, `sha256` of bytes 0..150 at 150. The plaintext of the chunks, joined, is a sequence of items
//! `kind u8 ‖ len u32 BE ‖ payload`; the last item is the manifest. Chunk order, completeness and the file
//! it belongs to are authenticated by the nonce (index, final flag), the per-file chunk key and the header
//! digest in the AAD — so are the generation and the chain fields of the header.

use std::io::{BufRead, Read, Write};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::{digest, hkdf};
use zeroize::Zeroizing;
use zhangban_base::wipe::Wiped;

use crate::code::{fill_random, KdfParams};
use crate::error::BackupError;

pub const MAGIC: &[u8; 4] = b"ZBK1";
/// The version this app writes (2: generation and chain index); version 1 is read too.
pub const VERSION: u8 = 2;
const KDF_ARGON2ID: u8 = 1;
/// Bytes of a version 2 header.
pub const HEADER_LEN: usize = 194;
const WRAP_AT: usize = 102;
const DIGEST_AT: usize = 162;
/// Bytes of a version 1 header (no generation, no chain index).
pub const HEADER_LEN_V1: usize = 182;
const WRAP_AT_V1: usize = 90;
const DIGEST_AT_V1: usize = 150;
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
/// Largest item payload: a record body (4 MiB) with its header, or an attachment piece.
pub const MAX_ITEM: usize = zhangban_base::store::MAX_RECORD_BYTES + 64 * 1024;

/// The random key every backup of a store is sealed under; only its wrap changes with the code.
#[derive(Clone)]
pub struct BackupKey {
    pub(crate) id: [u8; 16],
    pub(crate) key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupKey").field("id", &hex::encode(self.id)).finish()
    }
}

fn aead(raw: &[u8]) -> Result<Wiped<LessSafeKey>, BackupError> {
    UnboundKey::new(&AES_256_GCM, raw)
        .map(|k| Wiped::new(LessSafeKey::new(k)))
        .map_err(|_| BackupError::Store(zhangban_base::Error::Internal("AEAD key".into())))
}

fn internal(what: &str) -> BackupError {
    BackupError::Store(zhangban_base::Error::Internal(what.into()))
}

/// Seals the backup key under a key-encryption key: `nonce ‖ ciphertext ‖ tag` (60 bytes).
pub(crate) fn wrap_key(kek: &[u8; 32], key: &[u8; 32], aad: &[u8]) -> Result<[u8; 60], BackupError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let mut buf = key.to_vec();
    let tag = aead(kek)?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| internal("seal"))?;
    let mut out = [0u8; 60];
    out[..12].copy_from_slice(&nonce);
    out[12..44].copy_from_slice(&buf);
    out[44..].copy_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens a wrap made by [`wrap_key`]; `None` when the KEK (so the code) or the AAD does not fit.
pub(crate) fn unwrap_key(kek: &[u8; 32], wrapped: &[u8; 60], aad: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let key = aead(kek).ok()?;
    let nonce = Nonce::try_assume_unique_for_key(&wrapped[..12]).ok()?;
    let mut buf = Zeroizing::new(wrapped[12..].to_vec());
    let plain = key.open_in_place(nonce, Aad::from(aad), buf.as_mut_slice()).ok()?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(plain.get(..32)?);
    Some(out)
}

/// The plaintext, authenticated header of a backup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub params: KdfParams,
    pub salt: [u8; 16],
    pub key_id: [u8; 16],
    pub backup_id: [u8; 16],
    pub created_at: i64,
    /// Zero for a full backup; else the `backup_id` of the file this increment builds on.
    pub base_id: [u8; 16],
    /// Counts the backups of this store (and of the stores restored from it): a phone that remembers a
    /// higher one refuses this file as a rollback.
    pub generation: u64,
    /// 0 for a full backup, n for the n-th increment on it.
    pub chain_index: u32,
    pub wrapped: [u8; 60],
    pub digest: [u8; 32],
    /// 1 or 2 (what was read; a new header is 2).
    pub version: u8,
}

impl Header {
    fn prefix(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(MAGIC);
        h.push(VERSION);
        h.push(KDF_ARGON2ID);
        h.extend_from_slice(&self.params.m_kib.to_be_bytes());
        h.extend_from_slice(&self.params.t.to_be_bytes());
        h.extend_from_slice(&self.params.p.to_be_bytes());
        h.extend_from_slice(&self.salt);
        h.extend_from_slice(&self.key_id);
        h.extend_from_slice(&self.backup_id);
        h.extend_from_slice(&self.created_at.to_be_bytes());
        h.extend_from_slice(&self.base_id);
        h.extend_from_slice(&self.generation.to_be_bytes());
        h.extend_from_slice(&self.chain_index.to_be_bytes());
        debug_assert_eq!(h.len(), WRAP_AT);
        h
    }

    /// Whether this file is an increment (builds on another file) rather than a full backup.
    pub fn is_increment(&self) -> bool {
        self.base_id != [0; 16]
    }

    /// Bytes of this header in its file.
    pub fn byte_len(&self) -> usize {
        if self.version == 1 {
            HEADER_LEN_V1
        } else {
            HEADER_LEN
        }
    }

    /// A new header for a file sealed under `key`, whose wrap (`wrapped`, made for `salt` and `params`)
    /// is copied from the store: the code is not needed to back up. `chain`: the base's backup id and
    /// this increment's index, `None` for a full backup.
    pub(crate) fn new(
        params: KdfParams,
        salt: [u8; 16],
        key_id: [u8; 16],
        wrapped: [u8; 60],
        created_at: i64,
        generation: u64,
        chain: Option<([u8; 16], u32)>,
    ) -> Result<Header, BackupError> {
        let mut backup_id = [0u8; 16];
        fill_random(&mut backup_id)?;
        let (base_id, chain_index) = chain.unwrap_or(([0; 16], 0));
        let mut h = Header {
            params,
            salt,
            key_id,
            backup_id,
            created_at,
            base_id,
            generation,
            chain_index,
            wrapped,
            digest: [0; 32],
            version: VERSION,
        };
        let mut bytes = h.prefix();
        bytes.extend_from_slice(&h.wrapped);
        h.digest.copy_from_slice(digest::digest(&digest::SHA256, &bytes).as_ref());
        Ok(h)
    }

    /// The AAD of the key wrap: what a wrap is bound to (KDF parameters, salt, key id), not the per-file
    /// fields, so one wrap serves every backup of the store.
    pub(crate) fn wrap_aad(params: KdfParams, salt: &[u8; 16], key_id: &[u8; 16]) -> Vec<u8> {
        let mut a = b"zhangban backup key v1".to_vec();
        a.extend_from_slice(&params.m_kib.to_be_bytes());
        a.extend_from_slice(&params.t.to_be_bytes());
        a.extend_from_slice(&params.p.to_be_bytes());
        a.extend_from_slice(salt);
        a.extend_from_slice(key_id);
        a
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = self.prefix();
        b.extend_from_slice(&self.wrapped);
        b.extend_from_slice(&self.digest);
        b
    }

    /// Reads and checks the header: magic (`NotABackup`), length (`Truncated`), version and KDF
    /// (`UnsupportedVersion`), digest (`Damaged`), KDF parameters within bounds (`Damaged`). Reads
    /// version 1 (no generation, no chain: a full backup) and version 2.
    pub fn read(r: &mut dyn Read) -> Result<Header, BackupError> {
        let mut b = [0u8; HEADER_LEN];
        let n = read_full(r, &mut b[..HEADER_LEN_V1])?;
        if n < MAGIC.len() || &b[..4] != MAGIC {
            return Err(BackupError::NotABackup);
        }
        if n < HEADER_LEN_V1 {
            return Err(BackupError::Truncated);
        }
        let version = b[4];
        // A version this app does not know is read as far as version 2's header: a newer app's file
        // whose digest checks out there is `UnsupportedVersion`, anything else (a flipped version byte)
        // `Damaged`.
        let (len, wrap_at, digest_at) =
            if version == 1 { (HEADER_LEN_V1, WRAP_AT_V1, DIGEST_AT_V1) } else { (HEADER_LEN, WRAP_AT, DIGEST_AT) };
        if len > HEADER_LEN_V1 && read_full(r, &mut b[HEADER_LEN_V1..len])? < len - HEADER_LEN_V1 {
            return Err(BackupError::Truncated);
        }
        let b = &b[..len];
        let digest = digest::digest(&digest::SHA256, &b[..digest_at]);
        if digest.as_ref() != &b[digest_at..] {
            return Err(BackupError::damaged("header"));
        }
        if !(1..=VERSION).contains(&version) || b[5] != KDF_ARGON2ID {
            return Err(BackupError::UnsupportedVersion { version: version as u32 });
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            a
        };
        let arr16 = |i: usize| -> [u8; 16] {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[i..i + 16]);
            a
        };
        let params = KdfParams { m_kib: u32_at(6), t: u32_at(10), p: u32_at(14) };
        params.check()?;
        let (generation, chain_index) =
            if version == 1 { (0, 0) } else { (u64::from_be_bytes(u64_at(90)), u32_at(98)) };
        let base_id = arr16(74);
        // A full backup has index 0 and no base; an increment both.
        if (base_id == [0; 16]) != (chain_index == 0) {
            return Err(BackupError::damaged("header"));
        }
        let mut wrapped = [0u8; 60];
        wrapped.copy_from_slice(&b[wrap_at..digest_at]);
        let mut d = [0u8; 32];
        d.copy_from_slice(&b[digest_at..]);
        Ok(Header {
            params,
            salt: arr16(18),
            key_id: arr16(34),
            backup_id: arr16(50),
            created_at: i64::from_be_bytes(u64_at(66)),
            base_id,
            generation,
            chain_index,
            wrapped,
            digest: d,
            version,
        })
    }

    fn chunk_key(&self, key: &BackupKey) -> Result<Wiped<LessSafeKey>, BackupError> {
        if key.id != self.key_id {
            return Err(BackupError::WrongCode);
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &self.backup_id).extract(key.key.as_slice());
        let okm = prk.expand(&[b"zhangban backup chunks v1"], &AES_256_GCM).map_err(|_| internal("hkdf"))?;
        Ok(Wiped::new(LessSafeKey::new(UnboundKey::from(okm))))
    }
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[11] = last as u8;
    Nonce::assume_unique_for_key(n)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One item of the plaintext stream: its kind and payload.
pub(crate) type Item = (u8, Zeroizing<Vec<u8>>);

/// Item kinds of the plaintext stream.
pub mod kind {
    pub const META: u8 = 1;
    pub const SUBJECT: u8 = 2;
    pub const SETTING: u8 = 3;
    pub const LOOKUP_KEY: u8 = 4;
    pub const RECORD: u8 = 5;
    pub const AUDIT: u8 = 6;
    pub const ATTACHMENT: u8 = 7;
    pub const ATTACHMENT_DATA: u8 = 8;
    pub const ATTACHMENT_END: u8 = 9;
    /// An increment's list of the record keys alive when it was made (JSON `[[collection, id], …]`, a
    /// page per item): a record not listed was deleted (or its subject shredded) and goes at restore.
    pub const LIVE_RECORDS: u8 = 10;
    /// An increment's list of the attachment ids alive when it was made (JSON `[id, …]`, a page per item).
    pub const LIVE_ATTACHMENTS: u8 = 11;
    pub const MANIFEST: u8 = 0xFF;
}

/// Writes items into sealed chunks (STREAM: one AEAD per chunk, index and final flag in the nonce).
pub struct ItemWriter<W: Write> {
    w: W,
    key: Wiped<LessSafeKey>,
    aad: [u8; 32],
    index: u64,
    buf: Vec<u8>,
    hash: digest::Context,
    pub(crate) bytes_out: u64,
}

impl<W: Write> ItemWriter<W> {
    pub(crate) fn new(mut w: W, header: &Header, key: &BackupKey) -> Result<Self, BackupError> {
        let h = header.encode();
        w.write_all(&h)?;
        Ok(ItemWriter {
            w,
            key: header.chunk_key(key)?,
            aad: header.digest,
            index: 0,
            buf: Vec::with_capacity(2 * CHUNK),
            hash: digest::Context::new(&digest::SHA256),
            bytes_out: h.len() as u64,
        })
    }

    fn seal_chunk(&mut self, last: bool) -> Result<(), BackupError> {
        let take = self.buf.len().min(CHUNK);
        // Copied out, then the rest moved down in one memmove (no per-byte iteration).
        let mut chunk: Zeroizing<Vec<u8>> = Zeroizing::new(self.buf[..take].to_vec());
        self.buf.drain(..take);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.index, last), Aad::from(&self.aad), chunk.as_mut_slice())
            .map_err(|_| internal("seal"))?;
        self.w.write_all(&((chunk.len() + TAG) as u32).to_be_bytes())?;
        self.w.write_all(&chunk)?;
        self.w.write_all(tag.as_ref())?;
        self.bytes_out += (4 + chunk.len() + TAG) as u64;
        self.index += 1;
        Ok(())
    }

    /// Appends one item.
    pub(crate) fn item(&mut self, kind: u8, payload: &[u8]) -> Result<(), BackupError> {
        self.item_parts(kind, &[payload])
    }

    /// Appends one item whose payload is the concatenation of `parts`.
    pub(crate) fn item_parts(&mut self, kind: u8, parts: &[&[u8]]) -> Result<(), BackupError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_ITEM {
            return Err(internal("backup item too large"));
        }
        let mut frame = [0u8; 5];
        frame[0] = kind;
        frame[1..].copy_from_slice(&(len as u32).to_be_bytes());
        self.hash.update(&frame);
        self.buf.extend_from_slice(&frame);
        for p in parts {
            self.hash.update(p);
            self.buf.extend_from_slice(p);
            // Seal only full chunks that are known not to be the last.
            while self.buf.len() > CHUNK {
                self.seal_chunk(false)?;
            }
        }
        Ok(())
    }

    /// SHA-256 of every item frame written so far (the manifest carries it).
    pub(crate) fn digest_so_far(&self) -> String {
        hex::encode(self.hash.clone().finish().as_ref())
    }

    /// Seals the remaining bytes as the final chunk and returns the writer.
    pub(crate) fn finish(mut self) -> Result<(W, u64), BackupError> {
        if self.buf.is_empty() {
            return Err(internal("a backup ends with its manifest"));
        }
        self.seal_chunk(true)?;
        self.w.flush()?;
        Ok((self.w, self.bytes_out))
    }
}

/// Reads items out of the sealed chunks, checking each chunk as it comes; memory stays at one chunk
/// plus the largest item.
pub struct ItemReader<R: BufRead> {
    r: R,
    key: Wiped<LessSafeKey>,
    aad: [u8; 32],
    index: u64,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    finished: bool,
    hash: digest::Context,
    pub(crate) bytes_in: u64,
}

impl<R: BufRead> ItemReader<R> {
    pub(crate) fn new(r: R, header: &Header, key: &BackupKey) -> Result<Self, BackupError> {
        Ok(ItemReader {
            r,
            key: header.chunk_key(key)?,
            aad: header.digest,
            index: 0,
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
            finished: false,
            hash: digest::Context::new(&digest::SHA256),
            bytes_in: header.byte_len() as u64,
        })
    }

    /// Reads and opens the next chunk. The final flag is taken from whether the file ends after it, and
    /// authenticated: a file cut at a chunk boundary, or with chunks appended, does not open.
    fn next_chunk(&mut self) -> Result<bool, BackupError> {
        if self.finished {
            return Ok(false);
        }
        let mut len = [0u8; 4];
        let n = read_full(&mut self.r, &mut len)?;
        if n == 0 {
            // Only a chunk sealed as final may end the file: this one was not.
            return Err(BackupError::Truncated);
        }
        if n < 4 {
            return Err(BackupError::Truncated);
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(TAG + 1..=CHUNK + TAG).contains(&len) {
            return Err(BackupError::damaged(format!("chunk {}", self.index)));
        }
        let mut buf = Zeroizing::new(vec![0u8; len]);
        if read_full(&mut self.r, &mut buf)? < len {
            return Err(BackupError::Truncated);
        }
        let last = self.r.fill_buf()?.is_empty();
        if !last && len != CHUNK + TAG {
            return Err(BackupError::damaged(format!("chunk {}", self.index)));
        }
        let plain_len = self
            .key
            .open_in_place(nonce(self.index, last), Aad::from(&self.aad), buf.as_mut_slice())
            .map_err(|_| {
                if last {
                    // The end of the file is not the end of the backup (or the chunk is altered).
                    BackupError::damaged(format!("chunk {} (last)", self.index))
                } else {
                    BackupError::damaged(format!("chunk {}", self.index))
                }
            })?
            .len();
        buf.truncate(plain_len);
        self.bytes_in += (4 + len) as u64;
        self.index += 1;
        self.finished = last;
        // Keep what was not consumed of the previous chunk.
        let mut rest = Zeroizing::new(self.plain[self.pos..].to_vec());
        rest.extend_from_slice(&buf);
        self.plain = rest;
        self.pos = 0;
        Ok(true)
    }

    fn take(&mut self, n: usize) -> Result<Zeroizing<Vec<u8>>, BackupError> {
        while self.plain.len() - self.pos < n {
            if !self.next_chunk()? {
                return Err(BackupError::damaged("items end inside an item"));
            }
        }
        let out = Zeroizing::new(self.plain[self.pos..self.pos + n].to_vec());
        self.pos += n;
        if self.pos > CHUNK {
            self.plain.drain(..self.pos);
            self.pos = 0;
        }
        Ok(out)
    }

    /// The next item, or `None` after the final chunk's last byte.
    pub(crate) fn next(&mut self) -> Result<Option<Item>, BackupError> {
        if self.pos == self.plain.len() && !self.next_chunk()? {
            return Ok(None);
        }
        let frame = self.take(5)?;
        let kind = frame[0];
        let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
        if len > MAX_ITEM {
            return Err(BackupError::damaged("item length"));
        }
        let payload = self.take(len)?;
        if kind != kind::MANIFEST {
            self.hash.update(&frame);
            self.hash.update(&payload);
        }
        Ok(Some((kind, payload)))
    }

    /// SHA-256 of the item frames read so far, the manifest's payload excluded (see the writer).
    pub(crate) fn digest_before_manifest(&self) -> String {
        hex::encode(self.hash.clone().finish().as_ref())
    }

    /// True when every byte of the file was read and opened.
    pub(crate) fn at_end(&mut self) -> Result<bool, BackupError> {
        Ok(self.finished && self.pos == self.plain.len())
    }
}
