//! The child process of the kill -9 fault test (`tests/sandbox/tests/faults.rs`): writes to a store in a
//! loop and acknowledges each committed write on stdout, so the test can check that every acknowledged
//! write survives a SIGKILL at any moment.
//!
//! Protocol (one line each, flushed after the commit returned):
//! * `ack <key>`: records `fault/<key>-a` and `fault/<key>-b` were committed in one transaction, with
//!   bodies [`payload`]`("<key>-a")` / `("<key>-b")`.
//! * `att <attachment id> <key>`: an attachment whose plaintext is [`payload`]`("<key>")` was written.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use zhangban_core::store::{FileVault, PutOptions, Store, SELF_SUBJECT};

pub const COLLECTION: &str = "fault";

/// The deterministic ~1 KB body of a record or attachment named `key`.
pub fn payload(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1100);
    while out.len() < 1000 {
        out.extend_from_slice(key.as_bytes());
        out.push(b'|');
    }
    out
}

/// Opens (or creates) the store in `dir` (vault key `dir/vault.key`, data in `dir/store`) and writes
/// until killed. `run` makes this run's keys distinct from earlier runs'.
pub fn run(dir: &Path, run: &str) -> zhangban_core::Result<()> {
    let vault = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store = Store::open_or_create(&dir.join("store"), vault, None)?;
    let mut out = std::io::stdout().lock();
    for i in 0..1_000_000u64 {
        let key = format!("{run}-{i}");
        if i % 8 == 7 {
            let info = store.write_attachment(SELF_SUBJECT, "material.bin", &mut payload(&key).as_slice())?;
            writeln!(out, "att {} {key}", info.id)?;
        } else {
            store.transaction(|t| {
                for side in ["a", "b"] {
                    let id = format!("{key}-{side}");
                    t.put(COLLECTION, &id, SELF_SUBJECT, &payload(&id), PutOptions { tag: Some(run), lookup: None })?;
                }
                Ok(())
            })?;
            writeln!(out, "ack {key}")?;
        }
        out.flush()?;
    }
    Ok(())
}

/// The door-intake variant (`fault-writer DIR RUN door`): an agent's phone doing door intakes in a loop,
/// each step acknowledged after its commit:
/// * `intake <subject>`: the principal was opened (subject, record, sealed ID number);
/// * `pic <subject> <attachment id> <key>`: a picture ([`payload`]`("<key>")`) was written for them;
/// * `consent <subject>`: the signed door consent is their mandate;
/// * `edit <subject> <draft id> <value>`: their draft holds `applicant.name = <value>` (agent-entered);
/// * `filled <subject> <draft id>`: the rest of the form and its three materials (their attachments) are in;
/// * `confirm <subject> <draft id>`: the principal's confirmation (their signature picture) is kept with the draft;
/// * `submit <subject> <case id>`: the case is queued in the outbox (to go when online, exactly once); at the
///   start of a run, each confirmed draft of before is submitted (again): one that went answers with its case.
pub fn run_door(dir: &Path, run: &str) -> zhangban_core::Result<()> {
    use zhangban_core::agent::{Agent, AgentCertificate, DoorConsentInput, DoorIntake};
    use zhangban_core::wallet::{DeviceSigner, Wallet};
    let vault = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store = Arc::new(Store::open_or_create(&dir.join("store"), vault, None)?);
    let wallet = Wallet::open(store.clone())?;
    let agent = Agent::new(&wallet);
    if agent.certificate()?.is_none() {
        let root = crate::issuer::root_key().map_err(|e| zhangban_core::Error::Internal(e.to_string()))?;
        let now = store.now();
        let cert = AgentCertificate {
            cert_id: "fault-cert".into(),
            agent_id: "fault-agent".into(),
            name: "王帮办".into(),
            org_code: "12110105MB0000002B".into(),
            org_name: "幸福村便民服务站".into(),
            device_key: wallet.device_public_key(),
            valid_from: now - 60,
            valid_until: now + 86_400,
        };
        agent.install_certificate(&cert.sign(|m| root.sign(m))?)?;
    }
    let catalog = zhangban_core::catalog::Catalog::bundled()?;
    let mut out = std::io::stdout().lock();
    // The app comes back after the kill: the agent submits each confirmed draft, also one that went already (the
    // tap of someone who cannot tell whether it went). The core takes each draft once: a submitted draft answers
    // with its one case; a second case is a defect the test sees (two case ids for one principal).
    let mut again = Vec::new(); // (principal, draft, submitted, updated)
    for line in agent.principals()? {
        if line.status != zhangban_core::agent::PrincipalStatus::Active {
            continue;
        }
        for d in zhangban_core::forms::session::list(&store, &line.subject)? {
            if store.get_opt("agent_confirmation", &d.id)?.is_some() {
                again.push((line.subject.clone(), d.id, d.submitted, d.updated_at));
            }
        }
    }
    // Every confirmed draft not submitted yet, and of the submitted ones the newest (the one a kill may have hit
    // between its commit and its acknowledgement): the list grows with each run, the time to kill does not.
    let newest = again.iter().filter(|a| a.2).max_by_key(|a| a.3).map(|a| a.1.clone());
    for (subject, draft, _, _) in again.into_iter().filter(|a| !a.2 || Some(&a.1) == newest.as_ref()) {
        let mut s = agent.resume_draft(&subject, &catalog, &draft)?;
        let case = agent.submit(&subject, &catalog, &mut s)?;
        writeln!(out, "submit {subject} {}", case.id)?;
        out.flush()?;
    }
    for i in 0..1_000_000u64 {
        let p = agent.open_door_intake(&DoorIntake {
            principal_name: format!("委托人{run}-{i}"),
            principal_id_number: "110105193805200031".into(),
        })?;
        writeln!(out, "intake {}", p.subject)?;
        out.flush()?;
        let mut pics = Vec::new();
        for k in ["id", "face", "sig"] {
            let key = format!("{run}-{i}-{k}");
            let a = agent.attach_intake(&p.subject, &format!("{k}.jpg"), &mut payload(&key).as_slice())?;
            writeln!(out, "pic {} {} {key}", p.subject, a.id)?;
            out.flush()?;
            pics.push(a.id);
        }
        agent.record_door_consent(
            &p.subject,
            &DoorConsentInput {
                items: vec!["MZ-002".into()],
                id_photo: pics[0].clone(),
                principal_photo: pics[1].clone(),
                signature: pics[2].clone(),
                summary: "代为申领高龄津贴".into(),
                valid_days: None,
                single_use: false,
            },
        )?;
        writeln!(out, "consent {}", p.subject)?;
        out.flush()?;
        let mut s = agent.start_draft(&p.subject, &catalog, "MZ-002")?;
        let value = format!("委托人{i}");
        agent.edit(&p.subject, &catalog, &mut s, "applicant.name", serde_json::json!(value))?;
        writeln!(out, "edit {} {} {value}", p.subject, s.id())?;
        out.flush()?;
        for (path, v) in [
            ("applicant.id_number", "110105193805200031"),
            ("applicant.birth_date", "1938-05-20"),
            ("applicant.phone", "13900001111"),
            ("applicant.address", "北京市朝阳区幸福村 8 号"),
            ("allowance.account", "6217000010001234567"),
        ] {
            if s.draft.value(path).is_none_or(|e| !e.locked) {
                agent.edit(&p.subject, &catalog, &mut s, path, serde_json::json!(v))?;
            }
        }
        for code in ["M_ID", "M_HOUSEHOLD", "M_SSC"] {
            let key = format!("{run}-{i}-{code}");
            let a = agent.attach(&p.subject, &format!("{code}.jpg"), &mut payload(&key).as_slice())?;
            let choice = zhangban_core::forms::MaterialChoice::Attached { attachment_id: a.id };
            agent.set_material(&p.subject, &catalog, &mut s, code, Some(choice))?;
        }
        writeln!(out, "filled {} {}", p.subject, s.id())?;
        out.flush()?;
        agent.record_confirmation(&p.subject, &catalog, &s, Some(&pics[2]), None)?;
        writeln!(out, "confirm {} {}", p.subject, s.id())?;
        out.flush()?;
        let case = agent.submit(&p.subject, &catalog, &mut s)?;
        writeln!(out, "submit {} {}", p.subject, case.id)?;
        out.flush()?;
    }
    Ok(())
}

/// The access-report variant (`fault-writer DIR RUN access URL`): an agent's phone (set up by the test:
/// registered with the platform at URL, holding a delegation; the principal's subject in `DIR/subject`)
/// switching to the principal in a loop — each switch one `agent.access` entry, acknowledged `access`
/// after it returned — and syncing (which reports the entries) every fifth switch, `synced` after.
pub fn run_access(dir: &Path, url: &str) -> zhangban_core::Result<()> {
    use zhangban_core::agent::Agent;
    use zhangban_core::notify::Recorder;
    use zhangban_core::sync::runner::{SyncConfig, SyncRunner};
    use zhangban_core::wallet::Wallet;
    let vault = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store = Arc::new(Store::open(&dir.join("store"), vault)?);
    let agent = Agent::new(&Wallet::open(store.clone())?);
    let subject = std::fs::read_to_string(dir.join("subject"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| zhangban_core::Error::Internal(e.to_string()))?;
    let runner = SyncRunner::new(store.clone(), SyncConfig::new(url), Arc::new(Recorder::default()))?;
    let mut out = std::io::stdout().lock();
    for i in 0..1_000_000u64 {
        agent.switch_to(subject.trim())?;
        writeln!(out, "access")?;
        out.flush()?;
        if i % 5 == 4 {
            rt.block_on(runner.run_once());
            writeln!(out, "synced")?;
            out.flush()?;
        }
    }
    Ok(())
}
