//! kill -9 during a backup and during a restore leaves the old state intact (issue 14): the backup file at
//! the path is the previous complete one (or the new complete one), the store still opens with every
//! record; a killed restore leaves nothing at the target, and the next restore succeeds.
//! The child is this package's binary (`zhangban-sandbox backup-child …`), killed with SIGKILL at random
//! moments.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use zhangban_core::backup::{self, KdfParams};
use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store, SELF_SUBJECT};
use zhangban_core::SystemClock;

fn vault(dir: &Path, name: &str) -> Arc<dyn KeyVault> {
    Arc::new(FileVault::open_or_create(&dir.join(format!("{name}.key"))).expect("vault"))
}

fn child(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox"))
        .arg("backup-child")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child")
}

/// SIGKILL (what `Child::kill` sends on Unix): no destructor, no flush. True when it had finished first.
fn kill9(mut c: std::process::Child) -> bool {
    let done = matches!(c.try_wait(), Ok(Some(_)));
    let _ = c.kill();
    let _ = c.wait();
    done
}

#[test]
fn kill_9_during_backup_and_restore_leaves_the_old_state() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let store_dir = dir.join("store");
    let store = Store::create(&store_dir, vault(dir, "old"), None).expect("store");
    store
        .transaction(|t| {
            for i in 0..3000 {
                let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(300));
                t.put("case", &format!("c-{i}"), SELF_SUBJECT, body.as_bytes(), PutOptions::default())?;
            }
            Ok(())
        })
        .expect("records");
    let photo: Vec<u8> = (0..6_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    store.write_attachment(SELF_SUBJECT, "photo.jpg", &mut photo.as_slice()).expect("attachment");
    let code = backup::make_recovery_code_with(&store, KdfParams { m_kib: 1024, t: 1, p: 1 }).expect("code");
    let file = dir.join("b.zbk");
    let first = backup::write_backup(&store, &file).expect("first backup");
    drop(store);
    let (_, key) = backup::open_backup(&file, &code.grouped()).expect("open");
    std::fs::write(dir.join("code.txt"), code.grouped()).expect("code");

    let (s, f, v) = (store_dir.to_str().unwrap(), file.to_str().unwrap(), dir.join("old.key"));
    let v = v.to_str().unwrap();
    let mut killed = 0;
    for i in 0..12u64 {
        let c = child(&["backup", s, v, f]);
        std::thread::sleep(Duration::from_millis(10 + (i * 37) % 150));
        if !kill9(c) {
            killed += 1;
        }
        // The file at the path is a whole backup: it restores completely.
        let target = dir.join(format!("check-{i}"));
        let (_, r) = backup::restore(&file, &key, &target, vault(dir, "check"), None, Arc::new(SystemClock))
            .unwrap_or_else(|e| panic!("round {i}: the backup file is not whole after a kill: {e:?}"));
        assert_eq!(r.manifest.records, first.manifest.records);
        std::fs::remove_dir_all(&target).expect("clean");
    }
    // The store itself is intact.
    let store = Store::open(&store_dir, vault(dir, "old")).expect("store opens");
    assert_eq!(store.list("case", Some(SELF_SUBJECT)).expect("list").len(), 3000);
    drop(store);

    // Restores killed half-way leave nothing at the target; the next one succeeds.
    let target = dir.join("new");
    let (t, nv) = (target.to_str().unwrap(), dir.join("new.key"));
    let nv = nv.to_str().unwrap();
    let code_file = dir.join("code.txt");
    let cf = code_file.to_str().unwrap();
    let mut restored_by_child = false;
    for i in 0..12u64 {
        let c = child(&["restore", f, cf, nv, t]);
        std::thread::sleep(Duration::from_millis(10 + (i * 41) % 200));
        let finished = kill9(c);
        if target.exists() {
            // Only a complete restore is ever at the target.
            let s = Store::open(&target, vault(dir, "new")).expect("a complete store");
            assert_eq!(s.list("case", Some(SELF_SUBJECT)).expect("list").len(), 3000);
            drop(s);
            std::fs::remove_dir_all(&target).expect("clean");
            restored_by_child = restored_by_child || finished;
        } else {
            killed += 1;
        }
    }
    let (s, _) =
        backup::restore(&file, &key, &target, vault(dir, "new2"), None, Arc::new(SystemClock)).expect("restore");
    assert_eq!(s.list("case", Some(SELF_SUBJECT)).expect("list").len(), 3000);
    assert!(killed >= 6, "the children were really killed mid-way ({killed} of 24)");
}
