//! Test vectors of agent mode (`tests/vectors/agent.json`, docs/formats.md § 10): the agent's `ZBA1:`
//! certificate and `ZBD1:` delegations — version 2 with and without shared licences, version 1, a relative's
//! (亲友代办) — and the ones an agent's phone must refuse, each with what it decides. They reuse the keys, the
//! lists and the resident ID card of `tests/vectors/wallet.json` (its device key is the principal's), so
//! another implementation can check both against one set of keys. `agent_vectors_match` runs every case
//! through the agent's real path ([`crate::Agent::accept_delegation`], on a phone holding the vectors'
//! agent key at the fixed clock) on every test run; the ignored `write_agent_vectors` regenerates the file
//! (ECDSA signatures and delegation ids are random, so the bytes change):
//!
//!     ZB_WRITE_VECTORS=1 cargo test -p zhangban-agent --lib write_agent_vectors -- --ignored

use std::path::PathBuf;
use std::sync::Arc;

use ciborium::value::Value;
use serde::{Deserialize, Serialize};
use zhangban_base::clock::{Clock, FixedClock};
use zhangban_base::store::{FileVault, KeyVault, Store};
use zhangban_base::Error;
use zhangban_wallet::format::{decode_cbor, encode_cbor, sign1_create, sign1_parse, sign1_payload, sign1_value};
use zhangban_wallet::{DeviceSigner, SoftwareKey, Wallet};

use crate::mandate::{key_id, LicenceElements};
use crate::*;

/// The vectors' clock: the wallet vectors' (2026-09-21T11:33:20Z).
pub const NOW: i64 = 1_790_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentVectors {
    pub description: String,
    pub now: i64,
    /// PKCS#8 (hex) of the agent's device key (the principal's is the wallet vectors' device key).
    pub agent_pkcs8: String,
    /// The agent's certificate, signed by the root test key of the wallet vectors.
    pub certificate_text: String,
    pub cases: Vec<DelegationCase>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationCase {
    pub name: String,
    /// The `ZBD1:` text the agent's phone scans.
    pub text: String,
    /// `"ok"`, or what is refused: the `missing` of a `PermissionDenied` (`signature`, `agent`, `validity`,
    /// `shared`, `element:<type>.<key>`, …) or a wallet reason code (`unsupported_version`, …).
    pub expect: String,
    /// For `ok`: the signed version (1 or 2), the assurance, the per-field scope, and of each shared
    /// licence its type and the element keys it discloses.
    pub version: Option<u64>,
    pub assurance: Option<Assurance>,
    pub elements: Vec<LicenceElements>,
    pub shared: Vec<LicenceElements>,
}

pub fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/agent.json")
}

/// The wallet vectors: keys, lists, the resident ID card.
struct WalletVectors {
    root: SoftwareKey,
    device_pkcs8: String,
    trust: Vec<u8>,
    status: Vec<u8>,
    licence: Vec<u8>,
}

fn wallet_vectors() -> WalletVectors {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/wallet.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    let h = |k: &str| hex::decode(s(k)).unwrap();
    WalletVectors {
        root: SoftwareKey::from_pkcs8_hex(v["keys"]["root_pkcs8"].as_str().unwrap()).unwrap(),
        device_pkcs8: v["keys"]["device_pkcs8"].as_str().unwrap().to_string(),
        trust: h("trust_list_hex"),
        status: h("status_list_hex"),
        licence: h("licence_hex"),
    }
}

/// A phone at the vectors' clock holding `key`, trusting the wallet vectors' lists.
fn phone(w: &WalletVectors, key: &str) -> (tempfile::TempDir, Wallet) {
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(NOW));
    let store = Arc::new(Store::open_or_create_with(dir.path(), vault, None, clock).unwrap());
    let signer = Arc::new(SoftwareKey::from_pkcs8_hex(key).unwrap());
    let wallet = Wallet::with_signer(store, signer).with_root_key(w.root.public_key());
    wallet.update_trust_list(&w.trust, NOW).unwrap();
    wallet.update_status_list(&w.status, NOW).unwrap();
    (dir, wallet)
}

/// What a refusal is called in the vectors.
fn code(e: &Error) -> String {
    match e {
        Error::PermissionDenied { missing, .. } => missing.clone(),
        Error::Licence(m) => m.split(':').next().unwrap_or_default().to_string(),
        Error::Validation { field, .. } => format!("validation:{field}"),
        other => format!("{other:?}"),
    }
}

/// What the agent's phone decides for `text` (a fresh phone with the vectors' agent key each time).
fn decide(w: &WalletVectors, v: &AgentVectors, text: &str) -> std::result::Result<DelegationCase, String> {
    let (_dir, wallet) = phone(w, &v.agent_pkcs8);
    let agent = Agent::new(&wallet);
    agent.install_certificate(&AgentCertificate::from_text(&v.certificate_text).unwrap()).map_err(|e| code(&e))?;
    agent.accept_delegation(text).map_err(|e| code(&e))?;
    let d = Delegation::verify(&Delegation::from_text(text).unwrap()).unwrap();
    let signed = Delegation::from_text(text).unwrap();
    let (s, _) = sign1_parse(decode_cbor(&signed).unwrap()).unwrap();
    let version = match sign1_payload(&s).unwrap() {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k == &Value::from(1))
            .and_then(|(_, v)| v.as_integer())
            .map(|i| i.try_into().unwrap()),
        _ => None,
    };
    let gv = wallet.grant_verifier().unwrap();
    let shared = d
        .shared_grants()
        .unwrap()
        .into_iter()
        .map(|g| {
            let v = gv.verify_token(g, NOW, &zhangban_wallet::Policy::default()).unwrap();
            LicenceElements {
                licence_type: v.licence_type.key().to_string(),
                elements: v.disclosed.into_iter().map(|e| e.key).collect(),
            }
        })
        .collect();
    Ok(DelegationCase {
        name: String::new(),
        text: text.into(),
        expect: "ok".into(),
        version,
        assurance: Some(d.assurance()),
        elements: d.scope.elements.clone(),
        shared,
    })
}

/// The cases whose decision differs from what they expect.
pub fn check(v: &AgentVectors) -> Vec<String> {
    let w = wallet_vectors();
    let mut bad = Vec::new();
    for c in &v.cases {
        let ok = match decide(&w, v, &c.text) {
            Ok(got) => c.expect == "ok" && DelegationCase { name: c.name.clone(), ..got } == *c,
            Err(e) => e == c.expect,
        };
        if !ok {
            bad.push(c.name.clone());
        }
    }
    bad
}

/// Re-signs the payload of `text` with `key` after `f` changed it (a principal's phone gone wrong, or an
/// attacker holding a key of their own).
fn resign(text: &str, key: &SoftwareKey, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> String {
    let signed = Delegation::from_text(text).unwrap();
    let (s, _) = sign1_parse(decode_cbor(&signed).unwrap()).unwrap();
    let Value::Map(mut m) = sign1_payload(&s).unwrap() else { panic!("payload") };
    f(&mut m);
    let s = sign1_create(&key_id(&key.public_key()), encode_cbor(&Value::Map(m)), |b| key.sign(b)).unwrap();
    Delegation::to_text(&encode_cbor(&sign1_value(&s)))
}

/// Changes the payload without signing again (an edit in transit).
fn edit(text: &str, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> String {
    let signed = Delegation::from_text(text).unwrap();
    let (mut s, _) = sign1_parse(decode_cbor(&signed).unwrap()).unwrap();
    let Value::Map(mut m) = sign1_payload(&s).unwrap() else { panic!("payload") };
    f(&mut m);
    s.payload = Some(encode_cbor(&Value::Map(m)));
    Delegation::to_text(&encode_cbor(&sign1_value(&s)))
}

fn set(m: &mut [(Value, Value)], key: i64, v: Value) {
    m.iter_mut().find(|(k, _)| k == &Value::from(key)).unwrap().1 = v;
}

fn generate(agent_pkcs8: String) -> AgentVectors {
    let w = wallet_vectors();
    let (_pd, principal) = phone(&w, &w.device_pkcs8);
    let licence_id = principal.import(&w.licence, NOW).unwrap().licence_id;
    let agent_key = SoftwareKey::from_pkcs8_hex(&agent_pkcs8).unwrap();
    let cert = AgentCertificate {
        cert_id: "CERT-V1".into(),
        agent_id: "agent-wang".into(),
        name: "王帮办".into(),
        org_code: "12110105MB0000002B".into(),
        org_name: "幸福村便民服务站".into(),
        device_key: agent_key.public_key(),
        valid_from: NOW - 86_400,
        valid_until: NOW + 365 * 86_400,
    };
    let cert_text = AgentCertificate::to_text(&cert.sign(|m| w.root.sign(m)).unwrap());
    let side = PrincipalSide::new(&principal);
    let scope = |types: &[&str]| Scope {
        items: vec!["MZ-002".into()],
        licence_types: types.iter().map(|t| t.to_string()).collect(),
        actions: Action::ALL.to_vec(),
        elements: vec![],
    };
    let req = |s: Scope| DelegationRequest::new(&cert_text, "李秀英", "110105194001010018", s);
    let plain = side.delegate_with(&req(scope(&[]))).unwrap().text;
    let share = LicenceShare { licence_id: licence_id.clone(), elements: vec!["name".into(), "id_number".into()] };
    let shared = side.delegate_with(&req(scope(&[])).sharing(std::slice::from_ref(&share))).unwrap().text;
    let family = side.delegate_with(&req(scope(&[])).by_relative("李小红", "女儿")).unwrap().text;
    let d = Delegation::verify(&Delegation::from_text(&plain).unwrap()).unwrap();
    let principal_key = SoftwareKey::from_pkcs8_hex(&w.device_pkcs8).unwrap();
    let v1 = Delegation::to_text(
        &Delegation { scope: scope(&["resident_id"]), ..d.clone() }.sign_v1(|m| principal_key.sign(m)).unwrap(),
    );
    let expired = Delegation::to_text(
        &Delegation { valid_from: NOW - 40 * 86_400, valid_until: NOW - 10 * 86_400, ..d.clone() }
            .sign(|m| principal_key.sign(m))
            .unwrap(),
    );
    let other = SoftwareKey::generate().unwrap();
    let to_other = Delegation::to_text(
        &Delegation { agent_key: other.public_key(), ..d.clone() }.sign(|m| principal_key.sign(m)).unwrap(),
    );
    // The scope of `shared` with the address added (element 5 of the resident ID card), not signed again.
    let add_address = |m: &mut Vec<(Value, Value)>| {
        let (_, scope) = m.iter_mut().find(|(k, _)| k == &Value::from(9)).unwrap();
        let Value::Map(s) = scope else { panic!("scope") };
        let (_, lists) = s.iter_mut().find(|(k, _)| k == &Value::from(4)).unwrap();
        let Value::Array(lists) = lists else { panic!("lists") };
        let Value::Array(pair) = &mut lists[0] else { panic!("pair") };
        pair[1] = Value::Array(vec![Value::from(1), Value::from(5), Value::from(6)]);
    };
    let scope_edited = edit(&shared, add_address);
    // The same scope, name only, signed by the principal: the shared grant discloses the ID number outside it.
    let name_only = resign(&shared, &principal_key, |m| {
        let (_, scope) = m.iter_mut().find(|(k, _)| k == &Value::from(9)).unwrap();
        let Value::Map(s) = scope else { panic!("scope") };
        let (_, lists) = s.iter_mut().find(|(k, _)| k == &Value::from(4)).unwrap();
        let Value::Array(lists) = lists else { panic!("lists") };
        let Value::Array(pair) = &mut lists[0] else { panic!("pair") };
        pair[1] = Value::Array(vec![Value::from(1)]);
    });
    let version_3 = resign(&plain, &principal_key, |m| set(m, 1, Value::from(3)));
    let relative_sharing = resign(&shared, &principal_key, |m| {
        m.push((Value::from(13), Value::Map(vec![(Value::from(1), "李小红".into()), (Value::from(2), "女儿".into())])))
    });
    let mut v = AgentVectors {
        description: "Agent mode (docs/formats.md § 10): the agent's ZBA1: certificate and ZBD1: delegations; \
                      keys, lists and the resident ID card from wallet.json (its device key is the principal's). \
                      Each case: the text an agent's phone holding agent_pkcs8 scans at `now`, and its decision."
            .into(),
        now: NOW,
        agent_pkcs8,
        certificate_text: cert_text,
        cases: vec![],
    };
    let cases = [
        ("v2_no_shared_licence", plain),
        ("v2_sharing_name_and_id_number", shared),
        ("v2_family_relative", family),
        ("v1_licence_type_means_every_element", v1),
        ("scope_element_added_after_signing", scope_edited),
        ("shared_element_outside_the_signed_scope", name_only),
        ("relative_cannot_share", relative_sharing),
        ("unsupported_version_3", version_3),
        ("ended", expired),
        ("for_another_agent", to_other),
    ];
    for (name, text) in cases {
        let c = match decide(&w, &v, &text) {
            Ok(c) => DelegationCase { name: name.into(), ..c },
            Err(e) => DelegationCase {
                name: name.into(),
                text,
                expect: e,
                version: None,
                assurance: None,
                elements: vec![],
                shared: vec![],
            },
        };
        v.cases.push(c);
    }
    v
}

#[test]
fn agent_vectors_match() {
    let v: AgentVectors =
        serde_json::from_slice(&std::fs::read(vectors_path()).expect("tests/vectors/agent.json")).unwrap();
    assert_eq!(v.now, NOW);
    let expect: Vec<(&str, &str)> = v.cases.iter().map(|c| (c.name.as_str(), c.expect.as_str())).collect();
    assert_eq!(
        expect,
        [
            ("v2_no_shared_licence", "ok"),
            ("v2_sharing_name_and_id_number", "ok"),
            ("v2_family_relative", "ok"),
            ("v1_licence_type_means_every_element", "ok"),
            ("scope_element_added_after_signing", "signature"),
            ("shared_element_outside_the_signed_scope", "element:resident_id.id_number"),
            ("relative_cannot_share", "shared"),
            ("unsupported_version_3", "unsupported_version"),
            ("ended", "validity"),
            ("for_another_agent", "agent"),
        ]
    );
    let shared = &v.cases[1];
    assert_eq!((shared.version, shared.assurance), (Some(2), Some(Assurance::Delegation)));
    assert_eq!(
        shared.shared,
        [LicenceElements { licence_type: "resident_id".into(), elements: vec!["name".into(), "id_number".into()] }]
    );
    assert_eq!((v.cases[2].assurance, v.cases[3].version), (Some(Assurance::Family), Some(1)));
    assert_eq!(check(&v), Vec::<String>::new());
    // Not vacuous: the same cases decided by a phone of another agent are refused.
    let other = AgentVectors { agent_pkcs8: hex::encode(SoftwareKey::generate().unwrap().pkcs8()), ..v.clone() };
    assert_eq!(check(&other).len(), v.cases.len());
}

#[test]
#[ignore]
fn write_agent_vectors() {
    if std::env::var("ZB_WRITE_VECTORS").is_err() {
        return;
    }
    let key = match std::fs::read(vectors_path()) {
        Ok(b) => serde_json::from_slice::<AgentVectors>(&b).unwrap().agent_pkcs8,
        Err(_) => hex::encode(SoftwareKey::generate().unwrap().pkcs8()),
    };
    let v = generate(key);
    std::fs::write(vectors_path(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}
