//! Issue 11's bug: a draft started for an agent's principal must not be autofilled from the agent's own
//! e-licences (name and ID number locked into `applicant.*`, materials exempted by the agent's licence).
//! Written before the fix: on the old code `held(&self, _subject)` ignored the subject and this failed.

use std::sync::Arc;

use serde_json::json;
use zhangban_base::store::{FileVault, KeyVault, Store, SubjectKind, SELF_SUBJECT};
use zhangban_base::{Clock, FixedClock};
use zhangban_catalog::Catalog;
use zhangban_forms::draft::{AutofillOptions, MaterialStatus};
use zhangban_forms::{import_licence, LicenceSource, Session};
use zhangban_wallet::format::ALG_ES256;
use zhangban_wallet::issue::text_elements;
use zhangban_wallet::issue::{issue_licence, with_derived, LicenceRequest};
use zhangban_wallet::{DeviceSigner, LicenceType, SoftwareKey, StatusList, TrustEntry, TrustList, Wallet};

const NOW: i64 = 1_795_000_000;
const USCC: &str = "11110000MB0143028X";

/// A store whose wallet holds the agent's own resident ID (issued by a test issuer under a test root).
fn agent_phone(dir: &std::path::Path) -> (Arc<Store>, Wallet) {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(NOW));
    let store = Arc::new(Store::open_or_create_with(dir, vault, None, clock).unwrap());
    let root = SoftwareKey::generate().unwrap();
    let issuer = SoftwareKey::generate().unwrap();
    let device = SoftwareKey::generate().unwrap();
    let trust = TrustList {
        sequence: 1,
        issued_at: NOW - 3600,
        entries: vec![TrustEntry {
            kid: issuer.key_id(),
            alg: ALG_ES256,
            public_key: issuer.public_key(),
            issuer_uscc: USCC.into(),
            name_zh: "北京市公安局".into(),
            name_en: "Beijing Public Security Bureau".into(),
            types: vec![LicenceType::ResidentId.code().into()],
            valid_from: NOW - 86400 * 365,
            valid_until: NOW + 86400 * 3650,
            withdrawn: false,
        }],
    };
    let elements = text_elements(&[
        ("name", "王帮办"),
        ("sex", "男"),
        ("ethnicity", "汉"),
        ("birth_date", "1949-12-31"),
        ("address", "北京市朝阳区建国路1号"),
        ("id_number", "11010519491231002X"),
        ("issuing_authority", "北京市公安局朝阳分局"),
    ]);
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: USCC.into(),
        serial: "00000042".into(),
        version: "1".into(),
        elements: with_derived(LicenceType::ResidentId, elements, NOW),
        device_key: device.public_key(),
        valid_from: NOW - 86400 * 100,
        valid_until: NOW + 86400 * 3650,
        status_index: 42,
    };
    let licence = issue_licence(&req, &issuer.key_id(), &issuer).unwrap();
    let wallet = Wallet::with_signer(store.clone(), Arc::new(device)).with_root_key(root.public_key());
    wallet.update_trust_list(&trust.sign(|m| root.sign(m)).unwrap(), NOW).unwrap();
    wallet.update_status_list(&StatusList::new(1, NOW - 60, 1024).sign(|m| root.sign(m)).unwrap(), NOW).unwrap();
    import_licence(&wallet, &licence.encode(), NOW).unwrap();
    (store, wallet)
}

#[test]
fn a_principals_draft_is_not_filled_from_the_agents_licences() {
    let dir = tempfile::tempdir().unwrap();
    let (store, wallet) = agent_phone(dir.path());
    let cat = Catalog::bundled().unwrap();
    let opts = AutofillOptions::at(store.clock().as_ref());

    // The agent's own draft is filled from the agent's licence (the wallet works).
    let own = Session::start(store.clone(), &cat, SELF_SUBJECT, "GA-002", &wallet, &opts).unwrap();
    assert_eq!(own.draft.value("applicant.name").map(|e| e.value.clone()), Some(json!("王帮办")));

    // A principal's draft on the same phone: nothing of the agent's.
    let principal = store.create_subject(SubjectKind::Principal, "李奶奶").unwrap();
    assert!(wallet.held(&principal).unwrap().is_empty(), "the wallet's licences are the owner's, not the principal's");
    // Outside agent mode a principal's draft is not opened at all; inside it (a gate that stands for the
    // agent's checked delegation), the agent's wallet fills nothing.
    let refused = Session::start(store.clone(), &cat, &principal, "GA-002", &wallet, &opts).map(|_| ()).unwrap_err();
    assert!(matches!(refused, zhangban_base::Error::PermissionDenied { .. }), "{refused:?}");
    struct Allowed;
    impl zhangban_forms::ActingGate for Allowed {
        fn check(&self, _: &str, _: &str) -> zhangban_base::Result<zhangban_forms::Editor> {
            Ok(zhangban_forms::Editor::Agent { agent: "agent-1".into() })
        }
        fn standing(&self, _: &str) -> zhangban_base::Result<()> {
            Ok(())
        }
    }
    let s = Session::start_gated(store.clone(), &cat, &principal, "GA-002", &wallet, &opts, Some(Arc::new(Allowed)))
        .unwrap();
    for path in ["applicant.name", "applicant.id_number"] {
        let v = s.draft.value(path);
        assert!(v.is_none_or(|e| e.value.is_null() || !e.locked), "{path} came from the agent's licence: {v:?}");
        assert_ne!(v.map(|e| e.value.clone()), Some(json!("王帮办")), "{path}");
        assert_ne!(v.map(|e| e.value.clone()), Some(json!("11010519491231002X")), "{path}");
    }
    for m in s.draft.material_report() {
        assert!(!matches!(m.status, MaterialStatus::Exempt { .. }), "{} exempted by the agent's licence", m.code);
    }
    // Nor from the agent's profile (filled by the import above).
    assert!(zhangban_forms::Profile::load(&store, &principal).unwrap().get("person.name").is_none());
}
