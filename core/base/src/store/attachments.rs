//! Encrypted attachment files (photos of materials), streamed in chunks.
//!
//! File `attachments/<id>.zba`:
//! `"ZBA1" || chunk_size u32 BE || id (36 ASCII bytes)`, then chunks, each
//! `len u32 BE || sealed(version || nonce || ciphertext || tag)` with associated data
//! `id || chunk index u64 BE || last flag u8`, so chunks cannot be reordered, moved to another file or
//! dropped from the end. Written to `<id>.tmp`, fsynced, renamed: a file is whole or absent.
//!
//! Every chunk but the last holds exactly [`CHUNK_SIZE`] bytes, so chunk `i` starts at a known place and
//! the size alone says which chunk is the last: [`read_range`] opens only the chunks a range needs.
//!
//! After the last chunk the file is padded with zero bytes to its bucket (`metadata::padded_len`), so its
//! length does not tell the attachment's exact size (finding 11). A file written before padding (no
//! padding) still reads; any other length, or a padding byte that is not zero, is `Corrupted`.

use std::fs;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ring::aead::LessSafeKey;
use ring::digest;
use zeroize::Zeroizing;

use crate::crypto;
use crate::{Error, Result};

pub(crate) const DIR: &str = "attachments";
const MAGIC: &[u8; 4] = b"ZBA1";
/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Largest attachment accepted (a phone photo or a scanned PDF).
pub const MAX_ATTACHMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest range [`read_range`] returns at once.
pub const MAX_RANGE: usize = 4 * 1024 * 1024;
/// Bytes of a stored chunk: length prefix, then the sealed chunk.
const STRIDE: u64 = (4 + CHUNK_SIZE + crypto::OVERHEAD) as u64;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AttachmentInfo {
    pub id: String,
    pub subject: String,
    pub name: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

pub(crate) fn file_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(DIR).join(format!("{id}.zba"))
}

/// Whether `id` has the form the store gives attachments (a UUID: hex digits and dashes), so it can name a
/// file only inside the attachments folder (`../x`, `/x`, `a/b` cannot).
pub(crate) fn is_attachment_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

pub(crate) fn remove_temporaries(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

fn chunk_aad(id: &str, index: u64, last: bool) -> Vec<u8> {
    let mut a = Vec::with_capacity(id.len() + 9);
    a.extend_from_slice(id.as_bytes());
    a.extend_from_slice(&index.to_be_bytes());
    a.push(last as u8);
    a
}

/// Length of the file of an attachment of `size` plaintext bytes before its padding.
pub(crate) fn raw_len(id: &str, size: u64) -> u64 {
    let final_index = last_index(size);
    let final_plain = size - final_index * CHUNK_SIZE as u64;
    (8 + id.len()) as u64 + final_index * STRIDE + 4 + final_plain + crypto::OVERHEAD as u64
}

/// Index of the last chunk of a file of `size` plaintext bytes (an empty file has one empty chunk).
fn last_index(size: u64) -> u64 {
    size.saturating_sub(1) / CHUNK_SIZE as u64
}

/// Opens chunk `index`; whether it is the last one is known from the size, and authenticated.
fn open_chunk(key: &LessSafeKey, id: &str, index: u64, last: bool, sealed: Vec<u8>) -> Result<Zeroizing<Vec<u8>>> {
    crypto::open_owned(key, &chunk_aad(id, index, last), sealed).ok_or_else(|| Error::corrupted("attachments", id))
}

/// Opens the file and checks its header (magic, chunk size, id); the reader is left after it.
fn open_file(dir: &Path, id: &str) -> Result<BufReader<fs::File>> {
    let corrupted = || Error::corrupted("attachments", id);
    let file = fs::File::open(file_path(dir, id)).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::corrupted("attachments", format!("{id} (file missing)")),
        _ => e.into(),
    })?;
    let mut r = BufReader::new(file);
    let mut header = [0u8; 8];
    r.read_exact(&mut header).map_err(|_| corrupted())?;
    if &header[..4] != MAGIC || u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize != CHUNK_SIZE
    {
        return Err(corrupted());
    }
    let mut file_id = vec![0u8; id.len()];
    r.read_exact(&mut file_id).map_err(|_| corrupted())?;
    if file_id != id.as_bytes() {
        return Err(corrupted());
    }
    Ok(r)
}

/// Reads until `buf` is full or the input ends; returns bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

pub(crate) fn write(
    dir: &Path,
    key: &LessSafeKey,
    subject: &str,
    name: &str,
    reader: &mut dyn Read,
) -> Result<AttachmentInfo> {
    write_with_id(dir, key, &uuid::Uuid::new_v4().to_string(), subject, name, reader)
}

/// [`write`] under a given id (a restore keeps the ids the records refer to).
pub(crate) fn write_with_id(
    dir: &Path,
    key: &LessSafeKey,
    id: &str,
    subject: &str,
    name: &str,
    reader: &mut dyn Read,
) -> Result<AttachmentInfo> {
    let id = id.to_string();
    let folder = dir.join(DIR);
    fs::create_dir_all(&folder)?;
    let tmp = folder.join(format!("{id}.tmp"));
    let result = (|| -> Result<AttachmentInfo> {
        let file = fs::File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        w.write_all(MAGIC)?;
        w.write_all(&(CHUNK_SIZE as u32).to_be_bytes())?;
        w.write_all(id.as_bytes())?;
        let mut sha = digest::Context::new(&digest::SHA256);
        let mut size = 0u64;
        // Read one chunk ahead so the last chunk can be flagged.
        let mut cur = vec![0u8; CHUNK_SIZE];
        let mut next = vec![0u8; CHUNK_SIZE];
        let mut cur_len = read_full(reader, &mut cur)?;
        let mut index = 0u64;
        loop {
            let next_len = if cur_len == CHUNK_SIZE { read_full(reader, &mut next)? } else { 0 };
            let last = next_len == 0;
            size += cur_len as u64;
            if size > MAX_ATTACHMENT_BYTES {
                return Err(Error::validation(
                    "attachment",
                    "附件过大（最大 64 MB）",
                    "attachment too large (64 MB at most)",
                ));
            }
            sha.update(&cur[..cur_len]);
            let sealed = crypto::seal(key, &chunk_aad(&id, index, last), &cur[..cur_len])?;
            w.write_all(&(sealed.len() as u32).to_be_bytes())?;
            w.write_all(&sealed)?;
            if last {
                break;
            }
            std::mem::swap(&mut cur, &mut next);
            cur_len = next_len;
            index += 1;
        }
        let raw = raw_len(&id, size);
        let pad = super::metadata::padded_len(raw) - raw;
        let zeros = [0u8; 4096];
        let mut left = pad;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            w.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        let file = w.into_inner().map_err(|e| Error::Io(e.to_string()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, file_path(dir, &id))?;
        if let Ok(d) = fs::File::open(&folder) {
            let _ = d.sync_all();
        }
        Ok(AttachmentInfo {
            id: id.clone(),
            subject: subject.to_string(),
            name: name.to_string(),
            size,
            sha256: hex::encode(sha.finish().as_ref()),
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn read(dir: &Path, key: &LessSafeKey, id: &str, expected_size: u64, writer: &mut dyn Write) -> Result<u64> {
    let corrupted = || Error::corrupted("attachments", id);
    let mut r = open_file(dir, id)?;
    let max_sealed = CHUNK_SIZE + crypto::OVERHEAD;
    let final_index = last_index(expected_size);
    let mut total = 0u64;
    let mut index = 0u64;
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).map_err(|_| corrupted())?;
        let len = u32::from_be_bytes(len) as usize;
        if !(crypto::OVERHEAD..=max_sealed).contains(&len) {
            return Err(corrupted());
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).map_err(|_| corrupted())?;
        // The last flag is authenticated, and the size says which chunk carries it: one opening each.
        let last = index >= final_index;
        let plain = open_chunk(key, id, index, last, buf)?;
        total += plain.len() as u64;
        if total > expected_size {
            return Err(corrupted());
        }
        writer.write_all(&plain)?;
        if last {
            break;
        }
        index += 1;
    }
    if total != expected_size {
        return Err(corrupted());
    }
    // The padding: none (a file of before), or exactly up to the bucket, every byte zero.
    let raw = raw_len(id, expected_size);
    let mut rest = [0u8; 4096];
    let mut padding = 0u64;
    loop {
        let n = r.read(&mut rest)?;
        if n == 0 {
            break;
        }
        if rest[..n].iter().any(|b| *b != 0) {
            return Err(corrupted());
        }
        padding += n as u64;
        if raw + padding > super::metadata::padded_len(raw) {
            return Err(corrupted());
        }
    }
    if padding != 0 && raw + padding != super::metadata::padded_len(raw) {
        return Err(corrupted());
    }
    Ok(total)
}

/// Plaintext bytes `offset .. offset + len` (fewer when the file ends first) of an attachment of `size`
/// bytes, reading and opening only the chunks that hold them: an upload resumes in the middle of a large
/// file without decrypting it from the start or holding it in memory. The file's length is checked
/// against `size` and every chunk opened is authenticated with its index and last flag, so a truncated,
/// extended, reordered or altered file reads as `Corrupted`.
pub(crate) fn read_range(
    dir: &Path,
    key: &LessSafeKey,
    id: &str,
    size: u64,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>> {
    let corrupted = || Error::corrupted("attachments", id);
    if len > MAX_RANGE {
        return Err(Error::validation("len", "一次读取过多（最多 4 MB）", "range too long (4 MB at most)"));
    }
    if offset > size {
        return Err(Error::validation("offset", "超出附件末尾", "offset past the end of the attachment"));
    }
    if size > MAX_ATTACHMENT_BYTES {
        return Err(corrupted());
    }
    let mut r = open_file(dir, id)?;
    let header = (8 + id.len()) as u64;
    let final_index = last_index(size);
    let final_plain = size - final_index * CHUNK_SIZE as u64;
    let expected_len = raw_len(id, size);
    let file_len = r.get_ref().metadata()?.len();
    // Padded to its bucket, or (a file of before) not padded.
    if file_len != expected_len && file_len != super::metadata::padded_len(expected_len) {
        return Err(corrupted());
    }
    let end = offset.saturating_add(len as u64).min(size);
    if end == offset {
        return Ok(Vec::new());
    }
    let (first, final_needed) = (offset / CHUNK_SIZE as u64, (end - 1) / CHUNK_SIZE as u64);
    let mut out = if first == final_needed { Vec::new() } else { Vec::with_capacity((end - offset) as usize) };
    for index in first..=final_needed {
        let last = index == final_index;
        let start = index * CHUNK_SIZE as u64;
        let plain_len = if last { final_plain } else { CHUNK_SIZE as u64 } as usize;
        r.seek(SeekFrom::Start(header + index * STRIDE))?;
        let mut prefix = [0u8; 4];
        r.read_exact(&mut prefix).map_err(|_| corrupted())?;
        if u32::from_be_bytes(prefix) as usize != plain_len + crypto::OVERHEAD {
            return Err(corrupted());
        }
        let mut sealed = vec![0u8; plain_len + crypto::OVERHEAD];
        r.read_exact(&mut sealed).map_err(|_| corrupted())?;
        let mut plain = open_chunk(key, id, index, last, sealed)?;
        if plain.len() != plain_len {
            return Err(corrupted());
        }
        let from = offset.saturating_sub(start) as usize;
        let to = (end - start).min(plain_len as u64) as usize;
        if first == final_needed {
            // One chunk (the usual upload request): its buffer becomes the result. The caller gets the
            // plaintext either way; this saves a copy and the wiping of a buffer whose bytes it holds.
            let mut v = std::mem::take(&mut *plain);
            v.truncate(to);
            v.drain(..from);
            return Ok(v);
        }
        out.extend_from_slice(&plain[from..to]);
    }
    Ok(out)
}
