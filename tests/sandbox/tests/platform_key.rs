//! A hardware device key reaches every path that signs (issue 13, ADR 0035), end to end over HTTP against the
//! sandbox platform. The device key here is a P-256 key the core never holds — [`HwKey`], signing in ASN.1 DER
//! as Android Keystore and the Secure Enclave do — offered the way the shells offer it (registration with the
//! signer; the store holds it for the session). Each path then opens its wallet the way the FFI does
//! (`Wallet::open` over the store, no signer handed to it) and must sign with that key, and the platform must
//! accept: the background licence issuance after an approval, the old phone's transfer signature (and the new
//! phone's transfer request), and an agent's door consent. Before ADR 0035 each refused with the typed
//! `device_key` error ("needs a signature by the phone's secure hardware").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
};
use serde_json::{json, Value};
use zhangban_core::agent::{access, Agent, DoorConsent, DoorConsentInput, DoorIntake};
use zhangban_core::cases::{self, LicenceDelivery, Submission};
use zhangban_core::notify::NoListener;
use zhangban_core::store::{FileVault, KeyVault, Store, SELF_SUBJECT};
use zhangban_core::sync::rebind::{self, TransferProof};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, PlatformClient};
use zhangban_core::wallet::{DeviceSigner, LicenceType, Policy, Preset, Wallet};
use zhangban_sandbox::cases::clerk_command;
use zhangban_sandbox::server::{self, Running};

/// The phone's hardware key as the shells hand it over: the core sees its public key and DER signatures only.
struct HwKey {
    pair: EcdsaKeyPair,
    signed: AtomicUsize,
}

impl HwKey {
    fn new() -> Arc<HwKey> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).expect("key");
        Arc::new(HwKey { pair, signed: AtomicUsize::new(0) })
    }
    fn signed(&self) -> usize {
        self.signed.load(Ordering::SeqCst)
    }
    fn hex(&self) -> String {
        hex::encode(self.public_key())
    }
    /// Whether `der` is this key's signature over `msg`.
    fn verifies(&self, msg: &[u8], der: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, self.public_key()).verify(msg, der).is_ok()
    }
}

impl DeviceSigner for HwKey {
    fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }
    fn sign(&self, msg: &[u8]) -> zhangban_core::Result<Vec<u8>> {
        self.signed.fetch_add(1, Ordering::SeqCst);
        Ok(self.pair.sign(&SystemRandom::new(), msg).expect("sign").as_ref().to_vec())
    }
}

fn store(dir: &std::path::Path, name: &str) -> Arc<Store> {
    let vault: Arc<dyn KeyVault> =
        Arc::new(FileVault::open_or_create(&dir.join(format!("{name}.key"))).expect("vault"));
    Arc::new(Store::create(&dir.join(name), vault, None).expect("store"))
}

/// Registers `store` as the shells do; with `hw`, the hardware key is offered and registered.
async fn register(store: &Store, url: &str, hw: Option<Arc<HwKey>>) -> String {
    let signer = hw.map(|h| h as Arc<dyn DeviceSigner>);
    sync::register_device(store, url, "android".into(), "hw-test".into(), "0".into(), signer).await.expect("register")
}

/// The public key the platform registered for `device_id`.
fn registered_key(p: &Running, device_id: &str) -> String {
    p.state
        .with_db(|c| {
            Ok(c.query_row("SELECT public_key FROM devices WHERE id = ?1", [device_id], |r| r.get::<_, String>(0))?)
        })
        .expect("device row")
}

fn fast(url: &str) -> SyncConfig {
    let mut c = SyncConfig::new(url);
    c.request_timeout = Duration::from_secs(5);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(200);
    c.run_budget = Duration::from_secs(60);
    c
}

fn business_licence_offer() -> Value {
    let base = "92110105MA01HW000";
    let uscc = format!("{base}{}", zhangban_core::ids::uscc_check_char(base).expect("check char"));
    json!({ "type": "business_licence", "elements": {
        "uscc": uscc, "company_name": "北京市朝阳区李四便民服务部", "company_type": "个体工商户",
        "legal_representative": "李四", "registered_capital": "5万元", "established_date": "2024-02-27",
        "business_scope": "便民服务", "address": "北京市朝阳区建国路88号1层",
        "registration_authority": "北京市朝阳区市场监督管理局" } })
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

async fn clerk(url: &str, action: &str, case: &str, args: Value) {
    clerk_command(url, action, Some(case), args).await.unwrap_or_else(|e| panic!("clerk {action}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_issuance_after_an_approval_signs_with_the_hardware_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let phone = store(tmp.path(), "phone");
    let hw = HwKey::new();
    let device = register(&phone, &p.url, Some(hw.clone())).await;
    assert_eq!(registered_key(&p, &device), hw.hex(), "the platform registered the hardware key");

    let sub = Submission {
        item_codes: vec![item_code(&p)],
        title: "个体工商户登记".into(),
        values: json!({ "name": "李四" }),
        ..Default::default()
    };
    let case = cases::submit(&phone, SELF_SUBJECT, &sub).expect("submit");
    // The runner the shells start: it opens its own wallet for the issuance; nobody hands it a signer.
    let runner = SyncRunner::new(phone.clone(), fast(&p.url), Arc::new(NoListener)).expect("runner");
    assert_eq!(runner.run_once().await.receipts, 1);
    let pid = cases::get(&phone, &case.id).expect("case").platform_id.expect("platform id");
    clerk(&p.url, "accept", &pid, json!({})).await;
    clerk(&p.url, "approve", &pid, json!({ "result": "准予登记", "licence": business_licence_offer() })).await;
    let before = hw.signed();
    let r = runner.run_once().await;
    let c = cases::get(&phone, &case.id).expect("case");
    assert_eq!(r.licences_imported, 1, "{r:?}; delivery: {:?}", c.licence_delivery);
    let Some(LicenceDelivery::Imported { licence_id, .. }) = c.licence_delivery else {
        panic!("licence delivered: {:?}", c.licence_delivery)
    };
    assert!(hw.signed() > before, "the proof of possession was signed by the hardware key");

    // The licence is bound to the hardware key: a presentation signed by it verifies at another phone.
    let wallet = Wallet::open(phone.clone()).expect("wallet");
    assert_eq!(wallet.device_public_key(), hw.public_key());
    let client = PlatformClient::new(&p.url).expect("client");
    client.refresh_wallet_lists(&wallet).await.expect("lists");
    let now = chrono::Utc::now().timestamp();
    let shown = wallet.present(&licence_id, &Preset::Full, None, now).expect("present");
    let verifier_wallet = Wallet::open(store(tmp.path(), "verifier")).expect("verifier");
    client.refresh_wallet_lists(&verifier_wallet).await.expect("lists");
    let policy = Policy { accepted_purposes: vec![shown.purpose.clone()], ..Policy::default() };
    let v = verifier_wallet.verifier().expect("verifier").verify(&shown.qr_text, now + 2, &policy).expect("verified");
    assert_eq!(v.licence_type, LicenceType::BusinessLicence);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_phones_transfer_signature_is_the_hardware_keys_and_the_platform_moves_the_person() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let old = store(tmp.path(), "old");
    let hw = HwKey::new();
    let origin = register(&old, &p.url, Some(hw.clone())).await;

    // The new phone has a hardware key too: the request it shows carries that key, not a software key made
    // for the occasion (which the new phone's registration would then have registered instead).
    let new = store(tmp.path(), "new");
    let hw_new = HwKey::new();
    let new_wallet = Wallet::with_platform_signer(new.clone(), hw_new.clone()).expect("wallet");
    let request = rebind::transfer_request_text(&new).expect("request");
    assert_eq!(request, format!("{}{}", rebind::REQUEST_PREFIX, hw_new.hex()));
    let new_device = register(&new, &p.url, Some(hw_new.clone())).await;
    assert_eq!(registered_key(&p, &new_device), hw_new.hex());

    // The old phone signs the hand-over with its hardware key (the screens call sign_transfer_text).
    let before = hw.signed();
    let text = rebind::sign_transfer_text(&old, &request).expect("the old phone signs");
    assert_eq!(hw.signed(), before + 1);
    let signed = rebind::parse_transfer_text(&text).expect("parse");
    assert_eq!(signed.from_device, origin);
    let der = hex::decode(&signed.signature).expect("hex");
    assert!(hw.verifies(&rebind::transfer_tbs(&origin, &hw_new.hex()), &der), "verifies under the registered key");
    assert_eq!(registered_key(&p, &origin), hw.hex());
    let report = client
        .rebind(&new_wallet, &origin, &TransferProof::OldPhoneSignature(signed.signature))
        .await
        .expect("the platform accepts the transfer");
    assert!(report.rebound.is_empty(), "no licences to re-bind: {report:?}");
    // The old registration is gone: its token no longer works.
    let old_wallet = Wallet::open(old.clone()).expect("wallet");
    let r = client.request_licence(&old_wallet, LicenceType::ResidentId, None).await;
    assert!(matches!(r, Err(zhangban_core::Error::Rejected { status: 401, .. })), "{r:?}");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_door_consent_is_signed_by_the_hardware_key_and_the_platform_takes_the_case() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let client = PlatformClient::new(&p.url).expect("client");
    let agent_store = store(tmp.path(), "agent");
    let hw = HwKey::new();
    register(&agent_store, &p.url, Some(hw.clone())).await;
    // Agent mode opens its wallet over the store, as `ZhangbanAgent::new` does.
    let agent = Agent::new(&Wallet::open(agent_store.clone()).expect("wallet"));
    let cert = sync::agent_api::register_agent(&client, &agent, "王帮办", "12110105MB0000001A").await.expect("agent");
    assert_eq!(cert.device_key, hw.public_key(), "the agent's certificate names the hardware key");
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
    let before = hw.signed();
    agent.record_door_consent(&sun.subject, &input).expect("the door consent is signed");
    assert_eq!(hw.signed(), before + 1);
    let mandate = access::load(&agent_store, &sun.subject).expect("load").expect("access").mandate.expect("mandate");
    let signed = hex::decode(&mandate.signed_hex).expect("hex");
    let consent = DoorConsent::verify(&signed, &hw.public_key()).expect("verifies under the agent's registered key");
    assert_eq!(consent.principal_id_number, "110105193805200031");
    // The platform takes the principal's case on that consent.
    let cert_hex = hex::encode(
        zhangban_core::agent::AgentCertificate::from_text(&agent.certificate_text().expect("cert")).expect("cert"),
    );
    let token = sync::registration(&agent_store).expect("reg").expect("registered").token;
    let body = json!({
        "client_ref": "door-hw-1", "item_codes": ["MZ-002"], "title": "高龄津贴申领", "values": {},
        "proxy": { "certificate": cert_hex, "assurance": "door", "mandate": mandate.signed_hex },
    });
    let answer: Value =
        client.post_json("/v1/cases", &body, Some(&token), Some("door-hw-key-1")).await.expect("the agent's case");
    assert!(answer["receipt"].as_str().is_some_and(|r| !r.is_empty()), "{answer}");
    p.stop().await;
}

#[tokio::test]
async fn without_the_hardware_key_in_this_process_a_platform_key_store_refuses_typed() {
    // A process that never got the platform's key (a second store object over the same files, as a
    // background task opened without the shell) must not sign with a key of its own.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("v.key")).expect("vault"));
    let first = Arc::new(Store::create(&dir.join("s"), vault.clone(), None).expect("store"));
    let hw = HwKey::new();
    let w = Wallet::with_platform_signer(first.clone(), hw.clone()).expect("wallet");
    assert_eq!(w.device_public_key(), hw.public_key());
    drop((w, first));
    let again = Arc::new(Store::open(&dir.join("s"), vault).expect("open"));
    let e = Wallet::open(again.clone()).expect("reads").prove_possession(&[1; 32]).expect_err("refused");
    assert!(matches!(&e, zhangban_core::Error::Validation { field, .. } if field == "device_key"), "{e:?}");
    assert_eq!(hw.signed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_shows_and_registers_its_hardware_key_when_the_request_comes_first() {
    // The new phone's first screen after a restore is the transfer request, before any wallet or registration:
    // it must show the hardware key the session holds. Before ADR 0035 `device_public_key` made a software key
    // here, and the registration that followed then registered that software key instead.
    let tmp = tempfile::tempdir().expect("tmp");
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await.expect("sandbox");
    let new = store(tmp.path(), "new");
    let hw = HwKey::new();
    new.offer_device_signer(hw.clone());
    let request = rebind::transfer_request_text(&new).expect("request");
    assert_eq!(request, format!("{}{}", rebind::REQUEST_PREFIX, hw.hex()));
    let device = register(&new, &p.url, None).await;
    assert_eq!(registered_key(&p, &device), hw.hex(), "the platform registered the key the request showed");
    assert!(hw.signed() >= 1, "the registration challenge was signed by the hardware key");
    p.stop().await;
}
