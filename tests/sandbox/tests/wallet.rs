//! The wallet against the real sandbox issuer over HTTP: device-bound issuance (and its refusals),
//! a presentation rendered as a QR image and decoded back with a real QR decoder (rqrr), and offline
//! verification by a separate verifier store.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use zhangban_core::store::{FileVault, Store};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{qr, ElementValue, LicenceType, Policy, Preset, Wallet};
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
    let client = PlatformClient::new(&running.url).unwrap();
    let holder = wallet(&dir.path().join("holder"));
    register(&client, &holder).await;
    let lic = client.request_licence(&holder, LicenceType::ResidentId, &resident()).await.unwrap();
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
        let v = verifier.verify(&decoded, now + 3, &Policy::default()).unwrap();
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
    let body = json!({ "licence_type": "resident_id", "elements": resident(), "device_key": hex::encode(other.public_key()),
                       "nonce": n, "proof": hex::encode(proof) });
    let r = post("/v1/licences/issue", body).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "device_key_mismatch");

    // The registered key but a proof over another nonce: refused.
    let n = nonce(post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap());
    let bad = w.prove_possession(&[9u8; 32]).unwrap();
    let body = |n: &str, proof: &[u8]| {
        json!({ "licence_type": "resident_id", "elements": resident(), "device_key": hex::encode(w.device_public_key()),
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
    // A bad ID number is refused by the issuer, naming the field.
    let mut e = resident();
    e.insert("id_number".into(), ElementValue::Text("110108198802290015".into()));
    let n = nonce(post("/v1/licences/nonce", json!({})).await.unwrap().json().await.unwrap());
    let good = w.prove_possession(&hex::decode(&n).unwrap()).unwrap();
    let mut b = body(&n, &good);
    b["elements"] = json!(e);
    let r: serde_json::Value = post("/v1/licences/issue", b).await.unwrap().json().await.unwrap();
    assert!(r["message"].as_str().unwrap().contains("elements.id_number"), "{r}");
    running.stop().await;
}
