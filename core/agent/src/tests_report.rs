//! The agent's access report (`report`): what it reads from the audit log, in order, bounded, signed by the
//! device key, and the cursor that moves only when the platform took a batch.

use zhangban_wallet::{DeviceSigner, SoftwareKey};

use crate::report::{self, AccessReport, ReportedAccess, MAX_REPORT_ENTRIES};
use crate::tests::{certificate, phone};
use crate::*;

const NOW: i64 = 1_795_000_000;

fn entry(seq: u64) -> ReportedAccess {
    ReportedAccess {
        seq,
        at: NOW,
        mandate_id: "m-1".into(),
        action: "fill".into(),
        allowed: false,
        items: vec!["MZ-002".into()],
        element: None,
        missing: Some("revoked".into()),
    }
}

#[test]
fn a_report_verifies_only_with_the_agents_key_and_within_bounds() {
    let key = SoftwareKey::generate().unwrap();
    let other = SoftwareKey::generate().unwrap();
    let r = AccessReport { agent_id: "agent-wang".into(), entries: vec![entry(1), entry(2)] };
    let signed = r.sign(&key.public_key(), |m| key.sign(m)).unwrap();
    assert_eq!(AccessReport::verify(&signed, &key.public_key()).unwrap(), r);
    // Attack: checked with another agent's key; signed by another key under this key's id; one byte changed.
    assert!(matches!(AccessReport::verify(&signed, &other.public_key()), Err(Error::PermissionDenied { .. })));
    let forged = r.sign(&key.public_key(), |m| other.sign(m)).unwrap();
    assert!(matches!(AccessReport::verify(&forged, &key.public_key()), Err(Error::PermissionDenied { .. })));
    let mut altered = signed.clone();
    let at = altered.windows(7).position(|w| w == b"revoked").unwrap();
    altered[at] = b'R';
    assert!(AccessReport::verify(&altered, &key.public_key()).is_err());
    // Out of order, too many entries, an unknown action: refused even when signed.
    let sign = |r: &AccessReport| r.sign(&key.public_key(), |m| key.sign(m)).unwrap();
    let backwards = AccessReport { entries: vec![entry(2), entry(1)], ..r.clone() };
    assert!(AccessReport::verify(&sign(&backwards), &key.public_key()).is_err());
    let many = AccessReport { entries: (1..=MAX_REPORT_ENTRIES as u64 + 1).map(entry).collect(), ..r.clone() };
    assert!(AccessReport::verify(&sign(&many), &key.public_key()).is_err());
    let odd = AccessReport { entries: vec![ReportedAccess { action: "erase".into(), ..entry(1) }], ..r };
    assert!(AccessReport::verify(&sign(&odd), &key.public_key()).is_err());
}

#[test]
fn the_report_takes_each_access_for_a_mandate_in_order_and_the_cursor_moves_when_acknowledged() {
    let root = SoftwareKey::generate().unwrap();
    let ap = phone(&root);
    let agent = Agent::new(&ap.wallet);
    let signer = ap.wallet.signer();
    // Not an agent's phone yet: nothing to report.
    assert!(report::prepare(&ap.store, signer.as_ref()).unwrap().is_none());
    agent.install_certificate(&certificate(&root, ap.wallet.device_public_key(), NOW + 365 * 86_400)).unwrap();
    let pp = phone(&root);
    let side = PrincipalSide::new(&pp.wallet);
    let sc =
        Scope { items: vec!["MZ-002".into()], licence_types: vec![], actions: vec![Action::Follow], elements: vec![] };
    let g = side.delegate(&agent.certificate_text().unwrap(), "李奶奶", "11010519491231002X", sc, None, false).unwrap();
    let li = agent.accept_delegation(&g.text).unwrap();
    agent.switch_to(&li.subject).unwrap(); // follow: allowed
    assert!(agent.results(&li.subject).is_err()); // receive results: refused (not in scope)
    agent.switch_to(&li.subject).unwrap();

    let p = report::prepare(&ap.store, signer.as_ref()).unwrap().unwrap();
    let body = p.body.clone().unwrap();
    let signed = hex::decode(body["report"].as_str().unwrap()).unwrap();
    let r = AccessReport::verify(&signed, &ap.wallet.device_public_key()).unwrap();
    assert_eq!(r.agent_id, "agent-wang");
    let got: Vec<(&str, bool)> = r.entries.iter().map(|e| (e.action.as_str(), e.allowed)).collect();
    // (accepting the delegation is the agent's own entry: no mandate yet, passed over)
    assert_eq!(got, vec![("follow", true), ("receive_results", false), ("follow", true)]);
    assert!(r.entries.iter().all(|e| e.mandate_id == g.id));
    assert!(r.entries.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(r.entries[1].missing.as_deref(), Some("action:receive_results"));
    assert_eq!(body["mandates"][0]["id"], serde_json::json!(g.id));
    assert_eq!(body["mandates"][0]["assurance"], "delegation");
    // Until the platform took it, the next report is the same batch (a kill -9 or a lost answer loses nothing).
    assert_eq!(report::cursor(&ap.store).unwrap(), 0);
    let again = report::prepare(&ap.store, signer.as_ref()).unwrap().unwrap();
    assert_eq!(again.through, p.through);
    report::reported(&ap.store, p.through).unwrap();
    assert!(report::prepare(&ap.store, signer.as_ref()).unwrap().is_none(), "all taken");
    report::reported(&ap.store, 1).unwrap();
    assert_eq!(report::cursor(&ap.store).unwrap(), p.through, "the cursor never moves back");
}
