//! The core's platform client against the real sandbox server, over HTTP on loopback.

use std::sync::Arc;

use serde_json::json;
use zhangban_core::store::{FileVault, Store};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::Error;
use zhangban_sandbox::{catalog, server};

fn store(dir: &std::path::Path) -> Store {
    let vault = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    Store::create(&dir.join("store"), vault, None).unwrap()
}

fn info(store: &Store) -> DeviceInfo {
    DeviceInfo {
        public_key: sync::device_key(store).unwrap().public_key_hex(),
        platform: "android".into(),
        model: "test".into(),
        app_version: "0.1.0".into(),
    }
}

#[tokio::test]
async fn register_fetch_catalog_and_follow_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let s = store(dir.path());

    assert_eq!(client.health().await.unwrap()["status"], "ok");
    let reg = client.register_device(&s, &info(&s)).await.unwrap();
    assert_eq!(sync::registration(&s).unwrap(), Some(reg.clone()));
    // A retried registration (same key) keeps the device id and rotates the token.
    let again = client.register_device(&s, &info(&s)).await.unwrap();
    assert_eq!(again.device_id, reg.device_id);
    assert_ne!(again.token, reg.token);

    let u = client.fetch_catalog(&s).await.unwrap();
    assert_eq!((u.version, u.previous_version, u.up_to_date), (catalog::SEED_VERSION, 0, false));
    let seed = catalog::seed_items();
    assert_eq!(u.items, seed.as_array().unwrap().len());
    let first_id = seed[0]["id"].as_str().unwrap();
    assert_eq!(s.get_json::<serde_json::Value>(zhangban_core::catalog::CATALOG_COLLECTION, first_id).unwrap(), seed[0]);
    assert_eq!(zhangban_core::catalog::catalog_version(&s).unwrap(), catalog::SEED_VERSION);
    assert!(client.fetch_catalog(&s).await.unwrap().up_to_date);

    // The platform publishes a new version that drops one item and adds another: the local copy follows.
    let new_items = json!([seed[1].clone(), {"id": "new-9", "name_zh": "新事项"}]);
    let v2 = running.state.with_db(|c| catalog::publish(c, &new_items)).unwrap();
    let u2 = client.fetch_catalog(&s).await.unwrap();
    assert_eq!((u2.version, u2.previous_version, u2.items, u2.up_to_date), (v2, catalog::SEED_VERSION, 2, false));
    let ids: Vec<String> =
        s.list(zhangban_core::catalog::CATALOG_COLLECTION, None).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"new-9".to_string()) && !ids.contains(&first_id.to_string()));
    running.stop().await;
}

#[tokio::test]
async fn bad_registrations_are_rejected_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let s = store(dir.path());
    let mut bad = info(&s);
    bad.platform = "symbian".into();
    match client.register_device(&s, &bad).await {
        Err(Error::Rejected { status: 400, message }) => assert!(message.contains("platform"), "{message}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let mut bad = info(&s);
    bad.public_key = "<script>".into();
    match client.register_device(&s, &bad).await {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "public_key"),
        other => panic!("a key that is not the device's own is refused before sending: {other:?}"),
    }
    assert!(sync::registration(&s).unwrap().is_none(), "nothing stored on a refusal");

    // Oversized and malformed bodies, straight over HTTP.
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let huge = json!({ "public_key": "a".repeat(100_000), "platform": "ios" });
    let r = http.post(format!("{}/v1/devices", running.url)).json(&huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = http
        .post(format!("{}/v1/devices", running.url))
        .header("content-type", "application/json")
        .body("{\"public_key\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http.get(format!("{}/v1/catalog?since_version=abc", running.url)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http.get(format!("{}/v1/catalog?since_version=-1", running.url)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    running.stop().await;
}

#[tokio::test]
async fn platform_gone_is_a_network_error_and_keeps_local_data() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let url = running.url.clone();
    let s = store(dir.path());
    let client = PlatformClient::new(&url).unwrap();
    client.fetch_catalog(&s).await.unwrap();
    running.stop().await;
    assert!(matches!(client.fetch_catalog(&s).await, Err(Error::Network(_))));
    assert_eq!(zhangban_core::catalog::catalog_version(&s).unwrap(), catalog::SEED_VERSION);
    assert!(!s.list(zhangban_core::catalog::CATALOG_COLLECTION, None).unwrap().is_empty());
}

#[tokio::test]
async fn database_file_keeps_devices_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("platform.db");
    let s = store(dir.path());
    let running = server::start("127.0.0.1:0", Some(&db), server::Config::default()).await.unwrap();
    let reg = PlatformClient::new(&running.url).unwrap().register_device(&s, &info(&s)).await.unwrap();
    running.stop().await;
    let running = server::start("127.0.0.1:0", Some(&db), server::Config::default()).await.unwrap();
    let n: i64 = running
        .state
        .with_db(|c| Ok(c.query_row("SELECT COUNT(*) FROM devices WHERE id = ?1", [&reg.device_id], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 1);
    running.stop().await;
}

async fn challenge(http: &reqwest::Client, url: &str) -> String {
    let v: serde_json::Value =
        http.post(format!("{url}/v1/devices/challenge")).send().await.unwrap().json().await.unwrap();
    v["challenge"].as_str().unwrap().to_string()
}

/// Knowing a device's public key is not enough to register as that device (and take over its token):
/// the registration must be signed with the device's private key over a fresh, single-use challenge.
#[tokio::test]
async fn registration_needs_proof_of_possession_of_the_device_key() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let (vdir, adir) = (dir.path().join("victim"), dir.path().join("attacker"));
    std::fs::create_dir_all(&vdir).unwrap();
    std::fs::create_dir_all(&adir).unwrap();
    let victim = store(&vdir);
    let reg = PlatformClient::new(&running.url).unwrap().register_device(&victim, &info(&victim)).await.unwrap();
    let victim_info = info(&victim);
    let attacker = store(&adir);
    let attacker_key = sync::device_key(&attacker).unwrap();
    let body = |c: &str, sig: &str| {
        json!({ "public_key": victim_info.public_key, "platform": "android", "model": "test",
                "app_version": "0.1.0", "challenge": c, "signature": sig })
    };
    let post = |b: serde_json::Value| http.post(format!("{}/v1/devices", running.url)).json(&b).send();

    // No proof at all: refused, naming what is missing.
    let r = post(json!({ "public_key": victim_info.public_key, "platform": "android" })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("signature"));
    // Signed with another key: refused.
    let c = challenge(&http, &running.url).await;
    let forged = hex::encode(attacker_key.sign(&sync::registration_tbs(&c, &victim_info)).unwrap());
    assert_eq!(post(body(&c, &forged)).await.unwrap().status(), 401);
    // Signed by the device over other values (a model it did not sign): refused.
    let c = challenge(&http, &running.url).await;
    let victim_key = sync::device_key(&victim).unwrap();
    let mut other = victim_info.clone();
    other.model = "something else".into();
    let sig = hex::encode(victim_key.sign(&sync::registration_tbs(&c, &other)).unwrap());
    assert_eq!(post(body(&c, &sig)).await.unwrap().status(), 401);
    // A made-up challenge: refused even with the right key.
    let made_up = "ab".repeat(32);
    let sig = hex::encode(victim_key.sign(&sync::registration_tbs(&made_up, &victim_info)).unwrap());
    assert_eq!(post(body(&made_up, &sig)).await.unwrap().status(), 401);
    // A correct registration works once; replaying it (the same challenge) is refused.
    let c = challenge(&http, &running.url).await;
    let sig = hex::encode(victim_key.sign(&sync::registration_tbs(&c, &victim_info)).unwrap());
    let ok = post(body(&c, &sig)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let rotated: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(rotated["device_id"], json!(reg.device_id));
    assert_eq!(post(body(&c, &sig)).await.unwrap().status(), 401);
    running.stop().await;
}

/// Issue 10, finding 15: registration challenges cannot be used up by anyone. An anonymous caller asks
/// for more challenges than the platform ever kept outstanding (10,000); a real phone still registers at
/// once, and a challenge still registers only once.
#[tokio::test]
async fn attack_registration_challenges_cannot_be_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let mut last = None;
    for _ in 0..10_050 {
        let r = http.post(format!("{}/v1/devices/challenge", running.url)).send().await.unwrap();
        if r.status() == 200 {
            last = r.json::<serde_json::Value>().await.unwrap()["challenge"].as_str().map(str::to_string);
        }
    }
    let s = store(dir.path());
    let reg = PlatformClient::new(&running.url).unwrap().register_device(&s, &info(&s)).await;
    assert!(reg.is_ok(), "a real phone registers after the flood: {reg:?}");
    // A challenge from the flood registers once, then never again; one with a changed byte never.
    let i = info(&s);
    let key = sync::device_key(&s).unwrap();
    let post = |c: &str| {
        let sig = hex::encode(key.sign(&sync::registration_tbs(c, &i)).unwrap());
        http.post(format!("{}/v1/devices", running.url))
            .json(&json!({ "public_key": i.public_key, "platform": i.platform, "model": i.model,
                           "app_version": i.app_version, "challenge": c, "signature": sig }))
            .send()
    };
    let last = last.expect("the flood got challenges");
    let mut forged = last.clone().into_bytes();
    forged[10] = if forged[10] == b'0' { b'1' } else { b'0' };
    assert_eq!(post(std::str::from_utf8(&forged).unwrap()).await.unwrap().status(), 401);
    assert_eq!(post(&last).await.unwrap().status(), 200);
    assert_eq!(post(&last).await.unwrap().status(), 401);
    running.stop().await;
}

/// Issue 10, finding 15: the back office (clerk actions, licence revocation, issuer keys, fault injection,
/// the person register) answers nobody without its token: not an anonymous caller, not a device token, not
/// a cross-site page (which cannot send the custom header without a preflight).
#[tokio::test]
async fn attack_the_back_office_needs_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let s = store(dir.path());
    let reg = client.register_device(&s, &info(&s)).await.unwrap();
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let routes: [(&str, serde_json::Value); 6] = [
        ("/admin/cases/x/approve", json!({ "licence": { "type": "business_licence", "elements": {} } })),
        ("/admin/sweep", json!({ "today": "2030-01-01" })),
        ("/admin/faults", json!({ "error_rate": 1.0 })),
        ("/v1/admin/licences/revoke", json!({ "licence_id": "x" })),
        ("/v1/admin/issuer-keys/withdraw", json!({ "department": "gongan" })),
        ("/v1/admin/register", json!({ "device_id": reg.device_id, "licence_type": "resident_id", "elements": {} })),
    ];
    for (path, body) in &routes {
        let url = format!("{}{}", running.url, path);
        let anon = http.post(&url).json(body).send().await.unwrap();
        assert_eq!(anon.status(), 401, "{path} without a token");
        let device = http.post(&url).bearer_auth(&reg.token).json(body).send().await.unwrap();
        assert_eq!(device.status(), 401, "{path} with a device token");
        let wrong = http.post(&url).header(server::ADMIN_TOKEN_HEADER, "guess").json(body).send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        // A simple cross-site POST (text/plain, no custom header) is refused too.
        let form = http.post(&url).header("content-type", "text/plain").body(body.to_string()).send().await.unwrap();
        assert_eq!(form.status(), 401, "{path} cross-site");
    }
    assert_eq!(running.state.faults.get().error_rate, 0.0, "nothing changed");
    // With the token, from this machine: served.
    let token = server::admin_token().unwrap();
    let ok = http
        .get(format!("{}/admin/stats", running.url))
        .header(server::ADMIN_TOKEN_HEADER, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    running.stop().await;
}

/// Issue 10, finding 15: an idempotency key is bound to its route and body, and a complaint id names one
/// complaint (a repeat with other text is a conflict, not a silent "ok").
#[tokio::test]
async fn attack_idempotency_keys_and_complaint_ids_cannot_be_reused() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let s = store(dir.path());
    let reg = client.register_device(&s, &info(&s)).await.unwrap();
    let http = zhangban_core::sync::tls::client_builder().unwrap().build().unwrap();
    let post = |path: String, key: &str, body: serde_json::Value| {
        http.post(format!("{}{}", running.url, path))
            .bearer_auth(&reg.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let sub =
        json!({ "client_ref": "c1", "title": "出生医学证明", "values": { "name": "张三" }, "item_codes": ["WJ-001"] });
    let r = post("/v1/cases".into(), "k1", sub.clone()).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let case: serde_json::Value = r.json().await.unwrap();
    let pid = case["case_id"].as_str().unwrap().to_string();
    // The same key and request: the stored answer.
    let again: serde_json::Value = post("/v1/cases".into(), "k1", sub.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again["replayed"], true);
    // The same key for another body, or another route: refused, not answered with the first one's answer.
    let mut other = sub.clone();
    other["title"] = json!("另一个办件");
    let r = post("/v1/cases".into(), "k1", other).await.unwrap();
    assert_eq!(r.status(), 422);
    let r = post(format!("/v1/cases/{pid}/complaints"), "k1", json!({ "text": "太慢了" })).await.unwrap();
    assert_eq!(r.status(), 422);
    // A complaint id again with other text (another key): a conflict.
    let c1 = json!({ "complaint_id": "cmp-1", "text": "窗口排队太久" });
    assert!(post(format!("/v1/cases/{pid}/complaints"), "k2", c1.clone()).await.unwrap().status().is_success());
    let c2 = json!({ "complaint_id": "cmp-1", "text": "另一条反映" });
    assert_eq!(post(format!("/v1/cases/{pid}/complaints"), "k3", c2).await.unwrap().status(), 409);
    // The same complaint again (a retry with a new key): fine.
    assert!(post(format!("/v1/cases/{pid}/complaints"), "k4", c1).await.unwrap().status().is_success());
    running.stop().await;
}
