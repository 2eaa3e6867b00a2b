//! The journey demo: one citizen's day with Zhangban, end to end, against the sandbox platform on loopback.
//!
//! `cargo run -p zhangban-sandbox -- demo [--report FILE]`
//!
//! The journey is told in chapters. This file runs the foundation chapter (platform, encrypted store,
//! device registration, catalog, profile, proof of encryption, audit chain) and then, in order, the
//! chapters in `wallet.rs`, `forms.rs`, `cases.rs`, `agent.rs` (帮办代办), `backup.rs`, `remind.rs` and `security.rs` (the hardware device key, the prompt, old files
//! put back), each `pub async fn run(j: &mut Journey) -> DemoResult`.
//! A chapter tells its story and records its results with [`Journey::chapter`], [`Journey::step`] and
//! [`Journey::check`]; a failed check marks the report failed (the demo exits non-zero) and the journey
//! goes on, so the report shows everything that happened. A chapter that cannot continue returns `Err`.

mod agent;
mod backup;
mod cases;
mod forms;
mod remind;
mod security;
mod wallet;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store, SELF_SUBJECT};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};

use crate::server;

/// What a chapter returns: any error stops the journey (recorded in the report).
pub type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Where to write the JSON report (default: `zhangban-demo-report.json` in the current folder).
    pub report_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub zh: String,
    pub en: String,
    pub ok: bool,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chapter {
    pub name: String,
    pub title_zh: String,
    pub title_en: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when every step of every chapter succeeded.
    pub ok: bool,
    pub started_at: String,
    pub finished_at: String,
    pub platform_url: String,
    pub chapters: Vec<Chapter>,
}

/// Everything a chapter needs: the platform (over HTTP, and its state for clerk-side actions), the
/// citizen's store and client, and the report being written.
pub struct Journey {
    /// Base URL of the sandbox platform, e.g. `http://127.0.0.1:40123`.
    pub platform_url: String,
    /// The platform's state: for clerk/back-office actions a chapter performs directly.
    pub platform: server::SharedState,
    pub client: PlatformClient,
    /// The citizen's encrypted store.
    pub store: Arc<Store>,
    pub vault: Arc<dyn KeyVault>,
    /// The citizen's folder (temporary); the store lives in `home/store`.
    pub home: PathBuf,
    report: Report,
}

impl Journey {
    /// Starts a new chapter of the story.
    pub fn chapter(&mut self, name: &str, title_zh: &str, title_en: &str) {
        let n = self.report.chapters.len() + 1;
        println!("\n━━ 第{n}章 {title_zh} · Chapter {n}: {title_en} ━━");
        self.report.chapters.push(Chapter {
            name: name.into(),
            title_zh: title_zh.into(),
            title_en: title_en.into(),
            steps: Vec::new(),
        });
    }

    fn push(&mut self, step: Step) {
        if self.report.chapters.is_empty() {
            self.chapter("misc", "其他", "Other");
        }
        if !step.ok {
            self.report.ok = false;
        }
        if let Some(c) = self.report.chapters.last_mut() {
            c.steps.push(step);
        }
    }

    /// A step that happened, with its results.
    pub fn step(&mut self, name: &str, zh: &str, en: &str, data: Value) {
        self.check(name, zh, en, true, data);
    }

    /// A step whose outcome is `ok`; returns `ok`.
    pub fn check(&mut self, name: &str, zh: &str, en: &str, ok: bool, data: Value) -> bool {
        let mark = if ok { "✓" } else { "✗ FAILED" };
        println!("  {mark} {zh}\n      {en}");
        self.push(Step { name: name.into(), zh: zh.into(), en: en.into(), ok, data });
        ok
    }

    /// The report so far.
    pub fn report(&self) -> &Report {
        &self.report
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs the whole journey; writes the report; `Err` only when the report cannot be written.
pub async fn run(opts: Options) -> DemoResult<Report> {
    println!("掌办 Zhangban — 一位市民的办事之旅 / a citizen's journey");
    let report_path = opts.report_path.unwrap_or_else(|| PathBuf::from("zhangban-demo-report.json"));
    let tmp = tempfile::Builder::new().prefix("zhangban-demo-").tempdir()?;
    let running = server::start("127.0.0.1:0", Some(&tmp.path().join("platform.db")), server::Config::default())
        .await
        .map_err(|e| e.to_string())?;
    let home = tmp.path().join("citizen");
    std::fs::create_dir_all(&home)?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&home.join("vault.key"))?);
    let store = Arc::new(Store::create(&home.join("store"), vault.clone(), None)?);
    let mut j = Journey {
        platform_url: running.url.clone(),
        platform: running.state.clone(),
        client: PlatformClient::new(&running.url)?,
        store,
        vault,
        home,
        report: Report {
            ok: true,
            started_at: now_rfc3339(),
            finished_at: String::new(),
            platform_url: running.url.clone(),
            chapters: Vec::new(),
        },
    };

    type Chap = for<'a> fn(&'a mut Journey) -> std::pin::Pin<Box<dyn std::future::Future<Output = DemoResult> + 'a>>;
    let chapters: [(&str, Chap); 8] = [
        ("foundation", |j| Box::pin(foundation(j))),
        ("wallet", |j| Box::pin(wallet::run(j))),
        ("forms", |j| Box::pin(forms::run(j))),
        ("cases", |j| Box::pin(cases::run(j))),
        ("agent", |j| Box::pin(agent::run(j))),
        ("backup", |j| Box::pin(backup::run(j))),
        ("remind", |j| Box::pin(remind::run(j))),
        ("security", |j| Box::pin(security::run(j))),
    ];
    for (name, chapter) in chapters {
        if let Err(e) = chapter(&mut j).await {
            j.check(
                &format!("{name}.error"),
                &format!("本章中断：{e}"),
                &format!("Chapter '{name}' stopped: {e}"),
                false,
                json!({ "error": e.to_string() }),
            );
            break;
        }
    }

    running.stop().await;
    j.report.finished_at = now_rfc3339();
    let steps: usize = j.report.chapters.iter().map(|c| c.steps.len()).sum();
    let failed: usize = j.report.chapters.iter().flat_map(|c| &c.steps).filter(|s| !s.ok).count();
    if let Some(parent) = report_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?; // `--report out/journey.json` on a fresh clone
    }
    std::fs::write(&report_path, serde_json::to_vec_pretty(&j.report)?)?;
    println!(
        "\n{} {steps} 步，失败 {failed} 步 / {steps} steps, {failed} failed. 报告 / report: {}",
        if j.report.ok { "✓ 全程完成。" } else { "✗ 未全部完成。" },
        report_path.display()
    );
    Ok(j.report)
}

/// Every occurrence count of `needle` in `hay`.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The bytes of the database file and its WAL (what an attacker copying the phone's storage would get).
fn database_bytes(db: &Path) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let main = std::fs::read(db)?;
    let mut wal_path = db.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal = match std::fs::read(PathBuf::from(wal_path)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok((main, wal))
}

/// Chapter 1: the platform, the encrypted store, registration, the catalog, the profile.
async fn foundation(j: &mut Journey) -> DemoResult {
    j.chapter("foundation", "准备：平台、加密存储与设备注册", "Getting ready: platform, encrypted store, device");
    let health = j.client.health().await?;
    let url = j.platform_url.clone();
    j.check(
        "platform.health",
        &format!("模拟政务服务平台已在本机启动：{url}"),
        &format!("The sandbox government service platform is up at {url}"),
        health["status"] == "ok",
        health,
    );
    let db = j.store.db_path();
    j.step(
        "store.create",
        "在手机上创建了加密的本地数据库（每个值单独加密，密钥由系统密钥库保管）",
        "Created the encrypted local store (each value sealed; the key is wrapped by the platform vault)",
        json!({ "path": db.display().to_string(), "store_id": j.store.store_id() }),
    );

    // Register the device.
    let key = sync::device_key(&j.store)?;
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "desktop".into(),
        model: "zhangban-demo".into(),
        app_version: env!("CARGO_PKG_VERSION").into(),
    };
    let reg = j.client.register_device(&j.store, &info).await?;
    let stored = sync::registration(&j.store)?;
    j.check(
        "device.register",
        &format!("设备已在平台注册，设备号 {}", reg.device_id),
        &format!("The device registered with the platform as {}", reg.device_id),
        stored.as_ref() == Some(&reg),
        json!({ "device_id": reg.device_id, "public_key": info.public_key, "token_stored_encrypted": stored.is_some() }),
    );
    j.store.audit(&zhangban_core::audit::NewEntry {
        actor: SELF_SUBJECT,
        action: "device.register",
        subject: SELF_SUBJECT,
        target: &reg.device_id,
        detail: json!({ "platform": info.platform }),
    })?;

    // The catalog, then again (nothing new).
    let update = j.client.fetch_catalog(&j.store).await?;
    let items = j.store.list(zhangban_core::catalog::CATALOG_COLLECTION, None)?;
    let names: Vec<String> = items
        .iter()
        .filter_map(|r| r.json::<Value>().ok())
        .filter_map(|v| v["name_zh"].as_str().map(str::to_string))
        .collect();
    j.check(
        "catalog.fetch",
        &format!("下载了办事指南目录（第 {} 版，{} 个事项）：{}", update.version, update.items, names.join("、")),
        &format!("Downloaded the service catalog (version {}, {} items)", update.version, update.items),
        !update.up_to_date && update.items > 0 && items.len() == update.items,
        json!({ "version": update.version, "items": update.items, "names_zh": names }),
    );
    let again = j.client.fetch_catalog(&j.store).await?;
    j.check(
        "catalog.up_to_date",
        "再次同步：目录已是最新，无需重新下载",
        "Synced again: the catalog is up to date, nothing downloaded",
        again.up_to_date && again.version == update.version,
        json!({ "version": again.version, "up_to_date": again.up_to_date }),
    );

    // The profile.
    let profile = json!({
        "name": "张三",
        "id_number": "11010519491231002X",
        "phone": "13800138000",
        "address": "北京市朝阳区建国路 88 号",
    });
    let body = serde_json::to_vec(&profile)?;
    j.store.put_with(
        "profile",
        "me",
        SELF_SUBJECT,
        &body,
        PutOptions { tag: None, lookup: Some("11010519491231002X") },
    )?;
    let back: Value = j.store.get_json("profile", "me")?;
    let found = j.store.find_by_lookup("profile", "11010519491231002X")?;
    j.check(
        "profile.save",
        "保存了个人资料：张三，身份证号 110105…002X（读回一致，可按身份证号查找）",
        "Saved the profile of 张三 (Zhang San); read back equal, found by ID number through its keyed hash",
        back == profile && found.len() == 1,
        json!({ "read_back_equal": back == profile, "found_by_id_number": found.len() }),
    );
    j.store.audit(&zhangban_core::audit::NewEntry {
        actor: SELF_SUBJECT,
        action: "profile.save",
        subject: SELF_SUBJECT,
        target: "profile/me",
        detail: json!({ "fields": ["name", "id_number", "phone", "address"] }),
    })?;

    // Proof of encryption: look for the plaintext in the bytes on disk.
    let (main, wal) = database_bytes(&db)?;
    let mut all = main.clone();
    all.extend_from_slice(&wal);
    let secrets =
        [("name", "张三"), ("id_number", "11010519491231002X"), ("phone", "13800138000"), ("token", &reg.token)];
    let mut hits = serde_json::Map::new();
    for (field, s) in secrets {
        hits.insert(field.into(), json!(count(&all, s.as_bytes())));
    }
    // Control: the scan does see plaintext that is stored in the clear (collection names).
    let control = count(&all, b"profile");
    let clean = hits.values().all(|v| v == 0);
    j.check(
        "store.encrypted",
        &format!(
            "检查磁盘上的数据库文件（{} 字节）和 WAL（{} 字节）：找不到“张三”、身份证号、手机号和设备令牌的明文",
            main.len(),
            wal.len()
        ),
        "Searched the database file and its WAL byte by byte: no plaintext of the name, ID number, phone or token",
        clean && control > 0,
        json!({ "db_bytes": main.len(), "wal_bytes": wal.len(), "plaintext_hits": hits,
                "control_plaintext_collection_name_hits": control }),
    );

    // The audit chain.
    let v = j.store.audit_verify()?;
    let entries = j.store.audit_entries(None)?;
    j.check(
        "audit.verify",
        &format!("审计日志共 {} 条，哈希链校验完好", v.entries),
        &format!("The audit log holds {} entries; its hash chain verifies", v.entries),
        v.is_intact() && v.entries >= 2,
        json!({ "entries": v.entries, "intact": v.is_intact(),
                "actions": entries.iter().map(|e| e.action.clone()).collect::<Vec<_>>() }),
    );
    j.store.integrity_check()?;
    Ok(())
}
