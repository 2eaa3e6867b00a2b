//! Journey demo chapter: cases (提交办件、跟踪进度与评价).
//!
//! The citizen fills the form of 个体工商户登记 (autofilled from the profile and the wallet) and submits
//! the draft with no network: the application is queued on the phone. The network returns, the receipt
//! arrives. A clerk accepts it (the promised time limit starts, counted in working days on the official
//! calendar), asks for a supplement (补正), the citizen supplies it, the clerk approves and the sync loop
//! itself fetches the licence into the wallet (device-bound), the case is completed, the citizen rates
//! it. The timeline is printed with the promised date.

use std::sync::Arc;

use serde_json::{json, Value};
use zhangban_core::calendar::{Calendar, Rules};
use zhangban_core::cases::{self, CaseState, LicenceDelivery, MaterialOutcome, RatingLevel};
use zhangban_core::catalog::Catalog;
use zhangban_core::forms::{AutofillOptions, Editor, MaterialChoice, Session};
use zhangban_core::notify::{NoticeKind, Recorder};
use zhangban_core::store::SELF_SUBJECT;
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::wallet::Wallet;

use super::{DemoResult, Journey};

/// China's date (Asia/Shanghai), as the platform and the phones reckon it.
fn today() -> chrono::NaiveDate {
    use zhangban_core::Clock;
    zhangban_core::SystemClock.today()
}

fn clerk(j: &Journey, case_id: &str, action: &str, args: Value) -> DemoResult<Value> {
    Ok(j.platform.with_db(|c| crate::cases::clerk(c, case_id, action, &args))?)
}

fn quick(url: &str) -> SyncConfig {
    let mut c = SyncConfig::new(url);
    c.request_timeout = std::time::Duration::from_secs(3);
    c.run_budget = std::time::Duration::from_secs(20);
    c
}

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter("cases", "提交办件、跟踪进度与评价", "Submit, follow, rate");
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let code = "SJ-002";
    let promised: u32 = j
        .platform
        .with_db(|c| crate::catalog::latest(c))?
        .1
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == code))
        .and_then(|i| i["promised_days"].as_u64())
        .unwrap_or(10) as u32;

    // 1. Fill the item's form (autofilled from the profile and the wallet) and submit it offline.
    let catalog = Catalog::current(&j.store)?;
    let held = Wallet::open(j.store.clone())?;
    let mut draft = Session::start(
        j.store.clone(),
        &catalog,
        SELF_SUBJECT,
        code,
        &held,
        &AutofillOptions::at(j.store.clock().as_ref()),
    )?;
    let autofilled = draft.draft.report().fields_filled;
    for (path, v) in [
        ("applicant.name", json!("张三")),
        ("applicant.id_number", json!("110105198001010016")),
        ("applicant.phone", json!("13800138000")),
        ("enterprise.name", json!("张三便民服务部")),
        ("enterprise.address", json!("北京市朝阳区建国路88号1层")),
        ("enterprise.region", json!("110105")),
        ("enterprise.scope", json!("日用百货零售、便民服务")),
        ("enterprise.employees", json!(2)),
    ] {
        // Values the wallet verified are locked and already there; the rest is typed.
        if draft.draft.value(path).is_none_or(|e| !e.locked) {
            draft.set(path, v, Editor::Person)?;
        }
    }
    let photo: Vec<u8> = (0..50 * 1024).map(|i| (i % 251) as u8).collect();
    let att = j.store.write_attachment(SELF_SUBJECT, "经营场所照片.jpg", &mut photo.as_slice())?;
    draft.set_material("M_ADDRESS_PROOF", Some(MaterialChoice::Attached { attachment_id: att.id }))?;
    if draft.draft.material_report().iter().any(|m| m.code == "M_ID" && !m.status.is_exempt()) {
        let id = j.store.write_attachment(SELF_SUBJECT, "身份证.jpg", &mut &b"\xff\xd8\xff id card"[..])?;
        draft.set_material("M_ID", Some(MaterialChoice::Attached { attachment_id: id.id }))?;
    }
    let case = cases::submit_draft(&mut draft, &catalog)?;
    let exempt: Vec<String> = case
        .materials
        .iter()
        .filter(|m| matches!(m.outcome, MaterialOutcome::Exempt { .. }))
        .map(|m| m.name.clone())
        .collect();
    j.check(
        "cases.from_draft",
        &format!(
            "填写“{}”表单（自动填好 {autofilled} 项），经营场所照片作为材料上传，{}：校验通过后提交，办件与待发送记录同时保存，草稿转为已提交",
            case.title,
            if exempt.is_empty() { "身份证已上传".to_string() } else { format!("{}免提交（电子证照）", exempt.join("、")) }
        ),
        &format!("Filled the form of \"{}\" ({autofilled} fields autofilled), attached the premises photo: submitted from the draft, case and outbox operation stored together", case.title),
        case.draft_id.as_deref() == Some(draft.id())
            && draft.submitted_case() == Some(case.id.as_str())
            && draft.set("enterprise.employees", json!(3), Editor::Person).is_err(),
        json!({ "case_id": case.id, "draft_id": case.draft_id, "materials": case.materials }),
    );
    let recorder = Arc::new(Recorder::default());
    let offline = SyncRunner::new(j.store.clone(), quick("http://127.0.0.1:9"), recorder.clone())?;
    let r = offline.run_once().await;
    j.check(
        "cases.submit_offline",
        "没有网络时提交（含 50 KB 照片）：已保存在手机上排队",
        "Submitted with no network: queued on the phone",
        r.offline && r.remaining == 1 && cases::get(&j.store, &case.id)?.state == CaseState::Queued,
        json!({ "case_id": case.id, "run": r }),
    );

    // 2. Online: the receipt arrives.
    let runner = SyncRunner::new(j.store.clone(), quick(&j.platform_url), recorder.clone())?;
    let r = runner.run_once().await;
    let c = cases::get(&j.store, &case.id)?;
    let receipt = c.receipt.clone().unwrap_or_default();
    let pid = c.platform_id.clone().unwrap_or_default();
    j.check(
        "cases.receipt",
        &format!("网络恢复，自动提交成功，回执号 {receipt}"),
        &format!("Back online: sent automatically, receipt {receipt}"),
        r.receipts == 1 && !receipt.is_empty(),
        json!({ "receipt": receipt, "run": r }),
    );

    // 3. Accepted: the clock starts.
    clerk(j, &pid, "accept", json!({ "clerk": "王芳" }))?;
    runner.run_once().await;
    let c = cases::get(&j.store, &case.id)?;
    let p = cases::progress(&c, &cal, &rules, today())?;
    let promised_date = p.promised_date.as_ref().map(|d| d.value.to_string()).unwrap_or_default();
    j.check(
        "cases.accepted",
        &format!(
            "窗口王芳受理：承诺 {promised} 个工作日内办结，即 {promised_date} 前（按国务院节假日安排计算工作日{}），还剩 {} 个工作日",
            if p.promised_date.as_ref().is_some_and(|d| d.provisional) { "；含未发布年份，暂按周一至周五" } else { "" },
            p.working_days_left.as_ref().map(|d| d.value).unwrap_or_default()
        ),
        &format!("Accepted: promised within {promised} working days, by {promised_date}"),
        c.state == CaseState::Accepted && !promised_date.is_empty(),
        json!({ "promised_days": promised, "promised_date": promised_date, "working_days_left": p.working_days_left }),
    );

    // 4. Supplement requested and supplied.
    clerk(
        j,
        &pid,
        "supplement",
        json!({ "items": ["经营者身份证复印件（清晰版）"], "due_days": 1, "note": "原件照片模糊" }),
    )?;
    runner.run_once().await;
    let c = cases::get(&j.store, &case.id)?;
    let asked = recorder.notices().iter().any(|n| n.kind == NoticeKind::SupplementRequested);
    j.check(
        "cases.supplement_requested",
        "收到补正通知（一次性告知）：经营者身份证复印件（清晰版），原件照片模糊",
        "Supplement requested (told at once): a clear copy of the operator's ID",
        c.state == CaseState::SupplementRequested && asked,
        json!({ "supplement": c.supplement }),
    );
    let scan = j.store.write_attachment(SELF_SUBJECT, "身份证复印件.jpg", &mut &[0x5au8; 20_000][..])?;
    cases::supply(&j.store, &case.id, json!({ "id_copy": "attached" }), &[scan.id], "补交清晰的身份证复印件")?;
    runner.run_once().await;
    runner.run_once().await;
    let c = cases::get(&j.store, &case.id)?;
    j.check(
        "cases.supplied",
        "补正材料已送达，办件回到审查中",
        "The supplement was delivered; the case is back in review",
        c.state == CaseState::InReview,
        json!({ "state": c.state }),
    );

    // 5. Approved: the licence is issued into the wallet; completed.
    // A unified social credit code with its GB 32100 check character.
    let base = "92110105MA01XB000";
    let uscc = format!("{base}{}", zhangban_core::ids::uscc_check_char(base).unwrap_or('0'));
    let offer = json!({ "type": "business_licence", "elements": {
        "uscc": uscc, "company_name": "北京市朝阳区张三便民服务部",
        "company_type": "个体工商户", "legal_representative": "张三", "registered_capital": "5万元",
        "established_date": today().to_string(), "business_scope": "便民服务",
        "address": "北京市朝阳区建国路88号1层", "registration_authority": "北京市朝阳区市场监督管理局" } });
    clerk(j, &pid, "approve", json!({ "result": "准予设立登记", "licence": offer, "clerk": "李科长" }))?;
    clerk(j, &pid, "complete", json!({ "result": "营业执照已发放至证照夹" }))?;
    // The sync run applies the approval and itself fetches the device-bound licence into the wallet.
    let wallet = Wallet::open(j.store.clone())?;
    let before = wallet.licences(chrono::Utc::now().timestamp())?.len();
    let r = runner.run_once().await;
    let c = cases::get(&j.store, &case.id)?;
    let after = wallet.licences(chrono::Utc::now().timestamp())?.len();
    let licence_id = match &c.licence_delivery {
        Some(LicenceDelivery::Imported { licence_id, .. }) => licence_id.clone(),
        _ => String::new(),
    };
    j.check(
        "cases.approved_licence",
        &format!("准予设立登记并办结；同步时营业执照电子证照已自动领取到证照夹（{licence_id}）"),
        "Approved and completed; the sync loop itself put the business licence e-licence in the wallet",
        c.state == CaseState::Completed
            && r.licences_imported == 1
            && !licence_id.is_empty()
            && recorder.notices().iter().any(|n| n.kind == NoticeKind::LicenceIssued)
            && after == before + 1,
        json!({ "licence_id": licence_id, "delivery": c.licence_delivery, "wallet_before": before, "wallet_after": after }),
    );

    // 6. Rating (好差评).
    cases::rate(&j.store, &rules, &case.id, RatingLevel::VerySatisfied, None, today())?;
    let r = runner.run_once().await;
    let score: Option<i64> = j.platform.with_db(|db| {
        Ok(db.query_row("SELECT score FROM case_ratings WHERE case_id = ?1", [&pid], |r| r.get(0)).ok())
    })?;
    j.check(
        "cases.rated",
        "评价“非常满意”，已送达平台（一事一评）",
        "Rated 'very satisfied'; delivered to the platform",
        r.sent == 1 && score == Some(5),
        json!({ "score": score }),
    );

    // The timeline.
    let c = cases::get(&j.store, &case.id)?;
    let p = cases::progress(&c, &cal, &rules, today())?;
    println!("      办件时间线 / timeline — 回执号 {receipt}，承诺 {promised} 个工作日，承诺办结日 {promised_date}");
    for e in &p.timeline {
        let at = chrono::DateTime::from_timestamp(e.at, 0)
            .map(|t| t.with_timezone(&chrono::Local).format("%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        println!("        {at}  {:<24} {:<14} {}", e.state.label_zh(), e.actor, e.note.zh);
    }
    j.step(
        "cases.timeline",
        &format!("办件全程 {} 个节点，均有时间和经办人；承诺办结日 {promised_date}", p.timeline.len()),
        &format!("{} timeline entries, each with time and actor; promised date {promised_date}", p.timeline.len()),
        json!({ "timeline": p.timeline, "overdue": p.overdue }),
    );
    Ok(())
}
