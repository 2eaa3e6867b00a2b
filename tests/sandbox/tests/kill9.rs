//! Fault test: a child process (`zhangban-sandbox fault-writer`) writes records and attachments in a loop
//! and acknowledges each commit on stdout; it is killed with SIGKILL at random moments, many times. After
//! each kill the store opens, passes SQLite's integrity check, holds every acknowledged write, and holds
//! no half transaction and no wrong bytes. Seeded (override with `ZB_FAULT_SEED`).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_sandbox::fault_writer::{payload, COLLECTION};

mod harness;
use harness::XorShift;

const KILLS: usize = 60;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed = std::env::var("ZB_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_F00D_u64);
    println!("ZB_FAULT_SEED={seed}");
    let mut rng = XorShift(seed | 1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    drop(Store::create(&dir.join("store"), vault.clone(), None).unwrap());

    let mut acked: Vec<String> = Vec::new(); // record keys, all runs
    let mut attachments: BTreeMap<String, String> = BTreeMap::new(); // id -> payload key
    let mut rounds_with_writes = 0;
    for round in 0..KILLS {
        let run = format!("r{round}");
        let lines = if round % 2 == 0 {
            // Kill anywhere from "still starting" (opening the store) to "into its writes".
            harness::run_and_kill(dir, &[&run], None, Duration::from_micros(rng.next() % 40_000))
        } else {
            // Kill during the writes: after the first acknowledgement.
            harness::run_and_kill(
                dir,
                &[&run],
                Some(Duration::from_secs(10)),
                Duration::from_micros(rng.next() % 20_000),
            )
        };
        let mut this_run = 0;
        for l in &lines {
            match l.split(' ').collect::<Vec<_>>()[..] {
                ["ack", key] => {
                    acked.push(key.to_string());
                    this_run += 1;
                }
                ["att", id, key] => {
                    attachments.insert(id.to_string(), key.to_string());
                    this_run += 1;
                }
                _ => panic!("unexpected line from the writer: {l}"),
            }
        }
        if this_run > 0 {
            rounds_with_writes += 1;
        }

        // After the kill: opens, integrity_check, this run's records complete and exact.
        let s = Store::open(&dir.join("store"), vault.clone()).unwrap();
        s.integrity_check().unwrap();
        let written = s.list_tagged(COLLECTION, &run).unwrap();
        for r in &written {
            assert_eq!(&r.body[..], &payload(&r.id)[..], "{} holds wrong bytes", r.id);
            // Both records of a transaction, or neither.
            let (key, side) = r.id.rsplit_once('-').unwrap();
            let other = if side == "a" { "b" } else { "a" };
            assert!(s.get_opt(COLLECTION, &format!("{key}-{other}")).unwrap().is_some(), "half transaction {key}");
        }
        for key in acked.iter().filter(|k| k.starts_with(&format!("{run}-"))) {
            for side in ["a", "b"] {
                let id = format!("{key}-{side}");
                let r = s.get(COLLECTION, &id).unwrap_or_else(|e| panic!("acknowledged {id} lost: {e}"));
                assert_eq!(&r.body[..], &payload(&id)[..]);
            }
        }
    }

    // At the end: every write acknowledged in any run is still there.
    let s = Store::open(&dir.join("store"), vault).unwrap();
    s.integrity_check().unwrap();
    for key in &acked {
        for side in ["a", "b"] {
            let id = format!("{key}-{side}");
            assert_eq!(&s.get(COLLECTION, &id).unwrap().body[..], &payload(&id)[..], "{id}");
        }
    }
    for (id, key) in &attachments {
        assert_eq!(s.read_attachment_to_vec(id).unwrap(), payload(key), "attachment {id}");
    }
    println!(
        "{KILLS} kills; {rounds_with_writes} while writing; {} acknowledged transactions and {} attachments all present",
        acked.len(),
        attachments.len()
    );
    assert!(rounds_with_writes >= KILLS / 2, "most kills must land during writes ({rounds_with_writes})");
    assert!(acked.len() > KILLS, "the writer must get going ({})", acked.len());
}

/// A kill while the store is being *created* (first launch) must not leave a store that cannot be
/// opened: the next launch opens or creates it and writes.
#[test]
fn a_kill_during_creation_leaves_no_half_store() {
    let seed = std::env::var("ZB_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xC0FFEE_u64);
    let mut rng = XorShift(seed | 1);
    let mut created_before_kill = 0;
    for round in 0..20 {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox"))
            .arg("fault-writer")
            .arg(tmp.path())
            .arg("c")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(2_000 + rng.next() % 12_000));
        child.kill().unwrap();
        child.wait().unwrap();
        if tmp.path().join("store").join("zhangban.db").exists() {
            created_before_kill += 1;
        }
        let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap());
        let s = Store::open_or_create(&tmp.path().join("store"), vault, None)
            .unwrap_or_else(|e| panic!("round {round}: the store cannot be opened after a kill during creation: {e}"));
        s.integrity_check().unwrap();
        s.put("fault", "after", zhangban_core::store::SELF_SUBJECT, b"ok").unwrap();
    }
    println!("creation kills: {created_before_kill}/20 had a store file when killed");
}
