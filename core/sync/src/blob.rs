//! The backup kept on the platform as an opaque blob (备份托管): the sealed backup file
//! (`zhangban-backup`, end-to-end encrypted under the recovery code) uploaded in parts and fetched again on
//! a new phone. The platform cannot read it; this module does not either — it moves bytes and checks
//! their SHA-256 (`docs/platform-api.md` § Backup blob).
//!
//! Parts of [`PART_BYTES`] keep every request, and the phone's memory, small (one part at a time) and let an
//! interrupted transfer be repeated part by part. An upload's id is the start of the file's SHA-256, so an
//! upload of the same file cut short (connection lost, app killed, platform restarted) resumes: the phone
//! asks which parts the platform holds (size and SHA-256 each) and sends only the others — no state kept on
//! the phone. A download is written to `<path>.part` and renamed into place only when every part arrived and
//! the SHA-256 of the whole matches what the platform committed.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::PlatformClient;
use crate::store::Store;
use crate::{Error, Result};
use zhangban_backup::{BackupError, BackupInfo, BackupMark};

/// Bytes per part (the platform's limit; the client's response bound is larger).
pub const PART_BYTES: usize = 1024 * 1024;
/// Largest blob this client uploads or accepts (the platform may keep less).
pub const MAX_BLOB_BYTES: u64 = 256 * 1024 * 1024;

/// A backup blob the platform holds for this person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BlobInfo {
    /// The upload's id (32 hex digits).
    pub upload: String,
    pub parts: u32,
    pub bytes: u64,
    /// SHA-256 of the whole blob, hex.
    pub sha256: String,
    /// When the platform stored it, Unix seconds.
    pub stored_at: i64,
}

fn token(store: &Store) -> Result<String> {
    super::registration(store)?.map(|r| r.token).ok_or_else(|| {
        Error::validation("device", "本机尚未在平台注册：请先联网注册", "register this phone with the platform first")
    })
}

fn too_large() -> Error {
    Error::validation(
        "path",
        "备份文件过大，无法托管到平台：请改存到文件或云盘",
        "the backup file is too large to keep on the platform: save it to a file or cloud drive instead",
    )
}

fn bad(what: &str) -> Error {
    Error::Network(format!("invalid {what} from the platform"))
}

/// The platform's answer about a backup key's generation.
#[derive(Debug, Clone, Deserialize)]
struct AttestedGeneration {
    key_id: String,
    generation: u64,
}

/// A part the platform holds of an upload (`GET /v1/backup/parts/{upload}`).
#[derive(Debug, Clone, Deserialize)]
struct HeldPart {
    n: u32,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct HeldParts {
    parts: Vec<HeldPart>,
}

/// Reads up to `buf.len()` bytes (less only at the end of the file).
fn read_part(file: &mut fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// What [`PlatformClient::upload_backup_resuming`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    pub blob: BlobInfo,
    /// Parts sent by this call; the others were held by the platform already (an interrupted upload).
    pub parts_sent: u32,
}

impl PlatformClient {
    /// Uploads the sealed backup file at `path` as this person's blob on the platform (replacing the
    /// previous one once complete). An upload of the same file that was cut short resumes: parts the
    /// platform already holds (same size and SHA-256) are not sent again.
    pub async fn upload_backup(&self, store: &Store, path: &Path) -> Result<BlobInfo> {
        Ok(self.upload_backup_resuming(store, path).await?.blob)
    }

    /// [`PlatformClient::upload_backup`], saying how many parts it sent.
    pub async fn upload_backup_resuming(&self, store: &Store, path: &Path) -> Result<UploadReport> {
        let token = token(store)?;
        let mut file =
            fs::File::open(path).map_err(|e| Error::validation("path", "无法读取备份文件", e.to_string()))?;
        let bytes = file.metadata()?.len();
        if bytes == 0 || bytes > MAX_BLOB_BYTES {
            return Err(too_large());
        }
        // First pass: the whole file's SHA-256, whose start is the upload's id (the same file, the same
        // upload: that is what lets a cut-short upload resume).
        let mut buf = vec![0u8; PART_BYTES];
        let mut hash = digest::Context::new(&digest::SHA256);
        loop {
            let n = read_part(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        let sha256 = hex::encode(hash.finish());
        let upload = sha256[..32].to_string();
        let held: HashMap<u32, HeldPart> =
            match self.get_json::<HeldParts>(&format!("/v1/backup/parts/{upload}"), Some(&token)).await {
                Ok(h) if h.parts.len() as u64 <= MAX_BLOB_BYTES / PART_BYTES as u64 => {
                    h.parts.into_iter().map(|p| (p.n, p)).collect()
                }
                Ok(_) => return Err(bad("list of backup parts")),
                // A platform that keeps no parts of this upload (or does not list them): send every part.
                Err(Error::Rejected { status: 404, .. }) => HashMap::new(),
                Err(e) => return Err(e),
            };
        // Second pass: every part the platform does not hold as it is here.
        file = fs::File::open(path)?;
        let (mut parts, mut sent, mut total) = (0u32, 0u32, 0u64);
        let mut whole = digest::Context::new(&digest::SHA256);
        loop {
            let n = read_part(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            whole.update(&buf[..n]);
            let part_sha = hex::encode(digest::digest(&digest::SHA256, &buf[..n]));
            let kept =
                held.get(&parts).is_some_and(|h| h.bytes == n as u64 && h.sha256.eq_ignore_ascii_case(&part_sha));
            if !kept {
                let req = self
                    .http()
                    .request(reqwest::Method::PUT, &format!("/v1/backup/parts/{upload}/{parts}"))
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(buf[..n].to_vec());
                self.send(req).await?;
                sent += 1;
            }
            parts += 1;
        }
        if total != bytes || hex::encode(whole.finish()) != sha256 {
            return Err(Error::validation(
                "path",
                "备份文件在上传过程中被改动：请重新上传",
                "the backup file changed during the upload: upload it again",
            ));
        }
        let body = json!({ "upload": upload, "parts": parts, "bytes": bytes, "sha256": sha256 });
        let blob = self.post_json("/v1/backup/commit", &body, Some(&token), None).await?;
        Ok(UploadReport { blob, parts_sent: sent })
    }

    /// Tells the platform that this person's backups under `mark.key_id` reached `mark.generation` (the
    /// platform keeps the highest it was told); answers the generation it keeps.
    pub async fn report_backup_generation(&self, store: &Store, mark: &BackupMark) -> Result<u64> {
        let body = json!({ "key_id": mark.key_id, "generation": mark.generation });
        let kept: AttestedGeneration =
            self.post_json("/v1/backup/generation", &body, Some(&token(store)?), None).await?;
        Ok(kept.generation)
    }

    /// The highest backup generation the person's phones reported for backup key `key_id` (hex), `None`
    /// when none was: what a new phone checks a backup file against before restoring it
    /// (`zhangban_backup::check_not_older`).
    pub async fn attested_backup_generation(&self, store: &Store, key_id: &str) -> Result<Option<u64>> {
        if key_id.len() != 32 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::validation("key_id", "备份密钥标识不正确", "a backup key id is 32 hex digits"));
        }
        match self
            .get_json::<AttestedGeneration>(&format!("/v1/backup/generation/{key_id}"), Some(&token(store)?))
            .await
        {
            Ok(a) if a.key_id.eq_ignore_ascii_case(key_id) => Ok(Some(a.generation)),
            Ok(_) => Err(bad("backup generation")),
            Err(Error::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Backup files handed to this phone (one, or a full backup and its increments, in any order), checked
    /// before the code is asked for: their headers, then the newest one's generation against this phone's
    /// and the platform's attested one (`OlderBackup`: a rollback). No file is removed. Offline: the
    /// `Network` error (as `BackupError::Store`).
    pub async fn check_backup_files(&self, store: &Store, paths: &[PathBuf]) -> Result<BackupInfo, BackupError> {
        let (_, info) = zhangban_backup::newest_file(paths)?;
        let attested = self.attested_backup_generation(store, &info.key_id).await?;
        zhangban_backup::check_not_older(store, &info, attested)?;
        Ok(info)
    }

    /// [`PlatformClient::download_backup`], then the file checked like [`PlatformClient::check_backup_files`]
    /// and accepted (`zhangban_backup::accept_download`: an older one is `OlderBackup` and removed).
    pub async fn download_backup_checked(&self, store: &Store, path: &Path) -> Result<BlobInfo, BackupError> {
        let blob = self.download_backup(store, path).await?;
        let key_id = match zhangban_backup::inspect_backup(path) {
            Ok(i) => i.key_id,
            Err(e) => {
                let _ = fs::remove_file(path);
                return Err(e);
            }
        };
        let attested = self.attested_backup_generation(store, &key_id).await?;
        zhangban_backup::accept_download(store, path, attested)?;
        Ok(blob)
    }

    /// The blob the platform holds for this person, if any.
    pub async fn backup_blob(&self, store: &Store) -> Result<Option<BlobInfo>> {
        match self.get_json::<BlobInfo>("/v1/backup", Some(&token(store)?)).await {
            Ok(b) => Ok(Some(b)),
            Err(Error::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads this person's blob into `path` (created or replaced only when every part arrived and
    /// the whole matches its SHA-256). `NotFound` when the platform holds none.
    pub async fn download_backup(&self, store: &Store, path: &Path) -> Result<BlobInfo> {
        let token = token(store)?;
        let info = self.backup_blob(store).await?.ok_or_else(|| Error::not_found("backup on the platform"))?;
        let well_formed = info.upload.len() == 32 && info.upload.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed || info.bytes > MAX_BLOB_BYTES || info.parts as u64 > MAX_BLOB_BYTES / PART_BYTES as u64 {
            return Err(bad("backup listing"));
        }
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".part");
        let part_path = path.with_file_name(name);
        let result = async {
            let mut out = fs::File::create(&part_path)?;
            let mut hash = digest::Context::new(&digest::SHA256);
            let mut total = 0u64;
            for n in 0..info.parts {
                let req = self
                    .http()
                    .request(reqwest::Method::GET, &format!("/v1/backup/parts/{}/{n}", info.upload))
                    .bearer_auth(&token);
                let b = self.send(req).await?;
                total += b.len() as u64;
                if b.len() > PART_BYTES || total > info.bytes {
                    return Err(bad("backup part"));
                }
                hash.update(&b);
                out.write_all(&b)?;
            }
            if total != info.bytes || hex::encode(hash.finish()) != info.sha256.to_ascii_lowercase() {
                return Err(bad("backup (its parts do not match its digest)"));
            }
            out.sync_all()?;
            drop(out);
            fs::rename(&part_path, path)?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&part_path);
        }
        result.map(|()| info)
    }
}
