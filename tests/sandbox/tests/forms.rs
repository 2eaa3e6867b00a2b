//! Catalog and forms against the real sandbox over HTTP: the platform serves the core's catalog, a newer
//! published version replaces the bundled one on the phone, and licences received from the sandbox's
//! issuers autofill a bundle form (through the wallet as the forms' `LicenceSource`) and exempt materials.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use zhangban_core::catalog::Catalog;
use zhangban_core::forms::profile::{self, LicenceSource, Profile};
use zhangban_core::forms::{AutofillOptions, MaterialStatus, Session};
use zhangban_core::store::{FileVault, Store, SELF_SUBJECT};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{ElementValue, LicenceType, Wallet};
use zhangban_sandbox::{catalog, server};

fn text(pairs: &[(&str, &str)]) -> BTreeMap<String, ElementValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), ElementValue::Text(v.to_string()))).collect()
}

#[tokio::test]
async fn synced_catalog_and_licences_drive_the_forms() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::start("127.0.0.1:0", None, server::Config::default()).await.unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let vault = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let store = Arc::new(Store::create(&dir.path().join("store"), vault, None).unwrap());
    let info = DeviceInfo {
        public_key: sync::device_key(&store).unwrap().public_key_hex(),
        platform: "android".into(),
        model: "test".into(),
        app_version: "0.1.0".into(),
    };
    client.register_device(&store, &info).await.unwrap();

    // The platform serves the core's catalog; the phone keeps using the bundled one (same version).
    let u = client.fetch_catalog(&store).await.unwrap();
    assert_eq!(u.version, catalog::SEED_VERSION);
    let bundled = Catalog::bundled().unwrap();
    assert!(Arc::ptr_eq(&Catalog::current(&store).unwrap(), &bundled));

    // A newer version with a changed promise reaches the phone and is used from then on.
    let mut entries = bundled.entries();
    for e in entries.iter_mut() {
        if e["id"] == "GA-002" {
            e["promised_days"] = json!(7);
        }
    }
    let v2 = running.state.with_db(|c| catalog::publish(c, &serde_json::Value::Array(entries))).unwrap();
    client.fetch_catalog(&store).await.unwrap();
    let current = Catalog::current(&store).unwrap();
    assert_eq!(current.version(), v2);
    assert_eq!(current.item("GA-002").unwrap().promised_days, 7);
    // A broken publication is ignored: the phone falls back to the bundled catalog, still working.
    running.state.with_db(|c| catalog::publish(c, &json!([{"id": "x", "entry": "item", "code": 5}]))).unwrap();
    client.fetch_catalog(&store).await.unwrap();
    assert_eq!(Catalog::current(&store).unwrap().version(), bundled.version());

    // Licences from the sandbox's issuers fill the company bundle and exempt its materials.
    let wallet = Wallet::open(store.clone()).unwrap();
    let resident = text(&[
        ("name", "王五"),
        ("sex", "男"),
        ("ethnicity", "汉"),
        ("birth_date", "1949-12-31"),
        ("address", "北京市东城区正义路1号"),
        ("id_number", "11010519491231002X"),
        ("issuing_authority", "北京市公安局东城分局"),
    ]);
    zhangban_sandbox::issuer::enrol_device_of(&running.state, &store, LicenceType::ResidentId, &resident).unwrap();
    client.request_licence(&wallet, LicenceType::ResidentId, None).await.unwrap();
    let held = wallet.held(SELF_SUBJECT).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].licence_type, "resident_id");
    assert_eq!(held[0].fields["name"], json!("王五"));
    let changed = profile::apply_verified(
        &store,
        SELF_SUBJECT,
        "resident_id",
        &held[0].fields,
        &held[0].licence_id,
        &held[0].as_of,
    )
    .unwrap();
    assert_eq!(changed, 0, "importing the licence already applied its verified values");
    let p = Profile::load(&store, SELF_SUBJECT).unwrap();
    assert!(p.get("person.id_number").unwrap().provenance.is_verified());

    let cat = Catalog::current(&store).unwrap();
    let s = Session::start(
        store.clone(),
        &cat,
        SELF_SUBJECT,
        "BD-COMPANY",
        &wallet,
        &AutofillOptions::at(store.clock().as_ref()),
    )
    .unwrap();
    let legal_rep = s.draft.value("enterprise.legal_rep_name").unwrap();
    assert_eq!(legal_rep.value, json!("王五"));
    assert!(legal_rep.provenance.is_verified());
    let m = s.draft.material_report();
    let id = m.iter().find(|m| m.code == "M_ID").unwrap();
    assert!(matches!(&id.status, MaterialStatus::Exempt { licence_type, .. } if licence_type == "resident_id"));
    // The business licence is issued by the bundle's first item, so later items need not ask for it.
    let bl = m.iter().find(|m| m.code == "M_BUSINESS_LICENCE").unwrap();
    assert!(matches!(&bl.status, MaterialStatus::ProducedInBundle { item } if item == "SJ-001"));
    running.stop().await;
}
