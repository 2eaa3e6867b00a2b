//! Agent mode inside the core: the scope matrix (every action × in scope / out of scope / expired /
//! revoked / another principal, each audited), delegations and their forgeries, door consent, the
//! home list, revocation and retention with crypto-shredding.

use std::sync::Arc;

use serde_json::json;
use zhangban_base::store::{FileVault, KeyVault, Store, SubjectKind, SELF_SUBJECT};
use zhangban_base::{Clock, Error, FixedClock};
use zhangban_catalog::Catalog;
use zhangban_wallet::{DeviceSigner, SoftwareKey, Wallet};

use crate::access::AUDIT_ACTION;
use crate::*;

const NOW: i64 = 1_795_000_000;
const ID_NUMBER: &str = "11010519491231002X";
const ITEM: &str = "MZ-002";

pub(crate) struct Phone {
    _dir: tempfile::TempDir,
    pub clock: Arc<FixedClock>,
    pub store: Arc<Store>,
    pub wallet: Wallet,
}

pub(crate) fn phone(root: &SoftwareKey) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let clock = Arc::new(FixedClock::at(NOW));
    let c: Arc<dyn Clock> = clock.clone();
    let store = Arc::new(Store::open_or_create_with(dir.path(), vault, None, c).unwrap());
    let wallet =
        Wallet::with_signer(store.clone(), Arc::new(SoftwareKey::generate().unwrap())).with_root_key(root.public_key());
    Phone { _dir: dir, clock, store, wallet }
}

pub(crate) fn certificate(root: &SoftwareKey, device_key: Vec<u8>, until: i64) -> Vec<u8> {
    AgentCertificate {
        cert_id: "CERT-1".into(),
        agent_id: "agent-wang".into(),
        name: "王帮办".into(),
        org_code: "11110000MB0143028X".into(),
        org_name: "幸福村便民服务站".into(),
        device_key,
        valid_from: NOW - 86_400,
        valid_until: until,
    }
    .sign(|m| root.sign(m))
    .unwrap()
}

struct Fixture {
    root: SoftwareKey,
    agent_phone: Phone,
    agent: Agent,
    principal_phone: Phone,
}

fn fixture() -> Fixture {
    let root = SoftwareKey::generate().unwrap();
    let agent_phone = phone(&root);
    let agent = Agent::new(&agent_phone.wallet);
    agent.install_certificate(&certificate(&root, agent_phone.wallet.device_public_key(), NOW + 365 * 86_400)).unwrap();
    let principal_phone = phone(&root);
    Fixture { root, agent_phone, agent, principal_phone }
}

fn scope(actions: &[Action]) -> Scope {
    Scope { items: vec![ITEM.into()], licence_types: vec![], actions: actions.to_vec(), elements: vec![] }
}

impl Fixture {
    /// What a sync run does before its sweep, the platform taking every report: the principals' accesses
    /// reported (the sweep keeps a principal whose accesses were not, ADR 0044 § 5).
    fn report_accesses(&self) {
        let signer = self.agent_phone.wallet.signer();
        while let Some(p) = crate::report::prepare(&self.agent_phone.store, signer.as_ref()).unwrap() {
            crate::report::reported(&self.agent_phone.store, p.through).unwrap();
        }
    }

    fn delegate(&self, actions: &[Action], single_use: bool) -> (PrincipalLine, GivenDelegation) {
        let side = PrincipalSide::new(&self.principal_phone.wallet);
        let g = side
            .delegate(&self.agent.certificate_text().unwrap(), "李奶奶", ID_NUMBER, scope(actions), None, single_use)
            .unwrap();
        (self.agent.accept_delegation(&g.text).unwrap(), g)
    }

    fn last_access(&self) -> (String, serde_json::Value) {
        let e = self
            .agent_phone
            .store
            .audit_entries(None)
            .unwrap()
            .into_iter()
            .rev()
            .find(|e| e.action == AUDIT_ACTION)
            .expect("an agent.access entry");
        (e.subject, e.detail)
    }
}

/// A gate that lets everything through: stands for a draft opened while the mandate still allowed it.
struct Opened;
impl zhangban_forms::ActingGate for Opened {
    fn check(&self, _: &str, _: &str) -> Result<zhangban_forms::Editor> {
        Ok(zhangban_forms::Editor::Agent { agent: "agent-wang".into() })
    }
    fn standing(&self, _: &str) -> Result<()> {
        Ok(())
    }
}

fn opened_draft(store: &Arc<Store>, cat: &Catalog, subject: &str) -> zhangban_forms::Session {
    let d = zhangban_forms::session::list(store, subject).unwrap()[0].id.clone();
    zhangban_forms::Session::resume_gated(store.clone(), cat, &d, store.today(), Some(Arc::new(Opened))).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Condition {
    InScope,
    OutOfScope,
    Expired,
    Revoked,
    OtherPrincipal,
}

/// Runs `action` for `principal` the way a shell would; Ok(()) when the agent layer let it through
/// (the operation itself may then fail for its own reasons, e.g. an incomplete form).
fn attempt(f: &Fixture, action: Action, principal: &str, other: Option<&str>, cat: &Catalog) -> Result<()> {
    let store = &f.agent_phone.store;
    let passed = |r: Result<()>| match r {
        Err(e @ Error::PermissionDenied { .. }) => Err(e),
        _ => Ok(()),
    };
    match action {
        Action::Fill => match other {
            // Another principal's draft reached through this principal's mandate.
            Some(o) => {
                let d = zhangban_forms::session::list(store, o).unwrap()[0].id.clone();
                passed(f.agent.resume_draft(principal, cat, &d).map(|_| ()))
            }
            None => passed(f.agent.start_draft(principal, cat, ITEM).map(|_| ())),
        },
        Action::Submit => {
            let mut s = opened_draft(store, cat, other.unwrap_or(principal));
            passed(f.agent.submit(principal, cat, &mut s).map(|_| ()))
        }
        Action::Follow => match other {
            Some(o) => {
                let c = zhangban_cases::list(store, o).unwrap()[0].id.clone();
                passed(f.agent.case(principal, &c).map(|_| ()))
            }
            None => passed(f.agent.cases(principal).map(|_| ())),
        },
        Action::ReceiveResults => passed(f.agent.results(other.unwrap_or(principal)).map(|_| ())),
    }
}

#[test]
fn scope_matrix_every_action_and_condition_is_decided_and_audited() {
    let cat = Catalog::bundled().unwrap();
    let mut rows = Vec::new();
    for action in Action::ALL {
        for cond in [
            Condition::InScope,
            Condition::OutOfScope,
            Condition::Expired,
            Condition::Revoked,
            Condition::OtherPrincipal,
        ] {
            let f = fixture();
            let actions: Vec<Action> = if cond == Condition::OutOfScope {
                Action::ALL.into_iter().filter(|a| *a != action).collect()
            } else {
                Action::ALL.to_vec()
            };
            let (a, g) = f.delegate(&actions, false);
            // Something of the principal's to act on: a draft (and, for "other principal", a case).
            let store = &f.agent_phone.store;
            if actions.contains(&Action::Fill) {
                f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
            } else {
                zhangban_forms::Session::start_gated(
                    store.clone(),
                    &cat,
                    &a.subject,
                    ITEM,
                    &zhangban_forms::NoLicences,
                    &zhangban_forms::AutofillOptions::at(store.clock().as_ref()),
                    Some(Arc::new(Opened)),
                )
                .unwrap();
            }
            let mut other = None;
            if cond == Condition::OtherPrincipal {
                // A second principal (their own phone, their own delegation) with a draft and a case.
                let p2 = phone(&f.root);
                let g2 = PrincipalSide::new(&p2.wallet)
                    .delegate(
                        &f.agent.certificate_text().unwrap(),
                        "赵大爷",
                        ID_NUMBER,
                        scope(&Action::ALL),
                        None,
                        false,
                    )
                    .unwrap();
                let b = f.agent.accept_delegation(&g2.text).unwrap();
                f.agent.start_draft(&b.subject, &cat, ITEM).unwrap();
                let proxy = zhangban_cases::Proxy { agent_id: "agent-wang".into(), body: json!({}) };
                let sub = zhangban_cases::Submission {
                    item_codes: vec![ITEM.into()],
                    title: "高龄津贴申领".into(),
                    values: json!({}),
                    ..Default::default()
                };
                zhangban_cases::submit_as(store, &b.subject, &sub, Some(&proxy)).unwrap();
                other = Some(match action {
                    // Results of a subject with no mandate at all on this phone.
                    Action::ReceiveResults => store.create_subject(SubjectKind::Principal, "无委托").unwrap(),
                    _ => b.subject,
                });
            }
            match cond {
                Condition::Expired => f.agent_phone.clock.advance(31 * 86_400),
                Condition::Revoked => {
                    assert_eq!(f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap(), vec![a.subject.clone()])
                }
                _ => {}
            }
            let r = attempt(&f, action, &a.subject, other.as_deref(), &cat);
            let (subject, detail) = f.last_access();
            let expect_missing = match cond {
                Condition::InScope => None,
                Condition::OutOfScope => Some(format!("action:{}", action.as_str())),
                Condition::Expired => Some("validity".to_string()),
                Condition::Revoked => Some("revoked".to_string()),
                Condition::OtherPrincipal if action == Action::ReceiveResults => Some("delegation".to_string()),
                Condition::OtherPrincipal => Some("principal".to_string()),
            };
            match (&r, &expect_missing) {
                (Ok(()), None) => {}
                (Err(Error::PermissionDenied { missing, message_zh, message_en }), Some(m)) => {
                    assert_eq!(missing, m, "{action:?} {cond:?}");
                    assert!(!message_zh.is_empty() && !message_en.is_empty());
                }
                _ => panic!("{action:?} {cond:?}: {r:?}, expected {expect_missing:?}"),
            }
            assert_eq!(detail["action"], json!(action.as_str()), "{action:?} {cond:?}");
            assert_eq!(detail["allowed"], json!(r.is_ok()), "{action:?} {cond:?}: audited as decided");
            assert_eq!(detail["missing"], json!(expect_missing), "{action:?} {cond:?}");
            if cond != Condition::OtherPrincipal || action != Action::ReceiveResults {
                assert_eq!(subject, a.subject);
            }
            rows.push(format!(
                "{:16} {:15} {}",
                action.as_str(),
                format!("{cond:?}"),
                expect_missing.as_deref().unwrap_or("allowed")
            ));
        }
    }
    assert_eq!(rows.len(), 20);
    println!("{}", rows.join("\n"));
}

#[test]
fn a_delegation_for_another_agent_or_forged_is_refused() {
    let f = fixture();
    let side = PrincipalSide::new(&f.principal_phone.wallet);
    // Another agent's certificate (another phone): the delegation names that agent's key.
    let other = phone(&f.root);
    let other_agent = Agent::new(&other.wallet);
    other_agent.install_certificate(&certificate(&f.root, other.wallet.device_public_key(), NOW + 86_400)).unwrap();
    let g = side
        .delegate(&other_agent.certificate_text().unwrap(), "李奶奶", ID_NUMBER, scope(&Action::ALL), None, false)
        .unwrap();
    let e = f.agent.accept_delegation(&g.text).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "agent"), "{e:?}");
    // A certificate not signed by the root does not install, nor read on the principal's phone.
    let rogue = SoftwareKey::generate().unwrap();
    let fake = certificate(&rogue, f.agent_phone.wallet.device_public_key(), NOW + 86_400);
    assert!(matches!(f.agent.install_certificate(&fake), Err(Error::PermissionDenied { .. })));
    assert!(side.read_certificate(&AgentCertificate::to_text(&fake)).is_err());
    // A delegation whose scope was widened after signing: the signature fails.
    let g = side
        .delegate(&f.agent.certificate_text().unwrap(), "李奶奶", ID_NUMBER, scope(&[Action::Follow]), None, false)
        .unwrap();
    let signed = Delegation::from_text(&g.text).unwrap();
    let mut d = Delegation::verify(&signed).unwrap();
    d.scope.actions = Action::ALL.to_vec();
    let attacker = SoftwareKey::generate().unwrap();
    let resigned = d.sign(|m| attacker.sign(m)).unwrap(); // signed by a key that is not the principal's
    assert!(f.agent.accept_delegation(&Delegation::to_text(&resigned)).is_err());
    // Garbage and oversized texts are typed errors, not panics.
    for t in ["", "ZBD1:", "ZBD1:%%%", "ZB1:ABC", &format!("ZBD1:{}", "0".repeat(10_000))] {
        assert!(f.agent.accept_delegation(t).is_err(), "{t:.20}");
    }
}

#[test]
fn door_consent_needs_the_three_pictures_and_is_lower_assurance() {
    let f = fixture();
    let p = f
        .agent
        .open_door_intake(&DoorIntake { principal_name: "孙爷爷".into(), principal_id_number: ID_NUMBER.into() })
        .unwrap();
    assert_eq!(p.status, PrincipalStatus::Intake);
    // Nothing can be done before the consent.
    let cat = Catalog::bundled().unwrap();
    let e = f.agent.start_draft(&p.subject, &cat, ITEM).map(|_| ()).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "delegation"), "{e:?}");
    let pic = |name: &str| f.agent.attach_intake(&p.subject, name, &mut &[9u8; 2048][..]).unwrap().id;
    let (id_photo, photo, sig) = (pic("id.jpg"), pic("face.jpg"), pic("signature.png"));
    // A picture of another subject (the agent's own) cannot stand in.
    let own = f.agent_phone.store.write_attachment(SELF_SUBJECT, "x.jpg", &mut &[1u8; 10][..]).unwrap().id;
    let mut input = DoorConsentInput {
        items: vec![ITEM.into()],
        id_photo: id_photo.clone(),
        principal_photo: own,
        signature: sig.clone(),
        summary: "代为申领高龄津贴，材料：身份证、户口簿".into(),
        valid_days: None,
        single_use: true,
    };
    assert!(matches!(f.agent.record_door_consent(&p.subject, &input), Err(Error::PermissionDenied { .. })));
    input.principal_photo = photo;
    let line = f.agent.record_door_consent(&p.subject, &input).unwrap();
    assert_eq!(line.assurance, Some(Assurance::Door));
    assert_eq!(line.status, PrincipalStatus::Active);
    assert_eq!(line.valid_until, Some(NOW + 30 * 86_400));
    f.agent.start_draft(&p.subject, &cat, ITEM).unwrap();
    // The signed consent verifies with the agent's key and names the evidence by hash.
    let rec = access::load(&f.agent_phone.store, &p.subject).unwrap().unwrap();
    let c = DoorConsent::verify(
        &hex::decode(rec.mandate.unwrap().signed_hex).unwrap(),
        &f.agent_phone.wallet.device_public_key(),
    )
    .unwrap();
    assert_eq!(c.principal_id_number, ID_NUMBER);
    assert_eq!(c.evidence.len(), 3);
    assert_eq!(c.evidence[0].sha256, f.agent_phone.store.attachment_info(&id_photo).unwrap().sha256);
}

#[test]
fn the_door_screens_words_come_from_the_core() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    // Only items offered at home may be covered by a door consent.
    let items = f.agent.door_items(&cat);
    assert!(items.iter().any(|i| i.code == ITEM), "{items:?}");
    assert!(items.iter().all(|i| cat.item(&i.code).unwrap().channels.contains(&zhangban_catalog::Channel::AtHome)));
    assert!(items.len() < cat.doc.items.len());
    let p = f
        .agent
        .open_door_intake(&DoorIntake { principal_name: "孙爷爷".into(), principal_id_number: ID_NUMBER.into() })
        .unwrap();
    assert_eq!(p.assurance_text.zh, "上门确认未完成");
    let s = f.agent.door_summary(&p.subject, &cat, &[ITEM.into()], Some(10)).unwrap();
    let name = &cat.item(ITEM).unwrap().name;
    assert!(
        s.zh.starts_with("孙爷爷，您委托王帮办（幸福村便民服务站帮办员）代您办理") && s.zh.contains(&name.zh),
        "{s:?}"
    );
    assert!(s.zh.contains("10 天内有效") && s.en.contains(&name.en) && s.en.contains("10 days"), "{s:?}");
    assert!(matches!(f.agent.door_summary(&p.subject, &cat, &[], None), Err(Error::Validation { .. })));
    // Not for a principal who already has a mandate (nor for a subject that is not one).
    let (a, _) = f.delegate(&Action::ALL, false);
    assert!(matches!(
        f.agent.door_summary(&a.subject, &cat, &[ITEM.into()], None),
        Err(Error::PermissionDenied { .. })
    ));
    // Switching: the banner says whose data it is; the items are the mandate's, named.
    let v = f.agent.view(&a.subject).unwrap();
    assert!(v.banner.zh.contains("李奶奶") && v.banner.zh.contains(&a.id_masked), "{:?}", v.banner);
    assert!(v.banner.en.contains("not yours"));
    assert_eq!(v.items, vec![ScopeItem { code: ITEM.into(), name: name.clone() }]);
    assert_eq!(v.line.assurance_text.en, "delegation signed on their phone");
}

#[test]
fn home_lists_each_principal_with_what_they_need_and_lists_never_mix() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    let (a, _) = f.delegate(&Action::ALL, false);
    let p2 = phone(&f.root);
    let g2 = PrincipalSide::new(&p2.wallet)
        .delegate(&f.agent.certificate_text().unwrap(), "赵大爷", ID_NUMBER, scope(&Action::ALL), None, false)
        .unwrap();
    let b = f.agent.accept_delegation(&g2.text).unwrap();
    f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
    let home = f.agent.principals().unwrap();
    assert_eq!(home.len(), 2);
    assert_eq!(home[0].subject, a.subject, "the principal with work to do first");
    assert_eq!(home[0].open_drafts, 1);
    assert!(home[0].needs_now.zh.contains("待填完"), "{:?}", home[0].needs_now);
    assert_eq!(home[1].open_drafts, 0);
    let (line, cases, drafts) = f.agent.switch_to(&b.subject).unwrap();
    assert_eq!(line.name, "赵大爷");
    assert!(cases.is_empty() && drafts.is_empty(), "b's lists hold nothing of a's");
    // The same principal delegating again renews their mandate; no second subject.
    let again = f.delegate(&Action::ALL, false).0;
    assert_eq!(again.subject, a.subject);
    assert_eq!(f.agent.principals().unwrap().len(), 2);
}

#[test]
fn revocation_then_retention_erases_the_principal() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    let (a, g) = f.delegate(&Action::ALL, false);
    let store = &f.agent_phone.store;
    f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
    let photo = f.agent.attach(&a.subject, "hukou.jpg", &mut &[5u8; 4096][..]).unwrap();
    // The principal revokes on their phone: signed, queued for the platform.
    let side = PrincipalSide::new(&f.principal_phone.wallet);
    let r = side.revoke(&g.id).unwrap();
    assert!(r.revoked_at.is_some());
    assert_eq!(side.pending_revocations().unwrap().len(), 1);
    let rev = Revocation::verify(
        &hex::decode(r.revocation_hex.unwrap()).unwrap(),
        &f.principal_phone.wallet.device_public_key(),
    )
    .unwrap();
    assert_eq!(rev.delegation_id, g.id);
    // The platform's list reaches the agent: use stops at once.
    f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
    assert!(
        matches!(f.agent.cases(&a.subject), Err(Error::PermissionDenied { ref missing, .. }) if missing == "revoked")
    );
    // Within the retention period the data stays (the agent can still hand over what was done).
    f.agent.set_retention_days(7).unwrap();
    f.agent_phone.clock.advance(6 * 86_400);
    assert!(f.agent.sweep().unwrap().is_empty());
    f.agent_phone.clock.advance(86_400 + 1);
    assert!(f.agent.sweep().unwrap().is_empty(), "kept while her accesses were not reported");
    f.report_accesses();
    assert_eq!(f.agent.sweep().unwrap(), vec![a.subject.clone()]);
    // Gone: records, drafts, attachments, label; the home no longer lists them.
    assert!(f.agent.principals().unwrap().is_empty());
    assert!(zhangban_forms::session::list(store, &a.subject).unwrap().is_empty());
    assert!(store.read_attachment_to_vec(&photo.id).is_err());
    let s = store.subjects().unwrap().into_iter().find(|s| s.id == a.subject).unwrap();
    assert!(s.shredded);
    assert!(matches!(store.put("x", "y", &a.subject, b"z"), Err(Error::Shredded { .. })));
}

/// Malware as the app (or a screen left open) keeps a principal's draft object from before the revocation and
/// reads it after: the values it holds in memory must not come out once the mandate ended (revoked, run out) or
/// no longer covers the item (a narrower delegation replaced it). Failed before: the read answered the ID number
/// from memory (only edits were refused). Reads are not audited (one per render).
#[test]
fn attack_a_principals_draft_opened_before_the_end_answers_nothing_after_it() {
    let cat = Catalog::bundled().unwrap();
    for end in ["revoked", "validity", "item:MZ-002"] {
        let f = fixture();
        let store = &f.agent_phone.store;
        let accesses = || store.audit_entries(None).unwrap().into_iter().filter(|e| e.action == AUDIT_ACTION).count();
        let (a, g) = f.delegate(&Action::ALL, false);
        let mut s = f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
        f.agent.edit(&a.subject, &cat, &mut s, "applicant.id_number", json!(ID_NUMBER)).unwrap();
        let before = accesses();
        assert!(s.unlocked().unwrap().state().fields.iter().any(|x| x.value == json!(ID_NUMBER)));
        assert_eq!(accesses(), before, "a read is not audited");
        match end {
            "revoked" => {
                f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
            }
            "validity" => f.agent_phone.clock.advance(31 * 86_400),
            _ => {
                // A newer delegation that no longer covers the item replaces the one the draft was opened under.
                let narrower = Scope { items: vec!["GA-002".into()], ..scope(&Action::ALL) };
                let side = PrincipalSide::new(&f.principal_phone.wallet);
                let cert = f.agent.certificate_text().unwrap();
                let g2 = side.delegate(&cert, "李奶奶", ID_NUMBER, narrower, None, false).unwrap();
                assert_eq!(f.agent.accept_delegation(&g2.text).unwrap().subject, a.subject);
            }
        }
        match s.unlocked().map(|_| ()) {
            Err(Error::PermissionDenied { missing, .. }) => assert_eq!(missing, end),
            other => panic!("{end}: the draft still answers: {other:?}"),
        }
        assert!(f.agent.edit(&a.subject, &cat, &mut s, "applicant.phone", json!("13900001111")).is_err());
    }
}

#[test]
fn single_use_and_expiry_end_the_mandate() {
    let f = fixture();
    let (a, _) = f.delegate(&Action::ALL, true);
    assert_eq!(a.status, PrincipalStatus::Active);
    f.agent_phone.clock.advance(31 * 86_400);
    assert_eq!(f.agent.principals().unwrap()[0].status, PrincipalStatus::Expired);
    f.agent.set_retention_days(0).unwrap();
    assert_eq!(f.agent.sweep().unwrap(), vec![a.subject]);
}

/// At the door the principal shows their resident ID QR: verified offline on the agent's phone, kept
/// under the principal's key, and their draft is filled and exempted from it — only theirs.
#[test]
fn a_principals_licence_shown_at_the_door_fills_only_their_draft() {
    use zhangban_wallet::format::ALG_ES256;
    use zhangban_wallet::issue::{issue_licence, with_derived, LicenceRequest};
    use zhangban_wallet::{ElementValue, LicenceType, Preset, StatusList, TrustEntry, TrustList};
    let f = fixture();
    let issuer = SoftwareKey::generate().unwrap();
    let uscc = "11110000MB0143028X";
    let trust = TrustList {
        sequence: 1,
        issued_at: NOW - 3600,
        entries: vec![TrustEntry {
            kid: issuer.key_id(),
            alg: ALG_ES256,
            public_key: issuer.public_key(),
            issuer_uscc: uscc.into(),
            name_zh: "北京市公安局".into(),
            name_en: "Beijing Public Security Bureau".into(),
            types: vec![LicenceType::ResidentId.code().into()],
            valid_from: NOW - 86400 * 365,
            valid_until: NOW + 86400 * 3650,
            withdrawn: false,
        }],
    }
    .sign(|m| f.root.sign(m))
    .unwrap();
    let status = StatusList::new(1, NOW - 60, 1024).sign(|m| f.root.sign(m)).unwrap();
    for w in [&f.agent_phone.wallet, &f.principal_phone.wallet] {
        w.update_trust_list(&trust, NOW).unwrap();
        w.update_status_list(&status, NOW).unwrap();
    }
    let mut elements = std::collections::BTreeMap::new();
    for (k, v) in [
        ("name", "李秀英"),
        ("sex", "女"),
        ("ethnicity", "汉"),
        ("birth_date", "1940-01-01"),
        ("address", "北京市朝阳区幸福村8号"),
        ("id_number", "110105194001010018"),
        ("issuing_authority", "北京市公安局朝阳分局"),
    ] {
        elements.insert(k.to_string(), ElementValue::Text(v.to_string()));
    }
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: uscc.into(),
        serial: "00000007".into(),
        version: "1".into(),
        elements: with_derived(LicenceType::ResidentId, elements, NOW),
        device_key: f.principal_phone.wallet.device_public_key(),
        valid_from: NOW - 86400 * 100,
        valid_until: NOW + 86400 * 3650,
        status_index: 7,
    };
    let licence = issue_licence(&req, &issuer.key_id(), &issuer).unwrap();
    let summary = f.principal_phone.wallet.import(&licence.encode(), NOW).unwrap();
    let qr = f.principal_phone.wallet.present(&summary.licence_id, &Preset::Full, None, NOW).unwrap().qr_text;

    // A delegation that does not name the licence type: refused, audited.
    let (a, _) = f.delegate(&Action::ALL, false);
    let e = f.agent.check_principal_licence(&a.subject, &qr).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "licence:resident_id"), "{e:?}");
    assert_eq!(f.last_access().1["allowed"], json!(false));
    // One that does: verified offline, kept for this principal only.
    let side = PrincipalSide::new(&f.principal_phone.wallet);
    let mut s = scope(&Action::ALL);
    s.licence_types = vec!["resident_id".into()];
    s.elements =
        vec![LicenceElements { licence_type: "resident_id".into(), elements: vec!["name".into(), "id_number".into()] }];
    let g =
        side.delegate(&f.agent.certificate_text().unwrap(), "李秀英", "110105194001010018", s, None, false).unwrap();
    let a = f.agent.accept_delegation(&g.text).unwrap();
    // Attack (issue 10): the agent shows their own licence (another person's) as hers; or hers with no ID
    // number disclosed, so whose it is cannot be told.
    let mut own = req.clone();
    own.elements.insert("name".into(), ElementValue::Text("王帮办".into()));
    own.elements.insert("id_number".into(), ElementValue::Text(ID_NUMBER.into()));
    own.elements = with_derived(LicenceType::ResidentId, own.elements, NOW);
    own.device_key = f.agent_phone.wallet.device_public_key();
    own.serial = "00000008".into();
    own.status_index = 8;
    let mine =
        f.agent_phone.wallet.import(&issue_licence(&own, &issuer.key_id(), &issuer).unwrap().encode(), NOW).unwrap();
    let qr_mine = f.agent_phone.wallet.present(&mine.licence_id, &Preset::Full, None, NOW).unwrap().qr_text;
    let e = f.agent.check_principal_licence(&a.subject, &qr_mine).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "principal"), "{e:?}");
    assert_eq!(f.last_access().1["allowed"], json!(false));
    let names_only = Preset::Custom(vec!["name".into()]);
    let qr_anon = f.principal_phone.wallet.present(&summary.licence_id, &names_only, None, NOW).unwrap().qr_text;
    let e = f.agent.check_principal_licence(&a.subject, &qr_anon).unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "qr_text"), "{e:?}");
    assert!(f.agent.held(&a.subject).unwrap().is_empty(), "nothing kept");
    // (The refused scan used up that code: a verifier accepts a code once.)
    let qr = f.principal_phone.wallet.present(&summary.licence_id, &Preset::Full, None, NOW + 1).unwrap().qr_text;
    let v = f.agent.check_principal_licence(&a.subject, &qr).unwrap();
    assert_eq!(v.licence_id, summary.licence_id);
    let cat = Catalog::bundled().unwrap();
    let d = f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
    let name = d.draft.value("applicant.name").unwrap();
    assert_eq!(name.value, json!("李秀英"));
    assert!(name.locked && name.provenance.is_verified());
    assert!(d.draft.material_report().iter().any(|m| m.code == "M_ID" && m.status.is_exempt()));
    // Another principal's draft gets none of it, nor does the agent's own.
    let p2 = phone(&f.root);
    let g2 = PrincipalSide::new(&p2.wallet)
        .delegate(&f.agent.certificate_text().unwrap(), "赵大爷", ID_NUMBER, scope(&Action::ALL), None, false)
        .unwrap();
    let b = f.agent.accept_delegation(&g2.text).unwrap();
    let d2 = f.agent.start_draft(&b.subject, &cat, ITEM).unwrap();
    assert!(d2.draft.value("applicant.name").is_none_or(|e| e.value != json!("李秀英")));
    use zhangban_forms::LicenceSource;
    assert!(f.agent.held(SELF_SUBJECT).unwrap().is_empty());
    assert!(f.agent.held(&b.subject).unwrap().is_empty());
}

#[test]
fn the_principal_confirms_the_summary_by_signature_image_or_phone() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    let (a, _) = f.delegate(&Action::ALL, false);
    let mut s = f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
    f.agent.edit(&a.subject, &cat, &mut s, "applicant.name", json!("李秀英")).unwrap();
    let summary = f.agent.confirmation_summary(&a.subject, &cat, &s).unwrap();
    assert!(
        summary.zh.contains("高龄津贴") && summary.zh.contains("李秀英") && summary.zh.contains("王帮办"),
        "{}",
        summary.zh
    );
    assert!(summary.en.contains("Old-age allowance"), "{}", summary.en);
    // Nothing given: refused; a wrong phone signature: refused; the principal's own phone: accepted.
    assert!(f.agent.record_confirmation(&a.subject, &cat, &s, None, None).is_err());
    let stranger = SoftwareKey::generate().unwrap();
    let bad = hex::encode(stranger.sign(b"x").unwrap());
    assert!(matches!(
        f.agent.record_confirmation(&a.subject, &cat, &s, None, Some(&bad)),
        Err(Error::PermissionDenied { .. })
    ));
    let sig = PrincipalSide::new(&f.principal_phone.wallet).confirm_summary(&summary.zh).unwrap();
    let hash = f.agent.record_confirmation(&a.subject, &cat, &s, None, Some(&sig)).unwrap();
    assert_eq!(hash.len(), 64);
    // A signature image must be the principal's own attachment.
    let own = f.agent_phone.store.write_attachment(SELF_SUBJECT, "x.png", &mut &[1u8; 8][..]).unwrap().id;
    assert!(matches!(
        f.agent.record_confirmation(&a.subject, &cat, &s, Some(&own), None),
        Err(Error::PermissionDenied { .. })
    ));
    let img = f.agent.attach(&a.subject, "sig.png", &mut &[2u8; 64][..]).unwrap().id;
    f.agent.record_confirmation(&a.subject, &cat, &s, Some(&img), None).unwrap();
}

/// No path around the agent layer: a principal's draft cannot be started, reopened or edited without the
/// agent's gate (an FFI caller passing a principal's subject or draft id gets PermissionDenied), and an
/// edit after the revocation is refused by the gate, audited.
#[test]
fn a_principals_draft_is_reached_only_through_agent_mode() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    let (a, g) = f.delegate(&Action::ALL, false);
    let store = &f.agent_phone.store;
    let opts = zhangban_forms::AutofillOptions::at(store.clock().as_ref());
    let e = zhangban_forms::Session::start(store.clone(), &cat, &a.subject, ITEM, &zhangban_forms::NoLicences, &opts)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    let mut s = f.agent.start_draft(&a.subject, &cat, ITEM).unwrap();
    let e = zhangban_forms::Session::resume(store.clone(), &cat, s.id(), store.today()).map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    // Edits go through the gate (audited) and are the agent's, whatever editor the caller names.
    s.set("applicant.name", json!("李秀英"), zhangban_forms::Editor::Person).unwrap();
    assert_eq!(f.last_access().1["allowed"], json!(true));
    let entry = s.draft.value("applicant.name").unwrap();
    assert!(format!("{:?}", entry.provenance).contains("agent-wang"), "{:?}", entry.provenance);
    f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
    let e = s.set("applicant.phone", json!("13900001111"), zhangban_forms::Editor::Person).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "revoked"), "{e:?}");
    assert_eq!(f.last_access().1["allowed"], json!(false));
    // The owner's own drafts are untouched by all this.
    zhangban_forms::Session::start(store.clone(), &cat, SELF_SUBJECT, ITEM, &zhangban_forms::NoLicences, &opts)
        .unwrap();
}

/// What runs out is published for the reminder engine (through base: reminders may not depend on agent
/// mode), with the principal's record, and withdrawn when the mandate is revoked; erasing the principal
/// erases it too.
#[test]
fn a_delegation_publishes_when_it_runs_out_and_revocation_withdraws_it() {
    use zhangban_base::deadline::{self, DeadlineKind};
    let f = fixture();
    let store = &f.agent_phone.store;
    let (a, g) = f.delegate(&Action::ALL, false);
    let published = deadline::list(store).unwrap();
    assert_eq!(published.len(), 1);
    let (id, subject, d) = &published[0];
    assert_eq!((id.as_str(), subject.as_str()), (format!("delegation:{}", a.subject).as_str(), a.subject.as_str()));
    assert_eq!((d.kind, d.name.as_str(), Some(d.ends_at)), (DeadlineKind::Delegation, "李奶奶", a.valid_until));
    f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
    assert!(deadline::list(store).unwrap().is_empty(), "revoked: nothing runs out any more");
    // A new delegation publishes again; erasing the principal takes it along.
    let (b, _) = f.delegate(&Action::ALL, false);
    assert_eq!(deadline::list(store).unwrap().len(), 1);
    f.agent_phone.clock.advance(31 * 86_400);
    f.agent.set_retention_days(0).unwrap();
    assert!(f.agent.sweep().unwrap().contains(&b.subject));
    assert!(deadline::list(store).unwrap().is_empty());
}

/// What the sync runner does with a 4xx: the submission is quarantined and the case shows the reason.
fn refuse(store: &Store, case_id: &str) {
    let op = zhangban_base::outbox::pending(store).unwrap().into_iter().find(|o| o.case_id == case_id).unwrap();
    let problem = zhangban_base::outbox::Problem {
        status: 422,
        message: "values.phone: wrong".into(),
        message_zh: String::new(),
        op: "submit".into(),
    };
    store
        .transaction(|t| {
            zhangban_base::outbox::quarantine_in(t, &op, problem.clone())?;
            zhangban_cases::update_in(t, case_id, |c| {
                c.problem = Some(problem.clone());
                Ok(())
            })
        })
        .unwrap();
}

/// A case of the principal's: their draft filled and submitted through agent mode.
fn principal_case(f: &Fixture, principal: &str, cat: &Catalog) -> zhangban_cases::Case {
    let mut s = f.agent.start_draft(principal, cat, ITEM).unwrap();
    for (path, v) in [
        ("applicant.name", "李奶奶"),
        ("applicant.id_number", "110105194001010018"),
        ("applicant.birth_date", "1940-01-01"),
        ("applicant.phone", "13900001111"),
        ("applicant.address", "北京市朝阳区幸福村 8 号"),
        ("allowance.account", "6217000010001234567"),
    ] {
        f.agent.edit(principal, cat, &mut s, path, json!(v)).unwrap();
    }
    for code in ["M_ID", "M_HOUSEHOLD", "M_SSC"] {
        let id = f.agent.attach(principal, &format!("{code}.jpg"), &mut &b"\xff\xd8\xff scan"[..]).unwrap().id;
        let choice = zhangban_forms::MaterialChoice::Attached { attachment_id: id };
        f.agent.set_material(principal, cat, &mut s, code, Some(choice)).unwrap();
    }
    f.agent.submit(principal, cat, &mut s).unwrap()
}

#[test]
fn a_refused_principal_case_is_resubmitted_only_under_the_mandate() {
    use zhangban_cases::{Fix, ValuesChange};
    let f = fixture();
    let store = &f.agent_phone.store;
    let cat = Catalog::bundled().unwrap();
    let (a, g) = f.delegate(&Action::ALL, false);
    let case = principal_case(&f, &a.subject, &cat);
    refuse(store, &case.id);
    let fix = Fix { values: ValuesChange::Patch(json!({ "applicant": { "phone": "13900001111" } })), ..Fix::default() };

    // Attack: around agent mode (the plain resubmit an FFI caller could reach).
    let e = zhangban_cases::resubmit(store, &case.id, &fix).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "delegation"), "{e:?}");
    // Attack: moving the case to an item the delegation does not cover.
    let out = Fix { item_codes: Some(vec!["GA-002".into()]), ..Fix::default() };
    let e = f.agent.resubmit(&a.subject, &case.id, &out).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "item:GA-002"), "{e:?}");
    assert_eq!(f.last_access().1["allowed"], json!(false));
    // Attack: another principal's case through this principal's mandate.
    let p2 = phone(&f.root);
    let g2 = PrincipalSide::new(&p2.wallet)
        .delegate(&f.agent.certificate_text().unwrap(), "赵大爷", ID_NUMBER, scope(&Action::ALL), None, false)
        .unwrap();
    let b = f.agent.accept_delegation(&g2.text).unwrap();
    let e = f.agent.resubmit(&b.subject, &case.id, &fix).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "principal"), "{e:?}");
    assert_eq!(zhangban_base::outbox::quarantined(store).unwrap().len(), 1, "nothing changed");

    // Under the mandate: sent again with a new key, the mandate on board, the agent as the actor.
    let got = f.agent.resubmit(&a.subject, &case.id, &fix).unwrap();
    assert!(got.problem.is_none());
    assert_eq!(got.timeline.last().unwrap().actor, "agent-wang");
    let op = zhangban_base::outbox::pending(store).unwrap().into_iter().find(|o| o.case_id == case.id).unwrap();
    assert_eq!(op.body["proxy"]["mandate"].as_str().map(|m| !m.is_empty()), Some(true));
    assert_eq!(op.body["proxy"]["assurance"], json!("delegation"));
    assert_eq!(op.body["values"]["applicant"]["phone"], json!("13900001111"));
    assert_eq!(f.last_access().1["allowed"], json!(true));

    // Refused again, then revoked: the next resubmission is refused.
    refuse(store, &case.id);
    f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
    let e = f.agent.resubmit(&a.subject, &case.id, &Fix::default()).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "revoked"), "{e:?}");
}

#[test]
fn a_single_use_mandate_still_lets_its_own_refused_case_be_resubmitted() {
    let f = fixture();
    let store = &f.agent_phone.store;
    let cat = Catalog::bundled().unwrap();
    let (a, _) = f.delegate(&Action::ALL, true);
    let case = principal_case(&f, &a.subject, &cat);
    refuse(store, &case.id);
    f.agent.resubmit(&a.subject, &case.id, &zhangban_cases::Fix::default()).unwrap();
    // …but no new application under it.
    let e = f.agent.start_draft(&a.subject, &cat, ITEM).map(|_| ()).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "used"), "{e:?}");
}

#[test]
fn a_relatives_phone_delegates_at_the_lower_family_assurance() {
    let f = fixture();
    // 亲友代办: the daughter's phone (its own key) signs for her mother, who has no phone.
    let side = PrincipalSide::new(&f.principal_phone.wallet);
    let cert = f.agent.certificate_text().unwrap();
    let g = side
        .delegate_with(
            &DelegationRequest::new(&cert, "李奶奶", ID_NUMBER, scope(&Action::ALL)).by_relative("李小红", "女儿"),
        )
        .unwrap();
    let d = Delegation::verify(&Delegation::from_text(&g.text).unwrap()).unwrap();
    assert_eq!(d.relative, Some(Relative { name: "李小红".into(), relation: "女儿".into() }));
    assert_eq!(d.assurance(), Assurance::Family);
    let line = f.agent.accept_delegation(&g.text).unwrap();
    assert_eq!(line.assurance, Some(Assurance::Family));
    assert_eq!(line.assurance_text.zh, "亲友代办（亲属手机签署，较低保障等级）");
    // A delegation from the principal's own phone has no relative and keeps the higher assurance.
    let (own, _) = f.delegate(&Action::ALL, false);
    assert_eq!(own.assurance, Some(Assurance::Delegation));
    // Bounded and named: an empty relation is refused.
    let e = side.delegate_with(
        &DelegationRequest::new(&cert, "李奶奶", ID_NUMBER, scope(&Action::ALL)).by_relative("李小红", " "),
    );
    assert!(matches!(e, Err(Error::Validation { ref field, .. }) if field == "relative.relation"), "{e:?}");
}

/// Finding 11: the licences a principal showed or shared are kept under keyed ids (the files do not name
/// them), and a store of before gets its rows renamed at unlock.
#[test]
fn the_principals_licence_collections_are_keyed() {
    for c in [agent::PRINCIPAL_LICENCES, agent::SHARED_LICENCES] {
        assert!(zhangban_base::store::KEYED_IDS.contains(&c), "{c}");
    }
}

/// Issue 10 (the FFI probe): the agent keeps a photo of the principal's QR and scans it again — after the
/// revocation reached the phone (the platform sends it once), after a single use, after the erasure, or
/// to replace a newer delegation. Before the fix, the revoked mandate came back active.
#[test]
fn attack_a_delegation_scanned_again_does_not_bring_its_mandate_back() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    let missing = |r: Result<PrincipalLine>| match r {
        Err(Error::PermissionDenied { missing, .. }) => missing,
        other => panic!("the scan was not refused: {other:?}"),
    };
    // Revoked.
    let (a, g) = f.delegate(&Action::ALL, false);
    f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
    assert_eq!(missing(f.agent.accept_delegation(&g.text)), "revoked");
    assert!(
        matches!(f.agent.view(&a.subject), Err(Error::PermissionDenied { ref missing, .. }) if missing == "revoked")
    );
    // Erased after the retention: the QR still does not bring her back.
    f.agent.set_retention_days(0).unwrap();
    f.report_accesses();
    assert_eq!(f.agent.sweep().unwrap(), vec![a.subject.clone()]);
    assert_eq!(missing(f.agent.accept_delegation(&g.text)), "revoked");
    assert!(f.agent.principals().unwrap().is_empty());

    // Single use, spent.
    let f = fixture();
    let (b, g1) = f.delegate(&Action::ALL, true);
    principal_case(&f, &b.subject, &cat);
    assert_eq!(missing(f.agent.accept_delegation(&g1.text)), "used");
    assert!(f.agent.start_draft(&b.subject, &cat, ITEM).is_err());
    // Erased by the store's own call (not the sweep), the QR still finds it spent.
    f.agent_phone.store.shred_subject(&b.subject).unwrap();
    assert_eq!(missing(f.agent.accept_delegation(&g1.text)), "used");

    // An older delegation does not replace a newer one (a narrower scope given later).
    let f = fixture();
    let side = PrincipalSide::new(&f.principal_phone.wallet);
    let old =
        side.delegate(&f.agent.certificate_text().unwrap(), "李奶奶", ID_NUMBER, scope(&Action::ALL), None, false);
    let old = old.unwrap();
    f.agent_phone.clock.advance(60);
    f.principal_phone.clock.advance(60);
    let (c, _) = f.delegate(&[Action::Follow], false);
    assert_eq!(missing(f.agent.accept_delegation(&old.text)), "superseded");
    let e = f.agent.start_draft(&c.subject, &cat, ITEM).map(|_| ()).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { missing, .. } if missing == "action:fill"), "{e:?}");
}

/// Issue 10 (the FFI probe): one principal's case never takes another's attachment, through agent mode's
/// resubmission either (the upload list is checked against the case's subject).
#[test]
fn attack_another_principals_attachment_in_a_resubmission_is_refused() {
    let f = fixture();
    let store = &f.agent_phone.store;
    let cat = Catalog::bundled().unwrap();
    let (a, _) = f.delegate(&Action::ALL, false);
    let case = principal_case(&f, &a.subject, &cat);
    refuse(store, &case.id);
    let p2 = phone(&f.root);
    let g2 = PrincipalSide::new(&p2.wallet)
        .delegate(&f.agent.certificate_text().unwrap(), "赵大爷", ID_NUMBER, scope(&Action::ALL), None, false)
        .unwrap();
    let b = f.agent.accept_delegation(&g2.text).unwrap();
    let photo = f.agent.attach(&b.subject, "id.jpg", &mut &b"\xff\xd8\xff zhao"[..]).unwrap();
    let fix = zhangban_cases::Fix { attachments: Some(vec![photo.id.clone()]), ..zhangban_cases::Fix::default() };
    let e = f.agent.resubmit(&a.subject, &case.id, &fix).unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "attachments[0]"), "{e:?}");
    assert_eq!(zhangban_base::outbox::quarantined(store).unwrap().len(), 1, "nothing changed");
}

/// Copies the store's folder as an attacker with the files would (not the vault's key file: the key material
/// stays in the platform's keystore, which the attacker may use later as the app).
fn copy_store_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "vault.key" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_store_files(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// What a principal left on the agent's phone: a draft, a photo, their case (and record and label).
struct Left {
    subject: String,
    draft_id: String,
    photo: String,
    case_id: Option<String>,
}

/// Issue 11: after the mandate ended (`end` moves it there) and the retention period, the sweep erases the
/// principal; a copy of the store's files taken before the sweep, opened afterwards with the phone's current
/// key material, reads none of it: not the principal's record, drafts, attachments, case or label. The copy is
/// first opened before the sweep to show it held all of it.
fn erased_also_from_a_copy_taken_before(f: &Fixture, left: &Left, dir: &std::path::Path) {
    let store = &f.agent_phone.store;
    let tmp = tempfile::tempdir().unwrap();
    let (probe, copy) = (tmp.path().join("probe"), tmp.path().join("copy"));
    copy_store_files(dir, &probe);
    copy_store_files(dir, &copy);
    let vault = || -> Arc<dyn KeyVault> { Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap()) };
    {
        // Before the sweep such a copy holds everything (so what follows is not vacuous).
        let c = Store::open(&probe, vault()).unwrap();
        assert!(c.get(access::PRINCIPALS, &left.subject).is_ok());
        assert!(c.get(zhangban_forms::session::DRAFTS, &left.draft_id).is_ok());
        assert!(c.read_attachment_to_vec(&left.photo).is_ok());
        assert!(c.subjects().unwrap().iter().any(|s| s.label.contains("李奶奶")));
    }
    // Around the store's checks: the vault still unwraps the key ring the copy names (the principal's key is
    // sealed under it).
    let ring_of_copy = || -> Result<Vec<u8>, zhangban_base::store::VaultError> {
        let db =
            rusqlite::Connection::open_with_flags(copy.join("zhangban.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let meta =
            |k: &str| -> Vec<u8> { db.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0)).unwrap() };
        let generation = u64::from_be_bytes(meta("ring_generation").try_into().unwrap());
        vault().unwrap(&format!("zhangban.ring.{}.{generation}", store.store_id()), &meta("ring_key"))
    };
    assert!(ring_of_copy().is_ok(), "before the sweep the copy's ring opens");
    f.report_accesses();
    assert_eq!(f.agent.sweep().unwrap(), vec![left.subject.clone()]);
    // The live store.
    assert!(access::load(store, &left.subject).unwrap().is_none());
    assert!(zhangban_forms::session::list(store, &left.subject).unwrap().is_empty());
    assert!(store.read_attachment_to_vec(&left.photo).is_err());
    // The copy taken before, after the sweep: the ring it names is destroyed in the vault, so nothing sealed
    // under it (the principal's key, hence their record, drafts, case, attachments and label) opens any more.
    assert!(ring_of_copy().is_err(), "the copy's ring still opens: the principal's key can be unwrapped");
    // Its files hold nothing of the principal in the clear.
    for e in std::fs::read_dir(&copy).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
        assert!(!bytes.windows("李奶奶".len()).any(|w| w == "李奶奶".as_bytes()), "the principal's name in the clear");
    }
    // Through the store's own API the copy is refused (an older copy put back), or gives nothing.
    match Store::open(&copy, vault()) {
        Err(e) => assert!(matches!(e, Error::RolledBack | Error::WrongKey), "{e:?}"),
        Ok(c) => {
            assert!(c.get(access::PRINCIPALS, &left.subject).is_err(), "the copy still reads the principal's record");
            assert!(c.get(zhangban_forms::session::DRAFTS, &left.draft_id).is_err(), "the copy still reads the draft");
            assert!(c.read_attachment_to_vec(&left.photo).is_err(), "the copy still reads the principal's photo");
            if let Some(case) = &left.case_id {
                assert!(zhangban_cases::get(&c, case).is_err(), "the copy still reads the principal's case");
            }
            let labels = format!("{:?}", c.subjects().unwrap_or_default());
            assert!(!labels.contains("李奶奶"), "the copy still shows the label: {labels}");
        }
    }
}

fn leave_something(f: &Fixture, subject: &str, cat: &Catalog) -> Left {
    let d = f.agent.start_draft(subject, cat, ITEM).unwrap();
    let photo = f.agent.attach(subject, "hukou.jpg", &mut &[5u8; 4096][..]).unwrap().id;
    Left { subject: subject.to_string(), draft_id: d.id().to_string(), photo, case_id: None }
}

#[test]
fn after_expiry_and_retention_the_principal_is_erased_also_from_a_copy_taken_before() {
    let f = fixture();
    let cat = Catalog::bundled().unwrap();
    let (a, _) = f.delegate(&Action::ALL, false);
    let left = leave_something(&f, &a.subject, &cat);
    f.agent.set_retention_days(7).unwrap();
    // Expired (30 days) but within the retention period: kept.
    f.agent_phone.clock.advance(31 * 86_400);
    assert!(f.agent.sweep().unwrap().is_empty());
    assert_eq!(f.agent.principals().unwrap()[0].status, PrincipalStatus::Expired);
    // A week after the end.
    f.agent_phone.clock.advance(6 * 86_400);
    erased_also_from_a_copy_taken_before(&f, &left, f.agent_phone._dir.path());
}

#[test]
fn after_completion_and_retention_the_principal_is_erased_also_from_a_copy_taken_before() {
    let f = fixture();
    let store = &f.agent_phone.store;
    let cat = Catalog::bundled().unwrap();
    let (a, _) = f.delegate(&Action::ALL, true);
    let photo = f.agent.attach(&a.subject, "hukou.jpg", &mut &[5u8; 4096][..]).unwrap().id;
    let case = principal_case(&f, &a.subject, &cat);
    let draft_id = zhangban_forms::session::list(store, &a.subject).unwrap()[0].id.clone();
    let left = Left { subject: a.subject.clone(), draft_id, photo, case_id: Some(case.id.clone()) };
    f.agent.set_retention_days(7).unwrap();
    // Used, still under way: not ended, nothing erased however long it takes (within the validity).
    f.agent_phone.clock.advance(10 * 86_400);
    assert!(f.agent.sweep().unwrap().is_empty());
    assert_eq!(f.agent.principals().unwrap()[0].status, PrincipalStatus::Used);
    // The platform decides (the sync's events): 办结.
    let ev = |seq: u64, kind: &str| zhangban_cases::PlatformEvent {
        seq,
        case_id: "P-1".into(),
        client_ref: case.id.clone(),
        kind: kind.into(),
        at: store.now(),
        actor: "clerk".into(),
        data: json!({ "promised_days": 20 }),
    };
    for (seq, kind) in [(1, "accepted"), (2, "completed")] {
        store
            .transaction(|t| {
                zhangban_cases::update_in(t, &case.id, |c| Ok(zhangban_cases::apply_event(c, &ev(seq, kind))))
            })
            .unwrap();
    }
    assert!(zhangban_cases::get(store, &case.id).unwrap().state.is_final());
    // The sync's sweep sees it completed: the end is published at once (the home leaves the principal), the
    // data kept for the retention period.
    assert!(f.agent.sweep().unwrap().is_empty());
    let acting = zhangban_base::acting::get(store, &a.subject).unwrap().unwrap();
    assert_eq!(acting.end(store.now()), Some((zhangban_base::acting::End::Completed, store.now())));
    let line = f.agent.principals().unwrap().remove(0);
    assert!(line.needs_now.zh.starts_with("一次性委托的事项已办结"), "{:?}", line.needs_now);
    f.agent_phone.clock.advance(6 * 86_400);
    assert!(f.agent.sweep().unwrap().is_empty());
    f.agent_phone.clock.advance(86_400);
    erased_also_from_a_copy_taken_before(&f, &left, f.agent_phone._dir.path());
}

/// The end of a mandate is published with the principal's record (`zhangban_base::acting`, for the reminder
/// engine: ADR 0043): the date it runs out, then revoked; a store written before it had the record gets it at its
/// first sweep.
#[test]
fn the_end_of_a_mandate_is_published_for_the_home_and_old_stores_get_it_at_the_first_sweep() {
    use zhangban_base::acting::{self, End};
    let f = fixture();
    let store = &f.agent_phone.store;
    let (a, g) = f.delegate(&Action::ALL, false);
    let pub_ = acting::get(store, &a.subject).unwrap().unwrap();
    assert_eq!((Some(pub_.valid_until), pub_.end(store.now())), (a.valid_until, None));
    f.agent.apply_revocations(std::slice::from_ref(&g.id)).unwrap();
    let pub_ = acting::get(store, &a.subject).unwrap().unwrap();
    assert_eq!(pub_.end(store.now()), Some((End::Revoked, store.now())));
    // An old store: the record missing.
    store.transaction(|t| acting::publish(t, &a.subject, None)).unwrap();
    assert!(acting::ended(store, store.now()).unwrap().is_empty());
    f.agent.sweep().unwrap();
    assert_eq!(acting::ended(store, store.now()).unwrap().get(&a.subject).map(|e| e.0), Some(End::Revoked));
}

/// Two phones' clocks differ: a delegation signed on her phone a couple of minutes ahead of the agent's is usable
/// at once (before, "not valid at this time" until the agent's clock caught up: found as a flaky sandbox test,
/// where her phone signed a second after the agent's fixed clock was set); one signed far in the agent's future
/// (her clock set ten minutes on) is not yet valid, and its end is not stretched.
#[test]
fn a_delegation_from_a_phone_a_little_ahead_is_usable_at_once() {
    let cat = Catalog::bundled().unwrap();
    let f = fixture();
    f.principal_phone.clock.advance(120);
    let (a, _) = f.delegate(&Action::ALL, false);
    assert_eq!(a.status, PrincipalStatus::Active);
    assert!(f.agent.start_draft(&a.subject, &cat, ITEM).is_ok());
    let f = fixture();
    f.principal_phone.clock.advance(600);
    let (a, _) = f.delegate(&Action::ALL, false);
    assert_eq!(f.agent.principals().unwrap()[0].status, PrincipalStatus::NotYetValid);
    match f.agent.start_draft(&a.subject, &cat, ITEM).map(|_| ()) {
        Err(Error::PermissionDenied { missing, .. }) => assert_eq!(missing, "validity"),
        other => panic!("{other:?}"),
    }
    f.agent_phone.clock.advance(600);
    assert!(f.agent.start_draft(&a.subject, &cat, ITEM).is_ok());
    // 30 days from her clock: over, on the agent's, a second after (no skew at the end).
    f.agent_phone.clock.advance(30 * 86_400 + 1);
    assert_eq!(f.agent.principals().unwrap()[0].status, PrincipalStatus::Expired);
}
