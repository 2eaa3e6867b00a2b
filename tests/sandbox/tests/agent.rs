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
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let a = phone(&client).await;
    let agent = Agent::new(&a.wallet);
    sync::agent_api::register_agent(&client, &agent, "王帮办", ORG).await.unwrap();
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
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let a = phone(&client).await;
    let agent = Agent::new(&a.wallet);
    sync::agent_api::register_agent(&client, &agent, "王帮办", ORG).await.unwrap();
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
