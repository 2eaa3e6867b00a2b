//! Sandbox platform: applications (办件). The other side of `core::sync::runner`; the API is in
//! `docs/platform-api.md`.
//!
//! * Device API (`Authorization: Bearer`): chunked resumable uploads checked by SHA-256, submission
//!   deduplicated by `Idempotency-Key` (a repeated key returns the first answer, never a second case),
//!   supplements, ratings, complaints, and events since a cursor.
//! * Clerk API (`/admin/...`, loopback peers with the `X-Admin-Token` only: see `server::admin_guard`) and [`clerk`] for the
//!   `zhangban-sandbox clerk …` command: accept, review, request supplement, suspend / resume, approve,
//!   reject, complete; [`sweep`] terminates cases whose deferred material is overdue (run on every
//!   clerk action and every events poll, so it is automatic).
//! * The signed calendar update (`GET /v1/calendar`), signed with the sandbox platform key whose public
//!   half is pinned in `core::calendar::update`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};
use zhangban_core::calendar::{self, Calendar, Rules};
use zhangban_core::cases::CaseState;

use crate::server::{now_secs, sha256_hex, ApiError, DeviceAuth, SharedState};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    client_ref TEXT NOT NULL,
    receipt TEXT NOT NULL UNIQUE,
    item_codes TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    accepted_on TEXT,
    promised_days INTEGER,
    UNIQUE (device_id, client_ref)
);
CREATE TABLE IF NOT EXISTS case_idempotency (
    device_id TEXT NOT NULL,
    key TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (device_id, key)
);
CREATE TABLE IF NOT EXISTS case_uploads (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS case_upload_chunks (
    upload_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (upload_id, offset)
);
CREATE TABLE IF NOT EXISTS case_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    client_ref TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_events_device ON case_events(device_id, seq);
CREATE TABLE IF NOT EXISTS case_deferred (
    case_id TEXT NOT NULL,
    material TEXT NOT NULL,
    due TEXT,
    supplied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (case_id, material)
);
CREATE TABLE IF NOT EXISTS case_supplements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL,
    request_id TEXT,
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS case_ratings (
    case_id TEXT PRIMARY KEY,
    score INTEGER NOT NULL,
    level TEXT NOT NULL,
    reason TEXT,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS case_complaints (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS calendar_versions (
    version INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    published_at INTEGER NOT NULL
);";

/// The sandbox platform's calendar-signing key (PKCS#8, P-256, hex; one file, also read by the reminder
/// engine's tests). Its public key is pinned in `core/base/trust/sandbox.anchors` (`calendar`). A sandbox
/// key: never a production one.
pub const CALENDAR_SIGNING_KEY_HEX: &str = include_str!("../../../core/base/trust/sandbox-calendar.pk8.hex");

/// The calendar update the sandbox serves: a sample year beyond the bundled data, carrying only the
/// fixed-by-law 元旦 (1 January). Marked as sandbox data, not a State Council notice.
pub const CALENDAR_UPDATE_VERSION: u64 = 1;
pub const CALENDAR_UPDATE_TEXT: &str = "year 2027 沙箱示例数据（非国务院通知；仅含法定元旦 1 月 1 日）\n\
note Sandbox sample: only the statutory New Year's Day; the real 2027 notice will replace it.\n\
off 2027-01-01 2027-01-01 元旦\n";

const MAX_UPLOAD: u64 = 16 * 1024 * 1024;
const MAX_CHUNK: usize = 1024 * 1024;
const MAX_EVENTS_PAGE: u32 = 500;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/uploads/{id}", get(upload_status).put(upload_chunk).layer(DefaultBodyLimit::max(MAX_CHUNK + 1024)))
        .route("/v1/cases", post(submit))
        .route("/v1/cases/{id}/supplements", post(supplement))
        .route("/v1/cases/{id}/rating", post(rating))
        .route("/v1/cases/{id}/complaints", post(complaint))
        .route("/v1/cases/{id}/urge", post(urge))
        .route("/v1/events", get(events))
        .route("/v1/calendar", get(calendar_update))
        .route("/admin/cases", get(admin_list))
        .route("/admin/cases/{id}", get(admin_get))
        .route("/admin/cases/{id}/{action}", post(admin_action))
        .route("/admin/sweep", post(admin_sweep))
        .route("/admin/stats", get(admin_stats))
}

/// The platform's date: China's (Asia/Shanghai), as the phones reckon working days; never the server's
/// own time zone (a UTC machine is a day behind from 16:00 UTC).
fn today() -> NaiveDate {
    use zhangban_core::Clock;
    zhangban_core::SystemClock.today()
}

fn bad(field: &str, en: &str, zh: &str) -> ApiError {
    ApiError::invalid(field, en, zh)
}

fn parse_date(field: &str, s: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    s.map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(field, "must be YYYY-MM-DD", "须为 YYYY-MM-DD")))
        .transpose()
}

fn idem_key(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .ok_or_else(|| bad("Idempotency-Key", "header required (1–128 visible ASCII characters)", "须提供幂等键"))
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad("body", &format!("not JSON: {e}"), "请求内容不是合法的 JSON"))
}

/// What an idempotency key is bound to: the route and the body (`request_sha256` in the stored answer).
fn fingerprint(route: &str, body: &Value) -> String {
    sha256_hex(format!("{route}\n{body}").as_bytes())
}

/// Runs `f` once per (device, key): a repeated key with the same route and body gets the stored answer;
/// the same key on another route or with another body is refused (`422 idempotency_key_reused`), so a key
/// cannot replay one operation's answer for a different one.
fn once(
    conn: &mut Connection,
    device: &str,
    key: &str,
    request_sha256: &str,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let tx = conn.transaction()?;
    let prior: Option<String> = tx
        .prepare_cached("SELECT response FROM case_idempotency WHERE device_id = ?1 AND key = ?2")?
        .query_row([device, key], |r| r.get(0))
        .optional()?;
    if let Some(p) = prior {
        let mut v: Value = serde_json::from_str(&p).map_err(ApiError::internal)?;
        if v.get("request_sha256").and_then(Value::as_str).is_some_and(|h| h != request_sha256) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request (route or body)",
                "该幂等键已用于另一个请求（路径或内容不同）",
            ));
        }
        v["replayed"] = json!(true);
        return Ok(v);
    }
    let mut v = f(&tx)?;
    v["request_sha256"] = json!(request_sha256);
    tx.prepare_cached("INSERT INTO case_idempotency (device_id, key, response) VALUES (?1, ?2, ?3)")?
        .execute(params![device, key, v.to_string()])?;
    tx.commit()?;
    Ok(v)
}

fn emit(tx: &Connection, case_id: &str, kind: &str, actor: &str, data: Value) -> Result<i64, ApiError> {
    let (device, client_ref): (String, String) =
        tx.query_row("SELECT device_id, client_ref FROM cases WHERE id = ?1", [case_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    tx.execute(
        "INSERT INTO case_events (case_id, device_id, client_ref, kind, at, actor, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![case_id, device, client_ref, kind, now_secs(), actor, data.to_string()],
    )?;
    let seq = tx.last_insert_rowid();
    crate::agents::relay(tx, case_id, kind, actor, &data)?;
    Ok(seq)
}

// ---- uploads ------------------------------------------------------------------------------------

fn upload_row(conn: &Connection, id: &str, device: &str) -> Result<Option<(u64, String, u64, bool)>, ApiError> {
    Ok(conn
        .prepare_cached("SELECT size, sha256, received, complete FROM case_uploads WHERE id = ?1 AND device_id = ?2")?
        .query_row([id, device], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? != 0))
        })
        .optional()?)
}

async fn upload_status(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = st.with_db(|c| upload_row(c, &id, &auth.device_id))?;
    let (size, sha256, received, complete) = row.ok_or_else(|| ApiError::not_found("upload"))?;
    Ok(Json(json!({ "upload_id": id, "size": size, "sha256": sha256, "received": received, "complete": complete })))
}

#[derive(Deserialize)]
struct ChunkQuery {
    offset: u64,
    size: u64,
    sha256: String,
}

async fn upload_chunk(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Path(id): Path<String>,
    Query(q): Query<ChunkQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if id.is_empty() || id.len() > 200 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(bad("upload_id", "letters, digits and '-' only", "只能包含字母、数字和 -"));
    }
    if q.size == 0 || q.size > MAX_UPLOAD {
        return Err(bad("size", "must be 1 byte to 16 MB", "须为 1 字节至 16 MB"));
    }
    if q.sha256.len() != 64 || !q.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("sha256", "must be 64 hex digits", "须为 64 位十六进制"));
    }
    let chunk_hash = headers.get("x-chunk-sha256").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let body_sha = sha256_hex(&body);
    if chunk_hash != body_sha {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "integrity",
            "chunk SHA-256 does not match its bytes",
            "分块校验值不符，请重新上传",
        ));
    }
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    st.with_db(|c| {
        let tx = c.transaction()?;
        let row = upload_row(&tx, &id, &auth.device_id)?;
        let (size, sha, received, complete) = match row {
            Some(r) => r,
            None => {
                tx.prepare_cached(
                    "INSERT INTO case_uploads (id, device_id, name, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![id, auth.device_id, name, q.size as i64, q.sha256])?;
                (q.size, q.sha256.clone(), 0, false)
            }
        };
        if size != q.size || sha != q.sha256 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "upload_mismatch",
                "this upload id holds another file",
                "该上传编号对应另一个文件",
            ));
        }
        if complete {
            return Ok((StatusCode::OK, Json(json!({ "received": received, "complete": true }))));
        }
        if q.offset != received {
            return Ok((StatusCode::CONFLICT, Json(json!({ "received": received, "complete": false }))));
        }
        if received + body.len() as u64 > size {
            return Err(bad("body", "chunk goes past the declared size", "分块超出文件大小"));
        }
        tx.prepare_cached("INSERT INTO case_upload_chunks (upload_id, offset, data) VALUES (?1, ?2, ?3)")?
            .execute(params![id, received as i64, body.as_ref()])?;
        let first = received == 0;
        let received = received + body.len() as u64;
        tx.prepare_cached("UPDATE case_uploads SET received = ?2 WHERE id = ?1")?
            .execute(params![id, received as i64])?;
        let mut complete = false;
        if received == size {
            // A file sent in one chunk is the chunk just checked; else hash what was stored, in order.
            let whole = if first { body_sha } else { sha256_hex(&upload_bytes(&tx, &id)?) };
            if whole != sha {
                tx.execute("DELETE FROM case_uploads WHERE id = ?1", [&id])?;
                tx.execute("DELETE FROM case_upload_chunks WHERE upload_id = ?1", [&id])?;
                tx.commit()?;
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "integrity",
                    "the whole file's SHA-256 does not match; upload discarded",
                    "文件校验值不符，已丢弃，请重新上传",
                ));
            }
            tx.prepare_cached("UPDATE case_uploads SET complete = 1 WHERE id = ?1")?.execute([&id])?;
            complete = true;
        }
        tx.commit()?;
        Ok((StatusCode::OK, Json(json!({ "received": received, "complete": complete }))))
    })
}

/// The bytes of an upload, in order.
pub fn upload_bytes(conn: &Connection, id: &str) -> Result<Vec<u8>, ApiError> {
    let mut stmt = conn.prepare_cached("SELECT data FROM case_upload_chunks WHERE upload_id = ?1 ORDER BY offset")?;
    let mut out = Vec::new();
    for chunk in stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0))? {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn check_attachments(tx: &Connection, device: &str, body: &Value) -> Result<Vec<Value>, ApiError> {
    let list = body.get("attachments").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.len() > 50 {
        return Err(bad("attachments", "at most 50", "附件最多 50 个"));
    }
    for (i, a) in list.iter().enumerate() {
        let id = a.get("upload_id").and_then(Value::as_str).unwrap_or_default();
        let sha = a.get("sha256").and_then(Value::as_str).unwrap_or_default();
        match upload_row(tx, id, device)? {
            Some((_, s, _, true)) if s == sha => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "attachment_missing",
                    format!("attachments[{i}]: upload {id} is missing, incomplete or has another hash"),
                    format!("attachments[{i}]：附件未上传完整或校验值不符"),
                ))
            }
        }
    }
    Ok(list)
}

// ---- submission and follow-ups -------------------------------------------------------------------

/// Service items and bundles of the current catalog (not its metadata entries).
fn known_items(tx: &Connection) -> Result<Vec<Value>, ApiError> {
    let (_, items) = crate::catalog::latest(tx)?;
    Ok(items
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| matches!(e.get("entry").and_then(Value::as_str), None | Some("item") | Some("bundle")))
                .filter(|e| !e.get("id").and_then(Value::as_str).unwrap_or("_").starts_with('_'))
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

/// The current catalog's service items and bundles by id, parsed once per published version: the
/// catalog is about 70 KB of JSON, and parsing it on every submission took a fifth of the CPU time of
/// the sync benchmark. Versions are only ever added ([`crate::catalog::publish`]), so the newest
/// version number names the content.
#[derive(Default)]
pub struct ItemCache(Mutex<Option<(i64, Items)>>);

/// Service items and bundles by id.
pub type Items = Arc<HashMap<String, Value>>;

impl ItemCache {
    pub fn get(&self, conn: &Connection) -> Result<Items, ApiError> {
        let version = crate::catalog::latest_version(conn)?;
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, items)) = g.as_ref() {
            if *v == version {
                return Ok(items.clone());
            }
        }
        let items: HashMap<String, Value> =
            known_items(conn)?.into_iter().filter_map(|it| Some((it.get("id")?.as_str()?.to_string(), it))).collect();
        let items = Arc::new(items);
        *g = Some((version, items.clone()));
        Ok(items)
    }
}

pub(crate) fn next_receipt(tx: &Connection) -> Result<String, ApiError> {
    let n: i64 = tx.prepare_cached("SELECT COUNT(*) FROM cases")?.query_row([], |r| r.get(0))?;
    Ok(format!("ZB{}{:06}", today().format("%Y%m%d"), n + 1))
}

async fn submit(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idem_key(&headers)?;
    let body = json_body(&body)?;
    let client_ref = body.get("client_ref").and_then(Value::as_str).unwrap_or_default().to_string();
    if client_ref.is_empty() || client_ref.len() > 64 {
        return Err(bad("client_ref", "required, at most 64 characters", "必填，最长 64 个字符"));
    }
    let title = body.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(bad("title", "1 to 200 characters", "须为 1 至 200 个字符"));
    }
    if !body.get("values").is_some_and(Value::is_object) {
        return Err(bad("values", "must be an object", "须为对象"));
    }
    let codes: Vec<String> = body
        .get("item_codes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if codes.is_empty() || codes.len() > 20 {
        return Err(bad("item_codes", "1 to 20 item codes", "须为 1 至 20 个事项编码"));
    }
    let v = st.with_db(|c| {
        once(c, &auth.device_id, &key, &fingerprint("POST /v1/cases", &body), |tx| {
            let items = st.items.get(tx)?;
            for (i, code) in codes.iter().enumerate() {
                if !items.contains_key(code) {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unknown_item",
                        format!("item_codes[{i}]: no service item {code}"),
                        format!("item_codes[{i}]：没有事项 {code}，请更新事项目录后重新选择"),
                    ));
                }
            }
            check_attachments(tx, &auth.device_id, &body)?;
            // Submitted by an agent for a principal: the mandate is checked here again (agents.rs).
            let proxy = match body.get("proxy") {
                Some(p) => Some(crate::agents::check_proxy(tx, &auth.device_id, p, &codes, &items)?),
                None => None,
            };
            // The same case submitted under another key (a reinstalled app resending): same receipt.
            let existing: Option<(String, String)> = tx
                .prepare_cached("SELECT id, receipt FROM cases WHERE device_id = ?1 AND client_ref = ?2")?
                .query_row([&auth.device_id, &client_ref], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((id, receipt)) = existing {
                let query_code: Option<String> = tx
                    .query_row("SELECT query_code FROM case_receipts WHERE case_id = ?1", [&id], |r| r.get(0))
                    .optional()?;
                return Ok(json!({ "case_id": id, "receipt": receipt, "state": "submitted",
                                  "duplicate_of_client_ref": true, "query_code": query_code }));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let receipt = next_receipt(tx)?;
            let now = now_secs();
            tx.prepare_cached(
                "INSERT INTO cases (id, device_id, client_ref, receipt, item_codes, title, body, state, submitted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'submitted', ?8)",
            )?
            .execute(params![
                id,
                auth.device_id,
                client_ref,
                receipt,
                json!(codes).to_string(),
                title,
                body.to_string(),
                now
            ])?;
            for m in body.get("deferred_materials").and_then(Value::as_array).into_iter().flatten().take(20) {
                if let Some(m) = m.as_str() {
                    tx.execute(
                        "INSERT OR IGNORE INTO case_deferred (case_id, material) VALUES (?1, ?2)",
                        params![id, m],
                    )?;
                }
            }
            if let Some(p) = &proxy {
                crate::agents::record(tx, &id, p, &title, &receipt)?;
            }
            let principal = proxy.as_ref().map(|p| p.principal_id.as_deref());
            let query_code = match principal {
                // An agent's case whose principal the platform cannot name: no query code.
                Some(None) => None,
                Some(Some(p)) => crate::counter::receipt_for_submission(tx, &id, &auth.device_id, Some(p))?,
                None => crate::counter::receipt_for_submission(tx, &id, &auth.device_id, None)?,
            };
            Ok(json!({ "case_id": id, "receipt": receipt, "state": "submitted", "submitted_at": now,
                       "query_code": query_code }))
        })
    })?;
    Ok((StatusCode::CREATED, Json(v)))
}

fn case_of_device(tx: &Connection, id: &str, device: &str) -> Result<String, ApiError> {
    tx.query_row("SELECT state FROM cases WHERE id = ?1 AND device_id = ?2", [id, device], |r| r.get(0))
        .optional()?
        .ok_or_else(|| ApiError::not_found("case"))
}

async fn supplement(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = idem_key(&headers)?;
    let body = json_body(&body)?;
    let v = st.with_db(|c| {
        once(c, &auth.device_id, &key, &fingerprint(&format!("POST /v1/cases/{id}/supplements"), &body), |tx| {
            let state = case_of_device(tx, &id, &auth.device_id)?;
            check_attachments(tx, &auth.device_id, &body)?;
            let request_id = body.get("request_id").and_then(Value::as_str);
            tx.execute(
                "INSERT INTO case_supplements (case_id, request_id, body, at) VALUES (?1, ?2, ?3, ?4)",
                params![id, request_id, body.to_string(), now_secs()],
            )?;
            if request_id.is_some() && state == "supplement_requested" {
                tx.execute("UPDATE cases SET state = 'in_review' WHERE id = ?1", [&id])?;
                emit(tx, &id, "supplement_received", "platform", json!({ "request_id": request_id }))?;
            } else {
                tx.execute("UPDATE case_deferred SET supplied = 1 WHERE case_id = ?1", [&id])?;
                emit(tx, &id, "deferred_received", "platform", json!({}))?;
            }
            Ok(json!({ "ok": true }))
        })
    })?;
    Ok(Json(v))
}

async fn rating(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = idem_key(&headers)?;
    let body = json_body(&body)?;
    let score = body
        .get("score")
        .and_then(Value::as_u64)
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| bad("score", "1 to 5", "须为 1 至 5"))?;
    let reason = body.get("reason").and_then(Value::as_str).map(str::trim).filter(|r| !r.is_empty());
    if score <= 2 && reason.is_none() {
        return Err(bad("reason", "required for the two lowest levels", "“不满意”“非常不满意”须填写原因"));
    }
    let level = body.get("level").and_then(Value::as_str).unwrap_or_default().to_string();
    let v = st.with_db(|c| {
        once(c, &auth.device_id, &key, &fingerprint(&format!("POST /v1/cases/{id}/rating"), &body), |tx| {
            let state = case_of_device(tx, &id, &auth.device_id)?;
            if state != "completed" {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_completed",
                    "a case is rated after completion",
                    "办结后才能评价",
                ));
            }
            let n = tx.execute(
                "INSERT OR IGNORE INTO case_ratings (case_id, score, level, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, score as i64, level, reason, now_secs()],
            )?;
            if n == 0 {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_rated",
                    "this case is already rated",
                    "该办件已评价",
                ));
            }
            emit(tx, &id, "rating_recorded", "platform", json!({ "score": score }))?;
            Ok(json!({ "ok": true }))
        })
    })?;
    Ok(Json(v))
}

async fn complaint(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = idem_key(&headers)?;
    let body = json_body(&body)?;
    let text = body.get("text").and_then(Value::as_str).unwrap_or_default().trim().to_string();
    if text.is_empty() || text.chars().count() > 2000 {
        return Err(bad("text", "1 to 2000 characters", "须为 1 至 2000 个字符"));
    }
    let cid = body.get("complaint_id").and_then(Value::as_str).unwrap_or(&key).to_string();
    let v = st.with_db(|c| {
        once(c, &auth.device_id, &key, &fingerprint(&format!("POST /v1/cases/{id}/complaints"), &body), |tx| {
            case_of_device(tx, &id, &auth.device_id)?;
            // A complaint id names one complaint: the same id again with another case or text is a conflict,
            // not a silent success.
            let prior: Option<(String, String)> = tx
                .query_row("SELECT case_id, text FROM case_complaints WHERE id = ?1", [&cid], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            match prior {
                Some((c, t)) if c == id && t == text => {}
                Some(_) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "complaint_id_taken",
                        "a different complaint already has this complaint_id",
                        "该反映编号已被另一条反映使用",
                    ))
                }
                None => {
                    tx.execute(
                        "INSERT INTO case_complaints (id, case_id, text, at) VALUES (?1, ?2, ?3, ?4)",
                        params![cid, id, text, now_secs()],
                    )?;
                }
            }
            emit(tx, &id, "complaint_recorded", "platform", json!({ "complaint_id": cid }))?;
            Ok(json!({ "ok": true, "complaint_id": cid }))
        })
    })?;
    Ok(Json(v))
}

/// 催办: the applicant urges a case past its promised date. Recorded once per idempotency key, with an
/// `urge_recorded` event (the 电子监察 side of the platform sees it in `/admin/cases/{id}`).
async fn urge(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = idem_key(&headers)?;
    let body = json_body(&body)?;
    let promised =
        body.get("promised_date").and_then(Value::as_str).unwrap_or_default().chars().take(10).collect::<String>();
    let v = st.with_db(|c| {
        once(c, &auth.device_id, &key, &fingerprint(&format!("POST /v1/cases/{id}/urge"), &body), |tx| {
            case_of_device(tx, &id, &auth.device_id)?;
            emit(tx, &id, "urge_recorded", "platform", json!({ "promised_date": promised }))?;
            Ok(json!({ "ok": true }))
        })
    })?;
    Ok(Json(v))
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    limit: Option<u32>,
}

async fn events(
    State(st): State<SharedState>,
    auth: DeviceAuth,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_EVENTS_PAGE);
    let list = st.with_db(|c| {
        sweep(c, today())?;
        let mut stmt = c.prepare(
            "SELECT seq, case_id, client_ref, kind, at, actor, data FROM case_events
             WHERE (device_id = ?1 OR case_id IN (SELECT case_id FROM case_followers WHERE device_id = ?1))
               AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![auth.device_id, q.since as i64, limit], |r| {
            let data: String = r.get(6)?;
            Ok(json!({
                "seq": r.get::<_, i64>(0)?, "case_id": r.get::<_, String>(1)?, "client_ref": r.get::<_, String>(2)?,
                "kind": r.get::<_, String>(3)?, "at": r.get::<_, i64>(4)?, "actor": r.get::<_, String>(5)?,
                "data": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
            }))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
    let next = list.last().and_then(|e| e["seq"].as_u64()).unwrap_or(q.since);
    Ok(Json(json!({ "events": list, "next": next })))
}

/// The newest calendar update: the last one published with [`publish_calendar`], else the built-in
/// [`CALENDAR_UPDATE_TEXT`] (version [`CALENDAR_UPDATE_VERSION`]).
pub fn latest_calendar(conn: &Connection) -> Result<(u64, String), ApiError> {
    let row: Option<(i64, String)> = conn
        .query_row("SELECT version, text FROM calendar_versions ORDER BY version DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    Ok(match row {
        Some((v, t)) => (v.max(0) as u64, t),
        None => (CALENDAR_UPDATE_VERSION, CALENDAR_UPDATE_TEXT.to_string()),
    })
}

/// Publishes a calendar update (calendar text in the bundled format, checked by the core's parser) as the
/// next version; returns it. The phone gets it signed at its next fetch.
pub fn publish_calendar(conn: &Connection, text: &str) -> Result<u64, ApiError> {
    calendar::parse_calendar_text(text).map_err(|e| ApiError::internal(format!("bad calendar text: {e}")))?;
    let v = latest_calendar(conn)?.0 + 1;
    conn.execute(
        "INSERT INTO calendar_versions (version, text, published_at) VALUES (?1, ?2, ?3)",
        params![v as i64, text, now_secs()],
    )?;
    Ok(v)
}

#[derive(Deserialize)]
struct CalendarQuery {
    #[serde(default)]
    since_version: u64,
}

/// The signed calendar update, or `{"up_to_date": true, "version": N}` when the phone already holds
/// version `since_version` or newer (a conditional fetch).
async fn calendar_update(
    State(st): State<SharedState>,
    Query(q): Query<CalendarQuery>,
) -> Result<Json<Value>, ApiError> {
    let (version, text) = st.with_db(|c| latest_calendar(c))?;
    if q.since_version >= version {
        return Ok(Json(json!({ "up_to_date": true, "version": version })));
    }
    let key = hex::decode(CALENDAR_SIGNING_KEY_HEX).map_err(ApiError::internal)?;
    let env =
        calendar::update::sign(&key, calendar::update::PLATFORM_KEY_ID, version, &text).map_err(ApiError::internal)?;
    Ok(Json(serde_json::to_value(env).map_err(ApiError::internal)?))
}

// ---- clerk ---------------------------------------------------------------------------------------

fn state_of(s: &str) -> Result<CaseState, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| ApiError::internal(format!("unknown state {s}")))
}

fn promised_days_for(tx: &Connection, codes: &str) -> Result<u32, ApiError> {
    let codes: Vec<String> = serde_json::from_str(codes).unwrap_or_default();
    let items = known_items(tx)?;
    Ok(codes
        .iter()
        .filter_map(|c| items.iter().find(|it| it.get("id").and_then(Value::as_str) == Some(c)))
        .filter_map(|it| it.get("promised_days").or_else(|| it.get("promised_limit_days")).and_then(Value::as_u64))
        .filter(|d| *d > 0)
        .max()
        .unwrap_or(10) as u32)
}

/// One clerk action on a case; returns the case after it. `action` is one of accept, review,
/// supplement, suspend, resume, approve, reject, complete. `args` as in `docs/platform-api.md`.
pub fn clerk(conn: &mut Connection, id: &str, action: &str, args: &Value) -> Result<Value, ApiError> {
    let clerk_name = args.get("clerk").and_then(Value::as_str).unwrap_or("窗口人员");
    let actor = format!("clerk:{clerk_name}");
    let on = parse_date("on", args.get("on").and_then(Value::as_str))?.unwrap_or_else(today);
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let tx = conn.transaction()?;
    sweep(&tx, on)?;
    let (state, codes): (String, String) = tx
        .query_row("SELECT state, item_codes FROM cases WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| ApiError::not_found("case"))?;
    let from = state_of(&state)?;
    let (to, data) = match action {
        "accept" => {
            let days = match args.get("promised_days").and_then(Value::as_u64) {
                Some(d) if (1..=365).contains(&d) => d as u32,
                Some(_) => return Err(bad("promised_days", "1 to 365", "须为 1 至 365")),
                None => promised_days_for(&tx, &codes)?,
            };
            // The same rule the phone applies (`core::cases::deferred_due_within`): the promised limit
            // minus 2, at most 20 working days, and at most what the material's catalog entry allows (the
            // submission's material lines carry it).
            let body: String = tx.query_row("SELECT body FROM cases WHERE id = ?1", [id], |r| r.get(0))?;
            let lines: Vec<zhangban_core::cases::MaterialLine> = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|b| b.get("materials").cloned())
                .and_then(|m| serde_json::from_value(m).ok())
                .unwrap_or_default();
            let mut deferred = Vec::new();
            let ms: Vec<String> = {
                let mut stmt = tx.prepare("SELECT material FROM case_deferred WHERE case_id = ?1 AND supplied = 0")?;
                let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
                rows
            };
            for m in ms {
                let within = zhangban_core::cases::material_days(&lines, &m);
                let due = zhangban_core::cases::deferred_due_within(&cal, &rules, on, days, within)
                    .map_err(ApiError::internal)?
                    .value;
                tx.execute(
                    "UPDATE case_deferred SET due = ?3 WHERE case_id = ?1 AND material = ?2 AND supplied = 0",
                    params![id, m, due.to_string()],
                )?;
                deferred.push(json!({ "material": m, "due": due.to_string() }));
            }
            tx.execute(
                "UPDATE cases SET accepted_on = ?2, promised_days = ?3 WHERE id = ?1",
                params![id, on.to_string(), days],
            )?;
            (CaseState::Accepted, json!({ "accepted_on": on.to_string(), "promised_days": days, "deferred": deferred }))
        }
        "review" => (CaseState::InReview, json!({})),
        "supplement" => {
            let items: Vec<String> = args
                .get("items")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            if items.is_empty() {
                return Err(bad("items", "name at least one item to supply", "须列出需补正的材料"));
            }
            let days = args.get("due_days").and_then(Value::as_u64).unwrap_or(5).clamp(1, 60) as u32;
            let due = cal.add_working_days(on, days, &[]).map_err(ApiError::internal)?.value;
            let note = args.get("note").and_then(Value::as_str).unwrap_or_default();
            (
                CaseState::SupplementRequested,
                json!({ "request_id": uuid::Uuid::new_v4().to_string(), "items": items, "note": note, "due": due.to_string() }),
            )
        }
        "suspend" => {
            let reason = args.get("reason").and_then(Value::as_str).unwrap_or("现场核查");
            (CaseState::Suspended, json!({ "on": on.to_string(), "reason": reason }))
        }
        "resume" => (CaseState::InReview, json!({ "on": on.to_string() })),
        "approve" => {
            let result = args.get("result").and_then(Value::as_str).unwrap_or("准予许可");
            let licence = args.get("licence").cloned().unwrap_or(Value::Null);
            (CaseState::Approved, json!({ "result": result, "licence": licence }))
        }
        "reject" => {
            let reason = args
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| bad("reason", "a rejection states its reason", "不予许可须说明理由"))?;
            (CaseState::Rejected, json!({ "reason": reason }))
        }
        "complete" => {
            let result = args.get("result").and_then(Value::as_str);
            (CaseState::Completed, json!({ "on": on.to_string(), "result": result }))
        }
        other => return Err(bad("action", &format!("unknown action {other}"), "未知操作")),
    };
    if !from.can_move_to(to) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "bad_transition",
            format!("a case in state {} cannot be moved to {}", from.as_str(), to.as_str()),
            format!("办件当前为“{}”，不能执行此操作", from.label_zh()),
        ));
    }
    tx.execute("UPDATE cases SET state = ?2 WHERE id = ?1", params![id, to.as_str()])?;
    emit(&tx, id, to_event(action), &actor, data)?;
    let v = case_json(&tx, id)?;
    tx.commit()?;
    Ok(v)
}

fn to_event(action: &str) -> &'static str {
    match action {
        "accept" => "accepted",
        "review" => "in_review",
        "supplement" => "supplement_requested",
        "suspend" => "suspended",
        "resume" => "resumed",
        "approve" => "approved",
        "reject" => "rejected",
        _ => "completed",
    }
}

/// Terminates every open case whose deferred material was due before `today` and not supplied. The due
/// date is the one fixed at acceptance; a material without one (accepted before it was recorded) gets it
/// from the same rule (`core::cases::deferred_due`: at most the promised limit minus 2 and at most 20
/// working days after acceptance).
pub fn sweep(conn: &Connection, today: NaiveDate) -> Result<u32, ApiError> {
    type Row = (String, String, Option<String>, Option<String>, Option<i64>);
    let open: Vec<Row> = {
        let mut stmt = conn.prepare(
            "SELECT c.id, d.material, d.due, c.accepted_on, c.promised_days FROM cases c
             JOIN case_deferred d ON d.case_id = c.id
             WHERE d.supplied = 0 AND c.accepted_on IS NOT NULL
               AND c.state IN ('accepted', 'in_review', 'suspended', 'supplement_requested')
             ORDER BY c.id, d.material",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let mut n = 0;
    let mut done = std::collections::HashSet::new();
    for (id, material, due, accepted_on, promised_days) in open {
        if done.contains(&id) {
            continue;
        }
        let due = match (parse_date("due", due.as_deref())?, parse_date("accepted_on", accepted_on.as_deref())?) {
            (Some(d), _) => d,
            (None, Some(acc)) => {
                let days = promised_days.unwrap_or(0).clamp(0, 3650) as u32;
                zhangban_core::cases::deferred_due(&cal, &rules, acc, days).map_err(ApiError::internal)?.value
            }
            (None, None) => continue,
        };
        if due >= today {
            continue;
        }
        done.insert(id.clone());
        conn.execute("UPDATE cases SET state = 'terminated' WHERE id = ?1", [&id])?;
        emit(
            conn,
            &id,
            "terminated",
            "platform",
            json!({ "reason": format!(
                "容缺材料“{material}”未在 {due} 前补交 / deferred material not supplied by {due}"
            ), "due": due.to_string() }),
        )?;
        n += 1;
    }
    Ok(n)
}

pub(crate) fn case_json(conn: &Connection, id: &str) -> Result<Value, ApiError> {
    let v = conn
        .query_row(
            "SELECT id, client_ref, receipt, item_codes, title, state, submitted_at, accepted_on, promised_days, device_id
             FROM cases WHERE id = ?1",
            [id],
            |r| {
                Ok(json!({
                    "case_id": r.get::<_, String>(0)?, "client_ref": r.get::<_, String>(1)?,
                    "receipt": r.get::<_, String>(2)?,
                    "item_codes": serde_json::from_str::<Value>(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                    "title": r.get::<_, String>(4)?, "state": r.get::<_, String>(5)?,
                    "submitted_at": r.get::<_, i64>(6)?, "accepted_on": r.get::<_, Option<String>>(7)?,
                    "promised_days": r.get::<_, Option<i64>>(8)?, "device_id": r.get::<_, String>(9)?,
                }))
            },
        )
        .optional()?;
    let mut v = v.ok_or_else(|| ApiError::not_found("case"))?;
    // What the citizen said about it (好差评, 反映), for the clerk's view.
    v["rating"] = conn
        .query_row("SELECT score, level, reason, at FROM case_ratings WHERE case_id = ?1", [id], |r| {
            Ok(json!({ "score": r.get::<_, i64>(0)?, "level": r.get::<_, String>(1)?,
                       "reason": r.get::<_, Option<String>>(2)?, "at": r.get::<_, i64>(3)? }))
        })
        .optional()?
        .unwrap_or(Value::Null);
    let complaints: Vec<Value> = {
        let mut stmt = conn.prepare("SELECT id, text, at FROM case_complaints WHERE case_id = ?1 ORDER BY at, id")?;
        let rows = stmt.query_map([id], |r| {
            Ok(json!({ "complaint_id": r.get::<_, String>(0)?, "text": r.get::<_, String>(1)?, "at": r.get::<_, i64>(2)? }))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    v["complaints"] = Value::Array(complaints);
    Ok(v)
}

async fn admin_list(State(st): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let v = st.with_db(|c| {
        let ids: Vec<String> = {
            let mut stmt = c.prepare("SELECT id FROM cases ORDER BY submitted_at, receipt")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        ids.iter().map(|id| case_json(c, id)).collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Json(json!({ "cases": v })))
}

async fn admin_get(State(st): State<SharedState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(st.with_db(|c| case_json(c, &id))?))
}

async fn admin_action(
    State(st): State<SharedState>,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let args = if body.is_empty() { json!({}) } else { json_body(&body)? };
    Ok(Json(st.with_db(|c| clerk(c, &id, &action, &args))?))
}

async fn admin_sweep(State(st): State<SharedState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let args = if body.is_empty() { json!({}) } else { json_body(&body)? };
    let on = parse_date("today", args.get("today").and_then(Value::as_str))?.unwrap_or_else(today);
    let n = st.with_db(|c| {
        let tx = c.transaction()?;
        let n = sweep(&tx, on)?;
        tx.commit()?;
        Ok(n)
    })?;
    Ok(Json(json!({ "terminated": n })))
}

/// Counts for tests and the benchmark: cases, distinct client references, replayed keys.
pub fn stats(conn: &Connection) -> Result<Value, ApiError> {
    let cases: i64 = conn.query_row("SELECT COUNT(*) FROM cases", [], |r| r.get(0))?;
    let refs: i64 =
        conn.query_row("SELECT COUNT(DISTINCT device_id || '/' || client_ref) FROM cases", [], |r| r.get(0))?;
    let keys: i64 = conn.query_row("SELECT COUNT(*) FROM case_idempotency", [], |r| r.get(0))?;
    let uploads: i64 = conn.query_row("SELECT COUNT(*) FROM case_uploads WHERE complete = 1", [], |r| r.get(0))?;
    Ok(json!({ "cases": cases, "distinct_client_refs": refs, "idempotency_keys": keys, "complete_uploads": uploads }))
}

async fn admin_stats(State(st): State<SharedState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(st.with_db(|c| stats(c))?))
}

// ---- command line --------------------------------------------------------------------------------

/// `zhangban-sandbox clerk --url URL ACTION [CASE] [options]`: one clerk (or admin) request over HTTP.
/// Actions: `list`, `show CASE`, `stats`, `sweep`, `faults`, and `accept|review|supplement|suspend|resume|
/// approve|reject|complete CASE`. `CASE` may be the platform case id or the receipt number.
pub async fn clerk_command(url: &str, action: &str, case: Option<&str>, args: Value) -> Result<Value, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    let token = crate::server::admin_token()
        .ok_or_else(|| format!("no back-office token: set {}", crate::server::ADMIN_TOKEN_ENV))?;
    headers.insert(
        crate::server::ADMIN_TOKEN_HEADER,
        reqwest::header::HeaderValue::from_str(&token).map_err(|e| e.to_string())?,
    );
    // The core's TLS configuration (reqwest carries no crypto provider of its own, ADR 0018).
    let http = zhangban_core::sync::tls::client_builder()
        .map_err(|e| e.to_string())?
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())?;
    let base = url.trim_end_matches('/');
    let resolve = |c: Option<&str>| c.map(str::to_string).ok_or_else(|| format!("{action} needs a case id or receipt"));
    let req = match action {
        "list" => http.get(format!("{base}/admin/cases")),
        "stats" => http.get(format!("{base}/admin/stats")),
        // Who acted for whom: every proxied case with its agent, principal, assurance and mandate.
        "agents" => http.get(format!("{base}/admin/agents/activity")),
        "sweep" => http.post(format!("{base}/admin/sweep")).json(&args),
        "faults" => http.post(format!("{base}/admin/faults")).json(&args),
        "show" => http.get(format!("{base}/admin/cases/{}", resolve(case)?)),
        // A mandate revoked by a phone call to the service centre (a door consent has no phone to revoke from).
        "revoke-mandate" => {
            let id = case.ok_or_else(|| "revoke-mandate needs the mandate id".to_string())?;
            http.post(format!("{base}/admin/mandates/{id}/revoke"))
        }
        // The service centre ends an agent's certificate (lost phone, left the organisation).
        "end-certificate" => {
            let id = case.ok_or_else(|| "end-certificate needs the agent id".to_string())?;
            http.post(format!("{base}/admin/agents/{id}/end-certificate"))
        }
        // 一窗受理: a case filed at the counter; prints the receipt (number, query code, deadline).
        "intake" => http.post(format!("{base}/admin/intake")).json(&args),
        // After the identity check: a one-time code to move DEVICE's person to a new phone.
        "transfer-code" => {
            let device = case.ok_or_else(|| "transfer-code needs the old phone's device id".to_string())?;
            http.post(format!("{base}/v1/admin/transfer-codes")).json(&json!({ "device_id": device }))
        }
        _ => {
            let mut id = resolve(case)?;
            if id.starts_with("ZB") {
                let all: Value = http
                    .get(format!("{base}/admin/cases"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                id = all["cases"]
                    .as_array()
                    .and_then(|a| a.iter().find(|c| c["receipt"] == id.as_str()))
                    .and_then(|c| c["case_id"].as_str())
                    .map(str::to_string)
                    .ok_or_else(|| format!("no case with receipt {id}"))?;
            }
            http.post(format!("{base}/admin/cases/{id}/{action}")).json(&args)
        }
    };
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", v["message"].as_str().unwrap_or_default()));
    }
    Ok(v)
}

/// `zhangban-sandbox device-sync DIR URL` (hidden; the child process of the kill -9 test): opens the
/// citizen store in `DIR` (`vault.key`, `store/`) and syncs until the outbox is empty, printing each run.
pub async fn device_sync(dir: &std::path::Path, url: &str) -> Result<(), String> {
    use std::sync::Arc;
    use zhangban_core::store::{FileVault, KeyVault, Store};
    use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
    let vault: Arc<dyn KeyVault> =
        Arc::new(FileVault::open_or_create(&dir.join("vault.key")).map_err(|e| e.to_string())?);
    let store = Arc::new(Store::open(&dir.join("store"), vault).map_err(|e| e.to_string())?);
    let mut cfg = SyncConfig::new(url);
    cfg.request_timeout = std::time::Duration::from_millis(500);
    cfg.backoff_base = std::time::Duration::from_millis(20);
    cfg.backoff_max = std::time::Duration::from_millis(200);
    cfg.run_budget = std::time::Duration::from_secs(5);
    let runner = SyncRunner::new(store, cfg, Arc::new(zhangban_core::notify::NoListener)).map_err(|e| e.to_string())?;
    let mut failures = 0u32;
    loop {
        let r = runner.run_once().await;
        println!("run: sent {} receipts {} failures {} remaining {}", r.sent, r.receipts, r.failures, r.remaining);
        if r.remaining == 0 {
            return Ok(());
        }
        if r.sent == 0 {
            failures += 1;
            if failures > 200 {
                return Err("no progress".into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
