//! The fuzz targets on stable, deterministically: every seed, then `ZB_FUZZ_MUTATIONS` (default 400)
//! mutations of each seed from a fixed xorshift state, plus the crash inputs kept in tests/fuzz/regressions.
//! A panic fails the test and prints the input (hex) to add to the regressions.

use zhangban_fuzz_harness::{mutate, seeds, TARGETS};

fn run(name: &str, f: fn(&[u8]), input: &[u8]) {
    let r = std::panic::catch_unwind(|| f(input));
    assert!(r.is_ok(), "target {name} panicked on input {}", hex::encode(input));
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let rounds: usize = std::env::var("ZB_FUZZ_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let regressions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    for (name, f) in TARGETS {
        let seeds = seeds::seeds(name);
        assert!(!seeds.is_empty(), "{name} has seeds");
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ name.len() as u64;
        let mut n = 0usize;
        for s in &seeds {
            run(name, *f, s);
            for _ in 0..rounds {
                run(name, *f, &mutate(s, &mut state, 8192));
                n += 1;
            }
        }
        if let Ok(dir) = std::fs::read_dir(regressions.join(name)) {
            for e in dir.flatten() {
                run(name, *f, &std::fs::read(e.path()).unwrap_or_default());
                n += 1;
            }
        }
        println!("{name}: {} seeds, {n} mutated inputs", seeds.len());
    }
}

#[test]
fn the_seeds_reach_the_deep_checks() {
    // Not vacuous: the vector presentations verify (or fail for their listed reason), so mutations start from
    // inputs that pass the decoders.
    let v = seeds::vectors();
    assert!(v["cases"].as_array().is_some_and(|c| c.len() >= 20));
    let p = seeds::seeds("presentation");
    let decodable = p
        .iter()
        .filter(|t| {
            zhangban_core::wallet::format::Presentation::from_text(std::str::from_utf8(t).unwrap_or("")).is_ok()
        })
        .count();
    assert!(decodable >= 15, "only {decodable} seeds decode");
}
