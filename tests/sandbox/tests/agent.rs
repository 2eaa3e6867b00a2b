//! Agent mode against the real sandbox over HTTP: the platform checks every proxied submission again
//! (an agent's phone could be modified), refuses with a reason naming what failed, lists revocations for
//! the agent's next sync and relays events to the principal's phone.

use std::sync::Arc;

use serde_json::{json, Value};
use zhangban_core::agent::{
    access, Action, Agent, Delegation, DelegationRequest, DoorConsentInput, DoorIntake, PrincipalSide, Scope,
};
use zhangban_core::notify::Recorder;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::Wallet;
use zhangban_core::Error;
use zhangban_sandbox::server;

const ORG: &str = "12110105MB0000001A";

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

/// The sandbox platform on loopback and an agent's phone registered with it (王帮办 of `ORG`).
async fn with_agent() -> (server::Running, PlatformClient, Phone, Agent) {
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let a = phone(&client).await;
    let agent = Agent::new(&a.wallet);
    sync::agent_api::register_agent(&client, &agent, "王帮办", ORG).await.unwrap();
    (running, client, a, agent)
}

fn scope(items: &[&str]) -> Scope {
    Scope {
        items: items.iter().map(|s| s.to_string()).collect(),
        licence_types: vec![],
        actions: Action::ALL.to_vec(),
        elements: vec![],
    }
}

async fn post_case(client: &PlatformClient, token: &str, codes: &[&str], proxy: Value) -> Result<Value, Error> {
    let body = json!({
        "client_ref": uuid::Uuid::new_v4().to_string(),
        "item_codes": codes,
        "title": "高龄津贴申领",
        "values": {},
        "proxy": proxy,
    });
    client.post_json("/v1/cases", &body, Some(token), Some(&uuid::Uuid::new_v4().to_string())).await
}

fn refused(r: Result<Value, Error>, what: &str) {
    match r {
        Err(Error::Rejected { status: 403, message }) => {
            assert!(message.contains(&format!("({what})")), "expected refusal '{what}', got {message}")
        }
        other => panic!("expected a 403 naming {what}, got {other:?}"),
    }
}

#[tokio::test]
async fn the_platform_checks_every_proxied_submission() {
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let a = phone(&client).await;
    let agent = Agent::new(&a.wallet);
    let cert = sync::agent_api::register_agent(&client, &agent, "王帮办", ORG).await.unwrap();
    assert!(matches!(
        sync::agent_api::register_agent(&client, &agent, "王帮办", "91110000000000000X").await,
        Err(Error::Rejected { status: 400, .. })
    ));
    let cert_hex = |agent: &Agent| {
        let t = agent.certificate_text().unwrap();
        hex::encode(zhangban_core::agent::AgentCertificate::from_text(&t).unwrap())
    };
    let p = phone(&client).await;
    let side = PrincipalSide::new(&p.wallet);
    let g = side
        .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", scope(&["MZ-002"]), None, true)
        .unwrap();
    let mandate = hex::encode(Delegation::from_text(&g.text).unwrap());
    let proxy = |m: &str| json!({ "certificate": cert_hex(&agent), "assurance": "delegation", "mandate": m });

    // Out of scope: another item under the same delegation.
    refused(post_case(&client, &a.token, &["GA-002"], proxy(&mandate)).await, "item:GA-002");
    // A forged mandate (one byte of the signed delegation changed).
    let mut forged = hex::decode(&mandate).unwrap();
    let n = forged.len() - 5;
    forged[n] ^= 1;
    refused(post_case(&client, &a.token, &["MZ-002"], proxy(&hex::encode(forged))).await, "signature");
    // The certificate sent from another device (a stolen certificate).
    let b = phone(&client).await;
    refused(post_case(&client, &b.token, &["MZ-002"], proxy(&mandate)).await, "certificate");
    // An expired delegation (signed by the principal's real key).
    let mut d = Delegation::verify(&Delegation::from_text(&g.text).unwrap()).unwrap();
    d.id = "expired-1".into();
    d.valid_from -= 40 * 86_400;
    d.valid_until = d.valid_from + 30 * 86_400;
    let signer = p.wallet.signer();
    let old = d.sign(|m| signer.sign(m)).unwrap();
    refused(post_case(&client, &a.token, &["MZ-002"], proxy(&hex::encode(old))).await, "validity");

    // The real one goes through once (single use), then not again.
    let ok = post_case(&client, &a.token, &["MZ-002"], proxy(&mandate)).await.unwrap();
    assert!(ok["receipt"].as_str().is_some_and(|r| r.starts_with("ZB")), "{ok}");
    refused(post_case(&client, &a.token, &["MZ-002"], proxy(&mandate)).await, "used");

    // A door consent (lower assurance) only for items offered at home: 高龄津贴 yes, 身份证换领 no.
    let who = DoorIntake { principal_name: "孙德明".into(), principal_id_number: "110105193805200031".into() };
    let sun = agent.open_door_intake(&who).unwrap();
    let pics: Vec<String> = (0..3)
        .map(|i| agent.attach_intake(&sun.subject, &format!("p{i}.jpg"), &mut &[i as u8; 512][..]).unwrap().id)
        .collect();
    let input = DoorConsentInput {
        items: vec!["MZ-002".into(), "GA-002".into()],
        id_photo: pics[0].clone(),
        principal_photo: pics[1].clone(),
        signature: pics[2].clone(),
        summary: "代办高龄津贴与身份证换领".into(),
        valid_days: Some(7),
        single_use: false,
    };
    agent.record_door_consent(&sun.subject, &input).unwrap();
    let door = access::load(&a.store, &sun.subject).unwrap().unwrap().mandate.unwrap().signed_hex;
    let door_proxy = json!({ "certificate": cert_hex(&agent), "assurance": "door", "mandate": door });
    refused(post_case(&client, &a.token, &["GA-002"], door_proxy.clone()).await, "assurance");
    post_case(&client, &a.token, &["MZ-002"], door_proxy.clone()).await.unwrap();

    // The clerk sees who acted for whom.
    let activity = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    let rows = activity["cases"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["principal"], "李秀英");
    assert_eq!(rows[0]["agent_id"], json!(cert.agent_id));
    assert_eq!(rows[1]["assurance"], "door");

    // A revocation signed by someone else is refused; the principal's own is listed for agents.
    let mut fake = json!({ "delegation": g.text, "revocation": hex::encode(
        zhangban_core::agent::Revocation { delegation_id: g.id.clone(), at: 0 }
            .sign(&b.wallet.device_public_key(), |m| b.wallet.signer().sign(m)).unwrap()) });
    let r: Result<Value, Error> = client.post_json("/v1/delegations/revocations", &fake, Some(&b.token), None).await;
    assert!(matches!(r, Err(Error::Rejected { status: 403, .. })), "{r:?}");
    fake["delegation"] = json!("ZBD1:not-a-delegation");
    let r: Result<Value, Error> = client.post_json("/v1/delegations/revocations", &fake, Some(&b.token), None).await;
    assert!(matches!(r, Err(Error::Rejected { status: 400, .. })), "{r:?}");
    let list: Value = client.get_json("/v1/agents/revocations?since=0", Some(&a.token)).await.unwrap();
    assert_eq!(list["revoked"].as_array().unwrap().len(), 0);
    side.revoke(&g.id).unwrap();
    let cfg = SyncConfig::new(&running.url);
    let r = SyncRunner::new(p.store.clone(), cfg.clone(), Arc::new(Recorder::default())).unwrap().run_once().await;
    assert_eq!(r.revocations_sent, 1);
    assert!(side.pending_revocations().unwrap().is_empty());
    // The principal's phone saw the submission the agent made for her.
    assert!(side
        .activity()
        .unwrap()
        .iter()
        .any(|e| e.kind == "submitted" && Some(&e.receipt) == Some(&ok["receipt"].as_str().map(str::to_string))));
    let list: Value = client.get_json("/v1/agents/revocations?since=0", Some(&a.token)).await.unwrap();
    assert_eq!(list["revoked"][0]["mandate_id"], json!(g.id));

    // The agent's next sync applies it; a second sync applies nothing new (cursor kept).
    let agent_runner = SyncRunner::new(a.store.clone(), cfg, Arc::new(Recorder::default())).unwrap();
    let accepted = agent.accept_delegation(&g.text).unwrap();
    assert_eq!(agent_runner.run_once().await.revocations_applied, 1);
    assert_eq!(agent_runner.run_once().await.revocations_applied, 0);
    assert!(
        matches!(agent.cases(&accepted.subject), Err(Error::PermissionDenied { ref missing, .. }) if missing == "revoked")
    );
    running.stop().await;
}

/// What the platform relays to a principal's phone is signed by the platform root and names that phone's
/// key: the phone keeps it. Attacks: an entry without a signature (what a forged or altered event looks
/// like), one whose signature does not match what it says, one signed by another key, one about someone
/// else's phone — none is kept, each refusal is on the audit record.
#[tokio::test]
async fn a_principal_keeps_only_relayed_entries_the_platform_signed_about_her() {
    use zhangban_core::agent::RelayedActivity;
    use zhangban_core::cases::PlatformEvent;
    use zhangban_core::wallet::{DeviceSigner, SoftwareKey};
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let p = phone(&client).await;
    let other = phone(&client).await;
    let runner =
        SyncRunner::new(p.store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default())).unwrap();
    let root = zhangban_sandbox::issuer::root_key().unwrap();
    let statement = |key: Vec<u8>, actor: &str| RelayedActivity {
        principal_key: key,
        mandate_id: "m-1".into(),
        kind: "submitted".into(),
        at: 1_795_000_000,
        actor: actor.into(),
        case_title: "高龄津贴申领".into(),
        receipt: Some("ZB20261206000001".into()),
        element: None,
        missing: None,
    };
    let mine = p.wallet.device_public_key();
    let event = |seq: u64, data: Value| PlatformEvent {
        seq,
        case_id: format!("P{seq}"),
        client_ref: format!("agent-case-{seq}"),
        kind: "submitted".into(),
        at: 1_795_000_000,
        actor: "agent-wang".into(),
        data,
    };
    let signed = |s: &RelayedActivity, k: &SoftwareKey| hex::encode(s.sign(|m| k.sign(m)).unwrap());
    let genuine = signed(&statement(mine.clone(), "agent-wang"), &root);
    // Altered on the way: the signed bytes say one agent, a byte flipped to say another.
    let mut altered = hex::decode(&genuine).unwrap();
    let at = altered.windows(10).position(|w| w == b"agent-wang").unwrap();
    altered[at + 6] = b'x';
    let events = [
        // 1. made up: no signature at all (today's relay format).
        event(1, json!({ "principal_view": true, "title": "高龄津贴申领", "receipt": "ZB1" })),
        // 2. altered.
        event(2, json!({ "principal_view": true, "signed": hex::encode(altered) })),
        // 3. signed by a key that is not the platform's.
        event(
            3,
            json!({ "principal_view": true, "signed": signed(&statement(mine.clone(), "agent-wang"), &SoftwareKey::generate().unwrap()) }),
        ),
        // 4. the platform's, but about another phone.
        event(
            4,
            json!({ "principal_view": true, "signed": signed(&statement(other.wallet.device_public_key(), "agent-wang"), &root) }),
        ),
        // 5. genuine.
        event(5, json!({ "principal_view": true, "signed": genuine })),
    ];
    runner.apply_events(&events, 5).unwrap();
    let side = PrincipalSide::new(&p.wallet);
    let kept = side.activity().unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5], "{kept:?}");
    assert_eq!(kept[0].actor, "agent-wang");
    assert_eq!(kept[0].receipt.as_deref(), Some("ZB20261206000001"));
    let refused: Vec<_> =
        p.store.audit_entries(None).unwrap().into_iter().filter(|e| e.action == "agent.activity_refused").collect();
    assert_eq!(refused.iter().map(|e| e.target.clone()).collect::<Vec<_>>(), vec!["1", "2", "3", "4"]);
    running.stop().await;
}

/// 亲友代办: a delegation signed on a relative's phone is the lower assurance. Attack: the relative's phone
/// (not the principal's) delegating an item that needs the principal's own signature (身份证换领, not offered
/// at home) is refused by the platform; 高龄津贴 (offered at home) goes through, recorded as `family`.
#[tokio::test]
async fn a_relatives_delegation_is_accepted_only_for_items_offered_at_home() {
    let (running, client, a, agent) = with_agent().await;
    let cert =
        hex::encode(zhangban_core::agent::AgentCertificate::from_text(&agent.certificate_text().unwrap()).unwrap());
    let daughter = phone(&client).await;
    let g = PrincipalSide::new(&daughter.wallet)
        .delegate_with(
            &DelegationRequest::new(
                &agent.certificate_text().unwrap(),
                "李秀英",
                "110105194001010018",
                scope(&["MZ-002", "GA-002"]),
            )
            .by_relative("李小红", "女儿"),
        )
        .unwrap();
    let mandate = hex::encode(Delegation::from_text(&g.text).unwrap());
    // The agent's phone may even claim the higher level: the platform reads the signed mandate.
    let proxy = json!({ "certificate": cert, "assurance": "delegation", "mandate": mandate });
    refused(post_case(&client, &a.token, &["GA-002"], proxy.clone()).await, "assurance");
    post_case(&client, &a.token, &["MZ-002"], proxy).await.unwrap();
    let activity = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    assert_eq!(activity["cases"][0]["assurance"], "family");
    running.stop().await;
}

/// Issue 11, per-principal isolation of notifications: on an agent's phone two principals' cases of the same
/// item get their receipts in one sync; each notice says whose case it is (its subject, and a title beginning
/// with the principal's name), so the agent never reads "高龄津贴申领：已提交" without knowing for whom.
#[tokio::test]
async fn an_agents_notices_say_whose_case_it_is() {
    let (running, client, a, agent) = with_agent().await;
    let cert = zhangban_core::agent::AgentCertificate::from_text(&agent.certificate_text().unwrap()).unwrap();
    let mut cases = Vec::new();
    for (name, id) in [("李秀英", "110105194001010018"), ("孙德明", "110105193805200031")] {
        let p = phone(&client).await;
        let g = PrincipalSide::new(&p.wallet)
            .delegate(&agent.certificate_text().unwrap(), name, id, scope(&["MZ-002"]), None, false)
            .unwrap();
        let line = agent.accept_delegation(&g.text).unwrap();
        let mandate = access::load(&a.store, &line.subject).unwrap().unwrap().mandate.unwrap().signed_hex;
        let proxy = zhangban_core::cases::Proxy {
            agent_id: "agent".into(),
            body: json!({ "certificate": hex::encode(&cert), "assurance": "delegation", "mandate": mandate }),
        };
        let sub = zhangban_core::cases::Submission {
            item_codes: vec!["MZ-002".into()],
            title: "高龄津贴申领".into(),
            values: json!({ "applicant.name": name }),
            ..Default::default()
        };
        let case = zhangban_core::cases::submit_as(&a.store, &line.subject, &sub, Some(&proxy)).unwrap();
        cases.push((case.id, line.subject, name));
    }
    let heard = Arc::new(Recorder::default());
    let r = SyncRunner::new(a.store.clone(), SyncConfig::new(&running.url), heard.clone()).unwrap().run_once().await;
    assert_eq!(r.receipts, 2, "{r:?}");
    let notices = heard.notices();
    for (case_id, subject, name) in &cases {
        let n = notices.iter().find(|n| &n.case_id == case_id).expect("a notice for each principal's case");
        assert_eq!(&n.subject, subject);
        assert_eq!(n.title_zh, format!("【{name}】高龄津贴申领：已提交"));
        assert_eq!(n.title_en, format!("[{name}] 高龄津贴申领: submitted"));
    }
    running.stop().await;
}

/// A phone whose clock the test moves (the store's clock: mandates expire by it).
async fn phone_at(client: &PlatformClient, clock: Arc<zhangban_core::FixedClock>) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let c: Arc<dyn zhangban_core::Clock> = clock;
    let store = Arc::new(Store::open_or_create_with(&dir.path().join("store"), vault, None, c).unwrap());
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

/// The agent fills 高龄津贴申领 for `principal` through agent mode and submits it: queued on the phone until the
/// next sync (offline at the door).
fn fill_and_queue(agent: &Agent, principal: &str, name: &str, id_number: &str) -> zhangban_core::cases::Case {
    let cat = zhangban_core::catalog::Catalog::current(agent.store()).unwrap();
    let mut s = agent.start_draft(principal, &cat, "MZ-002").unwrap();
    for (path, v) in [
        ("applicant.name", name),
        ("applicant.id_number", id_number),
        ("applicant.birth_date", &format!("{}-{}-{}", &id_number[6..10], &id_number[10..12], &id_number[12..14])),
        ("applicant.phone", "13900001111"),
        ("applicant.address", "北京市朝阳区幸福村 8 号"),
        ("allowance.account", "6217000010001234567"),
    ] {
        agent.edit(principal, &cat, &mut s, path, json!(v)).unwrap();
    }
    for code in ["M_ID", "M_HOUSEHOLD", "M_SSC"] {
        let id = agent.attach(principal, &format!("{code}.jpg"), &mut &b"\xff\xd8\xff scan"[..]).unwrap().id;
        let choice = zhangban_core::forms::MaterialChoice::Attached { attachment_id: id };
        agent.set_material(principal, &cat, &mut s, code, Some(choice)).unwrap();
    }
    let case = agent.submit(principal, &cat, &mut s).unwrap();
    assert_eq!(case.state, zhangban_core::cases::CaseState::Queued);
    case
}

/// A case on the agent's phone the platform refused as revoked: the reason in both languages, no receipt.
fn refused_as_revoked(store: &Store, case_id: &str) {
    let c = zhangban_core::cases::get(store, case_id).unwrap();
    let p = c.problem.as_ref().unwrap_or_else(|| panic!("the case carries no refusal: {c:?}"));
    assert_eq!(p.status, 403, "{p:?}");
    let t = p.text();
    assert!(t.en.contains("proxy refused (revoked)"), "{t:?}");
    assert!(t.zh.contains("代办被拒绝（revoked）") && t.zh.contains("撤销"), "{t:?}");
    assert!(c.receipt.is_none() && c.platform_id.is_none(), "{c:?}");
}

/// Issue 11, the platform's own check (not the phone's): the agent fills and queues an application at the door,
/// offline; meanwhile the principal revokes on her phone and syncs. The agent's next sync sends the queued
/// submission before it fetches the revocation list: the platform refuses it `403 proxy_refused (revoked)`,
/// the case on the agent's phone says so in zh and en, and the platform accepted nothing.
#[tokio::test]
async fn a_submission_queued_before_the_revocation_reached_the_agent_is_refused_by_the_platform() {
    let (running, client, a, agent) = with_agent().await;
    let p = phone(&client).await;
    let side = PrincipalSide::new(&p.wallet);
    let g = side
        .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", scope(&["MZ-002"]), None, false)
        .unwrap();
    let li = agent.accept_delegation(&g.text).unwrap();
    // At the door, no signal: filled and queued.
    let case = fill_and_queue(&agent, &li.subject, "李秀英", "110105194001010018");
    // The principal revokes on her phone and syncs.
    side.revoke(&g.id).unwrap();
    let cfg = SyncConfig::new(&running.url);
    let r = SyncRunner::new(p.store.clone(), cfg.clone(), Arc::new(Recorder::default())).unwrap().run_once().await;
    assert_eq!(r.revocations_sent, 1, "{r:?}");
    // The agent comes back into signal: the outbox goes first, the revocation list after.
    let r = SyncRunner::new(a.store.clone(), cfg, Arc::new(Recorder::default())).unwrap().run_once().await;
    assert_eq!((r.receipts, r.quarantined, r.revocations_applied), (0, 1, 1), "{r:?}");
    refused_as_revoked(&a.store, &case.id);
    let activity = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    assert_eq!(activity["cases"].as_array().map(Vec::len), Some(0), "the platform accepted nothing: {activity}");
    let n: i64 = running.state.with_db(|c| Ok(c.query_row("SELECT count(*) FROM cases", [], |r| r.get(0))?)).unwrap();
    assert_eq!(n, 0);
    // And the phone stops further use at once.
    let cat = zhangban_core::catalog::Catalog::current(&a.store).unwrap();
    let e = agent.start_draft(&li.subject, &cat, "MZ-002").map(|_| ()).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "revoked"), "{e:?}");
    running.stop().await;
}

/// A door consent has no phone to revoke from: the principal phones the service centre, which revokes it in the
/// back office (`POST /admin/mandates/{id}/revoke`, the clerk CLI's `revoke-mandate`). A submission the agent
/// queued before hearing of it is refused as revoked; the agent's sync stops further use; a later submission under
/// it (a phone that ignores the list) is refused by the platform too.
#[tokio::test]
async fn a_door_consent_revoked_by_the_service_centre_stops_the_agent_and_the_platform_refuses_it() {
    let (running, client, a, agent) = with_agent().await;
    let who = DoorIntake { principal_name: "孙德明".into(), principal_id_number: "110105193805200031".into() };
    let sun = agent.open_door_intake(&who).unwrap();
    let pics: Vec<String> = (0..3)
        .map(|i| agent.attach_intake(&sun.subject, &format!("p{i}.jpg"), &mut &[i as u8; 512][..]).unwrap().id)
        .collect();
    let input = DoorConsentInput {
        items: vec!["MZ-002".into()],
        id_photo: pics[0].clone(),
        principal_photo: pics[1].clone(),
        signature: pics[2].clone(),
        summary: "代办高龄津贴".into(),
        valid_days: Some(30),
        single_use: false,
    };
    agent.record_door_consent(&sun.subject, &input).unwrap();
    let m = access::load(&a.store, &sun.subject).unwrap().unwrap().mandate.unwrap();
    let runner =
        SyncRunner::new(a.store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default())).unwrap();
    // The first application goes through.
    let first = fill_and_queue(&agent, &sun.subject, "孙德明", "110105193805200031");
    assert_eq!(runner.run_once().await.receipts, 1);
    assert!(zhangban_core::cases::get(&a.store, &first.id).unwrap().receipt.is_some());
    // A second one queued offline; meanwhile 孙德明 phones the service centre.
    let second = fill_and_queue(&agent, &sun.subject, "孙德明", "110105193805200031");
    let out =
        zhangban_sandbox::cases::clerk_command(&running.url, "revoke-mandate", Some(&m.id), json!({})).await.unwrap();
    assert_eq!(out["revoked"], json!(true));
    let r = runner.run_once().await;
    assert_eq!((r.receipts, r.quarantined, r.revocations_applied), (0, 1, 1), "{r:?}");
    refused_as_revoked(&a.store, &second.id);
    // Further use stops on the phone…
    assert!(
        matches!(agent.cases(&sun.subject), Err(Error::PermissionDenied { ref missing, .. }) if missing == "revoked")
    );
    assert_eq!(agent.principals().unwrap()[0].status, zhangban_core::agent::PrincipalStatus::Revoked);
    // …and a submission under it that reaches the platform anyway is refused there.
    let door_proxy = json!({ "certificate": hex::encode(
        zhangban_core::agent::AgentCertificate::from_text(&agent.certificate_text().unwrap()).unwrap()),
        "assurance": "door", "mandate": m.signed_hex });
    refused(post_case(&client, &a.token, &["MZ-002"], door_proxy).await, "revoked");
    let activity = running.state.with_db(|c| zhangban_sandbox::agents::activity_of(c)).unwrap();
    let rows = activity["cases"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the first application: {activity}");
    assert_eq!(rows[0]["mandate_revoked"], json!(true));
    running.stop().await;
}

/// What the agent's phone holds of a principal who has a case awaiting 补正 (a need with its planned reminders),
/// a case under way and an open draft. Returns the principal's subject, the delegation and the case.
struct Served {
    subject: String,
    given: zhangban_core::agent::GivenDelegation,
    case_id: String,
}

async fn serve_with_needs(running: &server::Running, agent: &Agent, a: &Phone, p: &Phone) -> Served {
    let side = PrincipalSide::new(&p.wallet);
    let given = side
        .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", scope(&["MZ-002"]), None, false)
        .unwrap();
    let subject = agent.accept_delegation(&given.text).unwrap().subject;
    let case = fill_and_queue(agent, &subject, "李秀英", "110105194001010018");
    let runner =
        SyncRunner::new(a.store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default())).unwrap();
    assert_eq!(runner.run_once().await.receipts, 1);
    let pid = zhangban_core::cases::get(&a.store, &case.id).unwrap().platform_id.unwrap();
    let today = zhangban_core::clock::local_date(a.store.now()).to_string();
    for (action, args) in [
        ("accept", json!({ "promised_days": 20, "on": today })),
        ("supplement", json!({ "items": ["近期免冠照片"], "due_days": 5, "on": today })),
    ] {
        zhangban_sandbox::cases::clerk_command(&running.url, action, Some(&pid), args).await.unwrap();
    }
    let cat = zhangban_core::catalog::Catalog::current(&a.store).unwrap();
    agent.start_draft(&subject, &cat, "MZ-002").unwrap();
    let r = runner.run_background(std::time::Duration::from_secs(20)).await;
    assert!(r.plan_error.is_none(), "{r:?}");
    // Before the end: the principal is on the home with what needs doing, and reminders are planned for her.
    let home = zhangban_core::remind::home(&a.store).unwrap();
    let g = home.principals.iter().find(|g| g.subject == subject).expect("the principal's needs on the home");
    assert!(g.needs.iter().any(|n| n.source == zhangban_core::remind::ReminderSource::Supplement), "{g:?}");
    assert!(home.cases.iter().any(|c| c.case_id == case.id));
    assert!(home.drafts.iter().any(|d| d.subject == subject));
    let plan = r.plan.unwrap();
    assert!(plan.pending.iter().any(|r| r.subject == subject && r.id.starts_with("supplement:")), "{plan:?}");
    Served { subject, given, case_id: case.id }
}

/// After the end, the agent's 待办 home keeps one line for the principal — that nothing more may be done, and
/// the case to hand back — and nothing else of hers: no need, no case, no draft; the plan holds no reminder
/// for her and cancels those it held.
fn off_the_home(store: &Arc<Store>, s: &Served, plan: &zhangban_core::remind::Plan, title: &str) {
    let home = zhangban_core::remind::home(store).unwrap();
    let mine: Vec<_> = home.needs.iter().filter(|n| n.subject == s.subject).collect();
    assert_eq!(mine.len(), 1, "the ended principal's needs are still on the home: {mine:#?}");
    assert_eq!(mine[0].id, format!("ended:{}", s.subject));
    assert_eq!(mine[0].title.zh, title);
    assert!(mine[0].body.zh.contains("1 件办件尚未办结：请把代收的材料交还委托人"), "{:?}", mine[0].body);
    assert!(mine[0].body.en.contains("1 case is still under way"), "{:?}", mine[0].body);
    let g = home.principals.iter().find(|g| g.subject == s.subject).unwrap();
    assert_eq!((g.needs_total, g.needs.len()), (1, 1));
    assert!(home.cases.iter().all(|c| c.subject != s.subject), "{:?}", home.cases);
    assert!(home.drafts.iter().all(|d| d.subject != s.subject), "{:?}", home.drafts);
    assert!(plan.pending.iter().all(|r| r.subject != s.subject), "reminders still planned: {:?}", plan.pending);
    let sup = format!("supplement:{}:", s.case_id);
    assert!(
        plan.cancel.iter().any(|id| id.starts_with(&sup)),
        "the 补正 reminders are not cancelled: {:?}",
        plan.cancel
    );
    assert!(zhangban_core::remind::plan(store).unwrap().pending.iter().all(|r| r.subject != s.subject));
}

/// Issue 11, "revocation stops further use at once": the principal revokes and syncs; the agent's next sync
/// brings the revocation, and from then on the agent's 待办 home and reminder plan no longer list her needs —
/// not only once the retention sweep erases her a week later.
#[tokio::test]
async fn attack_a_revoked_principal_stays_on_the_agents_home_and_in_the_plan() {
    let (running, client, a, agent) = with_agent().await;
    let p = phone(&client).await;
    let s = serve_with_needs(&running, &agent, &a, &p).await;
    PrincipalSide::new(&p.wallet).revoke(&s.given.id).unwrap();
    let cfg = SyncConfig::new(&running.url);
    SyncRunner::new(p.store.clone(), cfg.clone(), Arc::new(Recorder::default())).unwrap().run_once().await;
    let r = SyncRunner::new(a.store.clone(), cfg, Arc::new(Recorder::default()))
        .unwrap()
        .run_background(std::time::Duration::from_secs(20))
        .await;
    assert_eq!(r.run.revocations_applied, 1, "{r:?}");
    off_the_home(&a.store, &s, &r.plan.unwrap(), "委托已撤销");
    // The agent's list of principals says the same, with nothing left to do for her.
    let line = agent.principals().unwrap().into_iter().find(|l| l.subject == s.subject).unwrap();
    assert_eq!(line.status, zhangban_core::agent::PrincipalStatus::Revoked);
    assert_eq!((line.needs_action, line.open_drafts, line.queued), (0, 0, 0), "{line:?}");
    assert!(
        line.needs_now.zh.starts_with("委托人已撤销委托，不能再为李秀英办理。1 件办件尚未办结"),
        "{:?}",
        line.needs_now
    );
    running.stop().await;
}

/// The same when the delegation expires by the clock (no message from anyone): the first sync after the end.
#[tokio::test]
async fn attack_an_expired_principal_stays_on_the_agents_home_and_in_the_plan() {
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let clock = Arc::new(zhangban_core::FixedClock::at(chrono::Utc::now().timestamp()));
    let a = phone_at(&client, clock.clone()).await;
    let agent = Agent::new(&a.wallet);
    sync::agent_api::register_agent(&client, &agent, "王帮办", ORG).await.unwrap();
    let p = phone(&client).await;
    let s = serve_with_needs(&running, &agent, &a, &p).await;
    // 30 days (the default validity) and a minute later.
    clock.advance(30 * 86_400 + 60);
    let r = SyncRunner::new(a.store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default()))
        .unwrap()
        .run_background(std::time::Duration::from_secs(20))
        .await;
    assert!(r.plan_error.is_none(), "{r:?}");
    assert_eq!(r.run.principals_erased, 0, "within the retention period");
    off_the_home(&a.store, &s, &r.plan.unwrap(), "委托已到期");
    let line = agent.principals().unwrap().into_iter().find(|l| l.subject == s.subject).unwrap();
    assert_eq!(line.status, zhangban_core::agent::PrincipalStatus::Expired);
    assert_eq!((line.needs_action, line.open_drafts, line.queued), (0, 0, 0), "{line:?}");
    running.stop().await;
}

/// Completion ends a single-use mandate too: the clerk decides the one application it was for; the agent's sync
/// that brings the decision publishes the end (its sweep sees the case decided), and from then on the 待办 home
/// holds only the line saying so (nothing to hand back: no case of hers under way) — not her rating invitation,
/// which is hers to give — and the principal list no longer says "waiting for the result".
#[tokio::test]
async fn a_single_use_principal_whose_case_is_decided_leaves_the_agents_home_at_that_sync() {
    let (running, client, a, agent) = with_agent().await;
    let p = phone(&client).await;
    let g = PrincipalSide::new(&p.wallet)
        .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", scope(&["MZ-002"]), None, true)
        .unwrap();
    let subject = agent.accept_delegation(&g.text).unwrap().subject;
    let case = fill_and_queue(&agent, &subject, "李秀英", "110105194001010018");
    let runner =
        SyncRunner::new(a.store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default())).unwrap();
    assert_eq!(runner.run_once().await.receipts, 1);
    let line = agent.principals().unwrap().remove(0);
    assert_eq!(line.status, zhangban_core::agent::PrincipalStatus::Used);
    assert!(line.needs_now.zh.contains("等待办结"), "{:?}", line.needs_now);
    let pid = zhangban_core::cases::get(&a.store, &case.id).unwrap().platform_id.unwrap();
    let today = zhangban_core::clock::local_date(a.store.now()).to_string();
    for (action, args) in [
        ("accept", json!({ "promised_days": 20, "on": today })),
        ("approve", json!({ "result": "核准发放", "on": today })),
        ("complete", json!({ "result": "核准发放", "on": today })),
    ] {
        zhangban_sandbox::cases::clerk_command(&running.url, action, Some(&pid), args).await.unwrap();
    }
    let r = runner.run_background(std::time::Duration::from_secs(20)).await;
    assert!(r.plan_error.is_none(), "{r:?}");
    assert!(zhangban_core::cases::get(&a.store, &case.id).unwrap().state.is_final());
    let home = zhangban_core::remind::home(&a.store).unwrap();
    let hers: Vec<_> = home.needs.iter().filter(|n| n.subject == subject).collect();
    assert_eq!(hers.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), vec![format!("ended:{subject}")], "{hers:#?}");
    assert_eq!(hers[0].title.zh, "委托事项已办结");
    assert_eq!(hers[0].body.zh, "一次性委托的事项已办结，不能再为李秀英办理。");
    assert!(r.plan.unwrap().pending.iter().all(|r| r.subject != subject));
    let line = agent.principals().unwrap().remove(0);
    assert_eq!(line.needs_now.zh, "一次性委托的事项已办结，不能再为李秀英办理。");
    assert_eq!(r.run.principals_erased, 0, "kept for the retention period");
    running.stop().await;
}

/// ADR 0045, attack on an ended principal's queue: an application for her waits offline on the agent's phone
/// when the delegation expires by the clock. Before, the agent's home still said "待发送 1 项" and the next sync
/// sent it — her materials uploaded after the end, the platform (its own clock) taking it. Now at once, with no
/// sync, the home no longer counts it as waiting and her line says it will not be sent; the sync holds it back
/// on the phone (quarantined with why, both languages, refused here: status 0) and the platform gets nothing.
#[tokio::test]
async fn attack_an_ended_principals_queued_application_is_counted_as_waiting_and_sent() {
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let clock = Arc::new(zhangban_core::FixedClock::at(chrono::Utc::now().timestamp()));
    let a = phone_at(&client, clock.clone()).await;
    let agent = Agent::new(&a.wallet);
    sync::agent_api::register_agent(&client, &agent, "王帮办", ORG).await.unwrap();
    let p = phone(&client).await;
    let given = PrincipalSide::new(&p.wallet)
        .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", scope(&["MZ-002"]), None, false)
        .unwrap();
    let subject = agent.accept_delegation(&given.text).unwrap().subject;
    let case = fill_and_queue(&agent, &subject, "李秀英", "110105194001010018");
    let home = zhangban_core::remind::home(&a.store).unwrap();
    assert_eq!(home.outbox_pending, 1);
    // 30 days (the default validity) and a minute later, still offline.
    clock.advance(30 * 86_400 + 60);
    let home = zhangban_core::remind::home(&a.store).unwrap();
    assert_eq!((home.outbox_pending, home.outbox_refused), (0, 0), "counted as waiting to be sent: {home:?}");
    assert_eq!(home.outbox_text, None);
    let line = home.needs.iter().find(|n| n.subject == subject).expect("her line");
    assert!(line.body.zh.ends_with("本机上为其排队的 1 项操作未发送，也不会再发送。"), "{:?}", line.body);
    let pl = agent.principals().unwrap().into_iter().find(|l| l.subject == subject).unwrap();
    assert!(pl.needs_now.en.ends_with(" 1 operation queued for them on this phone was not sent and will not be."));
    // The sync does not send it.
    let r = SyncRunner::new(a.store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default()))
        .unwrap()
        .run_once()
        .await;
    assert_eq!((r.sent, r.receipts, r.quarantined, r.remaining), (0, 0, 1, 0), "{r:?}");
    let held = zhangban_core::outbox::quarantined(&a.store).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].case_id, case.id);
    let why = held[0].problem.as_ref().unwrap();
    assert_eq!(why.status, 0, "{why:?}");
    assert!(why.text().zh.starts_with("未发送：委托已到期"), "{why:?}");
    assert!(why.text().en.starts_with("not sent: the delegation expired"), "{why:?}");
    // The case says so too (were she to delegate again, the agent resubmits it), on the device's line, not the
    // platform's.
    let c = zhangban_core::cases::get(&a.store, &case.id).unwrap();
    assert_eq!(c.problem.as_ref(), Some(why));
    let last = c.timeline.last().unwrap();
    assert_eq!((last.actor.as_str(), last.note.zh.as_str()), ("device", why.text().zh.as_str()));
    let uploads: i64 =
        running.state.with_db(|c| Ok(c.query_row("SELECT count(*) FROM case_proxies", [], |r| r.get(0))?)).unwrap();
    assert_eq!(uploads, 0, "the platform got her application after the end");
    let home = zhangban_core::remind::home(&a.store).unwrap();
    assert_eq!((home.outbox_pending, home.outbox_refused), (0, 0));
    running.stop().await;
}
