//! Sandbox platform: the person's backup as an opaque blob (备份托管), issue 14. The platform keeps the
//! sealed backup file (`docs/formats.md` § 11: end-to-end encrypted under the recovery code) so a new phone
//! can fetch it; it cannot read it and never tries to. Parts keep every request (and the phone's memory)
//! small and make an interrupted upload resumable.
//!
//! * `PUT /v1/backup/parts/{upload}/{n}` (a device): the bytes of part `n` (0-based, ≤ [`PART_BYTES`]) of
//!   the upload `upload` (32 hex digits, the phone's choice). Sending a part again replaces it.
//! * `POST /v1/backup/commit` `{upload, parts, bytes, sha256}`: every part present, the sizes add up, the
//!   SHA-256 of the joined parts matches, the total within [`MAX_BLOB_BYTES`] → it becomes the account's
//!   backup (the previous one is dropped).
//! * `GET /v1/backup` → `{upload, parts, bytes, sha256, stored_at}` of the account's backup (404: none).
//! * `GET /v1/backup/parts/{upload}/{n}` → the bytes of a part.
//! * `GET /v1/backup/parts/{upload}` → `{parts: [{n, bytes, sha256}]}`: the parts held of that upload
//!   (committed or not), so a phone whose upload was cut short sends only the others.
//!
//! * `POST /v1/backup/generation` `{key_id, generation}`: a phone reports the generation of a backup it made
//!   or restored (its sync run does, once per new generation, whether or not the file was uploaded); the
//!   platform keeps the highest per account and backup key and answers it `{key_id, generation, reported_at}`.
//! * `GET /v1/backup/generation/{key_id}` → that record (404: none reported): what a new phone checks a
//!   backup file against before restoring it (an older file is a rollback). The platform attests only what
//!   phones told it; it is not trusted with more (docs/SECURITY.md § backup).
//!
//! The account is the person the platform verified at sign-up (`person_register`'s ID number, hashed):
//! every phone of the same person — the new one after a loss — reaches the same backup. A device with no
//! registered person has an account of its own.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{now_secs, sha256_hex, ApiError, DeviceAuth, SharedState};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS backup_parts (
    account TEXT NOT NULL,
    upload TEXT NOT NULL,
    n INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    -- How many times the part was received (tests: a resumed upload sends no part twice).
    puts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account, upload, n)
);
CREATE TABLE IF NOT EXISTS backup_blobs (
    account TEXT PRIMARY KEY,
    upload TEXT NOT NULL,
    parts INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    stored_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS backup_generations (
    account TEXT NOT NULL,
    key_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (account, key_id)
);";

/// Largest part.
pub const PART_BYTES: usize = 1024 * 1024;
/// Largest backup an account may keep here (the sandbox's quota).
pub const MAX_BLOB_BYTES: u64 = 256 * 1024 * 1024;
const MAX_PARTS: u32 = (MAX_BLOB_BYTES / PART_BYTES as u64) as u32;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/backup/parts/{upload}/{n}", get(get_part).put(put_part).layer(DefaultBodyLimit::max(PART_BYTES)))
        .route("/v1/backup/parts/{upload}", get(list_parts))
        .route("/v1/backup/commit", post(commit))
        .route("/v1/backup", get(latest))
        .route("/v1/backup/generation", post(report_generation))
        .route("/v1/backup/generation/{key_id}", get(attested_generation))
}

/// The account of the calling device: its registered person, else the device itself.
fn account(tx: &rusqlite::Connection, device: &str) -> Result<String, ApiError> {
    Ok(match crate::counter::registered_id_number(tx, device)? {
        Some(id) => format!("person:{}", sha256_hex(id.to_ascii_uppercase().as_bytes())),
        None => format!("device:{device}"),
    })
}

fn check_upload(upload: &str, n: u32) -> Result<(), ApiError> {
    if upload.len() != 32 || !upload.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("upload", "32 hex digits", "上传标识应为 32 位十六进制数"));
    }
    if n >= MAX_PARTS {
        return Err(too_large());
    }
    Ok(())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a backup kept here may have at most {MAX_BLOB_BYTES} bytes"),
        format!("托管的备份最大 {} MB", MAX_BLOB_BYTES / 1024 / 1024),
    )
}

async fn put_part(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    Path((upload, n)): Path<(String, u32)>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    check_upload(&upload, n)?;
    if bytes.is_empty() || bytes.len() > PART_BYTES {
        return Err(ApiError::invalid("part", "1 byte to 1 MiB", "每段 1 字节至 1 MiB"));
    }
    st.with_db(|c| {
        let acct = account(c, &dev.device_id)?;
        c.execute(
            "INSERT INTO backup_parts (account, upload, n, bytes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account, upload, n) DO UPDATE SET bytes = excluded.bytes, puts = puts + 1",
            params![acct, upload.to_ascii_lowercase(), n, bytes.as_ref()],
        )?;
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generation {
    key_id: String,
    generation: u64,
}

fn check_key_id(key_id: &str) -> Result<String, ApiError> {
    if key_id.len() != 32 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("key_id", "32 hex digits", "备份密钥标识应为 32 位十六进制数"));
    }
    Ok(key_id.to_ascii_lowercase())
}

fn kept_generation(c: &rusqlite::Connection, acct: &str, key_id: &str) -> Result<Option<Value>, ApiError> {
    Ok(c.query_row(
        "SELECT generation, reported_at FROM backup_generations WHERE account = ?1 AND key_id = ?2",
        params![acct, key_id],
        |r| Ok(json!({ "key_id": key_id, "generation": r.get::<_, i64>(0)?, "reported_at": r.get::<_, i64>(1)? })),
    )
    .optional()?)
}

async fn report_generation(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<Generation>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req.map_err(|e| ApiError::invalid("body", &e.body_text(), "请求内容格式不正确"))?;
    let key_id = check_key_id(&req.key_id)?;
    if req.generation == 0 || req.generation > i64::MAX as u64 {
        return Err(ApiError::invalid("generation", "1 or more", "备份代数应为正整数"));
    }
    let v = st.with_db(|c| {
        let acct = account(c, &dev.device_id)?;
        // Only ever up: a lower report (an older phone, a replayed request) changes nothing.
        c.execute(
            "INSERT INTO backup_generations (account, key_id, generation, reported_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account, key_id) DO UPDATE SET generation = excluded.generation,
                 reported_at = excluded.reported_at WHERE excluded.generation > generation",
            params![acct, key_id, req.generation as i64, now_secs()],
        )?;
        kept_generation(c, &acct, &key_id)?.ok_or_else(|| ApiError::not_found("backup generation"))
    })?;
    Ok(Json(v))
}

async fn attested_generation(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    Path(key_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key_id = check_key_id(&key_id)?;
    let v = st.with_db(|c| {
        let acct = account(c, &dev.device_id)?;
        kept_generation(c, &acct, &key_id)?.ok_or_else(|| ApiError::not_found("backup generation"))
    })?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Commit {
    upload: String,
    parts: u32,
    bytes: u64,
    sha256: String,
}

async fn commit(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<Commit>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req.map_err(|e| ApiError::invalid("body", &e.body_text(), "请求内容格式不正确"))?;
    if req.parts == 0 {
        return Err(ApiError::invalid("parts", "at least one part", "至少一段"));
    }
    check_upload(&req.upload, req.parts - 1)?;
    if req.bytes > MAX_BLOB_BYTES {
        return Err(too_large());
    }
    let upload = req.upload.to_ascii_lowercase();
    let v = st.with_db(|c| {
        let tx = c.transaction()?;
        let acct = account(&tx, &dev.device_id)?;
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut total = 0u64;
        {
            let mut stmt =
                tx.prepare("SELECT n, bytes FROM backup_parts WHERE account = ?1 AND upload = ?2 ORDER BY n")?;
            let mut rows = stmt.query(params![acct, upload])?;
            let mut expect = 0u32;
            while let Some(r) = rows.next()? {
                let n: u32 = r.get(0)?;
                if n != expect {
                    break;
                }
                let b: Vec<u8> = r.get(1)?;
                total += b.len() as u64;
                hash.update(&b);
                expect += 1;
            }
            if expect != req.parts {
                return Err(ApiError::invalid("parts", "a part is missing", "缺少分段，请重新上传"));
            }
        }
        if total != req.bytes || hex::encode(hash.finish()) != req.sha256.to_ascii_lowercase() {
            return Err(ApiError::invalid(
                "sha256",
                "the parts do not add up to the file",
                "分段与文件不符，请重新上传",
            ));
        }
        let now = now_secs();
        // The previous backup's parts go; this one's stay (and parts beyond `parts` are dropped).
        tx.execute(
            "DELETE FROM backup_parts WHERE account = ?1 AND (upload <> ?2 OR n >= ?3)",
            params![acct, upload, req.parts],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO backup_blobs (account, upload, parts, bytes, sha256, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![acct, upload, req.parts, req.bytes as i64, req.sha256.to_ascii_lowercase(), now],
        )?;
        tx.commit()?;
        Ok(json!({ "upload": upload, "parts": req.parts, "bytes": req.bytes,
                   "sha256": req.sha256.to_ascii_lowercase(), "stored_at": now }))
    })?;
    Ok(Json(v))
}

async fn latest(State(st): State<SharedState>, dev: DeviceAuth) -> Result<Json<Value>, ApiError> {
    let v = st.with_db(|c| {
        let acct = account(c, &dev.device_id)?;
        c.query_row(
            "SELECT upload, parts, bytes, sha256, stored_at FROM backup_blobs WHERE account = ?1",
            [acct],
            |r| {
                Ok(json!({ "upload": r.get::<_, String>(0)?, "parts": r.get::<_, i64>(1)?, "bytes": r.get::<_, i64>(2)?,
                           "sha256": r.get::<_, String>(3)?, "stored_at": r.get::<_, i64>(4)? }))
            },
        )
        .optional()?
        .ok_or_else(|| ApiError::not_found("backup"))
    })?;
    Ok(Json(v))
}

async fn list_parts(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    Path(upload): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_upload(&upload, 0)?;
    let parts = st.with_db(|c| {
        let acct = account(c, &dev.device_id)?;
        let mut stmt =
            c.prepare("SELECT n, bytes FROM backup_parts WHERE account = ?1 AND upload = ?2 ORDER BY n LIMIT ?3")?;
        let rows = stmt.query_map(params![acct, upload.to_ascii_lowercase(), MAX_PARTS], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (n, b) = r?;
            out.push(json!({ "n": n, "bytes": b.len(), "sha256": sha256_hex(&b) }));
        }
        Ok(out)
    })?;
    Ok(Json(json!({ "parts": parts })))
}

/// How many times each part of the account's committed backup was received (tests: 1 each after a
/// resumed upload).
pub fn part_puts(st: &SharedState, device: &str) -> Result<Vec<u32>, ApiError> {
    st.with_db(|c| {
        let acct = account(c, device)?;
        let mut stmt = c.prepare(
            "SELECT p.puts FROM backup_parts p JOIN backup_blobs b ON b.account = p.account AND b.upload = p.upload
             WHERE p.account = ?1 ORDER BY p.n",
        )?;
        let rows = stmt.query_map([acct], |r| r.get::<_, u32>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })
}

async fn get_part(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    Path((upload, n)): Path<(String, u32)>,
) -> Result<Vec<u8>, ApiError> {
    check_upload(&upload, n)?;
    st.with_db(|c| {
        let acct = account(c, &dev.device_id)?;
        c.query_row(
            "SELECT p.bytes FROM backup_parts p JOIN backup_blobs b ON b.account = p.account AND b.upload = p.upload
             WHERE p.account = ?1 AND p.upload = ?2 AND p.n = ?3",
            params![acct, upload.to_ascii_lowercase(), n],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| ApiError::not_found("backup part"))
    })
}

/// Every blob byte the platform holds for the account of `device` (tests: it is only ciphertext).
pub fn stored_bytes(st: &SharedState, device: &str) -> Result<Vec<u8>, ApiError> {
    st.with_db(|c| {
        let acct = account(c, device)?;
        let mut stmt = c.prepare(
            "SELECT p.bytes FROM backup_parts p JOIN backup_blobs b ON b.account = p.account AND b.upload = p.upload
             WHERE p.account = ?1 ORDER BY p.n",
        )?;
        let rows = stmt.query_map([acct], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(&r?);
        }
        Ok(out)
    })
}
