//! Sync row: N queued applications (1,000), each with a 50 KB photo (encrypted attachment) and its outbox
//! operation, synced by the runner to the sandbox platform on loopback (same process, its own SQLite
//! file), without faults and with 30 % injected faults (503s, answers dropped after commit, connections
//! cut, timeouts). A run counts only if the platform ends with exactly N cases and the device with N
//! receipts. With faults, each injected timeout holds one of the runner's slots until the client gives up
//! (`request_timeout`): the row's detail carries that floor, `timeouts × request_timeout / concurrency`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zhangban_core::cases::{self, Submission};
use zhangban_core::notify::NoListener;
use zhangban_core::store::{FileVault, KeyVault, Store, SELF_SUBJECT};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_sandbox::faults::FaultConfig;
use zhangban_sandbox::server;

use crate::harness::{median, row};

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

/// `runs` runs per scenario, the two scenarios alternating run by run.
pub fn rows(n: usize, runs: usize) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let scenarios = [("sync_clean", 0.0, 500.0), ("sync_faults", 0.30, 150.0)];
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(), Vec::new()];
    for run in 0..runs {
        for j in 0..2 {
            let k = (run + j) % 2;
            let s = rt.block_on(one(n, scenarios[k].1))?;
            eprintln!(
                "  {} run {run}: queued {n} in {:.2} s, synced in {:.2} s = {:.0}/s; {} faults in {} requests, {} timeouts",
                scenarios[k].0,
                s.queue_secs,
                s.sync_secs,
                n as f64 / s.sync_secs,
                s.faults,
                s.requests,
                s.timeouts
            );
            samples[k].push(s);
        }
    }
    let mut out = Vec::new();
    for (k, (id, rate, goal)) in scenarios.iter().enumerate() {
        let s = &samples[k];
        let aps: Vec<f64> = s.iter().map(|s| n as f64 / s.sync_secs).collect();
        let m = median(&aps);
        let title = format!(
            "sync {n} queued applications with a 50 KB photo each, loopback sandbox, {:.0} % faults",
            rate * 100.0
        );
        out.push(row(
            id,
            &title,
            m,
            "applications/s",
            &[],
            &format!("≥ {goal:.0}/s"),
            Some(m >= *goal),
            json!({
                "runs": runs,
                "n": n,
                "per_run": aps,
                "queued_per_second": median(&s.iter().map(|s| n as f64 / s.queue_secs).collect::<Vec<_>>()),
                "requests": s.iter().map(|s| s.requests).collect::<Vec<_>>(),
                "faults": s.iter().map(|s| s.faults).collect::<Vec<_>>(),
                "timeout_floor_secs": s.iter().map(|s| s.timeout_floor_secs).collect::<Vec<_>>(),
            }),
        ));
    }
    Ok(out)
}
