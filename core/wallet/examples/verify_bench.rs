//! Verification throughput of the wallet's offline verifier, for a before/after comparison across code versions
//! (issue 10: sharded status lists must keep verification within 10 %). The same source builds on the code
//! of before sharding (it uses only the API both have): build it on each version, then run the two binaries
//! alternately under the same load (`tests/bench_verify_shards.py` does this and prints medians and the ratio).
//!
//!     cargo run --release -p zhangban-wallet --example verify_bench -- ROUNDS ITERATIONS
//!
//! Prints one line per round: the median time of one verification (µs) over ITERATIONS, each with a fresh
//! verifier (its replay cache refuses a nonce twice), as tests/bench's `verify` row does.

use std::hint::black_box;
use std::time::Instant;

use zhangban_wallet::format::ALG_ES256;
use zhangban_wallet::issue::{issue_licence, text_elements, with_derived, LicenceRequest, SAMPLE_RESIDENT};
use zhangban_wallet::present::build_presentation;
use zhangban_wallet::{DeviceSigner, LicenceType, Policy, SoftwareKey, StatusList, TrustEntry, TrustList, Verifier};

const USCC: &str = "11110000000019001J";

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (rounds, iterations) = (args.first().copied().unwrap_or(5), args.get(1).copied().unwrap_or(2000));
    let now = 1_790_000_000;
    let issuer = SoftwareKey::generate().expect("key");
    let device = SoftwareKey::generate().expect("key");
    let req = LicenceRequest {
        licence_type: LicenceType::ResidentId,
        issuer_uscc: USCC.into(),
        serial: "00000042".into(),
        version: "1".into(),
        elements: with_derived(LicenceType::ResidentId, text_elements(&SAMPLE_RESIDENT), now),
        device_key: device.public_key(),
        valid_from: now - 86400,
        valid_until: now + 3650 * 86400,
        status_index: 42,
    };
    let licence = issue_licence(&req, &issuer.key_id(), &issuer).expect("issue");
    let trust = TrustList {
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
    };
    let status = StatusList::new(1, now - 60, 16 * 1024);
    let text = build_presentation(&licence, &[1, 2, 3, 4, 6], "custom", now, 60, &device).expect("present").to_text();
    let policy = Policy { accepted_purposes: vec!["custom".into()], ..Policy::default() };
    for _ in 0..rounds {
        let mut times: Vec<f64> = (0..iterations)
            .map(|_| {
                let t = Instant::now();
                let v = Verifier::new(trust.clone(), Some(status.clone()));
                black_box(v.verify(black_box(&text), now + 5, &policy).expect("verify"));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{:.2}", times[times.len() / 2]);
    }
}
