//! Test vectors (`tests/vectors/wallet.json`): fixed keys, a fixed clock, signed lists, a licence and
//! presentations with their expected verification results, so that an implementation in another language
//! can be checked against this one. `vectors_match` checks the committed file on every test run; the
//! ignored `write_vectors` test regenerates it (ECDSA signatures are randomised, so the bytes change):
//!
//!     ZB_WRITE_VECTORS=1 cargo test -p zhangban-wallet --lib write_vectors -- --ignored

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::device::{DeviceSigner, SoftwareKey};
use super::error::WResult;
use super::format::*;
use super::issue::{issue_licence, text_elements, with_derived, LicenceRequest, SAMPLE_RESIDENT};
use super::present::build_presentation;
use super::trust::{StatusList, TrustEntry, TrustList};
use super::types::{ElementValue, LicenceType};
use super::verify::{Policy, Verifier};

/// The fixed clock of the vectors: 2026-09-21T11:33:20Z.
pub const VECTOR_NOW: i64 = 1_790_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorKeys {
    /// PKCS#8 (hex) of the platform root test key (its public key is pinned in the core).
    pub root_pkcs8: String,
    pub issuer_pkcs8: String,
    /// A second issuer whose key is withdrawn in the trust list.
    pub withdrawn_issuer_pkcs8: String,
    /// A key in no trust list.
    pub rogue_pkcs8: String,
    pub device_pkcs8: String,
    /// The device's private scalar (hex, 32 bytes) and public key (SEC1), for implementations that
    /// sign without PKCS#8.
    pub device_private_hex: String,
    pub device_public_hex: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorCase {
    pub name: String,
    /// The QR text.
    pub text: String,
    pub now: i64,
    pub policy: Policy,
    /// How many times the verifier sees the text (the last result is `expect`): 2 for the replay case.
    pub repeat: u32,
    /// `"ok"` or a [`super::WalletError::code`].
    pub expect: String,
    /// For `ok`: the disclosed element keys.
    pub disclosed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vectors {
    pub description: String,
    pub now: i64,
    pub keys: VectorKeys,
    pub trust_list_hex: String,
    pub status_list_hex: String,
    /// The issued resident ID card ({1: COSE_Sign1, 2: items}) bound to the device key.
    pub licence_hex: String,
    pub licence_id: String,
    pub cases: Vec<VectorCase>,
}

pub fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/wallet.json")
}

/// The private scalar inside a ring-generated P-256 PKCS#8 document (`… 02 01 01 04 20 <d> …`).
pub fn pkcs8_private_scalar(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let pos = pkcs8.windows(5).position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])?;
    pkcs8.get(pos + 5..pos + 37).map(<[u8]>::to_vec)
}

fn resident() -> BTreeMap<String, ElementValue> {
    with_derived(LicenceType::ResidentId, text_elements(&SAMPLE_RESIDENT), VECTOR_NOW)
}

pub const VECTOR_ISSUER_USCC: &str = "11110000000019001J";

fn entry(k: &SoftwareKey, uscc: &str, zh: &str, en: &str, withdrawn: bool) -> TrustEntry {
    TrustEntry {
        kid: k.key_id(),
        alg: ALG_ES256,
        public_key: k.public_key(),
        issuer_uscc: uscc.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        types: vec![LicenceType::ResidentId.code().into()],
        valid_from: VECTOR_NOW - 365 * 86400,
        valid_until: VECTOR_NOW + 3650 * 86400,
        withdrawn,
    }
}

fn generate(keys: VectorKeys) -> crate::Result<Vectors> {
    let root = SoftwareKey::from_pkcs8_hex(&keys.root_pkcs8)?;
    let issuer = SoftwareKey::from_pkcs8_hex(&keys.issuer_pkcs8)?;
    let withdrawn = SoftwareKey::from_pkcs8_hex(&keys.withdrawn_issuer_pkcs8)?;
    let rogue = SoftwareKey::from_pkcs8_hex(&keys.rogue_pkcs8)?;
    let device = SoftwareKey::from_pkcs8_hex(&keys.device_pkcs8)?;
    let now = VECTOR_NOW;
    let trust = TrustList {
        sequence: 1,
        issued_at: now - 3600,
        entries: vec![
            entry(&issuer, VECTOR_ISSUER_USCC, "北京市公安局", "Beijing Municipal Public Security Bureau", false),
            entry(&withdrawn, VECTOR_ISSUER_USCC, "北京市公安局（旧密钥）", "Beijing PSB (old key)", true),
        ],
    };
    let mut status = StatusList::new(1, now - 600, 1024);
    status.set_revoked(7);
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: VECTOR_ISSUER_USCC.into(),
        serial: "00000042".into(),
        version: "1".into(),
        elements: resident(),
        device_key: device.public_key(),
        valid_from: now - 100 * 86400,
        valid_until: now + 3650 * 86400,
        status_index: 42,
    };
    let licence = issue_licence(&req, &issuer.key_id(), &issuer)?;
    let with = |f: &dyn Fn(&mut LicenceRequest), key: &SoftwareKey| -> crate::Result<IssuedLicence> {
        let mut r = req.clone();
        f(&mut r);
        issue_licence(&r, &key.key_id(), key)
    };
    // A verifier lists the purposes it accepts (an empty list accepts none).
    let p = Policy {
        accepted_purposes: ["custom", "age-check", "x", "hotel-check-in"].map(String::from).to_vec(),
        ..Policy::default()
    };
    let hotel = Policy { accepted_purposes: vec!["hotel-check-in".into()], ..Policy::default() };
    let mut cases = Vec::new();
    let mut case = |name: &str, text: String, at: i64, policy: &Policy, expect: &str, disclosed: &[&str]| {
        cases.push(VectorCase {
            name: name.into(),
            text,
            now: at,
            policy: policy.clone(),
            repeat: 1,
            expect: expect.into(),
            disclosed: disclosed.iter().map(|s| s.to_string()).collect(),
        })
    };
    let present = |l: &IssuedLicence, ids: &[u32], purpose: &str| -> crate::Result<Presentation> {
        build_presentation(l, ids, purpose, now, 60, &device)
    };
    case(
        "hotel_check_in_ok",
        present(&licence, &[1, 8], "hotel-check-in")?.to_text(),
        now + 5,
        &hotel,
        "ok",
        &["name", "id_number_masked"],
    );
    case(
        "five_elements_ok",
        present(&licence, &[1, 2, 3, 4, 6], "custom")?.to_text(),
        now + 5,
        &p,
        "ok",
        &["name", "sex", "ethnicity", "birth_date", "id_number"],
    );
    case("age_check_ok", present(&licence, &[9], "age-check")?.to_text(), now, &p, "ok", &["age_over_18"]);
    let mut forged = licence.clone();
    forged.signed.sign1.signature[5] ^= 0x01;
    case("forged_issuer_signature", present(&forged, &[1], "x")?.to_text(), now, &p, "bad_issuer_signature", &[]);
    case(
        "unknown_issuer_key",
        present(&with(&|_| {}, &rogue)?, &[1], "x")?.to_text(),
        now,
        &p,
        "unknown_issuer_key",
        &[],
    );
    case(
        "withdrawn_issuer_key",
        present(&with(&|_| {}, &withdrawn)?, &[1], "x")?.to_text(),
        now,
        &p,
        "issuer_key_withdrawn",
        &[],
    );
    case(
        "licence_expired",
        present(&with(&|r| r.valid_until = now - 86400, &issuer)?, &[1], "x")?.to_text(),
        now,
        &p,
        "expired",
        &[],
    );
    case(
        "licence_not_yet_valid",
        present(&with(&|r| r.valid_from = now + 86400, &issuer)?, &[1], "x")?.to_text(),
        now,
        &p,
        "not_yet_valid",
        &[],
    );
    case("revoked", present(&with(&|r| r.status_index = 7, &issuer)?, &[1], "x")?.to_text(), now, &p, "revoked", &[]);
    case("window_expired_screenshot", present(&licence, &[1], "x")?.to_text(), now + 300, &p, "window_expired", &[]);
    let stale = Policy { max_status_age_secs: 300, ..p.clone() };
    case("status_list_too_old", present(&licence, &[1], "x")?.to_text(), now, &stale, "status_stale", &[]);
    // The trust list was issued an hour before `now`: a verifier that accepts at most 30 minutes refuses.
    let stale_trust = Policy { max_trust_age_secs: 1800, ..p.clone() };
    case("trust_list_too_old", present(&licence, &[1], "x")?.to_text(), now, &stale_trust, "trust_stale", &[]);
    case(
        "purpose_not_accepted",
        present(&licence, &[9], "age-check")?.to_text(),
        now,
        &hotel,
        "purpose_not_accepted",
        &[],
    );
    let other_device = build_presentation(&licence, &[1], "x", now, 60, &rogue)?;
    case("device_signature_by_another_key", other_device.to_text(), now, &p, "bad_device_signature", &[]);
    let mut altered = present(&licence, &[1, 8], "x")?;
    let mut item = ElementItem::decode(&altered.items[0]).map_err(crate::Error::from)?;
    item.value = ElementValue::Text("李四".into());
    altered.items[0] = item.encode();
    case("altered_value", altered.to_text(), now, &p, "digest_mismatch", &[]);
    let mut long = present(&licence, &[1], "x")?;
    long.not_after = now + 3600;
    let tbs = device_auth_tbs(&licence.signed.body.licence_id, &[1], long.not_before, long.not_after, &long.nonce, "x");
    long.device_signature = device.sign(&tbs)?;
    case("window_longer_than_60_s", long.to_text(), now, &p, "window_too_long", &[]);
    let good = present(&licence, &[1], "x")?.to_text();
    let cut = 4 + (good.len() - 4) / 2 / 3 * 3;
    case("truncated", good[..cut].to_string(), now, &p, "bad_compression", &[]);
    case("wrong_prefix", good.replacen("ZB1:", "ZB2:", 1), now, &p, "bad_prefix", &[]);
    case("not_base45", "ZB1:zz".into(), now, &p, "bad_encoding", &[]);
    case("deflate_bomb", encode_text(PRESENTATION_PREFIX, &vec![0u8; 1 << 20]), now, &p, "deflate_bomb", &[]);
    let mut deep = vec![0x81u8; 1000];
    deep.push(0);
    case("cbor_nesting_bomb", encode_text(PRESENTATION_PREFIX, &deep), now, &p, "cbor_too_deep", &[]);
    case(
        "cbor_length_bomb",
        encode_text(PRESENTATION_PREFIX, &[0x84, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xf0, 0x00]),
        now,
        &p,
        "cbor_too_large",
        &[],
    );
    case("too_long", format!("ZB1:{}", "0".repeat(5000)), now, &p, "too_long", &[]);
    // Strict, canonical decoding: each way of writing one presentation as another text has its reason.
    case("base45_final_group_overflow", "ZB1:::".into(), now, &p, "base45_overflow", &[]);
    let mut z = miniz_oxide::deflate::compress_to_vec(&present(&licence, &[1], "x")?.encode(), 9);
    z.push(0);
    case("bytes_after_deflate", format!("ZB1:{}", base45::encode(&z)), now, &p, "trailing_bytes", &[]);
    let resign = |pr: &mut Presentation| -> crate::Result<()> {
        let ids = pr.items.iter().map(|b| ElementItem::decode(b).map(|i| i.id)).collect::<WResult<Vec<u32>>>()?;
        let tbs =
            device_auth_tbs(&pr.signed.body.licence_id, &ids, pr.not_before, pr.not_after, &pr.nonce, &pr.purpose);
        pr.device_signature = device.sign(&tbs)?;
        Ok(())
    };
    let mut swapped = present(&licence, &[1, 8], "x")?;
    swapped.items.swap(0, 1);
    resign(&mut swapped)?;
    case("items_out_of_order", swapped.to_text(), now, &p, "items_out_of_order", &[]);
    let mut twice = present(&licence, &[1, 8], "x")?;
    twice.items[1] = twice.items[0].clone();
    resign(&mut twice)?;
    case("item_disclosed_twice", twice.to_text(), now, &p, "duplicate_item", &[]);
    let mut backwards = present(&licence, &[1], "x")?;
    backwards.not_after = backwards.not_before - 10;
    resign(&mut backwards)?;
    case("window_ends_before_it_starts", backwards.to_text(), now, &p, "negative_window", &[]);
    let plain = present(&licence, &[1], "x")?;
    let untagged = match sign1_value(&plain.signed.sign1) {
        ciborium::value::Value::Tag(_, inner) => *inner,
        other => other,
    };
    let enc = encode_cbor(&ciborium::value::Value::Array(vec![
        uint(FORMAT_VERSION),
        untagged,
        ciborium::value::Value::Array(plain.items.iter().map(|b| bytes(b)).collect()),
        ciborium::value::Value::Array(vec![
            int(plain.not_before),
            int(plain.not_after),
            bytes(&plain.nonce),
            text(&plain.purpose),
            bytes(&plain.device_signature),
        ]),
    ]));
    case("missing_cose_tag", encode_text(PRESENTATION_PREFIX, &enc), now, &p, "missing_cose_tag", &[]);
    let mut longer = vec![0x84u8, 0x18, 0x01];
    longer.extend_from_slice(&plain.encode()[2..]);
    case("version_not_in_shortest_form", encode_text(PRESENTATION_PREFIX, &longer), now, &p, "non_canonical", &[]);
    let beyond = with(&|r| r.status_index = 5000, &issuer)?;
    case(
        "status_index_beyond_the_list",
        present(&beyond, &[1], "x")?.to_text(),
        now,
        &p,
        "status_index_out_of_range",
        &[],
    );
    // A well-formed identifier (the standard's example type code) of a type the verifier does not know.
    let mut body = licence.signed.body.clone();
    body.licence_id = super::ids::LicenceId::new("11100000000013338W011", VECTOR_ISSUER_USCC, "00000042", "1")
        .map_err(|e| crate::Error::Internal(e.to_string()))?
        .to_string();
    let sign1 = sign1_create(&issuer.key_id(), encode_cbor(&body.to_value()), |m| issuer.sign(m))?;
    let unknown = IssuedLicence { signed: Signed { sign1, kid: issuer.key_id(), body }, items: licence.items.clone() };
    case("unknown_licence_type", present(&unknown, &[1], "x")?.to_text(), now, &p, "unknown_licence_type", &[]);
    let replay = present(&licence, &[1], "x")?.to_text();
    cases.push(VectorCase {
        name: "replayed_nonce".into(),
        text: replay,
        now,
        policy: p.clone(),
        repeat: 2,
        expect: "replay".into(),
        disclosed: vec![],
    });
    Ok(Vectors {
        description: "Zhangban wallet test vectors: see docs/formats.md. Verify each case's text at `now` with the \
                      trust list and status list (signed by the root key pinned in the core) under `policy`; \
                      the result must be `expect`."
            .into(),
        now,
        keys,
        trust_list_hex: hex::encode(trust.sign(|m| root.sign(m))?),
        status_list_hex: hex::encode(status.sign(|m| root.sign(m))?),
        licence_hex: hex::encode(licence.encode()),
        licence_id: licence.signed.body.licence_id.clone(),
        cases,
    })
}

/// The sharded status list vectors (`tests/vectors/wallet-shards.json`, ADR 0039): with the keys, trust list and
/// device of `wallet.json`, licences of shards 0, 1 and 2 checked against signed lists of shards 0 and 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardVectors {
    pub description: String,
    pub now: i64,
    /// Signed status lists, one per shard held (each names its id, key 6; absent for shard 0).
    pub status_lists_hex: Vec<String>,
    pub cases: Vec<VectorCase>,
}

pub fn shard_vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/wallet-shards.json")
}

fn generate_shards(keys: &VectorKeys) -> crate::Result<ShardVectors> {
    use super::trust::MAX_STATUS_BITS as B;
    let root = SoftwareKey::from_pkcs8_hex(&keys.root_pkcs8)?;
    let issuer = SoftwareKey::from_pkcs8_hex(&keys.issuer_pkcs8)?;
    let device = SoftwareKey::from_pkcs8_hex(&keys.device_pkcs8)?;
    let now = VECTOR_NOW;
    // Shard 0 revokes bit 7, shard 1 bit 9 (size 1,024 each).
    let mut s0 = StatusList::shard(0, 1, now - 600, 1024);
    s0.set_revoked(7);
    let mut s1 = StatusList::shard(1, 1, now - 600, 1024);
    s1.set_revoked(9);
    let p = Policy { accepted_purposes: vec!["x".into()], ..Policy::default() };
    let mut cases = Vec::new();
    for (name, index, expect) in [
        ("shard_0_revoked_bit", 7, "revoked"),
        ("shard_1_ok", B + 3, "ok"),
        ("shard_1_revoked", B + 9, "revoked"),
        // Bit 7 is revoked in shard 0 only: a licence of shard 1 with bit 7 is valid.
        ("shard_1_bit_revoked_only_in_shard_0", B + 7, "ok"),
        ("shard_1_beyond_its_list", B + 5000, "status_index_out_of_range"),
        ("shard_2_not_held", 2 * B + 1, "status_unknown"),
    ] {
        let req = LicenceRequest {
            licence_type: LicenceType::ResidentId,
            issuer_uscc: VECTOR_ISSUER_USCC.into(),
            serial: format!("{:08}", 100 + cases.len()),
            version: "1".into(),
            elements: resident(),
            device_key: device.public_key(),
            valid_from: now - 100 * 86400,
            valid_until: now + 3650 * 86400,
            status_index: index,
        };
        let l = issue_licence(&req, &issuer.key_id(), &issuer)?;
        cases.push(VectorCase {
            name: name.into(),
            text: build_presentation(&l, &[1], "x", now, 60, &device)?.to_text(),
            now,
            policy: p.clone(),
            repeat: 1,
            expect: expect.into(),
            disclosed: if expect == "ok" { vec!["name".into()] } else { vec![] },
        });
    }
    Ok(ShardVectors {
        description: "Zhangban sharded status list vectors (ADR 0039): keys, trust list and device of wallet.json. \
                      A licence's status index (key 8) is list × 1,048,576 + bit and it names its list (key 9, \
                      absent = 0); verify each case's text at `now` holding every list of `status_lists_hex`: the \
                      result must be `expect`."
            .into(),
        now,
        status_lists_hex: vec![hex::encode(s0.sign(|m| root.sign(m))?), hex::encode(s1.sign(|m| root.sign(m))?)],
        cases,
    })
}

/// Verifies every case of the shard vectors holding every list; returns the names of the cases that differ.
pub fn check_shards(v: &ShardVectors, trust_list_hex: &str, root_key: &[u8]) -> Vec<String> {
    let Some(trust) = hex::decode(trust_list_hex).ok().and_then(|b| TrustList::verify(&b, root_key).ok()) else {
        return vec!["trust_list".into()];
    };
    let mut lists = super::trust::StatusLists::default();
    for h in &v.status_lists_hex {
        match hex::decode(h).ok().and_then(|b| StatusList::verify(&b, root_key).ok()) {
            Some(s) => lists.insert(s),
            None => return vec!["status_list".into()],
        }
    }
    let mut bad = Vec::new();
    for c in &v.cases {
        let got = match Verifier::new(trust.clone(), lists.clone()).verify(&c.text, c.now, &c.policy) {
            Ok(r) if r.disclosed.iter().map(|d| d.key.clone()).collect::<Vec<_>>() == c.disclosed => "ok",
            Ok(_) => "disclosed",
            Err(e) => e.code(),
        };
        if got != c.expect {
            bad.push(c.name.clone());
        }
    }
    bad
}

/// Verifies every case of `v`; returns the names of the cases whose result differs from `expect`.
pub fn check(v: &Vectors, root_key: &[u8]) -> Vec<String> {
    let mut bad = Vec::new();
    let trust = match hex::decode(&v.trust_list_hex).ok().and_then(|b| TrustList::verify(&b, root_key).ok()) {
        Some(t) => t,
        None => return vec!["trust_list".into()],
    };
    let status = match hex::decode(&v.status_list_hex).ok().and_then(|b| StatusList::verify(&b, root_key).ok()) {
        Some(s) => s,
        None => return vec!["status_list".into()],
    };
    for c in &v.cases {
        let verifier = Verifier::new(trust.clone(), Some(status.clone()));
        let mut last = None;
        for _ in 0..c.repeat.max(1) {
            last = Some(verifier.verify(&c.text, c.now, &c.policy));
        }
        let ok = match last {
            Some(Ok(r)) => {
                c.expect == "ok" && r.disclosed.iter().map(|d| d.key.clone()).collect::<Vec<_>>() == c.disclosed
            }
            Some(Err(e)) => e.code() == c.expect,
            None => false,
        };
        if !ok {
            bad.push(c.name.clone());
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> Vectors {
        let b = std::fs::read(vectors_path()).expect("tests/vectors/wallet.json");
        serde_json::from_slice(&b).expect("vectors parse")
    }

    #[test]
    fn vectors_match() {
        let v = load();
        assert_eq!(v.now, VECTOR_NOW);
        let root = SoftwareKey::from_pkcs8_hex(&v.keys.root_pkcs8).unwrap();
        assert_eq!(root.public_key(), super::super::trust::pinned_root_key(), "root test key is the pinned one");
        assert!(v.cases.len() >= 20);
        assert_eq!(check(&v, &root.public_key()), Vec::<String>::new());
        // The licence imports for the vector device at the vector clock (all import checks).
        let device = SoftwareKey::from_pkcs8_hex(&v.keys.device_pkcs8).unwrap();
        assert_eq!(hex::encode(device.public_key()), v.keys.device_public_hex);
        let trust = TrustList::verify(&hex::decode(&v.trust_list_hex).unwrap(), &root.public_key()).unwrap();
        let status = StatusList::verify(&hex::decode(&v.status_list_hex).unwrap(), &root.public_key()).unwrap();
        let c = super::super::issue::check_import(
            &hex::decode(&v.licence_hex).unwrap(),
            &trust,
            &Some(status).into(),
            &device.public_key(),
            VECTOR_NOW,
        )
        .unwrap();
        assert_eq!(c.licence.signed.body.licence_id, v.licence_id);
        // Checking is not vacuous: another root refuses the lists.
        let other = SoftwareKey::generate().unwrap();
        assert_eq!(check(&v, &other.public_key()), ["trust_list"]);
    }

    #[test]
    fn shard_vectors_match() {
        let v = load();
        let root = SoftwareKey::from_pkcs8_hex(&v.keys.root_pkcs8).unwrap();
        let b = std::fs::read(shard_vectors_path()).expect("tests/vectors/wallet-shards.json");
        let s: ShardVectors = serde_json::from_slice(&b).expect("shard vectors parse");
        assert_eq!(s.now, VECTOR_NOW);
        assert_eq!(s.cases.len(), 6);
        assert_eq!(check_shards(&s, &v.trust_list_hex, &root.public_key()), Vec::<String>::new());
        // Not vacuous: holding only shard 0, every case of shard 1 changes its answer (never to "ok").
        let only_0 = ShardVectors { status_lists_hex: s.status_lists_hex[..1].to_vec(), ..s.clone() };
        let changed = check_shards(&only_0, &v.trust_list_hex, &root.public_key());
        assert_eq!(
            changed,
            ["shard_1_ok", "shard_1_revoked", "shard_1_bit_revoked_only_in_shard_0", "shard_1_beyond_its_list"]
        );
        let other = SoftwareKey::generate().unwrap();
        assert_eq!(check_shards(&s, &v.trust_list_hex, &other.public_key()), ["trust_list"]);
    }

    #[test]
    #[ignore]
    fn write_shard_vectors() {
        if std::env::var("ZB_WRITE_VECTORS").is_err() {
            return;
        }
        let v = generate_shards(&load().keys).unwrap();
        std::fs::write(shard_vectors_path(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    #[test]
    #[ignore]
    fn write_vectors() {
        if std::env::var("ZB_WRITE_VECTORS").is_err() {
            return;
        }
        let keys = match std::fs::read(vectors_path()) {
            Ok(b) => serde_json::from_slice::<Vectors>(&b).unwrap().keys,
            Err(_) => {
                let k = || hex::encode(SoftwareKey::generate().unwrap().pkcs8());
                let device = SoftwareKey::generate().unwrap();
                VectorKeys {
                    root_pkcs8: hex::encode(
                        hex::decode(
                            "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420040de53669f01397e4e3aaf358dd8678dce2a7e652b90f9241f876806c3ea1ffa144034200048c26823fe3b433b2d7b9132f21140396b27d66e2744824f79c8d8136f8190e4fc69c5b757a16a370a8dc6673a4675f37fcce57b7571fd766edb0a37550e268c6",
                        )
                        .unwrap(),
                    ),
                    issuer_pkcs8: k(),
                    withdrawn_issuer_pkcs8: k(),
                    rogue_pkcs8: k(),
                    device_pkcs8: hex::encode(device.pkcs8()),
                    device_private_hex: hex::encode(pkcs8_private_scalar(device.pkcs8()).unwrap()),
                    device_public_hex: hex::encode(device.public_key()),
                }
            }
        };
        let v = generate(keys).unwrap();
        std::fs::create_dir_all(vectors_path().parent().unwrap()).unwrap();
        std::fs::write(vectors_path(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}
