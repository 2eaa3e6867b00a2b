//! The wallet against the real sandbox issuer over HTTP: device-bound issuance (and its refusals),
//! a presentation rendered as a QR image and decoded back with a real QR decoder (rqrr), and offline
//! verification by a separate verifier store.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use zhangban_core::store::{FileVault, Store};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{qr, ElementValue, LicenceSummary, LicenceType, Policy, Preset, Wallet};
use zhangban_sandbox::server;

fn wallet(dir: &std::path::Path) -> Wallet {
    std::fs::create_dir_all(dir).unwrap();
    let vault = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    Wallet::open(Arc::new(Store::create(&dir.join("store"), vault, None).unwrap())).unwrap()
}

async fn register(client: &PlatformClient, w: &Wallet) -> String {
    let info = DeviceInfo {
        public_key: sync::device_key(w.store()).unwrap().public_key_hex(),
        platform: "android".into(),
        model: "test".into(),
        app_version: "0.1.0".into(),
    };
    client.register_device(w.store(), &info).await.unwrap().token
}

fn resident() -> BTreeMap<String, ElementValue> {
    [
        ("name", "李四"),
        ("sex", "男"),
        ("ethnicity", "回"),
        ("birth_date", "1988-02-29"),
        ("address", "北京市海淀区中关村大街1号"),
        ("id_number", "110108198802290010"),
        ("issuing_authority", "北京市公安局海淀分局"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ElementValue::Text(v.to_string())))
    .collect()
}

/// A registered holder (its wallet under `dir/holder`) enrolled as the sandbox's resident, with the resident
/// ID licence it requested from the platform.
async fn holder_with_licence(
    dir: &std::path::Path,
    running: &server::Running,
) -> (PlatformClient, Wallet, LicenceSummary) {
    let client = PlatformClient::new(&running.url).unwrap();
    let holder = wallet(&dir.join("holder"));
    register(&client, &holder).await;
    zhangban_sandbox::issuer::enrol_device_of(&running.state, holder.store(), LicenceType::ResidentId, &resident())
        .unwrap();
    let lic = client.request_licence(&holder, LicenceType::ResidentId, None).await.unwrap();
    (client, holder, lic)
}

/// Decodes a QR image with rqrr (a real decoder working on pixels, not on our matrix).
fn decode(image: &qr::QrImage) -> String {
    let (side, px) = image.to_luma(4);
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(side as usize, side as usize, |x, y| px[y * side as usize + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn issue_present_render_decode_and_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let (client, holder, lic) = holder_with_licence(dir.path(), &running).await;
    assert!(lic.licence_id.starts_with("1.2.156.3005.2.11100000000000001M001.11110000000019001J."));

    // The verifier fetched its lists earlier; then the platform goes away.
    let verifier_wallet = wallet(&dir.path().join("verifier"));
    client.refresh_wallet_lists(&verifier_wallet).await.unwrap();
    running.stop().await;
    let verifier = verifier_wallet.verifier().unwrap();

    let now = chrono::Utc::now().timestamp();
    for preset in [Preset::HotelCheckIn, Preset::AgeCheck, Preset::Full] {
        let p = holder.present(&lic.licence_id, &preset, None, now).unwrap();
        let image = qr::render(&p.qr_text).unwrap();
        let decoded = decode(&image);
        assert_eq!(decoded, p.qr_text, "{preset:?}");
        let policy = Policy { accepted_purposes: vec![p.purpose.clone()], ..Policy::default() };
        let v = verifier.verify(&decoded, now + 3, &policy).unwrap();
        assert_eq!(v.disclosed.iter().map(|d| d.key.clone()).collect::<Vec<_>>(), p.disclosed);
        assert_eq!(v.issuer.name_zh, "北京市公安局");
    }
    // The SVG is a real image of the same code (its dark modules are drawn as rects or a path).
    let p = holder.present(&lic.licence_id, &Preset::HotelCheckIn, None, now).unwrap();
    let image = qr::render(&p.qr_text).unwrap();
    assert!(image.svg.contains("<svg") && image.svg.len() > 1000);
}

#[tokio::test]
async fn issuance_is_bound_to_the_registered_device() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let w = wallet(&dir.path().join("a"));
    let token = register(&client, &w).await;
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{}", running.url, path)).bearer_auth(&token).json(&body).send()
    };
    let nonce = |r: serde_json::Value| r["nonce"].as_str().unwrap().to_string();

    // A valid proof with someone else's key: refused (not the registered key).
    let other = zhangban_core::wallet::SoftwareKey::generate().unwrap();
    let n = nonce(post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap());
    let nb = hex::decode(&n).unwrap();
    use zhangban_core::wallet::DeviceSigner;
    let proof = other.sign(&zhangban_core::wallet::issue::possession_tbs(&nb, &other.public_key())).unwrap();
    let body = json!({ "licence_type": "resident_id", "device_key": hex::encode(other.public_key()),
                       "nonce": n, "proof": hex::encode(proof) });
    let r = post("/v1/licences/issue", body).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "device_key_mismatch");

    // The registered key but a proof over another nonce: refused.
    let n = nonce(post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap());
    let bad = w.prove_possession(&[9u8; 32]).unwrap();
    let body = |n: &str, proof: &[u8]| {
        json!({ "licence_type": "resident_id", "device_key": hex::encode(w.device_public_key()),
                "nonce": n, "proof": hex::encode(proof) })
    };
    let r = post("/v1/licences/issue", body(&n, &bad)).await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "proof_invalid");
    // The nonce was spent by that attempt: a correct proof over it is refused too.
    let good = w.prove_possession(&hex::decode(&n).unwrap()).unwrap();
    let r = post("/v1/licences/issue", body(&n, &good)).await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "nonce_invalid");
    // A fresh nonce with a correct proof: issued, and the licence imports (all import checks pass).
    let n = nonce(post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap());
    let good = w.prove_possession(&hex::decode(&n).unwrap()).unwrap();
    let r: serde_json::Value = post("/v1/licences/issue", body(&n, &good)).await.unwrap().json().await.unwrap();
    client.refresh_wallet_lists(&w).await.unwrap();
    let s = w.import(&hex::decode(r["licence"].as_str().unwrap()).unwrap(), chrono::Utc::now().timestamp()).unwrap();
    assert_eq!(s.licence_type, LicenceType::ResidentId);
    // A bad ID number in the register is refused by the issuer, naming the field.
    let mut e = resident();
    e.insert("id_number".into(), ElementValue::Text("110108198802290015".into()));
    zhangban_sandbox::issuer::enrol_device_of(&running.state, w.store(), LicenceType::ResidentId, &e).unwrap();
    let n = nonce(post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap());
    let good = w.prove_possession(&hex::decode(&n).unwrap()).unwrap();
    let r: serde_json::Value = post("/v1/licences/issue", body(&n, &good)).await.unwrap().json().await.unwrap();
    assert!(r["message"].as_str().unwrap().contains("elements.id_number"), "{r}");
    running.stop().await;
}

/// Issue 10, finding 2: the holder must not choose the contents of its own licence.
#[tokio::test]
async fn attack_the_holder_cannot_choose_its_licence_contents() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let w = wallet(&dir.path().join("a"));
    let token = register(&client, &w).await;
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{}", running.url, path)).bearer_auth(&token).json(&body).send()
    };
    // The forger asks for a business licence of a company it made up, and a resident ID with another name.
    let forged =
        json!({ "uscc": "91350100M000100Y43", "company_name": "伪造有限公司", "legal_representative": "李四" });
    for (t, elements) in [("business_licence", forged), ("resident_id", json!({ "name": "李四" }))] {
        let n: serde_json::Value = post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap();
        let n = n["nonce"].as_str().unwrap().to_string();
        let proof = w.prove_possession(&hex::decode(&n).unwrap()).unwrap();
        let body = json!({ "licence_type": t, "elements": elements, "device_key": hex::encode(w.device_public_key()),
                           "nonce": n, "proof": hex::encode(proof) });
        let r = post("/v1/licences/issue", body).await.unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(v.get("licence").is_none(), "{t}: the platform signed what the holder sent: {v}");
        assert!((400..500).contains(&status), "{t}: {status} {v}");
    }
    // Without a case, only what the register holds for this person; a type it holds no record of: refused.
    client.refresh_wallet_lists(&w).await.unwrap();
    let lic = client.request_licence(&w, LicenceType::ResidentId, None).await.unwrap();
    let detail = w.licence(&lic.licence_id, chrono::Utc::now().timestamp()).unwrap();
    let name = detail.elements.iter().find(|e| e.key == "name").map(|e| e.display.clone());
    assert_eq!(name.as_deref(), Some("张三"), "the register's person, not the requester's choice");
    let e = client.request_licence(&w, LicenceType::BusinessLicence, None).await.unwrap_err();
    assert!(matches!(e, zhangban_core::Error::Rejected { status: 403, .. }), "{e:?}");
    // Another device's case id is not this device's approved case.
    let e = client.request_licence(&w, LicenceType::BusinessLicence, Some("no-such-case")).await.unwrap_err();
    assert!(matches!(e, zhangban_core::Error::Rejected { status: 403, .. }), "{e:?}");
    running.stop().await;
}

/// Grant revocations have no queue of their own: they wait in the one outbox with the cases' operations
/// and the sync runner sends them (offline → kept, retried; online → sent once), including a revocation
/// an older version queued in its own collection (moved over with the key it may have been sent with).
#[tokio::test]
async fn grant_revocations_go_out_through_the_one_outbox_exactly_once() {
    use zhangban_core::notify::NoListener;
    use zhangban_core::outbox;
    use zhangban_core::store::{PutOptions, SELF_SUBJECT};
    use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
    use zhangban_core::wallet::{DeviceSigner, GrantExpiry, SoftwareKey, LEGACY_OUTBOX_COLLECTION};

    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let (client, holder, lic) = holder_with_licence(dir.path(), &running).await;
    let now = chrono::Utc::now().timestamp();
    let rk = SoftwareKey::generate().unwrap().public_key();
    let g = holder.grant(&lic.licence_id, &Preset::Full, "街道办", &rk, "核验", GrantExpiry::Default, now).unwrap();
    holder.revoke_grant(&g.grant_id, now + 1).unwrap();
    // What an older version left queued in its own collection.
    let old_id = "00112233445566778899aabbccddeeff";
    let legacy = json!({ "kind": "grant.revoke", "grant_id": old_id, "licence_id": lic.licence_id, "at": now });
    holder
        .store()
        .transaction(|t| {
            t.put(
                LEGACY_OUTBOX_COLLECTION,
                &format!("grant-revoke-{old_id}"),
                SELF_SUBJECT,
                &serde_json::to_vec(&legacy).unwrap(),
                PutOptions { tag: Some("pending"), lookup: None },
            )
        })
        .unwrap();
    assert_eq!(holder.pending_revocations().unwrap().len(), 2);

    // Offline: nothing lost, the attempt recorded on the queued operation.
    let mut cfg = SyncConfig::new("http://127.0.0.1:9");
    cfg.run_budget = std::time::Duration::from_secs(5);
    let offline = SyncRunner::new(holder.store().clone(), cfg, Arc::new(NoListener)).unwrap();
    let r = offline.run_once().await;
    assert!(r.offline && r.sent == 0, "{r:?}");
    let queued = outbox::pending(holder.store()).unwrap();
    assert_eq!(queued.len(), 2, "both revocations in the one outbox");
    assert!(queued.iter().all(|o| o.kind == outbox::OpKind::RevokeGrant));
    assert!(queued.iter().any(|o| o.attempts > 0 && o.last_error.is_some()), "{queued:?}");

    // Online: both sent, in one run, and the recipient's next update refuses the grant.
    let online = SyncRunner::new(holder.store().clone(), SyncConfig::new(&running.url), Arc::new(NoListener)).unwrap();
    let r = online.run_once().await;
    assert_eq!((r.sent, r.receipts, r.quarantined), (2, 0, 0), "{r:?}");
    assert!(holder.pending_revocations().unwrap().is_empty());
    let revoked: Vec<String> = client.revoked_grants().await.unwrap().into_iter().map(|r| r.grant_id).collect();
    assert!(revoked.contains(&g.grant_id) && revoked.contains(&old_id.to_string()), "{revoked:?}");
    let again = online.run_once().await;
    assert_eq!(again.sent, 0, "sent once: {again:?}");
    running.stop().await;
}

/// Issue 10, finding 15: a device that learned a grant id (the recipient, or anyone the grant text was shown
/// to) cannot revoke someone else's grant. Its claim reaches the platform's list but the recipient ignores it
/// (not signed by the grant's key); the holder's own revocation, signed and sent by its sync, is honoured.
/// (Before: the platform listed any device's grant id and the recipient refused every listed grant.)
#[tokio::test]
async fn attack_a_stranger_cannot_revoke_a_grant() {
    use zhangban_core::notify::NoListener;
    use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
    use zhangban_core::wallet::{revocation_tbs, DeviceSigner, GrantExpiry, SoftwareKey};

    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let holder = wallet(&dir.path().join("holder"));
    register(&client, &holder).await;
    zhangban_sandbox::issuer::enrol_device_of(&running.state, holder.store(), LicenceType::ResidentId, &resident())
        .unwrap();
    let lic = client.request_licence(&holder, LicenceType::ResidentId, None).await.unwrap();
    let recipient = wallet(&dir.path().join("recipient"));
    register(&client, &recipient).await;
    client.refresh_wallet_lists(&recipient).await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let g = holder
        .grant(
            &lic.licence_id,
            &Preset::Full,
            "街道办",
            &recipient.device_public_key(),
            "核验",
            GrantExpiry::Default,
            now,
        )
        .unwrap();

    // The stranger: a registered device with its own token, knowing the grant id.
    let stranger = wallet(&dir.path().join("stranger"));
    let token = register(&client, &stranger).await;
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let own_key = SoftwareKey::generate().unwrap();
    let sig = hex::encode(own_key.sign(&revocation_tbs(&hex::decode(&g.grant_id).unwrap())).unwrap());
    for body in [json!({ "grant_id": g.grant_id }), json!({ "grant_id": g.grant_id, "signature": sig })] {
        let _ = http.post(format!("{}/v1/grants/revoke", running.url)).bearer_auth(&token).json(&body).send().await;
    }
    let mut gv = recipient.grant_verifier().unwrap();
    let listed = client.revoked_grants().await.unwrap();
    gv.set_revocations(&listed);
    let outcome = gv.verify(&g.text, now, &Policy::default());
    assert!(outcome.is_ok(), "a stranger revoked the grant: {outcome:?} (listed: {listed:?})");

    // The holder revokes; its next sync sends the signed revocation; the recipient's next update refuses.
    holder.revoke_grant(&g.grant_id, now + 1).unwrap();
    let runner = SyncRunner::new(holder.store().clone(), SyncConfig::new(&running.url), Arc::new(NoListener)).unwrap();
    assert_eq!(runner.run_once().await.sent, 1);
    gv.set_revocations(&client.revoked_grants().await.unwrap());
    assert_eq!(gv.verify(&g.text, now, &Policy::default()).unwrap_err().code(), "grant_revoked");
    running.stop().await;
}

/// Issue 10, finding 15: one person cannot use up the platform's status indices (each issued licence takes
/// one, and a full status list means no licence for anyone). The attacker has three phones, each registered
/// (the sandbox's stand-in for the real-name check makes each the sample resident: one person), and asks for
/// its resident ID card again and again; then another person asks for theirs.
#[tokio::test]
async fn attack_one_person_cannot_use_up_the_status_list() {
    let dir = tempfile::tempdir().unwrap();
    // A small list that cannot grow, so the test reaches its end quickly (the default starts at 16,384
    // licences and grows to 1,048,576).
    let config = server::Config { status_list_size: 64, status_list_max: 64, ..server::Config::default() };
    let running = server::start("127.0.0.1:0", None, config).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let (mut issued, mut refused) = (0, 0);
    for phone in 0..8 {
        let w = wallet(&dir.path().join(format!("attacker-{phone}")));
        register(&client, &w).await;
        for _ in 0..10 {
            match client.request_licence(&w, LicenceType::ResidentId, None).await {
                Ok(_) => issued += 1,
                // 429: the phone retries later (the core's `Network`), it is not told "never".
                Err(zhangban_core::Error::Network(m)) if m.contains("429") && m.contains("24") => refused += 1,
                Err(e) => panic!("a refusal must be the quota's answer (429), not {e:?}"),
            }
        }
    }
    let per_person = zhangban_sandbox::issuer::LICENCES_PER_PERSON_PER_DAY as usize;
    // Each phone got its own bound for the type (the first licence and three re-issues) until the person's
    // bound was reached.
    assert_eq!(issued, per_person, "one person took {issued} status indices (at most {per_person} a day)");
    assert_eq!(issued + refused, 80);
    // Another person still gets their licence.
    let client2 = PlatformClient::new(&running.url).unwrap();
    let holder = wallet(&dir.path().join("holder"));
    register(&client2, &holder).await;
    zhangban_sandbox::issuer::enrol_device_of(&running.state, holder.store(), LicenceType::ResidentId, &resident())
        .unwrap();
    let r = client2.request_licence(&holder, LicenceType::ResidentId, None).await;
    assert!(r.is_ok(), "another person gets a licence after the flood: {r:?}");
    running.stop().await;
}

/// Issue 10, finding 15 (the rest): the status list grows with the people the platform serves. Before, the list
/// covered a fixed number of indices (16,384 in the sandbox) and the next person after them got `503
/// status_list_full` for good: a platform with more real people than that could issue nothing more. Now the list
/// starts at the configured size and doubles as indices are taken, up to the largest list a phone accepts
/// (`MAX_STATUS_BITS`, or the configured cap); a verifier whose cached list predates a new licence's index is told
/// its list is out of range (not "valid", not "revoked") and is right again after its next sync. (Past a full
/// list the next licence goes to the next shard: `licences_past_a_full_shard_go_to_the_next_and_revoke_there`;
/// here the platform has one shard, so its end is the platform's.)
#[tokio::test]
async fn attack_more_people_than_the_first_list_still_get_licences() {
    let dir = tempfile::tempdir().unwrap();
    // A small first list and a small cap, so the test crosses both quickly.
    let config =
        server::Config { status_list_size: 16, status_list_max: 64, status_lists_max: 1, ..server::Config::default() };
    let running = server::start("127.0.0.1:0", None, config).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    // A verifier syncs while the list is still its first size.
    let verifier = wallet(&dir.path().join("verifier"));
    client.refresh_wallet_lists(&verifier).await.unwrap();
    let mut last = None;
    for person in 0..64u32 {
        let w = wallet(&dir.path().join(format!("person-{person}")));
        register(&client, &w).await;
        // A different real person each time (distinct, valid ID numbers; odd sequence: 男).
        let first17 = format!("11010819880229{:03}", 2 * person + 1);
        let id = format!("{first17}{}", zhangban_core::ids::id_number_check_char(&first17).unwrap());
        let mut elements = resident();
        elements.insert("id_number".into(), ElementValue::Text(id));
        zhangban_sandbox::issuer::enrol_device_of(&running.state, w.store(), LicenceType::ResidentId, &elements)
            .unwrap();
        let r = client.request_licence(&w, LicenceType::ResidentId, None).await;
        let lic = r.unwrap_or_else(|e| panic!("person {person} of 64 got no licence: {e:?}"));
        last = Some((w, lic));
    }
    // The 65th person meets the cap: a typed 503, no index taken.
    let w = wallet(&dir.path().join("person-64"));
    register(&client, &w).await;
    let first17 = "11010819880229999";
    let id = format!("{first17}{}", zhangban_core::ids::id_number_check_char(first17).unwrap());
    let mut elements = resident();
    elements.insert("id_number".into(), ElementValue::Text(id));
    zhangban_sandbox::issuer::enrol_device_of(&running.state, w.store(), LicenceType::ResidentId, &elements).unwrap();
    match client.request_licence(&w, LicenceType::ResidentId, None).await {
        Err(zhangban_core::Error::Network(m)) => assert!(m.contains("503"), "{m}"),
        other => panic!("past the cap: {other:?}"),
    }
    // The list now covers every index taken, and the signed list a phone fetches says so.
    let sl = zhangban_sandbox::issuer::status_list(&running.state).unwrap();
    assert_eq!(sl.size, 64);

    // The last person presents to the verifier whose list is from before: out of range, not valid.
    let (holder, lic) = last.unwrap();
    client.refresh_wallet_lists(&holder).await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let p = holder.present(&lic.licence_id, &Preset::HotelCheckIn, None, now).unwrap();
    let policy = Policy { accepted_purposes: vec![p.purpose.clone()], ..Policy::default() };
    let stale = verifier.verifier().unwrap().verify(&p.qr_text, now + 1, &policy);
    assert_eq!(stale.unwrap_err().code(), "status_index_out_of_range");
    client.refresh_wallet_lists(&verifier).await.unwrap();
    let fresh = verifier.verifier().unwrap().verify(&p.qr_text, now + 1, &policy);
    assert!(fresh.is_ok(), "after its sync the verifier's list covers the new licence: {fresh:?}");
    running.stop().await;
}

/// A registered phone of the sample resident (one person: the quotas allow 20 licences a day) with its resident
/// ID licence.
async fn phone_with_licence(dir: &std::path::Path, name: &str, running: &server::Running) -> (Wallet, LicenceSummary) {
    let client = PlatformClient::new(&running.url).unwrap();
    let w = wallet(&dir.join(name));
    register(&client, &w).await;
    zhangban_sandbox::issuer::enrol_device_of(&running.state, w.store(), LicenceType::ResidentId, &resident()).unwrap();
    let lic = client
        .request_licence(&w, LicenceType::ResidentId, None)
        .await
        .unwrap_or_else(|e| panic!("{name} got no licence: {e:?}"));
    (w, lic)
}

/// Issue 10, finding 15 (the rest; ADR 0039): a province issues more licences than one status list holds (the
/// most a phone accepts). Before, the licence after the list's cap was refused (`503 status_list_full`) for
/// good. Now the platform opens the next shard: the licence names it, the platform serves each shard
/// (`GET /v1/status-lists`, `/v1/status-lists/{id}`), a revocation flips the bit in the licence's own shard, the
/// holder's phone fetches its own shards and a verifier every shard; one that holds only shard 0 says
/// "status unknown" for a licence of shard 1, never "valid".
#[tokio::test]
async fn licences_past_a_full_shard_go_to_the_next_and_revoke_there() {
    let dir = tempfile::tempdir().unwrap();
    // Shards of two licences each, so the third licence is the first of shard 1.
    let config = server::Config { status_list_size: 2, status_list_max: 2, ..server::Config::default() };
    let running = server::start("127.0.0.1:0", None, config).await.unwrap();
    let (a, lic_a) = phone_with_licence(dir.path(), "a", &running).await;
    let (b, _) = phone_with_licence(dir.path(), "b", &running).await;
    // Main refused this one: "503 status_list_full".
    let (c, lic_c) = phone_with_licence(dir.path(), "c", &running).await;
    let d = wallet(&dir.path().join("d"));
    let client = PlatformClient::new(&running.url).unwrap();

    // The platform publishes two shards; the old route is shard 0.
    let index: serde_json::Value = client.get_json("/v1/status-lists", None).await.unwrap();
    let ids: Vec<u64> = index["lists"].as_array().unwrap().iter().map(|l| l["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [0, 1]);
    let old: serde_json::Value = client.get_json("/v1/status-list", None).await.unwrap();
    assert_eq!(old["list_id"], 0);
    match client.get_json::<serde_json::Value>("/v1/status-lists/2", None).await {
        Err(zhangban_core::Error::Rejected { status: 404, .. }) => {}
        other => panic!("a shard not in use: {other:?}"),
    }

    // Presentations made now (each phone shows its licence), verified after the revocation.
    let now = chrono::Utc::now().timestamp();
    let show = |w: &Wallet, l: &LicenceSummary| w.present(&l.licence_id, &Preset::HotelCheckIn, None, now).unwrap();
    let (p_a, p_c) = (show(&a, &lic_a), show(&c, &lic_c));
    let p_a2 = show(&a, &lic_a);
    let p_c2 = show(&c, &lic_c);

    // c held only list 0 when it asked (fetched before it had a licence): the issuance fetched its licence's
    // shard at once, so its new licence is "valid", not "status not refreshed".
    let status = |w: &Wallet| w.licences(chrono::Utc::now().timestamp()).unwrap()[0].status;
    assert_eq!(lic_c.status, zhangban_core::wallet::LicenceStatus::Valid);
    assert!(c.status_list_of(1).unwrap().is_some());
    assert!(zhangban_core::remind::home(c.store()).unwrap().status_list_age_secs.is_some());

    // The department revokes the licence of shard 1.
    assert!(zhangban_sandbox::issuer::revoke_licence(&running.state, &lic_c.licence_id).unwrap());
    assert_eq!(zhangban_sandbox::issuer::status_list_of(&running.state, 1).unwrap().is_revoked(0), Some(true));
    assert_eq!(zhangban_sandbox::issuer::status_list(&running.state).unwrap().is_revoked(0), Some(false));

    // The holders refresh (their own shards): c sees its licence revoked, a and b theirs valid.
    for w in [&a, &b, &c] {
        client.refresh_wallet_lists(w).await.unwrap();
    }
    assert_eq!(status(&c), zhangban_core::wallet::LicenceStatus::Revoked);
    assert_eq!(status(&a), zhangban_core::wallet::LicenceStatus::Valid);
    assert_eq!(status(&b), zhangban_core::wallet::LicenceStatus::Valid);
    assert!(a.status_list_of(1).unwrap().is_none(), "a holder fetches only the shards of its licences");
    assert_eq!(c.status_lists().unwrap().len(), 2);
    assert!(c.cache_info(now).unwrap().status_age_secs.is_some());

    // A verifier refreshes every shard: shard 1's licence is revoked, shard 0's valid.
    let policy = Policy { accepted_purposes: vec![p_a.purpose.clone()], ..Policy::default() };
    client.refresh_lists_for(&d, sync::StatusScope::EveryShard).await.unwrap();
    assert_eq!(d.status_lists().unwrap().len(), 2);
    let v = d.verifier().unwrap();
    assert_eq!(v.verify(&p_c.qr_text, now + 1, &policy).unwrap_err().code(), "revoked");
    let ok = v.verify(&p_a.qr_text, now + 1, &policy);
    assert!(ok.is_ok(), "shard 0's licence stays valid: {ok:?}");

    // A phone holding only shard 0 (a holder's refresh with no licence of shard 1): status unknown, never valid.
    let e = wallet(&dir.path().join("e"));
    client.refresh_wallet_lists(&e).await.unwrap();
    assert!(e.status_list_of(1).unwrap().is_none());
    let ve = e.verifier().unwrap();
    assert_eq!(ve.verify(&p_c2.qr_text, now + 1, &policy).unwrap_err().code(), "status_unknown");
    assert!(ve.verify(&p_a2.qr_text, now + 1, &policy).is_ok());
    running.stop().await;
}

/// The home's "status list updated … ago" (and the licence's status) are those of the licence's own shard: a
/// phone holding list 0 but not its licence's list 1 shows the age as unknown and the licence as "status not
/// refreshed", never list 0's age and "valid" (ADR 0039). Lists signed by the sandbox's root, as a platform's.
#[test]
fn the_home_s_status_list_age_is_that_of_the_licence_s_own_shard() {
    use zhangban_core::wallet::format::ALG_ES256;
    use zhangban_core::wallet::issue::{issue_licence, text_elements, with_derived, LicenceRequest, SAMPLE_RESIDENT};
    use zhangban_core::wallet::{DeviceSigner, LicenceStatus, SoftwareKey, StatusList, TrustEntry, TrustList};
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path());
    let now = w.store().now();
    let root = zhangban_sandbox::issuer::root_key().unwrap();
    let issuer = SoftwareKey::generate().unwrap();
    let uscc = "11110000000019001J";
    let trust = TrustList {
        sequence: 1,
        issued_at: now - 60,
        entries: vec![TrustEntry {
            kid: issuer.key_id(),
            alg: ALG_ES256,
            public_key: issuer.public_key(),
            issuer_uscc: uscc.into(),
            name_zh: "北京市公安局".into(),
            name_en: "Beijing PSB".into(),
            types: vec![LicenceType::ResidentId.code().into()],
            valid_from: now - 86400,
            valid_until: now + 3650 * 86400,
            withdrawn: false,
        }],
    };
    w.update_trust_list(&trust.sign(|m| root.sign(m)).unwrap(), now).unwrap();
    w.update_status_list(&StatusList::new(1, now - 600, 1024).sign(|m| root.sign(m)).unwrap(), now).unwrap();
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: uscc.into(),
        serial: "00000042".into(),
        version: "1".into(),
        elements: with_derived(LicenceType::ResidentId, text_elements(&SAMPLE_RESIDENT), now),
        device_key: w.device_public_key(),
        valid_from: now - 86400,
        valid_until: now + 3650 * 86400,
        status_index: zhangban_core::wallet::trust::MAX_STATUS_BITS + 5,
    };
    let l = issue_licence(&req, &issuer.key_id(), &issuer).unwrap();
    assert_eq!(w.import(&l.encode(), now).unwrap().status, LicenceStatus::StatusStale);
    let home = zhangban_core::remind::home(w.store()).unwrap();
    assert_eq!(home.status_list_age_secs, None, "list 0's age is not the licence's");
    w.update_status_list(&StatusList::shard(1, 1, now - 120, 64).sign(|m| root.sign(m)).unwrap(), now).unwrap();
    assert_eq!(w.licences(now).unwrap()[0].status, LicenceStatus::Valid);
    let home = zhangban_core::remind::home(w.store()).unwrap();
    assert_eq!(home.status_list_age_secs, Some(120), "the licence's own list's age, not list 0's (600 s)");
}
