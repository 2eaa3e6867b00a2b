//! Sandbox platform: the versioned service catalog (事项目录 / 办事指南).
//!
//! Owner: forms. What is here now is a small initial seed so the foundation (device registration,
//! catalog sync, the journey demo) works end to end: replace [`seed_items`] with the real seed catalog and
//! bump [`SEED_VERSION`]; keep [`SCHEMA`], [`seed`], [`latest`], [`latest_version`] and [`publish`]
//! (server.rs and the demo call them), or change them together with their callers.
//!
//! Storage: every published version is one row (the whole catalog as JSON); the newest row is served.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::server::ApiError;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS catalog_versions (
    version INTEGER PRIMARY KEY,
    items TEXT NOT NULL,
    published_at INTEGER NOT NULL
);";

/// Version of the built-in seed catalog. Bump it when [`seed_items`] changes.
pub const SEED_VERSION: i64 = 1;

/// The built-in seed catalog: a list of service items, each with a unique string `id`.
pub fn seed_items() -> Value {
    json!([
        {
            "id": "hz-001",
            "name_zh": "居住证申领",
            "name_en": "Residence permit application",
            "department_zh": "公安局",
            "legal_limit_days": 15,
            "promised_limit_days": 5,
            "fee": 0,
            "materials": [
                { "id": "id_card", "name_zh": "居民身份证", "name_en": "Resident ID card", "licence_type": "resident_id" },
                { "id": "photo", "name_zh": "近期免冠照片", "name_en": "Recent photo" }
            ]
        },
        {
            "id": "sb-002",
            "name_zh": "社会保障卡申领",
            "name_en": "Social security card application",
            "department_zh": "人力资源和社会保障局",
            "legal_limit_days": 20,
            "promised_limit_days": 10,
            "fee": 0,
            "materials": [
                { "id": "id_card", "name_zh": "居民身份证", "name_en": "Resident ID card", "licence_type": "resident_id" }
            ]
        },
        {
            "id": "yy-003",
            "name_zh": "个体工商户营业执照设立登记",
            "name_en": "Sole proprietorship business licence registration",
            "department_zh": "市场监督管理局",
            "legal_limit_days": 15,
            "promised_limit_days": 3,
            "fee": 0,
            "materials": [
                { "id": "id_card", "name_zh": "经营者身份证明", "name_en": "Operator's ID", "licence_type": "resident_id" },
                { "id": "premises", "name_zh": "经营场所证明", "name_en": "Proof of business premises" }
            ]
        }
    ])
}

/// Publishes the seed catalog unless a version at least as new is already there.
pub fn seed(conn: &Connection) -> Result<(), ApiError> {
    if latest_version(conn)? < SEED_VERSION {
        conn.execute(
            "INSERT INTO catalog_versions (version, items, published_at) VALUES (?1, ?2, ?3)",
            params![SEED_VERSION, seed_items().to_string(), crate::server::now_secs()],
        )?;
    }
    Ok(())
}

/// The newest published version (0 when none).
pub fn latest_version(conn: &Connection) -> Result<i64, ApiError> {
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM catalog_versions", [], |r| r.get(0))?)
}

/// The newest version and its items.
pub fn latest(conn: &Connection) -> Result<(i64, Value), ApiError> {
    let row: Option<(i64, String)> = conn
        .query_row("SELECT version, items FROM catalog_versions ORDER BY version DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        None => Ok((0, json!([]))),
        Some((v, items)) => Ok((v, serde_json::from_str(&items).map_err(ApiError::internal)?)),
    }
}

/// Publishes `items` as a new version; returns it.
pub fn publish(conn: &Connection, items: &Value) -> Result<i64, ApiError> {
    let v = latest_version(conn)? + 1;
    conn.execute(
        "INSERT INTO catalog_versions (version, items, published_at) VALUES (?1, ?2, ?3)",
        params![v, items.to_string(), crate::server::now_secs()],
    )?;
    Ok(v)
}
