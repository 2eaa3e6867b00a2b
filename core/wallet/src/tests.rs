//! End-to-end tests of the wallet inside the core: issue → import → present → verify, every typed
//! rejection reason, grants and the usage log.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::format::*;
use super::issue::{issue_licence, with_derived, LicenceRequest};
use super::*;
use crate::store::{FileVault, KeyVault, Store};

pub(crate) const NOW: i64 = 1_790_000_000; // 2026-09-21
pub(crate) const ISSUER_USCC: &str = "11110000MB0143028X";

pub(crate) struct Fixture {
    pub root: SoftwareKey,
    pub issuer: SoftwareKey,
    pub device: SoftwareKey,
    pub trust: TrustList,
    pub status: StatusList,
}

pub(crate) fn resident_elements() -> BTreeMap<String, ElementValue> {
    let mut e = BTreeMap::new();
    for (k, v) in [
        ("name", "张三"),
        ("sex", "男"),
        ("ethnicity", "汉"),
        ("birth_date", "1949-12-31"),
        ("address", "北京市朝阳区建国路1号"),
        ("id_number", "11010519491231002X"),
        ("issuing_authority", "北京市公安局朝阳分局"),
    ] {
        e.insert(k.to_string(), ElementValue::Text(v.to_string()));
    }
    with_derived(LicenceType::ResidentId, e, NOW)
}

impl Fixture {
    pub fn new() -> Fixture {
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
                issuer_uscc: ISSUER_USCC.into(),
                name_zh: "北京市公安局".into(),
                name_en: "Beijing Public Security Bureau".into(),
                types: vec![LicenceType::ResidentId.code().into(), LicenceType::DrivingLicence.code().into()],
                valid_from: NOW - 86400 * 365,
                valid_until: NOW + 86400 * 3650,
                withdrawn: false,
            }],
        };
        let status = StatusList::new(1, NOW - 600, 1024);
        Fixture { root, issuer, device, trust, status }
    }

    pub fn request(&self) -> LicenceRequest {
        LicenceRequest {
            licence_type: LicenceType::ResidentId,
            issuer_uscc: ISSUER_USCC.into(),
            serial: "00000042".into(),
            version: "1".into(),
            elements: resident_elements(),
            device_key: self.device.public_key(),
            valid_from: NOW - 86400 * 100,
            valid_until: NOW + 86400 * 3650,
            status_index: 42,
        }
    }

    pub fn issue(&self, req: &LicenceRequest) -> IssuedLicence {
        issue_licence(req, &self.issuer.key_id(), &self.issuer).unwrap()
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.trust.clone(), Some(self.status.clone()))
    }

    pub fn present(&self, l: &IssuedLicence, ids: &[u32], now: i64) -> String {
        present::build_presentation(l, ids, "hotel-check-in", now, 60, &self.device).unwrap().to_text()
    }
}

/// The purposes these tests present for (a verifier must list what it accepts).
fn policy() -> Policy {
    Policy {
        accepted_purposes: ["x", "y", "full", "custom", "hotel-check-in", "age-check"].map(String::from).to_vec(),
        ..Policy::default()
    }
}

fn reason(r: std::result::Result<Verified, WalletError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn presentation_verifies_and_discloses_only_chosen_elements() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1, 8], NOW);
    assert!(text.starts_with("ZB1:"));
    let v = f.verifier().verify(&text, NOW + 5, &policy()).unwrap();
    assert_eq!(v.licence_type, LicenceType::ResidentId);
    assert_eq!(v.issuer.name_zh, "北京市公安局");
    let keys: Vec<&str> = v.disclosed.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["name", "id_number_masked"]);
    assert_eq!(v.disclosed[1].value, ElementValue::Text("110105********002X".into()));
    assert!(!format!("{v:?}").contains("11010519491231002X"));
    assert_eq!(v.status_age_secs, 605);
}

#[test]
fn five_element_resident_id_fits_in_a_version_21_qr_code() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    // Name, sex, ethnicity, date of birth, ID number; preset "custom".
    let p = present::build_presentation(&l, &[1, 2, 3, 4, 6], "custom", NOW, 60, &f.device).unwrap();
    let text = p.to_text();
    let qr = qr::render(&text).unwrap();
    eprintln!("5-element resident ID QR text: {} characters, QR version {}", text.len(), qr.version);
    // The GB/T 36904 type code (21 characters) made it ~1,006 (was 981 with 4-character codes): the
    // bound is now 1,024 characters and, what a scanner feels, QR version 21 at level M as before.
    assert!(text.len() <= 1024, "{} characters", text.len());
    assert!(qr.version <= 21, "QR version {}", qr.version);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "ok");
}

/// Re-signs `l` by the fixture's issuer with another licence identifier.
fn with_licence_id(f: &Fixture, l: &IssuedLicence, licence_id: &str) -> IssuedLicence {
    let mut body = l.signed.body.clone();
    body.licence_id = licence_id.to_string();
    let sign1 = sign1_create(&f.issuer.key_id(), encode_cbor(&body.to_value()), |m| f.issuer.sign(m)).unwrap();
    IssuedLicence { signed: Signed { sign1, kid: f.issuer.key_id(), body }, items: l.items.clone() }
}

#[test]
fn a_well_formed_identifier_of_an_unknown_type_is_its_own_reason() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    // The standard's example type code (21 characters, a national-level authority): well formed, and
    // signed by a trusted issuer, but not a type this app knows.
    let id = ids::LicenceId::new("11100000000013338W011", ISSUER_USCC, "00000042", "1").unwrap();
    let unknown = with_licence_id(&f, &l, &id.to_string());
    let text = f.present(&unknown, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "unknown_licence_type");
    // A malformed identifier stays `invalid_identifier`.
    let bad = with_licence_id(&f, &l, &id.to_string().replace(".00000042.", ".00000043."));
    let text = f.present(&bad, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "invalid_identifier");
    // The project's own identifiers carry 21-character type codes.
    let own = ids::LicenceId::parse(&l.signed.body.licence_id).unwrap();
    assert_eq!(own.type_code.len(), ids::TYPE_CODE_LEN);
    assert_eq!(own.type_code, LicenceType::ResidentId.code());
}

#[test]
fn rejects_forged_issuer_signature() {
    let f = Fixture::new();
    let mut l = f.issue(&f.request());
    l.signed.sign1.signature[10] ^= 1;
    let text = f.present(&l, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "bad_issuer_signature");
    // A licence signed by a key that claims the trusted kid.
    let rogue = SoftwareKey::generate().unwrap();
    let l = issue_licence(&f.request(), &f.issuer.key_id(), &rogue).unwrap();
    let text = f.present(&l, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "bad_issuer_signature");
}

#[test]
fn rejects_unknown_and_withdrawn_issuer_keys() {
    let f = Fixture::new();
    let l = issue_licence(&f.request(), b"unknown!", &f.issuer).unwrap();
    let text = f.present(&l, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "unknown_issuer_key");
    let mut trust = f.trust.clone();
    trust.entries[0].withdrawn = true;
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1], NOW);
    let v = Verifier::new(trust, Some(f.status.clone()));
    assert_eq!(reason(v.verify(&text, NOW, &policy())), "issuer_key_withdrawn");
}

#[test]
fn rejects_issuer_not_authorised_for_type() {
    let f = Fixture::new();
    let mut req = f.request();
    req.licence_type = LicenceType::SocialSecurityCard;
    req.elements = BTreeMap::from([
        ("name".to_string(), ElementValue::Text("张三".into())),
        ("id_number".to_string(), ElementValue::Text("11010519491231002X".into())),
        ("card_number".to_string(), ElementValue::Text("A0001".into())),
        ("issuing_region".to_string(), ElementValue::Text("北京".into())),
    ]);
    let l = f.issue(&req);
    let text = f.present(&l, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "issuer_not_authorised");
}

#[test]
fn rejects_expired_and_not_yet_valid_licences() {
    let f = Fixture::new();
    let mut req = f.request();
    req.valid_until = NOW - 86400;
    let text = f.present(&f.issue(&req), &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "expired");
    let mut req = f.request();
    req.valid_from = NOW + 86400;
    let text = f.present(&f.issue(&req), &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "not_yet_valid");
}

#[test]
fn rejects_revoked_and_unknown_or_stale_status() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let mut status = f.status.clone();
    status.set_revoked(42);
    let v = Verifier::new(f.trust.clone(), Some(status));
    assert_eq!(reason(v.verify(&f.present(&l, &[1], NOW), NOW, &policy())), "revoked");
    let v = Verifier::new(f.trust.clone(), None);
    assert_eq!(reason(v.verify(&f.present(&l, &[1], NOW), NOW, &policy())), "status_unknown");
    let policy = Policy { max_status_age_secs: 300, ..policy() };
    assert_eq!(reason(f.verifier().verify(&f.present(&l, &[1], NOW), NOW, &policy)), "status_stale");
}

#[test]
fn rejects_an_expired_window_a_screenshot() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1, 8], NOW);
    let policy = policy();
    // Within the window plus skew: fine. Two minutes later: a screenshot.
    assert_eq!(reason(f.verifier().verify(&text, NOW + 60 + 30, &policy)), "ok");
    assert_eq!(reason(f.verifier().verify(&text, NOW + 120, &policy)), "window_expired");
    assert_eq!(reason(f.verifier().verify(&text, NOW - 120, &policy)), "window_not_yet_valid");
}

#[test]
fn rejects_a_window_longer_than_60_seconds() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let mut p = present::build_presentation(&l, &[1], "x", NOW, 60, &f.device).unwrap();
    p.not_after = NOW + 3600;
    let tbs = device_auth_tbs(&l.signed.body.licence_id, &[1], p.not_before, p.not_after, &p.nonce, "x");
    p.device_signature = f.device.sign(&tbs).unwrap();
    assert_eq!(reason(f.verifier().verify(&p.to_text(), NOW, &policy())), "window_too_long");
}

/// Re-signs a presentation after a test changed its items or window, so only the change is judged.
fn resign(f: &Fixture, p: &mut Presentation) {
    let ids: Vec<u32> = p.items.iter().map(|b| ElementItem::decode(b).unwrap().id).collect();
    let tbs = device_auth_tbs(&p.signed.body.licence_id, &ids, p.not_before, p.not_after, &p.nonce, &p.purpose);
    p.device_signature = f.device.sign(&tbs).unwrap();
}

#[test]
fn one_presentation_has_one_encoding() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let policy = policy();
    let base = present::build_presentation(&l, &[1, 2, 8], "x", NOW, 60, &f.device).unwrap();
    assert_eq!(reason(f.verifier().verify(&base.to_text(), NOW, &policy)), "ok");

    // Items out of ascending element order (the device signature covers them in that order).
    let mut p = base.clone();
    p.items.swap(0, 2);
    resign(&f, &mut p);
    assert_eq!(reason(f.verifier().verify(&p.to_text(), NOW, &policy)), "items_out_of_order");
    // The same element twice.
    let mut p = base.clone();
    p.items[1] = p.items[0].clone();
    resign(&f, &mut p);
    let e = f.verifier().verify(&p.to_text(), NOW, &policy).unwrap_err();
    assert_eq!(e, WalletError::DuplicateItem { element: "name".into() });

    // The issuer-signed licence without its COSE tag 18.
    let untagged = encode_cbor(&ciborium::value::Value::Array(vec![
        uint(FORMAT_VERSION),
        match sign1_value(&base.signed.sign1) {
            ciborium::value::Value::Tag(18, inner) => *inner,
            other => other,
        },
        ciborium::value::Value::Array(base.items.iter().map(|b| bytes(b)).collect()),
        ciborium::value::Value::Array(vec![
            int(base.not_before),
            int(base.not_after),
            bytes(&base.nonce),
            text(&base.purpose),
            bytes(&base.device_signature),
        ]),
    ]));
    let t = encode_text(PRESENTATION_PREFIX, &untagged);
    assert_eq!(reason(f.verifier().verify(&t, NOW, &policy)), "missing_cose_tag");

    // A longer encoding of the version (0x18 0x01 for 1): the same values, another text.
    let enc = base.encode();
    assert_eq!(&enc[..2], &[0x84, 0x01]);
    let mut long = vec![0x84, 0x18, 0x01];
    long.extend_from_slice(&enc[2..]);
    let t = encode_text(PRESENTATION_PREFIX, &long);
    assert_eq!(reason(f.verifier().verify(&t, NOW, &policy)), "non_canonical");

    // A window that ends before it starts: its own reason, not "valid for -10 s".
    let mut p = base.clone();
    p.not_after = p.not_before - 10;
    resign(&f, &mut p);
    assert_eq!(reason(f.verifier().verify(&p.to_text(), NOW, &policy)), "negative_window");
}

#[test]
fn a_status_index_beyond_the_list_is_its_own_reason() {
    let f = Fixture::new();
    let mut req = f.request();
    req.status_index = 5000; // the fixture's list covers 1,024
    let l = f.issue(&req);
    let e = f.verifier().verify(&f.present(&l, &[1], NOW), NOW, &policy()).unwrap_err();
    assert_eq!(e, WalletError::StatusIndexOutOfRange { index: 5000, size: 1024 });
}

#[test]
fn rejects_the_same_nonce_twice() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1], NOW);
    let v = f.verifier();
    assert_eq!(reason(v.verify(&text, NOW, &policy())), "ok");
    assert_eq!(reason(v.verify(&text, NOW + 1, &policy())), "replay");
    // A fresh presentation of the same licence is fine.
    assert_eq!(reason(v.verify(&f.present(&l, &[1], NOW), NOW + 2, &policy())), "ok");
}

#[test]
fn rejects_a_device_signature_by_another_key() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let other = SoftwareKey::generate().unwrap();
    let text = present::build_presentation(&l, &[1], "x", NOW, 60, &other).unwrap().to_text();
    assert_eq!(reason(f.verifier().verify(&text, NOW, &policy())), "bad_device_signature");
    // Signed by the right key, but a disclosed id list changed after signing (an element added).
    let mut p = present::build_presentation(&l, &[1], "x", NOW, 60, &f.device).unwrap();
    p.items.push(l.items[4].clone());
    assert_eq!(reason(f.verifier().verify(&p.to_text(), NOW, &policy())), "bad_device_signature");
    // The purpose changed after signing.
    let mut p = present::build_presentation(&l, &[1], "x", NOW, 60, &f.device).unwrap();
    p.purpose = "y".into();
    assert_eq!(reason(f.verifier().verify(&p.to_text(), NOW, &policy())), "bad_device_signature");
}

#[test]
fn rejects_an_altered_disclosed_value() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let mut p = present::build_presentation(&l, &[1, 9], "x", NOW, 60, &f.device).unwrap();
    let mut item = ElementItem::decode(&p.items[0]).unwrap();
    item.value = ElementValue::Text("李四".into());
    p.items[0] = item.encode();
    let r = f.verifier().verify(&p.to_text(), NOW, &policy());
    assert_eq!(r, Err(WalletError::DigestMismatch { element: "name".into() }));
}

#[test]
fn rejects_a_purpose_the_verifier_does_not_accept() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let policy = Policy { accepted_purposes: vec!["age-check".into()], ..policy() };
    assert_eq!(reason(f.verifier().verify(&f.present(&l, &[1], NOW), NOW, &policy)), "purpose_not_accepted");
}

#[test]
fn rejects_truncated_and_malformed_text_never_panics() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1, 2, 3], NOW);
    let v = f.verifier();
    for cut in [4, 5, 10, text.len() / 2, text.len() - 3, text.len() - 1] {
        let r = v.verify(&text[..cut], NOW, &policy());
        assert!(r.is_err(), "cut at {cut}");
    }
    assert_eq!(reason(v.verify("", NOW, &policy())), "bad_prefix");
    assert_eq!(reason(v.verify("ZB1:abc", NOW, &policy())), "bad_encoding");
    assert_eq!(reason(v.verify("ZB1:%%%", NOW, &policy())), "base45_overflow");
    assert_eq!(reason(v.verify(&"Z".repeat(5000), NOW, &policy())), "too_long");
    // Valid encoding of something that is not a presentation.
    let t = encode_text(PRESENTATION_PREFIX, &encode_cbor(&text_value("hello")));
    assert_eq!(reason(v.verify(&t, NOW, &policy())), "malformed");
    // Every single-character substitution is refused without a panic.
    let chars: Vec<char> = text.chars().collect();
    for i in (4..chars.len()).step_by(7) {
        let mut c = chars.clone();
        c[i] = if c[i] == 'A' { 'B' } else { 'A' };
        let s: String = c.into_iter().collect();
        assert!(v.verify(&s, NOW, &policy()).is_err(), "substitution at {i}");
    }
}

fn text_value(s: &str) -> ciborium::value::Value {
    ciborium::value::Value::Text(s.into())
}

#[test]
fn rejects_deflate_and_cbor_bombs() {
    let f = Fixture::new();
    let v = f.verifier();
    let bomb = encode_text(PRESENTATION_PREFIX, &vec![0u8; 1 << 20]);
    assert_eq!(reason(v.verify(&bomb, NOW, &policy())), "deflate_bomb");
    let mut deep = vec![0x81u8; 2000];
    deep.push(0);
    assert_eq!(reason(v.verify(&encode_text(PRESENTATION_PREFIX, &deep), NOW, &policy())), "cbor_too_deep");
    let long = [0x84, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xf0, 0x00];
    assert_eq!(reason(v.verify(&encode_text(PRESENTATION_PREFIX, &long), NOW, &policy())), "cbor_too_large");
    // A bomb hidden inside the protected header byte string.
    let mut inner = vec![0x81u8; 50];
    inner.push(0);
    let mut b = vec![0x84, 0x01, 0xd2, 0x84, 0x58, inner.len() as u8];
    b.extend(&inner);
    b.extend([0xa0, 0x40, 0x40, 0x80, 0x80]);
    assert_eq!(reason(v.verify(&encode_text(PRESENTATION_PREFIX, &b), NOW, &policy())), "cbor_too_deep");
}

#[test]
fn every_reason_has_both_messages() {
    let all = [
        WalletError::TooLong { len: 1, max: 0 },
        WalletError::BadPrefix { expected: "ZB1:" },
        WalletError::BadEncoding,
        WalletError::BadCompression,
        WalletError::Base45Overflow,
        WalletError::TrailingBytes { after: "DEFLATE", count: 1 },
        WalletError::MissingCoseTag,
        WalletError::ItemsOutOfOrder,
        WalletError::DuplicateItem { element: "name".into() },
        WalletError::NonCanonical { what: "x".into() },
        WalletError::NegativeWindow { not_before: 10, not_after: 0 },
        WalletError::StatusIndexOutOfRange { index: 5000, size: 1024 },
        WalletError::DeflateBomb { limit: 1 },
        WalletError::CborTooDeep { limit: 1 },
        WalletError::CborTooLarge,
        WalletError::Malformed { what: "x".into() },
        WalletError::UnsupportedVersion { version: 2 },
        WalletError::UnsupportedAlgorithm { alg: -8 },
        WalletError::NoTrustList,
        WalletError::UnknownIssuerKey { kid: "ab".into() },
        WalletError::IssuerKeyWithdrawn { kid: "ab".into() },
        WalletError::IssuerNotAuthorised { kid: "ab".into() },
        WalletError::BadIssuerSignature,
        WalletError::BadListSignature { list: "trust list" },
        WalletError::ListRollback { list: "trust list" },
        WalletError::InvalidIdentifier { field: "f".into(), zh: "校验位错".into(), en: "e".into() },
        WalletError::InvalidElement { field: "f".into() },
        WalletError::UnknownLicenceType { code: "11100000000013338W011".into() },
        WalletError::NotYetValid { valid_from: 0 },
        WalletError::Expired { valid_until: 0 },
        WalletError::Revoked,
        WalletError::StatusUnknown,
        WalletError::StatusStale { age_secs: 1, max_secs: 0 },
        WalletError::TrustStale { age_secs: 1, max_secs: 0 },
        WalletError::DeviceKeyMismatch,
        WalletError::WindowTooLong { secs: 61 },
        WalletError::WindowNotYetValid { not_before: 0 },
        WalletError::WindowExpired { not_after: 0 },
        WalletError::Replay,
        WalletError::BadDeviceSignature,
        WalletError::DigestMismatch { element: "name".into() },
        WalletError::PurposeNotAccepted { purpose: "p".into() },
        WalletError::GrantExpired { expires_at: 0 },
        WalletError::GrantWrongRecipient { recipient: "r".into() },
        WalletError::GrantAlreadyUsed,
        WalletError::GrantRevoked,
        WalletError::GrantTerms { what: "w".into() },
        WalletError::StatusListMismatch { expected: 1, found: 0 },
    ];
    let mut codes = std::collections::HashSet::new();
    for e in &all {
        assert!(codes.insert(e.code()), "duplicate code {}", e.code());
        assert!(e.message_zh().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{e:?}");
        assert!(e.message_en().is_ascii() || e.message_en().contains('\''), "{e:?}");
        let core: crate::Error = e.clone().into();
        assert!(core.message_en().contains(e.code()));
    }
}

// --- the holder's wallet over the store ---------------------------------------------------------

pub(crate) fn wallet_in(dir: &std::path::Path, f: &Fixture, signer: Arc<dyn DeviceSigner>) -> Wallet {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    let store = Arc::new(Store::create(dir, vault, None).unwrap());
    let w = Wallet::with_signer(store, signer).with_root_key(f.root.public_key());
    w.update_trust_list(&f.trust.sign(|m| f.root.sign(m)).unwrap(), NOW).unwrap();
    w.update_status_list(&f.status.sign(|m| f.root.sign(m)).unwrap(), NOW).unwrap();
    w
}

#[test]
fn wallet_import_checks_and_lists_with_status() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    let l = f.issue(&f.request());
    let s = w.import(&l.encode(), NOW).unwrap();
    assert_eq!(s.status, LicenceStatus::Valid);
    assert_eq!(w.licences(NOW).unwrap().len(), 1);
    assert_eq!(w.licences(NOW + 86400 * 30).unwrap()[0].status, LicenceStatus::StatusStale);
    let later = StatusList { sequence: 2, issued_at: NOW + 86400 * 3640, ..f.status.clone() };
    w.update_status_list(&later.sign(|m| f.root.sign(m)).unwrap(), NOW).unwrap();
    assert_eq!(w.licences(NOW + 86400 * 3640).unwrap()[0].status, LicenceStatus::Expiring);
    assert_eq!(w.licences(NOW + 86400 * 3651).unwrap()[0].status, LicenceStatus::Expired);
    let d = w.licence(&s.licence_id, NOW).unwrap();
    assert_eq!(d.elements.len(), 9);

    // Bound to another device.
    let mut req = f.request();
    req.device_key = SoftwareKey::generate().unwrap().public_key();
    let e = w.import(&f.issue(&req).encode(), NOW).unwrap_err();
    assert!(e.to_string().contains("device_key_mismatch"), "{e}");
    // A bad ID number (check character) is refused on import, naming the field.
    let mut req = f.request();
    req.elements.insert("id_number".into(), ElementValue::Text("110105194912310021".into()));
    let e = w.import(&f.issue(&req).encode(), NOW).unwrap_err();
    assert!(e.to_string().contains("invalid_identifier") && e.to_string().contains("id_number"), "{e}");
    // Expired licences are refused on import.
    let mut req = f.request();
    req.valid_until = NOW - 1;
    assert!(w.import(&f.issue(&req).encode(), NOW).unwrap_err().to_string().contains("expired"));
    // A forged one too.
    let mut l = f.issue(&f.request());
    l.signed.sign1.signature[0] ^= 0x80;
    assert!(w.import(&l.encode(), NOW).unwrap_err().to_string().contains("bad_issuer_signature"));
    // Garbage never panics.
    assert!(w.import(&[0xff; 100], NOW).is_err());

    // Revocation shows in the list once the status list says so.
    let mut sl = f.status.clone();
    sl.sequence = 3;
    sl.set_revoked(42);
    w.update_status_list(&sl.sign(|m| f.root.sign(m)).unwrap(), NOW).unwrap();
    assert_eq!(w.licences(NOW).unwrap()[0].status, LicenceStatus::Revoked);
    // A rollback to the older list is refused.
    let e = w.update_status_list(&f.status.sign(|m| f.root.sign(m)).unwrap(), NOW).unwrap_err();
    assert!(e.to_string().contains("list_rollback"));
    // A list signed by another root is refused.
    let e = w.update_trust_list(&f.trust.sign(|m| f.issuer.sign(m)).unwrap(), NOW).unwrap_err();
    assert!(e.to_string().contains("bad_list_signature"));
}

#[test]
fn wallet_presents_grants_and_logs_usage() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    let id = w.import(&f.issue(&f.request()).encode(), NOW).unwrap().licence_id;

    let p = w.present(&id, &Preset::HotelCheckIn, None, NOW).unwrap();
    assert!(p.not_before < p.refresh_at && p.refresh_at < p.not_after, "replaced half-way, never at the edge");
    assert_eq!(p.disclosed, ["name", "id_number_masked"]);
    let v = w.verifier().unwrap().verify(&p.qr_text, NOW + 10, &policy()).unwrap();
    assert_eq!(v.purpose, "hotel-check-in");
    assert_eq!(v.disclosed.len(), 2);
    let p = w.present(&id, &Preset::AgeCheck, None, NOW).unwrap();
    let v = w.verifier().unwrap().verify(&p.qr_text, NOW, &policy()).unwrap();
    assert_eq!(v.disclosed[0].key, "age_over_18");
    assert_eq!(v.disclosed[0].value, ElementValue::Bool(true));
    assert!(w.present(&id, &Preset::Custom(vec!["uscc".into()]), None, NOW).is_err());

    // Grants: bound to the recipient's device key.
    let recipient = SoftwareKey::generate().unwrap();
    let rk = recipient.public_key();
    let g = w
        .grant(
            &id,
            &Preset::Custom(vec!["name".into(), "address".into()]),
            "朝阳区民政局",
            &rk,
            "低保申请",
            GrantExpiry::Default,
            NOW,
        )
        .unwrap();
    assert_eq!(g.expires_at, NOW + 30 * 86400);
    let gv = GrantVerifier::new(&rk, f.trust.clone(), Some(f.status.clone()));
    let vg = gv.verify(&g.text, NOW + 86400, &policy()).unwrap();
    assert_eq!(vg.disclosed.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["name", "address"]);
    assert_eq!(gv.verify(&g.text, NOW + 31 * 86400, &policy()).unwrap_err().code(), "grant_expired");
    let other =
        GrantVerifier::new(&SoftwareKey::generate().unwrap().public_key(), f.trust.clone(), Some(f.status.clone()));
    assert_eq!(other.verify(&g.text, NOW, &policy()).unwrap_err().code(), "grant_wrong_recipient");
    let one = w.grant(&id, &Preset::Full, "朝阳区民政局", &rk, "一次性核验", GrantExpiry::SingleUse, NOW).unwrap();
    assert_eq!(one.expires_at, NOW + 86400);
    assert!(gv.verify(&one.text, NOW, &policy()).is_ok());
    assert_eq!(gv.verify(&one.text, NOW, &policy()).unwrap_err().code(), "grant_already_used");
    assert!(w.grant(&id, &Preset::Full, "x", &rk, "y", GrantExpiry::Until(NOW + 400 * 86400), NOW).is_err());
    assert!(w.grant(&id, &Preset::Full, "", &rk, "y", GrantExpiry::Default, NOW).is_err());
    assert!(w.grant(&id, &Preset::Full, "x", &rk[..33], "y", GrantExpiry::Default, NOW).is_err(), "not a key");

    // Revocation: shown at once, queued for the platform, and honoured by a recipient who knows it.
    let r = w.revoke_grant(&g.grant_id, NOW + 5).unwrap();
    assert_eq!(r.revoked_at, Some(NOW + 5));
    assert_eq!(w.grants(Some(&id)).unwrap().iter().filter(|g| g.revoked_at.is_some()).count(), 1);
    assert_eq!(w.pending_revocations().unwrap(), std::slice::from_ref(&g.grant_id));
    let queued = zhangban_base::outbox::pending(w.store()).unwrap();
    assert_eq!(queued.len(), 1, "one operation in the one outbox");
    assert_eq!(queued[0].kind, zhangban_base::outbox::OpKind::RevokeGrant);
    assert_eq!(queued[0].body["grant_id"], serde_json::json!(g.grant_id));
    assert!(w.store().list_tagged(crate::LEGACY_OUTBOX_COLLECTION, "pending").unwrap().is_empty());
    let signed = GrantRevocation {
        grant_id: g.grant_id.clone(),
        signature: queued[0].body["signature"].as_str().unwrap().to_string(),
    };
    // Finding 15: a stranger who knows the grant id (the recipient, anyone it was shown to) cannot revoke it:
    // a claim signed by another key, or not signed at all, is ignored by the recipient.
    let stranger = SoftwareKey::generate().unwrap();
    let forged = GrantRevocation {
        grant_id: g.grant_id.clone(),
        signature: hex::encode(stranger.sign(&revocation_tbs(&hex::decode(&g.grant_id).unwrap())).unwrap()),
    };
    let junk = GrantRevocation { grant_id: g.grant_id.clone(), signature: "00".repeat(64) };
    let mut gv2 = GrantVerifier::new(&rk, f.trust.clone(), Some(f.status.clone()));
    gv2.set_revocations(&[forged.clone(), junk.clone()]);
    assert!(gv2.verify(&g.text, NOW, &policy()).is_ok(), "a stranger's revocation is not honoured");
    // The holder's own signed revocation is honoured, whatever else is claimed beside it.
    gv2.set_revocations(&[forged, signed, junk]);
    assert_eq!(gv2.verify(&g.text, NOW, &policy()).unwrap_err().code(), "grant_revoked");

    // The usage log, newest first: one revocation, two grants, two presentations, the import.
    let u = w.usage(Some(&id)).unwrap();
    let actions: Vec<&str> = u.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "licence.grant.revoke",
            "licence.grant",
            "licence.grant",
            "licence.present",
            "licence.present",
            "licence.import"
        ]
    );
    assert_eq!(u[4].purpose.as_deref(), Some("hotel-check-in"));
    assert_eq!(u[2].recipient.as_deref(), Some("朝阳区民政局"));
    assert_eq!(u[2].elements, ["name", "address"]);
    assert!(u.windows(2).all(|p| p[0].at >= p[1].at), "newest first");
    assert!(w.store().audit_verify().unwrap().is_intact());
}

#[test]
fn device_key_is_kept_in_the_store_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let store = Arc::new(Store::create(dir.path(), vault.clone(), None).unwrap());
    let pk = Wallet::open(store.clone()).unwrap().device_public_key();
    drop(store);
    let store = Arc::new(Store::open(dir.path(), vault).unwrap());
    let w = Wallet::open(store).unwrap();
    assert_eq!(w.device_public_key(), pk);
    let nonce = [7u8; 32];
    let sig = w.prove_possession(&nonce).unwrap();
    assert!(issue::verify_possession(&nonce, &pk, &sig));
    assert!(!issue::verify_possession(&[8u8; 32], &pk, &sig));
    // It is the key the device registers with the platform.
    let reg = crate::device::device_key(w.store()).unwrap();
    assert_eq!(reg.public_key(), pk.as_slice());
}

#[test]
fn a_restarted_verifier_still_refuses_a_replay() {
    use super::verify::SEEN_NONCES;
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1], NOW);
    let first = w.verifier().unwrap();
    assert_eq!(reason(first.verify(&text, NOW, &policy())), "ok");
    drop(first);
    // The verifier app restarts within the presentation's window: a new verifier over the same store.
    let again = w.verifier().unwrap();
    assert_eq!(reason(again.verify(&text, NOW + 5, &policy())), "replay");
    // Another phone (its own store) has not seen it.
    assert_eq!(reason(f.verifier().verify(&text, NOW + 6, &policy())), "ok");
    // Nonces whose window closed are purged when a later verifier accepts its first presentation.
    assert_eq!(w.store().list(SEEN_NONCES, None).unwrap().len(), 1);
    let later = w.verifier().unwrap();
    let fresh = f.present(&l, &[1], NOW + 3600);
    assert_eq!(reason(later.verify(&fresh, NOW + 3600, &policy())), "ok");
    assert_eq!(w.store().list(SEEN_NONCES, None).unwrap().len(), 1, "the old nonce went, the new one stays");
    assert_eq!(reason(w.verifier().unwrap().verify(&fresh, NOW + 3601, &policy())), "replay");
}

// ---- attacks (issue 10, findings 8 and 9) ---------------------------------------------------------

#[test]
fn attack_a_huge_shell_skew_does_not_revive_an_old_code() {
    // The shell passes a skew of a year: a code from an hour ago (a screenshot) must still be refused.
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1], NOW);
    let p = Policy { clock_skew_secs: 365 * 86400, ..policy() };
    assert_eq!(p.skew(), super::verify::MAX_CLOCK_SKEW_SECS);
    assert_eq!(reason(f.verifier().verify(&text, NOW + 3600, &p)), "window_expired");
}

#[test]
fn attack_a_verifier_with_no_purpose_list_accepts_nothing() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let text = f.present(&l, &[1], NOW);
    assert_eq!(reason(f.verifier().verify(&text, NOW, &Policy::default())), "no_purpose_policy");
}

#[test]
fn attack_a_code_relayed_to_another_verifier_is_refused_in_engagement_mode() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    // The honest verifier (a bank) shows its challenge; the holder answers it.
    let bank = f.verifier();
    let e = bank.engage("hotel-check-in", NOW).unwrap();
    let scanned = super::Engagement::from_text(&e.to_text()).unwrap();
    assert_eq!(scanned, e);
    let code = present::build_engaged_presentation(&l, &[1, 8], &scanned, NOW, 60, &f.device).unwrap().to_text();
    // A rogue verifier that saw the code relays it to another engaged verifier: refused.
    let other = f.verifier();
    other.engage("hotel-check-in", NOW).unwrap();
    assert_eq!(reason(other.verify_current(&code, NOW + 1, &policy())), "engagement_mismatch");
    // … and to a one-way verifier: refused too (it was made for someone's challenge).
    assert_eq!(reason(f.verifier().verify(&code, NOW + 1, &policy())), "engagement_mismatch");
    // A one-way code is not an answer to a challenge.
    assert_eq!(reason(bank.verify_current(&f.present(&l, &[1], NOW), NOW, &policy())), "engagement_mismatch");
    // The challenge cannot be swapped: the device signature covers it.
    let mut swapped = Presentation::from_text(&code).unwrap();
    swapped.challenge = Some(vec![7; 16]);
    let e2 = super::Engagement { challenge: vec![7; 16], ..e.clone() };
    assert_eq!(reason(bank.verify_engaged(&swapped.to_text(), &e2, NOW, &policy())), "bad_device_signature");
    // The honest verifier accepts it, once; and not after the challenge's lifetime.
    assert_eq!(reason(bank.verify_current(&code, NOW + 1, &policy())), "ok");
    assert_eq!(reason(bank.verify_current(&code, NOW + 2, &policy())), "replay");
    let late = present::build_engaged_presentation(&l, &[1], &e, NOW + 1000, 60, &f.device).unwrap().to_text();
    assert_eq!(reason(bank.verify_current(&late, NOW + 1000, &policy())), "engagement_expired");
}

#[test]
fn attack_grants_are_not_bearer_tokens() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let recipient = SoftwareKey::generate().unwrap();
    let g = grant::build_grant(
        &l,
        &[1],
        "朝阳区民政局",
        &recipient.public_key(),
        "低保",
        GrantExpiry::SingleUse,
        NOW,
        &f.device,
    )
    .unwrap();
    // Someone else who got the text and calls themselves by the recipient's name: refused.
    let thief =
        GrantVerifier::new(&SoftwareKey::generate().unwrap().public_key(), f.trust.clone(), Some(f.status.clone()));
    assert_eq!(thief.verify(&g.to_text(), NOW, &policy()).unwrap_err().code(), "grant_wrong_recipient");
    // Rebinding it to the thief's key breaks the holder's signature.
    let mut rebound = g.clone();
    rebound.recipient_key = Some(SoftwareKey::generate().unwrap().public_key());
    let thief2 = GrantVerifier::new(rebound.recipient_key.as_ref().unwrap(), f.trust.clone(), Some(f.status.clone()));
    assert_eq!(thief2.verify(&rebound.to_text(), NOW, &policy()).unwrap_err().code(), "bad_device_signature");
    // An old unbound (version 1) grant is refused.
    let mut unbound = g.clone();
    unbound.recipient_key = None;
    unbound.device_signature = f.device.sign(&unbound.tbs(&[1])).unwrap();
    let gv = GrantVerifier::new(&recipient.public_key(), f.trust.clone(), Some(f.status.clone()));
    assert_eq!(gv.verify(&unbound.to_text(), NOW, &policy()).unwrap_err().code(), "grant_terms");
    // Issued in the future (a holder's clock set ahead to stretch the term): refused.
    let future =
        grant::build_grant(&l, &[1], "x", &recipient.public_key(), "p", GrantExpiry::Default, NOW + 86400, &f.device)
            .unwrap();
    assert_eq!(gv.verify(&future.to_text(), NOW, &policy()).unwrap_err().code(), "grant_terms");
}

#[test]
fn attack_a_single_use_grant_survives_no_restart() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn crate::store::KeyVault> =
        Arc::new(crate::store::FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let store = Arc::new(crate::store::Store::create(&dir.path().join("s"), vault, None).unwrap());
    let recipient = SoftwareKey::generate().unwrap();
    let g = grant::build_grant(&l, &[1], "r", &recipient.public_key(), "p", GrantExpiry::SingleUse, NOW, &f.device)
        .unwrap()
        .to_text();
    let gv =
        GrantVerifier::new(&recipient.public_key(), f.trust.clone(), Some(f.status.clone())).with_store(store.clone());
    assert!(gv.verify(&g, NOW, &policy()).is_ok());
    // The recipient's app restarts (a new verifier, same store): still used.
    let again = GrantVerifier::new(&recipient.public_key(), f.trust.clone(), Some(f.status.clone())).with_store(store);
    assert_eq!(again.verify(&g, NOW + 5, &policy()).unwrap_err().code(), "grant_already_used");
}

/// Finding 10, the gap found by reading: the recipient's files are copied — every row of the covered
/// collections and the sealed record head, as they are before a single-use grant is used. The grant is used;
/// then the copies are put back in place (the rollback anchor's meta rows left current, so the anchor check
/// passes; the rows make the older head, so the head check passes). The recipient's app restarts: the
/// grant must not be usable again.
#[test]
fn attack_an_older_head_with_its_rows_does_not_make_a_used_grant_usable_again() {
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let path = dir.path().join("s");
    let recipient = SoftwareKey::generate().unwrap();
    let g = grant::build_grant(&l, &[1], "r", &recipient.public_key(), "p", GrantExpiry::SingleUse, NOW, &f.device)
        .unwrap()
        .to_text();
    let verifier = |store: Arc<Store>| {
        GrantVerifier::new(&recipient.public_key(), f.trust.clone(), Some(f.status.clone())).with_store(store)
    };
    drop(Store::create(&path, vault.clone(), None).unwrap());

    // The attacker's copy: the covered rows and the head (the meta rows named record_head…).
    let covered = crate::store::HEADED.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
    let db = path.join("zhangban.db");
    type Row = (String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);
    let (rows, head): (Vec<Row>, Vec<(String, Vec<u8>)>) = {
        let c = rusqlite::Connection::open(&db).unwrap();
        let rows = c
            .prepare(&format!(
                "SELECT collection, id, subject, tag, lookup, body, updated_at FROM records WHERE collection IN ({covered})"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let head = c
            .prepare("SELECT key, value FROM meta WHERE key LIKE 'record_head%'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        (rows, head)
    };

    let store = Arc::new(Store::open(&path, vault.clone()).unwrap());
    assert!(verifier(store.clone()).verify(&g, NOW, &policy()).is_ok(), "first use");
    drop(store);

    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(&format!("DELETE FROM records WHERE collection IN ({covered})"), []).unwrap();
        for r in &rows {
            c.execute(
                "INSERT INTO records (collection, id, subject, tag, lookup, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![r.0, r.1, r.2, r.3, r.4, r.5, r.6],
            )
            .unwrap();
        }
        c.execute("DELETE FROM meta WHERE key LIKE 'record_head%'", []).unwrap();
        for (k, v) in &head {
            c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", rusqlite::params![k, v]).unwrap();
        }
    }
    match Store::open(&path, vault) {
        Err(crate::Error::RolledBack) => {}
        Ok(store) => {
            let again = verifier(Arc::new(store)).verify(&g, NOW + 5, &policy());
            panic!("the files put back were accepted; the used grant again: {:?}", again.map(|_| "accepted"));
        }
        Err(e) => panic!("not refused as a rollback: {e:?}"),
    }
}

#[test]
fn revocations_queued_by_an_older_version_move_into_the_one_outbox_with_their_keys() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    let gid = "00112233445566778899aabbccddeeff";
    // What the previous version wrote: its own collection, the record id doubling as idempotency key.
    let legacy = serde_json::json!({ "kind": "grant.revoke", "grant_id": gid, "licence_id": "L", "at": NOW });
    w.store()
        .transaction(|t| {
            t.put(
                LEGACY_OUTBOX_COLLECTION,
                &format!("grant-revoke-{gid}"),
                crate::store::SELF_SUBJECT,
                &serde_json::to_vec(&legacy).unwrap(),
                crate::store::PutOptions { tag: Some("pending"), lookup: None },
            )
        })
        .unwrap();
    assert_eq!(w.pending_revocations().unwrap(), [gid]);
    assert_eq!(migrate_legacy_outbox(w.store()).unwrap(), 1);
    assert_eq!(migrate_legacy_outbox(w.store()).unwrap(), 0, "moved once");
    let ops = zhangban_base::outbox::pending(w.store()).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].idempotency_key, format!("grant-revoke-{gid}"), "the key it may already have been sent with");
    assert_eq!(ops[0].case_id, format!("grant:{gid}"));
    // Signed on the way with the store's device key, as a revocation made now is.
    let sig = hex::decode(ops[0].body["signature"].as_str().unwrap()).unwrap();
    let key = device::load_or_create_device_key(w.store()).unwrap();
    let pk = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, key.public_key());
    assert!(pk.verify(&revocation_tbs(&hex::decode(gid).unwrap()), &sig).is_ok());
    assert_eq!(w.pending_revocations().unwrap(), [gid], "listed once, from the outbox");
}

/// Finding 14: two callers on a racing first use must end with one device key. Each thread asks for the
/// device key at once; every answer (and the stored key) must be the same key, or the platform would
/// register one key while the wallet later signs with another.
#[test]
fn attack_racing_first_use_creates_one_device_key() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
        let store = Arc::new(Store::create(&dir.path().join("s"), vault, None).unwrap());
        let start = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (store, start) = (store.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    device::device_key(&store).unwrap().public_key_hex()
                })
            })
            .collect();
        let keys: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let stored = device::device_key(&store).unwrap().public_key_hex();
        assert!(keys.iter().all(|k| *k == stored), "round {round}: {} different keys", {
            let mut k = keys.clone();
            k.sort();
            k.dedup();
            k.len()
        });
    }
}

/// Finding 12: the device key is not held in memory by the wallet. Locking the store leaves a wallet
/// object that can no longer sign (before: the key pair loaded at open kept signing after `lock()`), and
/// unlocking again signs with the same key.
#[test]
fn attack_a_locked_store_signs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).unwrap());
    let store = Arc::new(Store::create(&dir.path().join("s"), vault, None).unwrap());
    let w = Wallet::open(store.clone()).unwrap();
    let signer = w.signer();
    let pk = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, signer.public_key());
    assert!(pk.verify(b"before", &signer.sign(b"before").unwrap()).is_ok());
    store.lock();
    let e = signer.sign(b"while locked").unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e:?}");
    assert_eq!(signer.public_key(), w.device_public_key(), "the public key stays known");
    store.unlock(None).unwrap();
    assert!(pk.verify(b"after", &signer.sign(b"after").unwrap()).is_ok(), "the same key after unlocking");
}

// ---- attacks (issue 10, finding 14: the trust list's age) ------------------------------------------

#[test]
fn attack_a_trust_list_kept_stale_keeps_no_withdrawn_key_trusted() {
    // The verifier synced its trust list an hour before NOW. Ten days later the platform withdraws the
    // issuer's key (say it leaked); an attacker between the verifier and the platform drops every trust
    // list fetch from then on but lets the status list through, so the status list stays fresh. Sixty days
    // on, a code signed with the withdrawn key (the leaked key signs a licence for the attacker's device,
    // or the old licence is simply shown) must not verify on the stale list.
    let f = Fixture::new();
    let l = f.issue(&f.request());
    let later = NOW + 60 * 86400;
    let fresh_status = StatusList::new(9, later - 600, 1024);
    let stale = Verifier::new(f.trust.clone(), Some(fresh_status.clone()));
    let code = f.present(&l, &[1], later);
    assert_eq!(reason(stale.verify(&code, later, &policy())), "trust_stale");
    // The same through a grant verifier.
    let recipient = SoftwareKey::generate().unwrap();
    let g = grant::build_grant(&l, &[1], "r", &recipient.public_key(), "p", GrantExpiry::Default, later, &f.device)
        .unwrap();
    let gv = GrantVerifier::new(&recipient.public_key(), f.trust.clone(), Some(fresh_status.clone()));
    assert_eq!(gv.verify(&g.to_text(), later, &policy()).unwrap_err().code(), "trust_stale");
    // Within the maximum it verifies, and past half of it the verifier is told (a warning).
    let max = Policy::default().max_trust_age_secs;
    assert_eq!(max, 7 * 86400, "the documented default (docs/SECURITY.md, docs/formats.md § 6)");
    let at = f.trust.issued_at + max;
    let status = StatusList::new(9, at - 600, 1024);
    let v = Verifier::new(f.trust.clone(), Some(status.clone()));
    let ok = v.verify(&f.present(&l, &[1], at), at, &policy()).unwrap();
    assert!(ok.warnings.iter().any(|w| w.contains("trust list")), "{:?}", ok.warnings);
    assert_eq!(ok.trust_age_secs, max);
    let v = Verifier::new(f.trust.clone(), Some(status));
    assert_eq!(reason(v.verify(&f.present(&l, &[1], at + 1), at + 1, &policy())), "trust_stale");
    // A verifier may ask for a fresher list than the default.
    let strict = Policy { max_trust_age_secs: 600, ..policy() };
    assert_eq!(reason(f.verifier().verify(&f.present(&l, &[1], NOW), NOW, &strict)), "trust_stale");
}

/// Finding 10: the wallet's security-relevant collections are under the store's sealed head (an older row
/// written back in place is refused at unlock: `zhangban-base` store tests).
#[test]
fn the_wallets_security_relevant_collections_are_under_the_store_head() {
    for c in [
        super::verify::SEEN_NONCES,
        super::grant::USED_GRANTS,
        LIST_COLLECTION,
        LEGACY_OUTBOX_COLLECTION,
        super::device::DEVICE_COLLECTION,
        zhangban_base::outbox::COLLECTION,
    ] {
        assert!(crate::store::HEADED.contains(&c), "{c}");
    }
}
