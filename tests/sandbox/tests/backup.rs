//! A lost phone loses nothing (issue 14), end to end over HTTP against the sandbox platform: a store with
//! licences, 1,000 cases, drafts, 50 attachments and a queued outbox is backed up, the old phone sends half
//! the queue afterwards, the backup is restored on a new phone (new store, new vault, new device key), the
//! platform moves the person over and re-issues the licence to the new key, and both phones sync: every
//! record came back, every application exists once, the old binding is refused. Also: a case filed at the
//! counter followed by its receipt, and a transfer signed by the old phone.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zhangban_core::backup::{self, BackupError};
use zhangban_core::calendar::{Calendar, Rules};
use zhangban_core::cases::{self, CaseState, Submission};
use zhangban_core::notify::NoListener;
use zhangban_core::outbox;
use zhangban_core::remind;
use zhangban_core::store::{FileVault, KeyVault, Store, SELF_SUBJECT};
use zhangban_core::sync::rebind::{sign_transfer, TransferProof};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{ElementValue, LicenceStatus, LicenceType, Policy, Preset, Wallet};
use zhangban_core::Error;
use zhangban_core::SystemClock;
use zhangban_sandbox::cases::{clerk_command, stats};
use zhangban_sandbox::server::{self, Running};

fn vault(dir: &Path, name: &str) -> Arc<dyn KeyVault> {
    Arc::new(FileVault::open_or_create(&dir.join(format!("{name}.key"))).expect("vault"))
}

async fn register(store: &Store, url: &str, model: &str) {
    let key = sync::device_key(store).expect("device key");
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "android".into(),
        model: model.into(),
        app_version: "0".into(),
    };
    PlatformClient::new(url).expect("client").register_device(store, &info).await.expect("register");
}

fn resident() -> BTreeMap<String, ElementValue> {
    [
        ("name", "王五"),
        ("sex", "女"),
        ("ethnicity", "汉"),
        ("birth_date", "1949-12-31"),
        ("address", "北京市东城区东直门内大街2号"),
        ("id_number", "11010519491231002X"),
        ("issuing_authority", "北京市公安局东城分局"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ElementValue::Text(v.to_string())))
    .collect()
}

fn fast(url: &str) -> SyncConfig {
    let mut c = SyncConfig::new(url);
    c.request_timeout = Duration::from_secs(5);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(200);
    c.run_budget = Duration::from_secs(60);
    c.concurrency = 4;
    c
}

fn item_code(p: &Running) -> String {
    p.state
        .with_db(|c| zhangban_sandbox::catalog::latest(c))
        .expect("catalog")
        .1
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["entry"] == "item")
        .find_map(|i| i["id"].as_str().map(str::to_string))
        .expect("an item")
}

fn submission(store: &Store, code: &str, i: usize, with_photo: bool) -> Submission {
    let attachments = if with_photo {
        let photo: Vec<u8> = (0..(3000 + i * 97)).map(|b| (b * 31 + i * 7) as u8).collect();
        vec![store.write_attachment(SELF_SUBJECT, &format!("材料{i}.jpg"), &mut photo.as_slice()).expect("att").id]
    } else {
        vec![]
    };
    Submission {
        item_codes: vec![code.to_string()],
        title: format!("办件 {i}"),
        values: json!({ "name": "王五", "n": i }),
        attachments,
        ..Default::default()
    }
}

/// (collection, id, subject, tag, body)
type Row = (String, String, String, Option<String>, Vec<u8>);

/// Every record but the device-bound ones.
fn records(store: &Store) -> Vec<Row> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.export_records(after, 500).expect("export");
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(
            page.into_iter()
                .filter(|r| !backup::EXCLUDED.contains(&r.collection.as_str()))
                .map(|r| (r.collection, r.id, r.subject, r.tag, r.body.to_vec())),
        );
    }
    out.sort();
    out
}

async fn sync_until_sent(runner: &Arc<SyncRunner>, store: &Store) {
    let start = Instant::now();
    while !outbox::pending(store).expect("pending").is_empty() {
        let r = runner.run_once().await;
        assert!(!r.held, "the outbox is not held");
        assert!(start.elapsed() < Duration::from_secs(240), "sync did not finish: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_phone_restored_with_licences_rebound_and_every_application_once() {
    const CASES: usize = 1000;
    const QUEUED: usize = 20;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let code = item_code(&p);

    // The old phone: a licence, 1,000 cases on the platform (50 with a photo), drafts, then 20 queued.
    let old = Arc::new(Store::create(&dir.join("old"), vault(dir, "old"), None).expect("store"));
    register(&old, &p.url, "old").await;
    let old_wallet = Wallet::open(old.clone()).expect("wallet");
    zhangban_sandbox::issuer::enrol_device_of(&p.state, &old, LicenceType::ResidentId, &resident()).expect("enrol");
    let licence = client.request_licence(&old_wallet, LicenceType::ResidentId, None).await.expect("licence");
    for i in 0..CASES {
        cases::submit(&old, SELF_SUBJECT, &submission(&old, &code, i, i % 20 == 0)).expect("submit");
    }
    let old_runner = SyncRunner::new(old.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    sync_until_sent(&old_runner, &old).await;
    for i in 0..5 {
        old.put("draft", &format!("d-{i}"), SELF_SUBJECT, format!("{{\"fields\":{{\"n\":{i}}}}}").as_bytes())
            .expect("draft");
    }
    let first = cases::list_all(&old).expect("list").into_iter().find(|c| c.title == "办件 0").expect("case 0");
    clerk_command(&p.url, "accept", first.receipt.as_deref(), json!({})).await.expect("accept");
    old_runner.run_once().await;
    assert_eq!(cases::get(&old, &first.id).expect("case").state, CaseState::Accepted);
    for i in 0..QUEUED {
        cases::submit(&old, SELF_SUBJECT, &submission(&old, &code, CASES + i, i < 2)).expect("queued");
    }
    assert_eq!(old.attachments().expect("attachments").len(), 52);

    // The backup, at the path the shell hands over; the code is written down.
    let recovery = backup::make_recovery_code(&old).expect("code");
    let file = dir.join("zhangban-backup.zbk");
    let t0 = Instant::now();
    let made = backup::write_backup(&old, &file).expect("backup");
    eprintln!(
        "backup: {} records, {} attachments, {} bytes in {:?}",
        made.manifest.records,
        made.manifest.attachments,
        made.bytes,
        t0.elapsed()
    );
    assert_eq!(made.manifest.count("case"), (CASES + QUEUED) as u64);
    assert_eq!(made.manifest.count("outbox"), QUEUED as u64);
    assert_eq!(made.manifest.count("licence"), 1);
    let at_backup = records(&old);
    let cursor_at_backup = old_runner.events_cursor().expect("cursor");

    // After the backup the old phone sends half of its queue, then is lost with the other half.
    let queued = outbox::pending(&old).expect("pending");
    assert_eq!(queued.len(), QUEUED);
    old.transaction(|t| {
        for op in &queued[QUEUED / 2..] {
            t.set_tag(outbox::COLLECTION, &op.id, Some("parked"))?;
        }
        Ok(())
    })
    .expect("park");
    sync_until_sent(&old_runner, &old).await;
    assert_eq!(p.state.with_db(|c| stats(c)).expect("stats")["cases"], CASES + QUEUED / 2);

    // The new phone: a wrong code is refused after the KDF, the right one restores everything.
    let other = backup::RecoveryCode::generate().expect("code");
    assert!(matches!(backup::open_backup(&file, &other.grouped()), Err(BackupError::WrongCode)));
    let (_, key) = backup::open_backup(&file, &recovery.grouped()).expect("open");
    let t0 = Instant::now();
    let (new, restored) =
        backup::restore(&file, &key, &dir.join("new"), vault(dir, "new"), None, Arc::new(SystemClock))
            .expect("restore");
    eprintln!("restore: {:?}", t0.elapsed());
    let new = Arc::new(new);
    assert_eq!(restored.origin_device, sync::registration(&old).expect("reg").map(|r| r.device_id));
    assert_eq!(records(&new), at_backup, "every record equal");
    for a in old.attachments().expect("a") {
        assert_eq!(new.read_attachment_to_vec(&a.id).expect("att"), old.read_attachment_to_vec(&a.id).expect("att"));
    }
    // A new device key: hardware keys do not move.
    let new_wallet = Wallet::open(new.clone()).expect("wallet");
    assert_ne!(new_wallet.device_public_key(), old_wallet.device_public_key());
    register(&new, &p.url, "new").await;
    let new_runner = SyncRunner::new(new.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    assert_eq!(new_runner.events_cursor().expect("cursor"), cursor_at_backup, "the event cursor came along");
    // Until the platform moved the person, the restored outbox is held: nothing is sent twice.
    let held = new_runner.run_once().await;
    assert!(held.held && held.sent == 0, "{held:?}");
    assert_eq!(p.state.with_db(|c| stats(c)).expect("stats")["cases"], CASES + QUEUED / 2);

    // The identity check at the counter gives a one-time code; a wrong one is refused.
    let origin = restored.origin_device.clone().expect("origin");
    let wrong = client.rebind(&new_wallet, &origin, &TransferProof::OneTimeCode("00000000".into())).await;
    assert!(matches!(wrong, Err(Error::Rejected { status: 403, .. })), "{wrong:?}");
    let issued = clerk_command(&p.url, "transfer-code", Some(&origin), json!({})).await.expect("code");
    let otc = issued["code"].as_str().expect("code").to_string();
    let report = client.rebind(&new_wallet, &origin, &TransferProof::OneTimeCode(otc.clone())).await.expect("rebind");
    assert_eq!(report.moved_cases as usize, CASES + QUEUED / 2);
    assert_eq!(report.rebound.len(), 1);
    assert_eq!(report.removed, vec![licence.licence_id.clone()]);
    // The code was single use.
    let again = client.rebind(&new_wallet, &origin, &TransferProof::OneTimeCode(otc)).await;
    assert!(again.is_ok(), "asking again after success is the same outcome: {again:?}");

    // The re-bound licence verifies with the new device key; the old phone's is refused.
    let now = new.now();
    let lics = new_wallet.licences(now).expect("licences");
    assert_eq!(lics.len(), 1);
    assert_eq!(lics[0].status, LicenceStatus::Valid);
    let verifier_wallet =
        Wallet::open(Arc::new(Store::create(&dir.join("verifier"), vault(dir, "v"), None).unwrap())).unwrap();
    client.refresh_wallet_lists(&verifier_wallet).await.expect("lists");
    let verifier = verifier_wallet.verifier().expect("verifier");
    let pres = new_wallet.present(&lics[0].licence_id, &Preset::HotelCheckIn, None, now).expect("present");
    let policy = Policy { accepted_purposes: vec![pres.purpose.clone()], ..Policy::default() };
    verifier.verify(&pres.qr_text, now, &policy).expect("the new phone's licence verifies");
    let old_pres = old_wallet.present(&licence.licence_id, &Preset::HotelCheckIn, None, now).expect("old present");
    assert!(verifier.verify(&old_pres.qr_text, now, &policy).is_err(), "the old binding is refused");

    // Both phones sync: the new one sends the restored queue (the half the old phone sent is recognised by
    // its idempotency key), the old one is no longer let in.
    sync_until_sent(&new_runner, &new).await;
    old.transaction(|t| {
        for op in &queued[QUEUED / 2..] {
            t.set_tag(outbox::COLLECTION, &op.id, Some(outbox::PENDING))?;
        }
        Ok(())
    })
    .expect("unpark");
    let late = old_runner.run_once().await;
    assert_eq!(late.sent, 0, "the old phone's token is refused: {late:?}");
    let s = p.state.with_db(|c| stats(c)).expect("stats");
    assert_eq!(s["cases"], CASES + QUEUED, "each application exists once on the platform");
    assert_eq!(s["distinct_client_refs"], CASES + QUEUED);
    for op in &queued[..QUEUED / 2] {
        let (o, n) = (cases::get(&old, &op.case_id).expect("old"), cases::get(&new, &op.case_id).expect("new"));
        assert!(o.receipt.is_some());
        assert_eq!(o.receipt, n.receipt, "the new phone got the receipt the old one was given");
    }
    // Cases resume their events: a clerk action after the move reaches the new phone.
    let second = cases::list_all(&new).expect("list").into_iter().find(|c| c.title == "办件 1").expect("case 1");
    clerk_command(&p.url, "accept", second.receipt.as_deref(), json!({})).await.expect("accept");
    new_runner.run_once().await;
    assert_eq!(cases::get(&new, &second.id).expect("case").state, CaseState::Accepted);
    assert_eq!(cases::get(&new, &first.id).expect("case").state, CaseState::Accepted);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_signed_by_the_old_phone_and_forged_ones_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let old = Arc::new(Store::create(&dir.join("old"), vault(dir, "old"), None).expect("store"));
    register(&old, &p.url, "old").await;
    let old_wallet = Wallet::open(old.clone()).expect("wallet");
    zhangban_sandbox::issuer::enrol_device_of(&p.state, &old, LicenceType::ResidentId, &resident()).expect("enrol");
    client.request_licence(&old_wallet, LicenceType::ResidentId, None).await.expect("licence");
    backup::make_recovery_code(&old).expect("code");
    let origin = sync::registration(&old).expect("reg").expect("registered").device_id;

    let new = Arc::new(Store::create(&dir.join("new"), vault(dir, "new"), None).expect("store"));
    let new_wallet = Wallet::open(new.clone()).expect("wallet");
    register(&new, &p.url, "new").await;
    let new_key = hex::encode(new_wallet.device_public_key());
    // An attacker's phone signs a transfer of the old phone's person to itself: refused.
    let thief = Arc::new(Store::create(&dir.join("thief"), vault(dir, "thief"), None).expect("store"));
    register(&thief, &p.url, "thief").await;
    let forged = sign_transfer(&thief, &new_key).expect("sign");
    let r = client.rebind(&new_wallet, &origin, &TransferProof::OldPhoneSignature(forged.signature)).await;
    assert!(matches!(r, Err(Error::Rejected { status: 403, .. })), "{r:?}");
    // A signature for another new phone does not serve this one.
    let other = sign_transfer(&old, &hex::encode(sync::device_key(&thief).unwrap().public_key())).expect("sign");
    let r = client.rebind(&new_wallet, &origin, &TransferProof::OldPhoneSignature(other.signature)).await;
    assert!(matches!(r, Err(Error::Rejected { status: 403, .. })), "{r:?}");
    // The old phone, at hand, signs for this new phone: accepted; its licence is re-bound.
    let signed = sign_transfer(&old, &new_key).expect("sign");
    assert_eq!(signed.from_device, origin);
    let report =
        client.rebind(&new_wallet, &origin, &TransferProof::OldPhoneSignature(signed.signature)).await.expect("rebind");
    assert_eq!(report.rebound.len(), 1);
    assert_eq!(new_wallet.licences(new.now()).expect("l").len(), 1);
    // The old phone's token no longer works.
    let r = client.request_licence(&old_wallet, LicenceType::ResidentId, None).await;
    assert!(matches!(r, Err(Error::Rejected { status: 401, .. })), "{r:?}");
    // Five wrong one-time codes void the outstanding ones.
    let third = Arc::new(Store::create(&dir.join("third"), vault(dir, "third"), None).expect("store"));
    let third_wallet = Wallet::open(third.clone()).expect("wallet");
    register(&third, &p.url, "third").await;
    let new_origin = sync::registration(&new).expect("reg").expect("registered").device_id;
    let code = zhangban_sandbox::transfer::new_code(&p.state, &new_origin).expect("code").0;
    for _ in 0..zhangban_sandbox::transfer::MAX_CODE_FAILURES {
        let wrong = if code == "12345678" { "87654321" } else { "12345678" };
        assert!(client.rebind(&third_wallet, &new_origin, &TransferProof::OneTimeCode(wrong.into())).await.is_err());
    }
    let r = client.rebind(&third_wallet, &new_origin, &TransferProof::OneTimeCode(code)).await;
    assert!(matches!(r, Err(Error::Rejected { status: 403, .. })), "the code was voided: {r:?}");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_filed_at_the_counter_is_followed_by_its_receipt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let code = item_code(&p);
    let receipt =
        clerk_command(&p.url, "intake", None, json!({ "item_code": code, "applicant_id": "11010519491231002X" }))
            .await
            .expect("intake");
    let (no, query) = (receipt["receipt"].as_str().expect("no"), receipt["query_code"].as_str().expect("query"));
    assert_eq!(query.len(), 6);
    assert!(receipt["promised_days"].as_u64().is_some());

    let phone = Arc::new(Store::create(&dir.join("phone"), vault(dir, "phone"), None).expect("store"));
    register(&phone, &p.url, "phone").await;
    // Typed, field-named errors before asking; a uniform refusal when the parts do not match.
    let e = client.follow_case(&phone, SELF_SUBJECT, no, "110105194912310021", query).await.unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "applicant_id"), "{e:?}");
    let e = client.follow_case(&phone, SELF_SUBJECT, no, "11010519491231002X", "12ab56").await.unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "query_code"), "{e:?}");
    let wrong = if query == "000000" { "000001" } else { "000000" };
    let e = client.follow_case(&phone, SELF_SUBJECT, no, "11010519491231002X", wrong).await.unwrap_err();
    assert!(matches!(e, Error::Rejected { status: 403, .. }), "{e:?}");
    assert!(cases::list_all(&phone).expect("list").is_empty());

    let case = client.follow_case(&phone, SELF_SUBJECT, no, "11010519491231002x", query).await.expect("follow");
    assert_eq!(case.receipt.as_deref(), Some(no));
    assert_eq!(case.state, CaseState::Accepted, "accepted at the counter");
    assert!(case.accepted_on.is_some() && case.promised_days.is_some());
    assert!(case.timeline.len() >= 2);
    let progress = cases::progress(&case, &Calendar::bundled(), &Rules::default(), phone.today()).expect("progress");
    assert!(progress.promised_date.is_some(), "the promised deadline is known: {progress:?}");
    // Reminders apply: the home lists it with its promised date, the plan schedules the promised-date
    // reminders for it.
    let home = remind::home(&phone).expect("home");
    let line = home.cases.iter().find(|c| c.case_id == case.id).expect("the followed case is on the home");
    assert_eq!(line.promised_date, progress.promised_date.map(|d| d.value));
    let plan = remind::plan(&phone).expect("plan");
    assert!(
        plan.pending.iter().any(|r| r.source == remind::ReminderSource::Promised && r.link.id == case.id),
        "a promised-date reminder for the followed case: {:?}",
        plan.pending.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    // Following again changes nothing.
    assert_eq!(
        client.follow_case(&phone, SELF_SUBJECT, no, "11010519491231002X", query).await.expect("again").id,
        case.id
    );
    assert_eq!(cases::list_all(&phone).expect("list").len(), 1);
    // Events flow from then on.
    clerk_command(&p.url, "review", Some(no), json!({})).await.expect("review");
    clerk_command(&p.url, "approve", Some(no), json!({ "result": "准予许可" })).await.expect("approve");
    let runner = SyncRunner::new(phone.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    runner.run_once().await;
    assert_eq!(cases::get(&phone, &case.id).expect("case").state, CaseState::Approved);
    // Guessing query codes is cut off.
    for i in 0..zhangban_sandbox::counter::MAX_FOLLOW_FAILURES {
        let guess = format!("{:06}", (i + 1) * 111_111 % 1_000_000);
        let _ = client.follow_case(&phone, SELF_SUBJECT, no, "11010519491231002X", &guess).await;
    }
    let e = client.follow_case(&phone, SELF_SUBJECT, no, "11010519491231002X", query).await.unwrap_err();
    assert!(matches!(e, Error::Rejected { status: 403, .. }), "{e:?}");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_filed_from_a_phone_or_by_an_agent_are_followed_by_their_receipt_too() {
    use zhangban_core::agent::{access, Agent, DoorConsentInput, DoorIntake};
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let code = item_code(&p);
    let follower = Arc::new(Store::create(&dir.join("follower"), vault(dir, "follower"), None).expect("store"));
    register(&follower, &p.url, "follower").await;

    // Filed from a phone: the answer's query code is kept with the case (shown with the receipt).
    let phone = Arc::new(Store::create(&dir.join("phone"), vault(dir, "phone"), None).expect("store"));
    register(&phone, &p.url, "phone").await;
    let mine = cases::submit(&phone, SELF_SUBJECT, &submission(&phone, &code, 1, false)).expect("submit");
    let runner = SyncRunner::new(phone.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    sync_until_sent(&runner, &phone).await;
    let mine = cases::get(&phone, &mine.id).expect("case");
    let (no, query) = (mine.receipt.clone().expect("receipt"), mine.query_code.clone().expect("query code"));
    assert_eq!(cases::CaseSummary::from(&mine).query_code.as_deref(), Some(query.as_str()));
    // Bound to the phone's registered person: another ID number with the right code is refused.
    let e = client.follow_case(&follower, SELF_SUBJECT, &no, "110105193805200031", &query).await.unwrap_err();
    assert!(matches!(e, Error::Rejected { status: 403, .. }), "{e:?}");
    let followed =
        client.follow_case(&follower, SELF_SUBJECT, &no, "11010519491231002X", &query).await.expect("follow");
    assert_eq!(followed.receipt.as_deref(), Some(no.as_str()));
    assert_eq!(followed.title, mine.title);

    // Filed by an agent at the door for a principal without a phone: the principal's ID number binds it.
    let agent_store = Arc::new(Store::create(&dir.join("agent"), vault(dir, "agent"), None).expect("store"));
    register(&agent_store, &p.url, "agent").await;
    let agent = Agent::new(&Wallet::open(agent_store.clone()).expect("wallet"));
    sync::agent_api::register_agent(&client, &agent, "王帮办", "12110105MB0000001A").await.expect("agent");
    let who = DoorIntake { principal_name: "孙德明".into(), principal_id_number: "110105193805200031".into() };
    let sun = agent.open_door_intake(&who).expect("intake");
    let pics: Vec<String> = (0..3)
        .map(|i| agent.attach_intake(&sun.subject, &format!("p{i}.jpg"), &mut &[i as u8; 512][..]).expect("pic").id)
        .collect();
    let input = DoorConsentInput {
        items: vec!["MZ-002".into()],
        id_photo: pics[0].clone(),
        principal_photo: pics[1].clone(),
        signature: pics[2].clone(),
        summary: "代办高龄津贴".into(),
        valid_days: Some(7),
        single_use: false,
    };
    agent.record_door_consent(&sun.subject, &input).expect("consent");
    let mandate = access::load(&agent_store, &sun.subject).expect("load").expect("access").mandate.expect("mandate");
    let cert = hex::encode(
        zhangban_core::agent::AgentCertificate::from_text(&agent.certificate_text().expect("cert")).expect("cert"),
    );
    let token = sync::registration(&agent_store).expect("reg").expect("registered").token;
    let body = json!({
        "client_ref": "door-1", "item_codes": ["MZ-002"], "title": "高龄津贴申领", "values": {},
        "proxy": { "certificate": cert, "assurance": "door", "mandate": mandate.signed_hex },
    });
    let answer: serde_json::Value =
        client.post_json("/v1/cases", &body, Some(&token), Some("door-key-1")).await.expect("agent's case");
    let (no, query) = (answer["receipt"].as_str().expect("receipt"), answer["query_code"].as_str().expect("query"));
    // The agent's own registered person is not the applicant: refused.
    let e = client.follow_case(&follower, SELF_SUBJECT, no, "11010519491231002X", query).await.unwrap_err();
    assert!(matches!(e, Error::Rejected { status: 403, .. }), "{e:?}");
    let followed = client.follow_case(&follower, SELF_SUBJECT, no, "110105193805200031", query).await.expect("follow");
    assert_eq!(followed.receipt.as_deref(), Some(no));
    // Its events reach the follower from then on.
    clerk_command(&p.url, "accept", Some(no), json!({})).await.expect("accept");
    let runner = SyncRunner::new(follower.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    runner.run_once().await;
    assert_eq!(cases::get(&follower, &followed.id).expect("case").state, CaseState::Accepted);
    // Reminders apply to it: accepted, it has a promised date and its reminders are planned.
    let home = remind::home(&follower).expect("home");
    let line = home.cases.iter().find(|c| c.case_id == followed.id).expect("on the home");
    assert!(line.promised_date.is_some(), "{line:?}");
    let plan = remind::plan(&follower).expect("plan");
    assert!(plan.pending.iter().any(|r| r.source == remind::ReminderSource::Promised && r.link.id == followed.id));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_keeps_the_backup_as_ciphertext_within_bounds_and_per_person() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let old = Arc::new(Store::create(&dir.join("old"), vault(dir, "old"), None).expect("store"));
    register(&old, &p.url, "old").await;
    let token = sync::registration(&old).expect("reg").expect("registered").token;
    backup::make_recovery_code(&old).expect("code");
    let photo: Vec<u8> = (0..1_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    old.write_attachment(SELF_SUBJECT, "户口本.jpg", &mut photo.as_slice()).expect("attachment");
    let file = dir.join("b.zbk");
    backup::write_backup(&old, &file).expect("backup");
    let raw = std::fs::read(&file).expect("read");

    // Bounds: a part over 1 MiB, a commit whose parts are missing or do not add up.
    let put = |upload: &str, n: u32, bytes: Vec<u8>| {
        client
            .http()
            .request(reqwest::Method::PUT, &format!("/v1/backup/parts/{upload}/{n}"))
            .bearer_auth(&token)
            .body(bytes)
    };
    let big = client.send(put("00112233445566778899aabbccddeeff", 0, vec![0; 1024 * 1024 + 1])).await;
    assert!(matches!(big, Err(Error::Rejected { status: 413, .. })), "{big:?}");
    client.send(put("00112233445566778899aabbccddeeff", 0, vec![1; 10])).await.expect("a part");
    let c = json!({ "upload": "00112233445566778899aabbccddeeff", "parts": 2, "bytes": 10, "sha256": "00" });
    let r: Result<serde_json::Value, _> = client.post_json("/v1/backup/commit", &c, Some(&token), None).await;
    assert!(matches!(r, Err(Error::Rejected { status: 400, .. })), "a missing part: {r:?}");
    assert!(client.backup_blob(&old).await.expect("listing").is_none(), "nothing committed");

    let up = client.upload_backup(&old, &file).await.expect("upload");
    assert_eq!((up.bytes, up.parts), (raw.len() as u64, 2));
    let held = zhangban_sandbox::blobs::stored_bytes(&p.state, &sync::registration(&old).unwrap().unwrap().device_id)
        .expect("stored");
    assert_eq!(held, raw, "the platform holds the sealed file, nothing else");
    assert!(!held.windows("户口本".len()).any(|w| w == "户口本".as_bytes()));

    // Another person (another registered ID number) does not see it; the same person's new phone does.
    let stranger = Arc::new(Store::create(&dir.join("stranger"), vault(dir, "stranger"), None).expect("store"));
    register(&stranger, &p.url, "stranger").await;
    let sid = sync::registration(&stranger).unwrap().unwrap().device_id;
    let mut other = resident();
    other.insert("id_number".into(), ElementValue::Text("110105193805200031".into()));
    zhangban_sandbox::issuer::enrol(&p.state, &sid, LicenceType::ResidentId, &other).expect("enrol");
    assert!(client.backup_blob(&stranger).await.expect("listing").is_none());
    let e = client.download_backup(&stranger, &dir.join("s.zbk")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let new = Arc::new(Store::create(&dir.join("new"), vault(dir, "new"), None).expect("store"));
    register(&new, &p.url, "new").await;
    assert_eq!(client.download_backup(&new, &dir.join("d.zbk")).await.expect("download"), up);
    assert_eq!(std::fs::read(dir.join("d.zbk")).expect("read"), raw);
    p.stop().await;
}

/// A TCP relay on loopback in front of `upstream` that cuts the connection once `limit` bytes went up
/// (the phone losing its network mid-upload) and drops every connection after that.
async fn cutting_relay(upstream: std::net::SocketAddr, limit: usize) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sent = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            if sent.load(Ordering::SeqCst) >= limit {
                continue; // dropped: the network is gone
            }
            let sent = sent.clone();
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(upstream).await else { return };
                let (mut dr, mut dw) = down.into_split();
                let (mut ur, mut uw) = up.into_split();
                let to_up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match dr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let before = sent.fetch_add(n, Ordering::SeqCst);
                        if before + n > limit {
                            let _ = uw.write_all(&buf[..limit.saturating_sub(before)]).await;
                            break;
                        }
                        if uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let to_down = tokio::io::copy(&mut ur, &mut dw);
                tokio::select! {
                    _ = to_up => {}
                    _ = to_down => {}
                }
            });
        }
    });
    format!("http://{addr}")
}

/// An upload cut mid-way (the connection lost after two of six parts, then the platform restarted) resumes:
/// the phone sends only the parts the platform does not hold, no part is received twice, and the platform
/// ends up with the file byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_short_resumes_and_sends_no_held_part_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let db = dir.join("platform.db");
    let p = server::start("127.0.0.1:0", Some(&db), server::Config::default()).await.expect("sandbox");
    let store = Arc::new(Store::create(&dir.join("old"), vault(dir, "old"), None).expect("store"));
    register(&store, &p.url, "old").await;
    let device = sync::registration(&store).expect("reg").expect("registered").device_id;
    backup::make_recovery_code(&store).expect("code");
    let photo: Vec<u8> = (0..5_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    store.write_attachment(SELF_SUBJECT, "户口本.jpg", &mut photo.as_slice()).expect("attachment");
    let file = dir.join("b.zbk");
    backup::write_backup(&store, &file).expect("backup");
    let raw = std::fs::read(&file).expect("read");
    let parts = raw.len().div_ceil(1024 * 1024) as u32;
    assert_eq!(parts, 6);

    // The connection is cut once 2.5 MB went up: parts 0 and 1 arrived, part 2 is cut in its middle.
    let relay = cutting_relay(p.addr, 2_500_000).await;
    let cut = PlatformClient::new(&relay).expect("client").upload_backup(&store, &file).await.unwrap_err();
    assert!(matches!(cut, Error::Network(_)), "{cut:?}");
    let client = PlatformClient::new(&p.url).expect("client");
    assert!(client.backup_blob(&store).await.expect("listing").is_none(), "nothing committed");
    // The platform restarts (same database) before the phone tries again.
    p.stop().await;
    let p = server::start("127.0.0.1:0", Some(&db), server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let report = client.upload_backup_resuming(&store, &file).await.expect("resumed upload");
    assert_eq!((report.blob.parts, report.blob.bytes), (parts, raw.len() as u64));
    assert_eq!(report.parts_sent, parts - 2, "the two parts held before the cut are not sent again");
    assert_eq!(zhangban_sandbox::blobs::part_puts(&p.state, &device).expect("puts"), vec![1; parts as usize]);
    assert_eq!(zhangban_sandbox::blobs::stored_bytes(&p.state, &device).expect("stored"), raw);
    // Uploading the same file again sends nothing; the download is the file.
    assert_eq!(client.upload_backup_resuming(&store, &file).await.expect("again").parts_sent, 0);
    client.download_backup(&store, &dir.join("d.zbk")).await.expect("download");
    assert_eq!(std::fs::read(dir.join("d.zbk")).expect("read"), raw);
    p.stop().await;
}

/// For an agent (帮办员), principals' data only while their delegations allow it — and, because a backup
/// file outlives every delegation and the erasure (crypto-shredding) of its principal, never in a backup
/// (ADR 0014): an agent's phone with one principal whose door consent is valid, one whose delegation was
/// revoked and one whose consent ran out is backed up; the file (restored with the code, as an attacker
/// holding file and code would) carries none of them — no subject, record, attachment, audit entry,
/// deadline or reminder naming them — while the agent's own data comes back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_backup_carries_no_principal_active_revoked_or_expired() {
    use zhangban_core::agent::{access, Agent, DoorConsentInput, DoorIntake};
    use zhangban_core::store::{PinPolicy, SubjectKind};
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let clock = Arc::new(zhangban_core::FixedClock::at(<SystemClock as zhangban_core::Clock>::now_secs(&SystemClock)));
    let store = Arc::new(
        Store::create_with(&dir.join("agent"), vault(dir, "agent"), None, &PinPolicy::default(), clock.clone())
            .expect("store"),
    );
    register(&store, &p.url, "agent").await;
    let agent = Agent::new(&Wallet::open(store.clone()).expect("wallet"));
    sync::agent_api::register_agent(&client, &agent, "王帮办", "12110105MB0000001A").await.expect("agent");
    let people = [
        ("孙德明", "110105193805200031", 30u32),
        ("李秀英", "110105194203150027", 30),
        ("周建国", "11010519360908001X", 1),
    ];
    let mut subjects = Vec::new();
    for (i, (name, id_number, days)) in people.iter().enumerate() {
        let who = DoorIntake { principal_name: (*name).into(), principal_id_number: (*id_number).into() };
        let line = agent.open_door_intake(&who).expect("intake");
        let pics: Vec<String> = (0..3)
            .map(|k| {
                let bytes = vec![(i * 3 + k) as u8; 600];
                agent.attach_intake(&line.subject, &format!("p{k}.jpg"), &mut bytes.as_slice()).expect("pic").id
            })
            .collect();
        let input = DoorConsentInput {
            items: vec!["MZ-002".into()],
            id_photo: pics[0].clone(),
            principal_photo: pics[1].clone(),
            signature: pics[2].clone(),
            summary: format!("代办高龄津贴 {name}"),
            valid_days: Some(*days),
            single_use: false,
        };
        agent.record_door_consent(&line.subject, &input).expect("consent");
        subjects.push(line.subject);
    }
    // 李秀英 revokes; 周建国's one-day consent runs out.
    let revoked = access::load(&store, &subjects[1]).expect("load").expect("rec").mandate.expect("mandate").id;
    assert_eq!(agent.apply_revocations(&[revoked]).expect("revoke"), vec![subjects[1].clone()]);
    clock.advance(2 * 86_400);
    let lines = agent.principals().expect("principals");
    assert_eq!(lines.len(), 3, "all three are still on the phone (within retention): {lines:?}");
    // The agent's own data.
    store.put("draft", "own-1", SELF_SUBJECT, "{\"fields\":{\"note\":\"我自己的草稿\"}}".as_bytes()).expect("own");
    let own_photo = vec![42u8; 5000];
    let own = store.write_attachment(SELF_SUBJECT, "自己的.jpg", &mut own_photo.as_slice()).expect("own photo");
    let principal_records = records(&store).iter().filter(|r| subjects.contains(&r.2)).count();
    assert!(principal_records >= 3, "the principals' data is on the phone: {principal_records}");

    let code = backup::make_recovery_code(&store).expect("code");
    let file = dir.join("agent.zbk");
    let made = backup::write_backup(&store, &file).expect("backup");
    let (_, key) = backup::open_backup(&file, &code.grouped()).expect("open");
    let (new, _) = backup::restore(&file, &key, &dir.join("new"), vault(dir, "new"), None, Arc::new(SystemClock))
        .expect("restore");
    let kinds: Vec<SubjectKind> = new.subjects().expect("subjects").into_iter().map(|s| s.kind).collect();
    assert!(!kinds.contains(&SubjectKind::Principal), "{kinds:?}");
    let secrets: Vec<&str> = people.iter().flat_map(|(n, id, _)| [*n, *id]).collect();
    let rows = records(&new);
    assert_eq!(made.manifest.records as usize, rows.len());
    for (c, id, subject, _, body) in &rows {
        assert!(!subjects.contains(subject), "{c}/{id} of a principal");
        let text = String::from_utf8_lossy(body);
        for s in &secrets {
            assert!(!text.contains(s), "{c}/{id} names a principal: {text}");
        }
    }
    assert!(rows.iter().any(|r| r.0 == "draft" && r.1 == "own-1"), "the agent's own draft came back");
    let atts = new.attachments().expect("attachments");
    assert_eq!(atts.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![own.id.clone()]);
    for e in new.audit_entries(None).expect("audit") {
        assert!(!subjects.contains(&e.subject), "audit {} about a principal", e.action);
        let detail = e.detail.to_string();
        for s in &secrets {
            assert!(!detail.contains(s) && !e.target.contains(s), "audit {} names a principal", e.action);
        }
    }
    p.stop().await;
}

/// A brand-new phone remembers no backup, so by itself it cannot tell an old backup file from the latest
/// (rollback: an old copy in a cloud drive, a file someone hands over, a stale blob). The platform can
/// attest what the person's phones told it: each sync run reports a new backup generation (made offline or
/// not, uploaded or not), the platform keeps the highest per backup key, and the new phone checks a file
/// against it before asking for the code. Before the fix a new phone accepted the older file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_refuses_an_older_backup_file_by_the_generation_the_platform_attests() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let old = Arc::new(Store::create(&dir.join("old"), vault(dir, "old"), None).expect("store"));
    register(&old, &p.url, "old").await;
    let runner = SyncRunner::new(old.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    let code = backup::make_recovery_code(&old).expect("code");
    old.put("draft", "d-1", SELF_SUBJECT, b"{\"n\":1}").expect("draft");
    let (a, b) = (dir.join("a.zbk"), dir.join("b.zbk"));
    let made_a = backup::write_backup(&old, &a).expect("backup a");
    assert_eq!(made_a.generation, 1);
    assert_eq!(runner.run_once().await.backup_generation_reported, 1, "the next sync run reports it");
    assert_eq!(runner.run_once().await.backup_generation_reported, 0, "once");
    old.put("draft", "d-2", SELF_SUBJECT, b"{\"n\":2}").expect("draft");
    let made_b = backup::write_backup(&old, &b).expect("backup b");
    assert_eq!((made_b.generation, made_b.key_id.as_str()), (2, made_a.key_id.as_str()));

    // The new phone (the same person, registered) is handed file A.
    let new = Arc::new(Store::create(&dir.join("new"), vault(dir, "new"), None).expect("store"));
    register(&new, &p.url, "new").await;
    let info_a = backup::inspect_backup(&a).expect("inspect");
    assert_eq!(backup::known_generation(&new).expect("known"), 0, "a brand-new phone knows nothing");
    // Honest limit: until the old phone reported B, the platform attests 1 and A passes.
    let attested = client.attested_backup_generation(&new, &info_a.key_id).await.expect("attested");
    assert_eq!(attested, Some(1));
    backup::check_not_older(&new, &info_a, attested).expect("A is the newest the platform was told of");
    assert_eq!(runner.run_once().await.backup_generation_reported, 2);
    let attested = client.attested_backup_generation(&new, &info_a.key_id).await.expect("attested");
    assert_eq!(attested, Some(2));
    let e = backup::check_not_older(&new, &info_a, attested).unwrap_err();
    assert!(matches!(e, BackupError::OlderBackup { known: 2, got: 1 }), "{e:?}");
    assert!(e.message_zh().contains('2') && e.code() == "older_backup", "{}", e.message_zh());
    let info_b = backup::inspect_backup(&b).expect("inspect");
    backup::check_not_older(&new, &info_b, attested).expect("B is the latest");
    // A lower report (an old phone, a replay) does not lower it; a malformed key id is refused.
    let low = backup::BackupMark { key_id: made_a.key_id.clone(), generation: 1 };
    assert_eq!(client.report_backup_generation(&old, &low).await.expect("report"), 2);
    let bad = client.attested_backup_generation(&new, "../../v1/backup").await.unwrap_err();
    assert!(matches!(bad, Error::Validation { .. }), "{bad:?}");
    // Another person's phone is told nothing of this person's backups.
    let stranger = Arc::new(Store::create(&dir.join("stranger"), vault(dir, "stranger"), None).expect("store"));
    register(&stranger, &p.url, "stranger").await;
    let sid = sync::registration(&stranger).unwrap().unwrap().device_id;
    let mut other = resident();
    other.insert("id_number".into(), ElementValue::Text("110105193805200031".into()));
    zhangban_sandbox::issuer::enrol(&p.state, &sid, LicenceType::ResidentId, &other).expect("enrol");
    assert_eq!(client.attested_backup_generation(&stranger, &info_a.key_id).await.expect("attested"), None);

    // A stale blob on the platform (A uploaded after B was reported): the download is refused and removed.
    client.upload_backup(&old, &a).await.expect("upload a");
    let got = dir.join("got.zbk");
    client.download_backup(&new, &got).await.expect("download");
    let e = backup::accept_download(&new, &got, attested).unwrap_err();
    assert!(matches!(e, BackupError::OlderBackup { known: 2, got: 1 }), "{e:?}");
    assert!(!got.exists(), "nothing stays");

    // B restores; the restored phone reports its generation and counts on from it.
    let (_, key) = backup::open_backup(&b, &code.grouped()).expect("open");
    let (restored, _) =
        backup::restore(&b, &key, &dir.join("restored"), vault(dir, "restored"), None, Arc::new(SystemClock))
            .expect("restore");
    let restored = Arc::new(restored);
    assert_eq!(restored.get("draft", "d-2").expect("d-2").body.as_slice(), b"{\"n\":2}");
    assert_eq!(backup::known_generation(&restored).expect("known"), 2);
    p.stop().await;
}
