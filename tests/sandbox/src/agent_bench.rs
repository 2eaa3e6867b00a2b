//! The agent-mode bench's store (issue 11), for measuring through the FFI: `zhangban-sandbox
//! agent-bench-store DIR` (hidden) writes `DIR/vault.key` and `DIR/store`, an agent's phone holding a
//! certificate signed by the root the library pins (the sandbox root in a test build, tests/bench.sh's bench root in its release build) for the store's
//! own device key, `--principals N` principals (each a delegation signed by its own key, each a subject with
//! its own key) and `--cases M` cases each in six states; prints the principals' subjects as JSON. Then
//! `tests/python/bench_agent.py` opens that store through the generated bindings and times
//! `ZhangbanAgent.principals()` (the home) and `switch_principal()` (docs/benchmarks.md).

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use zhangban_core::agent::{Action, Agent, AgentCertificate, Delegation, PrincipalSide, Scope};
use zhangban_core::cases::{self, CaseState, Proxy, Submission};
use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store};
use zhangban_core::wallet::{DeviceSigner, SoftwareKey, Wallet};

fn open(dir: &Path) -> Result<Arc<Store>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let vault: Arc<dyn KeyVault> =
        Arc::new(FileVault::open_or_create(&dir.join("vault.key")).map_err(|e| e.message_en())?);
    Ok(Arc::new(Store::create(&dir.join("store"), vault, None).map_err(|e| e.message_en())?))
}

/// Builds the bench store in `dir`; returns the principals' subjects.
pub fn bench_store(dir: &Path, principals: usize, cases_each: usize) -> Result<Vec<String>, String> {
    let e = |e: zhangban_core::Error| e.message_en();
    let store = open(dir)?;
    let w = Wallet::open(store.clone()).map_err(e)?;
    let agent = Agent::new(&w);
    let root = crate::issuer::bench_root_key().map_err(|e| format!("{e:?}"))?;
    let now = store.now();
    let cert = AgentCertificate {
        cert_id: "bench".into(),
        agent_id: "agent-bench".into(),
        name: "王帮办".into(),
        org_code: "12110105MB0000002B".into(),
        org_name: "幸福村便民服务站".into(),
        device_key: w.device_public_key(),
        valid_from: now - 60,
        valid_until: now + 365 * 86_400,
    };
    agent.install_certificate(&cert.sign(|m| root.sign(m)).map_err(e)?).map_err(e)?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let side = PrincipalSide::new(&Wallet::open(open(tmp.path())?).map_err(e)?);
    let cert_text = agent.certificate_text().map_err(e)?;
    let states = [
        CaseState::Queued,
        CaseState::Submitted,
        CaseState::Accepted,
        CaseState::InReview,
        CaseState::SupplementRequested,
        CaseState::Completed,
    ];
    let mut subjects = Vec::new();
    for p in 0..principals {
        let scope = Scope {
            items: vec!["MZ-002".into()],
            licence_types: vec![],
            actions: Action::ALL.to_vec(),
            elements: vec![],
        };
        let g = side
            .delegate(&cert_text, &format!("委托人{p:03}"), "110105193805200031", scope, Some(365), false)
            .map_err(e)?;
        // Re-signed with a key of its own, so each is its own principal on the agent's phone.
        let signer = SoftwareKey::generate().map_err(e)?;
        let mut d = Delegation::verify(&Delegation::from_text(&g.text).map_err(e)?).map_err(e)?;
        d.principal_key = signer.public_key();
        let line = agent.accept_delegation(&Delegation::to_text(&d.sign(|m| signer.sign(m)).map_err(e)?)).map_err(e)?;
        // One real proxied case, then copies of it in mixed states (one transaction).
        let proxy = Proxy { agent_id: "agent-bench".into(), body: json!({}) };
        let sub = Submission {
            item_codes: vec!["MZ-002".into()],
            title: "高龄津贴申领".into(),
            values: json!({ "applicant.name": format!("委托人{p:03}"), "allowance.account": "6217000010001234567" }),
            ..Default::default()
        };
        let first = cases::submit_as(&store, &line.subject, &sub, Some(&proxy)).map_err(e)?;
        let mut body = serde_json::to_value(&first).map_err(|e| e.to_string())?;
        store
            .transaction(|t| {
                for i in 1..cases_each {
                    let st = states[(p + i) % states.len()];
                    let id = format!("{}-{i}", first.id);
                    body["id"] = json!(id);
                    body["state"] = json!(st);
                    t.put_json(
                        cases::COLLECTION,
                        &id,
                        &line.subject,
                        &body,
                        PutOptions { tag: Some(st.as_str()), lookup: None },
                    )?;
                }
                Ok(())
            })
            .map_err(e)?;
        subjects.push(line.subject);
    }
    Ok(subjects)
}
