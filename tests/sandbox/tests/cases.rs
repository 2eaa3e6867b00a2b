//! Applications end to end over HTTP against the sandbox platform: exactly-once submission under faults,
//! kill -9 during sync, offline submission, the clerk workflow, quarantine, automatic termination, and
//! the signed calendar update.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::{json, Value};
use zhangban_core::calendar::{self, Calendar, Rules};
use zhangban_core::cases::{self, CaseState, LicenceDelivery, Need, RatingLevel, Submission};
use zhangban_core::notify::{NoticeKind, Recorder};
use zhangban_core::outbox;
use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store, SELF_SUBJECT};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, issuance, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{LicenceType, Wallet};
use zhangban_sandbox::cases::{clerk_command, stats, upload_bytes};
use zhangban_sandbox::faults::FaultConfig;
use zhangban_sandbox::server::{self, Running};

struct Citizen {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: Arc<Store>,
}

fn open_citizen() -> Citizen {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).expect("vault"));
    let store = Arc::new(Store::create(&dir.join("store"), vault, None).expect("store"));
    Citizen { _tmp: tmp, dir, store }
}

async fn register(store: &Store, url: &str) {
    let key = sync::device_key(store).expect("device key");
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "desktop".into(),
        model: "cases-test".into(),
        app_version: "0".into(),
    };
    PlatformClient::new(url).expect("client").register_device(store, &info).await.expect("register");
}

async fn platform(db: Option<&Path>) -> Running {
    server::start("127.0.0.1:0", db, server::Config::default()).await.expect("sandbox starts")
}

fn item_codes(p: &Running) -> Vec<String> {
    p.state
        .with_db(|c| zhangban_sandbox::catalog::latest(c))
        .expect("catalog")
        .1
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["entry"] == "item")
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

fn submission(store: &Store, code: &str, i: usize, photo_bytes: usize) -> Submission {
    let photo: Vec<u8> = (0..photo_bytes).map(|b| (b * 31 + i * 7) as u8).collect();
    let att = store.write_attachment(SELF_SUBJECT, "photo.jpg", &mut photo.as_slice()).expect("attachment");
    Submission {
        item_codes: vec![code.to_string()],
        title: format!("测试办件 {i}"),
        values: json!({ "name": "张三", "n": i }),
        attachments: vec![att.id],
        deferred_materials: vec![],
        ..Default::default()
    }
}

fn fast(url: &str) -> SyncConfig {
    let mut c = SyncConfig::new(url);
    c.request_timeout = Duration::from_millis(400);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(200);
    c.idle_interval = Duration::from_millis(50);
    c.run_budget = Duration::from_secs(10);
    c
}

/// A business licence offer as a clerk's approval carries it; `uscc_base`: 17 characters, the check
/// character (GB 32100) is appended. A wrong one (`check` false) makes the platform refuse issuance.
fn business_licence_offer(uscc_base: &str) -> Value {
    let uscc = format!("{uscc_base}{}", zhangban_core::ids::uscc_check_char(uscc_base).expect("check char"));
    licence_offer_with(&uscc)
}

fn licence_offer_with(uscc: &str) -> Value {
    json!({ "type": "business_licence", "elements": {
        "uscc": uscc, "company_name": "北京市朝阳区张三便民服务部", "company_type": "个体工商户",
        "legal_representative": "张三", "registered_capital": "5万元", "established_date": "2024-02-27",
        "business_scope": "便民服务", "address": "北京市朝阳区建国路88号1层",
        "registration_authority": "北京市朝阳区市场监督管理局" } })
}

async fn clerk(url: &str, action: &str, case: &str, args: Value) -> Value {
    clerk_command(url, action, Some(case), args).await.unwrap_or_else(|e| panic!("clerk {action}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_with_30_percent_faults() {
    const N: usize = 200;
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    for i in 0..N {
        cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, &code, i, 2048)).expect("submit");
    }
    p.state.faults.set(FaultConfig::mixed(0.30, 800));
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), Arc::new(Recorder::default())).expect("runner");
    let handle = runner.spawn();
    let start = Instant::now();
    loop {
        let done = cases::list_in_state(&citizen.store, CaseState::Submitted).expect("list").len();
        if done == N || start.elapsed() > Duration::from_secs(90) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.stop().await;
    let s = p.state.with_db(|c| stats(c)).expect("stats");
    let injected = p.state.faults.injected.load(std::sync::atomic::Ordering::Relaxed);
    let requests = p.state.faults.requests.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{N} submissions in {:?}: {s}; {injected} faults injected in {requests} requests", start.elapsed());
    assert_eq!(s["cases"], N, "exactly N cases on the platform");
    assert_eq!(s["distinct_client_refs"], N);
    assert!(injected as f64 > requests as f64 * 0.15, "faults were really injected ({injected}/{requests})");
    let all = cases::list_all(&citizen.store).expect("list");
    let mut receipts: Vec<String> = all.iter().filter_map(|c| c.receipt.clone()).collect();
    assert_eq!(receipts.len(), N, "a receipt for each case on the device");
    receipts.sort();
    receipts.dedup();
    assert_eq!(receipts.len(), N, "receipts are distinct");
    assert!(outbox::pending(&citizen.store).expect("pending").is_empty());
    assert!(outbox::quarantined(&citizen.store).expect("q").is_empty());
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_attachments_upload_in_chunks_and_resume_after_lost_answers() {
    // 200,000-byte files in 40,000-byte requests: requests cross the store's 64 KiB chunks, and lost
    // answers (committed, then cut) make the runner resume where the platform stopped.
    const N: usize = 6;
    const SIZE: usize = 200_000;
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let mut photos = Vec::new();
    for i in 0..N {
        let sub = submission(&citizen.store, &code, i, SIZE);
        photos.push(citizen.store.read_attachment_to_vec(&sub.attachments[0]).expect("photo"));
        cases::submit(&citizen.store, SELF_SUBJECT, &sub).expect("submit");
    }
    let uploads: Vec<String> =
        outbox::pending(&citizen.store).expect("pending").iter().map(|o| o.uploads[0].upload_id.clone()).collect();
    assert_eq!(uploads.len(), N);
    p.state.faults.set(FaultConfig { drop_rate: 0.3, reset_rate: 0.1, ..FaultConfig::default() });
    let mut cfg = fast(&p.url);
    cfg.chunk_size = 40_000;
    cfg.attempts_per_run = 100;
    let runner = SyncRunner::new(citizen.store.clone(), cfg, Arc::new(Recorder::default())).expect("runner");
    let start = Instant::now();
    while runner.run_once().await.remaining > 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "sync did not finish");
    }
    assert!(p.state.faults.injected.load(std::sync::atomic::Ordering::Relaxed) > 0, "faults were injected");
    assert_eq!(p.state.with_db(|c| stats(c)).expect("stats")["cases"], N);
    // The platform holds each file byte for byte; which file is which depends on the queue order.
    let mut held: Vec<Vec<u8>> =
        uploads.iter().map(|u| p.state.with_db(|c| upload_bytes(c, u)).expect("upload")).collect();
    held.sort();
    photos.sort();
    assert_eq!(held, photos);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_operation_is_retried_within_the_run_up_to_its_attempts() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    for i in 0..3 {
        cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, &code, i, 500)).expect("submit");
    }
    p.state.faults.set(FaultConfig { error_rate: 1.0, ..FaultConfig::default() });
    let mut cfg = fast(&p.url);
    cfg.attempts_per_run = 4;
    let runner = SyncRunner::new(citizen.store.clone(), cfg, Arc::new(Recorder::default())).expect("runner");
    let r = runner.run_once().await;
    assert_eq!((r.sent, r.remaining), (0, 3), "{r:?}");
    assert!(r.failures >= 12, "{r:?}");
    for op in outbox::pending(&citizen.store).expect("pending") {
        assert_eq!(op.attempts, 4, "every attempt of this run is recorded");
        assert!(op.last_error.as_deref().is_some_and(|e| e.contains("503")), "{:?}", op.last_error);
    }
    // The platform recovers: the next run sends each once.
    p.state.faults.set(FaultConfig::default());
    let r = runner.run_once().await;
    assert_eq!((r.receipts, r.remaining), (3, 0), "{r:?}");
    assert_eq!(p.state.with_db(|c| stats(c)).expect("stats")["cases"], 3);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_sync_loses_nothing_and_duplicates_nothing() {
    const N: usize = 120;
    let tmp = tempfile::tempdir().expect("tmp");
    let p = platform(Some(&tmp.path().join("platform.db"))).await;
    let dir = tmp.path().join("citizen");
    std::fs::create_dir_all(&dir).expect("dir");
    {
        let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).expect("vault"));
        let store = Store::create(&dir.join("store"), vault, None).expect("store");
        register(&store, &p.url).await;
        let code = item_codes(&p)[0].clone();
        for i in 0..N {
            cases::submit(&store, SELF_SUBJECT, &submission(&store, &code, i, 150_000)).expect("submit");
        }
    }
    // Responses dropped after commit and some latency, so the kill lands between commit and receipt.
    p.state.faults.set(FaultConfig { drop_rate: 0.2, latency_ms: 3, ..Default::default() });
    let exe = env!("CARGO_BIN_EXE_zhangban-sandbox");
    let mut kills = 0;
    for round in 0..3 {
        let mut child = std::process::Command::new(exe)
            .args(["device-sync", dir.to_str().expect("utf-8"), &p.url])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("child starts");
        // Let it get some way in, then kill -9 (SIGKILL) in the middle of a sync run.
        let target = (round + 1) * N as i64 / 4;
        let start = Instant::now();
        loop {
            let n = p.state.with_db(|c| stats(c)).expect("stats")["cases"].as_i64().unwrap_or(0);
            if n >= target || start.elapsed() > Duration::from_secs(30) {
                break;
            }
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(kills >= 2, "the sync process was killed mid-run ({kills})");
    p.state.faults.set(FaultConfig::default());
    let status = std::process::Command::new(exe)
        .args(["device-sync", dir.to_str().expect("utf-8"), &p.url])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("final run");
    assert!(status.success());
    let s = p.state.with_db(|c| stats(c)).expect("stats");
    assert_eq!(s["cases"], N as i64, "no duplicate and no loss on the platform: {s}");
    assert_eq!(s["distinct_client_refs"], N as i64);
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).expect("vault"));
    let store = Store::open(&dir.join("store"), vault).expect("reopen");
    let all = cases::list_all(&store).expect("list");
    assert_eq!(all.len(), N);
    assert!(all.iter().all(|c| c.receipt.is_some() && c.state == CaseState::Submitted));
    assert!(outbox::pending(&store).expect("pending").is_empty());
    store.integrity_check().expect("store intact");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_submission_then_the_whole_clerk_journey() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("platform.db");
    let citizen = open_citizen();
    // Register once, then the platform goes away.
    let p = platform(Some(&db)).await;
    let addr = p.addr.to_string();
    let url = p.url.clone();
    register(&citizen.store, &url).await;
    let code = item_codes(&p)[0].clone();
    p.stop().await;
    let held = hold_port(&addr).await;

    let sub = submission(&citizen.store, &code, 1, 50_000);
    let case = cases::submit(&citizen.store, SELF_SUBJECT, &sub).expect("submit offline");
    let recorder = Arc::new(Recorder::default());
    let runner = SyncRunner::new(citizen.store.clone(), fast(&url), recorder.clone()).expect("runner");
    let r = runner.run_once().await;
    assert!(r.offline && r.remaining == 1 && r.sent == 0, "offline run: {r:?}");
    assert_eq!(cases::get(&citizen.store, &case.id).expect("case").state, CaseState::Queued);

    // The platform comes back on the same address: the receipt arrives.
    drop(held);
    let p = server::start(&addr, Some(&db), server::Config::default()).await.expect("restart");
    let r = runner.run_once().await;
    assert_eq!((r.sent, r.receipts, r.remaining), (1, 1, 0), "{r:?}");
    let c = cases::get(&citizen.store, &case.id).expect("case");
    let receipt = c.receipt.clone().expect("receipt stored");
    assert_eq!(c.state, CaseState::Submitted);
    assert!(recorder.notices().iter().any(|n| n.kind == NoticeKind::Receipt && n.body_zh.contains(&receipt)));
    let pid = c.platform_id.clone().expect("platform id");

    // Clerk accepts (by receipt number, as at the counter) on Thursday 8 Feb 2024, promised 5 working days.
    clerk(&url, "accept", &receipt, json!({ "promised_days": 5, "on": "2024-02-08", "clerk": "王芳" })).await;
    runner.run_once().await;
    let c = cases::get(&citizen.store, &case.id).expect("case");
    assert_eq!(c.state, CaseState::Accepted);
    let cal = Calendar::bundled();
    let rules = Rules::default();
    let today = NaiveDate::from_ymd_opt(2024, 2, 9).expect("date");
    let prog = cases::progress(&c, &cal, &rules, today).expect("progress");
    // 9 Feb, 18 Feb (调休 Sunday), 19, 20, 21 → 21 Feb 2024.
    assert_eq!(prog.promised_date.as_ref().map(|d| d.value.to_string()).as_deref(), Some("2024-02-21"));
    assert_eq!(prog.working_days_left.as_ref().map(|d| d.value), Some(4));

    // Supplement requested; the citizen supplies it.
    clerk(&url, "supplement", &pid, json!({ "items": ["身份证复印件"], "due_days": 5, "on": "2024-02-09" })).await;
    runner.run_once().await;
    let c = cases::get(&citizen.store, &case.id).expect("case");
    assert_eq!(c.state, CaseState::SupplementRequested);
    assert!(recorder.notices().iter().any(|n| n.kind == NoticeKind::SupplementRequested));
    let scan = citizen.store.write_attachment(SELF_SUBJECT, "id.jpg", &mut &[7u8; 3000][..]).expect("scan");
    cases::supply(&citizen.store, &case.id, json!({ "id_copy": "attached" }), &[scan.id], "补交身份证复印件")
        .expect("supply");
    let r = runner.run_once().await;
    assert!(r.sent >= 1 && r.remaining == 0, "{r:?}");
    // supplement_received arrives in the same run's event pull, or the next.
    runner.run_once().await;
    assert_eq!(cases::get(&citizen.store, &case.id).expect("case").state, CaseState::InReview);

    // Approval with a licence, completion: the sync loop itself fetches the device-bound licence into
    // the wallet (nobody calls the wallet here), once.
    let licence = business_licence_offer("92110105MA01XB000");
    clerk(&url, "approve", &pid, json!({ "result": "准予登记", "licence": licence })).await;
    clerk(&url, "complete", &pid, json!({ "result": "已发放营业执照" })).await;
    let r = runner.run_once().await;
    assert_eq!(r.licences_imported, 1, "{r:?}");
    let c = cases::get(&citizen.store, &case.id).expect("case");
    assert_eq!(c.state, CaseState::Completed);
    assert_eq!(c.licence.as_ref(), Some(&licence));
    let Some(LicenceDelivery::Imported { licence_id, .. }) = c.licence_delivery.clone() else {
        panic!("licence delivered: {:?}", c.licence_delivery)
    };
    let wallet = Wallet::open(citizen.store.clone()).expect("wallet");
    let held = wallet.licences(chrono::Utc::now().timestamp()).expect("licences");
    assert_eq!(held.iter().map(|l| l.licence_id.as_str()).collect::<Vec<_>>(), [licence_id.as_str()]);
    assert_eq!(held[0].licence_type, LicenceType::BusinessLicence);
    assert_eq!(recorder.notices().iter().filter(|n| n.kind == NoticeKind::LicenceIssued).count(), 2);
    assert!(c.timeline.iter().any(|e| e.note.zh.contains("证照夹")));
    assert_eq!(runner.run_once().await.licences_imported, 0, "once per case");
    assert_eq!(wallet.licences(chrono::Utc::now().timestamp()).expect("licences").len(), 1);
    let on = c.completed_on.expect("completed on");
    cases::rate(&citizen.store, &rules, &case.id, RatingLevel::VerySatisfied, None, on).expect("rate");
    let r = runner.run_once().await;
    assert!(r.sent == 1 && r.remaining == 0, "{r:?}");
    let score: i64 = p
        .state
        .with_db(|db| Ok(db.query_row("SELECT score FROM case_ratings WHERE case_id = ?1", [&pid], |r| r.get(0))?))
        .expect("rating on the platform");
    assert_eq!(score, 5);
    let c = cases::get(&citizen.store, &case.id).expect("case");
    let states: Vec<&str> = c.timeline.iter().map(|e| e.state.as_str()).collect();
    for s in ["queued", "submitted", "accepted", "supplement_requested", "in_review", "approved", "completed"] {
        assert!(states.contains(&s), "timeline has {s}: {states:?}");
    }
    assert!(c.timeline.iter().any(|e| e.actor == "clerk:王芳"));
    // A second rating is refused locally.
    assert!(cases::rate(&citizen.store, &rules, &case.id, RatingLevel::Satisfied, None, on).is_err());
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_submission_is_quarantined_without_blocking_the_queue() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let good: Vec<String> = (0..3)
        .map(|i| cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, &code, i, 500)).expect("s").id)
        .collect();
    let bad =
        cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, "zz-no-such-item", 9, 500)).expect("s");
    let more = cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, &code, 10, 500)).expect("s");
    let recorder = Arc::new(Recorder::default());
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), recorder.clone()).expect("runner");
    let r = runner.run_once().await;
    let errors: Vec<Option<String>> =
        outbox::pending(&citizen.store).expect("p").into_iter().map(|o| o.last_error).collect();
    assert_eq!((r.receipts, r.quarantined, r.remaining), (4, 1, 0), "{r:?} {errors:?}");
    for id in good.iter().chain([&more.id]) {
        assert!(cases::get(&citizen.store, id).expect("case").receipt.is_some());
    }
    let q = outbox::quarantined(&citizen.store).expect("q");
    assert_eq!(q.len(), 1);
    let problem = q[0].problem.clone().expect("reason kept");
    assert_eq!(problem.status, 422);
    assert!(problem.message.contains("zz-no-such-item"), "{}", problem.message);
    let c = cases::get(&citizen.store, &bad.id).expect("case");
    assert_eq!(c.state, CaseState::Queued);
    let prog = cases::progress(&c, &Calendar::bundled(), &Rules::default(), china_today()).expect("p");
    // The platform's reason in both languages, each on its own (it once arrived as "中文 / English").
    assert!(prog.needed_now.iter().any(|n| matches!(n, Need::Fix { message }
        if message.en.contains("zz-no-such-item") && message.zh.contains("没有事项") && !message.zh.contains(" / "))));
    assert!(recorder.notices().iter().any(|n| n.kind == NoticeKind::Refused && n.case_id == bad.id));
    // A second run does not resend it.
    let r = runner.run_once().await;
    assert_eq!((r.sent, r.quarantined), (0, 0));
    assert_eq!(p.state.with_db(|c| stats(c)).expect("stats")["cases"], 4);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_material_overdue_terminates_the_case() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let mut sub = submission(&citizen.store, &code, 1, 100);
    sub.deferred_materials = vec!["场所证明".into()];
    let case = cases::submit(&citizen.store, SELF_SUBJECT, &sub).expect("submit");
    let kept = cases::submit(&citizen.store, SELF_SUBJECT, &sub).expect("submit");
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), Arc::new(Recorder::default())).expect("runner");
    runner.run_once().await;
    let pid = cases::get(&citizen.store, &case.id).expect("case").platform_id.expect("pid");
    let kept_pid = cases::get(&citizen.store, &kept.id).expect("case").platform_id.expect("pid");
    // Accepted today with 10 working days: deferred due = min(10 − 2, 20) = 8 working days later. The clerk
    // accepts on the day the test reckons from (left to its own clock, a run across China's midnight had the
    // platform accept a day later than `today` and the due dates differed by a working day).
    let today = china_today();
    let due = Rules::default().deferred_due(&Calendar::bundled(), today, 10, &[]).expect("due").value;
    let on = today.to_string();
    clerk(&p.url, "accept", &pid, json!({ "promised_days": 10, "on": on })).await;
    clerk(&p.url, "accept", &kept_pid, json!({ "promised_days": 10, "on": on })).await;
    runner.run_once().await;
    let prog = cases::progress(
        &cases::get(&citizen.store, &kept.id).expect("case"),
        &Calendar::bundled(),
        &Rules::default(),
        today,
    )
    .expect("progress");
    assert!(prog
        .needed_now
        .iter()
        .any(|n| matches!(n, Need::Deferred { due: d, working_days_left: 8, .. } if *d == due)));
    // The second applicant supplies the deferred material in time.
    cases::supply(&citizen.store, &kept.id, json!({ "premises": "lease" }), &[], "补交场所证明").expect("supply");
    runner.run_once().await;
    let before = clerk_command(&p.url, "sweep", None, json!({ "today": due.to_string() })).await.expect("sweep");
    assert_eq!(before["terminated"], 0, "not yet overdue on the due date");
    let after = clerk_command(&p.url, "sweep", None, json!({ "today": due.succ_opt().expect("d").to_string() }))
        .await
        .expect("sweep");
    assert_eq!(after["terminated"], 1, "only the case whose material is missing");
    runner.run_once().await;
    assert_eq!(cases::get(&citizen.store, &kept.id).expect("case").state, CaseState::Accepted);
    let c = cases::get(&citizen.store, &case.id).expect("case");
    assert_eq!(c.state, CaseState::Terminated);
    assert!(c.reason.as_deref().is_some_and(|r| r.contains("场所证明")));
    // A clerk cannot approve a terminated case.
    assert!(clerk_command(&p.url, "approve", Some(&pid), json!({})).await.is_err());
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_due_dates_across_spring_festival_2024_and_automatic_termination() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let mut ids = Vec::new();
    for i in 0..2 {
        let mut sub = submission(&citizen.store, &code, i, 100);
        sub.deferred_materials = vec!["场所证明".into()];
        ids.push(cases::submit(&citizen.store, SELF_SUBJECT, &sub).expect("submit").id);
    }
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), Arc::new(Recorder::default())).expect("runner");
    assert_eq!(runner.run_once().await.receipts, 2);
    let pids: Vec<String> =
        ids.iter().map(|id| cases::get(&citizen.store, id).expect("case").platform_id.expect("pid")).collect();
    // Both accepted on Thursday 8 Feb 2024, the day before the Spring Festival break (10–17 Feb, Sunday
    // 18 Feb worked): promised 10 working days → material due in min(10 − 2, 20) = 8 working days
    // = Mon 26 Feb; promised 30 → capped at 20 working days = Wed 13 Mar.
    clerk(&p.url, "accept", &pids[0], json!({ "promised_days": 10, "on": "2024-02-08" })).await;
    clerk(&p.url, "accept", &pids[1], json!({ "promised_days": 30, "on": "2024-02-08" })).await;
    let sweep = |day: &'static str| {
        let url = p.url.clone();
        async move {
            clerk_command(&url, "sweep", None, json!({ "today": day })).await.expect("sweep")["terminated"]
                .as_u64()
                .expect("count")
        }
    };
    assert_eq!(sweep("2024-02-26").await, 0, "due on 26 Feb: not overdue that day");
    assert_eq!(sweep("2024-02-27").await, 1, "overdue the next day");
    assert_eq!(sweep("2024-03-13").await, 0);
    assert_eq!(sweep("2024-03-14").await, 1);
    runner.run_once().await;
    let cal = Calendar::bundled();
    let rules = Rules::default();
    for (id, promised, due) in [(&ids[0], 10, "2024-02-26"), (&ids[1], 30, "2024-03-13")] {
        let c = cases::get(&citizen.store, id).expect("case");
        let due = NaiveDate::parse_from_str(due, "%Y-%m-%d").expect("date");
        // The platform's date (sent with `accepted`) is the phone's rule applied to the same facts.
        assert_eq!(c.deferred[0].due, Some(due));
        assert_eq!(
            cases::deferred_due(&cal, &rules, c.accepted_on.expect("accepted"), promised).expect("d").value,
            due
        );
        assert_eq!(c.state, CaseState::Terminated);
        assert!(c.reason.as_deref().is_some_and(|r| r.contains(&due.to_string())), "{:?}", c.reason);
        let states: Vec<CaseState> = c.timeline.iter().map(|e| e.state).collect();
        assert!(states.ends_with(&[CaseState::Accepted, CaseState::Terminated]), "{states:?}");
    }
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_allowing_fewer_days_gets_its_own_earlier_due_date_from_the_platform() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let mut sub = submission(&citizen.store, &code, 0, 100);
    sub.deferred_materials = vec!["场所证明".into(), "住院分娩记录".into()];
    // What a submitted draft sends: the catalog allows the delivery record 5 working days.
    sub.materials = vec![cases::MaterialLine {
        code: "M_DELIVERY_RECORD".into(),
        name: "住院分娩记录".into(),
        outcome: cases::MaterialOutcome::Deferred { within_working_days: 5 },
    }];
    let id = cases::submit(&citizen.store, SELF_SUBJECT, &sub).expect("submit").id;
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), Arc::new(Recorder::default())).expect("runner");
    assert_eq!(runner.run_once().await.receipts, 1);
    let pid = cases::get(&citizen.store, &id).expect("case").platform_id.expect("pid");
    clerk(&p.url, "accept", &pid, json!({ "promised_days": 30, "on": "2024-02-08" })).await;
    runner.run_once().await;
    let c = cases::get(&citizen.store, &id).expect("case");
    let mut dues: Vec<(String, Option<NaiveDate>)> = c.deferred.iter().map(|d| (d.material.clone(), d.due)).collect();
    dues.sort();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    // 5 working days after Thu 8 Feb 2024 across the Spring Festival = Wed 21 Feb; the other material
    // gets the rule's 20 working days = Wed 13 Mar.
    assert_eq!(dues, [("住院分娩记录".into(), day("2024-02-21")), ("场所证明".into(), day("2024-03-13"))]);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_attachment_quarantines_its_submission_and_the_rest_goes_on() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let bad = submission(&citizen.store, &code, 0, 30_000);
    let damaged_file = citizen.dir.join("store").join("attachments").join(format!("{}.zba", bad.attachments[0]));
    let bad_id = cases::submit(&citizen.store, SELF_SUBJECT, &bad).expect("submit").id;
    let good_id =
        cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, &code, 1, 30_000)).expect("submit").id;
    // A byte of the queued photo flips on disk.
    let mut bytes = std::fs::read(&damaged_file).expect("attachment file");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&damaged_file, &bytes).expect("write");
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), Arc::new(Recorder::default())).expect("runner");
    let r = runner.run_once().await;
    assert_eq!((r.receipts, r.quarantined, r.remaining), (1, 1, 0), "{r:?}");
    let c = cases::get(&citizen.store, &bad_id).expect("case");
    let problem = c.problem.expect("the person is told");
    // Told in both languages, each on its own (it once was one "中文 / English" string).
    let told = problem.text();
    assert!(told.zh.contains("已损坏") && !told.zh.contains("add it again"), "{problem:?}");
    assert!(told.en.contains("add it again") && !told.en.contains("已损坏"), "{problem:?}");
    assert!(cases::get(&citizen.store, &good_id).expect("case").receipt.is_some());
    // Nothing keeps retrying it: the next run sends nothing.
    let again = runner.run_once().await;
    assert_eq!((again.sent, again.failures), (0, 0), "{again:?}");
    p.stop().await;
}

/// Pulls the device's events by hand and applies them (what a run does before it delivers licences),
/// so a test can stop between the two.
async fn apply_events_only(store: &Store, runner: &SyncRunner, url: &str) {
    let token = sync::registration(store).expect("reg").expect("registered").token;
    let since = runner.events_cursor().expect("cursor");
    let v: Value = zhangban_core::sync::tls::client_builder()
        .unwrap()
        .build()
        .unwrap()
        .get(format!("{url}/v1/events?since={since}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let events: Vec<cases::PlatformEvent> = serde_json::from_value(v["events"].clone()).expect("events");
    runner.apply_events(&events, v["next"].as_u64().expect("next")).expect("apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licence_delivery_is_once_across_a_stop_half_way_and_a_refusal_is_shown() {
    let p = platform(None).await;
    let citizen = open_citizen();
    register(&citizen.store, &p.url).await;
    let code = item_codes(&p)[0].clone();
    let ids: Vec<String> = (0..2)
        .map(|i| cases::submit(&citizen.store, SELF_SUBJECT, &submission(&citizen.store, &code, i, 100)).expect("s").id)
        .collect();
    let recorder = Arc::new(Recorder::default());
    let runner = SyncRunner::new(citizen.store.clone(), fast(&p.url), recorder.clone()).expect("runner");
    assert_eq!(runner.run_once().await.receipts, 2);
    let pid = |id: &str| cases::get(&citizen.store, id).expect("case").platform_id.expect("pid");
    let issued_on_platform = || {
        p.state
            .with_db(|c| Ok(c.query_row("SELECT COUNT(*) FROM licences", [], |r| r.get::<_, i64>(0))?))
            .expect("count")
    };
    for id in &ids {
        clerk(&p.url, "accept", &pid(id), json!({})).await;
    }
    // Case 0: a valid offer. Case 1: the clerk typed a wrong check character into the credit code.
    clerk(&p.url, "approve", &pid(&ids[0]), json!({ "licence": business_licence_offer("92110105MA01XB001") })).await;
    let good = business_licence_offer("92110105MA01XB002")["elements"]["uscc"].as_str().expect("uscc").to_string();
    let wrong = format!("{}{}", &good[..17], if good.ends_with('0') { '1' } else { '0' });
    clerk(&p.url, "approve", &pid(&ids[1]), json!({ "licence": licence_offer_with(&wrong) })).await;

    // The app applies the approvals, then an attempt gets as far as importing the licence into the
    // wallet and the app stops before the case records it.
    apply_events_only(&citizen.store, &runner, &p.url).await;
    let mut queue = issuance::queued(&citizen.store).expect("queued");
    queue.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(queue, expected);
    let started = chrono::Utc::now().timestamp();
    let mut c0 = cases::get(&citizen.store, &ids[0]).expect("case");
    c0.licence_delivery = Some(LicenceDelivery::Pending { attempts: 0, last_error: None, started_at: Some(started) });
    let tag = PutOptions { tag: Some(c0.state.as_str()), lookup: None };
    citizen.store.transaction(|t| t.put_json(cases::COLLECTION, &c0.id, &c0.subject, &c0, tag)).expect("mark");
    let c0 = cases::get(&citizen.store, &ids[0]).expect("case");
    let (t, _) = cases::licence_offer(&c0).expect("offer");
    let wallet = Wallet::open(citizen.store.clone()).expect("wallet");
    let client = PlatformClient::new(&p.url).expect("client");
    let pid = c0.platform_id.clone().expect("on the platform");
    let first = client.request_licence(&wallet, t, Some(&pid)).await.expect("issued and imported");
    assert_eq!(issued_on_platform(), 1);

    // Restarted: the next run finds that licence instead of asking again; case 1 is refused.
    let r = runner.run_once().await;
    assert_eq!(r.licences_imported, 1, "{r:?}");
    assert_eq!(issued_on_platform(), 1, "no second issuance");
    let now = chrono::Utc::now().timestamp();
    assert_eq!(wallet.licences(now).expect("licences").len(), 1);
    let c0 = cases::get(&citizen.store, &ids[0]).expect("case");
    assert!(
        matches!(&c0.licence_delivery, Some(LicenceDelivery::Imported { licence_id, .. }) if *licence_id == first.licence_id),
        "{:?}",
        c0.licence_delivery
    );
    let c1 = cases::get(&citizen.store, &ids[1]).expect("case");
    let Some(LicenceDelivery::Refused { status, message, .. }) = &c1.licence_delivery else {
        panic!("refused: {:?}", c1.licence_delivery)
    };
    assert_eq!(*status, 400);
    assert!(message.contains("uscc"), "{message}");
    let prog = cases::progress(&c1, &Calendar::bundled(), &Rules::default(), china_today()).expect("progress");
    assert!(prog.needed_now.iter().any(|n| matches!(n, Need::Licence { message } if message.contains("uscc"))));
    assert!(recorder.notices().iter().any(|n| n.kind == NoticeKind::Refused && n.case_id == ids[1]));
    assert!(issuance::queued(&citizen.store).expect("queued").is_empty());
    let r = runner.run_once().await;
    assert_eq!((r.licences_imported, issued_on_platform()), (0, 1));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_update_from_the_platform_verifies_with_the_pinned_key() {
    let p = platform(None).await;
    let citizen = open_citizen();
    let http = zhangban_core::sync::tls::client_builder().expect("tls").build().expect("client");
    let bytes = http.get(format!("{}/v1/calendar", p.url)).send().await.expect("get").bytes().await.expect("body");
    let before = calendar::update::load(&citizen.store).expect("load");
    assert!(before.is_working_day(NaiveDate::from_ymd_opt(2027, 1, 1).expect("d")).provisional);
    let v = calendar::update::apply(&citizen.store, &bytes).expect("verifies with the pinned platform key");
    assert_eq!(v.version, 1);
    let cal = calendar::update::load(&citizen.store).expect("load");
    let ny = cal.is_working_day(NaiveDate::from_ymd_opt(2027, 1, 1).expect("d"));
    assert!(!ny.value && !ny.provisional);
    // Tampering is caught.
    let mut env: Value = serde_json::from_slice(&bytes).expect("json");
    env["payload"] = json!(env["payload"].as_str().expect("payload").replace("version 1", "version 2"));
    assert!(calendar::update::apply(&citizen.store, &serde_json::to_vec(&env).expect("json")).is_err());
    drop(citizen.dir);
    p.stop().await;
}

/// Holds `addr` while the platform is away: a socket bound to the port that does not listen, so a phone's
/// request is refused as when the platform is down, and no other connection on the machine takes the port as
/// its own local port before the platform comes back on it. (Left free, the port was free for any outgoing
/// connection, of this binary's other tests or of anything else on the machine, and the restart then failed
/// with "address in use", now and then.)
async fn hold_port(addr: &str) -> tokio::net::TcpSocket {
    let addr: std::net::SocketAddr = addr.parse().expect("socket address");
    // The stopped listener may take a moment to close.
    for _ in 0..100 {
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        s.set_reuseaddr(true).expect("SO_REUSEADDR");
        if s.bind(addr).is_ok() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} could not be held while the platform was away");
}

/// China's date (Asia/Shanghai), as the platform and the phones reckon working days.
fn china_today() -> chrono::NaiveDate {
    use zhangban_core::Clock;
    zhangban_core::SystemClock.today()
}
