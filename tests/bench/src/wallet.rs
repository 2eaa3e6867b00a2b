//! 亮证 rows: building a presentation (sign + encode + QR) against one raw P-256 signature + QR encoding
//! of the same text; offline verification against two raw P-256 verifications. Resident ID card, five
//! elements disclosed.

use std::hint::black_box;

use qrcode::{EcLevel, QrCode};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde_json::{json, Value};
use zhangban_core::wallet::format::{device_auth_tbs, IssuedLicence, ALG_ES256};
use zhangban_core::wallet::issue::{issue_licence, with_derived, LicenceRequest};
use zhangban_core::wallet::issue::{text_elements, SAMPLE_RESIDENT};
use zhangban_core::wallet::present::build_presentation;
use zhangban_core::wallet::{
    DeviceSigner, LicenceType, Policy, SoftwareKey, StatusList, TrustEntry, TrustList, Verifier,
};

use crate::harness::{interleaved, row, Plan};

pub const USCC: &str = "11110000000019001J";
const FIVE: [u32; 5] = [1, 2, 3, 4, 6];

/// A resident ID card issued by `issuer` to `device_public_key` at `now`.
pub fn resident_id(issuer: &SoftwareKey, device_public_key: Vec<u8>, now: i64) -> IssuedLicence {
    let e = text_elements(&SAMPLE_RESIDENT);
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: USCC.into(),
        serial: "00000042".into(),
        version: "1".into(),
        elements: with_derived(LicenceType::ResidentId, e, now),
        device_key: device_public_key,
        valid_from: now - 86400,
        valid_until: now + 3650 * 86400,
        status_index: 42,
    };
    issue_licence(&req, &issuer.key_id(), issuer).expect("issue the bench licence")
}

/// A trust list naming `issuer` for resident ID cards.
pub fn trust_list(issuer: &SoftwareKey, now: i64) -> TrustList {
    TrustList {
        sequence: 1,
        issued_at: now - 60,
        entries: vec![TrustEntry {
            kid: issuer.key_id(),
            alg: ALG_ES256,
            public_key: issuer.public_key(),
            issuer_uscc: USCC.into(),
            name_zh: "北京市公安局".into(),
            name_en: "Beijing PSB".into(),
            types: vec![LicenceType::ResidentId.code().into()],
            valid_from: now - 86400,
            valid_until: now + 3650 * 86400,
            withdrawn: false,
        }],
    }
}

fn qr(text: &str) -> QrCode {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("QR encode")
}

pub fn rows(plan: Plan) -> Vec<Value> {
    let now = 1_790_000_000;
    let issuer = SoftwareKey::generate().expect("key");
    let device = SoftwareKey::generate().expect("key");
    let licence = resident_id(&issuer, device.public_key(), now);
    let trust = trust_list(&issuer, now);
    let status = StatusList::new(1, now - 60, 16 * 1024);

    let sample = build_presentation(&licence, &FIVE, "custom", now, 60, &device).expect("present");
    let text = sample.to_text();
    let tbs = device_auth_tbs(&licence.signed.body.licence_id, &FIVE, now, now + 60, &sample.nonce, "custom");
    let code = qr(&text);

    let mut present = || {
        let p = build_presentation(&licence, black_box(&FIVE), "custom", now, 60, &device).expect("present");
        black_box(qr(&p.to_text()));
    };
    let mut floor = || {
        black_box(device.sign(black_box(&tbs)).expect("sign"));
        black_box(qr(black_box(&text)));
    };
    let t = interleaved(plan, &mut [&mut present, &mut floor]);
    let ((p, pw), (f, fw)) = (t.ms(0), t.ms(1));
    let mut out = vec![row(
        "present",
        "build a 亮证 presentation (sign + encode + QR)",
        p,
        "ms",
        &[("floor: one raw P-256 signature + QR encode of the same text", f)],
        "≤ 1.2× floor",
        Some(p / f <= 1.2),
        json!({"runs": plan.runs, "clock": "thread CPU time", "wall_ms": {"ours": pw, "floor": fw}, "qr_text_chars": text.len(), "qr_version": format!("{:?}", code.version()),
               "qr_width": code.width()}),
    )];

    let policy = Policy { accepted_purposes: vec!["custom".into()], ..Policy::default() };
    let (issuer_pk, device_pk) = (issuer.public_key(), device.public_key());
    let issuer_tbs = licence.signed.sign1.tbs_data(b"");
    let issuer_sig = licence.signed.sign1.signature.clone();
    // A fresh verifier per iteration (its replay cache would refuse the same nonce twice); making one is
    // a clone of the lists, timed with it.
    let mut verify = || {
        let v = Verifier::new(trust.clone(), Some(status.clone()));
        black_box(v.verify(black_box(&text), now + 5, &policy).expect("verify"));
    };
    let mut vfloor = || {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &issuer_pk)
            .verify(black_box(&issuer_tbs), &issuer_sig)
            .expect("issuer signature");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &device_pk)
            .verify(black_box(&tbs), &sample.device_signature)
            .expect("device signature");
    };
    let t = interleaved(plan, &mut [&mut verify, &mut vfloor]);
    let ((v, vw), (f, fw)) = (t.ms(0), t.ms(1));
    let per_sec = 1e3 / v;
    out.push(row(
        "verify",
        "verify a presentation offline",
        v,
        "ms",
        &[("floor: two raw P-256 verifications", f)],
        "≤ 2× floor, ≥ 4,000/s on one core",
        Some(v / f <= 2.0 && per_sec >= 4000.0),
        json!({"runs": plan.runs, "clock": "thread CPU time", "wall_ms": {"ours": vw, "floor": fw}, "per_second_one_core": per_sec}),
    ));
    out
}
