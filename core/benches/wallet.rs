//! Wallet benchmark (criterion): building a presentation and verifying one, each against its floor
//! measured in the same run, and the QR text length of the resident ID card with 5 elements disclosed.
//!
//! - present: `build_presentation` (select items, device signature) + `ZB1:` text (CBOR, deflate, base45) +
//!   QR encoding (EC level M), vs the floor: one raw P-256 signature + QR encoding of the same text.
//!   Goal ≤ 2×.
//! - verify: full offline `Verifier::verify` (bounded decode, trust, issuer signature, digests, device
//!   signature, window, status, replay cache), vs the floor: two raw P-256 verifications. Goal ≤ 3×, and
//!   ≥ 2,000 verifications/s on one core.
//!
//! `cargo bench -p zhangban-core --bench wallet`. After criterion's own output it prints the medians and
//! ratios (read from criterion's estimates of this run).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion};
use qrcode::{EcLevel, QrCode};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use zhangban_core::wallet::format::{device_auth_tbs, ALG_ES256};
use zhangban_core::wallet::issue::{issue_licence, with_derived, LicenceRequest};
use zhangban_core::wallet::present::build_presentation;
use zhangban_core::wallet::{
    DeviceSigner, ElementValue, LicenceType, Policy, SoftwareKey, StatusList, TrustEntry, TrustList, Verifier,
};

const NOW: i64 = 1_790_000_000;
const USCC: &str = "11110000000019001J";
const FIVE: [u32; 5] = [1, 2, 3, 4, 6];

struct Setup {
    device: SoftwareKey,
    issuer: SoftwareKey,
    licence: zhangban_core::wallet::format::IssuedLicence,
    trust: TrustList,
    status: StatusList,
}

fn setup() -> Setup {
    let issuer = SoftwareKey::generate().unwrap();
    let device = SoftwareKey::generate().unwrap();
    let mut e = BTreeMap::new();
    for (k, v) in [
        ("name", "张三"),
        ("sex", "女"),
        ("ethnicity", "汉"),
        ("birth_date", "1949-12-31"),
        ("address", "北京市朝阳区建国路88号"),
        ("id_number", "11010519491231002X"),
        ("issuing_authority", "北京市公安局朝阳分局"),
    ] {
        e.insert(k.to_string(), ElementValue::Text(v.to_string()));
    }
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: USCC.into(),
        serial: "00000042".into(),
        version: "1".into(),
        elements: with_derived(LicenceType::ResidentId, e, NOW),
        device_key: device.public_key(),
        valid_from: NOW - 86400,
        valid_until: NOW + 3650 * 86400,
        status_index: 42,
    };
    let licence = issue_licence(&req, &issuer.key_id(), &issuer).unwrap();
    let trust = TrustList {
        sequence: 1,
        issued_at: NOW - 60,
        entries: vec![TrustEntry {
            kid: issuer.key_id(),
            alg: ALG_ES256,
            public_key: issuer.public_key(),
            issuer_uscc: USCC.into(),
            name_zh: "北京市公安局".into(),
            name_en: "Beijing PSB".into(),
            types: vec![LicenceType::ResidentId.code().into()],
            valid_from: NOW - 86400,
            valid_until: NOW + 3650 * 86400,
            withdrawn: false,
        }],
    };
    let status = StatusList::new(1, NOW - 60, 16 * 1024);
    Setup { device, issuer, licence, trust, status }
}

fn qr(text: &str) -> QrCode {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).unwrap()
}

fn estimates_dir() -> PathBuf {
    if let Ok(h) = std::env::var("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// The median (ns) criterion estimated in this run for `group/id`.
fn median_ns(group: &str, id: &str) -> Option<f64> {
    let p = estimates_dir().join(group).join(id).join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let s = setup();
    let mut c = Criterion::default().configure_from_args();

    let sample = build_presentation(&s.licence, &FIVE, "custom", NOW, 60, &s.device).unwrap();
    let text = sample.to_text();
    let tbs = device_auth_tbs(&s.licence.signed.body.licence_id, &FIVE, NOW, NOW + 60, &sample.nonce, "custom");

    let mut g = c.benchmark_group("wallet_present");
    g.bench_function("build_sign_encode_qr", |b| {
        b.iter(|| {
            let p = build_presentation(&s.licence, black_box(&FIVE), "custom", NOW, 60, &s.device).unwrap();
            let t = p.to_text();
            black_box(qr(&t))
        })
    });
    g.bench_function("floor_sign_qr", |b| {
        b.iter(|| {
            let sig = s.device.sign(black_box(&tbs)).unwrap();
            black_box(sig);
            black_box(qr(black_box(&text)))
        })
    });
    g.finish();

    let policy = Policy::default();
    let issuer_pk = s.issuer.public_key();
    let device_pk = s.device.public_key();
    let issuer_tbs = s.licence.signed.sign1.tbs_data(b"");
    let issuer_sig = s.licence.signed.sign1.signature.clone();
    let mut g = c.benchmark_group("wallet_verify");
    g.bench_function("verify_offline", |b| {
        b.iter_batched(
            || Verifier::new(s.trust.clone(), Some(s.status.clone())),
            |v| black_box(v.verify(black_box(&text), NOW + 5, &policy).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("floor_two_p256_verifies", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &issuer_pk)
                .verify(black_box(&issuer_tbs), &issuer_sig)
                .unwrap();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &device_pk)
                .verify(black_box(&tbs), &sample.device_signature)
                .unwrap();
        })
    });
    g.finish();
    c.final_summary();

    println!("\n== wallet summary (medians of this run) ==");
    println!("QR text, resident ID card, 5 elements disclosed: {} characters (goal ≤ 1,000)", text.len());
    println!("QR code: version {:?}, {} modules wide, EC level M", qr(&text).version(), qr(&text).width());
    let present = median_ns("wallet_present", "build_sign_encode_qr");
    let pfloor = median_ns("wallet_present", "floor_sign_qr");
    let verify = median_ns("wallet_verify", "verify_offline");
    let vfloor = median_ns("wallet_verify", "floor_two_p256_verifies");
    if let (Some(p), Some(f)) = (present, pfloor) {
        println!("present: {:.1} µs vs floor {:.1} µs = {:.2}× (goal ≤ 2×)", p / 1e3, f / 1e3, p / f);
    }
    if let (Some(v), Some(f)) = (verify, vfloor) {
        println!(
            "verify:  {:.1} µs vs floor {:.1} µs = {:.2}× (goal ≤ 3×); {:.0} verifications/s on one core (goal ≥ 2,000)",
            v / 1e3,
            f / 1e3,
            v / f,
            1e9 / v
        );
    }
    if present.is_none() || verify.is_none() {
        println!("(criterion estimates not found under {}; see criterion's output above)", estimates_dir().display());
    }
}
