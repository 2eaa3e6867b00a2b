//! Reminders end to end over HTTP against the sandbox platform: a supplement request brought by the sync
//! runner creates its reminders and answering it cancels them; the catalog and the signed calendar update
//! arrive through the runner (conditionally on their versions) and change a deadline's provisional flag;
//! a forged calendar update is refused; 催办 reaches the platform.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use serde_json::{json, Value};
use zhangban_core::calendar;
use zhangban_core::cases::{self, Submission};
use zhangban_core::catalog::Catalog;
use zhangban_core::notify::Recorder;
use zhangban_core::remind::{self, ReminderSource};
use zhangban_core::store::{FileVault, KeyVault, Store, SELF_SUBJECT};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_sandbox::cases::clerk_command;
use zhangban_sandbox::server::{self, Running};

fn open_store(dir: &std::path::Path) -> Arc<Store> {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).expect("vault"));
    Arc::new(Store::create(&dir.join("store"), vault, None).expect("store"))
}

async fn register(store: &Store, url: &str) {
    let key = sync::device_key(store).expect("device key");
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "desktop".into(),
        model: "remind-test".into(),
        app_version: "0".into(),
    };
    PlatformClient::new(url).expect("client").register_device(store, &info).await.expect("register");
}

async fn platform() -> Running {
    server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox starts")
}

fn config(url: &str) -> SyncConfig {
    let mut c = SyncConfig::new(url);
    c.request_timeout = Duration::from_secs(5);
    c.run_budget = Duration::from_secs(20);
    c
}

fn submission(title: &str) -> Submission {
    Submission { item_codes: vec!["GA-002".into()], title: title.into(), values: json!({"n": 1}), ..Default::default() }
}

async fn clerk(url: &str, action: &str, case: &str, args: Value) -> Value {
    clerk_command(url, action, Some(case), args).await.unwrap_or_else(|e| panic!("clerk {action}: {e}"))
}

fn today() -> String {
    zhangban_core::clock::local_date(chrono::Utc::now().timestamp()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplement_request_creates_reminders_and_answering_cancels_them() {
    let p = platform().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let store = open_store(tmp.path());
    register(&store, &p.url).await;
    let case = cases::submit(&store, SELF_SUBJECT, &submission("居民身份证换领")).expect("submit");
    let runner = SyncRunner::new(store.clone(), config(&p.url), Arc::new(Recorder::default())).expect("runner");
    let r = runner.run_background(Duration::from_secs(20)).await;
    assert_eq!(r.run.receipts, 1, "{r:?}");
    assert!(r.notices.iter().any(|n| n.id == format!("event:{}:receipt", case.id)), "{:?}", r.notices);
    let pid = cases::get(&store, &case.id).expect("case").platform_id.expect("platform id");

    clerk(&p.url, "accept", &pid, json!({ "promised_days": 20, "on": today() })).await;
    clerk(&p.url, "supplement", &pid, json!({ "items": ["近期免冠照片"], "due_days": 5, "on": today() })).await;
    let r = runner.run_background(Duration::from_secs(20)).await;
    assert!(r.plan_error.is_none(), "{r:?}");
    let n = r.notices.iter().find(|n| n.id == format!("event:{}:supplement", case.id)).expect("the sync's notice");
    assert_eq!(n.urgency, remind::Urgency::High);
    let plan = r.plan.expect("plan");
    let prefix = format!("supplement:{}:", case.id);
    let added: Vec<&str> = plan.add.iter().map(|r| r.id.as_str()).filter(|id| id.starts_with(&prefix)).collect();
    for stage in ["w3", "w1", "due", "missed"] {
        assert!(added.iter().any(|id| id.ends_with(&format!(":{stage}"))), "{stage} not planned: {added:?}");
    }
    let home = remind::home(&store).expect("home");
    assert_eq!(home.needs[0].source, ReminderSource::Supplement, "{:?}", home.needs);
    assert!(home.last_sync_at.is_some());

    // The citizen supplies the material: the next run sends it and the plan cancels those reminders.
    cases::supply(&store, &case.id, json!({"photo": "new"}), &[], "已补交").expect("supply");
    let r = runner.run_background(Duration::from_secs(20)).await;
    assert_eq!(r.run.sent, 1, "{r:?}");
    let plan = r.plan.expect("plan");
    for id in &added {
        assert!(plan.cancel.iter().any(|c| c == id), "{id} not cancelled: {:?}", plan.cancel);
    }
    assert!(plan.pending.iter().all(|r| !r.id.starts_with(&prefix)));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_and_calendar_updates_arrive_through_the_runner_and_lift_the_provisional_flag() {
    let p = platform().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let store = open_store(tmp.path());
    register(&store, &p.url).await;
    let case = cases::submit(&store, SELF_SUBJECT, &submission("退休")).expect("submit");
    let runner = SyncRunner::new(store.clone(), config(&p.url), Arc::new(Recorder::default())).expect("runner");
    let r = runner.run_background(Duration::from_secs(20)).await;
    // The first run fetches both: the platform's catalog and its calendar update (2027's 元旦 only).
    assert!(r.run.catalog_updated && r.run.calendar_updated, "{:?}", r.run);
    assert_eq!(calendar::update::applied_version(&store).expect("v"), Some(1));
    let pid = cases::get(&store, &case.id).expect("case").platform_id.expect("pid");

    // Accepted on a day held fixed (not today: from late 2027 on, 300 working days from today would reach past
    // 2028 and the test would break by the calendar alone), with 300 working days: the promised date falls in
    // 2028, which has no data yet.
    clerk(&p.url, "accept", &pid, json!({ "promised_days": 300, "on": "2026-12-07" })).await;
    let r = runner.run_background(Duration::from_secs(20)).await;
    assert!(!r.run.catalog_updated && !r.run.calendar_updated, "versions unchanged: {:?}", r.run);
    let line = remind::home(&store).expect("home").cases.into_iter().find(|c| c.case_id == case.id).expect("case");
    assert!(line.provisional, "{line:?}");
    let promised_before = line.promised_date;

    // The platform publishes the 2027 and 2028 arrangements and a new catalog.
    let text = "year 2027 沙箱示例数据\noff 2027-01-01 2027-01-01 元旦\n\
                year 2028 沙箱示例数据\noff 2028-01-01 2028-01-01 元旦\noff 2028-10-02 2028-10-06 国庆节\n";
    let v = p.state.with_db(|c| zhangban_sandbox::cases::publish_calendar(c, text)).expect("publish calendar");
    assert_eq!(v, 2);
    let (_, mut items) = p.state.with_db(|c| zhangban_sandbox::catalog::latest(c)).expect("catalog");
    for e in items.as_array_mut().expect("items") {
        if e["id"] == "GA-002" {
            e["name"]["zh"] = json!("居民身份证换领（到期换证）");
        }
    }
    let cv = p.state.with_db(|c| zhangban_sandbox::catalog::publish(c, &items)).expect("publish catalog");
    let r = runner.run_background(Duration::from_secs(20)).await;
    assert!(r.run.catalog_updated && r.run.calendar_updated, "{:?}", r.run);
    assert_eq!(calendar::update::applied_version(&store).expect("v"), Some(2));
    assert_eq!(Catalog::current(&store).expect("catalog").version(), cv);
    let line = remind::home(&store).expect("home").cases.into_iter().find(|c| c.case_id == case.id).expect("case");
    assert!(!line.provisional, "2028 is covered now: {line:?}");
    assert!(line.promised_date >= promised_before, "the 国庆节 break moves it later, never earlier");
    p.stop().await;
}

/// A platform stand-in that answers like the sandbox but serves a calendar update signed by another key.
async fn forging_platform(envelope: Value) -> String {
    let app = axum::Router::new()
        .route("/v1/events", get(|| async { axum::Json(json!({ "events": [], "next": 0 })) }))
        .route("/v1/catalog", get(|| async { axum::Json(json!({ "version": 0, "up_to_date": true })) }))
        .route("/v1/calendar", get(move || async move { axum::Json(envelope) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_calendar_update_is_refused_and_changes_nothing() {
    // An attacker (or a broken proxy) serves a calendar that makes every day of 2027 a working day, under
    // the platform's key id but signed with its own key.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("key");
    let forged = calendar::update::sign(
        pkcs8.as_ref(),
        calendar::update::PLATFORM_KEY_ID,
        99,
        "year 2027 forged\nwork 2027-01-02 forged\n",
    )
    .expect("sign");
    let url = forging_platform(serde_json::to_value(forged).expect("json")).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let store = open_store(tmp.path());
    let runner = SyncRunner::new(store.clone(), config(&url), Arc::new(Recorder::default())).expect("runner");
    let r = runner.run_background(Duration::from_secs(10)).await;
    assert!(!r.run.calendar_updated, "{:?}", r.run);
    assert!(r.run.reference_error.as_deref().is_some_and(|e| e.contains("signature")), "{:?}", r.run);
    assert_eq!(calendar::update::applied_version(&store).expect("v"), None);
    let cal = calendar::update::load(&store).expect("load");
    assert!(!cal.is_covered(chrono::NaiveDate::from_ymd_opt(2027, 1, 2).expect("d")));
    assert!(r.plan.is_some(), "the plan is made all the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_case_is_urged_and_the_platform_records_it() {
    let p = platform().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let store = open_store(tmp.path());
    register(&store, &p.url).await;
    let case = cases::submit(&store, SELF_SUBJECT, &submission("户口迁移")).expect("submit");
    let runner = SyncRunner::new(store.clone(), config(&p.url), Arc::new(Recorder::default())).expect("runner");
    runner.run_background(Duration::from_secs(20)).await;
    let pid = cases::get(&store, &case.id).expect("case").platform_id.expect("pid");
    // Accepted 40 days ago with a promise of 5 working days: overdue now.
    let on = (chrono::Utc::now() - chrono::Duration::days(40)).date_naive().to_string();
    clerk(&p.url, "accept", &pid, json!({ "promised_days": 5, "on": on })).await;
    let r = runner.run_background(Duration::from_secs(20)).await;
    let plan = r.plan.expect("plan");
    let overdue = plan.add.iter().find(|r| r.id == format!("promised:{}:overdue", case.id)).expect("overdue reminder");
    assert_eq!(overdue.action, Some(remind::ReminderAction::Urge));
    remind::urge(&store, &case.id).expect("urge");
    let r = runner.run_background(Duration::from_secs(20)).await;
    assert_eq!(r.run.sent, 1, "{r:?}");
    // The platform's event comes back and is noted on the case's timeline.
    runner.run_background(Duration::from_secs(20)).await;
    let c = cases::get(&store, &case.id).expect("case");
    assert!(c.timeline.iter().any(|e| e.note.zh.contains("平台已收到催办")), "{:?}", c.timeline);
    let plan = r.plan.expect("plan");
    let again = plan.replace.iter().find(|r| r.id == format!("promised:{}:overdue", case.id));
    assert!(again.is_none_or(|r| r.action.is_none()));
    p.stop().await;
}

/// The plans the runner hands to the shell (what a Kotlin / Swift plan listener would apply).
#[derive(Default)]
struct Plans(std::sync::Mutex<Vec<remind::Plan>>);

impl zhangban_core::sync::runner::PlanListener for Plans {
    fn on_plan(&self, plan: remind::Plan) {
        self.0.lock().expect("plans").push(plan);
    }
}

impl Plans {
    fn taken(&self) -> Vec<remind::Plan> {
        std::mem::take(&mut *self.0.lock().expect("plans"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_loop_replans_when_a_sync_changes_something_and_only_then() {
    let p = platform().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let store = open_store(tmp.path());
    register(&store, &p.url).await;
    let mut cfg = config(&p.url);
    cfg.idle_interval = Duration::from_secs(3600); // the loop runs when nudged
    let runner = SyncRunner::new(store.clone(), cfg, Arc::new(Recorder::default())).expect("runner");
    let plans = Arc::new(Plans::default());
    // Without a listener nothing is planned: the diff would be lost to the OS.
    let case = cases::submit(&store, SELF_SUBJECT, &submission("居民身份证换领")).expect("submit");
    let r = runner.run_once().await;
    assert_eq!(r.receipts, 1, "{r:?}");
    assert!(r.catalog_updated && r.calendar_updated, "the first run fetches both: {r:?}");
    // Nothing was planned by the run (no stored plan): an explicit plan hands everything over as new.
    let explicit = remind::plan(&store).expect("plan");
    assert_eq!(explicit.add.len(), explicit.pending.len(), "nothing planned before: {explicit:?}");

    runner.set_plan_listener(Some(plans.clone()));
    // A run that changes nothing (nothing to send, no event, reference data checked recently): no plan.
    let mut quiet = false;
    for _ in 0..3 {
        let r = runner.run_once().await;
        let planned = plans.taken();
        assert_eq!(planned.len(), usize::from(r.changed_something()), "a plan exactly when something changed: {r:?}");
        if !r.changed_something() {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "the runs settle");

    // The loop: the clerk accepts and asks for a supplement; the next loop step brings the events and the
    // listener gets a plan with the supplement's reminders added.
    let handle = runner.spawn();
    let pid = cases::get(&store, &case.id).expect("case").platform_id.expect("platform id");
    clerk(&p.url, "accept", &pid, json!({ "promised_days": 20, "on": today() })).await;
    clerk(&p.url, "supplement", &pid, json!({ "items": ["近期免冠照片"], "due_days": 5, "on": today() })).await;
    let prefix = format!("supplement:{}:", case.id);
    let mut got = Vec::new();
    for _ in 0..100 {
        runner.nudge();
        tokio::time::sleep(Duration::from_millis(100)).await;
        got.extend(plans.taken());
        if got.iter().any(|pl| pl.add.iter().any(|x| x.id.starts_with(&prefix))) {
            break;
        }
    }
    let added: Vec<String> =
        got.iter().flat_map(|pl| pl.add.iter().map(|x| x.id.clone())).filter(|id| id.starts_with(&prefix)).collect();
    assert_eq!(added.len(), 4, "w3, w1, due, missed planned by the loop: {added:?}");
    // The plan the loop made is the stored one: an explicit plan now has nothing new.
    let again = remind::plan(&store).expect("plan");
    assert!(again.add.is_empty() && again.cancel.is_empty(), "{again:?}");

    // Supplying it: the loop sends it and the listener's plan cancels those reminders.
    cases::supply(&store, &case.id, json!({"photo": "new"}), &[], "已补交").expect("supply");
    let mut cancelled: Vec<String> = Vec::new();
    for _ in 0..100 {
        runner.nudge();
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancelled.extend(plans.taken().into_iter().flat_map(|pl| pl.cancel));
        if added.iter().all(|id| cancelled.contains(id)) {
            break;
        }
    }
    for id in &added {
        assert!(cancelled.contains(id), "{id} not cancelled by the loop's plan: {cancelled:?}");
    }
    handle.stop().await;
    p.stop().await;
}
