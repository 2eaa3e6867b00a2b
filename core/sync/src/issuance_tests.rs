//! End-to-end tests of licence issuance through the sync runner (kept apart from `issuance.rs`, so the
//! issuance module does not depend on the runner that drives it).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::cases::LicenceDelivery;
use crate::cases::{self, CaseState, Need, PlatformEvent, Submission, SELF};
use crate::issuance::*;
use crate::notify::NoticeKind;
use crate::notify::Recorder;
use crate::runner::{SyncConfig, SyncRunner};
use crate::store::Store;
use crate::store::{FileVault, KeyVault};

fn setup() -> (tempfile::TempDir, Arc<Store>, Arc<SyncRunner>, Arc<Recorder>) {
    let dir = tempfile::tempdir().expect("tmp");
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).expect("vault"));
    let store = Arc::new(Store::create(&dir.path().join("s"), vault, None).expect("store"));
    // Registered (so the request gets as far as the network).
    let reg = crate::Registration { device_id: "D1".into(), token: "t".into(), registered_at: 0 };
    store.put_json(crate::DEVICE_COLLECTION, crate::REGISTRATION_ID, SELF, &reg).expect("reg");
    let rec = Arc::new(Recorder::default());
    // Nothing listens on port 9: every request fails to connect.
    let mut cfg = SyncConfig::new("http://127.0.0.1:9");
    cfg.request_timeout = Duration::from_millis(500);
    let runner = SyncRunner::new(store.clone(), cfg, rec.clone()).expect("runner");
    (dir, store, runner, rec)
}

fn approved(store: &Store, runner: &SyncRunner, seq: u64, licence: serde_json::Value) -> String {
    let sub = Submission {
        item_codes: vec!["SJ-002".into()],
        title: "个体工商户设立登记".into(),
        values: json!({}),
        attachments: vec![],
        deferred_materials: vec![],
        materials: vec![],
        ..Default::default()
    };
    let c = cases::submit(store, SELF, &sub).expect("submit");
    let ev = PlatformEvent {
        seq,
        case_id: "P".into(),
        client_ref: c.id.clone(),
        kind: "approved".into(),
        at: 1_700_000_000,
        actor: "clerk:李".into(),
        data: json!({ "result": "准予", "licence": licence }),
    };
    runner.apply_events(std::slice::from_ref(&ev), seq).expect("apply");
    // Applied once: a replay neither queues again nor changes the case.
    runner.apply_events(&[ev], seq).expect("apply again");
    c.id
}

#[tokio::test]
async fn an_approval_queues_the_licence_once_and_network_failures_are_retried() {
    let (_d, store, runner, rec) = setup();
    let offer = json!({ "type": "business_licence", "elements": { "company_name": "张三便民服务部" } });
    let id = approved(&store, &runner, 1, offer);
    assert_eq!(queued(&store).expect("q"), vec![id.clone()]);
    let c = cases::get(&store, &id).expect("case");
    assert_eq!(c.state, CaseState::Approved);
    assert_eq!(c.licence_delivery, Some(LicenceDelivery::pending()));
    for round in 1..=2 {
        let r = deliver_pending(&store, "http://127.0.0.1:9", rec.as_ref(), Duration::from_secs(5)).await;
        assert_eq!((r.imported, r.refused, r.failures), (0, 0, 1));
        let c = cases::get(&store, &id).expect("case");
        match c.licence_delivery {
            Some(LicenceDelivery::Pending { attempts, last_error: Some(e), .. }) => {
                assert_eq!(attempts, round);
                assert!(e.contains("网络") || e.to_lowercase().contains("network"), "{e}");
            }
            other => panic!("still pending with the error: {other:?}"),
        }
        assert_eq!(queued(&store).expect("q"), vec![id.clone()], "kept for the next run");
    }
    // The runner's own run does the same (and reports the failure, so it backs off).
    let r = runner.run_once().await;
    assert!(r.offline && r.licences_imported == 0, "{r:?}");
}

#[tokio::test]
async fn an_approval_without_a_usable_offer_is_shown_on_the_case() {
    let (_d, store, runner, rec) = setup();
    let id = approved(&store, &runner, 1, json!({ "type": "no_such_licence" }));
    let r = deliver_pending(&store, "http://127.0.0.1:9", rec.as_ref(), Duration::from_secs(5)).await;
    assert_eq!((r.imported, r.refused, r.failures), (0, 1, 0));
    assert!(queued(&store).expect("q").is_empty());
    let c = cases::get(&store, &id).expect("case");
    assert!(matches!(c.licence_delivery, Some(LicenceDelivery::Refused { status: 0, .. })));
    let p = cases::progress(
        &c,
        &crate::calendar::Calendar::bundled(),
        &crate::calendar::Rules::default(),
        chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("d"),
    )
    .expect("progress");
    assert!(p.needed_now.iter().any(|n| matches!(n, Need::Licence { .. })));
    assert!(rec.notices().iter().any(|n| n.kind == NoticeKind::Refused && n.case_id == id));
    assert!(store.audit_entries(Some(&id)).expect("audit").iter().any(|e| e.action == "case.licence_refused"));
    // Nothing left to do: a later round makes no request.
    let r = deliver_pending(&store, "http://127.0.0.1:9", rec.as_ref(), Duration::from_secs(5)).await;
    assert_eq!(r, DeliveryReport::default());
}
