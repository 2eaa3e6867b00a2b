//! Journey demo chapter: reminders and the 待办 home (提醒与待办).
//!
//! The citizen applies for her pension with the employment record promised later (容缺受理); a second
//! case runs past its promised date. The background task (`run_background`) syncs, turns the notices
//! into reminders and plans them for the phone: the plan is printed with its next wake-up. The overdue
//! case is urged (催办) from its reminder and the platform records it. Then, ten years on (the same store
//! opened with a clock moved forward), the resident ID card is about to expire: the reminder links to
//! 居民身份证换领 and opens its draft, prefilled.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zhangban_core::cases::{self, Submission};
use zhangban_core::catalog::Catalog;
use zhangban_core::clock::{local_date, FixedClock};
use zhangban_core::forms::Session;
use zhangban_core::notify::Recorder;
use zhangban_core::remind::{self, Plan, ReminderAction, ReminderSource, Screen};
use zhangban_core::store::{Store, SELF_SUBJECT};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::wallet::{LicenceType, Wallet};

use super::{DemoResult, Journey};

fn clerk(j: &Journey, case_id: &str, action: &str, args: Value) -> DemoResult<Value> {
    Ok(j.platform.with_db(|c| crate::cases::clerk(c, case_id, action, &args))?)
}

fn local_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t + 8 * 3600, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn print_plan(p: &Plan, n: usize) {
    println!(
        "      reminders planned: {} (≤ 60), next wake-up {} (Asia/Shanghai); diff: +{} ~{} -{}",
        p.pending.len(),
        local_time(p.next_wakeup),
        p.add.len(),
        p.replace.len(),
        p.cancel.len()
    );
    for r in p.pending.iter().take(n) {
        println!("        {}  [{:?}] {} — {}", local_time(r.fire_at), r.urgency, r.title.zh, r.body.zh);
    }
}

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter("remind", "提醒与待办", "Reminders and the 待办 home");
    let mut cfg = SyncConfig::new(&j.platform_url);
    cfg.request_timeout = Duration::from_secs(3);
    let runner = SyncRunner::new(j.store.clone(), cfg, Arc::new(Recorder::default()))?;
    let today = local_date(j.store.now());

    // 1. 容缺受理: the pension claim with the employment record to follow; a second case, accepted long ago.
    let pension = cases::submit(
        &j.store,
        SELF_SUBJECT,
        &Submission {
            item_codes: vec!["RS-002".into()],
            title: "基本养老保险待遇申领（退休）".into(),
            values: json!({ "retire.type": "normal" }),
            deferred_materials: vec!["职工档案（工作经历证明）".into()],
            ..Default::default()
        },
    )?;
    let household = cases::submit(
        &j.store,
        SELF_SUBJECT,
        &Submission {
            item_codes: vec!["MZ-002".into()],
            title: "高龄津贴申领".into(),
            values: json!({ "allowance.age": 80 }),
            ..Default::default()
        },
    )?;
    runner.run_background(Duration::from_secs(20)).await;
    let pid = |id: &str| cases::get(&j.store, id).ok().and_then(|c| c.platform_id).unwrap_or_default();
    let (p1, p2) = (pid(&pension.id), pid(&household.id));
    clerk(j, &p1, "accept", json!({ "promised_days": 15, "on": today.to_string(), "clerk": "赵敏" }))?;
    let long_ago = today - chrono::Duration::days(40);
    clerk(j, &p2, "accept", json!({ "promised_days": 10, "on": long_ago.to_string(), "clerk": "钱进" }))?;
    let r = runner.run_background(Duration::from_secs(20)).await;
    let plan = r.plan.clone().ok_or("no plan")?;
    print_plan(&plan, 8);
    let deferred: Vec<&remind::Reminder> =
        plan.pending.iter().filter(|r| r.source == ReminderSource::Deferred && r.link.id == pension.id).collect();
    let first = deferred.first().map(|r| (local_time(r.fire_at), r.title.zh.clone(), r.body.zh.clone()));
    j.check(
        "remind.plan",
        &format!(
            "后台任务同步并制定提醒计划：{} 条待定提醒（≤ 60），下次唤醒 {}",
            plan.pending.len(),
            local_time(plan.next_wakeup)
        ),
        &format!(
            "The background task synced and planned: reminders planned: {} (≤ 60), next wake-up {}",
            plan.pending.len(),
            local_time(plan.next_wakeup)
        ),
        r.plan_error.is_none() && plan.pending.len() <= 60 && plan.next_wakeup > plan.now,
        json!({ "pending": plan.pending.len(), "next_wakeup": plan.next_wakeup, "run": r.run, "notices": r.notices.len() }),
    );
    j.check(
        "remind.deferred",
        &format!(
            "容缺材料提醒：{}",
            first.as_ref().map(|(t, title, body)| format!("{t} {title}（{body}）")).unwrap_or_default()
        ),
        "Deferred material (容缺) reminders planned before its due date, on working days",
        deferred.len() >= 2,
        json!({ "reminders": deferred }),
    );

    // 2. The overdue case: the 待办 home puts it first with 催办; the urge goes to the platform.
    let home = remind::home(&j.store)?;
    let overdue = home.needs.iter().find(|n| n.id == format!("promised:{}", household.id)).cloned();
    j.check(
        "remind.overdue",
        &format!("待办：{}", overdue.as_ref().map(|n| format!("{}（{}）", n.title.zh, n.body.zh)).unwrap_or_default()),
        "The 待办 home shows the case past its promised date, with an Urge (催办) action",
        overdue.as_ref().is_some_and(|n| n.action == Some(ReminderAction::Urge))
            && home.cases.iter().any(|c| c.case_id == household.id && c.overdue),
        json!({ "need": overdue, "active_cases": home.cases.len(), "outbox": home.outbox_pending }),
    );
    remind::urge(&j.store, &household.id)?;
    let r = runner.run_background(Duration::from_secs(20)).await;
    let recorded: i64 = j.platform.with_db(|c| {
        Ok(c.query_row("SELECT COUNT(*) FROM case_events WHERE case_id = ?1 AND kind = 'urge_recorded'", [&p2], |r| {
            r.get(0)
        })?)
    })?;
    j.check(
        "remind.urged",
        "一键催办：已通过发件箱送达平台，平台记录了催办（电子监察）",
        "Urged with one tap: sent through the outbox; the platform recorded it",
        r.run.sent >= 1 && recorded == 1,
        json!({ "recorded": recorded }),
    );

    // 3. Ten years on: the resident ID card is about to expire.
    let wallet = Wallet::open(j.store.clone())?;
    let card = wallet
        .licences(j.store.now())?
        .into_iter()
        .find(|l| l.licence_type == LicenceType::ResidentId)
        .ok_or("no resident ID card in the wallet")?;
    let clock = Arc::new(FixedClock::at(card.valid_until - 20 * 86_400));
    let later = Arc::new(Store::open_with(j.store.dir(), j.vault.clone(), clock)?);
    let home = remind::home(&later)?;
    let need = home.needs.iter().find(|n| n.id == format!("licence:{}", card.licence_id)).cloned();
    let expiring = home.licences.iter().find(|l| l.licence_id == card.licence_id).cloned();
    let draft_id = remind::open_renewal(&later, &card.licence_id)?;
    let catalog = Catalog::current(&later)?;
    let draft = Session::resume(later.clone(), &catalog, &draft_id, local_date(later.now()))?;
    let reason = draft.draft.value("idcard.reason").map(|e| e.value.clone());
    let again = remind::open_renewal(&later, &card.licence_id)?;
    j.check(
        "remind.licence_renewal",
        &format!(
            "十年后：{}；点开即打开“居民身份证换领”草稿（换领原因已预填为有效期满）",
            need.as_ref().map(|n| format!("{}（{}）", n.title.zh, n.body.zh)).unwrap_or_default()
        ),
        "Ten years on: the ID card expires in 20 days; its reminder opens a prefilled 居民身份证换领 draft",
        need.as_ref().is_some_and(|n| n.link.screen == Screen::Renewal && n.action == Some(ReminderAction::Renew))
            && expiring.as_ref().and_then(|l| l.renewal_item.as_deref()) == Some("GA-002")
            && draft.draft.target == "GA-002"
            && reason == Some(json!("expired"))
            && again == draft_id,
        json!({ "need": need, "licence": expiring, "draft": draft_id, "reason": reason }),
    );
    let p = remind::plan(&later)?;
    print_plan(&p, 4);
    j.step(
        "remind.later_plan",
        &format!("十年后的提醒计划：{} 条，下次唤醒 {}", p.pending.len(), local_time(p.next_wakeup)),
        &format!(
            "The plan ten years on: reminders planned: {} (≤ 60), next wake-up {}",
            p.pending.len(),
            local_time(p.next_wakeup)
        ),
        json!({ "pending": p.pending.iter().map(|r| &r.id).collect::<Vec<_>>() }),
    );
    Ok(())
}
