//! The store's own cost with 10,000 ordinary records (issue 10, finding 10: record format 2 and the record
//! head over every collection). Phases, each the median of `ZB_BENCH_RUNS` runs (default 5), a fresh store
//! per run:
//!
//! * `insert`: 10,000 records of 1 KB in one transaction (ms per 1,000);
//! * `autosave`: 1,000 single-record transactions updating records of the 10,000 (ms per 1,000);
//! * `paced`: 1,000 more such transactions, the store's clock (a `FixedClock`) moved on 1 s before each: an
//!   autosave a second for 1,000 s (ADR 0038: the first commit 60 s after the oldest unbound change binds —
//!   about 16 binds here; before, none);
//! * `read`: 10,000 point reads in a fixed shuffled order (ms per 1,000);
//! * `list`: one `list` of the 10,000 records (ms; ADR 0036: each row read is checked against its version);
//! * `close`: dropping the store after the writes above (ADR 0036: binds the changes to the anchor — a vault
//!   key made and one destroyed; before, nothing);
//! * `unlock`: `Store::open` of the store holding them (no PIN: the vault and the unlock checks), ms, 9 per
//!   run: wall time, and this thread's CPU time (less sensitive to other processes on a loaded machine).
//!
//! Prints one line per phase. To compare two versions, build this example in each tree and run the two
//! binaries alternately (tools/README or the ADR that quotes the figures says how).
//! `cargo run --release -p zhangban-base --features sandbox-trust --example store_bench`

use std::sync::Arc;
use std::time::Instant;

use zhangban_base::store::{FileVault, KeyVault, PinPolicy, PutOptions, Store, SELF_SUBJECT};
use zhangban_base::FixedClock;

const N: usize = 10_000;
const SIZE: usize = 1024;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("{{\"n\":{i},\"pad\":\"").into_bytes();
    b.resize(SIZE - 2, b'x');
    b.extend_from_slice(b"\"}");
    b
}

/// This thread's CPU time in ms (`CLOCK_THREAD_CPUTIME_ID`).
#[allow(unsafe_code)]
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::var("ZB_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let (mut insert, mut autosave, mut read, mut unlock) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut list, mut close, mut paced) = (Vec::new(), Vec::new(), Vec::new());
    let mut unlock_cpu = Vec::new();
    for _ in 0..runs {
        let tmp = tempfile::tempdir()?;
        let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key"))?);
        let dir = tmp.path().join("store");
        let clock = Arc::new(FixedClock::at(1_790_000_000));
        let s = Store::create_with(&dir, vault.clone(), None, &PinPolicy::default(), clock.clone())?;
        let t = Instant::now();
        s.transaction(|t| {
            for i in 0..N {
                let tag = if i % 2 == 0 { Some("open") } else { None };
                t.put("case", &format!("c{i}"), SELF_SUBJECT, &body(i), PutOptions { tag, lookup: None })?;
            }
            Ok(())
        })?;
        insert.push(t.elapsed().as_secs_f64() * 1000.0 / (N as f64 / 1000.0));
        let t = Instant::now();
        for k in 0..1000 {
            let i = (k * 7919) % N;
            s.put("case", &format!("c{i}"), SELF_SUBJECT, &body(i + 1))?;
        }
        autosave.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        for k in 0..1000 {
            clock.advance(1);
            let i = (k * 7919 + 5) % N;
            s.put("case", &format!("c{i}"), SELF_SUBJECT, &body(i + 2))?;
        }
        paced.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        for k in 0..N {
            let i = (k * 7919 + 13) % N;
            std::hint::black_box(s.get("case", &format!("c{i}"))?);
        }
        read.push(t.elapsed().as_secs_f64() * 1000.0 / (N as f64 / 1000.0));
        let t = Instant::now();
        std::hint::black_box(s.list("case", None)?);
        list.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        drop(s);
        close.push(t.elapsed().as_secs_f64() * 1000.0);
        for _ in 0..9 {
            let (t, c) = (Instant::now(), cpu_ms());
            let s = Store::open(&dir, vault.clone())?;
            unlock.push(t.elapsed().as_secs_f64() * 1000.0);
            unlock_cpu.push(cpu_ms() - c);
            drop(s);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("runs {runs}, load {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!("insert   {:8.2} ms per 1,000 (10,000 in one transaction)", median(insert));
    println!("autosave {:8.2} ms per 1,000 single-record transactions", median(autosave));
    println!("paced    {:8.2} ms per 1,000 single-record transactions, one a second (the clock's)", median(paced));
    println!("read     {:8.2} ms per 1,000 point reads", median(read));
    println!("list     {:8.2} ms (one list of the 10,000)", median(list));
    println!("close    {:8.2} ms (drop after the writes)", median(close));
    println!("unlock   {:8.2} ms (open of a store of 10,000 records; 9 per run)", median(unlock));
    println!(
        "unlock   {:8.2} ms of this thread's CPU time (the same opens: less sensitive to the load)",
        median(unlock_cpu)
    );
    Ok(())
}
