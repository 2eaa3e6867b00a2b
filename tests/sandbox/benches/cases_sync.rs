//! Benchmark: N queued applications (default 1,000), each with a 50 KB photo, synced to the sandbox
//! platform on loopback: applications per second, without faults and with 30 % injected faults, each
//! run three times on a fresh store and platform; medians and the ratio are printed.
//!
//! ```text
//! CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
//!     cargo bench -p zhangban-sandbox --bench cases_sync          # env ZB_BENCH_N changes N
//! ```
//! The two profile variables keep opt-level 3 but skip fat LTO and the single codegen unit of the
//! release profile (made for the shipped library), which take too long to build on a 2-core machine;
//! `docs/benchmarks.md` says which settings each published figure used.
//!
//! With faults, each injected timeout holds one of the runner's `concurrency` slots until the client
//! gives up (`request_timeout`): the run prints that floor, `timeouts × request_timeout / concurrency`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zhangban_core::cases::{self, Submission};
use zhangban_core::notify::NoListener;
use zhangban_core::store::{FileVault, KeyVault, Store, SELF_SUBJECT};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_sandbox::faults::FaultConfig;
use zhangban_sandbox::server;

struct Sample {
    queue_secs: f64,
    sync_secs: f64,
    faults: u64,
    requests: u64,
    timeouts: u64,
    /// `timeouts × request_timeout / concurrency`: time the client must spend waiting on them.
    timeout_floor_secs: f64,
}

async fn one(n: usize, fault_rate: f64) -> Result<Sample, Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let p = server::start("127.0.0.1:0", Some(&tmp.path().join("platform.db")), server::Config::default()).await?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key"))?);
    let store = Arc::new(Store::create(&tmp.path().join("store"), vault, None)?);
    let key = sync::device_key(&store)?;
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "desktop".into(),
        model: "bench".into(),
        app_version: "0".into(),
    };
    PlatformClient::new(&p.url)?.register_device(&store, &info).await?;
    let code = p
        .state
        .with_db(|c| zhangban_sandbox::catalog::latest(c))?
        .1
        .as_array()
        .and_then(|a| a.iter().find(|i| i["entry"] == "item"))
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .ok_or("empty catalog")?;

    let t = Instant::now();
    for i in 0..n {
        let photo: Vec<u8> = (0..50 * 1024).map(|b| ((b * 7919 + i * 31) % 251) as u8).collect();
        let att = store.write_attachment(SELF_SUBJECT, "photo.jpg", &mut photo.as_slice())?;
        let sub = Submission {
            item_codes: vec![code.clone()],
            title: format!("居住证申领 {i}"),
            values: json!({ "name": "张三", "i": i }),
            attachments: vec![att.id],
            deferred_materials: vec![],
            ..Default::default()
        };
        cases::submit(&store, SELF_SUBJECT, &sub)?;
    }
    let queue_secs = t.elapsed().as_secs_f64();

    p.state.faults.set(FaultConfig::mixed(fault_rate, 400));
    let mut cfg = SyncConfig::new(&p.url);
    cfg.request_timeout = Duration::from_millis(250);
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(100);
    cfg.run_budget = Duration::from_secs(600);
    cfg.attempts_per_run = 1000;
    let slot_secs = cfg.request_timeout.as_secs_f64() / cfg.concurrency.max(1) as f64;
    let runner = SyncRunner::new(store.clone(), cfg, Arc::new(NoListener))?;
    let t = Instant::now();
    loop {
        let r = runner.run_once().await;
        if r.remaining == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            return Err("did not finish in 10 minutes".into());
        }
    }
    let sync_secs = t.elapsed().as_secs_f64();
    let stats = p.state.with_db(|c| zhangban_sandbox::cases::stats(c))?;
    if stats["cases"].as_u64() != Some(n as u64) {
        return Err(format!("platform holds {stats} for {n} submissions").into());
    }
    let receipts = cases::list_all(&store)?.iter().filter(|c| c.receipt.is_some()).count();
    if receipts != n {
        return Err(format!("{receipts} receipts for {n} submissions").into());
    }
    let faults = p.state.faults.injected.load(std::sync::atomic::Ordering::Relaxed);
    let requests = p.state.faults.requests.load(std::sync::atomic::Ordering::Relaxed);
    let timeouts = p.state.faults.timeouts.load(std::sync::atomic::Ordering::Relaxed);
    p.stop().await;
    Ok(Sample { queue_secs, sync_secs, faults, requests, timeouts, timeout_floor_secs: timeouts as f64 * slot_secs })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("ZB_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rates = Vec::new();
    for (label, fault) in [("no faults", 0.0), ("30 % faults", 0.30)] {
        let mut apps = Vec::new();
        let mut queued = Vec::new();
        for run in 0..3 {
            let s = rt.block_on(one(n, fault))?;
            let aps = n as f64 / s.sync_secs;
            println!(
                "{label} run {run}: queued {n} in {:.2} s ({:.0}/s), synced in {:.2} s = {aps:.0} applications/s; {} faults in {} requests; {} timeouts: {:.2} s of waiting at least",
                s.queue_secs,
                n as f64 / s.queue_secs,
                s.sync_secs,
                s.faults,
                s.requests,
                s.timeouts,
                s.timeout_floor_secs
            );
            apps.push(aps);
            queued.push(n as f64 / s.queue_secs);
        }
        let m = median(apps);
        println!("{label}: median {m:.0} applications/s synced; median {:.0}/s queued locally", median(queued));
        rates.push(m);
    }
    println!("ratio with 30 % faults / without: {:.2}", rates[1] / rates[0]);
    Ok(())
}
