//! Fault test (issue 11, ADR 0044): kill -9 while the agent's phone works for a principal and reports its
//! accesses. A child process (`zhangban-sandbox fault-writer DIR RUN access URL`) switches to the principal
//! in a loop (one `agent.access` entry each, acknowledged after it returned) and syncs every fifth switch
//! (the report goes out then); it is killed with SIGKILL at random moments — before, during or after a
//! report, between the platform's answer and the kept cursor. Afterwards one sync: the platform holds each
//! entry the phone wrote exactly once (every acknowledged one among them), and the principal's phone lists
//! them once each, in order. Seeded (override with `ZB_FAULT_SEED`).

use std::sync::Arc;
use std::time::Duration;

use zhangban_core::agent::{Action, Agent, PrincipalSide, Scope};
use zhangban_core::notify::Recorder;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::Wallet;
use zhangban_sandbox::server;

mod harness;
use harness::XorShift;

const KILLS: usize = 10;

async fn register(client: &PlatformClient, dir: &std::path::Path) -> (Arc<Store>, Wallet) {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    let store = Arc::new(Store::create(&dir.join("store"), vault, None).unwrap());
    let info = DeviceInfo {
        public_key: sync::device_key(&store).unwrap().public_key_hex(),
        platform: "android".into(),
        model: "test".into(),
        app_version: "0.1.0".into(),
    };
    client.register_device(&store, &info).await.unwrap();
    let wallet = Wallet::open(store.clone()).unwrap();
    (store, wallet)
}

#[test]
fn no_acknowledged_access_is_lost_or_relayed_twice_across_sigkill() {
    let seed = std::env::var("ZB_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xACCE55u64) | 1;
    println!("ZB_FAULT_SEED={seed}");
    let mut rng = XorShift(seed);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let running = rt.block_on(server::start("127.0.0.1:0", None, server::Config::default())).unwrap();
    let client = PlatformClient::new(&running.url).unwrap();
    let agent_dir = tempfile::tempdir().unwrap();
    let li_dir = tempfile::tempdir().unwrap();
    let (li_store, li_wallet, subject) = rt.block_on(async {
        let (a_store, a_wallet) = register(&client, agent_dir.path()).await;
        let agent = Agent::new(&a_wallet);
        sync::agent_api::register_agent(&client, &agent, "王芳", "12110105MB0000001A").await.unwrap();
        let (li_store, li_wallet) = register(&client, li_dir.path()).await;
        let sc = Scope {
            items: vec!["MZ-002".into()],
            licence_types: vec![],
            actions: Action::ALL.to_vec(),
            elements: vec![],
        };
        let g = PrincipalSide::new(&li_wallet)
            .delegate(&agent.certificate_text().unwrap(), "李秀英", "110105194001010018", sc, None, false)
            .unwrap();
        let line = agent.accept_delegation(&g.text).unwrap();
        drop((agent, a_wallet, a_store));
        (li_store, li_wallet, line.subject)
    });
    std::fs::write(agent_dir.path().join("subject"), &subject).unwrap();

    let (mut acknowledged, mut syncs) = (0usize, 0usize);
    for round in 0..KILLS {
        let then = Duration::from_micros(rng.next() % 400_000);
        let run = format!("r{round}");
        let lines = harness::run_and_kill(
            agent_dir.path(),
            &[&run, "access", &running.url],
            Some(Duration::from_secs(20)),
            then,
        );
        acknowledged += lines.iter().filter(|l| *l == "access").count();
        syncs += lines.iter().filter(|l| *l == "synced").count();
    }
    assert!(syncs > 0, "the children reached a sync before their kill ({acknowledged} accesses)");

    // One sync of the agent's phone after the last kill, then the principal's.
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&agent_dir.path().join("vault.key")).unwrap());
    let a_store = Arc::new(Store::open(&agent_dir.path().join("store"), vault).unwrap());
    let sync_once = |store: &Arc<Store>| {
        let r = SyncRunner::new(store.clone(), SyncConfig::new(&running.url), Arc::new(Recorder::default())).unwrap();
        rt.block_on(r.run_once())
    };
    let r = sync_once(&a_store);
    assert_eq!(r.failures, 0, "{r:?}");
    sync_once(&li_store);

    let written: Vec<i64> = a_store
        .audit_entries(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "agent.access" && e.subject == subject)
        .map(|e| e.seq)
        .collect();
    assert!(
        written.len() >= acknowledged,
        "every acknowledged access is in the log: {} < {acknowledged}",
        written.len()
    );
    let kept: Vec<i64> = running
        .state
        .with_db(|c| {
            let mut s = c.prepare("SELECT seq FROM agent_access ORDER BY seq")?;
            let v = s.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
            Ok(v)
        })
        .unwrap();
    assert_eq!(kept, written, "the platform holds each entry the phone wrote, once");
    let seen = PrincipalSide::new(&li_wallet).activity().unwrap();
    let accesses = seen.iter().filter(|e| e.kind == "access:follow").count();
    assert_eq!(accesses, written.len(), "her phone lists each access once");
    println!(
        "{KILLS} kills: {acknowledged} accesses acknowledged, {} written, {syncs} syncs completed; each kept and relayed once",
        written.len()
    );
    rt.block_on(running.stop());
}
