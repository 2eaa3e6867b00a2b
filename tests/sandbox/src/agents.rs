//! Sandbox platform: agents doing proxy service (帮办代办). The API is in `docs/platform-api.md` § Agents.
//!
//! * `POST /v1/agents` (device): a registered device of an agent of a known organisation gets an agent
//!   certificate for its device key, signed by the platform root (the sandbox's TEST root key).
//! * Submissions carrying `proxy` (see `cases::submit`) are checked by [`check_proxy`]: the certificate
//!   (root signature, validity, the calling device's key, not suspended), the mandate (the principal's
//!   signature on a delegation, or the agent's on a door consent), that they name each other, validity,
//!   revocation, scope (every item, the `submit` action), single use, and for a door consent that the
//!   catalog offers each item at home (`at_home` channel: the lower assurance is accepted only there).
//!   A refusal is 403 `proxy_refused` naming what failed, in Chinese and English.
//! * `POST /v1/delegations/revocations` (the principal's device): a signed revocation with its
//!   delegation; `GET /v1/agents/revocations?since=` (the agent's device): the revoked mandates.
//! * Events of a case submitted for a principal who delegated from a registered phone are also
//!   delivered to that phone, marked `principal_view` ([`relay`]).
//! * `POST /v1/agents/access` (the agent's device): its `agent.access` entries, signed by its device key,
//!   with its certificate and the mandates they are under ([`access_report`]); each entry is kept once
//!   per (agent, entry number) and, for a mandate whose principal has a registered phone, relayed to it
//!   as a root-signed `RelayedActivity` of kind `access:<action>` / `access:denied:<action>`, also after
//!   a revocation. Door consents' entries are kept for the clerk's view only.
//! * Back office: `GET /admin/agents/activity` (who acted for whom), `POST /admin/mandates/{id}/revoke`
//!   (a revocation by phone call, e.g. for a door consent).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};
use zhangban_core::agent::{AgentCertificate, Delegation, DoorConsent, RelayedActivity, Revocation};
use zhangban_core::wallet::DeviceSigner;

use crate::server::{now_secs, ApiError, DeviceAuth, SharedState};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS agent_orgs (code TEXT PRIMARY KEY, name TEXT NOT NULL);
INSERT OR IGNORE INTO agent_orgs (code, name) VALUES
    ('12110105MB0000001A', '朝阳区政务服务中心'),
    ('12110105MB0000002B', '幸福村便民服务站');
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL UNIQUE,
    cert_id TEXT NOT NULL,
    name TEXT NOT NULL,
    org_code TEXT NOT NULL,
    valid_until INTEGER NOT NULL,
    suspended INTEGER NOT NULL DEFAULT 0,
    registered_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mandate_revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mandate_id TEXT NOT NULL UNIQUE,
    at INTEGER NOT NULL,
    by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS case_proxies (
    case_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    mandate_id TEXT NOT NULL,
    assurance TEXT NOT NULL,
    single_use INTEGER NOT NULL,
    principal_name TEXT NOT NULL,
    principal_device TEXT
);
CREATE INDEX IF NOT EXISTS case_proxies_mandate ON case_proxies(mandate_id);
CREATE TABLE IF NOT EXISTS agent_access (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    mandate_id TEXT NOT NULL,
    assurance TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    principal_device TEXT,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    items TEXT NOT NULL,
    element TEXT,
    missing TEXT,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, seq)
);
CREATE TABLE IF NOT EXISTS agent_certs_ended (
    cert_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_access_refused (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    what TEXT NOT NULL,
    reason TEXT NOT NULL
);";

/// Agent certificates are valid for a year.
const CERT_DAYS: i64 = 365;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/agents", post(register))
        .route("/v1/agents/revocations", get(revocations))
        // Its own bound (the server's default is smaller): the body the core keeps each report within.
        .route("/v1/agents/access", post(access_report).layer(DefaultBodyLimit::max(MAX_ACCESS_BODY + 1)))
        .route("/v1/delegations/revocations", post(revoke))
        .route("/admin/agents/activity", get(activity))
        .route("/admin/mandates/{id}/revoke", post(admin_revoke))
        .route("/admin/agents/{id}/end-certificate", post(admin_end_certificate))
}

/// Whether the service centre ended this certificate (`POST /admin/agents/{id}/end-certificate`): refused
/// from then on, for submissions and access reports alike, until the agent's phone registers again (a new
/// certificate).
fn certificate_ended(c: &Connection, cert_id: &str) -> Result<bool, ApiError> {
    Ok(c.query_row("SELECT 1 FROM agent_certs_ended WHERE cert_id = ?1", [cert_id], |_| Ok(())).optional()?.is_some())
}

const CERT_ENDED_EN: &str = "this agent certificate was ended by the service centre";
const CERT_ENDED_ZH: &str = "该帮办员证书已被服务中心终止";

/// A lower-assurance mandate (door consent, a relative's delegation) covers only items offered at home.
fn at_home_only(
    catalog: &std::collections::HashMap<String, Value>,
    items: &[String],
    what: &str,
) -> Result<(), ApiError> {
    for i in items {
        let at_home = catalog
            .get(i)
            .and_then(|it| it.get("channels"))
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|c| c == "at_home"));
        if !at_home {
            let zh_what = if what == "a door consent" { "上门确认" } else { "亲属代签的委托" };
            return Err(refused(
                "assurance",
                &format!("item {i} needs a delegation signed on the principal's own phone; {what} is not enough"),
                &format!("事项 {i} 须由委托人本人手机签署授权委托，{zh_what}不足以办理"),
            ));
        }
    }
    Ok(())
}

fn refused(what: &str, en: &str, zh: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "proxy_refused",
        format!("proxy refused ({what}): {en}"),
        format!("代办被拒绝（{what}）：{zh}"),
    )
}

fn device_key(conn: &Connection, device: &str) -> Result<Vec<u8>, ApiError> {
    let k: Option<String> =
        conn.query_row("SELECT public_key FROM devices WHERE id = ?1", [device], |r| r.get(0)).optional()?;
    k.and_then(|k| hex::decode(k).ok()).ok_or_else(ApiError::unauthorized)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    name: String,
    org_code: String,
}

async fn register(State(st): State<SharedState>, auth: DeviceAuth, body: Bytes) -> Result<Json<Value>, ApiError> {
    let r: Registration = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid("body", "expected {name, org_code}", "须为 {name, org_code}"))?;
    let name = r.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 50 {
        return Err(ApiError::invalid("name", "1 to 50 characters", "须为 1 至 50 个字符"));
    }
    let root = crate::issuer::root_key()?;
    st.with_db(|c| {
        let org: Option<String> =
            c.query_row("SELECT name FROM agent_orgs WHERE code = ?1", [&r.org_code], |x| x.get(0)).optional()?;
        let org = org.ok_or_else(|| {
            ApiError::invalid("org_code", "not an organisation that employs agents", "不是开展帮办代办的机构")
        })?;
        let key = device_key(c, &auth.device_id)?;
        let existing: Option<String> =
            c.query_row("SELECT id FROM agents WHERE device_id = ?1", [&auth.device_id], |x| x.get(0)).optional()?;
        let agent_id =
            existing.unwrap_or_else(|| format!("agent-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
        let now = now_secs();
        let cert = AgentCertificate {
            cert_id: uuid::Uuid::new_v4().simple().to_string(),
            agent_id: agent_id.clone(),
            name: name.clone(),
            org_code: r.org_code.clone(),
            org_name: org,
            device_key: key,
            valid_from: now - 60,
            valid_until: now + CERT_DAYS * 86_400,
        };
        let signed = cert.sign(|m| root.sign(m)).map_err(ApiError::internal)?;
        c.execute(
            "INSERT INTO agents (id, device_id, cert_id, name, org_code, valid_until, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET cert_id = excluded.cert_id, name = excluded.name,
                 org_code = excluded.org_code, valid_until = excluded.valid_until",
            params![agent_id, auth.device_id, cert.cert_id, name, r.org_code, cert.valid_until, now],
        )?;
        Ok(Json(json!({ "agent_id": agent_id, "certificate": hex::encode(signed) })))
    })
}

/// What a checked proxy establishes, stored with the case.
pub struct ProxyInfo {
    pub agent_id: String,
    pub mandate_id: String,
    pub assurance: &'static str,
    pub single_use: bool,
    pub principal_name: String,
    pub principal_device: Option<String>,
    /// The principal's full ID number where the platform knows it (a door consent carries it; a delegation
    /// signed on a phone only a masked one, so the principal's registered record gives it): the receipt's
    /// query code is bound to it.
    pub principal_id: Option<String>,
}

fn hex_field(proxy: &Value, name: &str) -> Result<Vec<u8>, ApiError> {
    proxy
        .get(name)
        .and_then(Value::as_str)
        .filter(|h| h.len() <= 16 * 1024)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| ApiError::invalid(&format!("proxy.{name}"), "hex required", "须为十六进制"))
}

/// Checks a submission's `proxy` member (see the module docs). `items`: the submission's item codes.
pub fn check_proxy(
    tx: &Connection,
    device: &str,
    proxy: &Value,
    items: &[String],
    catalog: &std::collections::HashMap<String, Value>,
) -> Result<ProxyInfo, ApiError> {
    let now = now_secs();
    let cert =
        AgentCertificate::verify(&hex_field(proxy, "certificate")?, &zhangban_core::anchors::ROOT_PUBLIC_KEY, now)
            .map_err(|e| refused("certificate", &e.message_en(), &e.message_zh()))?;
    if cert.device_key != device_key(tx, device)? {
        return Err(refused("certificate", "issued for another device", "证书不属于提交的设备"));
    }
    let known: Option<(String, i64)> = tx
        .query_row("SELECT cert_id, suspended FROM agents WHERE id = ?1", [&cert.agent_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match known {
        Some((_, 1)) => return Err(refused("agent", "this agent is suspended", "该帮办员已被暂停")),
        None => return Err(refused("agent", "unknown agent", "未登记的帮办员")),
        _ => {}
    }
    if certificate_ended(tx, &cert.cert_id)? {
        return Err(refused("certificate", CERT_ENDED_EN, CERT_ENDED_ZH));
    }
    let assurance = proxy.get("assurance").and_then(Value::as_str).unwrap_or_default();
    let mandate = hex_field(proxy, "mandate")?;
    let mut level: &'static str = "delegation";
    let (id, scope, valid_from, valid_until, single_use, name, principal_device, principal_id) = match assurance {
        "delegation" | "family" => {
            let d = Delegation::verify(&mandate).map_err(|e| refused("signature", &e.message_en(), &e.message_zh()))?;
            // 亲友代办 (signed by a relative's phone): the lower assurance, only for items offered at home.
            if d.relative.is_some() {
                at_home_only(catalog, items, "a delegation signed by a relative")?;
                level = "family";
            }
            if d.agent_cert_id != cert.cert_id || d.agent_key != cert.device_key {
                return Err(refused("agent", "the delegation names another agent", "委托书授权的不是该帮办员"));
            }
            let pd: Option<String> = tx
                .query_row("SELECT id FROM devices WHERE public_key = ?1", [hex::encode(&d.principal_key)], |r| {
                    r.get(0)
                })
                .optional()?;
            // The signing phone's registered person is the principal only when the principal signed; a
            // relative's phone is the relative's (no query code then: the platform cannot name the principal).
            let pid = match (&d.relative, pd.as_deref()) {
                (None, Some(dev)) => crate::counter::registered_id_number(tx, dev)?,
                _ => None,
            };
            (d.id, d.scope, d.valid_from, d.valid_until, d.single_use, d.principal_name, pd, pid)
        }
        "door" => {
            let c = DoorConsent::verify(&mandate, &cert.device_key)
                .map_err(|e| refused("signature", &e.message_en(), &e.message_zh()))?;
            if c.agent_cert_id != cert.cert_id {
                return Err(refused("agent", "the door consent names another certificate", "上门确认记录不属于该证书"));
            }
            // The lower assurance is accepted only for items the catalog offers at home (上门办).
            at_home_only(catalog, items, "a door consent")?;
            level = "door";
            (
                c.id,
                c.scope,
                c.valid_from,
                c.valid_until,
                c.single_use,
                c.principal_name,
                None,
                Some(c.principal_id_number),
            )
        }
        _ => return Err(ApiError::invalid("proxy.assurance", "delegation or door", "须为 delegation 或 door")),
    };
    if now < valid_from - 300 || now > valid_until {
        return Err(refused("validity", "the mandate is not valid now", "授权不在有效期内"));
    }
    let revoked: Option<i64> =
        tx.query_row("SELECT at FROM mandate_revocations WHERE mandate_id = ?1", [&id], |r| r.get(0)).optional()?;
    if revoked.is_some() {
        return Err(refused("revoked", "the principal revoked this mandate", "委托人已撤销该授权"));
    }
    if !scope.actions.contains(&zhangban_core::agent::Action::Submit) {
        return Err(refused("action:submit", "the mandate does not allow submitting", "授权范围不含提交"));
    }
    if let Some(i) = items.iter().find(|i| !scope.items.contains(i)) {
        return Err(refused(
            &format!("item:{i}"),
            &format!("item {i} is outside the mandate"),
            &format!("事项 {i} 不在授权范围内"),
        ));
    }
    if single_use {
        let used: i64 = tx.query_row("SELECT count(*) FROM case_proxies WHERE mandate_id = ?1", [&id], |r| r.get(0))?;
        if used > 0 {
            return Err(refused("used", "this single-use mandate was used already", "该一次性授权已使用"));
        }
    }
    Ok(ProxyInfo {
        agent_id: cert.agent_id,
        mandate_id: id,
        assurance: level,
        single_use,
        principal_name: name,
        principal_device,
        principal_id,
    })
}

/// Keeps who acted for whom with the new case, and tells the principal's phone (if any).
pub fn record(tx: &Connection, case_id: &str, p: &ProxyInfo, title: &str, receipt: &str) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO case_proxies (case_id, agent_id, mandate_id, assurance, single_use, principal_name, principal_device)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![case_id, p.agent_id, p.mandate_id, p.assurance, p.single_use, p.principal_name, p.principal_device],
    )?;
    if let Some(dev) = &p.principal_device {
        let client_ref: String = tx.query_row("SELECT client_ref FROM cases WHERE id = ?1", [case_id], |r| r.get(0))?;
        let at = now_secs();
        let signed = signed_entry(tx, dev, &p.mandate_id, "submitted", at, &p.agent_id, title, Some(receipt))?;
        tx.execute(
            "INSERT INTO case_events (case_id, device_id, client_ref, kind, at, actor, data) VALUES (?1, ?2, ?3, 'submitted', ?4, ?5, ?6)",
            params![
                case_id,
                dev,
                client_ref,
                at,
                p.agent_id,
                json!({ "principal_view": true, "title": title, "receipt": receipt, "signed": signed }).to_string()
            ],
        )?;
    }
    Ok(())
}

/// The statement relayed to a principal's phone, signed by the platform root and naming that phone's key
/// (`RelayedActivity`): the phone keeps only what verifies and is about it. Hex.
#[allow(clippy::too_many_arguments)]
fn signed_entry(
    tx: &Connection,
    device: &str,
    mandate_id: &str,
    kind: &str,
    at: i64,
    actor: &str,
    title: &str,
    receipt: Option<&str>,
) -> Result<String, ApiError> {
    let key: String = tx.query_row("SELECT public_key FROM devices WHERE id = ?1", [device], |r| r.get(0))?;
    let statement = RelayedActivity {
        principal_key: hex::decode(key).map_err(ApiError::internal)?,
        mandate_id: mandate_id.to_string(),
        kind: kind.chars().take(50).collect(),
        at,
        actor: actor.chars().take(100).collect(),
        case_title: title.chars().take(200).collect(),
        receipt: receipt.map(str::to_string),
        element: None,
        missing: None,
    };
    let root = crate::issuer::root_key()?;
    Ok(hex::encode(statement.sign(|m| root.sign(m)).map_err(ApiError::internal)?))
}

/// Copies an event of a case submitted for a principal to the principal's phone (called by
/// `cases::emit` for every event it writes).
pub fn relay(tx: &Connection, case_id: &str, kind: &str, actor: &str, data: &Value) -> Result<(), ApiError> {
    /// (principal device, client ref, title, receipt, mandate id)
    type Relayed = (Option<String>, String, String, Option<String>, String);
    let row: Option<Relayed> = tx
        .query_row(
            "SELECT p.principal_device, c.client_ref, c.title, c.receipt, p.mandate_id FROM case_proxies p JOIN cases c ON c.id = p.case_id
             WHERE p.case_id = ?1",
            [case_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((Some(dev), client_ref, title, receipt, mandate_id)) = row else { return Ok(()) };
    let at = now_secs();
    let signed = signed_entry(tx, &dev, &mandate_id, kind, at, actor, &title, receipt.as_deref())?;
    let mut d = json!({ "principal_view": true, "title": title, "receipt": receipt, "signed": signed });
    if let Some(r) = data.get("result").or_else(|| data.get("reason")) {
        d["detail"] = r.clone();
    }
    tx.execute(
        "INSERT INTO case_events (case_id, device_id, client_ref, kind, at, actor, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![case_id, dev, client_ref, kind, at, actor, d.to_string()],
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: i64,
}

async fn revocations(
    State(st): State<SharedState>,
    _auth: DeviceAuth,
    Query(q): Query<Since>,
) -> Result<Json<Value>, ApiError> {
    st.with_db(|c| {
        let mut s = c.prepare("SELECT seq, mandate_id, at FROM mandate_revocations WHERE seq > ?1 ORDER BY seq LIMIT 1000")?;
        let rows: Vec<Value> = s
            .query_map([q.since], |r| {
                Ok(json!({ "seq": r.get::<_, i64>(0)?, "mandate_id": r.get::<_, String>(1)?, "at": r.get::<_, i64>(2)? }))
            })?
            .collect::<Result<_, _>>()?;
        let next = rows.last().and_then(|r| r["seq"].as_i64()).unwrap_or(q.since);
        Ok(Json(json!({ "revoked": rows, "next": next })))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationBody {
    delegation: String,
    revocation: String,
}

async fn revoke(State(st): State<SharedState>, _auth: DeviceAuth, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: RevocationBody = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid("body", "expected {delegation, revocation}", "须为 {delegation, revocation}"))?;
    let signed = Delegation::from_text(&b.delegation)
        .map_err(|e| ApiError::invalid("delegation", &e.message_en(), &e.message_zh()))?;
    let d = Delegation::verify(&signed).map_err(|e| refused("signature", &e.message_en(), &e.message_zh()))?;
    let rb = hex::decode(&b.revocation).map_err(|_| ApiError::invalid("revocation", "hex required", "须为十六进制"))?;
    let r = Revocation::verify(&rb, &d.principal_key)
        .map_err(|e| refused("signature", &e.message_en(), &e.message_zh()))?;
    if r.delegation_id != d.id {
        return Err(ApiError::invalid("revocation", "revokes another delegation", "撤销声明与委托书不符"));
    }
    st.with_db(|c| {
        c.execute(
            "INSERT OR IGNORE INTO mandate_revocations (mandate_id, at, by) VALUES (?1, ?2, 'principal')",
            params![d.id, now_secs()],
        )?;
        Ok(Json(json!({ "mandate_id": d.id, "revoked": true })))
    })
}

async fn admin_revoke(State(st): State<SharedState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::invalid("id", "1 to 64 characters", "须为 1 至 64 个字符"));
    }
    st.with_db(|c| {
        c.execute(
            "INSERT OR IGNORE INTO mandate_revocations (mandate_id, at, by) VALUES (?1, ?2, 'clerk')",
            params![id, now_secs()],
        )?;
        Ok(Json(json!({ "mandate_id": id, "revoked": true })))
    })
}

/// `POST /admin/agents/{id}/end-certificate`: the service centre ends the agent's current certificate (lost
/// phone, the agent left; CLI `clerk --url URL end-certificate AGENT_ID`). Its submissions and access reports
/// are refused from then on (403 `proxy_refused (certificate)`); registering the phone again issues a new one.
async fn admin_end_certificate(State(st): State<SharedState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    st.with_db(|c| {
        let cert: Option<String> =
            c.query_row("SELECT cert_id FROM agents WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
        let cert = cert.ok_or_else(|| ApiError::not_found("agent"))?;
        c.execute(
            "INSERT OR IGNORE INTO agent_certs_ended (cert_id, agent_id, at) VALUES (?1, ?2, ?3)",
            params![cert, id, now_secs()],
        )?;
        Ok(Json(json!({ "agent_id": id, "cert_id": cert, "ended": true })))
    })
}

/// The clerk's view: every case submitted by an agent, for whom, under what.
pub fn activity_of(c: &Connection) -> Result<Value, ApiError> {
    let mut s = c.prepare(
        "SELECT p.case_id, c.receipt, c.title, p.agent_id, a.name, p.principal_name, p.assurance, p.mandate_id,
                EXISTS (SELECT 1 FROM mandate_revocations r WHERE r.mandate_id = p.mandate_id)
         FROM case_proxies p JOIN cases c ON c.id = p.case_id LEFT JOIN agents a ON a.id = p.agent_id
         ORDER BY c.submitted_at",
    )?;
    let rows: Vec<Value> = s
        .query_map([], |r| {
            Ok(json!({
                "case_id": r.get::<_, String>(0)?, "receipt": r.get::<_, String>(1)?, "title": r.get::<_, String>(2)?,
                "agent_id": r.get::<_, String>(3)?, "agent_name": r.get::<_, Option<String>>(4)?,
                "principal": r.get::<_, String>(5)?, "assurance": r.get::<_, String>(6)?,
                "mandate_id": r.get::<_, String>(7)?, "mandate_revoked": r.get::<_, bool>(8)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    // Every access the agents' phones reported (door consents' too: the clerk's view is where they are seen).
    let mut s = c.prepare(
        "SELECT x.agent_id, a.name, x.seq, x.mandate_id, x.assurance, x.principal_name, x.at, x.action, x.allowed,
                x.items, x.element, x.missing, x.principal_device IS NOT NULL
         FROM agent_access x LEFT JOIN agents a ON a.id = x.agent_id ORDER BY x.received_at, x.agent_id, x.seq",
    )?;
    let accesses: Vec<Value> = s
        .query_map([], |r| {
            Ok(json!({
                "agent_id": r.get::<_, String>(0)?, "agent_name": r.get::<_, Option<String>>(1)?,
                "seq": r.get::<_, i64>(2)?, "mandate_id": r.get::<_, String>(3)?, "assurance": r.get::<_, String>(4)?,
                "principal": r.get::<_, String>(5)?, "at": r.get::<_, i64>(6)?, "action": r.get::<_, String>(7)?,
                "allowed": r.get::<_, bool>(8)?,
                "items": serde_json::from_str::<Value>(&r.get::<_, String>(9)?).unwrap_or(Value::Null),
                "element": r.get::<_, Option<String>>(10)?, "missing": r.get::<_, Option<String>>(11)?,
                "relayed": r.get::<_, bool>(12)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    let refused: i64 = c.query_row("SELECT count(*) FROM agent_access_refused", [], |r| r.get(0))?;
    Ok(json!({ "cases": rows, "accesses": accesses, "access_reports_refused": refused }))
}

async fn activity(State(st): State<SharedState>) -> Result<Json<Value>, ApiError> {
    st.with_db(|c| Ok(Json(activity_of(c)?)))
}

/// Largest access-report body: the core's bound (`report::MAX_REPORT_BODY`), which the agent's phone keeps
/// each body within (the signed report is at most 32 KB; the mandates travel beside it).
const MAX_ACCESS_BODY: usize = zhangban_core::agent::report::MAX_REPORT_BODY;
/// Mandates in one access report.
const MAX_REPORT_MANDATES: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportMandate {
    id: String,
    assurance: String,
    mandate: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    certificate: String,
    mandates: Vec<ReportMandate>,
    report: String,
}

/// A mandate of the report, checked: whose, at what assurance, the principal's phone (if registered).
struct CheckedMandate {
    id: String,
    assurance: &'static str,
    principal_name: String,
    principal_device: Option<String>,
}

/// A refused report, kept on the platform's record (`agent_access_refused`) before the 403 is returned.
fn refuse_report(st: &SharedState, device: &str, what: &str, en: &str, zh: &str) -> ApiError {
    let e = refused(what, en, zh);
    let _ = st.with_db(|c| {
        c.execute(
            "INSERT INTO agent_access_refused (device_id, at, what, reason) VALUES (?1, ?2, ?3, ?4)",
            params![device, now_secs(), what, en],
        )?;
        Ok(())
    });
    e
}

/// `POST /v1/agents/access`: an agent's phone reports its access entries (zhangban_agent::report). Checked:
/// the certificate (root signature, validity, the calling device's key, a known agent), the report's
/// signature by the key the certificate names and its agent id, each mandate is this agent's (a
/// delegation naming the agent and its key, signed by the principal; or a door consent the agent's key
/// signed), each entry names one of them. Any failure refuses the whole report (403 `proxy_refused`, on
/// record). Then each entry is kept once per (agent, number) and a new one relayed to the principal's
/// phone, in the report's order; a retried report changes nothing. Revoked mandates' entries are relayed
/// too: the principal sees the attempts made after she revoked.
async fn access_report(State(st): State<SharedState>, auth: DeviceAuth, body: Bytes) -> Result<Json<Value>, ApiError> {
    use zhangban_core::agent::report::AccessReport;
    let dev = auth.device_id.clone();
    if body.len() > MAX_ACCESS_BODY {
        return Err(ApiError::invalid("body", "at most 256 KB", "至多 256 KB"));
    }
    let b: AccessBody = serde_json::from_slice(&body).map_err(|_| {
        ApiError::invalid("body", "expected {certificate, mandates, report}", "须为 {certificate, mandates, report}")
    })?;
    if b.mandates.len() > MAX_REPORT_MANDATES {
        return Err(ApiError::invalid("mandates", "at most 100", "至多 100 个"));
    }
    let unhex =
        |field: &str, h: &str| hex::decode(h).map_err(|_| ApiError::invalid(field, "hex required", "须为十六进制"));
    let now = now_secs();
    let cert =
        AgentCertificate::verify(&unhex("certificate", &b.certificate)?, &zhangban_core::anchors::ROOT_PUBLIC_KEY, now)
            .map_err(|e| refuse_report(&st, &dev, "certificate", &e.message_en(), &e.message_zh()))?;
    let (key, known, ended) = st.with_db(|c| {
        let key = device_key(c, &dev)?;
        let known: Option<i64> =
            c.query_row("SELECT suspended FROM agents WHERE id = ?1", [&cert.agent_id], |r| r.get(0)).optional()?;
        Ok((key, known, certificate_ended(c, &cert.cert_id)?))
    })?;
    if cert.device_key != key {
        return Err(refuse_report(&st, &dev, "certificate", "issued for another device", "证书不属于报告的设备"));
    }
    if ended {
        return Err(refuse_report(&st, &dev, "certificate", CERT_ENDED_EN, CERT_ENDED_ZH));
    }
    // A suspended agent's reports are still taken and relayed (its submissions are refused): what was done for
    // a principal is hers to see, the more so when the service centre stopped the agent.
    if known.is_none() {
        return Err(refuse_report(&st, &dev, "agent", "unknown agent", "未登记的帮办员"));
    }
    let report = AccessReport::verify(&unhex("report", &b.report)?, &cert.device_key)
        .map_err(|e| refuse_report(&st, &dev, "signature", &e.message_en(), &e.message_zh()))?;
    if report.agent_id != cert.agent_id {
        return Err(refuse_report(&st, &dev, "agent", "the report names another agent", "报告不是该帮办员的"));
    }
    let mut mandates: Vec<CheckedMandate> = Vec::with_capacity(b.mandates.len());
    for m in &b.mandates {
        let signed = unhex("mandates.mandate", &m.mandate)?;
        let checked = match m.assurance.as_str() {
            "delegation" => {
                let d = Delegation::verify(&signed)
                    .map_err(|e| refuse_report(&st, &dev, "mandate", &e.message_en(), &e.message_zh()))?;
                if d.agent_id != cert.agent_id || d.agent_key != cert.device_key {
                    return Err(refuse_report(
                        &st,
                        &dev,
                        "mandate",
                        "the delegation names another agent",
                        "委托书授权的不是该帮办员",
                    ));
                }
                let pd: Option<String> = st.with_db(|c| {
                    Ok(c.query_row(
                        "SELECT id FROM devices WHERE public_key = ?1",
                        [hex::encode(&d.principal_key)],
                        |r| r.get(0),
                    )
                    .optional()?)
                })?;
                let level = if d.relative.is_some() { "family" } else { "delegation" };
                CheckedMandate { id: d.id, assurance: level, principal_name: d.principal_name, principal_device: pd }
            }
            "door" => {
                let c = DoorConsent::verify(&signed, &cert.device_key)
                    .map_err(|e| refuse_report(&st, &dev, "mandate", &e.message_en(), &e.message_zh()))?;
                if c.agent_id != cert.agent_id {
                    return Err(refuse_report(
                        &st,
                        &dev,
                        "mandate",
                        "the door consent names another agent",
                        "上门确认记录不属于该帮办员",
                    ));
                }
                CheckedMandate { id: c.id, assurance: "door", principal_name: c.principal_name, principal_device: None }
            }
            _ => return Err(ApiError::invalid("mandates.assurance", "delegation or door", "须为 delegation 或 door")),
        };
        if checked.id != m.id {
            return Err(refuse_report(&st, &dev, "mandate", "the mandate's id is not the one given", "授权编号不符"));
        }
        // One mandate per id: with two, the entries would be filed under whichever came first — a door consent the
        // agent signed itself, carrying the id of a delegation a principal gave, would keep her from seeing them.
        if mandates.iter().any(|x| x.id == checked.id) {
            return Err(refuse_report(&st, &dev, "mandate", "the same mandate id twice", "同一授权编号出现两次"));
        }
        // For the same reason an id the platform already knows under another assurance (from a submission or an
        // earlier report) is refused: a door consent cannot take over a principal's delegation, nor the reverse.
        let known_as: Option<String> = st.with_db(|c| {
            Ok(c.query_row(
                "SELECT assurance FROM case_proxies WHERE mandate_id = ?1
                 UNION ALL SELECT assurance FROM agent_access WHERE mandate_id = ?1 LIMIT 1",
                [&checked.id],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        if known_as.is_some_and(|a| (a == "door") != (checked.assurance == "door")) {
            return Err(refuse_report(
                &st,
                &dev,
                "mandate",
                "the mandate id is known under another assurance",
                "该授权编号已以另一种方式登记",
            ));
        }
        mandates.push(checked);
    }
    if let Some(e) = report.entries.iter().find(|e| !mandates.iter().any(|m| m.id == e.mandate_id)) {
        return Err(refuse_report(
            &st,
            &dev,
            "mandate",
            &format!("entry {} is under a mandate the report does not carry", e.seq),
            &format!("第 {} 条记录所依据的授权未随报告提交", e.seq),
        ));
    }
    st.with_db(|c| {
        let items = st.items.get(c)?;
        let tx = c.transaction()?;
        let (mut kept, mut relayed) = (0u32, 0u32);
        for e in &report.entries {
            let Some(m) = mandates.iter().find(|m| m.id == e.mandate_id) else { continue };
            let n = tx.execute(
                "INSERT OR IGNORE INTO agent_access (agent_id, seq, mandate_id, assurance, principal_name, principal_device,
                     at, action, allowed, items, element, missing, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    cert.agent_id, e.seq as i64, m.id, m.assurance, m.principal_name, m.principal_device, e.at,
                    e.action, e.allowed, json!(e.items).to_string(), e.element, e.missing, now
                ],
            )?;
            if n == 0 {
                continue; // kept already: a retried report
            }
            kept += 1;
            let Some(dev) = &m.principal_device else { continue };
            let kind = match e.allowed {
                true => format!("access:{}", e.action),
                false => format!("access:denied:{}", e.action),
            };
            // The first item's name from the catalog (the code when the catalog does not have it).
            let title = e
                .items
                .first()
                .map(|code| {
                    items
                        .get(code)
                        .and_then(|it| it.get("name"))
                        .and_then(|n| n.get("zh").or(Some(n)))
                        .and_then(Value::as_str)
                        .unwrap_or(code)
                        .to_string()
                })
                .unwrap_or_default();
            let signed = signed_access(&tx, dev, m, &kind, e, &cert.agent_id, &title)?;
            tx.execute(
                "INSERT INTO case_events (case_id, device_id, client_ref, kind, at, actor, data) VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    dev,
                    format!("access:{}:{}", cert.agent_id, e.seq),
                    kind,
                    e.at,
                    cert.agent_id,
                    json!({ "principal_view": true, "title": title, "signed": signed }).to_string()
                ],
            )?;
            relayed += 1;
        }
        tx.commit()?;
        let through = report.entries.last().map(|e| e.seq).unwrap_or(0);
        Ok(Json(json!({ "kept": kept, "relayed": relayed, "through": through })))
    })
}

/// The root-signed statement of one access for the principal's phone (`RelayedActivity`, keys 9 and 10).
fn signed_access(
    tx: &Connection,
    device: &str,
    m: &CheckedMandate,
    kind: &str,
    e: &zhangban_core::agent::report::ReportedAccess,
    actor: &str,
    title: &str,
) -> Result<String, ApiError> {
    let key: String = tx.query_row("SELECT public_key FROM devices WHERE id = ?1", [device], |r| r.get(0))?;
    let statement = RelayedActivity {
        principal_key: hex::decode(key).map_err(ApiError::internal)?,
        mandate_id: m.id.clone(),
        kind: kind.chars().take(50).collect(),
        at: e.at,
        actor: actor.chars().take(100).collect(),
        case_title: title.chars().take(200).collect(),
        receipt: None,
        element: e.element.clone(),
        missing: e.missing.clone(),
    };
    let root = crate::issuer::root_key()?;
    Ok(hex::encode(statement.sign(|b| root.sign(b)).map_err(ApiError::internal)?))
}
