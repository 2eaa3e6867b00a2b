//! Fault test: kill -9 during door intake (帮办代办). A child process (`zhangban-sandbox fault-writer DIR
//! RUN door`) opens principals, writes their pictures, records their consents, fills their drafts with their
//! materials, keeps their confirmations and submits, in a loop, acknowledging each step after its commit; it is
//! killed with SIGKILL at random moments. After each kill the store opens, passes SQLite's integrity check,
//! every acknowledged step is there with exact bytes, and each draft became at most one case, queued once in
//! the outbox (exactly once, also for a submission killed before its acknowledgement). Seeded (override with
//! `ZB_FAULT_SEED`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use zhangban_core::agent::{Agent, Assurance, PrincipalStatus};
use zhangban_core::catalog::Catalog;
use zhangban_core::outbox;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::wallet::Wallet;
use zhangban_sandbox::fault_writer::payload;

mod harness;
use harness::XorShift;

const KILLS: usize = 16;

#[test]
fn acknowledged_door_intake_steps_survive_sigkill() {
    let seed = std::env::var("ZB_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xD00Du64) | 1;
    println!("ZB_FAULT_SEED={seed}");
    let mut rng = XorShift(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    drop(Store::create(&dir.join("store"), vault.clone(), None).unwrap());
    let catalog = Catalog::bundled().unwrap();
    let mut intakes = Vec::new();
    let mut pics: Vec<(String, String, String)> = Vec::new();
    let mut consents = Vec::new();
    let mut edits: HashMap<String, (String, String)> = HashMap::new();
    let mut filled: Vec<(String, String)> = Vec::new();
    let mut confirmed: Vec<(String, String)> = Vec::new();
    let mut submitted: Vec<(String, String)> = Vec::new();
    let mut steps = 0;
    for round in 0..KILLS {
        let run = format!("r{round}");
        // (a whole intake, from the door to the queued submission, takes a few hundred ms in a debug build)
        let then = Duration::from_micros(rng.next() % 400_000);
        let lines = harness::run_and_kill(dir, &[&run, "door"], Some(Duration::from_secs(20)), then);
        for l in &lines {
            steps += 1;
            match l.split(' ').collect::<Vec<_>>()[..] {
                ["intake", s] => intakes.push(s.to_string()),
                ["pic", s, id, key] => pics.push((s.to_string(), id.to_string(), key.to_string())),
                ["consent", s] => consents.push(s.to_string()),
                ["edit", s, d, v] => {
                    edits.insert(s.to_string(), (d.to_string(), v.to_string()));
                }
                ["filled", s, d] => filled.push((s.to_string(), d.to_string())),
                ["confirm", s, d] => confirmed.push((s.to_string(), d.to_string())),
                ["submit", s, c] => submitted.push((s.to_string(), c.to_string())),
                _ => panic!("unexpected line from the writer: {l}"),
            }
        }

        // After the kill: every acknowledged step of every run so far is there, exactly.
        let store = Arc::new(Store::open(&dir.join("store"), vault.clone()).unwrap());
        store.integrity_check().unwrap();
        let agent = Agent::new(&Wallet::open(store.clone()).unwrap());
        let home: HashMap<String, _> =
            agent.principals().unwrap().into_iter().map(|l| (l.subject.clone(), l)).collect();
        for s in &intakes {
            assert!(home.contains_key(s), "acknowledged intake {s} lost");
        }
        for (s, id, key) in &pics {
            assert_eq!(store.attachment_info(id).unwrap().subject, *s);
            assert_eq!(store.read_attachment_to_vec(id).unwrap(), payload(key), "picture {id}");
        }
        for s in &consents {
            let l = &home[s];
            assert_eq!((l.status, l.assurance), (PrincipalStatus::Active, Some(Assurance::Door)), "consent {s}");
        }
        for (s, (d, v)) in &edits {
            let session = agent.resume_draft(s, &catalog, d).unwrap();
            assert_eq!(session.draft.subject, *s);
            let e = session.draft.value("applicant.name").unwrap_or_else(|| panic!("edit of {d} lost"));
            assert_eq!(e.value, serde_json::json!(v));
        }
        for (s, d) in &filled {
            let session = agent.resume_draft(s, &catalog, d).unwrap();
            assert!(session.validate().iter().all(|i| i.severity != zhangban_core::forms::Severity::Error), "{d}");
        }
        for (s, d) in &confirmed {
            let c = store.get_opt("agent_confirmation", d).unwrap().unwrap_or_else(|| panic!("confirmation {d} lost"));
            assert_eq!(c.subject, *s);
        }
        // Each principal's draft became at most one case, queued at most once; an acknowledged one exactly once.
        // (Only a principal whose consent is in can have a case: the others' are refused, as they should be.)
        let queued = outbox::pending(&store).unwrap();
        for s in home.keys().filter(|s| home[*s].status == PrincipalStatus::Active) {
            let cases = agent.cases(s).unwrap();
            assert!(cases.len() <= 1, "{s}: one draft, {} cases", cases.len());
            for c in &cases {
                assert_eq!(queued.iter().filter(|o| o.case_id == c.id).count(), 1, "case {} queued once", c.id);
            }
        }
        for (s, c) in &submitted {
            assert_eq!(agent.cases(s).unwrap().iter().map(|x| x.id.clone()).collect::<Vec<_>>(), vec![c.clone()]);
        }
        // A draft submitted again answers with its one case (the same id), never a second one.
        let mut pairs: Vec<&(String, String)> = submitted.iter().collect();
        pairs.sort();
        pairs.dedup();
        let mut principals: Vec<&String> = pairs.iter().map(|(s, _)| s).collect();
        principals.dedup();
        assert_eq!(principals.len(), pairs.len(), "one principal's draft gave two cases: {pairs:?}");
    }
    let mut cases: Vec<&String> = submitted.iter().map(|(_, c)| c).collect();
    cases.sort();
    cases.dedup();
    println!(
        "{KILLS} kills; {steps} acknowledged steps: {} intakes, {} pictures, {} consents, {} drafts edited, {} filled, \
         {} confirmed, {} cases submitted ({} submissions again after a kill answered with their case) — all present, \
         each case queued once",
        intakes.len(),
        pics.len(),
        consents.len(),
        edits.len(),
        filled.len(),
        confirmed.len(),
        cases.len(),
        submitted.len() - cases.len()
    );
    assert!(consents.len() >= 2 && edits.len() >= 2, "the writer must get through whole intakes");
    assert!(cases.len() >= 2, "the writer must get through whole submissions");
}
