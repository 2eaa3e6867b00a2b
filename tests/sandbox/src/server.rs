//! Sandbox platform: the HTTP server (axum) and its state.
//!
//! # How to add your module (wallet, forms' catalog, cases)
//! 1. In your file (`issuer.rs`, `catalog.rs`, `cases.rs` …) write `pub fn routes() -> Router<SharedState>`
//!    with your handlers (`State(st): State<SharedState>`; use [`AppState::with_db`] for the database and
//!    [`ApiError`] for failures; [`DeviceAuth`] as an extractor when a registered device must call).
//! 2. Add ONE `.merge(yourmod::routes())` line in [`router`] below.
//! 3. Your own tables: write `pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS …;"` in your file and
//!    add it to [`SCHEMAS`]. Every statement must be idempotent (`IF NOT EXISTS`): it runs at each start.
//! 4. In-memory state that is not a table (an issuer signing key, a fault switch): add a field to
//!    [`AppState`] with a `Default`-able type and initialise it in [`AppState::new`].
//!
//! Request bodies are bounded by [`Config::max_body_bytes`] (axum's `DefaultBodyLimit`); a route that needs
//! more (uploads) sets its own `DefaultBodyLimit::max(..)` layer on that route only.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Every module's schema, applied in order at start. Add yours here (see the module docs).
pub const SCHEMAS: &[&str] = &[
    SCHEMA,
    crate::catalog::SCHEMA,
    crate::cases::SCHEMA,
    crate::issuer::SCHEMA,
    crate::agents::SCHEMA,
    crate::counter::SCHEMA,
    crate::transfer::SCHEMA,
    crate::blobs::SCHEMA,
];

/// The server's own tables: registered devices.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    model TEXT NOT NULL,
    app_version TEXT NOT NULL,
    token_sha256 TEXT NOT NULL,
    registered_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_token ON devices(token_sha256);
-- Registration challenges are not stored when handed out (anyone may ask for any number): each carries its
-- expiry and a MAC under the platform's secret; only challenges used by a registration are kept, until they expire.
CREATE TABLE IF NOT EXISTS used_challenges (challenge TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS platform_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
-- A phone whose person moved to another phone (transfer.rs): its token is refused from then on.
CREATE TABLE IF NOT EXISTS device_revocations (
    device_id TEXT PRIMARY KEY,
    replaced_by TEXT NOT NULL,
    at INTEGER NOT NULL
);";

/// How long a registration challenge may be used.
const CHALLENGE_SECS: i64 = 300;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted by default (bytes).
    pub max_body_bytes: usize,
    /// The token the back office (`/admin/…`, `/v1/admin/…`) must send as `X-Admin-Token`. Default: the
    /// environment's [`ADMIN_TOKEN_ENV`], else a random one per process ([`admin_token`] tells it).
    pub admin_token: Option<String>,
    /// Indices the revocation status list covers at first ([`crate::issuer::STATUS_LIST_SIZE`]); the list
    /// doubles as licences take indices, up to [`Config::status_list_max`]. A test makes it small.
    pub status_list_size: u64,
    /// The most indices one status list (shard) may grow to: the largest list a phone accepts,
    /// [`zhangban_core::wallet::trust::MAX_STATUS_BITS`] (1,048,576). When a shard is full the next licence
    /// goes to the next shard (ADR 0039). A test makes it small to cross shards quickly.
    pub status_list_max: u64,
    /// The most status lists (shards) the platform publishes: [`zhangban_core::wallet::MAX_STATUS_LISTS`]
    /// (a phone refuses more). Past the last shard's cap issuance answers `503 status_list_full`.
    pub status_lists_max: u32,
}

/// Environment variable holding the back office's token (for `serve` and the `clerk` command).
pub const ADMIN_TOKEN_ENV: &str = "ZHANGBAN_SANDBOX_ADMIN_TOKEN";
/// Header the back office sends its token in (a custom header: a cross-site page cannot send it without a
/// CORS preflight, which the sandbox never allows).
pub const ADMIN_TOKEN_HEADER: &str = "x-admin-token";

/// The token of every server this process starts unless its [`Config`] or the environment names one:
/// random, made once per process.
fn process_admin_token() -> String {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let mut b = [0u8; 16];
            // Without randomness the back office stays shut: an empty token is never accepted.
            SystemRandom::new().fill(&mut b).map(|_| hex::encode(b)).unwrap_or_default()
        })
        .clone()
}

/// The back-office token a client in this process should send: [`ADMIN_TOKEN_ENV`] when set, else the one
/// this process's servers use.
pub fn admin_token() -> Option<String> {
    std::env::var(ADMIN_TOKEN_ENV).ok().filter(|t| !t.is_empty()).or_else(|| Some(process_admin_token()))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: 64 * 1024,
            admin_token: std::env::var(ADMIN_TOKEN_ENV).ok().filter(|t| !t.is_empty()),
            status_list_size: crate::issuer::STATUS_LIST_SIZE,
            status_list_max: zhangban_core::wallet::trust::MAX_STATUS_BITS,
            status_lists_max: zhangban_core::wallet::MAX_STATUS_LISTS,
        }
    }
}

/// Shared state of all handlers. Add fields for your module here (see the module docs).
pub struct AppState {
    /// The platform's own SQLite database (one connection; handlers hold it briefly, never across `.await`).
    db: Mutex<Connection>,
    pub config: Config,
    /// Fault injection on the device API (cases).
    pub faults: crate::faults::Faults,
    /// The current catalog's items, parsed once per published version (cases).
    pub items: crate::cases::ItemCache,
    /// The back office's token (see [`Config::admin_token`]).
    pub admin_token: String,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Opens (or creates) the database at `db` (`None`: in memory) and applies [`SCHEMAS`] and the seed catalog.
    pub fn new(db: Option<&Path>, config: Config) -> Result<SharedState, ApiError> {
        let conn = match db {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        // Handlers use `prepare_cached` on their hot statements: room for all modules' statements.
        conn.set_prepared_statement_cache_capacity(64);
        for schema in SCHEMAS {
            conn.execute_batch(schema)?;
        }
        crate::catalog::seed(&conn)?;
        let admin_token = config.admin_token.clone().or_else(admin_token).unwrap_or_default();
        Ok(Arc::new(AppState {
            db: Mutex::new(conn),
            config,
            faults: Default::default(),
            items: Default::default(),
            admin_token,
        }))
    }

    /// The database connection. Keep the guard short; never hold it across an `.await`.
    pub fn db(&self) -> MutexGuard<'_, Connection> {
        // rusqlite rolls back an unfinished transaction when a panic unwinds, so a poisoned lock is safe.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the database connection.
    pub fn with_db<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut g = self.db();
        f(&mut g)
    }
}

/// The whole platform. Modules add their routes here, one `.merge` line each.
pub fn router(state: SharedState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/devices/challenge", post(new_challenge))
        .route("/v1/devices", post(register_device))
        .route("/v1/catalog", get(get_catalog))
        .merge(crate::issuer::routes())
        // .merge(crate::catalog::routes())
        .merge(crate::cases::routes())
        .merge(crate::agents::routes())
        .merge(crate::counter::routes())
        .merge(crate::transfer::routes())
        .merge(crate::blobs::routes())
        .merge(crate::faults::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::faults::middleware))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admin_guard))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A running server (in-process).
pub struct Running {
    pub addr: SocketAddr,
    pub url: String,
    pub state: SharedState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds `addr` (e.g. `127.0.0.1:0`) and serves the platform on the current tokio runtime.
pub async fn start(addr: &str, db: Option<&Path>, config: Config) -> Result<Running, Box<dyn std::error::Error>> {
    let state = AppState::new(db, config)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            eprintln!("sandbox server error: {e}");
        }
    });
    Ok(Running { addr, url: format!("http://{addr}"), state, shutdown: Some(tx), task })
}

// ---- errors -------------------------------------------------------------------------------------

/// A failure returned to the client as `{"error": code, "message": en, "message_zh": zh}` with a status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub message_zh: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        ApiError { status, code, message: en.into(), message_zh: zh.into() }
    }
    /// 400 naming the field at fault.
    pub fn invalid(field: &str, en: &str, zh: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", format!("{field}: {en}"), format!("{field}：{zh}"))
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "device token missing or unknown", "设备未注册或令牌无效")
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), format!("未找到{what}"))
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string(), "平台内部错误，请稍后重试")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.code, "message": self.message, "message_zh": self.message_zh }));
        (self.status, body).into_response()
    }
}

// ---- device authentication ----------------------------------------------------------------------

/// Extractor: the registered device calling, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub device_id: String,
}

impl FromRequestParts<SharedState> for DeviceAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(ApiError::unauthorized)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .filter(|t| t.len() <= 128)
            .ok_or_else(ApiError::unauthorized)?;
        let hash = sha256_hex(token.as_bytes());
        let id: Option<String> = state.with_db(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM devices WHERE token_sha256 = ?1
                 AND NOT EXISTS (SELECT 1 FROM device_revocations r WHERE r.device_id = devices.id)",
            )?;
            Ok(st.query_row([hash], |r| r.get(0)).optional()?)
        })?;
        id.map(|device_id| DeviceAuth { device_id }).ok_or_else(ApiError::unauthorized)
    }
}

/// Whether `path` is a back-office route.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/") || path.starts_with("/v1/admin/")
}

/// The back office (clerk actions, fault injection, licence revocation, issuer keys, the person register)
/// answers only a caller on the same machine (the peer address is loopback) that sends the admin token.
/// A device token does not do; a browser page elsewhere cannot send the header without a preflight.
async fn admin_guard(
    State(st): State<SharedState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if is_admin_path(req.uri().path()) {
        let peer = req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        if !peer.is_some_and(|ip| ip.is_loopback()) {
            return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "back office: loopback only", "后台仅限本机访问")
                .into_response();
        }
        let token = req.headers().get(ADMIN_TOKEN_HEADER).and_then(|h| h.to_str().ok()).unwrap_or_default();
        // Compared as digests: the comparison's timing tells nothing about the token.
        let ok = !st.admin_token.is_empty() && sha256_hex(token.as_bytes()) == sha256_hex(st.admin_token.as_bytes());
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "back office: X-Admin-Token missing or wrong",
                "后台令牌缺失或错误",
            )
            .into_response();
        }
    }
    next.run(req).await
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// `n` random bytes, hex.
pub fn random_hex(n: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new().fill(&mut buf).map_err(|_| ApiError::internal("random generator failed"))?;
    Ok(hex::encode(buf))
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---- handlers -----------------------------------------------------------------------------------

async fn health(State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let catalog_version = st.with_db(|c| crate::catalog::latest_version(c))?;
    Ok(Json(json!({ "status": "ok", "service": "zhangban-sandbox", "catalog_version": catalog_version })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRegistration {
    /// The device's public key: uncompressed P-256 (SEC1), hex.
    pub public_key: String,
    pub platform: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub app_version: String,
    /// A challenge from `POST /v1/devices/challenge`, used once.
    #[serde(default)]
    pub challenge: String,
    /// The device's signature over `zhangban_core::sync::registration_tbs` (DER, hex).
    #[serde(default)]
    pub signature: String,
}

#[derive(Debug, Serialize)]
pub struct DeviceRegistered {
    pub device_id: String,
    pub token: String,
    pub registered_at: i64,
}

fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(
            field,
            &format!("must hold {min} to {max} characters"),
            &format!("长度须为 {min} 至 {max} 个字符"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(field, "must not contain control characters", "不得包含控制字符"));
    }
    Ok(())
}

fn possession_failed() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "possession",
        "the signature does not prove possession of the device key, or the challenge is unknown, used or expired: get a new challenge",
        "设备签名无效，或挑战值无效、已使用、已过期：请重新获取挑战值后注册",
    )
}

/// A one-time registration challenge (no authentication: the device has no token yet). Nothing is stored:
/// the challenge is its expiry, 16 random bytes and a MAC over both under the platform's secret, so a flood
/// of requests uses up nothing that a real phone needs (issue 10, finding 15).
async fn new_challenge(State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let expires_at = now_secs() + CHALLENGE_SECS;
    let mut body = expires_at.to_be_bytes().to_vec();
    body.extend(hex::decode(random_hex(16)?).map_err(|_| ApiError::internal("random"))?);
    let tag = hmac::sign(&challenge_key(&st)?, &body);
    body.extend(&tag.as_ref()[..16]);
    Ok(Json(json!({ "challenge": hex::encode(body), "expires_at": expires_at })))
}

/// The platform's challenge key, made once per database.
fn challenge_key(st: &SharedState) -> Result<hmac::Key, ApiError> {
    st.with_db(|c| {
        c.execute(
            "INSERT OR IGNORE INTO platform_secrets (name, value) VALUES ('challenge', ?1)",
            [hex::decode(random_hex(32)?).map_err(|_| ApiError::internal("random"))?],
        )?;
        let v: Vec<u8> =
            c.query_row("SELECT value FROM platform_secrets WHERE name = 'challenge'", [], |r| r.get(0))?;
        Ok(hmac::Key::new(hmac::HMAC_SHA256, &v))
    })
}

/// The expiry of a challenge this platform made and that has not expired; `None` for anything else.
fn challenge_expiry(st: &SharedState, challenge: &str, now: i64) -> Result<Option<i64>, ApiError> {
    let Ok(bytes) = hex::decode(challenge) else { return Ok(None) };
    if bytes.len() != 40 {
        return Ok(None);
    }
    let (body, tag) = bytes.split_at(24);
    let expected = hmac::sign(&challenge_key(st)?, body);
    if !ct_eq(&expected.as_ref()[..16], tag) {
        return Ok(None);
    }
    let mut e = [0u8; 8];
    e.copy_from_slice(&body[..8]);
    let expires_at = i64::from_be_bytes(e);
    Ok((expires_at >= now && expires_at <= now + CHALLENGE_SECS).then_some(expires_at))
}

/// Constant-time comparison of two short byte strings.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Registers a device. The same public key registers again to the same device id with a new token
/// (a retried registration whose response was lost does not create a second device).
async fn register_device(
    State(st): State<SharedState>,
    body: Result<Json<DeviceRegistration>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<DeviceRegistered>, ApiError> {
    let Json(req) = body
        .map_err(|e| ApiError::new(e.status(), "invalid", format!("body: {}", e.body_text()), "请求内容格式不正确"))?;
    if req.public_key.len() != 130 || !req.public_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(
            "public_key",
            "must be an uncompressed P-256 public key in hex (130 characters)",
            "须为十六进制的 P-256 公钥（未压缩，130 个字符）",
        ));
    }
    if !["android", "ios", "desktop"].contains(&req.platform.as_str()) {
        return Err(ApiError::invalid("platform", "must be android, ios or desktop", "须为 android、ios 或 desktop"));
    }
    check_text("model", &req.model, 0, 100)?;
    check_text("app_version", &req.app_version, 0, 40)?;
    // Proof of possession: the signature over the challenge and the registered values must verify
    // under the public key being registered.
    let info = zhangban_core::sync::DeviceInfo {
        public_key: req.public_key.clone(),
        platform: req.platform.clone(),
        model: req.model.clone(),
        app_version: req.app_version.clone(),
    };
    if req.challenge.is_empty() || req.challenge.len() > 128 || req.signature.is_empty() || req.signature.len() > 200 {
        return Err(ApiError::invalid(
            "signature",
            "a challenge from POST /v1/devices/challenge and the device's signature are required",
            "须附平台下发的挑战值和设备签名",
        ));
    }
    if !zhangban_core::sync::verify_registration(&req.challenge, &info, &req.signature) {
        return Err(possession_failed());
    }
    let token = random_hex(32)?;
    let now = now_secs();
    let Some(expires_at) = challenge_expiry(&st, &req.challenge, now)? else {
        return Err(possession_failed());
    };
    let id = st.with_db(|c| {
        let tx = c.transaction()?;
        // Each challenge registers once, while fresh: the used ones are kept until they expire.
        tx.execute("DELETE FROM used_challenges WHERE expires_at < ?1", [now])?;
        if tx.execute(
            "INSERT OR IGNORE INTO used_challenges (challenge, expires_at) VALUES (?1, ?2)",
            params![req.challenge.to_ascii_lowercase(), expires_at],
        )? != 1
        {
            return Err(possession_failed());
        }
        let existing: Option<String> =
            tx.query_row("SELECT id FROM devices WHERE public_key = ?1", [&req.public_key], |r| r.get(0)).optional()?;
        let id = match existing {
            Some(id) => {
                tx.execute(
                    "UPDATE devices SET token_sha256 = ?2, platform = ?3, model = ?4, app_version = ?5 WHERE id = ?1",
                    params![id, sha256_hex(token.as_bytes()), req.platform, req.model, req.app_version],
                )?;
                id
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                // The sandbox stands in for real-name verification (实名认证) at sign-up: every new device's
                // person is the sample resident (tests enrol others with `issuer::enrol`).
                tx.execute(
                    "INSERT OR IGNORE INTO person_register (device_id, licence_type, elements) VALUES (?1, ?2, ?3)",
                    params![id, "resident_id", crate::issuer::SAMPLE_RESIDENT_JSON],
                )?;
                tx.execute(
                    "INSERT INTO devices (id, public_key, platform, model, app_version, token_sha256, registered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        req.public_key,
                        req.platform,
                        req.model,
                        req.app_version,
                        sha256_hex(token.as_bytes()),
                        now
                    ],
                )?;
                id
            }
        };
        tx.commit()?;
        Ok(id)
    })?;
    Ok(Json(DeviceRegistered { device_id: id, token, registered_at: now }))
}

#[derive(Debug, Deserialize)]
struct CatalogQuery {
    #[serde(default)]
    since_version: Option<i64>,
}

/// `GET /v1/catalog?since_version=N`: `{"version": V, "up_to_date": true, "items": []}` when the client
/// already holds V, else the whole catalog of version V (also when N is newer than V: a reset platform).
async fn get_catalog(
    State(st): State<SharedState>,
    query: Result<Query<CatalogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::invalid("since_version", "must be a whole number", "须为整数"))?;
    let since = q.since_version.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::invalid("since_version", "must not be negative", "不能为负数"));
    }
    let (version, items) = st.with_db(|c| crate::catalog::latest(c))?;
    if since == version {
        return Ok(Json(json!({ "version": version, "up_to_date": true, "items": [] })));
    }
    Ok(Json(json!({ "version": version, "up_to_date": false, "items": items })))
}
