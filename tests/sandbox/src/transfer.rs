//! Sandbox platform: moving a person from a lost (or old) phone to a new one (换机 / 挂失).
//!
//! * `POST /v1/devices/transfer` (the new phone, `Authorization: Bearer`): `{from_device, code}` or
//!   `{from_device, signature}`. The proof is either a one-time code from the platform's identity check
//!   (in the sandbox: `POST /v1/admin/transfer-codes`, the clerk CLI's `transfer-code DEVICE`, standing in
//!   for real-name / face verification) or the old phone's signature over
//!   `["ZB-Transfer-v1", from_device, new device public key]` (phone to phone, both at hand). Then, in one
//!   transaction: the old phone's cases, events, idempotency keys, uploads, followed cases and register
//!   records move to the new phone; its licences are revoked (status list) and marked for re-issue to the
//!   new phone; the old phone's token stops working.
//! * `POST /v1/licences/reissue` (the new phone): `{licence_id, device_key, nonce, proof}` — the licence
//!   marked for this phone, re-signed from the platform's record of what it issued, bound to the new device
//!   key (proof of possession as for issuance). Once per moved licence.
//!
//! Codes: 8 digits, 15 minutes, single use; five wrong codes for one phone void its outstanding codes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};
use zhangban_core::wallet::{ElementValue, LicenceType};

use crate::issuer::{check_possession, sign_for_device, IssueResponse};
use crate::server::{now_secs, sha256_hex, ApiError, DeviceAuth, SharedState};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transfer_codes (
    code_sha256 TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS transfer_failures (device_id TEXT PRIMARY KEY, failures INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS licence_transfers (
    licence_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,         -- the phone it may be re-issued to
    licence_type TEXT NOT NULL,
    reissued_as TEXT
);";

/// How long a one-time transfer code is valid.
pub const CODE_SECS: i64 = 15 * 60;
/// Wrong codes for one phone before its outstanding codes are voided.
pub const MAX_CODE_FAILURES: i64 = 5;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::new(e.status(), "invalid", format!("body: {}", e.body_text()), "请求内容格式不正确"))
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/devices/transfer", post(transfer))
        .route("/v1/licences/reissue", post(reissue))
        .route("/v1/admin/transfer-codes", post(admin_code))
}

/// A one-time code for moving `device_id`'s person to a new phone (after the identity check).
pub fn new_code(st: &SharedState, device_id: &str) -> Result<(String, i64), ApiError> {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| ApiError::internal("random generator failed"))?;
    let code = format!("{:08}", u64::from_be_bytes(b) % 100_000_000);
    let expires = now_secs() + CODE_SECS;
    st.with_db(|c| {
        let known: Option<String> =
            c.query_row("SELECT id FROM devices WHERE id = ?1", [device_id], |r| r.get(0)).optional()?;
        if known.is_none() {
            return Err(ApiError::not_found("device"));
        }
        c.execute("DELETE FROM transfer_codes WHERE expires_at < ?1", [now_secs()])?;
        c.execute(
            "INSERT OR REPLACE INTO transfer_codes (code_sha256, device_id, expires_at) VALUES (?1, ?2, ?3)",
            params![sha256_hex(code.as_bytes()), device_id, expires],
        )?;
        c.execute("DELETE FROM transfer_failures WHERE device_id = ?1", [device_id])?;
        Ok(())
    })?;
    Ok((code, expires))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    device_id: String,
}

async fn admin_code(State(st): State<SharedState>, req: JsonBody<CodeRequest>) -> Result<Json<Value>, ApiError> {
    let req = body(req)?;
    let (code, expires_at) = new_code(&st, &req.device_id)?;
    Ok(Json(json!({ "device_id": req.device_id, "code": code, "expires_at": expires_at })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    from_device: String,
    #[serde(default)]
    code: Option<String>,
    /// DER ECDSA P-256 signature by the old phone's device key over [`zhangban_core::sync::rebind::transfer_tbs`], hex.
    #[serde(default)]
    signature: Option<String>,
}

fn refused(en: &str, zh: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "transfer_refused", en.to_string(), zh.to_string())
}

async fn transfer(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<TransferRequest>,
) -> Result<Json<Value>, ApiError> {
    let req = body(req)?;
    if req.from_device == dev.device_id {
        return Err(ApiError::invalid("from_device", "that is this phone", "不能从本机转移到本机"));
    }
    let now = now_secs();
    let v = st.with_db(|c| {
        let tx = c.transaction()?;
        let old_key: Option<String> = tx
            .query_row("SELECT public_key FROM devices WHERE id = ?1", [&req.from_device], |r| r.get(0))
            .optional()?;
        let old_key = old_key.ok_or_else(|| ApiError::not_found("device"))?;
        let moved: Option<String> = tx
            .query_row("SELECT replaced_by FROM device_revocations WHERE device_id = ?1", [&req.from_device], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(to) = moved {
            if to == dev.device_id {
                // Asked again (a lost answer): the same outcome, nothing moves twice.
                return Ok(json!({ "from_device": req.from_device, "replayed": true, "licences": pending(&tx, &dev.device_id)? }));
            }
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_transferred",
                "that phone's data was already moved to another phone",
                "该手机的数据已转移到另一部手机",
            ));
        }
        let new_key: String =
            tx.query_row("SELECT public_key FROM devices WHERE id = ?1", [&dev.device_id], |r| r.get(0))?;
        match (&req.code, &req.signature) {
            (Some(code), None) => {
                let hit = tx.execute(
                    "DELETE FROM transfer_codes WHERE code_sha256 = ?1 AND device_id = ?2 AND expires_at >= ?3",
                    params![sha256_hex(code.trim().as_bytes()), req.from_device, now],
                )?;
                if hit != 1 {
                    let failures: i64 = tx.query_row(
                        "INSERT INTO transfer_failures (device_id, failures) VALUES (?1, 1)
                         ON CONFLICT(device_id) DO UPDATE SET failures = failures + 1 RETURNING failures",
                        [&req.from_device],
                        |r| r.get(0),
                    )?;
                    if failures >= MAX_CODE_FAILURES {
                        tx.execute("DELETE FROM transfer_codes WHERE device_id = ?1", [&req.from_device])?;
                    }
                    tx.commit()?;
                    return Err(refused(
                        "the one-time code is wrong, expired or used: ask the service centre for a new one",
                        "一次性验证码错误、已过期或已使用：请到政务服务中心重新获取",
                    ));
                }
            }
            (None, Some(sig)) => {
                let ok = match (hex::decode(&old_key), hex::decode(sig)) {
                    (Ok(k), Ok(s)) if s.len() <= 80 => ring::signature::UnparsedPublicKey::new(
                        &ring::signature::ECDSA_P256_SHA256_ASN1,
                        k,
                    )
                    .verify(&zhangban_core::sync::rebind::transfer_tbs(&req.from_device, &new_key), &s)
                    .is_ok(),
                    _ => false,
                };
                if !ok {
                    return Err(refused(
                        "the old phone's transfer signature does not verify",
                        "旧手机的转移签名验证失败",
                    ));
                }
            }
            _ => return Err(ApiError::invalid("code", "give either a code or a signature", "须提供验证码或旧手机签名之一")),
        }
        let (old, new) = (req.from_device.as_str(), dev.device_id.as_str());
        let mut moved_cases = 0;
        for (table, counts) in [
            ("cases", true),
            ("case_events", false),
            ("case_idempotency", false),
            ("case_uploads", false),
            ("case_followers", false),
            ("person_register", false),
        ] {
            let n = tx.execute(&format!("UPDATE OR IGNORE {table} SET device_id = ?2 WHERE device_id = ?1"), [old, new])?;
            if counts {
                moved_cases = n;
            }
        }
        let licences: Vec<(String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT licence_id, licence_type FROM licences WHERE device_id = ?1 AND revoked_at IS NULL
                 AND licence_id NOT LIKE 'pending-%' ORDER BY status_index",
            )?;
            let rows = stmt.query_map([old], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, t) in &licences {
            tx.execute("UPDATE licences SET revoked_at = ?2 WHERE licence_id = ?1", params![id, now])?;
            tx.execute(
                "INSERT OR REPLACE INTO licence_transfers (licence_id, device_id, licence_type) VALUES (?1, ?2, ?3)",
                params![id, new, t],
            )?;
        }
        tx.execute(
            "INSERT INTO device_revocations (device_id, replaced_by, at) VALUES (?1, ?2, ?3)",
            params![old, new, now],
        )?;
        let v = json!({ "from_device": old, "moved_cases": moved_cases, "licences": pending(&tx, new)? });
        tx.commit()?;
        Ok(v)
    })?;
    Ok(Json(v))
}

/// Licences waiting to be re-issued to `device`.
fn pending(tx: &rusqlite::Connection, device: &str) -> Result<Vec<Value>, ApiError> {
    let mut stmt = tx.prepare(
        "SELECT licence_id, licence_type FROM licence_transfers WHERE device_id = ?1 AND reissued_as IS NULL
         ORDER BY licence_id",
    )?;
    let rows = stmt.query_map([device], |r| {
        Ok(json!({ "licence_id": r.get::<_, String>(0)?, "licence_type": r.get::<_, String>(1)? }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReissueRequest {
    licence_id: String,
    device_key: String,
    nonce: String,
    proof: String,
}

async fn reissue(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<ReissueRequest>,
) -> Result<Json<IssueResponse>, ApiError> {
    let req = body(req)?;
    let device_key = check_possession(&st, &dev.device_id, &req.device_key, &req.nonce, &req.proof)?;
    let row: Option<(String, Option<String>, Option<String>)> = st.with_db(|c| {
        Ok(c.query_row(
            "SELECT t.licence_type, t.reissued_as, e.elements FROM licence_transfers t
             LEFT JOIN licence_elements e ON e.licence_id = t.licence_id
             WHERE t.licence_id = ?1 AND t.device_id = ?2",
            params![req.licence_id, dev.device_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
    })?;
    let Some((t, reissued, elements)) = row else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_transferred",
            "this licence was not moved to this phone",
            "该证照未转移到本机",
        ));
    };
    if reissued.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_reissued",
            "this licence was already re-issued to this phone",
            "该证照已重新签发到本机",
        ));
    }
    let t = LicenceType::from_key(&t).ok_or_else(|| ApiError::internal("unknown licence type"))?;
    let elements: std::collections::BTreeMap<String, ElementValue> = elements
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok())
        .ok_or_else(|| ApiError::internal("no record of the licence's elements"))?;
    let resp = sign_for_device(&st, &dev.device_id, t, elements, device_key, &req.nonce)?;
    st.with_db(|c| {
        c.execute(
            "UPDATE licence_transfers SET reissued_as = ?2 WHERE licence_id = ?1",
            params![req.licence_id, resp.licence_id],
        )?;
        Ok(())
    })?;
    Ok(Json(resp))
}
