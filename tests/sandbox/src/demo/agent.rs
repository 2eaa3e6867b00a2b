//! Journey demo chapter: an agent's door-to-door trip (帮办代办 / 上门服务).
//!
//! A village agent registers with the platform and gets a certificate. 李奶奶 has a phone: she scans the
//! agent's certificate, delegates 高龄津贴申领 for 30 days and shows the delegation as a QR code. 孙爷爷 has
//! none: the agent records his consent at the door (ID card photo, his photo, his signature, a summary
//! read out), signed by the agent's key at the lower assurance level. With no signal the agent fills and
//! submits both applications; back in signal one sync brings both receipts. 李奶奶's phone hears what the
//! agent did; she revokes; at the agent's next sync the revocation arrives and the next attempt for her is
//! refused; each access the agent made for her, the refused one too, reaches her phone. Prints `agent served N
//! principals offline: K submissions, K receipts, 1 revocation honoured; her phone lists A accesses, 1 refused
//! after she revoked`.

use std::sync::Arc;

use serde_json::json;
use zhangban_core::agent::{Action, Agent, DoorConsentInput, DoorIntake, PrincipalSide, Scope};
use zhangban_core::cases;
use zhangban_core::catalog::Catalog;
use zhangban_core::forms::MaterialChoice;
use zhangban_core::notify::Recorder;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo};
use zhangban_core::wallet::Wallet;
use zhangban_core::Error;

use super::{DemoResult, Journey};

const ITEM: &str = "MZ-002";
const ORG: &str = "12110105MB0000002B";

fn quick(url: &str) -> SyncConfig {
    let mut c = SyncConfig::new(url);
    c.request_timeout = std::time::Duration::from_secs(3);
    c.run_budget = std::time::Duration::from_secs(20);
    c
}

/// A phone: its own encrypted store, registered with the platform.
async fn phone(j: &Journey, name: &str) -> DemoResult<(Arc<Store>, Wallet)> {
    let dir = j.home.join(name);
    std::fs::create_dir_all(&dir)?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store = Arc::new(Store::create(&dir.join("store"), vault, None)?);
    let key = sync::device_key(&store)?;
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "desktop".into(),
        model: format!("zhangban-demo-{name}"),
        app_version: env!("CARGO_PKG_VERSION").into(),
    };
    j.client.register_device(&store, &info).await?;
    let wallet = Wallet::open(store.clone())?;
    Ok((store, wallet))
}

/// How a principal confirms the summary: (signature image attachment, their phone's signature).
type Confirm<'a> = &'a dyn Fn(&zhangban_core::Text) -> DemoResult<(Option<String>, Option<String>)>;

/// Fills 高龄津贴申领 for a principal, as the agent, and submits it (queued while offline).
fn fill_and_submit(
    agent: &Agent,
    catalog: &Catalog,
    principal: &str,
    values: &[(&str, serde_json::Value)],
    confirm: Confirm<'_>,
) -> DemoResult<cases::Case> {
    let mut s = agent.start_draft(principal, catalog, ITEM)?;
    for (path, v) in values {
        agent.edit(principal, catalog, &mut s, path, v.clone())?;
    }
    for (code, name) in [("M_ID", "身份证.jpg"), ("M_HOUSEHOLD", "户口簿.jpg"), ("M_SSC", "社保卡.jpg")] {
        let pic: Vec<u8> = (0..8 * 1024).map(|i| ((i * 7 + code.len()) % 251) as u8).collect();
        let a = agent.attach(principal, name, &mut pic.as_slice())?;
        agent.set_material(principal, catalog, &mut s, code, Some(MaterialChoice::Attached { attachment_id: a.id }))?;
    }
    // The principal reads the summary in large text and confirms: signature image or their own phone.
    let summary = agent.confirmation_summary(principal, catalog, &s)?;
    let (image, phone) = confirm(&summary)?;
    agent.record_confirmation(principal, catalog, &s, image.as_deref(), phone.as_deref())?;
    Ok(agent.submit(principal, catalog, &mut s)?)
}

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter("agent", "帮办代办：一次上门，服务两位委托人", "Proxy service: one trip, two principals");
    let catalog = Catalog::current(&j.store)?;

    // 1. The agent's phone: registered, then certified by the platform.
    let (agent_store, agent_wallet) = phone(j, "agent").await?;
    let agent = Agent::new(&agent_wallet);
    let cert = sync::agent_api::register_agent(&j.client, &agent, "王帮办", ORG).await?;
    j.check(
        "agent.certificate",
        &format!(
            "帮办员“{}”（{}）向平台注册，取得平台根密钥签发的帮办员证书，有效至 {}",
            cert.name,
            cert.org_name,
            chrono::DateTime::from_timestamp(cert.valid_until, 0)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_default()
        ),
        &format!(
            "Agent {} of {} registered: a certificate signed by the platform root, bound to the phone's key",
            cert.agent_id, cert.org_code
        ),
        agent.certificate()?.as_ref() == Some(&cert),
        json!({ "agent_id": cert.agent_id, "cert_id": cert.cert_id, "org": cert.org_code }),
    );

    // 2. 李奶奶 (has a phone) delegates by QR.
    let (li_store, li_wallet) = phone(j, "principal-li").await?;
    let li_side = PrincipalSide::new(&li_wallet);
    let cert_qr = agent.certificate_text()?;
    let seen = li_side.read_certificate(&cert_qr)?;
    let given = li_side.delegate(
        &cert_qr,
        "李秀英",
        "110105194001010018",
        Scope { items: vec![ITEM.into()], licence_types: vec![], actions: Action::ALL.to_vec(), elements: vec![] },
        None,
        false,
    )?;
    j.check(
        "agent.delegation",
        &format!(
            "李奶奶用自己的手机离线核验了帮办员证书（{}），签署授权委托：高龄津贴申领，填报/提交/跟踪/领取结果，30 天；委托书二维码 {} 个字符",
            seen.name,
            given.text.len()
        ),
        &format!("李秀英 checked the agent's certificate offline on her phone and signed a 30-day delegation for {ITEM}; QR text of {} characters", given.text.len()),
        given.text.starts_with("ZBD1:") && seen.cert_id == cert.cert_id,
        json!({ "delegation_id": given.id, "qr_chars": given.text.len(), "valid_until": given.valid_until }),
    );

    // 3. The trip: no signal from here on for the agent.
    let li = agent.accept_delegation(&given.text)?;
    let sun = agent.open_door_intake(&DoorIntake {
        principal_name: "孙德明".into(),
        principal_id_number: "110105193805200031".into(),
    })?;
    let mut pics = Vec::new();
    for name in ["身份证照片.jpg", "本人照片.jpg", "手写签名.png"] {
        let bytes: Vec<u8> = (0..16 * 1024).map(|i| ((i * 13 + name.len()) % 251) as u8).collect();
        pics.push(agent.attach_intake(&sun.subject, name, &mut bytes.as_slice())?.id);
    }
    let sun = agent.record_door_consent(
        &sun.subject,
        &DoorConsentInput {
            items: vec![ITEM.into()],
            id_photo: pics[0].clone(),
            principal_photo: pics[1].clone(),
            signature: pics[2].clone(),
            summary: "孙德明老人委托王帮办代为申领高龄津贴；所需材料：身份证、户口簿、社保卡；办理结果由王帮办送达。"
                .into(),
            valid_days: None,
            single_use: true,
        },
    )?;
    let home = agent.principals()?;
    j.check(
        "agent.door_consent",
        "上门：扫描李奶奶的委托书二维码并离线验签；孙爷爷没有手机，现场拍摄身份证、本人照片和手写签名（加密保存在其名下），朗读确认摘要后由帮办员密钥签名（较低保证级别）",
        "At the doors: 李秀英's delegation QR verified offline; 孙德明 has no phone, so his ID card, his photo and his signature were captured (encrypted under his own key) and the summary read out, signed by the agent's key (lower assurance)",
        home.len() == 2 && li.status == sun.status,
        json!({ "home": home.iter().map(|l| json!({ "name": l.name, "assurance": l.assurance, "needs_now": l.needs_now })).collect::<Vec<_>>() }),
    );

    let recorder = Arc::new(Recorder::default());
    let offline = SyncRunner::new(agent_store.clone(), quick("http://127.0.0.1:9"), recorder.clone())?;
    let mut submitted = Vec::new();
    let by_phone = |t: &zhangban_core::Text| -> DemoResult<(Option<String>, Option<String>)> {
        Ok((None, Some(li_side.confirm_summary(&t.zh)?)))
    };
    let sun_signature = pics[2].clone();
    let by_image = |_: &zhangban_core::Text| -> DemoResult<(Option<String>, Option<String>)> {
        Ok((Some(sun_signature.clone()), None))
    };
    let confirmations: [Confirm<'_>; 2] = [&by_phone, &by_image];
    for ((p, name, id, birth), confirm) in [
        (&li.subject, "李秀英", "110105194001010018", "1940-01-01"),
        (&sun.subject, "孙德明", "110105193805200031", "1938-05-20"),
    ]
    .into_iter()
    .zip(confirmations)
    {
        let c = fill_and_submit(
            &agent,
            &catalog,
            p,
            &[
                ("applicant.name", json!(name)),
                ("applicant.id_number", json!(id)),
                ("applicant.birth_date", json!(birth)),
                ("applicant.phone", json!("13900001111")),
                ("applicant.address", json!("北京市朝阳区幸福村 8 号")),
                ("allowance.account", json!("6217000010001234567")),
            ],
            confirm,
        )?;
        submitted.push(c);
    }
    let r = offline.run_once().await;
    let lists_apart = agent.cases(&li.subject)?.len() == 1 && agent.cases(&sun.subject)?.len() == 1;
    j.check(
        "agent.offline",
        "没有信号：为两位委托人分别填写高龄津贴申请（由帮办员填写的值均标注为代填），用大字向他们展示内容摘要，李奶奶用自己的手机签名确认、孙爷爷手写签名确认后提交，两件都在手机上排队；各自的办件列表互不混杂",
        "No signal: both applications filled (values marked agent-entered), the plain-language summary shown in large text and confirmed (李秀英 on her own phone, 孙德明 by his handwritten signature), submitted and queued on the phone; each principal's list holds only their own case",
        r.offline && r.remaining == 2 && lists_apart,
        json!({ "run": r, "cases": submitted.iter().map(|c| json!({ "id": c.id, "subject": c.subject, "agent": c.agent })).collect::<Vec<_>>() }),
    );

    // 4. Back in signal: one sync, both receipts; the platform checked both mandates.
    let online = SyncRunner::new(agent_store.clone(), quick(&j.platform_url), recorder.clone())?;
    let r = online.run_once().await;
    let receipts: Vec<String> =
        submitted.iter().filter_map(|c| cases::get(&agent_store, &c.id).ok().and_then(|c| c.receipt)).collect();
    let activity = j.platform.with_db(|c| crate::agents::activity_of(c))?;
    j.check(
        "agent.sync",
        &format!(
            "回到有信号处同步一次：平台核验了帮办员证书和两份授权（委托书、上门确认），两件都已被平台接收，回执号 {}",
            receipts.join("、")
        ),
        &format!(
            "Back in signal, one sync: the platform checked the certificate and both mandates; receipts {}",
            receipts.join(", ")
        ),
        r.receipts == 2 && receipts.len() == 2 && activity["cases"].as_array().map_or(0, Vec::len) == 2,
        json!({ "run": r, "receipts": receipts, "clerk_view": activity }),
    );

    // 5. 李奶奶's phone hears what the agent did, then she revokes.
    let li_runner = SyncRunner::new(li_store.clone(), quick(&j.platform_url), Arc::new(Recorder::default()))?;
    li_runner.run_once().await;
    let seen_by_li = li_side.activity()?;
    // In the core's words, oldest first (the same access repeated is one line).
    let mut lines: Vec<String> = li_side.home(Some(&catalog))?.activity.into_iter().map(|l| l.text.zh).collect();
    lines.reverse();
    j.check(
        "agent.principal_view",
        &format!("李奶奶的手机同步后看到帮办员为她做了什么：{} 条记录（{}）", seen_by_li.len(), lines.join("")),
        "李秀英's phone shows what the agent did for her, as the platform relayed it",
        seen_by_li
            .iter()
            .any(|e| e.kind == "submitted" && e.receipt.as_deref() == receipts.first().map(String::as_str)),
        json!({ "activity": seen_by_li }),
    );
    li_side.revoke(&given.id)?;
    let r = li_runner.run_once().await;
    j.check(
        "agent.revoke",
        "李奶奶撤销了授权委托：本机立即生效，同步时签名的撤销声明送达平台",
        "李秀英 revoked her delegation: at once on her phone, and the signed revocation reached the platform at her sync",
        r.revocations_sent == 1,
        json!({ "run": r }),
    );

    // 6. The agent's next sync brings the revocation; the next attempt for her is refused.
    let r = online.run_once().await;
    let denied = agent.start_draft(&li.subject, &catalog, ITEM).map(|_| ()).err();
    let refused = matches!(&denied, Some(Error::PermissionDenied { missing, .. }) if missing == "revoked");
    let audited = agent_store
        .audit_entries(None)?
        .iter()
        .rev()
        .find(|e| e.action == "agent.access")
        .is_some_and(|e| e.detail["allowed"] == json!(false) && e.subject == li.subject);
    let still_sun = agent.cases(&sun.subject).is_ok();
    // Off the agent's 待办 home at once (ADR 0043): one line about her, none of her cases or drafts.
    let todo = zhangban_core::remind::home(&agent_store)?;
    let hers: Vec<_> = todo.needs.iter().filter(|n| n.subject == li.subject).collect();
    let off_home = hers.len() == 1
        && hers[0].id == format!("ended:{}", li.subject)
        && todo.cases.iter().all(|c| c.subject != li.subject)
        && todo.drafts.iter().all(|d| d.subject != li.subject);
    j.check(
        "agent.revocation_honoured",
        &format!(
            "帮办员下次同步收到撤销：再为李奶奶办理被拒绝（{}），该次尝试已记入审计日志；待办首页只剩一行“{}”；孙爷爷的办理不受影响",
            denied.as_ref().map(|e| e.message_zh()).unwrap_or_default(),
            hers.first().map(|n| n.body.zh.as_str()).unwrap_or_default()
        ),
        "At the agent's next sync the revocation arrived: the next attempt for 李秀英 is refused and audited, and the 待办 home keeps only the line saying so; 孙德明 is unaffected",
        r.revocations_applied == 1 && refused && audited && still_sun && off_home,
        json!({ "run": r, "refusal": denied.map(|e| e.message_en()), "home_line": hers.first().map(|n| &n.body) }),
    );
    // 7. Each access the agent made for her (allowed and refused) reaches her phone through the platform.
    online.run_once().await;
    li_runner.run_once().await;
    let accesses: Vec<_> = li_side.activity()?.into_iter().filter(|e| e.kind.starts_with("access:")).collect();
    let after_revoking = accesses.iter().filter(|e| e.missing.as_deref() == Some("revoked")).count();
    // Her page tells each thing once: the submission as its receipt, not also as the access the agent reported for
    // it; the same access on one day as one line with its count.
    let page = li_side.home(Some(&catalog))?;
    let told: Vec<&str> =
        page.activity.iter().filter(|l| l.entry.kind == "submitted").map(|l| l.text.zh.as_str()).collect();
    let once = told.len() == 1 && !page.activity.iter().any(|l| l.entry.kind == "access:submit");
    let counted = page.activity.iter().filter(|l| l.times > 1).count();
    let entries = li_side.activity()?.len();
    j.check(
        "agent.principal_page",
        &format!(
            "她的手机“帮办员为您办了什么”：{entries} 条记录合成 {} 行，提交只说一次：{}",
            page.activity.len(),
            told.first().copied().unwrap_or_default()
        ),
        "Her page “What agents did for you” tells each thing once: the submission as its receipt, repeated accesses as one line with a count",
        once && counted > 0 && page.activity.len() < entries,
        json!({ "lines": page.activity.len(), "entries": entries, "counted_lines": counted, "submission": told }),
    );
    let line = format!(
        "agent served {} principals offline: {} submissions, {} receipts, {} revocation honoured; her phone lists {} accesses, {} refused after she revoked",
        home.len(),
        submitted.len(),
        receipts.len(),
        u32::from(refused),
        accesses.len(),
        after_revoking,
    );
    println!("  {line}");
    j.step(
        "agent.summary",
        &line,
        &line,
        json!({
            "principals": home.len(), "submissions": submitted.len(), "receipts": receipts.len(),
            "revocations_honoured": u32::from(refused), "accesses_seen": accesses.len(), "refused_after_revoking": after_revoking,
        }),
    );
    Ok(())
}
