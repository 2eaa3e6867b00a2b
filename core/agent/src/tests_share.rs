//! Licences shared into a delegation (selective disclosure, version 2 of `ZBD1:`) and the per-field scope:
//! the attacker's tests (an agent edits the QR to add an element, uses an element the principal did not
//! disclose, or one of another licence type) and the principal's and agent's ordinary path.

use std::collections::BTreeMap;

use ciborium::value::Value as Cbor;
use serde_json::json;
use zhangban_base::Error;
use zhangban_catalog::Catalog;
use zhangban_forms::LicenceSource;
use zhangban_wallet::format::{decode_cbor, encode_cbor, ALG_ES256};
use zhangban_wallet::issue::{issue_licence, with_derived, LicenceRequest};
use zhangban_wallet::{
    DeviceSigner, ElementValue, LicenceType, Preset, SoftwareKey, StatusList, TrustEntry, TrustList,
};

use crate::access::AUDIT_ACTION;
use crate::mandate::{MANDATE_VERSION, MAX_DELEGATION_TEXT};
use crate::tests::{certificate, phone, Phone};
use crate::*;

const NOW: i64 = 1_795_000_000;
const ID_NUMBER: &str = "110105194001010018";
const ITEM: &str = "MZ-002";
const USCC: &str = "11110000MB0143028X";

struct Door {
    root: SoftwareKey,
    agent_phone: Phone,
    agent: Agent,
    principal_phone: Phone,
    side: PrincipalSide,
    resident_id: String,
    ssc: String,
}

/// An issuer the trust list names for `types`, a status list, both on every phone given.
fn trust(root: &SoftwareKey, issuer: &SoftwareKey, phones: &[&Phone]) {
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
            types: vec![LicenceType::ResidentId.code().into(), LicenceType::SocialSecurityCard.code().into()],
            valid_from: NOW - 86400 * 365,
            valid_until: NOW + 86400 * 3650,
            withdrawn: false,
        }],
    }
    .sign(|m| root.sign(m))
    .unwrap();
    let status = StatusList::new(1, NOW - 60, 1024).sign(|m| root.sign(m)).unwrap();
    for p in phones {
        p.wallet.update_trust_list(&trust, NOW).unwrap();
        p.wallet.update_status_list(&status, NOW).unwrap();
    }
}

fn issue(issuer: &SoftwareKey, p: &Phone, t: LicenceType, serial: &str, index: u64, values: &[(&str, &str)]) -> String {
    let elements: BTreeMap<String, ElementValue> =
        values.iter().map(|(k, v)| (k.to_string(), ElementValue::Text(v.to_string()))).collect();
    let req = LicenceRequest {
        licence_type: t,
        issuer_uscc: USCC.into(),
        serial: serial.into(),
        version: "1".into(),
        elements: with_derived(t, elements, NOW),
        device_key: p.wallet.device_public_key(),
        valid_from: NOW - 86400 * 100,
        valid_until: NOW + 86400 * 3650,
        status_index: index,
    };
    let l = issue_licence(&req, &issuer.key_id(), issuer).unwrap();
    p.wallet.import(&l.encode(), NOW).unwrap().licence_id
}

/// The agent's phone (certificate installed), the principal's phone with her resident ID card and social
/// security card, both phones trusting the issuer.
fn door() -> Door {
    let root = SoftwareKey::generate().unwrap();
    let agent_phone = phone(&root);
    let agent = Agent::new(&agent_phone.wallet);
    agent.install_certificate(&certificate(&root, agent_phone.wallet.device_public_key(), NOW + 365 * 86_400)).unwrap();
    let principal_phone = phone(&root);
    let issuer = SoftwareKey::generate().unwrap();
    trust(&root, &issuer, &[&agent_phone, &principal_phone]);
    let resident_id = issue(
        &issuer,
        &principal_phone,
        LicenceType::ResidentId,
        "00000007",
        7,
        &[
            ("name", "李秀英"),
            ("sex", "女"),
            ("ethnicity", "汉"),
            ("birth_date", "1940-01-01"),
            ("address", "北京市朝阳区幸福村8号"),
            ("id_number", ID_NUMBER),
            ("issuing_authority", "北京市公安局朝阳分局"),
        ],
    );
    let ssc = issue(
        &issuer,
        &principal_phone,
        LicenceType::SocialSecurityCard,
        "00000008",
        8,
        &[
            ("name", "李秀英"),
            ("id_number", ID_NUMBER),
            ("card_number", "6217000010001234567"),
            ("issuing_region", "北京"),
        ],
    );
    let side = PrincipalSide::new(&principal_phone.wallet);
    Door { root, agent_phone, agent, principal_phone, side, resident_id, ssc }
}

fn scope() -> Scope {
    Scope { items: vec![ITEM.into()], licence_types: vec![], actions: Action::ALL.to_vec(), elements: vec![] }
}

fn share(licence_id: &str, elements: &[&str]) -> LicenceShare {
    LicenceShare { licence_id: licence_id.into(), elements: elements.iter().map(|s| s.to_string()).collect() }
}

impl Door {
    fn delegate(&self, scope: Scope, shares: &[LicenceShare]) -> GivenDelegation {
        let cert = self.agent.certificate_text().unwrap();
        self.side.delegate_with(&DelegationRequest::new(&cert, "李秀英", ID_NUMBER, scope).sharing(shares)).unwrap()
    }

    /// The principal's 亮证 of every element of `licence_id` (what she shows at the door).
    fn full_code(&self, licence_id: &str, at: i64) -> String {
        self.principal_phone.wallet.present(licence_id, &Preset::Full, None, at).unwrap().qr_text
    }

    fn last_access(&self) -> serde_json::Value {
        let e =
            self.agent_phone.store.audit_entries(None).unwrap().into_iter().rev().find(|e| e.action == AUDIT_ACTION);
        e.expect("an agent.access entry").detail
    }
}

fn missing(e: &Error) -> &str {
    match e {
        Error::PermissionDenied { missing, .. } => missing,
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

/// The payload map of a signed delegation, and a function putting an edited one back (same signature).
type Entries = Vec<(Cbor, Cbor)>;

fn payload_of(signed: &[u8]) -> (Entries, impl Fn(Entries) -> Vec<u8>) {
    let Cbor::Tag(18, inner) = decode_cbor(signed).unwrap() else { panic!("COSE_Sign1") };
    let Cbor::Array(parts) = *inner else { panic!("COSE_Sign1 array") };
    let Cbor::Bytes(p) = &parts[2] else { panic!("payload") };
    let Cbor::Map(m) = decode_cbor(p).unwrap() else { panic!("payload map") };
    let rebuild = move |m: Entries| {
        let mut parts = parts.clone();
        parts[2] = Cbor::Bytes(encode_cbor(&Cbor::Map(m)));
        encode_cbor(&Cbor::Tag(18, Box::new(Cbor::Array(parts))))
    };
    (m, rebuild)
}

fn key(m: &mut [(Cbor, Cbor)], k: i64) -> &mut Cbor {
    &mut m.iter_mut().find(|(key, _)| *key == Cbor::Integer(k.into())).expect("key").1
}

#[test]
fn a_shared_licence_fills_her_draft_with_only_the_elements_she_chose() {
    let d = door();
    let g = d.delegate(scope(), &[share(&d.resident_id, &["name", "id_number"])]);
    assert!(g.text.starts_with("ZBD1:") && g.text.len() <= MAX_DELEGATION_TEXT, "{}", g.text.len());
    let plain = d.delegate(scope(), &[]).text.len();
    eprintln!("ZBD1: text, no shared licence: {plain} characters; one (2 elements): {}", g.text.len());
    // The scope took the shared elements in: the agent may use exactly those.
    assert_eq!(g.scope.licence_types, vec!["resident_id".to_string()]);
    assert_eq!(
        g.scope.elements,
        vec![LicenceElements { licence_type: "resident_id".into(), elements: vec!["name".into(), "id_number".into()] }]
    );
    let line = d.agent.accept_delegation(&g.text).unwrap();
    let cat = Catalog::bundled().unwrap();
    let s = d.agent.start_draft(&line.subject, &cat, ITEM).unwrap();
    let name = s.draft.value("applicant.name").unwrap();
    assert_eq!(name.value, json!("李秀英"));
    assert!(name.locked && name.provenance.is_verified(), "from her licence, checked against the issuer");
    assert_eq!(s.draft.value("applicant.id_number").unwrap().value, json!(ID_NUMBER));
    // What she did not share is not there.
    for path in ["applicant.address", "applicant.birth_date", "applicant.gender", "applicant.ethnicity"] {
        assert!(s.draft.value(path).is_none_or(|e| e.value.is_null()), "{path} must not be filled");
    }
    assert_eq!(d.agent.licence_element(&line.subject, "resident_id", "name").unwrap(), json!("李秀英"));
    assert_eq!(d.last_access()["allowed"], json!(true));
    assert_eq!(d.last_access()["element"], json!("resident_id.name"));
}

/// Attack: the agent edits the delegation QR to add an element — in the scope, and with the element's item
/// (salt and value, from a 亮证 the principal showed once) spliced into the shared licence.
#[test]
fn attack_an_agent_who_edits_the_qr_to_add_an_element_is_refused() {
    let d = door();
    let g = d.delegate(scope(), &[share(&d.resident_id, &["name", "id_number"])]);
    let signed = Delegation::from_text(&g.text).unwrap();
    // The address item, exactly as the issuer salted it (from a full presentation she once showed).
    let shown = zhangban_wallet::format::Presentation::from_text(&d.full_code(&d.resident_id, NOW)).unwrap();
    let address_item = shown.items[4].clone(); // element ids 1..: 5 = address
    assert_eq!(zhangban_wallet::format::ElementItem::decode(&address_item).unwrap().id, 5);

    // (1) scope only: add address (id 5) to resident_id's element list.
    let (mut m, rebuild) = payload_of(&signed);
    let Cbor::Map(sc) = key(&mut m, 9) else { panic!("scope") };
    let Cbor::Array(lists) = key(sc, 4) else { panic!("elements") };
    let Cbor::Array(pair) = &mut lists[0] else { panic!("pair") };
    pair[1] = Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Integer(5.into()), Cbor::Integer(6.into())]);
    let edited = Delegation::to_text(&rebuild(m.clone()));
    let e = d.agent.accept_delegation(&edited).unwrap_err();
    assert_eq!(missing(&e), "signature", "{e:?}");

    // (2) and the item spliced into the shared licence.
    let Cbor::Array(shared) = key(&mut m, 14) else { panic!("shared") };
    let Cbor::Bytes(grant) = &shared[0] else { panic!("grant") };
    let mut tok = zhangban_wallet::format::GrantToken::decode(grant).unwrap();
    tok.items.insert(1, address_item);
    shared[0] = Cbor::Bytes(tok.encode());
    let e = d.agent.accept_delegation(&Delegation::to_text(&rebuild(m))).unwrap_err();
    assert_eq!(missing(&e), "signature", "{e:?}");
    assert!(d.agent.principals().unwrap().is_empty(), "nothing kept from an edited code");
}

/// Attack: the agent uses an element the principal did not disclose to them — here one her 亮证 at the
/// door showed (she showed the whole card) but the delegation's per-field scope does not name.
#[test]
fn attack_an_agent_who_uses_an_undisclosed_element_is_refused_and_audited() {
    let d = door();
    let g = d.delegate(scope(), &[share(&d.resident_id, &["name", "id_number"])]);
    let her = d.agent.accept_delegation(&g.text).unwrap().subject;
    // She shows her whole card at the door; the agent's phone keeps only what the scope covers.
    let v = d.agent.check_principal_licence(&her, &d.full_code(&d.resident_id, NOW)).unwrap();
    assert!(v.disclosed.iter().any(|e| e.key == "address"));
    let kept = d.agent.held(&her).unwrap();
    for l in &kept {
        assert!(!l.fields.contains_key("address") && !l.fields.contains_key("birth_date"), "{l:?}");
    }
    let e = d.agent.licence_element(&her, "resident_id", "address").unwrap_err();
    assert_eq!(missing(&e), "element:resident_id.address");
    assert_eq!(e.message_zh(), "无权代办：授权范围不含证照项目居民身份证的“住址”");
    assert_eq!(
        e.message_en(),
        "Not permitted for this principal: the delegation does not cover 'Address' of the Resident identity card"
    );
    let a = d.last_access();
    assert_eq!((a["allowed"].clone(), a["element"].clone()), (json!(false), json!("resident_id.address")));
    // Her draft: not filled from it either.
    let cat = Catalog::bundled().unwrap();
    let s = d.agent.start_draft(&her, &cat, ITEM).unwrap();
    assert!(s.draft.value("applicant.address").is_none_or(|e| e.value.is_null()));
    assert_eq!(s.draft.value("applicant.name").unwrap().value, json!("李秀英"));
}

/// Attack: an element of another licence type. The scope names `name` and `id_number` of her resident ID
/// card and `card_number` of her social security card; the social security card also carries a name and
/// an ID number (element ids 1 and 2, as the resident ID card's name is 1): a check by key or by id alone
/// would let them through.
#[test]
fn attack_an_element_of_another_licence_type_is_refused() {
    let d = door();
    let g = d.delegate(scope(), &[share(&d.resident_id, &["name", "id_number"]), share(&d.ssc, &["card_number"])]);
    assert!(g.text.len() <= MAX_DELEGATION_TEXT, "two shared licences fit one QR: {}", g.text.len());
    eprintln!("ZBD1: text, two shared licences (3 elements): {} characters", g.text.len());
    let her = d.agent.accept_delegation(&g.text).unwrap().subject;
    d.agent.check_principal_licence(&her, &d.full_code(&d.ssc, NOW)).unwrap();
    for k in ["name", "id_number", "issuing_region"] {
        let e = d.agent.licence_element(&her, "social_security_card", k).unwrap_err();
        assert_eq!(missing(&e), format!("element:social_security_card.{k}"));
    }
    assert_eq!(
        d.agent.licence_element(&her, "social_security_card", "card_number").unwrap(),
        json!("6217000010001234567")
    );
    let ssc = d.agent.held(&her).unwrap().into_iter().filter(|l| l.licence_type == "social_security_card");
    for l in ssc {
        assert_eq!(l.fields.keys().collect::<Vec<_>>(), vec!["card_number"], "{l:?}");
    }
    // In her draft the card number comes from the card; her name from the ID card only.
    let cat = Catalog::bundled().unwrap();
    let s = d.agent.start_draft(&her, &cat, ITEM).unwrap();
    assert_eq!(s.draft.value("allowance.account").unwrap().value, json!("6217000010001234567"));
}

/// A principal's app that signs a delegation whose shared licence discloses more than its own scope names,
/// or shares a licence the agent's phone cannot check against an issuer it trusts: refused at the scan.
#[test]
fn a_shared_licence_outside_the_scope_or_from_an_untrusted_issuer_is_refused() {
    let d = door();
    let cert = d.agent.certificate().unwrap().unwrap();
    let id = "00112233445566778899aabbccddeeff".to_string();
    let until = NOW + 30 * 86_400;
    let (_, _, grant) = d
        .principal_phone
        .wallet
        .grant_token(
            &d.resident_id,
            &Preset::Custom(vec!["name".into(), "address".into()]),
            &cert.name,
            &cert.device_key,
            &mandate::shared_purpose(&id),
            zhangban_wallet::GrantExpiry::Until(until),
            NOW,
        )
        .unwrap();
    let mut narrow = scope();
    narrow.licence_types = vec!["resident_id".into()];
    narrow.elements = vec![LicenceElements { licence_type: "resident_id".into(), elements: vec!["name".into()] }];
    let signer = d.principal_phone.wallet.signer();
    let del = Delegation {
        id,
        principal_name: "李秀英".into(),
        principal_id_masked: "110105********0018".into(),
        principal_key: signer.public_key(),
        agent_id: cert.agent_id.clone(),
        agent_cert_id: cert.cert_id.clone(),
        agent_key: cert.device_key.clone(),
        scope: narrow,
        valid_from: NOW,
        valid_until: until,
        single_use: false,
        relative: None,
        shared: vec![grant.encode()],
    };
    let text = Delegation::to_text(&del.sign(|m| signer.sign(m)).unwrap());
    let e = d.agent.accept_delegation(&text).unwrap_err();
    assert_eq!(missing(&e), "element:resident_id.address", "{e:?}");

    // An agent phone whose trust list does not name her card's issuer.
    let other = SoftwareKey::generate().unwrap();
    trust(&d.root, &other, &[&d.agent_phone]);
    let g = d.delegate(scope(), &[share(&d.resident_id, &["name"])]);
    let e = d.agent.accept_delegation(&g.text).unwrap_err();
    assert_eq!(missing(&e), "shared_licence", "{e:?}");
    assert!(d.agent.principals().unwrap().is_empty());
}

/// Version 1 delegations (licence types, no element lists) made before still verify, with their old
/// meaning (every element of the types they name); a version the app does not know is a clear error.
#[test]
fn a_version_1_delegation_still_verifies_and_an_unknown_version_is_refused_clearly() {
    let d = door();
    let cert = d.agent.certificate().unwrap().unwrap();
    let signer = d.principal_phone.wallet.signer();
    let mut s = scope();
    s.licence_types = vec!["resident_id".into()];
    let del = Delegation {
        id: "ffeeddccbbaa99887766554433221100".into(),
        principal_name: "李秀英".into(),
        principal_id_masked: "110105********0018".into(),
        principal_key: signer.public_key(),
        agent_id: cert.agent_id.clone(),
        agent_cert_id: cert.cert_id.clone(),
        agent_key: cert.device_key.clone(),
        scope: s,
        valid_from: NOW,
        valid_until: NOW + 30 * 86_400,
        single_use: false,
        relative: None,
        shared: vec![],
    };
    // Version 2 refuses a licence type without its element list.
    let e = del.sign(|m| signer.sign(m)).unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "scope.elements.resident_id"), "{e:?}");
    let v1 = del.sign_v1(|m| signer.sign(m)).unwrap();
    let (m, _) = payload_of(&v1);
    assert!(m.iter().any(|(k, v)| *k == Cbor::Integer(1.into()) && *v == Cbor::Integer(MANDATE_VERSION.into())));
    let her = d.agent.accept_delegation(&Delegation::to_text(&v1)).unwrap().subject;
    d.agent.check_principal_licence(&her, &d.full_code(&d.resident_id, NOW)).unwrap();
    assert_eq!(d.agent.licence_element(&her, "resident_id", "address").unwrap(), json!("北京市朝阳区幸福村8号"));

    // Version 3 (from a newer app), signed properly: unsupported_version, in words.
    let (mut m, _) = payload_of(&v1);
    *key(&mut m, 1) = Cbor::Integer(3.into());
    let payload = encode_cbor(&Cbor::Map(m));
    let kid = ring::digest::digest(&ring::digest::SHA256, &signer.public_key()).as_ref()[..8].to_vec();
    let s = zhangban_wallet::format::sign1_create(&kid, payload, |b| signer.sign(b)).unwrap();
    let v3 = encode_cbor(&zhangban_wallet::format::sign1_value(&s));
    let e = d.agent.accept_delegation(&Delegation::to_text(&v3)).unwrap_err();
    assert!(e.message_en().contains("version"), "{e:?}");
}

/// A delegation that would not fit one QR code (or shares one licence twice) is refused when signed.
#[test]
fn sharing_beyond_one_qr_code_is_refused_when_signed() {
    let d = door();
    let cert = d.agent.certificate_text().unwrap();
    let e = d
        .side
        .delegate_with(
            &DelegationRequest::new(&cert, "李秀英", ID_NUMBER, scope()).sharing(&[share(&d.resident_id, &["name"])]),
        )
        .map(|g| g.text.len());
    assert!(e.is_ok());
    // Every element of both cards, and the one licence twice: too much for one code, or refused.
    let all_rid: Vec<&str> = LicenceType::ResidentId.elements().iter().map(|e| e.key).collect();
    let all_ssc = ["name", "id_number", "card_number", "issuing_region"];
    let r = d.side.delegate_with(&DelegationRequest::new(&cert, "李秀英", ID_NUMBER, scope()).sharing(&[
        share(&d.resident_id, &all_rid),
        share(&d.ssc, &all_ssc),
        share(&d.resident_id, &["name"]),
    ]));
    let e = r.unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "shared") || missing(&e) == "shared", "{e:?}");
}

/// The principal's own screens, worded by the core: the agent's card from the scanned certificate, the
/// choices (items offered at home first, the four actions, her licences with their elements, name and ID
/// number suggested, derived elements left out), the sentence read before signing naming exactly the chosen
/// elements, and her page: the delegation in effect with what it covers, then revoked (not yet sent), and
/// the relayed activity in one sentence each. A forged certificate gets no choices.
#[test]
fn principal_screens_say_what_the_delegation_covers() {
    let d = door();
    let cat = Catalog::bundled().unwrap();
    let cert = d.agent.certificate_text().unwrap();
    let c = d.side.delegation_choices(&cert, &cat).unwrap();
    assert!(c.agent.text.zh.contains("平台已核验"), "{:?}", c.agent.text);
    assert!(c.agent.valid_text.zh.starts_with("证书有效至"), "{:?}", c.agent.valid_text);
    assert_eq!((c.own_name.as_deref(), c.own_id_number.as_deref()), (Some("李秀英"), Some(ID_NUMBER)));
    assert_eq!(c.items.first().map(|i| i.code.as_str()), Some("RS-001"), "items offered at home come first");
    // The first page: the items offered at home; the rest on asking, the button worded here.
    assert_eq!(c.at_home, 2);
    assert_eq!(c.items[..2].iter().map(|i| i.code.as_str()).collect::<Vec<_>>(), ["RS-001", "MZ-002"]);
    let more = c.items.len() - 2;
    assert_eq!(c.more_items.zh, format!("另有 {more} 项可在网上办的事项"));
    assert_eq!(c.more_items.en, format!("{more} more services offered online"));
    assert!(c.items.iter().all(|i| i.code != "GA-002"), "an item only offered at the counter is not offered");
    assert_eq!(c.actions.len(), 4);
    assert_eq!(c.licences.len(), 2);
    let rid = c.licences.iter().find(|l| l.licence_id == d.resident_id).unwrap();
    let suggested: Vec<&str> = rid.elements.iter().filter(|e| e.suggested).map(|e| e.key.as_str()).collect();
    assert_eq!(suggested, ["name", "id_number"]);
    let ssc = c.licences.iter().find(|l| l.licence_id == d.ssc).unwrap();
    assert!(ssc.elements.iter().all(|e| !e.suggested), "the same name and number are not offered twice");
    assert!(rid.elements.iter().all(|e| e.key != "age_over_18" && e.key != "id_number_masked"));
    assert!(rid.elements.iter().any(|e| e.key == "address" && e.display == "北京市朝阳区幸福村8号"));

    let shares = [share(&d.resident_id, &["name", "id_number"])];
    let req =
        DelegationRequest { valid_days: Some(30), ..DelegationRequest::new(&cert, "李秀英", ID_NUMBER, scope()) };
    let p = d.side.delegation_preview(&req.sharing(&shares), &cat).unwrap();
    assert!(p.until.zh.starts_with("有效期 30 天，到") && p.until.en.starts_with("Valid for 30 days"), "{:?}", p.until);
    let preview = p.text;
    assert!(preview.zh.contains("居民身份证的姓名、公民身份号码"), "{}", preview.zh);
    assert!(!preview.zh.contains("住址"), "{}", preview.zh);
    assert!(preview.zh.contains("高龄津贴申领") && preview.zh.contains("随时撤销"), "{}", preview.zh);
    assert!(preview.en.contains("name, id number of the resident identity card"), "{}", preview.en);

    let g = d.delegate(scope(), &shares);
    let home = d.side.home(Some(&cat)).unwrap();
    assert!(home.summary.zh.contains("1 位帮办员"), "{:?}", home.summary);
    let line = &home.delegations[0];
    assert!(line.active && line.status.zh.starts_with("有效"), "{:?}", line.status);
    assert!(preview.zh.contains(&line.covers.zh), "{:?} in {:?}", line.covers, preview);

    d.side.revoke(&g.id).unwrap();
    d.side
        .record_activity(&ActivityEntry {
            seq: 1,
            at: NOW,
            // The platform names the agent by its id; the phone names them as she knew them.
            actor: "agent-wang".into(),
            kind: "submitted".into(),
            case_title: "高龄津贴申领".into(),
            receipt: Some("ZB20261207000001".into()),
            element: None,
            missing: None,
        })
        .unwrap();
    let home = d.side.home(Some(&cat)).unwrap();
    assert!(home.summary.zh.contains("没有委托"), "{:?}", home.summary);
    assert!(!home.delegations[0].active && home.delegations[0].status.zh.contains("联网后通知平台"));
    assert!(
        home.activity[0].text.zh.contains("王帮办为您提交了“高龄津贴申领”。回执号 ZB20261207000001"),
        "{:?}",
        home.activity[0].text
    );

    let forged = certificate(&SoftwareKey::generate().unwrap(), d.agent_phone.wallet.device_public_key(), NOW + 86_400);
    assert!(d.side.delegation_choices(&AgentCertificate::to_text(&forged), &cat).is_err());
}

/// Her page says what was done, not each tap: the same access on one day is one line with its count, also with
/// other accesses between (a form, a photo, the form again); never across a receipt, whose order stays; and the
/// submission is told once, as the receipt (the access the agent reported for it is not a second line).
#[test]
fn her_page_tells_each_thing_done_once_with_its_count() {
    let d = door();
    let cat = Catalog::bundled().unwrap();
    d.delegate(scope(), &[]);
    let entry = |seq: u64, kind: &str, receipt: Option<&str>| ActivityEntry {
        seq,
        at: NOW + seq as i64,
        actor: "agent-wang".into(),
        kind: kind.into(),
        case_title: if kind == "access:fill" && seq % 2 == 0 { String::new() } else { "高龄津贴申领".into() },
        receipt: receipt.map(str::to_string),
        element: None,
        missing: None,
    };
    // In the order made: form, photo, form, photo, form, submit (reported), its receipt, then the form again for
    // a second application.
    let made = [
        entry(1, "access:fill", None),
        entry(2, "access:fill", None),
        entry(3, "access:fill", None),
        entry(4, "access:fill", None),
        entry(5, "access:fill", None),
        entry(7, "access:submit", None),
        entry(8, "submitted", Some("ZB20261207000001")),
        entry(9, "access:fill", None),
    ];
    for e in &made {
        d.side.record_activity(e).unwrap();
    }
    let home = d.side.home(Some(&cat)).unwrap();
    let lines: Vec<&str> = home.activity.iter().map(|l| l.text.zh.as_str()).collect();
    assert_eq!(
        lines,
        [
            "王帮办填写了“高龄津贴申领”的表单。",
            "王帮办为您提交了“高龄津贴申领”。回执号 ZB20261207000001。",
            "王帮办填写了“高龄津贴申领”的表单（3 次）。",
            "王帮办添加了您的申请材料（2 次）。",
        ]
    );
    assert_eq!(home.activity[2].text.en, "王帮办 filled in the form of “高龄津贴申领” (3 times).");
    assert_eq!(home.activity.iter().map(|l| l.times).collect::<Vec<_>>(), [1, 1, 3, 2]);
    assert_eq!(d.side.activity().unwrap().len(), made.len(), "her phone keeps every entry");
}

/// The access reported for a submission can reach her phone after its receipt (a backlog of reports after days
/// offline goes partly after the outbox), a bundle's access is titled by its first item, and the two clocks
/// differ: the submission is still told once per application, two applications of one item twice.
#[test]
fn a_submission_is_told_once_whatever_came_first_and_for_a_bundle() {
    let d = door();
    let cat = Catalog::bundled().unwrap();
    d.delegate(scope(), &[]);
    let bundle = cat.bundle("BD-BIRTH").unwrap();
    let first = cat.item(&bundle.items[0]).unwrap().name.zh.clone();
    let entry = |seq: u64, at: i64, kind: &str, title: &str, receipt: Option<&str>| ActivityEntry {
        seq,
        at,
        actor: "agent-wang".into(),
        kind: kind.into(),
        case_title: title.into(),
        receipt: receipt.map(str::to_string),
        element: None,
        missing: None,
    };
    for e in [
        // the first application's receipt came before its access (the platform's clock 40 s behind the phone's)
        entry(1, NOW + 100, "submitted", "高龄津贴申领", Some("ZB20261207000001")),
        entry(2, NOW + 140, "access:submit", "高龄津贴申领", None),
        // a second application of the same item, the usual order
        entry(3, NOW + 5_000, "access:submit", "高龄津贴申领", None),
        entry(4, NOW + 5_010, "submitted", "高龄津贴申领", Some("ZB20261207000002")),
        // a bundle: the access titled by its first item, the receipt by the bundle
        entry(5, NOW + 9_000, "access:submit", &first, None),
        entry(6, NOW + 9_005, "submitted", &bundle.name.zh, Some("ZB20261207000003")),
        // a third application not received yet: its access is the only word of it
        entry(7, NOW + 12_000, "access:submit", "高龄津贴申领", None),
    ] {
        d.side.record_activity(&e).unwrap();
    }
    let home = d.side.home(Some(&cat)).unwrap();
    let lines: Vec<&str> = home.activity.iter().map(|l| l.text.zh.as_str()).collect();
    assert_eq!(
        lines,
        [
            "王帮办提交了“高龄津贴申领”。".to_string(),
            format!("王帮办为您提交了“{}”。回执号 ZB20261207000003。", bundle.name.zh),
            "王帮办为您提交了“高龄津贴申领”。回执号 ZB20261207000002。".to_string(),
            "王帮办为您提交了“高龄津贴申领”。回执号 ZB20261207000001。".to_string(),
        ]
    );
}
