//! The backup kept on the platform as an opaque blob (备份托管): the sealed backup file
//! (`zhangban-backup`, end-to-end encrypted under the recovery code) uploaded in parts and fetched again on
//! a new phone. The platform cannot read it; this module does not either — it moves bytes and checks
//! their SHA-256 (`docs/platform-api.md` § Backup blob).
//!
//! Parts of [`PART_BYTES`] keep every request, and the phone's memory, small (one part at a time) and let an
//! interrupted transfer be repeated part by part. A download is written to `<path>.part` and renamed into
//! place only when every part arrived and the SHA-256 of the whole matches what the platform committed.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::PlatformClient;
use crate::store::Store;
use crate::{Error, Result};

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

impl PlatformClient {
    /// Uploads the sealed backup file at `path` as this person's blob on the platform (replacing the
    /// previous one once complete).
    pub async fn upload_backup(&self, store: &Store, path: &Path) -> Result<BlobInfo> {
        let token = token(store)?;
        let mut file =
            fs::File::open(path).map_err(|e| Error::validation("path", "无法读取备份文件", e.to_string()))?;
        let bytes = file.metadata()?.len();
        if bytes == 0 || bytes > MAX_BLOB_BYTES {
            return Err(too_large());
        }
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| Error::Internal("random generator failed".into()))?;
        let upload = hex::encode(id);
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut buf = vec![0u8; PART_BYTES];
        let mut parts = 0u32;
        loop {
            let mut n = 0;
            while n < buf.len() {
                match file.read(&mut buf[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            let req = self
                .http()
                .request(reqwest::Method::PUT, &format!("/v1/backup/parts/{upload}/{parts}"))
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(buf[..n].to_vec());
            self.send(req).await?;
            parts += 1;
        }
        let body = json!({ "upload": upload, "parts": parts, "bytes": bytes, "sha256": hex::encode(hash.finish()) });
        self.post_json("/v1/backup/commit", &body, Some(&token), None).await
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
