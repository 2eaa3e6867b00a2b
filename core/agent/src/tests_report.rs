//! The agent's access report (`report`): what it reads from the audit log, in order, bounded, signed by the
//! device key, and the cursor that moves only when the platform took a batch.

use zhangban_wallet::{DeviceSigner, SoftwareKey};

use crate::report::{self, AccessReport, ReportedAccess, MAX_REPORT_ENTRIES};
use crate::tests::{certificate, phone};
use crate::*;
use zhangban_base::Text;

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

/// An agent's phone holding a certificate valid for a year, and the root that signed it.
fn agent_phone() -> (SoftwareKey, crate::tests::Phone, Agent) {
    let root = SoftwareKey::generate().unwrap();
    let ap = phone(&root);
    let agent = Agent::new(&ap.wallet);
    agent.install_certificate(&certificate(&root, ap.wallet.device_public_key(), NOW + 365 * 86_400)).unwrap();
    (root, ap, agent)
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

/// Every report `prepare` makes until nothing is left, each taken by "the platform" at once: the entries
/// reported (seq, mandate) in order, and the largest body sent.
fn report_all(
    store: &zhangban_base::store::Store,
    signer: &dyn DeviceSigner,
    key: &[u8],
) -> (Vec<(u64, String)>, usize) {
    let mut sent = Vec::new();
    let mut largest = 0;
    for _ in 0..1000 {
        let Some(p) = report::prepare(store, signer).unwrap() else { return (sent, largest) };
        if let Some(body) = &p.body {
            largest = largest.max(serde_json::to_vec(body).unwrap().len());
            let signed = hex::decode(body["report"].as_str().unwrap()).unwrap();
            let r = AccessReport::verify(&signed, key).unwrap();
            let named: Vec<&str> =
                body["mandates"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
            assert!(r.entries.iter().all(|e| named.contains(&e.mandate_id.as_str())), "each entry's mandate sent");
            assert_eq!(r.entries.len(), p.entries);
            sent.extend(r.entries.into_iter().map(|e| (e.seq, e.mandate_id)));
        }
        report::reported(store, p.through).unwrap();
    }
    panic!("the report never ends");
}

/// Issue 11 review, defect 1. Attack on the principal's view: the agent acts under delegation A, then she
/// adds an item and the agent scans her new code B offline (B replaces A on the agent's phone), and acts
/// again. Before the fix the entries under A were passed over (A no longer the record's mandate) and the
/// cursor moved past them: she never saw them. Now A is kept in her record and they are sent, with A.
#[test]
fn attack_accesses_under_a_replaced_delegation_are_still_reported() {
    let (root, ap, agent) = agent_phone();
    let signer = ap.wallet.signer();
    let pp = phone(&root);
    let side = PrincipalSide::new(&pp.wallet);
    let sc = |items: &[&str]| Scope {
        items: items.iter().map(|s| s.to_string()).collect(),
        licence_types: vec![],
        actions: vec![Action::Follow],
        elements: vec![],
    };
    let cert = agent.certificate_text().unwrap();
    let a = side.delegate(&cert, "李奶奶", "11010519491231002X", sc(&["MZ-002"]), None, false).unwrap();
    let li = agent.accept_delegation(&a.text).unwrap();
    agent.switch_to(&li.subject).unwrap(); // follow under A
    assert!(agent.results(&li.subject).is_err()); // refused under A
    pp.clock.advance(60);
    ap.clock.advance(60);
    let b = side.delegate(&cert, "李奶奶", "11010519491231002X", sc(&["MZ-002", "GA-002"]), None, false).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(agent.accept_delegation(&b.text).unwrap().subject, li.subject, "the same principal, renewed");
    agent.switch_to(&li.subject).unwrap(); // follow under B

    let (sent, _) = report_all(&ap.store, signer.as_ref(), &ap.wallet.device_public_key());
    let mandates: Vec<&str> = sent.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(mandates, vec![a.id.as_str(), a.id.as_str(), b.id.as_str()], "A's two entries, then B's");
    assert!(sent.windows(2).all(|w| w[0].0 < w[1].0));
    // The body carries A's signed text (the platform checks it is this agent's before relaying).
    ap.store
        .put_json(report::REPORT_STATE, "cursor", zhangban_base::store::SELF_SUBJECT, &serde_json::json!({ "seq": 0 }))
        .unwrap();
    let body = report::prepare(&ap.store, signer.as_ref()).unwrap().unwrap().body.unwrap();
    let a_hex = hex::encode(Delegation::from_text(&a.text).unwrap());
    assert!(body["mandates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == a.id.as_str() && m["mandate"] == a_hex.as_str()));
}

/// Many principals, each with a delegation near the largest (as with shared licences), one access each:
/// before the fix the body of the first report (every mandate's text beside the signed entries) was over
/// the platform's limit, refused, and rebuilt the same for ever. Now each body is within
/// [`report::MAX_REPORT_BODY`] and every entry is sent, in order. A single entry whose mandate alone could not
/// fit is passed over (it would block every later one), and the next ones still go.
#[test]
fn a_report_body_stays_within_the_platforms_limit_and_never_blocks_the_queue() {
    use crate::access::{self, MandateRecord, PrincipalRecord};
    use crate::mandate::{Assurance, MAX_DELEGATION_BYTES};
    use zhangban_base::store::SubjectKind;
    // (One entry always fits: asserted in report.rs when the crate compiles.)
    let (_root, ap, agent) = agent_phone();
    let signer = ap.wallet.signer();
    let store = &ap.store;
    let principal = |n: usize, mandate_len: usize| -> String {
        let subject = store.create_subject(SubjectKind::Principal, &format!("委托人{n}")).unwrap();
        let rec = PrincipalRecord {
            subject: subject.clone(),
            name: format!("委托人{n}"),
            id_masked: "1101**********002X".into(),
            principal_key_hex: None,
            created_at: NOW,
            mandate: Some(MandateRecord {
                id: format!("m-{n}"),
                assurance: Assurance::Delegation,
                signed_hex: "ab".repeat(mandate_len),
                ..MandateRecord::of_scope(&Scope {
                    items: vec!["MZ-002".into()],
                    licence_types: vec![],
                    actions: Action::ALL.to_vec(),
                    elements: vec![],
                })
            }),
            previous: vec![],
        };
        let rec =
            PrincipalRecord { mandate: rec.mandate.map(|m| MandateRecord { valid_until: NOW + 86_400, ..m }), ..rec };
        store.transaction(|t| access::put_principal(t, &rec)).unwrap();
        subject
    };
    let mut expected = Vec::new();
    for n in 0..60 {
        // One principal's mandate is larger than any body could carry.
        let s = principal(n, if n == 7 { report::MAX_REPORT_BODY } else { MAX_DELEGATION_BYTES - 100 });
        agent.switch_to(&s).unwrap();
        if n != 7 {
            expected.push(format!("m-{n}"));
        }
    }
    let (sent, largest) = report_all(store, signer.as_ref(), &ap.wallet.device_public_key());
    assert!(largest <= report::MAX_REPORT_BODY, "largest body {largest}");
    let got: Vec<String> = sent.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(got, expected, "all but the one that cannot fit, in order");
    assert!(report::prepare(store, signer.as_ref()).unwrap().is_none(), "nothing blocks the queue");
}

/// Issue 11 review, defect 3. Attack on the principal's view through retention: her mandate ends (revoked),
/// retention is 0 days, and the sweep runs offline (every sync run does) before the accesses were reported.
/// Before the fix she was erased with them, never to see them (ADR 0044 § 5). Now the sweep keeps her until
/// they were reported, then erases her; and past [`agent::UNREPORTED_GRACE_DAYS`] erasure wins regardless.
#[test]
fn attack_the_retention_sweep_keeps_a_principal_until_her_accesses_were_reported() {
    let (root, ap, agent) = agent_phone();
    let signer = ap.wallet.signer();
    let cert = agent.certificate_text().unwrap();
    let sc =
        Scope { items: vec!["MZ-002".into()], licence_types: vec![], actions: vec![Action::Follow], elements: vec![] };
    let mut lines = Vec::new();
    let mut phones = Vec::new();
    for name in ["李奶奶", "张爷爷"] {
        let pp = phone(&root);
        let side = PrincipalSide::new(&pp.wallet);
        let g = side.delegate(&cert, name, "11010519491231002X", sc.clone(), None, false).unwrap();
        let li = agent.accept_delegation(&g.text).unwrap();
        agent.switch_to(&li.subject).unwrap();
        side.revoke(&g.id).unwrap();
        agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
        lines.push(li.subject);
        phones.push(pp);
    }
    agent.set_retention_days(0).unwrap();
    ap.clock.advance(60);
    // Offline: nothing reported, nobody erased.
    assert!(agent.sweep().unwrap().is_empty());
    assert_eq!(agent.principals().unwrap().len(), 2);
    // Online, the first one's accesses are reported (the sync reports before it sweeps); then she is erased.
    let first = lines[0].clone();
    let later: Vec<_> =
        ap.store.audit_entries(None).unwrap().into_iter().filter(|e| e.action == "agent.access").collect();
    let through = later.iter().filter(|e| e.subject == first).map(|e| e.seq).max().unwrap();
    let second_from = later.iter().filter(|e| e.subject == lines[1]).map(|e| e.seq).min().unwrap();
    assert!(through < second_from);
    let p = report::prepare(&ap.store, signer.as_ref()).unwrap().unwrap();
    assert!(p.entries >= 2);
    report::reported(&ap.store, through).unwrap();
    assert_eq!(agent.sweep().unwrap(), vec![first]);
    // The second never reached the platform: kept up to the grace, then erased all the same.
    ap.clock.advance(i64::from(agent::UNREPORTED_GRACE_DAYS) * 86_400 - 120);
    assert!(agent.sweep().unwrap().is_empty());
    ap.clock.advance(120);
    assert_eq!(agent.sweep().unwrap(), vec![lines[1].clone()]);
    assert!(agent.principals().unwrap().is_empty());
}

/// ADR 0045. A report the platform refuses for good (here its certificate ended) is kept for the agent with the
/// platform's reason, typed and in both languages; the cursor moves past it, so the next report holds only later
/// entries (before, the same batch was rebuilt at every sync, for ever). Same certificate: not sent again. A
/// renewed certificate: the kept range is prepared again, once, and goes when taken.
#[test]
fn a_report_refused_for_good_is_kept_apart_and_sent_again_after_a_renewed_certificate() {
    let (root, ap, agent) = agent_phone();
    let signer = ap.wallet.signer();
    let pp = phone(&root);
    let side = PrincipalSide::new(&pp.wallet);
    let sc =
        Scope { items: vec!["MZ-002".into()], licence_types: vec![], actions: vec![Action::Follow], elements: vec![] };
    let g = side.delegate(&agent.certificate_text().unwrap(), "李奶奶", "11010519491231002X", sc, None, false).unwrap();
    let li = agent.accept_delegation(&g.text).unwrap();
    agent.switch_to(&li.subject).unwrap();
    agent.switch_to(&li.subject).unwrap();
    let p = report::prepare(&ap.store, signer.as_ref()).unwrap().unwrap();
    assert_eq!(p.entries, 2);
    let why = Text::new(
        "代办被拒绝（certificate）：该帮办员证书已被服务中心终止",
        "proxy refused (certificate): this agent certificate was ended by the service centre",
    );
    let kept = report::not_delivered(&ap.store, &p, 403, &why).unwrap();
    assert_eq!((kept.from, kept.through, kept.entries), (p.from, p.through, 2));
    assert_eq!(kept.refused_for, report::RefusedFor::Certificate);
    assert_eq!(report::undelivered(&ap.store).unwrap(), vec![kept.clone()]);
    assert_eq!(kept.reason, why);
    assert_eq!(report::cursor(&ap.store).unwrap(), p.through, "the cursor moved past the refused batch");
    assert!(report::prepare(&ap.store, signer.as_ref()).unwrap().is_none(), "not rebuilt");
    assert!(report::prepare_resend(&ap.store, signer.as_ref()).unwrap().is_none(), "same certificate: kept");
    // The agent's own card says so, in both languages.
    let card = agent.card().unwrap().unwrap();
    let t = card.not_delivered.expect("the card tells the agent");
    assert_eq!(t.zh, "2 条访问记录被平台拒收，未能送达委托人（该帮办员证书已被服务中心终止）。证书更新后将重新发送。");
    assert!(
        t.en.starts_with(
            "2 access entries were refused by the platform and have not reached the principals (this agent certificate"
        ),
        "{t:?}"
    );
    // A later access flows on its own.
    agent.switch_to(&li.subject).unwrap();
    let later = report::prepare(&ap.store, signer.as_ref()).unwrap().unwrap();
    assert_eq!((later.entries, later.from > p.through), (1, true));
    report::reported(&ap.store, later.through).unwrap();
    // Renewed: the kept range once more, the same entries; taken, it goes.
    agent.install_certificate(&certificate(&root, ap.wallet.device_public_key(), NOW + 2 * 365 * 86_400)).unwrap();
    let (k, again) = report::prepare_resend(&ap.store, signer.as_ref()).unwrap().unwrap();
    assert_eq!(k, kept);
    assert_eq!((again.from, again.through, again.entries), (p.from, p.through, 2));
    let signed = hex::decode(again.body.as_ref().unwrap()["report"].as_str().unwrap()).unwrap();
    let r = AccessReport::verify(&signed, &ap.wallet.device_public_key()).unwrap();
    assert!(r.entries.iter().all(|e| (p.from..=p.through).contains(&(e.seq as i64))));
    // Refused again under the new certificate: it waits for the next one.
    report::refused_again(&ap.store, &k, 403, &why).unwrap();
    assert!(report::prepare_resend(&ap.store, signer.as_ref()).unwrap().is_none());
    agent.install_certificate(&certificate(&root, ap.wallet.device_public_key(), NOW + 3 * 365 * 86_400)).unwrap();
    let (k, again) = report::prepare_resend(&ap.store, signer.as_ref()).unwrap().unwrap();
    report::resent(&ap.store, &k, &again).unwrap();
    assert!(report::undelivered(&ap.store).unwrap().is_empty());
    assert!(report::prepare_resend(&ap.store, signer.as_ref()).unwrap().is_none());
    assert_eq!(agent.card().unwrap().unwrap().not_delivered, None);
    assert_eq!(report::cursor(&ap.store).unwrap(), later.through, "the cursor did not move back");
}

/// The kept record is bounded: past [`report::MAX_UNDELIVERED`] the oldest merge (their counts add up), and the
/// platform's answer is typed from its `proxy_refused` message.
#[test]
fn the_kept_refusals_are_bounded_and_typed() {
    let (_root, ap, _agent) = agent_phone();
    let why = Text::new("代办被拒绝（mandate）：…", "proxy refused (mandate): the delegation names another agent");
    for i in 1..=(report::MAX_UNDELIVERED as i64 + 10) {
        let p = report::PreparedReport { body: None, from: 2 * i, through: 2 * i + 1, entries: 2 };
        report::not_delivered(&ap.store, &p, 403, &why).unwrap();
    }
    let kept = report::undelivered(&ap.store).unwrap();
    assert_eq!(kept.len(), report::MAX_UNDELIVERED);
    assert_eq!(kept.iter().map(|k| k.entries).sum::<u32>(), 2 * (report::MAX_UNDELIVERED as u32 + 10));
    assert_eq!((kept[0].from, kept.last().unwrap().through), (2, 2 * (report::MAX_UNDELIVERED as i64 + 10) + 1));
    assert!(kept.windows(2).all(|w| w[0].through < w[1].from));
    assert!(kept.iter().all(|k| k.refused_for == report::RefusedFor::Mandate));
    use report::RefusedFor as R;
    for (status, en, want) in [
        (403, "proxy refused (certificate): expired", R::Certificate),
        (403, "proxy refused (agent): unknown agent", R::Agent),
        (403, "proxy refused (signature): …", R::Signature),
        (400, "body: at most 256 KB", R::Request),
        (403, "forbidden", R::Request),
    ] {
        assert_eq!(R::from_answer(status, en), want, "{en}");
    }
}

/// The agent's card words why: the platform's own words without its code, or the core's for what the platform
/// refused when its words do not follow its format.
#[test]
fn the_card_says_why_in_words_without_the_platforms_code() {
    let u = |refused_for, zh: &str, en: &str| crate::report::Undelivered {
        from: 1,
        through: 3,
        entries: 3,
        at: 10,
        status: 403,
        refused_for,
        reason: zhangban_base::Text::new(zh, en),
        certificate: String::new(),
    };
    let ended = u(
        crate::report::RefusedFor::Certificate,
        "代办被拒绝（certificate）：该帮办员证书已被服务中心终止",
        "proxy refused (certificate): this agent certificate was ended by the service centre",
    );
    let told = crate::report::not_delivered_text(&[ended]).unwrap();
    assert_eq!(
        told.zh,
        "3 条访问记录被平台拒收，未能送达委托人（该帮办员证书已被服务中心终止）。证书更新后将重新发送。"
    );
    let bare = u(crate::report::RefusedFor::Mandate, "禁止", "forbidden");
    let told = crate::report::not_delivered_text(&[bare]).unwrap();
    assert_eq!(told.zh, "3 条访问记录被平台拒收，未能送达委托人（平台不接受其中的授权委托）。证书更新后将重新发送。");
    assert!(told.en.contains("(the platform did not accept a delegation in them)"), "{}", told.en);
    let one = u(crate::report::RefusedFor::Agent, "x", "y");
    let one = crate::report::Undelivered { entries: 1, ..one };
    let told = crate::report::not_delivered_text(&[one]).unwrap();
    assert_eq!(
        told.en,
        "1 access entry was refused by the platform and has not reached the principal (the platform has no record \
         of this agent). It is sent again once the certificate is renewed."
    );
    assert!(crate::report::not_delivered_text(&[]).is_none());
}
