//! Sandbox platform: the e-licence issuer (电子证照签发).
//!
//! - One ES256 key per issuing department, kept in the sandbox database (`issuer_keys`), created at first
//!   start. Each department has a unified social credit code and the licence types it may issue.
//! - The trust list of those keys and the revocation status lists (shards, ADR 0039), all signed by the
//!   platform root key. A licence's status index is `shard × MAX_STATUS_BITS + bit`; when a shard reaches
//!   its cap (`Config::status_list_max`) the next licence goes to the next shard.
//!   **Test key**: [`ROOT_PKCS8_HEX`] is the private half of the root public key pinned in the core
//!   (`core/base/trust/sandbox.anchors`, pinned by debug and `sandbox-trust` builds). It is published on purpose, for the sandbox
//!   and the test vectors only; a real platform keeps its root key in an HSM and the app pins that key.
//! - Device-bound issuance: `POST /v1/licences/nonce` gives a one-time nonce; `POST /v1/licences/issue`
//!   takes the device's public key and its signature over the nonce (proof of possession), checks that the
//!   key is the one the calling device registered with, and returns the signed licence.
//!
//! Routes: `POST /v1/licences/nonce`, `POST /v1/licences/issue`, `GET /v1/trust-list`,
//! `GET /v1/status-lists`, `GET /v1/status-lists/{id}`, `GET /v1/status-list` (shard 0, for phones of
//! before sharding), `POST /v1/grants/revoke`, `GET /v1/grants/revoked`, and sandbox-only
//! administration `POST /v1/admin/licences/revoke`, `POST /v1/admin/issuer-keys/withdraw`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zhangban_core::wallet::format::ALG_ES256;
use zhangban_core::wallet::issue::{issue_licence, verify_possession, with_derived, LicenceRequest};
use zhangban_core::wallet::trust::MAX_STATUS_BITS;
use zhangban_core::wallet::{
    DeviceSigner, ElementValue, LicenceType, SoftwareKey, StatusList, TrustEntry, TrustList, MAX_STATUS_LISTS,
};

use crate::server::{now_secs, random_hex, sha256_hex, ApiError, DeviceAuth, SharedState};

/// The platform root key (PKCS#8, P-256). A documented TEST key: see the module docs.
pub const ROOT_PKCS8_HEX: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420040de53669f01397e4e3aaf358dd8678dce2a7e652b90f9241f876806c3ea1ffa144034200048c26823fe3b433b2d7b9132f21140396b27d66e2744824f79c8d8136f8190e4fc69c5b757a16a370a8dc6673a4675f37fcce57b7571fd766edb0a37550e268c6";

/// The issuing departments: (id, USCC, name zh, name en, licence types).
pub const DEPARTMENTS: &[(&str, &str, &str, &str, &[LicenceType])] = &[
    (
        "psb",
        "11110000000019001J",
        "北京市公安局",
        "Beijing Municipal Public Security Bureau",
        &[LicenceType::ResidentId, LicenceType::HouseholdRegister],
    ),
    (
        "samr",
        "11110000000019002M",
        "北京市市场监督管理局",
        "Beijing Administration for Market Regulation",
        &[LicenceType::BusinessLicence],
    ),
    (
        "traffic",
        "11110000000019003Q",
        "北京市公安局公安交通管理局",
        "Beijing Traffic Management Bureau",
        &[LicenceType::DrivingLicence],
    ),
    (
        "civil",
        "11110000000019004U",
        "北京市民政局",
        "Beijing Civil Affairs Bureau",
        &[LicenceType::MarriageCertificate],
    ),
    (
        "hrss",
        "11110000000019005Y",
        "北京市人力资源和社会保障局",
        "Beijing Human Resources and Social Security Bureau",
        &[LicenceType::SocialSecurityCard],
    ),
    (
        "edu",
        "111100000000190062",
        "北京市教育委员会",
        "Beijing Municipal Education Commission",
        &[LicenceType::TeacherQualification],
    ),
];

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS issuer_keys (
    department TEXT PRIMARY KEY,
    pkcs8 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS licence_nonces (
    nonce TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS licences (
    status_index INTEGER PRIMARY KEY,
    licence_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    licence_type TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS person_register (
    device_id TEXT NOT NULL,
    licence_type TEXT NOT NULL,
    elements TEXT NOT NULL,
    PRIMARY KEY (device_id, licence_type)
);
CREATE TABLE IF NOT EXISTS licence_elements (
    licence_id TEXT PRIMARY KEY,
    elements TEXT NOT NULL           -- what was signed (before derived elements): re-issued on a re-binding
);
-- Who took each status index, and when (finding 15): the per-person and per-device bounds count these rows.
-- `person` is a hash of the register's identity number (the ID number, or the credit code of a company).
CREATE TABLE IF NOT EXISTS licence_takers (
    status_index INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    device_id TEXT NOT NULL,
    licence_type TEXT NOT NULL,
    taken_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS licence_takers_person ON licence_takers (person, taken_at);
CREATE INDEX IF NOT EXISTS licence_takers_device ON licence_takers (device_id, licence_type, taken_at);
-- Revocations as the holders signed them; one claim per grant and device, so a stranger's claim on a grant
-- id cannot shut out the holder's (the recipients check the signature against the grant's key).
CREATE TABLE IF NOT EXISTS signed_grant_revocations (
    grant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    PRIMARY KEY (grant_id, device_id)
);";

/// How long an issuance nonce is valid.
pub const NONCE_SECS: i64 = 300;
/// How long issued licences are valid (sandbox: 10 years).
pub const LICENCE_VALID_SECS: i64 = 10 * 365 * 24 * 3600;
/// First size of the status list (indices covered); it doubles as indices are taken ([`covered_size`]).
pub const STATUS_LIST_SIZE: u64 = 16 * 1024;
/// Status indices one person may take in 24 hours (finding 15), over all their phones and licence types:
/// first issuance, re-issuance and re-binding to a new phone all take one. Without a bound anyone
/// registered could ask for the same licence until the status list is full, and then nobody gets one.
pub const LICENCES_PER_PERSON_PER_DAY: u32 = 20;
/// Licences of one type one phone may be issued in 24 hours (the first and three re-issues).
pub const ISSUES_PER_DEVICE_TYPE_PER_DAY: u32 = 4;

pub fn root_key() -> Result<SoftwareKey, ApiError> {
    SoftwareKey::from_pkcs8_hex(ROOT_PKCS8_HEX).map_err(ApiError::internal)
}

/// The root a benchmark's library pins: `tests/bench.sh` builds the release library with a bench root of its
/// own (a release build takes no sandbox anchors) and hands its private half over in
/// `ZHANGBAN_BENCH_ROOT_PKCS8` (hex PKCS#8); otherwise the sandbox root. For bench fixtures only.
pub fn bench_root_key() -> Result<SoftwareKey, ApiError> {
    match std::env::var("ZHANGBAN_BENCH_ROOT_PKCS8") {
        Ok(hex) => SoftwareKey::from_pkcs8_hex(&hex).map_err(ApiError::internal),
        Err(_) => root_key(),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

/// The signing key of a department, created at first use.
fn department_key(st: &SharedState, dept: &str) -> Result<(SoftwareKey, bool), ApiError> {
    st.with_db(|c| {
        let row: Option<(String, i64)> = c
            .query_row("SELECT pkcs8, withdrawn FROM issuer_keys WHERE department = ?1", [dept], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((p, w)) = row {
            return Ok((SoftwareKey::from_pkcs8_hex(&p).map_err(internal)?, w != 0));
        }
        let k = SoftwareKey::generate().map_err(internal)?;
        c.execute(
            "INSERT INTO issuer_keys (department, pkcs8, created_at) VALUES (?1, ?2, ?3)",
            params![dept, hex::encode(k.pkcs8()), now_secs()],
        )?;
        Ok((k, false))
    })
}

/// The current trust list (every department's key), not yet signed.
pub fn trust_list(st: &SharedState) -> Result<TrustList, ApiError> {
    let now = now_secs();
    let mut entries = Vec::new();
    for (dept, uscc, zh, en, types) in DEPARTMENTS {
        let (k, withdrawn) = department_key(st, dept)?;
        entries.push(TrustEntry {
            kid: k.key_id(),
            alg: ALG_ES256,
            public_key: k.public_key(),
            issuer_uscc: uscc.to_string(),
            name_zh: zh.to_string(),
            name_en: en.to_string(),
            types: types.iter().map(|t| t.code().to_string()).collect(),
            valid_from: now - 365 * 24 * 3600,
            valid_until: now + 20 * 365 * 24 * 3600,
            withdrawn,
        });
    }
    // Milliseconds: increases with every list the sandbox signs.
    Ok(TrustList { sequence: chrono::Utc::now().timestamp_millis() as u64, issued_at: now, entries })
}

pub fn signed_trust_list(st: &SharedState) -> Result<Vec<u8>, ApiError> {
    let root = root_key()?;
    trust_list(st)?.sign(|m| root.sign(m)).map_err(internal)
}

/// The indices a status list covers once `taken` of its indices are in use: the configured first size, doubled
/// until it covers them all, never past the cap (a list a phone refuses would leave every phone without status).
/// One list of up to 1,048,576 bits (128 KiB) is what a phone accepts and downloads; past it the platform
/// opens the next shard.
pub fn covered_size(first: u64, cap: u64, taken: u64) -> u64 {
    let mut size = first.clamp(1, cap.max(1));
    while size < taken && size < cap {
        size = size.saturating_mul(2).min(cap);
    }
    size
}

/// Bits of one shard the sandbox uses: the configured cap, at most what a phone accepts.
fn shard_cap(st: &SharedState) -> u64 {
    st.config.status_list_max.clamp(1, MAX_STATUS_BITS)
}

/// The status index the next licence takes after `last` (the highest taken, if any): the next bit of the same
/// shard, or the first bit of the next shard when that one is full. `None` past the last shard.
pub fn next_status_index(last: Option<u64>, cap: u64, shards: u32) -> Option<u64> {
    let next = match last {
        None => 0,
        Some(l) if (l % MAX_STATUS_BITS) + 1 >= cap.min(MAX_STATUS_BITS) => (l / MAX_STATUS_BITS + 1) * MAX_STATUS_BITS,
        Some(l) => l + 1,
    };
    (next / MAX_STATUS_BITS < u64::from(shards.min(MAX_STATUS_LISTS))).then_some(next)
}

/// The shards in use: 0 up to the shard of the highest index taken (shard 0 always).
pub fn status_list_ids(st: &SharedState) -> Result<Vec<u32>, ApiError> {
    let last: Option<i64> =
        st.with_db(|c| Ok(c.query_row("SELECT MAX(status_index) FROM licences", [], |r| r.get(0))?))?;
    let top = last.map_or(0, |l| (l.max(0) as u64 / MAX_STATUS_BITS) as u32);
    Ok((0..=top.min(MAX_STATUS_LISTS - 1)).collect())
}

/// Status list 0 (the only one before sharding), not yet signed.
pub fn status_list(st: &SharedState) -> Result<StatusList, ApiError> {
    status_list_of(st, 0)
}

/// Status list (shard) `id`, not yet signed: the revoked bits of the indices `id × MAX_STATUS_BITS …`.
pub fn status_list_of(st: &SharedState, id: u32) -> Result<StatusList, ApiError> {
    let base = i64::from(id) * MAX_STATUS_BITS as i64;
    let end = base + MAX_STATUS_BITS as i64;
    let (revoked, taken): (Vec<i64>, i64) = st.with_db(|c| {
        let mut s = c.prepare(
            "SELECT status_index FROM licences WHERE revoked_at IS NOT NULL AND status_index >= ?1 AND status_index < ?2",
        )?;
        let v = s.query_map(params![base, end], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
        let taken: i64 = c.query_row(
            "SELECT COALESCE(MAX(status_index) - ?1, -1) + 1 FROM licences WHERE status_index >= ?1 AND status_index < ?2",
            params![base, end],
            |r| r.get(0),
        )?;
        Ok((v, taken))
    })?;
    let size = covered_size(st.config.status_list_size, shard_cap(st), taken.max(0) as u64);
    let mut sl = StatusList::shard(id, chrono::Utc::now().timestamp_millis() as u64, now_secs(), size);
    for i in revoked {
        sl.set_revoked((i - base) as u64);
    }
    Ok(sl)
}

pub fn signed_status_list(st: &SharedState) -> Result<Vec<u8>, ApiError> {
    let root = root_key()?;
    status_list(st)?.sign(|m| root.sign(m)).map_err(internal)
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/licences/nonce", post(new_nonce))
        .route("/v1/licences/issue", post(issue))
        .route("/v1/trust-list", get(get_trust_list))
        .route("/v1/status-list", get(get_status_list))
        .route("/v1/status-lists", get(get_status_lists))
        .route("/v1/status-lists/{id}", get(get_status_list_shard))
        .route("/v1/grants/revoke", post(revoke_grant))
        .route("/v1/grants/revoked", get(revoked_grants))
        .route("/v1/admin/register", post(admin_enrol))
        .route("/v1/admin/licences/revoke", post(admin_revoke))
        .route("/v1/admin/issuer-keys/withdraw", post(admin_withdraw))
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::new(e.status(), "invalid", format!("body: {}", e.body_text()), "请求内容格式不正确"))
}

async fn new_nonce(State(st): State<SharedState>, dev: DeviceAuth) -> Result<Json<serde_json::Value>, ApiError> {
    let nonce = random_hex(32)?;
    let now = now_secs();
    st.with_db(|c| {
        c.execute("DELETE FROM licence_nonces WHERE expires_at < ?1", [now])?;
        c.execute(
            "INSERT INTO licence_nonces (nonce, device_id, expires_at) VALUES (?1, ?2, ?3)",
            params![nonce, dev.device_id, now + NONCE_SECS],
        )?;
        Ok(())
    })?;
    Ok(Json(json!({ "nonce": nonce, "expires_at": now + NONCE_SECS })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// Licence type key, e.g. `resident_id`.
    pub licence_type: String,
    /// The approved case (platform case id) whose licence this is. Without it, the record the platform's
    /// register holds for this device and type ([`enrol`]). The elements always come from the platform's
    /// record: a request naming its own `elements` is refused (`deny_unknown_fields`).
    #[serde(default)]
    pub case_id: Option<String>,
    /// SEC1 public key of the device, hex.
    pub device_key: String,
    pub nonce: String,
    /// The device's ES256 signature over `["ZB1-Possession", nonce, device_key]`, hex.
    pub proof: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IssueResponse {
    pub licence_id: String,
    pub status_index: u64,
    /// The issued licence (CBOR), hex.
    pub licence: String,
}

async fn issue(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<IssueRequest>,
) -> Result<Json<IssueResponse>, ApiError> {
    let req = body(req)?;
    let t = LicenceType::from_key(&req.licence_type)
        .ok_or_else(|| ApiError::invalid("licence_type", "unknown licence type", "未知的证照类型"))?;
    let device_key = check_possession(&st, &dev.device_id, &req.device_key, &req.nonce, &req.proof)?;
    let elements = platform_record(&st, &dev.device_id, t, req.case_id.as_deref())?;
    Ok(Json(sign_for_device(&st, &dev.device_id, t, elements, device_key, &req.nonce)?))
}

/// Checks an issuance request's proof: the nonce was issued to this device, unexpired, and is used now
/// (once); the key is the one the device registered; the device signed the nonce with it. Returns the key.
pub(crate) fn check_possession(
    st: &SharedState,
    device_id: &str,
    device_key_hex: &str,
    nonce_hex: &str,
    proof_hex: &str,
) -> Result<Vec<u8>, ApiError> {
    let device_key = hex::decode(device_key_hex)
        .ok()
        .filter(|k| k.len() == 65)
        .ok_or_else(|| ApiError::invalid("device_key", "must be a hex SEC1 P-256 key", "须为十六进制 P-256 公钥"))?;
    let nonce = hex::decode(nonce_hex).map_err(|_| ApiError::invalid("nonce", "must be hex", "须为十六进制"))?;
    let proof = hex::decode(proof_hex).map_err(|_| ApiError::invalid("proof", "must be hex", "须为十六进制"))?;
    let now = now_secs();
    // The nonce: issued to this device, unexpired, used once.
    let used = st.with_db(|c| {
        Ok(c.execute(
            "DELETE FROM licence_nonces WHERE nonce = ?1 AND device_id = ?2 AND expires_at >= ?3",
            params![nonce_hex, device_id, now],
        )?)
    })?;
    if used != 1 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "nonce_invalid",
            "nonce unknown, expired or already used: request a new one",
            "随机数无效、已过期或已使用：请重新获取",
        ));
    }
    // The key must be the one this device registered, and the device must hold it.
    let registered: Option<String> = st.with_db(|c| {
        Ok(c.query_row("SELECT public_key FROM devices WHERE id = ?1", [device_id], |r| r.get(0)).optional()?)
    })?;
    if registered.as_deref().map(str::to_ascii_lowercase) != Some(device_key_hex.to_ascii_lowercase()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "device_key_mismatch",
            "the device key is not the one this device registered",
            "设备公钥与注册时的不一致",
        ));
    }
    if !verify_possession(&nonce, &device_key, &proof) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "proof_invalid",
            "proof of possession does not verify",
            "设备持有密钥的证明验证失败",
        ));
    }
    Ok(device_key)
}

/// Signs a licence of type `t` with `elements` (the platform's own record) bound to `device_key`, for
/// `device_id`; records it (a status index, and the elements, which a re-binding to a new phone re-issues).
pub(crate) fn sign_for_device(
    st: &SharedState,
    device_id: &str,
    t: LicenceType,
    elements: BTreeMap<String, ElementValue>,
    device_key: Vec<u8>,
    nonce: &str,
) -> Result<IssueResponse, ApiError> {
    let now = now_secs();
    let (dept, uscc, ..) = DEPARTMENTS
        .iter()
        .find(|d| d.4.contains(&t))
        .ok_or_else(|| ApiError::invalid("licence_type", "no department issues it", "没有部门签发此类证照"))?;
    let (key, withdrawn) = department_key(st, dept)?;
    if withdrawn {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "issuer_unavailable",
            "the department's key is withdrawn",
            "签发部门密钥已撤销",
        ));
    }
    for (k, v) in &elements {
        if let (Some(def), ElementValue::Text(s)) = (t.element_by_key(k), v) {
            let bad = match def.check {
                zhangban_core::wallet::types::Check::IdNumber => {
                    zhangban_core::wallet::ids::validate_id_number(s, now).err()
                }
                zhangban_core::wallet::types::Check::Uscc => zhangban_core::wallet::ids::validate_uscc(s).err(),
                zhangban_core::wallet::types::Check::None => None,
            };
            if let Some(e) = bad {
                return Err(ApiError::invalid(&format!("elements.{k}"), &e.message_en(), &e.message_zh()));
            }
        }
    }
    let record = serde_json::to_string(&elements).map_err(internal)?;
    let person = person_of(&elements, device_id);
    // Reserve a status index (and so a serial) atomically, within the person's and the phone's bounds and
    // the list's size; the row gets its licence id once signed.
    let placeholder = format!("pending-{nonce}");
    let (cap, shards) = (shard_cap(st), st.config.status_lists_max);
    let index: i64 = st.with_db(|c| {
        let tx = c.transaction()?;
        let since = now - 24 * 3600;
        let by_person: u32 = tx.query_row(
            "SELECT COUNT(*) FROM licence_takers WHERE person = ?1 AND taken_at > ?2",
            params![person, since],
            |r| r.get(0),
        )?;
        let by_device: u32 = tx.query_row(
            "SELECT COUNT(*) FROM licence_takers WHERE device_id = ?1 AND licence_type = ?2 AND taken_at > ?3",
            params![device_id, t.key(), since],
            |r| r.get(0),
        )?;
        if by_person >= LICENCES_PER_PERSON_PER_DAY || by_device >= ISSUES_PER_DEVICE_TYPE_PER_DAY {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "licence_quota",
                "too many licences issued for this person or phone in the last 24 hours: try again tomorrow",
                "24 小时内为此人或此设备签发的证照过多：请明天再试",
            ));
        }
        let last: Option<i64> = tx.query_row("SELECT MAX(status_index) FROM licences", [], |r| r.get(0))?;
        let Some(next) = next_status_index(last.map(|l| l.max(0) as u64), cap, shards) else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "status_list_full",
                "every status list of the platform is full",
                "平台证照状态列表已全部用满",
            ));
        };
        let next = next as i64;
        tx.execute(
            "INSERT INTO licences (status_index, licence_id, device_id, licence_type, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![next, placeholder, device_id, t.key(), now],
        )?;
        tx.execute(
            "INSERT INTO licence_takers (status_index, person, device_id, licence_type, taken_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![next, person, device_id, t.key(), now],
        )?;
        tx.commit()?;
        Ok(next)
    })?;
    let request = LicenceRequest {
        licence_type: t,
        issuer_uscc: uscc.to_string(),
        serial: format!("{:08}", index + 1),
        version: "1".into(),
        elements: with_derived(t, elements, now),
        device_key,
        valid_from: now - 60,
        valid_until: now + LICENCE_VALID_SECS,
        status_index: index as u64,
    };
    let issued = issue_licence(&request, &key.key_id(), &key).map_err(|e| {
        ApiError::invalid("elements", &zhangban_core::Error::message_en(&e), &zhangban_core::Error::message_zh(&e))
    })?;
    let licence_id = issued.signed.body.licence_id.clone();
    st.with_db(|c| {
        c.execute("UPDATE licences SET licence_id = ?2 WHERE status_index = ?1", params![index, licence_id])?;
        c.execute(
            "INSERT OR REPLACE INTO licence_elements (licence_id, elements) VALUES (?1, ?2)",
            params![licence_id, record],
        )?;
        Ok(())
    })?;
    Ok(IssueResponse { licence_id, status_index: index as u64, licence: hex::encode(issued.encode()) })
}

/// Who a licence is for, for the issuance bounds: a hash of the identity number in its elements (the ID
/// number, else the company's credit code), so one person's phones share one bound; without either, the
/// phone itself.
fn person_of(elements: &BTreeMap<String, ElementValue>, device_id: &str) -> String {
    let id = ["id_number", "uscc"].iter().find_map(|k| match elements.get(*k) {
        Some(ElementValue::Text(s)) if !s.is_empty() => Some(format!("{k}:{s}")),
        _ => None,
    });
    match id {
        Some(id) => sha256_hex(id.as_bytes()),
        None => format!("device:{device_id}"),
    }
}

/// The register's record of every device the sandbox registers (its stand-in for real-name verification):
/// the sample resident of the demo and the shells' "request a sample licence" button.
pub const SAMPLE_RESIDENT_JSON: &str = r#"{"name":"张三","sex":"女","ethnicity":"汉","birth_date":"1949-12-31","address":"北京市朝阳区建国路88号","id_number":"11010519491231002X","issuing_authority":"北京市公安局朝阳分局"}"#;

/// [`enrol`] for the device registered in `store` (tests and the demo: the back office at the counter).
pub fn enrol_device_of(
    st: &SharedState,
    store: &zhangban_core::store::Store,
    licence_type: LicenceType,
    elements: &BTreeMap<String, ElementValue>,
) -> Result<(), ApiError> {
    let reg = zhangban_core::sync::registration(store)
        .map_err(internal)?
        .ok_or_else(|| ApiError::invalid("device", "not registered", "设备未注册"))?;
    enrol(st, &reg.device_id, licence_type, elements)
}

/// Enrols `elements` as the register's record of `licence_type` for the person using `device_id` (the
/// back office's 实名认证 step; also `POST /v1/admin/register`). Issuance without a case takes them from here.
pub fn enrol(
    st: &SharedState,
    device_id: &str,
    licence_type: LicenceType,
    elements: &BTreeMap<String, ElementValue>,
) -> Result<(), ApiError> {
    let json = serde_json::to_string(elements).map_err(internal)?;
    st.with_db(|c| {
        c.execute(
            "INSERT INTO person_register (device_id, licence_type, elements) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id, licence_type) DO UPDATE SET elements = excluded.elements",
            params![device_id, licence_type.key(), json],
        )?;
        Ok(())
    })
}

fn no_record(en: &str, zh: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "no_record", en.to_string(), zh.to_string())
}

/// What the platform's own records say this device's person holds: the licence an approved case of this
/// device offered (`case_id`), or the register's record. Never what the request says.
fn platform_record(
    st: &SharedState,
    device_id: &str,
    t: LicenceType,
    case_id: Option<&str>,
) -> Result<BTreeMap<String, ElementValue>, ApiError> {
    match case_id {
        Some(case_id) => {
            let data: Option<String> = st.with_db(|c| {
                Ok(c.query_row(
                    "SELECT e.data FROM case_events e JOIN cases k ON k.id = e.case_id
                     WHERE e.case_id = ?1 AND k.device_id = ?2 AND e.kind = 'approved'
                       AND k.state IN ('approved', 'completed')
                     ORDER BY e.seq DESC LIMIT 1",
                    params![case_id, device_id],
                    |r| r.get(0),
                )
                .optional()?)
            })?;
            let data = data
                .ok_or_else(|| no_record("no approved case of this device with that id", "本设备没有该已批准的办件"))?;
            let v: serde_json::Value = serde_json::from_str(&data).map_err(internal)?;
            let licence = &v["licence"];
            if licence["type"].as_str() != Some(t.key()) {
                return Err(no_record("the case's approval offers no licence of that type", "该办件未批准此类证照"));
            }
            let elements = licence["elements"].as_object().ok_or_else(|| internal("approval without elements"))?;
            Ok(elements
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), ElementValue::Text(v.as_str()?.to_string()))))
                .collect())
        }
        None => {
            let json: Option<String> = st.with_db(|c| {
                Ok(c.query_row(
                    "SELECT elements FROM person_register WHERE device_id = ?1 AND licence_type = ?2",
                    params![device_id, t.key()],
                    |r| r.get(0),
                )
                .optional()?)
            })?;
            let json = json.ok_or_else(|| {
                no_record(
                    "the platform's register holds no such record for this device's person",
                    "平台登记中没有本设备持有人的该类证照记录",
                )
            })?;
            serde_json::from_str(&json).map_err(internal)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolRequest {
    device_id: String,
    licence_type: String,
    elements: BTreeMap<String, ElementValue>,
}

async fn admin_enrol(
    State(st): State<SharedState>,
    req: JsonBody<EnrolRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req = body(req)?;
    let t = LicenceType::from_key(&req.licence_type)
        .ok_or_else(|| ApiError::invalid("licence_type", "unknown licence type", "未知的证照类型"))?;
    enrol(&st, &req.device_id, t, &req.elements)?;
    Ok(Json(json!({ "enrolled": true })))
}

async fn get_trust_list(State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let tl = trust_list(&st)?;
    let root = root_key()?;
    let signed = tl.sign(|m| root.sign(m)).map_err(internal)?;
    Ok(Json(json!({ "sequence": tl.sequence, "issued_at": tl.issued_at, "signed": hex::encode(signed) })))
}

/// `GET /v1/status-list`: shard 0, for phones of before sharding (API version 2).
async fn get_status_list(State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    signed_shard(&st, 0)
}

fn signed_shard(st: &SharedState, id: u32) -> Result<Json<serde_json::Value>, ApiError> {
    let sl = status_list_of(st, id)?;
    let root = root_key()?;
    let signed = sl.sign(|m| root.sign(m)).map_err(internal)?;
    Ok(Json(json!({
        "list_id": sl.list_id,
        "sequence": sl.sequence,
        "issued_at": sl.issued_at,
        "signed": hex::encode(signed),
    })))
}

/// `GET /v1/status-lists` (API version 3): the shards in use, each with its sequence and size.
async fn get_status_lists(State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut lists = Vec::new();
    for id in status_list_ids(&st)? {
        let sl = status_list_of(&st, id)?;
        lists.push(json!({ "id": id, "sequence": sl.sequence, "issued_at": sl.issued_at, "size": sl.size }));
    }
    Ok(Json(json!({ "lists": lists })))
}

/// `GET /v1/status-lists/{id}` (API version 3): one shard, signed (its id is inside the signature).
async fn get_status_list_shard(
    State(st): State<SharedState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: u32 = id.parse().map_err(|_| ApiError::not_found("status list"))?;
    if !status_list_ids(&st)?.contains(&id) {
        return Err(ApiError::not_found("status list"));
    }
    signed_shard(&st, id)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRevocation {
    grant_id: String,
    signature: String,
}

/// How many revocations one device may have on record (a bound on what any device can make us store).
const MAX_REVOCATIONS_PER_DEVICE: i64 = 10_000;

/// The holder revokes a grant it made, signed by the grant's device key (the recipients learn it from
/// `GET /v1/grants/revoked` and honour it only if that signature verifies under the grant's key; the
/// platform never sees the grant, so it cannot tell whose grant it is).
async fn revoke_grant(
    State(st): State<SharedState>,
    dev: DeviceAuth,
    req: JsonBody<GrantRevocation>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req = body(req)?;
    if req.grant_id.len() != 32 || hex::decode(&req.grant_id).is_err() {
        return Err(ApiError::invalid("grant_id", "must be 32 hex characters", "须为 32 位十六进制"));
    }
    if req.signature.len() != 128 || hex::decode(&req.signature).is_err() {
        return Err(ApiError::invalid(
            "signature",
            "must be the holder's ES256 signature (r ‖ s, 128 hex characters) over ZBGR1 ‖ grant id",
            "须为持证人设备对撤销内容的签名（128 位十六进制）",
        ));
    }
    let grant_id = req.grant_id.to_ascii_lowercase();
    st.with_db(|c| {
        let held: i64 =
            c.query_row("SELECT count(*) FROM signed_grant_revocations WHERE device_id = ?1", [&dev.device_id], |r| {
                r.get(0)
            })?;
        if held >= MAX_REVOCATIONS_PER_DEVICE {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_revocations",
                "this device has too many revocations on record",
                "此设备的撤销记录过多",
            ));
        }
        c.execute(
            "INSERT OR IGNORE INTO signed_grant_revocations (grant_id, device_id, signature, revoked_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![grant_id, dev.device_id, req.signature.to_ascii_lowercase(), now_secs()],
        )?;
        Ok(())
    })?;
    Ok(Json(json!({ "grant_id": grant_id, "revoked": true })))
}

async fn revoked_grants(State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let list: Vec<serde_json::Value> = st.with_db(|c| {
        let mut s =
            c.prepare("SELECT grant_id, signature FROM signed_grant_revocations ORDER BY grant_id, device_id")?;
        let v = s
            .query_map([], |r| Ok(json!({ "grant_id": r.get::<_, String>(0)?, "signature": r.get::<_, String>(1)? })))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    })?;
    Ok(Json(json!({ "revocations": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminRevoke {
    licence_id: String,
}

/// Sandbox-only: a department revokes a licence (it shows in the next status list).
pub fn revoke_licence(st: &SharedState, licence_id: &str) -> Result<bool, ApiError> {
    st.with_db(|c| {
        Ok(c.execute(
            "UPDATE licences SET revoked_at = ?2 WHERE licence_id = ?1 AND revoked_at IS NULL",
            params![licence_id, now_secs()],
        )? == 1)
    })
}

async fn admin_revoke(
    State(st): State<SharedState>,
    req: JsonBody<AdminRevoke>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req = body(req)?;
    let known: bool = st.with_db(|c| {
        Ok(c.query_row("SELECT 1 FROM licences WHERE licence_id = ?1", [&req.licence_id], |_| Ok(()))
            .optional()?
            .is_some())
    })?;
    if !known {
        return Err(ApiError::not_found("licence"));
    }
    revoke_licence(&st, &req.licence_id)?;
    Ok(Json(json!({ "licence_id": req.licence_id, "revoked": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminWithdraw {
    department: String,
}

async fn admin_withdraw(
    State(st): State<SharedState>,
    req: JsonBody<AdminWithdraw>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req = body(req)?;
    if !DEPARTMENTS.iter().any(|d| d.0 == req.department) {
        return Err(ApiError::not_found("department"));
    }
    department_key(&st, &req.department)?;
    st.with_db(|c| {
        c.execute("UPDATE issuer_keys SET withdrawn = 1 WHERE department = ?1", [&req.department])?;
        Ok(())
    })?;
    Ok(Json(json!({ "department": req.department, "withdrawn": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_list_doubles_to_cover_what_is_taken_and_stops_at_its_cap() {
        assert_eq!(covered_size(16, 64, 0), 16);
        assert_eq!(covered_size(16, 64, 16), 16);
        assert_eq!(covered_size(16, 64, 17), 32);
        assert_eq!(covered_size(16, 64, 33), 64);
        assert_eq!(covered_size(16, 64, 1000), 64);
        assert_eq!(covered_size(16 * 1024, 1 << 20, 16 * 1024 + 1), 32 * 1024);
        assert_eq!(covered_size(16 * 1024, 1 << 20, u64::MAX), 1 << 20);
        // A first size above the cap, or zero, still gives a list a phone accepts.
        assert_eq!(covered_size(1 << 21, 1 << 20, 0), 1 << 20);
        assert_eq!(covered_size(0, 64, 0), 1);
    }

    #[test]
    fn a_full_shard_sends_the_next_licence_to_the_next_shard() {
        const B: u64 = MAX_STATUS_BITS;
        assert_eq!(next_status_index(None, 4, 3), Some(0));
        assert_eq!(next_status_index(Some(2), 4, 3), Some(3));
        assert_eq!(next_status_index(Some(3), 4, 3), Some(B));
        assert_eq!(next_status_index(Some(B + 3), 4, 3), Some(2 * B));
        assert_eq!(next_status_index(Some(2 * B + 3), 4, 3), None, "past the last shard");
        assert_eq!(next_status_index(Some(B - 1), B, 2), Some(B), "a shard at the phone's limit");
        assert_eq!(next_status_index(Some(B - 1), B, 1), None);
        // A cap above what a phone accepts is held to it.
        assert_eq!(next_status_index(Some(B - 1), 2 * B, 2), Some(B));
    }

    #[test]
    fn root_test_key_matches_the_pinned_public_key() {
        let k = root_key().unwrap();
        assert_eq!(k.public_key(), zhangban_core::anchors::ROOT_PUBLIC_KEY.to_vec());
        const { assert!(zhangban_core::anchors::SANDBOX, "the sandbox runs on the sandbox anchors") };
    }

    #[test]
    fn department_codes_are_valid_and_cover_every_type() {
        for (_, uscc, ..) in DEPARTMENTS {
            zhangban_core::wallet::ids::validate_uscc(uscc).unwrap();
        }
        for t in LicenceType::ALL {
            assert!(DEPARTMENTS.iter().any(|d| d.4.contains(&t)), "{t:?}");
        }
    }
}
