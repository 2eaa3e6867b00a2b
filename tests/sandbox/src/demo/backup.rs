//! Journey demo chapter: the phone is lost (手机丢失，数据不丢).
//!
//! The citizen writes down a recovery code, queues an application with no network and backs up (an
//! encrypted file the platform could not read), queues another and backs up again: an increment, only what
//! changed. The phone is lost. On a new phone — a new store, a new
//! key vault, a new device key — the code restores everything; the service centre's identity check gives a
//! one-time code; the platform moves the person over and re-issues each licence to the new device key; the
//! queued applications are sent exactly once. Then a case filed at a counter is followed by its receipt.
//! From here on the journey goes on with the new phone.

use std::sync::Arc;

use serde_json::json;
use zhangban_core::backup;
use zhangban_core::calendar::{Calendar, Rules};
use zhangban_core::cases::{self, Submission};
use zhangban_core::notify::NoListener;
use zhangban_core::outbox;
use zhangban_core::store::{FileVault, KeyVault, SELF_SUBJECT};
use zhangban_core::sync::rebind::TransferProof;
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo};
use zhangban_core::wallet::{LicenceStatus, Wallet};
use zhangban_core::SystemClock;

use super::{DemoResult, Journey};

const ITEM: &str = "SJ-002";

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter(
        "backup",
        "手机丢失，数据不丢：备份、换机恢复与凭回执查询",
        "Phone lost, nothing lost: backup, restore, follow by receipt",
    );
    let old = j.store.clone();
    let old_wallet = Wallet::open(old.clone())?;
    // Licences in force (one the citizen had revoked earlier stays revoked, and is not re-issued).
    let licences_before = old_wallet.licences(old.now())?.iter().filter(|l| l.status != LicenceStatus::Revoked).count();

    // 1. A recovery code, written down; two applications queued offline; the backup.
    let code = backup::make_recovery_code(&old)?;
    j.step(
        "backup.code",
        &format!("生成恢复码并抄在纸上：{}（25 位，含校验位，抄错一位即可发现）", code.grouped()),
        "a recovery code to write down (25 symbols with a check symbol: a typo is caught at entry)",
        json!({ "groups": 5, "kdf": "argon2id", "m_kib": backup::KdfParams::DEFAULT.m_kib }),
    );
    let submit = |i: usize, title: &str| -> DemoResult {
        let sub = Submission {
            item_codes: vec![ITEM.into()],
            title: title.to_string(),
            values: json!({ "note": title, "n": i }),
            ..Default::default()
        };
        cases::submit(&old, SELF_SUBJECT, &sub)?;
        Ok(())
    };
    submit(0, "补领居民身份证（挂失后）")?;
    let file = j.home.join("zhangban-backup.zbk");
    let made = backup::write_backup(&old, &file)?;
    j.step(
        "backup.write",
        &format!(
            "备份完成：{} 条记录、{} 个附件，共 {} 字节，已加密（平台和云盘都读不了）",
            made.manifest.records, made.manifest.attachments, made.bytes
        ),
        &format!(
            "backed up {} records and {} attachments, {} bytes, end-to-end encrypted",
            made.manifest.records, made.manifest.attachments, made.bytes
        ),
        json!({ "records": made.manifest.records, "attachments": made.manifest.attachments, "bytes": made.bytes,
                "queued": outbox::pending(&old)?.len(), "collections": made.manifest.collections }),
    );

    // An application queued after the backup: the next backup is an increment, only what changed.
    submit(1, "变更联系电话")?;
    let queued = outbox::pending(&old)?.len();
    let inc_file = j.home.join("zhangban-backup-1.zbk");
    let inc = backup::write_increment(&old, &inc_file)?;
    j.check(
        "backup.increment",
        &format!(
            "又排队了一个申请，再次备份只存变化：增量 {} 字节（完整备份 {} 字节），{} 条记录",
            inc.bytes, made.bytes, inc.manifest.records
        ),
        &format!(
            "one more application queued; the next backup is an increment: {} bytes (full: {}), {} records",
            inc.bytes, made.bytes, inc.manifest.records
        ),
        inc.base_id.as_deref() == Some(made.backup_id.as_str()) && inc.chain_index == 1,
        json!({ "bytes": inc.bytes, "full_bytes": made.bytes, "records": inc.manifest.records,
                "base": inc.base_id, "chain_index": inc.chain_index, "generation": inc.generation }),
    );

    // 2. The phone is lost. A new phone: new store, new vault, new device key.
    let typo = {
        let mut g = code.grouped().into_bytes();
        g[3] = if g[3] == b'7' { b'8' } else { b'7' };
        String::from_utf8(g)?
    };
    let caught = matches!(backup::open_backup(&file, &typo), Err(backup::BackupError::CodeTypo));
    j.check(
        "backup.typo",
        "输错一位恢复码：立即提示抄写有误",
        "a mistyped recovery code is caught at once",
        caught,
        json!({}),
    );
    // The two files picked at once in the new phone's file picker, listed as it likes (the increment
    // first): the core puts them in order from their headers and opens the newest with the code.
    let (chain, key) = backup::open_chain(&[inc_file.clone(), file.clone()], &code.grouped())?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&j.home.join("new-phone.key"))?);
    let (new, restored) =
        backup::restore_chain(&chain, &key, &j.home.join("new-phone"), vault.clone(), None, Arc::new(SystemClock))?;
    let new = Arc::new(new);
    let new_wallet = Wallet::open(new.clone())?;
    let info = DeviceInfo {
        public_key: sync::device_key(&new)?.public_key_hex(),
        platform: "android".into(),
        model: "新手机 / new phone".into(),
        app_version: env!("CARGO_PKG_VERSION").into(),
    };
    j.client.register_device(&new, &info).await?;
    let same = cases::list_all(&new)?.len() == cases::list_all(&old)?.len();
    j.check(
        "backup.restore",
        &format!(
            "新手机用恢复码恢复完整备份和增量：{} 个办件、{} 个待发送申请都回来了（新设备密钥）",
            cases::list_all(&new)?.len(),
            queued
        ),
        "the new phone restores the full backup and the increment with the code (with its own new device key)",
        same && restored.files == 2 && new_wallet.device_public_key() != old_wallet.device_public_key(),
        json!({ "records": restored.records, "files": restored.files, "origin_device": restored.origin_device }),
    );

    // 3. The identity check at the service centre gives a one-time code; the platform re-binds.
    let origin = restored.origin_device.clone().ok_or("the backup names no phone")?;
    let (otc, _) = crate::transfer::new_code(&j.platform, &origin)?;
    let report = j.client.rebind(&new_wallet, &origin, &TransferProof::OneTimeCode(otc)).await?;
    let now = new.now();
    let statuses: Vec<String> = new_wallet.licences(now)?.iter().map(|l| format!("{:?}", l.status)).collect();
    let valid = new_wallet.licences(now)?.iter().filter(|l| l.status == LicenceStatus::Valid).count();
    j.check(
        "backup.rebind",
        &format!(
            "窗口核验身份后给出一次性验证码：{} 本电子证照重新签发到新手机的设备密钥，旧手机的绑定已作废",
            report.rebound.len()
        ),
        "after the identity check, each licence is re-issued to the new device key; the old binding is revoked",
        report.rebound.len() == licences_before && valid == licences_before,
        json!({ "moved_cases": report.moved_cases, "rebound": report.rebound.len(), "before": licences_before,
                "statuses": statuses }),
    );
    let runner = SyncRunner::new(new.clone(), SyncConfig::new(&j.platform_url), Arc::new(NoListener))?;
    let run = runner.run_once().await;
    let refs: Vec<String> = cases::list_all(&new)?.into_iter().map(|c| c.id).collect();
    let on_platform: i64 = j.platform.with_db(|c| {
        let mut n = 0;
        for r in &refs {
            n += c.query_row("SELECT COUNT(*) FROM cases WHERE client_ref = ?1", [r], |row| row.get::<_, i64>(0))?;
        }
        Ok(n)
    })?;
    let once = run.sent as usize == queued && on_platform as usize == refs.len();
    j.check(
        "backup.sent_once",
        &format!(
            "手机丢失：已恢复 {} 本证照、{} 个办件，{} 个待发送申请只提交一次",
            report.rebound.len(),
            refs.len(),
            queued
        ),
        &format!(
            "phone lost: restored {} licences, {} cases, {} queued sent once",
            report.rebound.len(),
            refs.len(),
            queued
        ),
        once,
        json!({ "sent": run.sent, "cases_on_platform": on_platform }),
    );

    // 4. A case filed at the counter (一窗受理), followed by its receipt.
    let receipt = crate::counter::intake_case(
        &j.platform,
        &crate::counter::IntakeRequest {
            item_code: ITEM.into(),
            applicant_id: "11010519491231002X".into(),
            title: None,
            clerk: Some("李红".into()),
        },
    )?;
    let (no, query) = (
        receipt["receipt"].as_str().ok_or("no receipt")?.to_string(),
        receipt["query_code"].as_str().ok_or("no query code")?.to_string(),
    );
    j.step(
        "counter.receipt",
        &format!("奶奶在政务服务中心窗口办理，拿到受理回执：{no}，查询码 {query}"),
        &format!("grandma filed a case at the counter: receipt {no}, query code {query}"),
        receipt.clone(),
    );
    let case = j.client.follow_case(&new, SELF_SUBJECT, &no, "11010519491231002X", &query).await?;
    let progress = cases::progress(&case, &Calendar::bundled(), &Rules::default(), new.today())?;
    let promised = progress.promised_date.as_ref().map(|d| d.value.to_string()).unwrap_or_default();
    j.check(
        "counter.follow",
        &format!(
            "在掌办里输入回执号、身份证号和查询码：办件出现在列表中（{}，承诺 {} 前办结）",
            progress.state_zh, promised
        ),
        &format!(
            "entered receipt, ID number and query code: the case joins the list ({}, promised by {promised})",
            progress.state_en
        ),
        case.receipt.as_deref() == Some(no.as_str()) && !promised.is_empty(),
        json!({ "state": progress.state_en, "promised_date": promised }),
    );

    // The journey goes on with the new phone.
    j.store = new;
    j.vault = vault;
    Ok(())
}
