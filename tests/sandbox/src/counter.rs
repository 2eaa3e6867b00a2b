//! Sandbox platform: cases filed at a service centre's counter (一窗受理) and following any case by its
//! receipt (凭回执查询办件).
//!
//! * `POST /admin/intake` (the counter clerk; the clerk CLI's `intake --item CODE --applicant ID`):
//!   files a case for an applicant who came in person, accepts it at once and answers the printed
//!   receipt: receipt number, a 6-digit query code, the item, the acceptance day and the promised limit.
//! * `POST /v1/cases/follow` (a phone): `{receipt, applicant_id, query_code}`. When all three match, the
//!   phone follows the case: the answer is the case with every event so far, and its later events reach
//!   the phone through `GET /v1/events` like its own cases'. A mismatch is one uniform refusal (it does not
//!   say which part was wrong); five for one receipt lock it (the applicant asks at the counter).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{now_secs, sha256_hex, ApiError, DeviceAuth, SharedState};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS case_receipts (
    case_id TEXT PRIMARY KEY,
    applicant_sha256 TEXT NOT NULL,   -- SHA-256 of the applicant's ID number or credit code (upper case)
    query_code TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS case_followers (
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (case_id, device_id)
);";

/// Wrong tries for one receipt before following it is locked.
pub const MAX_FOLLOW_FAILURES: i64 = 5;
/// The device id of cases filed at the counter (no phone filed them).
pub const COUNTER_DEVICE: &str = "counter";

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::new(e.status(), "invalid", format!("body: {}", e.body_text()), "请求内容格式不正确"))
}

pub fn routes() -> Router<SharedState> {
    Router::new().route("/admin/intake", post(intake)).route("/v1/cases/follow", post(follow))
}

fn applicant_hash(id: &str) -> String {
    sha256_hex(id.trim().to_ascii_uppercase().as_bytes())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    /// The service item's code (`GET /v1/catalog`).
    pub item_code: String,
    /// The applicant's resident ID number (GB 11643) or unified social credit code (GB 32100).
    pub applicant_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub clerk: Option<String>,
}

/// A 6-digit query code (printed on a receipt, given with a phone's or an agent's receipt).
fn new_query_code() -> Result<String, ApiError> {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| ApiError::internal("random generator failed"))?;
    Ok(format!("{:06}", u64::from_be_bytes(b) % 1_000_000))
}

fn bind_receipt(
    tx: &rusqlite::Connection,
    case_id: &str,
    applicant_id: &str,
    query_code: &str,
) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO case_receipts (case_id, applicant_sha256, query_code) VALUES (?1, ?2, ?3)",
        params![case_id, applicant_hash(applicant_id), query_code],
    )?;
    Ok(())
}

/// The ID number of the person the platform registered for `device` (real-name check at sign-up), if any.
pub fn registered_id_number(tx: &rusqlite::Connection, device: &str) -> Result<Option<String>, ApiError> {
    let elements: Option<String> = tx
        .query_row(
            "SELECT elements FROM person_register WHERE device_id = ?1 AND licence_type = 'resident_id'",
            [device],
            |r| r.get(0),
        )
        .optional()?;
    Ok(elements
        .and_then(|e| serde_json::from_str::<Value>(&e).ok())
        .and_then(|v| v.get("id_number").and_then(Value::as_str).map(str::to_string)))
}

/// A case filed from a phone or by an agent can be followed by its receipt too (issue 14): the receipt is
/// bound to the applicant — the principal for an agent's case, else the phone's registered person — and
/// a query code, which the submission's answer carries (the agent writes it on the principal's paper
/// receipt). `None` when the platform knows no ID number for the applicant.
pub fn receipt_for_submission(
    tx: &rusqlite::Connection,
    case_id: &str,
    device: &str,
    principal_id: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let applicant = match principal_id {
        Some(p) => Some(p.to_string()),
        None => registered_id_number(tx, device)?,
    };
    let Some(applicant) = applicant else { return Ok(None) };
    let code = new_query_code()?;
    bind_receipt(tx, case_id, &applicant, &code)?;
    Ok(Some(code))
}

/// Files and accepts a case at the counter; returns the receipt (also what the clerk CLI prints).
pub fn intake_case(st: &SharedState, req: &IntakeRequest) -> Result<Value, ApiError> {
    let id_ok = zhangban_core::wallet::ids::validate_id_number(&req.applicant_id, now_secs()).is_ok()
        || zhangban_core::wallet::ids::validate_uscc(&req.applicant_id).is_ok();
    if !id_ok {
        return Err(ApiError::invalid(
            "applicant_id",
            "not a valid resident ID number or credit code",
            "不是有效的身份证号码或统一社会信用代码",
        ));
    }
    let query_code = new_query_code()?;
    let case_id = uuid::Uuid::new_v4().to_string();
    let client_ref = format!("counter-{}", &case_id[..8]);
    let clerk_name = req.clerk.clone().unwrap_or_else(|| "窗口人员".into());
    st.with_db(|c| {
        let items = st.items.get(c)?;
        let item = items
            .get(&req.item_code)
            .ok_or_else(|| ApiError::invalid("item_code", "no such service item", "没有该事项，请核对事项编码"))?;
        let title = req
            .title
            .clone()
            .or_else(|| {
                let name = item.get("name")?;
                name.get("zh").unwrap_or(name).as_str().map(str::to_string)
            })
            .unwrap_or_else(|| req.item_code.clone());
        let tx = c.transaction()?;
        let receipt = crate::cases::next_receipt(&tx)?;
        tx.execute(
            "INSERT INTO cases (id, device_id, client_ref, receipt, item_codes, title, body, state, submitted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'submitted', ?8)",
            params![
                case_id,
                COUNTER_DEVICE,
                client_ref,
                receipt,
                json!([req.item_code]).to_string(),
                title,
                json!({ "channel": "counter", "values": {} }).to_string(),
                now_secs()
            ],
        )?;
        bind_receipt(&tx, &case_id, &req.applicant_id, &query_code)?;
        tx.commit()?;
        Ok(())
    })?;
    // 一窗受理: accepted at the counter at once, with the item's promised limit.
    let case = st.with_db(|c| crate::cases::clerk(c, &case_id, "accept", &json!({ "clerk": clerk_name })))?;
    Ok(json!({
        "receipt": case["receipt"], "query_code": query_code, "case_id": case_id, "title": case["title"],
        "item_codes": case["item_codes"], "accepted_on": case["accepted_on"], "promised_days": case["promised_days"],
        "note_zh": "凭受理回执号、申请人证件号码和查询码，可在掌办中查询办理进度",
        "note_en": "follow this case in Zhangban with the receipt number, the applicant's ID number and the query code",
    }))
}

async fn intake(State(st): State<SharedState>, req: JsonBody<IntakeRequest>) -> Result<Json<Value>, ApiError> {
    let req = body(req)?;
    Ok(Json(intake_case(&st, &req)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowRequest {
    receipt: String,
    applicant_id: String,
    query_code: String,
}

fn no_match() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "follow_refused",
        "no case matches this receipt number, ID number and query code: check the receipt",
        "回执号、证件号码与查询码不匹配：请核对受理回执",
    )
}

async fn follow(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<FollowRequest>,
) -> Result<Json<Value>, ApiError> {
    let req = body(req)?;
    if req.receipt.len() > 32 || req.applicant_id.len() > 32 || req.query_code.len() > 16 {
        return Err(no_match());
    }
    let v = st.with_db(|c| {
        let tx = c.transaction()?;
        let row: Option<(String, String, String, i64)> = tx
            .query_row(
                "SELECT k.id, r.applicant_sha256, r.query_code, r.failures FROM cases k
                 JOIN case_receipts r ON r.case_id = k.id WHERE k.receipt = ?1",
                [&req.receipt],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((case_id, applicant, code, failures)) = row else { return Err(no_match()) };
        if failures >= MAX_FOLLOW_FAILURES {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "follow_locked",
                "too many wrong tries for this receipt: ask at the service centre",
                "该回执查询错误次数过多，已锁定：请到政务服务中心咨询",
            ));
        }
        // Compared as digests, so the comparison's timing says nothing about the code.
        if applicant != applicant_hash(&req.applicant_id)
            || sha256_hex(code.as_bytes()) != sha256_hex(req.query_code.trim().as_bytes())
        {
            tx.execute("UPDATE case_receipts SET failures = failures + 1 WHERE case_id = ?1", [&case_id])?;
            tx.commit()?;
            return Err(no_match());
        }
        tx.execute(
            "INSERT OR IGNORE INTO case_followers (case_id, device_id) VALUES (?1, ?2)",
            params![case_id, dev.device_id],
        )?;
        let mut v = crate::cases::case_json(&tx, &case_id)?;
        let events: Vec<Value> = {
            let mut stmt = tx.prepare(
                "SELECT seq, case_id, client_ref, kind, at, actor, data FROM case_events WHERE case_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([&case_id], |r| {
                let data: String = r.get(6)?;
                Ok(json!({
                    "seq": r.get::<_, i64>(0)?, "case_id": r.get::<_, String>(1)?, "client_ref": r.get::<_, String>(2)?,
                    "kind": r.get::<_, String>(3)?, "at": r.get::<_, i64>(4)?, "actor": r.get::<_, String>(5)?,
                    "data": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
                }))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        tx.commit()?;
        if let Some(o) = v.as_object_mut() {
            o.remove("device_id");
            o.remove("rating");
            o.remove("complaints");
            o.insert("events".into(), Value::Array(events));
        }
        Ok(v)
    })?;
    Ok(Json(v))
}
