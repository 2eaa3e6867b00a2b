//! Benchmark: the 待办 home and the reminder plan of an agent's phone with 10,000 cases, 50 licences and
//! 100 principals (issue 12: each ≤ 30 ms on this machine).
//!
//! ```text
//! CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
//!     cargo bench -p zhangban-sandbox --bench remind         # env ZB_BENCH_CASES changes 10,000
//! ```
//! The licences are real: issued by the sandbox over HTTP and imported into the wallet (signature, trust and
//! status checks). The cases are written as the sync runner leaves them: 70 % completed long ago, 10 %
//! completed within the rating window, 20 % under way (accepted, in review, suspended, supplement requested,
//! half of them with a deferred material), spread over the person and 100 principals. Each figure is the
//! median of 21 calls after 3 warm-up calls; the plan is called on an unchanged store (the steady state of
//! a background task: an empty diff) and from scratch (`reset_plan`: everything handed over as add); the home
//! also after a write (the cached cases and findings are then read and reckoned again).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zhangban_core::cases::{self, CaseState, DeferredMaterial, Pause, Submission, SupplementRequest};
use zhangban_core::remind;
use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store, SubjectKind, SELF_SUBJECT};
use zhangban_core::sync::{self, DeviceInfo, PlatformClient};
use zhangban_core::wallet::{ElementValue, LicenceType, Wallet};
use zhangban_sandbox::server;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    for _ in 0..3 {
        f();
    }
    let mut samples = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        last = Some(f());
        samples.push(t.elapsed());
    }
    (median(samples), last.expect("at least one call"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n_cases: usize = std::env::var("ZB_BENCH_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let tmp = tempfile::tempdir()?;
    let p = server::start("127.0.0.1:0", None, server::Config::default()).await?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key"))?);
    let store = Arc::new(Store::create(&tmp.path().join("store"), vault, None)?);
    let client = PlatformClient::new(&p.url)?;
    let key = sync::device_key(&store)?;
    let info = DeviceInfo {
        public_key: key.public_key_hex(),
        platform: "desktop".into(),
        model: "remind-bench".into(),
        app_version: "0".into(),
    };
    client.register_device(&store, &info).await?;

    // 50 real licences.
    let setup = Instant::now();
    let wallet = Wallet::open(store.clone())?;
    client.refresh_wallet_lists(&wallet).await?;
    let resident: std::collections::BTreeMap<String, ElementValue> =
        serde_json::from_str(zhangban_sandbox::issuer::SAMPLE_RESIDENT_JSON)?;
    zhangban_sandbox::issuer::enrol_device_of(&p.state, &store, LicenceType::ResidentId, &resident)?;
    for _ in 0..50 {
        client.request_licence(&wallet, LicenceType::ResidentId, None).await?;
    }

    // 100 principals and 10,000 cases.
    let mut subjects = vec![SELF_SUBJECT.to_string()];
    for i in 0..100 {
        subjects.push(store.create_subject(SubjectKind::Principal, &format!("委托人{i:03}"))?);
    }
    let template = cases::submit(
        &store,
        SELF_SUBJECT,
        &Submission {
            item_codes: vec!["GA-002".into()],
            title: "模板".into(),
            values: json!({}),
            ..Default::default()
        },
    )?;
    let today = store.today();
    // Cases completed long ago were last written long ago: written through the same store files with the
    // clock 200 days back.
    let past = Arc::new(Store::open_with(
        store.dir(),
        Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key"))?),
        Arc::new(zhangban_core::FixedClock::at(store.now() - 200 * 86_400)),
    )?);
    let states = [CaseState::Accepted, CaseState::InReview, CaseState::Suspended, CaseState::SupplementRequested];
    for chunk in (0..n_cases).collect::<Vec<_>>().chunks(500) {
        let write = |old: bool| -> zhangban_core::Result<()> {
            let s = if old { &past } else { &store };
            s.transaction(|t| {
                for &i in chunk {
                    let mut c = template.clone();
                    c.id = format!("bench-{i:05}");
                    c.subject = subjects[i % subjects.len()].clone();
                    c.title = format!("办件 {i}");
                    c.timeline.truncate(1);
                    let kind = i % 10;
                    if (kind < 7) != old {
                        continue;
                    }
                    let accepted = today - chrono::Duration::days((i % 60) as i64 + 1);
                    c.accepted_on = Some(accepted);
                    c.promised_days = Some(20);
                    c.receipt = Some(format!("R{i:08}"));
                    if kind < 7 {
                        c.state = CaseState::Completed;
                        c.completed_on = Some(today - chrono::Duration::days(200 + (i % 300) as i64));
                    } else if kind == 7 {
                        c.state = CaseState::Completed;
                        c.completed_on = Some(today - chrono::Duration::days((i % 10) as i64));
                    } else {
                        c.state = states[i % states.len()];
                        if c.state == CaseState::Suspended {
                            c.pauses.push(Pause { from: accepted, to: None });
                        }
                        if c.state == CaseState::SupplementRequested {
                            c.supplement = Some(SupplementRequest {
                                request_id: format!("r{i}"),
                                items: vec!["身份证复印件".into()],
                                note: String::new(),
                                due: today + chrono::Duration::days((i % 15) as i64),
                                supplied: false,
                            });
                        }
                        if i % 2 == 0 {
                            c.deferred.push(DeferredMaterial {
                                material: "职工档案".into(),
                                due: Some(today + chrono::Duration::days((i % 25) as i64)),
                                supplied: false,
                            });
                        }
                    }
                    t.put_json(
                        cases::COLLECTION,
                        &c.id,
                        &c.subject,
                        &c,
                        PutOptions { tag: Some(c.state.as_str()), lookup: None },
                    )?;
                }
                Ok(())
            })
        };
        write(true)?;
        write(false)?;
    }
    drop(past);
    println!(
        "setup: {} cases, 50 licences, {} principals in {:.1} s",
        n_cases,
        subjects.len() - 1,
        setup.elapsed().as_secs_f64()
    );

    let first_t = Instant::now();
    remind::home(&store)?;
    let first_home = first_t.elapsed();
    let (home_t, home) = time(21, || remind::home(&store).expect("home"));
    let first = remind::plan(&store)?;
    let (plan_t, plan) = time(21, || remind::plan(&store).expect("plan"));
    // After a write: a setting (nothing the reminders read), and a case (what a sync's event does: that
    // one case is decrypted, parsed and reckoned again; the rest comes from the kept state).
    let mut n = 0;
    let (cold_home_t, _) = time(21, || {
        n += 1;
        store.set_setting("bench.touch", &n.to_string()).expect("write");
        remind::home(&store).expect("home")
    });
    let open_case = "bench-00008".to_string();
    let (case_home_t, _) = time(21, || {
        n += 1;
        store
            .transaction(|t| {
                cases::update_in(t, &open_case, |c| {
                    c.title = format!("办件 8 ({n})");
                    Ok(())
                })
            })
            .expect("case write");
        remind::home(&store).expect("home")
    });
    let (case_plan_t, _) = time(21, || {
        n += 1;
        store
            .transaction(|t| {
                cases::update_in(t, &open_case, |c| {
                    c.title = format!("办件 8 ({n})");
                    Ok(())
                })
            })
            .expect("case write");
        remind::plan(&store).expect("plan")
    });
    let (fresh_t, fresh) = time(21, || {
        remind::reset_plan(&store).expect("reset");
        remind::plan(&store).expect("plan")
    });
    println!(
        "home: {:.1} ms (median of 21; {:.1} ms after a setting write, {:.1} ms after a case write; the first call {:.1} ms) — {} of {} needs, {} principals with needs, {} of {} active cases, {} licences expiring",
        home_t.as_secs_f64() * 1e3,
        cold_home_t.as_secs_f64() * 1e3,
        case_home_t.as_secs_f64() * 1e3,
        first_home.as_secs_f64() * 1e3,
        home.needs.len(),
        home.needs_total,
        home.principals.len(),
        home.cases.len(),
        home.cases_total,
        home.licences.len()
    );
    println!("plan after a case write: {:.1} ms", case_plan_t.as_secs_f64() * 1e3);
    println!(
        "plan: {:.1} ms steady (empty diff: +{} ~{} -{}), {:.1} ms from scratch (+{}); first plan +{}; pending {} (≤ 60), left for later {}",
        plan_t.as_secs_f64() * 1e3,
        plan.add.len(),
        plan.replace.len(),
        plan.cancel.len(),
        fresh_t.as_secs_f64() * 1e3,
        fresh.add.len(),
        first.add.len(),
        plan.pending.len(),
        plan.left_for_later
    );
    // ZB_BENCH_KEEP=DIR: leave the store (and its vault key) in DIR for the FFI measurement
    // (tools/bench_remind_ffi.py opens it through the generated Python bindings).
    if let Ok(keep) = std::env::var("ZB_BENCH_KEEP") {
        drop(store);
        let keep = std::path::PathBuf::from(keep);
        std::fs::create_dir_all(&keep)?;
        std::fs::rename(tmp.path().join("store"), keep.join("store"))?;
        std::fs::copy(tmp.path().join("vault.key"), keep.join("vault.key"))?;
        // The vault's alias keys (the subject key ring, ADR 0017) live beside its key file.
        let aliases = keep.join("vault.key.aliases");
        std::fs::create_dir_all(&aliases)?;
        for e in std::fs::read_dir(tmp.path().join("vault.key.aliases"))? {
            let e = e?;
            std::fs::copy(e.path(), aliases.join(e.file_name()))?;
        }
        println!("store kept in {}", keep.display());
    }
    p.stop().await;
    Ok(())
}
