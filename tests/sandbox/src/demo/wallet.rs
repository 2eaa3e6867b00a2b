//! Journey demo chapter: the e-licence wallet (电子证照：领证与亮证).
//!
//! The citizen receives a resident ID card and a business licence from the sandbox's issuing departments
//! (device-bound: the phone proves it holds its key), presents the resident ID for a hotel check-in as a
//! dynamic QR code, and a hotel's separate verifier store — which fetched the trust and status lists
//! earlier and has no access to the platform now — verifies it offline. A screenshot of the code and a
//! second scan are refused. Then a grant to an agent, its revocation, a department revoking a licence, and
//! the privacy dashboard.

use std::sync::Arc;

use serde_json::json;
use zhangban_core::notify::NoListener;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{PlatformClient, StatusScope};
use zhangban_core::wallet::issue::{text_elements, SAMPLE_RESIDENT};
use zhangban_core::wallet::{qr, GrantExpiry, LicenceType, Policy, Preset, Wallet};

use super::{DemoResult, Journey};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter("wallet", "电子证照：领证与亮证", "E-licences: receive and present");
    let wallet = Wallet::open(j.store.clone())?;

    let info = j.client.refresh_wallet_lists(&wallet).await?;
    j.check(
        "wallet.lists",
        "下载了签发机构信任列表和本机所需的证照状态列表（平台根密钥签名，已按内置根公钥验证）",
        "Downloaded the issuer trust list and the status lists this phone needs (signed by the platform root, checked against the pinned key)",
        info.trust_sequence.is_some() && info.status_sequence.is_some(),
        json!(info),
    );

    let resident = text_elements(&SAMPLE_RESIDENT);
    // The platform signs what its own register says (the sandbox enrolled this person at sign-up); the phone
    // names only the type. The resident's record below is what the register holds.
    crate::issuer::enrol_device_of(&j.platform, &j.store, LicenceType::ResidentId, &resident)?;
    let id_card = j.client.request_licence(&wallet, LicenceType::ResidentId, None).await?;
    j.check(
        "wallet.receive.resident_id",
        &format!("领取居民身份证电子证照：{}（签发：{}）", id_card.licence_id, id_card.issuer.name_zh),
        &format!("Received the resident ID card e-licence {} from {}", id_card.licence_id, id_card.issuer.name_en),
        id_card.licence_type == LicenceType::ResidentId,
        json!(id_card),
    );
    let business = text_elements(&[
        ("uscc", "91350100M000100Y43"),
        ("company_name", "北京张三便民服务有限公司"),
        ("company_type", "有限责任公司（自然人独资）"),
        ("legal_representative", "张三"),
        ("registered_capital", "50万元"),
        ("established_date", "2021-06-18"),
        ("business_scope", "家政服务；日用百货销售"),
        ("address", "北京市朝阳区建国路88号1层"),
        ("registration_authority", "北京市朝阳区市场监督管理局"),
    ]);
    // The company's record, as the market regulator's register holds it (entered by the back office).
    crate::issuer::enrol_device_of(&j.platform, &j.store, LicenceType::BusinessLicence, &business)?;
    let licence = j.client.request_licence(&wallet, LicenceType::BusinessLicence, None).await?;
    j.check(
        "wallet.receive.business_licence",
        &format!("领取营业执照电子证照：{}（签发：{}）", licence.licence_id, licence.issuer.name_zh),
        &format!("Received the business licence e-licence {} from {}", licence.licence_id, licence.issuer.name_en),
        licence.licence_type == LicenceType::BusinessLicence,
        json!(licence),
    );
    let list = wallet.licences(now())?;
    j.check(
        "wallet.list",
        "证照夹：2 张证照，状态均为“有效”",
        "Wallet: 2 licences, both valid",
        list.len() == 2 && list.iter().all(|l| l.status == zhangban_core::wallet::LicenceStatus::Valid),
        json!(list.iter().map(|l| json!({"type": l.type_name.zh, "status": l.status})).collect::<Vec<_>>()),
    );

    // The hotel's verifier: its own store; it fetched the lists (every status list shard, ADR 0039) this morning
    // and is offline now.
    let vdir = j.home.join("hotel-verifier");
    std::fs::create_dir_all(&vdir)?;
    let vvault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&vdir.join("vault.key"))?);
    let vstore = Arc::new(Store::create(&vdir.join("store"), vvault, None)?);
    let hotel = Wallet::open(vstore)?;
    {
        let client = PlatformClient::new(&j.platform_url)?;
        client.refresh_lists_for(&hotel, StatusScope::EveryShard).await?;
    }
    let verifier = hotel.verifier()?;

    // 亮证: hotel check-in preset.
    let t0 = now();
    let p = wallet.present(&id_card.licence_id, &Preset::HotelCheckIn, None, t0)?;
    let image = qr::render(&p.qr_text)?;
    println!("\n  亮证二维码（酒店入住：姓名、部分隐藏的身份证号、有效期）/ presentation QR (hotel check-in):\n");
    for line in image.to_terminal().lines() {
        println!("    {line}");
    }
    j.check(
        "wallet.present",
        &format!(
            "生成亮证码：{} 字符，二维码版本 {}（{}×{} 模块，纠错等级 M），60 秒内有效",
            p.qr_text.len(),
            image.version,
            image.width,
            image.width
        ),
        &format!(
            "Made the presentation: {} characters, QR version {} ({}×{} modules, EC level M), valid 60 s",
            p.qr_text.len(),
            image.version,
            image.width,
            image.width
        ),
        p.qr_text.starts_with("ZB1:") && p.not_after - p.not_before <= 60,
        json!({
            "qr_text": p.qr_text,
            "qr_text_chars": p.qr_text.len(),
            "disclosed": p.disclosed,
            "not_before": p.not_before,
            "not_after": p.not_after,
            "qr_version": image.version,
            "qr_width": image.width,
            "svg": image.svg,
        }),
    );

    let policy = Policy { accepted_purposes: vec!["hotel-check-in".into()], ..Policy::default() };
    match verifier.verify(&p.qr_text, now(), &policy) {
        Ok(v) => {
            let fields: Vec<String> = v.disclosed.iter().map(|d| format!("{}={}", d.name.zh, d.display)).collect();
            let only_chosen =
                v.disclosed.iter().map(|d| d.key.as_str()).collect::<Vec<_>>() == ["name", "id_number_masked"];
            j.check(
                "wallet.verify",
                &format!(
                    "酒店离线核验通过：{}签发的{}，披露 {}；状态列表 {} 秒前更新",
                    v.issuer.name_zh,
                    v.type_name.zh,
                    fields.join("，"),
                    v.status_age_secs
                ),
                &format!(
                    "The hotel verified it offline: {} issued by {}; disclosed only name and masked ID number",
                    v.type_name.en, v.issuer.name_en
                ),
                only_chosen && !format!("{v:?}").contains("11010519491231002X"),
                json!(v),
            );
        }
        Err(e) => {
            j.check("wallet.verify", &e.message_zh(), &e.message_en(), false, json!({ "code": e.code() }));
        }
    }
    let replay = verifier.verify(&p.qr_text, now(), &policy).err().map(|e| e.code());
    j.check(
        "wallet.verify.replay",
        "同一亮证码再次扫描：拒绝（重放）",
        "The same code scanned again: refused (replay)",
        replay == Some("replay"),
        json!({ "code": replay }),
    );
    let shot = wallet.present(&id_card.licence_id, &Preset::HotelCheckIn, None, t0)?;
    let late = verifier.verify(&shot.qr_text, t0 + 300, &policy).err().map(|e| e.code());
    j.check(
        "wallet.verify.screenshot",
        "5 分钟后扫描的截图：拒绝（亮证码已过期）",
        "A screenshot scanned 5 minutes later: refused (window expired)",
        late == Some("window_expired"),
        json!({ "code": late }),
    );

    // 亮证, engagement mode: the verifier shows a challenge first; the code answers it and nobody else.
    let challenge = verifier.engage("hotel-check-in", now())?;
    let answered = wallet.present_engaged(&id_card.licence_id, &Preset::HotelCheckIn, &challenge.to_text(), now())?;
    let ok = verifier.verify_current(&answered.qr_text, now(), &policy).is_ok();
    j.check(
        "wallet.verify.engaged",
        "挑战模式：酒店先出示挑战码，持证人扫码后生成的亮证码签名覆盖该挑战，酒店核验通过",
        "Engagement mode: the hotel shows a challenge, the holder's code signs it, the hotel accepts it",
        ok && answered.purpose == "hotel-check-in",
        json!({ "engagement": challenge.to_text(), "qr_text_chars": answered.qr_text.len() }),
    );
    let elsewhere = hotel.verifier()?;
    elsewhere.engage("hotel-check-in", now())?;
    let relayed = elsewhere.verify_current(&answered.qr_text, now(), &policy).err().map(|e| e.code());
    j.check(
        "wallet.verify.relay",
        "同一亮证码被转发给另一核验点（其挑战码不同）：拒绝（疑似转发）",
        "The same code relayed to another verifier (a different challenge): refused (relay)",
        relayed == Some("engagement_mismatch"),
        json!({ "code": relayed }),
    );

    // 授权用证: the business licence for an agent centre (bound to the centre's device key), then withdrawn.
    let adir = j.home.join("agent-centre");
    std::fs::create_dir_all(&adir)?;
    let avault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&adir.join("vault.key"))?);
    let agent = Wallet::open(Arc::new(Store::create(&adir.join("store"), avault, None)?))?;
    PlatformClient::new(&j.platform_url)?.refresh_wallet_lists(&agent).await?;
    let g = wallet.grant(
        &licence.licence_id,
        &Preset::Custom(vec!["uscc".into(), "company_name".into(), "legal_representative".into()]),
        "朝阳区帮办代办服务中心",
        &agent.device_public_key(),
        "代办食品经营许可",
        GrantExpiry::Default,
        now(),
    )?;
    let gv = agent.grant_verifier()?;
    let ok = gv.verify(&g.text, now(), &Policy::default()).is_ok();
    j.check(
        "wallet.grant",
        "授权帮办代办中心使用营业执照（代码、名称、法定代表人），30 天有效；对方离线核验通过",
        "Granted the agent centre the business licence (code, name, legal representative) for 30 days; verified offline",
        ok && g.expires_at - g.issued_at == 30 * 24 * 3600,
        json!({ "grant_id": g.grant_id, "elements": g.elements, "expires_at": g.expires_at, "text_chars": g.text.len() }),
    );
    wallet.revoke_grant(&g.grant_id, now())?;
    // The revocation waits in the phone's one outbox; its next sync sends it with everything else.
    let runner = SyncRunner::new(j.store.clone(), SyncConfig::new(&j.platform_url), Arc::new(NoListener))?;
    let run = runner.run_once().await;
    let sent = run.sent - run.receipts;
    let mut gv = gv;
    gv.set_revocations(&j.client.revoked_grants().await?);
    let after = gv.verify(&g.text, now(), &Policy::default()).err().map(|e| e.code());
    j.check(
        "wallet.grant.revoke",
        "撤回授权：本机立即显示已撤回，撤回已发送平台，对方更新后核验被拒",
        "Revoked the grant: shown at once, sent to the platform, and refused by the recipient after its update",
        sent == 1 && after == Some("grant_revoked"),
        json!({ "sent": sent, "recipient_result": after }),
    );

    // A department revokes the business licence: the next status list says so.
    crate::issuer::revoke_licence(&j.platform, &licence.licence_id)?;
    j.client.refresh_wallet_lists(&wallet).await?;
    let status = wallet.licences(now())?.into_iter().find(|l| l.licence_id == licence.licence_id).map(|l| l.status);
    j.check(
        "wallet.revoked",
        "市场监管部门注销营业执照后，更新状态列表：证照夹显示“已注销”",
        "After the department revoked the business licence and the status list was updated, the wallet shows it revoked",
        status == Some(zhangban_core::wallet::LicenceStatus::Revoked),
        json!({ "status": status }),
    );

    // The privacy dashboard.
    let usage = wallet.usage(None)?;
    let presents = usage.iter().filter(|u| u.action == "licence.present").count();
    j.check(
        "wallet.usage",
        &format!("用证记录：{} 条（领证、亮证 {} 次、授权与撤回），记在防篡改日志中", usage.len(), presents),
        &format!(
            "Usage log: {} entries ({} presentations, grants, revocation) in the hash-chained log",
            usage.len(),
            presents
        ),
        // Two one-way codes and one engaged code.
        presents == 3 && usage.iter().any(|u| u.recipient.as_deref() == Some("朝阳区帮办代办服务中心")),
        json!(usage),
    );
    Ok(())
}
