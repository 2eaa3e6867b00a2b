//! Agent-mode bench (issue 11): an agent with 100 principals and 10,000 cases on one encrypted store.
//! Measures the home screen (`Agent::principals`: every principal with what each needs now) and switching
//! to a principal (`Agent::switch_to`: their line, cases and drafts, audited), each ≤ 30 ms on this machine.
//! A bench binary (not criterion): prints medians and p95 of 50 runs.
//!
//! `CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 cargo bench -p zhangban-agent --bench home`

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use zhangban_agent::{Action, Agent, AgentCertificate, PrincipalSide, Scope};
use zhangban_base::store::{FileVault, KeyVault, PutOptions, Store};
use zhangban_base::{Clock, FixedClock};
use zhangban_cases::{CaseState, Proxy, Submission};
use zhangban_wallet::{DeviceSigner, SoftwareKey, Wallet};

const PRINCIPALS: usize = 100;
const CASES_EACH: usize = 100;
const RUNS: usize = 50;
const NOW: i64 = 1_795_000_000;

fn wallet(dir: &std::path::Path, root: &SoftwareKey, clock: Arc<dyn Clock>) -> Wallet {
    std::fs::create_dir_all(dir).unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    let store = Arc::new(Store::open_or_create_with(dir, vault, None, clock).unwrap());
    Wallet::with_signer(store, Arc::new(SoftwareKey::generate().unwrap())).with_root_key(root.public_key())
}

fn stats(name: &str, mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let med = v[v.len() / 2];
    let p95 = v[(v.len() * 95 / 100).min(v.len() - 1)];
    println!("{name:28} median {med:7.2} ms   p95 {p95:7.2} ms   (n = {})", v.len());
    med
}

fn main() {
    let root = SoftwareKey::generate().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(NOW));
    let tmp = tempfile::tempdir().unwrap();
    let w = wallet(&tmp.path().join("agent"), &root, clock.clone());
    let store = w.store().clone();
    let agent = Agent::new(&w);
    let cert = AgentCertificate {
        cert_id: "bench".into(),
        agent_id: "agent-bench".into(),
        name: "王帮办".into(),
        org_code: "12110105MB0000002B".into(),
        org_name: "幸福村便民服务站".into(),
        device_key: w.device_public_key(),
        valid_from: NOW - 60,
        valid_until: NOW + 365 * 86_400,
    };
    agent.install_certificate(&cert.sign(|m| root.sign(m)).unwrap()).unwrap();
    let principal_phone = wallet(&tmp.path().join("principal"), &root, clock.clone());
    let side = PrincipalSide::new(&principal_phone);
    let cert_text = agent.certificate_text().unwrap();
    let states = [
        CaseState::Queued,
        CaseState::Submitted,
        CaseState::Accepted,
        CaseState::InReview,
        CaseState::SupplementRequested,
        CaseState::Completed,
    ];
    let t0 = Instant::now();
    let mut subjects = Vec::new();
    for p in 0..PRINCIPALS {
        // Each principal delegates from their own phone key (the same phone here, so a fresh key per one).
        let signer = SoftwareKey::generate().unwrap();
        let g = side
            .delegate(
                &cert_text,
                &format!("委托人{p:03}"),
                "110105193805200031",
                Scope {
                    items: vec!["MZ-002".into()],
                    licence_types: vec![],
                    actions: Action::ALL.to_vec(),
                    elements: vec![],
                },
                Some(365),
                false,
            )
            .unwrap();
        // Re-sign with a distinct principal key so each is its own principal on the agent's phone.
        let mut d =
            zhangban_agent::Delegation::verify(&zhangban_agent::Delegation::from_text(&g.text).unwrap()).unwrap();
        d.principal_key = signer.public_key();
        let text = zhangban_agent::Delegation::to_text(&d.sign(|m| signer.sign(m)).unwrap());
        let line = agent.accept_delegation(&text).unwrap();
        // One real proxied case, then CASES_EACH - 1 copies of it in mixed states (one transaction).
        let proxy = Proxy { agent_id: "agent-bench".into(), body: json!({}) };
        let sub = Submission {
            item_codes: vec!["MZ-002".into()],
            title: "高龄津贴申领".into(),
            values: json!({ "applicant.name": format!("委托人{p:03}"), "allowance.account": "6217000010001234567" }),
            ..Default::default()
        };
        let first = zhangban_cases::submit_as(&store, &line.subject, &sub, Some(&proxy)).unwrap();
        let mut body = serde_json::to_value(&first).unwrap();
        store
            .transaction(|t| {
                for i in 1..CASES_EACH {
                    let st = states[(p + i) % states.len()];
                    body["id"] = json!(format!("{}-{i}", first.id));
                    body["state"] = json!(st);
                    t.put_json(
                        zhangban_cases::COLLECTION,
                        &format!("{}-{i}", first.id),
                        &line.subject,
                        &body,
                        PutOptions { tag: Some(st.as_str()), lookup: None },
                    )?;
                }
                Ok(())
            })
            .unwrap();
        subjects.push(line.subject);
    }
    println!(
        "setup: {PRINCIPALS} principals, {} cases in {:.1} s",
        zhangban_cases::list_all(&store).unwrap().len(),
        t0.elapsed().as_secs_f64()
    );

    let mut home = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let lines = agent.principals().unwrap();
        home.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(lines.len(), PRINCIPALS);
    }
    let mut switch = Vec::new();
    for r in 0..RUNS {
        let s = &subjects[(r * 37) % PRINCIPALS];
        let t = Instant::now();
        let (_, cases, _) = agent.switch_to(s).unwrap();
        switch.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(cases.len(), CASES_EACH);
    }
    // Where the time of a switch goes.
    let mut parts: [Vec<f64>; 3] = Default::default();
    for r in 0..RUNS {
        let s = &subjects[(r * 37) % PRINCIPALS];
        let t = Instant::now();
        zhangban_cases::list(&store, s).unwrap();
        parts[0].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        zhangban_forms::session::list(&store, s).unwrap();
        parts[1].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        zhangban_agent::access::audit(&store, "agent-bench", s, Action::Follow, &[], None).unwrap();
        parts[2].push(t.elapsed().as_secs_f64() * 1e3);
    }
    let [a, b, c] = parts;
    stats("  of which cases::list", a);
    stats("  of which drafts list", b);
    stats("  of which audit entry", c);
    let h = stats("home (100 principals)", home);
    let s = stats("switch principal (100 cases)", switch);
    println!(
        "budget 30 ms: home {}, switch {}",
        if h <= 30.0 { "met" } else { "MISSED" },
        if s <= 30.0 { "met" } else { "MISSED" }
    );
}
