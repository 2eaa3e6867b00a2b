//! Issue 11, "the principal sees each access the agent made": the agent's phone reports its `agent.access`
//! entries at sync (signed by its device key, in order, each once), the platform checks the report and
//! relays each entry to the principal's phone as a root-signed statement, and her phone lists them in
//! the core's words. Attacks: a report signed by another agent's key, one for another agent's mandate,
//! a relayed access entry altered, one about another principal, one made up without the root's
//! signature — each refused and on record.

use std::sync::Arc;

use serde_json::{json, Value};
use zhangban_core::agent::report::{self, AccessReport, ReportedAccess};
use zhangban_core::agent::{Action, Agent, PrincipalSide, RelayedActivity, Scope};
use zhangban_core::catalog::Catalog;
use zhangban_core::notify::Recorder;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{DeviceSigner, Wallet};
use zhangban_core::Error;
use zhangban_sandbox::server;

const ORG: &str = "12110105MB0000001A";
const ITEM: &str = "MZ-002";

struct Phone {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    wallet: Wallet,
    token: String,
}

async fn phone(client: &PlatformClient) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let store = Arc::new(Store::create(&dir.path().join("store"), vault, None).unwrap());
    let info = DeviceInfo {
        public_key: sync::device_key(&store).unwrap().public_key_hex(),
        platform: "android".into(),
        model: "test".into(),
        app_version: "0.1.0".into(),
    };
    let token = client.register_device(&store, &info).await.unwrap().token;
    let wallet = Wallet::open(store.clone()).unwrap();
    Phone { _dir: dir, store, wallet, token }
}

/// A sandbox platform and an agent's phone registered with it (王芳 of [`ORG`]).
async fn with_agent() -> (server::Running, PlatformClient, Phone, Agent) {
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let a = phone(&client).await;
    let agent = Agent::new(&a.wallet);
    sync::agent_api::register_agent(&client, &agent, "王芳", ORG).await.unwrap();
    (running, client, a, agent)
}

fn scope(items: &[&str], actions: &[Action]) -> Scope {
    Scope {
        items: items.iter().map(|s| s.to_string()).collect(),
        licence_types: vec![],
        actions: actions.to_vec(),
        elements: vec![],
    }
}

fn runner(p: &Phone, url: &str) -> Arc<SyncRunner> {
    SyncRunner::new(p.store.clone(), SyncConfig::new(url), Arc::new(Recorder::default())).unwrap()
}

fn accesses(side: &PrincipalSide) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = side.activity().unwrap();
    v.reverse(); // oldest first
    v.into_iter().filter(|e| e.kind.starts_with("access:")).map(|e| (e.kind, e.missing)).collect()
}

/// The end to end: the agent switches to the principal and fills offline, a denied attempt (an item out of
/// scope), sync → her phone after its sync lists those accesses in order, each once, worded by the core;
/// the report sent again (its answer lost: cursor put back) changes nothing. After she revokes, the
/// agent's refused attempt reaches her too.
#[tokio::test]
async fn the_principal_sees_each_access_in_order_once() {
    let (running, client, a, agent) = with_agent().await;
    let p = phone(&client).await;
    let side = PrincipalSide::new(&p.wallet);
    let g = side
        .delegate(
            &agent.certificate_text().unwrap(),
            "李秀英",
            "110105194001010018",
            scope(&[ITEM], &[Action::Fill, Action::Follow]),
            None,
            false,
        )
        .unwrap();
    let li = agent.accept_delegation(&g.text).unwrap();
    let catalog = Catalog::current(&a.store).unwrap();

    // Offline at the door: switch to her (follow), start her draft (fill), an item she did not allow (refused).
    agent.switch_to(&li.subject).unwrap();
    agent.start_draft(&li.subject, &catalog, ITEM).unwrap();
    let denied = agent.start_draft(&li.subject, &catalog, "GA-002").map(|_| ());
    assert!(matches!(denied, Err(Error::PermissionDenied { .. })), "{denied:?}");
    let offline = SyncRunner::new(
        a.store.clone(),
        SyncConfig::new("http://127.0.0.1:9"), // nothing listens: no signal
        Arc::new(Recorder::default()),
    )
    .unwrap();
    let r = offline.run_once().await;
    assert!(r.offline && r.accesses_reported == 0, "{r:?}");
    assert_eq!(report::cursor(&a.store).unwrap(), 0, "nothing acknowledged, nothing passed");

    // Back in signal: the agent's sync reports them; her sync lists them.
    let ar = runner(&a, &running.url);
    let r = ar.run_once().await;
    assert!(r.accesses_reported >= 3, "{r:?}");
    let pr = runner(&p, &running.url);
    pr.run_once().await;
    let seen = accesses(&side);
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"access:follow"), "{seen:?}");
    assert!(kinds.contains(&"access:fill"), "{seen:?}");
    let denied_at = seen.iter().position(|(k, m)| k == "access:denied:fill" && m.as_deref() == Some("item:GA-002"));
    let fill_at = kinds.iter().position(|k| *k == "access:fill");
    assert!(denied_at.is_some() && fill_at < denied_at, "in the order made: {seen:?}");
    // Every entry the agent's phone wrote for her is there once.
    let written = a.store.audit_entries(None).unwrap().into_iter().filter(|e| e.action == "agent.access");
    let for_her = written.filter(|e| e.subject == li.subject).count();
    assert_eq!(seen.len(), for_her, "{seen:?}");

    // Worded by the core, with the agent's name as she knew it.
    let home = side.home(Some(&catalog)).unwrap();
    let texts: Vec<String> = home.activity.iter().map(|l| l.text.zh.clone()).collect();
    assert!(texts.iter().any(|t| t == "王芳查看了您的办件。"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "王芳尝试填写“居民身份证换领”的表单（已拒绝：您没有授权此事项）。"), "{texts:?}");
    let en: Vec<String> = home.activity.iter().map(|l| l.text.en.clone()).collect();
    assert!(en.iter().any(|t| t == "王芳 looked at your applications."), "{en:?}");

    // The answer was lost: the cursor goes back and the same entries are sent again. Still once each.
    a.store.put_json(report::REPORT_STATE, "cursor", zhangban_core::store::SELF_SUBJECT, &json!({ "seq": 0 })).unwrap();
    let r = ar.run_once().await;
    assert!(r.accesses_reported >= 3, "sent again: {r:?}");
    pr.run_once().await;
    assert_eq!(accesses(&side), seen, "a resent report is relayed once");

    // She revokes; the agent's next attempt is refused, and she sees that attempt too.
    side.revoke(&g.id).unwrap();
    pr.run_once().await;
    assert_eq!(ar.run_once().await.revocations_applied, 1);
    assert!(agent.start_draft(&li.subject, &catalog, ITEM).is_err());
    ar.run_once().await;
    pr.run_once().await;
    let after = accesses(&side);
    assert_eq!(after.last(), Some(&("access:denied:fill".to_string(), Some("revoked".to_string()))), "{after:?}");
    let home = side.home(Some(&catalog)).unwrap();
    assert!(home.activity[0].text.zh.contains("（已拒绝：委托已撤销）"), "{:?}", home.activity[0].text);

    // The clerk sees every access too.
    let v = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    assert_eq!(v["accesses"].as_array().unwrap().len(), after.len());
    running.stop().await;
}

/// The platform refuses a report signed by another agent's key, one carrying another agent's mandate, one from
/// another phone, one with an entry outside its mandates, the same mandate twice, and a door consent under the id
/// of a principal's delegation; each refusal is on its record and nothing is relayed.
#[tokio::test]
async fn a_forged_access_report_is_refused_and_recorded() {
    let (running, client, a, agent) = with_agent().await;
    let b = phone(&client).await;
    let other = Agent::new(&b.wallet);
    sync::agent_api::register_agent(&client, &other, "赵强", ORG).await.unwrap();
    let p = phone(&client).await;
    let side = PrincipalSide::new(&p.wallet);
    let sc = scope(&[ITEM], &Action::ALL);
    let g = side
        .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", sc.clone(), None, false)
        .unwrap();
    let g_other =
        side.delegate(&other.certificate_text().unwrap(), "李秀英", "110105194001010018", sc, None, false).unwrap();
    agent.accept_delegation(&g.text).unwrap();
    let mandate = |t: &str| hex::encode(zhangban_core::agent::Delegation::from_text(t).unwrap());
    let cert_hex = |ag: &Agent| {
        hex::encode(zhangban_core::agent::AgentCertificate::from_text(&ag.certificate_text().unwrap()).unwrap())
    };
    let agent_id = agent.certificate().unwrap().unwrap().agent_id;
    let entry = |mandate_id: &str| ReportedAccess {
        seq: 1,
        at: 1_795_000_000,
        mandate_id: mandate_id.into(),
        action: "fill".into(),
        allowed: true,
        items: vec![ITEM.into()],
        element: None,
        missing: None,
    };
    let post = |body: Value, token: String| {
        let client = &client;
        async move { client.post_json::<Value, Value>("/v1/agents/access", &body, Some(&token), None).await }
    };
    let refused_for = |r: Result<Value, Error>, what: &str| match r {
        Err(Error::Rejected { status: 403, message }) => assert!(message.contains(&format!("({what})")), "{message}"),
        other => panic!("expected 403 ({what}), got {other:?}"),
    };

    // 1. Signed by another agent's device key (b's), carrying a's certificate, sent from a's phone.
    let rep = AccessReport { agent_id: agent_id.clone(), entries: vec![entry(&g.id)] };
    let bkey = b.wallet.signer();
    let forged = rep.sign(&bkey.public_key(), |m| bkey.sign(m)).unwrap();
    let body = json!({ "certificate": cert_hex(&agent),
        "mandates": [{ "id": g.id, "assurance": "delegation", "mandate": mandate(&g.text) }],
        "report": hex::encode(&forged) });
    refused_for(post(body, a.token.clone()).await, "signature");

    // 2. Signed by a's key, but under the mandate the principal gave another agent (b).
    let akey = a.wallet.signer();
    let rep = AccessReport { agent_id: agent_id.clone(), entries: vec![entry(&g_other.id)] };
    let body = json!({ "certificate": cert_hex(&agent),
        "mandates": [{ "id": g_other.id, "assurance": "delegation", "mandate": mandate(&g_other.text) }],
        "report": hex::encode(rep.sign(&akey.public_key(), |m| akey.sign(m)).unwrap()) });
    refused_for(post(body, a.token.clone()).await, "mandate");

    // 3. a's certificate sent from b's phone (a stolen certificate and report).
    let rep = AccessReport { agent_id: agent_id.clone(), entries: vec![entry(&g.id)] };
    let body = json!({ "certificate": cert_hex(&agent),
        "mandates": [{ "id": g.id, "assurance": "delegation", "mandate": mandate(&g.text) }],
        "report": hex::encode(rep.sign(&akey.public_key(), |m| akey.sign(m)).unwrap()) });
    refused_for(post(body.clone(), b.token.clone()).await, "certificate");

    // 4. An entry under a mandate the report does not carry.
    let rep = AccessReport {
        agent_id: agent_id.clone(),
        entries: vec![entry(&g.id), ReportedAccess { seq: 2, ..entry("m-unknown") }],
    };
    let mut body4 = body.clone();
    body4["report"] = json!(hex::encode(rep.sign(&akey.public_key(), |m| akey.sign(m)).unwrap()));
    refused_for(post(body4, a.token.clone()).await, "mandate");

    let v = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    assert_eq!(v["access_reports_refused"], json!(4), "{v}");
    assert_eq!(v["accesses"].as_array().unwrap().len(), 0, "nothing kept");
    runner(&p, &running.url).run_once().await;
    assert!(accesses(&side).is_empty(), "nothing relayed");

    // The genuine one goes through, and a retry of it keeps it once.
    let first: Value = post(body.clone(), a.token.clone()).await.unwrap();
    let again: Value = post(body, a.token.clone()).await.unwrap();
    assert_eq!((first["kept"].as_u64(), again["kept"].as_u64()), (Some(1), Some(0)), "{first} {again}");
    runner(&p, &running.url).run_once().await;
    assert_eq!(accesses(&side), vec![("access:fill".to_string(), None)]);

    // 5. The same delegation twice in one report.
    let rep = AccessReport { agent_id: agent_id.clone(), entries: vec![ReportedAccess { seq: 2, ..entry(&g.id) }] };
    let signed = hex::encode(rep.sign(&akey.public_key(), |m| akey.sign(m)).unwrap());
    let twice = json!({ "id": g.id, "assurance": "delegation", "mandate": mandate(&g.text) });
    let body5 = json!({ "certificate": cert_hex(&agent), "mandates": [twice.clone(), twice], "report": signed });
    refused_for(post(body5, a.token.clone()).await, "mandate");
    // 6. A door consent a's phone signed itself under the id of the delegation she gave (known to the platform from
    // the report kept above): filed under it, the entries would be the clerk's only and never reach her phone.
    let cert = agent.certificate().unwrap().unwrap();
    let sha = "00".repeat(32);
    let fake = zhangban_core::agent::DoorConsent {
        id: g.id.clone(),
        principal_name: "李秀英".into(),
        principal_id_number: "110105194001010018".into(),
        agent_id: agent_id.clone(),
        agent_cert_id: cert.cert_id.clone(),
        scope: scope(&[ITEM], &Action::ALL),
        valid_from: 1_795_000_000,
        valid_until: 1_795_000_000 + 30 * 86_400,
        single_use: false,
        evidence: zhangban_core::agent::mandate::EVIDENCE_KINDS
            .iter()
            .map(|k| zhangban_core::agent::mandate::Evidence { kind: k.to_string(), sha256: sha.clone() })
            .collect(),
        summary_sha256: sha,
    };
    let fake = hex::encode(fake.sign(&akey.public_key(), |m| akey.sign(m)).unwrap());
    let body6 = json!({ "certificate": cert_hex(&agent),
        "mandates": [{ "id": g.id, "assurance": "door", "mandate": fake }], "report": signed });
    refused_for(post(body6, a.token.clone()).await, "mandate");
    let v = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    assert_eq!(v["access_reports_refused"], json!(6), "{v}");
    assert_eq!(v["accesses"].as_array().unwrap().len(), 1, "nothing kept but the genuine entry");
    running.stop().await;
}

/// On the principal's phone, a relayed access entry is kept only when the platform root signed it about
/// her: one altered (its element changed), one naming another principal's key, one a client made up
/// (signed by its own key, not the root's) are refused and on her audit record.
#[tokio::test]
async fn a_principal_refuses_access_entries_not_signed_about_her() {
    use zhangban_core::cases::PlatformEvent;
    use zhangban_core::wallet::SoftwareKey;
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let p = phone(&client).await;
    let other = phone(&client).await;
    let root = zhangban_sandbox::issuer::root_key().unwrap();
    let statement = |key: Vec<u8>| RelayedActivity {
        principal_key: key,
        mandate_id: "m-1".into(),
        kind: "access:fill".into(),
        at: 1_795_000_000,
        actor: "agent-wang".into(),
        case_title: String::new(),
        receipt: None,
        element: Some("resident_id.name".into()),
        missing: None,
    };
    let signed = |s: &RelayedActivity, k: &SoftwareKey| hex::encode(s.sign(|m| k.sign(m)).unwrap());
    let mine = p.wallet.device_public_key();
    let genuine = signed(&statement(mine.clone()), &root);
    let mut altered = hex::decode(&genuine).unwrap();
    let at = altered.windows(4).position(|w| w == b"name").unwrap();
    altered[at..at + 4].copy_from_slice(b"addr");
    let event = |seq: u64, signed: String| PlatformEvent {
        seq,
        case_id: String::new(),
        client_ref: format!("access:agent-wang:{seq}"),
        kind: "access:fill".into(),
        at: 1_795_000_000,
        actor: "agent-wang".into(),
        data: json!({ "principal_view": true, "signed": signed }),
    };
    let events = [
        event(1, hex::encode(altered)),
        event(2, signed(&statement(other.wallet.device_public_key()), &root)),
        event(3, signed(&statement(mine.clone()), &SoftwareKey::generate().unwrap())),
        event(4, genuine),
    ];
    runner(&p, &running.url).apply_events(&events, 4).unwrap();
    let side = PrincipalSide::new(&p.wallet);
    let kept = side.activity().unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4], "{kept:?}");
    assert_eq!(kept[0].element.as_deref(), Some("resident_id.name"));
    let home = side.home(None).unwrap();
    assert!(
        home.activity[0].text.zh.starts_with("agent-wang使用了您的证照项目：居民身份证的“姓名”"),
        "{:?}",
        home.activity[0].text
    );
    let refused: Vec<String> = p
        .store
        .audit_entries(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "agent.activity_refused")
        .map(|e| e.target)
        .collect();
    assert_eq!(refused, vec!["1", "2", "3"]);
    running.stop().await;
}

/// Issue 11 review, defects 1 and 3, end to end. The agent acts under her first delegation A, she adds an
/// item and the agent scans her new code B offline (B replaces A on its phone), acts again; an offline sync
/// reports nothing. Back in signal every access reaches her phone, A's first (before the fix A's were passed
/// over and the cursor moved past them). Then she revokes, the retention is 0 days, and an offline sync's
/// sweep keeps her while an access is not reported; the next sync in signal reports it, then erases her.
#[tokio::test]
async fn accesses_under_a_replaced_delegation_reach_her_and_retention_waits_for_the_report() {
    let (running, client, a, agent) = with_agent().await;
    let p = phone(&client).await;
    let side = PrincipalSide::new(&p.wallet);
    let cert = agent.certificate_text().unwrap();
    let first =
        side.delegate(&cert, "李秀英", "110105194001010018", scope(&[ITEM], &[Action::Follow]), None, false).unwrap();
    let li = agent.accept_delegation(&first.text).unwrap();
    let offline =
        SyncRunner::new(a.store.clone(), SyncConfig::new("http://127.0.0.1:9"), Arc::new(Recorder::default())).unwrap();
    agent.switch_to(&li.subject).unwrap(); // follow, under A
    assert!(agent.results(&li.subject).is_err()); // refused under A (receive results not allowed)
    let second = side
        .delegate(&cert, "李秀英", "110105194001010018", scope(&[ITEM, "GA-002"], &[Action::Follow]), None, false)
        .unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(agent.accept_delegation(&second.text).unwrap().subject, li.subject);
    agent.switch_to(&li.subject).unwrap(); // follow, under B
    let r = offline.run_once().await;
    assert!(r.offline && r.accesses_reported == 0, "{r:?}");

    let ar = runner(&a, &running.url);
    let r = ar.run_once().await;
    assert_eq!(r.accesses_reported, 3, "{r:?}");
    let pr = runner(&p, &running.url);
    pr.run_once().await;
    let seen = accesses(&side);
    let want = vec![
        ("access:follow".to_string(), None),
        ("access:denied:receive_results".to_string(), Some("action:receive_results".to_string())),
        ("access:follow".to_string(), None),
    ];
    assert_eq!(seen, want, "A's two accesses, then B's, each once");
    let v = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    let under: Vec<String> =
        v["accesses"].as_array().unwrap().iter().map(|e| e.to_string()).filter(|e| e.contains(&first.id)).collect();
    assert_eq!(under.len(), 2, "the platform took A's entries under A: {v}");

    // She revokes B; retention 0. The agent's refused attempt is not reported yet when the sweep runs offline.
    side.revoke(&second.id).unwrap();
    pr.run_once().await;
    assert_eq!(ar.run_once().await.revocations_applied, 1);
    agent.set_retention_days(0).unwrap();
    assert!(agent.switch_to(&li.subject).is_err()); // refused: revoked
    let r = offline.run_once().await;
    assert_eq!(r.principals_erased, 0, "kept while an access is not reported: {r:?}");
    assert_eq!(agent.principals().unwrap().len(), 1);
    let r = ar.run_once().await;
    assert_eq!((r.accesses_reported, r.principals_erased), (1, 1), "reported, then erased: {r:?}");
    assert!(agent.principals().unwrap().is_empty());
    pr.run_once().await;
    let after = accesses(&side);
    assert_eq!(after.last(), Some(&("access:denied:follow".to_string(), Some("revoked".to_string()))), "{after:?}");
    running.stop().await;
}

/// A valid resident ID number (GB 11643 check digit) for the `n`th person born 1988-02-29 in 海淀.
fn id_number(n: u32) -> String {
    let body = format!("11010819880229{:03}", n % 1000);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    format!("{body}{}", ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"][(sum % 11) as usize])
}

/// Issue 11 review, defect 2, end to end: principals each sign a delegation near the largest one QR code
/// holds (her resident ID shared with every element, issued by the sandbox, and a wide scope), and the agent
/// acts once for each. All their mandates' texts in one body are over the platform's limit
/// (`report::MAX_REPORT_BODY`): before the fix the platform answered 400 and the same batch was rebuilt at
/// every sync, for ever. Now the phone sends bodies within the limit and every access is taken, in one sync.
#[tokio::test]
async fn many_near_limit_delegations_are_reported_in_bodies_the_platform_takes() {
    use std::collections::BTreeMap;
    use zhangban_core::agent::mandate::{LicenceElements, MAX_DELEGATION_TEXT};
    use zhangban_core::agent::{Delegation, DelegationRequest, LicenceShare};
    use zhangban_core::wallet::{ElementValue, LicenceType};
    let (running, client, a, agent) = with_agent().await;
    let cert = agent.certificate_text().unwrap();
    let ar = runner(&a, &running.url);
    let rid = LicenceType::ResidentId;
    let all_rid: Vec<String> = rid.elements().iter().take(16).map(|e| e.key.to_string()).collect();
    let big = Scope {
        items: (0..20).map(|n| format!("MZ-{:03}", n + 1)).collect(),
        licence_types: vec![rid.key().to_string()],
        actions: vec![Action::Follow],
        elements: vec![LicenceElements { licence_type: rid.key().to_string(), elements: all_rid.clone() }],
    };
    let (mut total, mut n, mut phones) = (0, 0u32, Vec::new());
    while total <= report::MAX_REPORT_BODY + 32 * 1024 {
        let p = phone(&client).await;
        let id = id_number(n + 1);
        let elements: BTreeMap<String, ElementValue> = [
            ("name", "李四"),
            ("sex", "男"),
            ("ethnicity", "回"),
            ("birth_date", "1988-02-29"),
            ("address", "北京市海淀区中关村大街1号院2号楼3单元401室"),
            ("id_number", id.as_str()),
            ("issuing_authority", "北京市公安局海淀分局"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ElementValue::Text(v.to_string())))
        .collect();
        zhangban_sandbox::issuer::enrol_device_of(&running.state, &p.store, rid, &elements).unwrap();
        let client_p = PlatformClient::new(&running.url).unwrap();
        let lic = client_p.request_licence(&p.wallet, rid, None).await.unwrap();
        let side = PrincipalSide::new(&p.wallet);
        let share = LicenceShare { licence_id: lic.licence_id.clone(), elements: all_rid.clone() };
        let g = side.delegate_with(&DelegationRequest::new(&cert, "李四", &id, big.clone()).sharing(&[share])).unwrap();
        assert!(g.text.len() <= MAX_DELEGATION_TEXT);
        // The agent's phone holds the trust and status lists, to check the shared licence offline.
        client.refresh_lists_for(&a.wallet, zhangban_core::sync::wallet_api::StatusScope::EveryShard).await.unwrap();
        total += 2 * Delegation::from_text(&g.text).unwrap().len();
        let li = agent.accept_delegation(&g.text).unwrap();
        agent.switch_to(&li.subject).unwrap();
        n += 1;
        phones.push(p);
    }
    assert!(n <= 100, "one report's worth of entries ({n})");
    let r = ar.run_once().await;
    assert_eq!((r.accesses_reported, r.failures), (n, 0), "{n} principals, mandates {total} bytes in hex: {r:?}");
    let v = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    assert_eq!(v["accesses"].as_array().unwrap().len(), n as usize);
    assert_eq!(v["access_reports_refused"], 0);
    running.stop().await;
}

/// ADR 0045, attack on the queue: the service centre ends the agent's certificate, so the platform refuses its
/// access reports for good (`403 proxy_refused (certificate)`). Before, every sync rebuilt the same batch and
/// failed, for ever, and no later entry went either. Now the run completes, the refused entries are kept for the
/// agent with the platform's reason (typed, both languages) and the cursor moves; once the phone registers again
/// (a renewed certificate) the kept entries are sent once more with those made since, and reach her once each.
#[tokio::test]
async fn attack_an_access_report_refused_for_good_blocks_the_queue_for_ever() {
    let (running, client, a, agent) = with_agent().await;
    let p = phone(&client).await;
    let side = PrincipalSide::new(&p.wallet);
    let sc = scope(&[ITEM], &[Action::Fill, Action::Follow]);
    let g = side.delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", sc, None, false).unwrap();
    let li = agent.accept_delegation(&g.text).unwrap();
    let agent_id = agent.certificate().unwrap().unwrap().agent_id;
    let out = zhangban_sandbox::cases::clerk_command(&running.url, "end-certificate", Some(&agent_id), json!({}))
        .await
        .unwrap();
    assert_eq!(out["ended"], json!(true));
    agent.switch_to(&li.subject).unwrap();
    agent.switch_to(&li.subject).unwrap();
    let ar = runner(&a, &running.url);
    let r = ar.run_once().await;
    assert_eq!((r.accesses_reported, r.accesses_undelivered, r.failures, r.offline), (0, 2, 0, false), "{r:?}");
    let kept = report::undelivered(&a.store).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!((kept[0].status, kept[0].refused_for, kept[0].entries), (403, report::RefusedFor::Certificate, 2));
    assert!(kept[0].reason.zh.contains("该帮办员证书已被服务中心终止"), "{:?}", kept[0].reason);
    assert!(kept[0].reason.en.contains("ended by the service centre"), "{:?}", kept[0].reason);
    assert_eq!(report::cursor(&a.store).unwrap(), kept[0].through, "the cursor moved past them");
    let told = agent.card().unwrap().unwrap().not_delivered.expect("the agent's card tells him");
    assert_eq!(
        told.zh,
        "2 条访问记录被平台拒收，未能送达委托人（该帮办员证书已被服务中心终止）。证书更新后将重新发送。"
    );
    assert_eq!(
        told.en,
        "2 access entries were refused by the platform and have not reached the principals (this agent certificate \
         was ended by the service centre). They are sent again once the certificate is renewed."
    );
    // The next sync does not try them again: nothing fails, nothing more is refused on the platform's record.
    let r = ar.run_once().await;
    assert_eq!((r.accesses_reported, r.accesses_undelivered, r.failures), (0, 0, 0), "{r:?}");
    let refused: i64 = running
        .state
        .with_db(|c| Ok(c.query_row("SELECT count(*) FROM agent_access_refused", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(refused, 1, "one refused report, not one per sync");
    pr_sees_nothing(&running.url, &p, &side).await;

    // Renewed: the phone registers again and gets a new certificate. The kept entries go once more, with a
    // later access; her phone lists every access the agent made for her, once each, in order.
    sync::agent_api::register_agent(&client, &agent, "王芳", ORG).await.unwrap();
    let _ = agent.switch_to(&li.subject);
    let r = ar.run_once().await;
    assert_eq!((r.accesses_undelivered, r.failures), (0, 0), "{r:?}");
    assert!(r.accesses_reported >= 3, "{r:?}");
    assert!(report::undelivered(&a.store).unwrap().is_empty());
    assert_eq!(agent.card().unwrap().unwrap().not_delivered, None);
    runner(&p, &running.url).run_once().await;
    let seen = accesses(&side);
    let written = a.store.audit_entries(None).unwrap().into_iter().filter(|e| e.action == "agent.access");
    assert_eq!(seen.len(), written.filter(|e| e.subject == li.subject).count(), "{seen:?}");
    assert!(seen.len() >= 3 && seen.iter().take(2).all(|(k, _)| k == "access:follow"), "{seen:?}");
    running.stop().await;
}

async fn pr_sees_nothing(url: &str, p: &Phone, side: &PrincipalSide) {
    runner(p, url).run_once().await;
    assert!(accesses(side).is_empty(), "{:?}", accesses(side));
}
