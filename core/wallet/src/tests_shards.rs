//! Sharded status lists (issue 10, finding 15 the rest; ADR 0039): a licence names its list, each list is
//! signed with its id, the wallet keeps one list per id with its own sequence, and every reader (verifier,
//! grant verifier, the holder's summary) looks up the licence's own list.

use std::sync::Arc;

use super::format::*;
use super::grant::{self, GrantExpiry};
use super::tests::{wallet_in, Fixture, NOW};
use super::trust::{MAX_STATUS_BITS, MAX_STATUS_LISTS};
use super::*;

fn policy() -> Policy {
    Policy { accepted_purposes: vec!["hotel-check-in".into(), "p".into()], ..Policy::default() }
}

/// A licence of shard `list` with bit `bit` there.
fn licence_in(f: &Fixture, list: u32, bit: u64, serial: &str) -> IssuedLicence {
    let mut req = f.request();
    req.serial = serial.into();
    req.status_index = u64::from(list) * MAX_STATUS_BITS + bit;
    f.issue(&req)
}

fn signed(f: &Fixture, sl: &StatusList) -> Vec<u8> {
    sl.sign(|m| f.root.sign(m)).unwrap()
}

#[test]
fn list_0_reads_and_writes_exactly_as_before_sharding() {
    let f = Fixture::new();
    // A licence and a list of shard 0 carry no key 9 / key 6: the bytes of before.
    let l = f.issue(&f.request());
    let Ok(ciborium::value::Value::Map(m)) =
        ciborium::from_reader::<ciborium::value::Value, _>(l.signed.sign1.payload.as_deref().unwrap())
    else {
        panic!("payload is a map")
    };
    assert_eq!(m.len(), 8, "no status list key for list 0");
    assert_eq!(l.signed.body.status_slot(), (0, 42));
    let b = signed(&f, &f.status);
    assert_eq!(StatusList::verify(&b, &f.root.public_key()).unwrap().list_id, 0);
    // A licence of shard 3 names it, and decodes back to the same slot.
    let l3 = licence_in(&f, 3, 7, "00000043");
    let back = IssuedLicence::decode(&l3.encode()).unwrap();
    assert_eq!((back.signed.body.status_list, back.signed.body.status_slot()), (3, (3, 7)));
}

#[test]
fn attack_parsers_are_bounded_list_ids_and_indices_must_agree() {
    let f = Fixture::new();
    // A list id at or past MAX_STATUS_LISTS is refused when signed into a list.
    let big = StatusList::shard(MAX_STATUS_LISTS, 1, NOW, 8);
    let e = StatusList::verify(&signed(&f, &big), &f.root.public_key()).unwrap_err();
    assert_eq!(e.code(), "malformed");
    // An issuer cannot name a list past the last one.
    let mut req = f.request();
    req.status_index = u64::from(MAX_STATUS_LISTS) * MAX_STATUS_BITS;
    assert!(issue::issue_licence(&req, &f.issuer.key_id(), &f.issuer).is_err());
    // A licence whose key 9 and key 8 disagree (list 2, index of list 0) is refused at decoding.
    let l = f.issue(&f.request());
    let mut body = l.signed.body.clone();
    body.status_list = 2;
    let sign1 = sign1_create(&f.issuer.key_id(), encode_cbor(&body.to_value()), |m| f.issuer.sign(m)).unwrap();
    let forged = IssuedLicence { signed: Signed { sign1, kid: f.issuer.key_id(), body }, items: l.items.clone() };
    let e = IssuedLicence::decode(&forged.encode()).unwrap_err();
    assert_eq!(e.code(), "malformed", "{e:?}");
    // Key 9 = 0 written out (absent means 0): a second encoding of a list-0 licence, refused.
    let ciborium::value::Value::Map(mut fields) = l.signed.body.to_value() else { panic!("a map") };
    fields.push((uint(9), uint(0)));
    let sign1 =
        sign1_create(&f.issuer.key_id(), encode_cbor(&ciborium::value::Value::Map(fields)), |m| f.issuer.sign(m))
            .unwrap();
    let two =
        IssuedLicence { signed: Signed { sign1, kid: f.issuer.key_id(), body: l.signed.body.clone() }, items: l.items };
    assert_eq!(IssuedLicence::decode(&two.encode()).unwrap_err().code(), "malformed");
    // The same for a status list with key 6 = 0.
    let ciborium::value::Value::Map(mut fields) = decode_cbor(&sign1_payload_bytes(&f, &f.status)).unwrap() else {
        panic!("a map")
    };
    fields.push((uint(6), uint(0)));
    let s = sign1_create(super::trust::ROOT_KID, encode_cbor(&ciborium::value::Value::Map(fields)), |m| f.root.sign(m))
        .unwrap();
    let e = StatusList::verify(&encode_cbor(&sign1_value(&s)), &f.root.public_key()).unwrap_err();
    assert_eq!(e.code(), "malformed");
}

/// The payload bytes of `sl` as signed.
fn sign1_payload_bytes(f: &Fixture, sl: &StatusList) -> Vec<u8> {
    let (s, _) = sign1_parse(decode_cbor(&signed(f, sl)).unwrap()).unwrap();
    s.payload.unwrap()
}

/// (b) A status list signed for shard 0 is never taken for shard 1; an older sequence of shard 1 is refused while
/// shard 0 is unaffected.
#[test]
fn attack_a_list_signed_for_shard_0_is_not_taken_for_shard_1_and_each_shard_has_its_own_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    // Shard 0's list (sequence 1, nothing revoked) offered as shard 1: refused, nothing kept.
    let s0 = signed(&f, &f.status);
    let e = w.update_status_shard(1, &s0, NOW).unwrap_err();
    assert!(e.to_string().contains("status_list_mismatch"), "{e}");
    assert!(w.status_list_of(1).unwrap().is_none());
    // Re-labelling shard 0's signed bytes as shard 1 (adding key 6) breaks the root's signature.
    let mut relabelled = f.status.clone();
    relabelled.list_id = 1;
    let forged = {
        let good = signed(&f, &relabelled);
        let (mut s, _) = sign1_parse(decode_cbor(&good).unwrap()).unwrap();
        s.signature = sign1_parse(decode_cbor(&s0).unwrap()).unwrap().0.signature;
        encode_cbor(&sign1_value(&s))
    };
    let e = w.update_status_list(&forged, NOW).unwrap_err();
    assert!(e.to_string().contains("bad_list_signature"), "{e}");

    // Shard 1 at sequence 5 (bit 7 revoked); then its sequence 4 (nothing revoked) is a rollback.
    let mut s1 = StatusList::shard(1, 5, NOW - 60, 1024);
    s1.set_revoked(7);
    w.update_status_shard(1, &signed(&f, &s1), NOW).unwrap();
    let older = StatusList::shard(1, 4, NOW - 30, 1024);
    let e = w.update_status_list(&signed(&f, &older), NOW).unwrap_err();
    assert!(e.to_string().contains("list_rollback"), "{e}");
    assert_eq!(w.status_list_of(1).unwrap().unwrap().sequence, 5);
    // Shard 0 is unaffected by shard 1's sequence: its own sequence 2 (below 5) is taken.
    let s0b = StatusList { sequence: 2, ..f.status.clone() };
    w.update_status_list(&signed(&f, &s0b), NOW).unwrap();
    assert_eq!(w.status_list().unwrap().unwrap().sequence, 2);
    assert_eq!(w.status_lists().unwrap().len(), 2);

    // A licence of shard 1, bit 7, is revoked for the verifier; one of shard 0, bit 7, is not.
    let l1 = licence_in(&f, 1, 7, "00000044");
    let l0 = licence_in(&f, 0, 7, "00000045");
    let v = w.verifier().unwrap();
    assert_eq!(v.verify(&f.present(&l1, &[1], NOW), NOW + 1, &policy()).unwrap_err().code(), "revoked");
    assert!(v.verify(&f.present(&l0, &[1], NOW), NOW + 1, &policy()).is_ok());
}

/// (c) A licence of shard 1 checked by a phone holding only shard 0 is "status unknown", never valid: the
/// verifier, the grant verifier, the holder's own summary and the reminders' status age.
#[test]
fn attack_a_licence_of_a_shard_the_phone_does_not_hold_is_status_unknown_never_valid() {
    let f = Fixture::new();
    let l1 = licence_in(&f, 1, 42, "00000046");
    // Shard 0 revokes nothing and covers bit 42: the old single-list lookup would say "not revoked".
    assert_eq!(f.status.is_revoked(42), Some(false));
    let v = Verifier::new(f.trust.clone(), Some(f.status.clone()));
    assert_eq!(v.verify(&f.present(&l1, &[1], NOW), NOW + 1, &policy()).unwrap_err().code(), "status_unknown");
    // A phone of before sharding reads key 8 as an index into list 0: beyond it, so never "valid" either.
    assert!(l1.signed.body.status_index >= MAX_STATUS_BITS);

    let recipient = SoftwareKey::generate().unwrap();
    let g =
        grant::build_grant(&l1, &[1], "r", &recipient.public_key(), "p", GrantExpiry::Default, NOW, &f.device).unwrap();
    let gv = GrantVerifier::new(&recipient.public_key(), f.trust.clone(), Some(f.status.clone()));
    assert_eq!(gv.verify(&g.to_text(), NOW + 1, &policy()).unwrap_err().code(), "status_unknown");

    // The holder: a wallet with only shard 0 shows the shard-1 licence as "status not refreshed", and its
    // status age is unknown until its own shard is held.
    let dir = tempfile::tempdir().unwrap();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    let s = w.import(&l1.encode(), NOW).unwrap();
    assert_eq!(s.status, LicenceStatus::StatusStale);
    assert_eq!(w.needed_status_lists().unwrap().into_iter().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(w.cache_info(NOW).unwrap().status_age_secs, None);
    // Once shard 1 is held: valid; revoked when its bit is set.
    let mut s1 = StatusList::shard(1, 1, NOW - 100, 64);
    w.update_status_list(&signed(&f, &s1), NOW).unwrap();
    assert_eq!(w.licences(NOW).unwrap()[0].status, LicenceStatus::Valid);
    assert_eq!(w.cache_info(NOW).unwrap().status_age_secs, Some(100), "its licence's list, not list 0");
    let held = w.licences(NOW).unwrap();
    assert_eq!(w.cache_info_for(&held, NOW).unwrap(), w.cache_info(NOW).unwrap());
    assert_eq!(status_age_of(vec![], Some(600)), Some(600), "no licence: list 0's age");
    assert_eq!(status_age_of(vec![Some(5), Some(100)], Some(600)), Some(100), "the oldest of their lists");
    assert_eq!(status_age_of(vec![Some(5), None], Some(600)), None, "one list not held: unknown");
    s1.sequence = 2;
    s1.set_revoked(42);
    w.update_status_list(&signed(&f, &s1), NOW).unwrap();
    assert_eq!(w.licences(NOW).unwrap()[0].status, LicenceStatus::Revoked);
    assert_eq!(w.licence(&s.licence_id, NOW).unwrap().summary.status, LicenceStatus::Revoked);
    // Shard 1 is too small for bit 42 on a fresh phone: still unknown, not valid.
    let dir2 = tempfile::tempdir().unwrap();
    let w2 = wallet_in(dir2.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    w2.update_status_list(&signed(&f, &StatusList::shard(1, 1, NOW - 100, 8)), NOW).unwrap();
    assert_eq!(w2.import(&l1.encode(), NOW).unwrap().status, LicenceStatus::StatusStale);
}

/// An import of a licence whose own shard marks it revoked is refused; another shard's bit does not matter.
#[test]
fn import_checks_the_licence_s_own_shard() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let w = wallet_in(dir.path(), &f, Arc::new(SoftwareKey::from_pkcs8(f.device.pkcs8()).unwrap()));
    let mut s0 = StatusList { sequence: 2, ..f.status.clone() };
    s0.set_revoked(9);
    w.update_status_list(&signed(&f, &s0), NOW).unwrap();
    let mut s2 = StatusList::shard(2, 1, NOW - 60, 64);
    s2.set_revoked(3);
    w.update_status_list(&signed(&f, &s2), NOW).unwrap();
    assert!(w.import(&licence_in(&f, 2, 9, "00000047").encode(), NOW).is_ok(), "bit 9 of shard 0 is not its bit");
    let e = w.import(&licence_in(&f, 2, 3, "00000048").encode(), NOW).unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
}
