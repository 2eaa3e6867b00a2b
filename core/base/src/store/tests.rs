use std::sync::Arc;

use super::*;

fn vault(dir: &Path) -> Arc<dyn KeyVault> {
    Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap())
}

#[test]
fn records_roundtrip_and_ciphertext_only_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    s.put("profile", "me", SELF_SUBJECT, "张三丰 110101199003074578".as_bytes()).unwrap();
    assert_eq!(s.get("profile", "me").unwrap().body.as_slice(), "张三丰 110101199003074578".as_bytes());
    drop(s);
    let s = Store::open(&dir, vault(tmp.path())).unwrap();
    assert_eq!(s.get("profile", "me").unwrap().body.as_slice(), "张三丰 110101199003074578".as_bytes());
    s.integrity_check().unwrap();
    drop(s);
    let mut bytes = fs::read(dir.join(DB_FILE)).unwrap();
    if let Ok(w) = fs::read(dir.join("zhangban.db-wal")) {
        bytes.extend(w);
    }
    let needle = "张三丰".as_bytes();
    assert!(!bytes.windows(needle.len()).any(|w| w == needle), "plaintext found in the database file");
}

#[test]
fn wrong_vault_key_is_wrong_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    Store::create(&dir, vault(tmp.path()), None).unwrap();
    let other: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("other.key")).unwrap());
    assert!(matches!(Store::open(&dir, other), Err(Error::WrongKey)));
}

/// A vault that returns garbage instead of failing: the canary must catch it.
struct LyingVault;
impl KeyVault for LyingVault {
    fn wrap(&self, _: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(p.to_vec())
    }
    fn unwrap(&self, _: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(w.iter().map(|b| b ^ 0x5a).collect())
    }
    fn destroy(&self, _: &str) -> Result<(), VaultError> {
        Ok(())
    }
}

#[test]
fn canary_catches_a_vault_returning_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    Store::create(&dir, Arc::new(LyingVault), None).unwrap();
    assert!(matches!(Store::open(&dir, Arc::new(LyingVault)), Err(Error::WrongKey)));
}

#[test]
fn value_moved_to_another_row_is_corrupted_and_others_stay_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    s.put("c", "a", SELF_SUBJECT, b"alpha").unwrap();
    s.put("c", "b", SELF_SUBJECT, b"beta").unwrap();
    s.with_txn_raw(|tx| {
        tx.execute("UPDATE records SET body = (SELECT body FROM records WHERE id = 'a') WHERE id = 'b'", [])?;
        Ok(())
    })
    .unwrap();
    match s.get("c", "b") {
        Err(Error::Corrupted { table, record }) => {
            assert_eq!(table, "records/c");
            assert_eq!(record, "b");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    assert_eq!(s.get("c", "a").unwrap().body.as_slice(), b"alpha");
    let scanned = s.scan("c", None, None).unwrap();
    assert!(scanned[0].is_ok() && scanned[1].is_err());
}

#[test]
fn damaged_schema_or_row_text_is_corrupted_not_a_storage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    let a = s.write_attachment(SELF_SUBJECT, "a.jpg", &mut &b"jpeg"[..]).unwrap();
    s.put("c", "a", SELF_SUBJECT, b"alpha").unwrap();
    // A row whose text column no longer holds UTF-8 (a flipped byte in the tag).
    s.with_txn_raw(|tx| {
        tx.execute("UPDATE records SET tag = CAST(X'FF00' AS TEXT) WHERE id = 'a'", [])?;
        Ok(())
    })
    .unwrap();
    match s.get("c", "a") {
        Err(Error::Corrupted { table, record }) => assert_eq!((table.as_str(), record.as_str()), ("records/c", "a")),
        other => panic!("expected Corrupted, got {other:?}"),
    }
    drop(s);
    // A column name damaged in the schema text itself.
    let c = rusqlite::Connection::open(dir.join("zhangban.db")).unwrap();
    c.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = replace(sql, 'sha256', 'sha25x') WHERE name = 'attachments';
         PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(c);
    // The unlock reads the attachments' columns (to convert a store of before, finding 11): the damage may
    // be met there or at the read, as `Corrupted` either way.
    match Store::open(&dir, vault(tmp.path())).and_then(|s| s.attachment_info(&a.id)) {
        Err(Error::Corrupted { table, record }) => {
            assert_eq!(table, "schema");
            assert!(record.contains("sha256"), "{record}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn pin_lockout_counts_on_disk_and_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = Arc::new(crate::clock::FixedClock::at(1_790_000_000));
    let s = Store::create_with(&dir, vault(tmp.path()), Some("246810"), &PinPolicy::default(), clock.clone()).unwrap();
    s.put("c", "x", SELF_SUBJECT, b"secret").unwrap();
    drop(s);
    let s = Store::open_with(&dir, vault(tmp.path()), clock.clone()).unwrap();
    assert!(s.is_locked());
    assert!(matches!(s.get("c", "x"), Err(Error::Locked { retry_after_secs: 0 })));
    for left in [4u32, 3] {
        assert!(matches!(s.unlock(Some("000000")), Err(Error::WrongPin { attempts_left }) if attempts_left == left));
    }
    drop(s); // "kill the app": the count is on disk
    let s = Store::open_with(&dir, vault(tmp.path()), clock.clone()).unwrap();
    assert!(matches!(s.unlock(Some("000000")), Err(Error::WrongPin { attempts_left: 2 })));
    assert!(matches!(s.unlock(Some("000000")), Err(Error::WrongPin { attempts_left: 1 })));
    match s.unlock(Some("000000")) {
        Err(Error::Locked { retry_after_secs }) => assert_eq!(retry_after_secs, 30),
        other => panic!("expected Locked, got {other:?}"),
    }
    // Even the right PIN waits now.
    assert!(matches!(s.unlock(Some("246810")), Err(Error::Locked { retry_after_secs }) if retry_after_secs > 0));
    assert!(s.lockout_remaining().unwrap() > 0);
    // The wait passes (editing the times in the file does not do: the vault's payload says them, ADR 0036).
    clock.advance(30);
    s.unlock(Some("246810")).unwrap();
    assert_eq!(s.get("c", "x").unwrap().body.as_slice(), b"secret");
    s.lock();
    assert!(s.is_locked());
}

#[test]
fn settings_are_readable_while_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), Some("246810")).unwrap();
    s.set_setting("sync.cursor", "42").unwrap();
    s.lock();
    assert_eq!(s.setting("sync.cursor").unwrap().as_deref(), Some("42"));
    assert_eq!(s.setting("missing").unwrap(), None);
    drop(s);
    let s = Store::open(&dir, vault(tmp.path())).unwrap();
    assert!(s.is_locked());
    assert_eq!(s.setting("sync.cursor").unwrap().as_deref(), Some("42"));
}

#[test]
fn the_core_decides_when_the_app_locks_in_the_background() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("nopin"), vault(tmp.path()), None).unwrap();
    assert_eq!(s.lock_after_background().unwrap(), None, "no PIN: nothing to ask for, no lock");
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), Some("246810")).unwrap();
    assert_eq!(s.lock_after_background().unwrap(), Some(DEFAULT_LOCK_AFTER_SECS));
    s.set_lock_after_background(0).unwrap();
    assert_eq!(s.lock_after_background().unwrap(), Some(0));
    let e = s.set_lock_after_background(MAX_LOCK_AFTER_SECS + 1).unwrap_err();
    assert!(matches!(e, Error::Validation { ref field, .. } if field == "lock_after_background"), "{e:?}");
    s.set_lock_after_background(120).unwrap();
    s.lock();
    drop(s);
    // Readable while locked (the shell asks before the PIN is given); a damaged value reads as the default.
    let s = Store::open(&dir, vault(tmp.path())).unwrap();
    assert_eq!(s.lock_after_background().unwrap(), Some(120));
    s.set_raw_meta_for_test(&format!("setting.{LOCK_AFTER_SETTING}"), b"soon");
    assert_eq!(s.lock_after_background().unwrap(), Some(DEFAULT_LOCK_AFTER_SECS));
}

#[test]
fn shredding_a_subject_makes_its_records_unreadable() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let p = s.create_subject(SubjectKind::Principal, "李奶奶").unwrap();
    s.put("case", "c1", &p, b"principal data").unwrap();
    s.put("case", "c2", SELF_SUBJECT, b"own data").unwrap();
    let att = s.write_attachment(&p, "id.jpg", &mut &b"photo"[..]).unwrap();
    let wrapped_before: Vec<u8> =
        s.with_txn_raw(|tx| Ok(tx.query_row("SELECT body FROM records WHERE id='c1'", [], |r| r.get(0))?)).unwrap();
    s.shred_subject(&p).unwrap();
    assert!(matches!(s.get("case", "c1"), Err(Error::NotFound { .. })));
    assert!(s.read_attachment_to_vec(&att.id).is_err());
    // Even a copy of the old ciphertext (a backup) cannot be opened: the key is gone.
    s.with_txn_raw(|tx| {
        tx.execute(
            "INSERT INTO records (collection, id, subject, body, updated_at) VALUES ('case','c1', ?1, ?2, 0)",
            rusqlite::params![p, wrapped_before],
        )?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.get("case", "c1"), Err(Error::Shredded { .. })));
    assert_eq!(s.get("case", "c2").unwrap().body.as_slice(), b"own data");
    assert!(s.subjects().unwrap().iter().any(|x| x.id == p && x.shredded));
}

#[test]
fn lookup_by_keyed_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let opts = PutOptions { tag: None, lookup: Some("11010119900307457X") };
    s.put_with("person", "p1", SELF_SUBJECT, b"{}", opts).unwrap();
    assert_eq!(s.find_by_lookup("person", "11010119900307457X").unwrap().len(), 1);
    assert!(s.find_by_lookup("person", "110101199003074578").unwrap().is_empty());
    assert_eq!(s.lookup_hash("person", "a").unwrap().len(), 32);
}

/// Tags filter exactly, and a lookup identifier never reaches the file in plaintext (only its keyed hash).
#[test]
fn tags_filter_exactly_and_the_lookup_column_holds_no_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    s.put_with("outbox", "op1", SELF_SUBJECT, b"{}", PutOptions { tag: Some("pending"), lookup: None }).unwrap();
    s.put_with("outbox", "op2", SELF_SUBJECT, b"{}", PutOptions { tag: Some("sent"), lookup: None }).unwrap();
    s.put_with(
        "person",
        "p",
        SELF_SUBJECT,
        br#"{"n":1}"#,
        PutOptions { tag: None, lookup: Some("11010119900307457X") },
    )
    .unwrap();
    let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_tagged("outbox", "pending").unwrap()), ["op1"]);
    assert_eq!(ids(s.list_tagged("outbox", "sent").unwrap()), ["op2"]);
    assert_eq!(ids(s.find_by_lookup("person", "11010119900307457X").unwrap()), ["p"]);
    assert!(s.find_by_lookup("person", "11010119900307457Y").unwrap().is_empty());
    drop(s);
    let c = Connection::open(dir.join(DB_FILE)).unwrap();
    let mut q = c.prepare("SELECT lookup FROM records WHERE lookup IS NOT NULL").unwrap();
    let lookups: Vec<Vec<u8>> = q.query_map([], |r| r.get(0)).unwrap().map(|x| x.unwrap()).collect();
    assert_eq!(lookups.len(), 1);
    let needle = b"11010119900307457X";
    assert!(!lookups[0].windows(needle.len()).any(|w| w == needle), "plaintext ID number in the lookup column");
}

#[test]
fn transaction_is_atomic() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let r: Result<()> = s.transaction(|t| {
        t.put("case", "1", SELF_SUBJECT, b"x", PutOptions::default())?;
        t.put("outbox", "1", SELF_SUBJECT, b"y", PutOptions { tag: Some("pending"), lookup: None })?;
        Err(Error::Internal("boom".into()))
    });
    assert!(r.is_err());
    assert!(s.get_opt("case", "1").unwrap().is_none());
    s.transaction(|t| {
        t.put("case", "1", SELF_SUBJECT, b"x", PutOptions::default())?;
        t.put("outbox", "1", SELF_SUBJECT, b"y", PutOptions { tag: Some("pending"), lookup: None })
    })
    .unwrap();
    assert_eq!(s.list_tagged("outbox", "pending").unwrap().len(), 1);
}

#[test]
fn attachments_from_and_to_paths_and_a_failed_read_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let src = tmp.path().join("in.jpg");
    fs::write(&src, vec![9u8; 100_000]).unwrap();
    let a = s.write_attachment_from_path(SELF_SUBJECT, "id.jpg", &src).unwrap();
    let out = tmp.path().join("out.jpg");
    assert_eq!(s.read_attachment_to_path(&a.id, &out).unwrap(), 100_000);
    assert_eq!(fs::read(&out).unwrap(), vec![9u8; 100_000]);
    let missing = s.write_attachment_from_path(SELF_SUBJECT, "x", &tmp.path().join("missing.bin"));
    assert!(matches!(missing, Err(Error::Validation { field, .. }) if field == "path"));
    let never = tmp.path().join("never.bin");
    assert!(matches!(s.read_attachment_to_path("missing", &never), Err(Error::NotFound { .. })));
    assert!(!never.exists());
    assert!(!never.with_extension("zbtmp").exists());
}

#[test]
fn attachments_stream_roundtrip_and_detect_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    let data: Vec<u8> = (0..(CHUNK_SIZE * 3 + 123)).map(|i| (i * 31 % 251) as u8).collect();
    let info = s.write_attachment(SELF_SUBJECT, "户口本.jpg", &mut data.as_slice()).unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(s.read_attachment_to_vec(&info.id).unwrap(), data);
    assert_eq!(s.attachment_info(&info.id).unwrap().name, "户口本.jpg");
    let empty = s.write_attachment(SELF_SUBJECT, "empty", &mut &b""[..]).unwrap();
    assert!(s.read_attachment_to_vec(&empty.id).unwrap().is_empty());
    // Truncating the last chunk off is detected.
    let path = attachments::file_path(&dir, &info.id);
    let full = fs::read(&path).unwrap();
    let one_chunk = 4 + 4 + 36 + 4 + CHUNK_SIZE + crypto::OVERHEAD;
    fs::write(&path, &full[..one_chunk]).unwrap();
    assert!(matches!(s.read_attachment_to_vec(&info.id), Err(Error::Corrupted { .. })));
    fs::write(&path, &full).unwrap();
    assert_eq!(s.read_attachment_to_vec(&info.id).unwrap(), data);
}

#[test]
fn attachment_ranges_read_only_what_is_asked_and_detect_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    let data: Vec<u8> = (0..(CHUNK_SIZE * 2 + 777)).map(|i| (i * 13 % 253) as u8).collect();
    let info = s.write_attachment(SELF_SUBJECT, "scan.pdf", &mut data.as_slice()).unwrap();
    let n = data.len() as u64;
    let c = CHUNK_SIZE as u64;
    // Within a chunk, across chunk borders, the whole, past the end (cut), at the end (empty).
    for (off, len) in [(0, 10), (5, CHUNK_SIZE), (c - 3, 6), (c - 1, CHUNK_SIZE + 2), (0, data.len()), (n - 5, 100)] {
        let want = &data[off as usize..(off as usize + len).min(data.len())];
        assert_eq!(s.read_attachment_range(&info.id, off, len).unwrap(), want, "range {off}+{len}");
    }
    assert!(s.read_attachment_range(&info.id, n, 10).unwrap().is_empty());
    assert!(matches!(s.read_attachment_range(&info.id, n + 1, 1), Err(Error::Validation { .. })));
    assert!(matches!(s.read_attachment_range(&info.id, 0, MAX_RANGE + 1), Err(Error::Validation { .. })));
    // A chunk exactly full at the end, and an empty file.
    let exact: Vec<u8> = vec![7u8; CHUNK_SIZE];
    let e = s.write_attachment(SELF_SUBJECT, "exact", &mut exact.as_slice()).unwrap();
    assert_eq!(s.read_attachment_range(&e.id, c - 2, 10).unwrap(), vec![7u8; 2]);
    assert_eq!(s.read_attachment_to_vec(&e.id).unwrap(), exact);
    let empty = s.write_attachment(SELF_SUBJECT, "empty", &mut &b""[..]).unwrap();
    assert!(s.read_attachment_range(&empty.id, 0, 10).unwrap().is_empty());

    let path = attachments::file_path(&dir, &info.id);
    let full = fs::read(&path).unwrap();
    // A truncated file is refused even for a range in the chunks still there.
    fs::write(&path, &full[..full.len() - 1]).unwrap();
    assert!(matches!(s.read_attachment_range(&info.id, 0, 10), Err(Error::Corrupted { .. })));
    // A flipped byte in the second chunk: ranges in the first still read, ranges touching it do not.
    let mut flipped = full.clone();
    let second = 4 + 4 + 36 + (4 + CHUNK_SIZE + crypto::OVERHEAD) + 4 + 100;
    flipped[second] ^= 1;
    fs::write(&path, &flipped).unwrap();
    assert_eq!(s.read_attachment_range(&info.id, 0, 10).unwrap(), &data[..10]);
    assert!(matches!(s.read_attachment_range(&info.id, c - 1, 2), Err(Error::Corrupted { .. })));
    // Two chunks swapped (same lengths): each is bound to its index.
    let mut swapped = full.clone();
    let (h, st) = (4 + 4 + 36, 4 + CHUNK_SIZE + crypto::OVERHEAD);
    let first: Vec<u8> = full[h..h + st].to_vec();
    swapped[h..h + st].copy_from_slice(&full[h + st..h + 2 * st]);
    swapped[h + st..h + 2 * st].copy_from_slice(&first);
    fs::write(&path, &swapped).unwrap();
    assert!(matches!(s.read_attachment_range(&info.id, 0, 10), Err(Error::Corrupted { .. })));
    fs::write(&path, &full).unwrap();
    assert_eq!(s.read_attachment_range(&info.id, c, 5).unwrap(), &data[CHUNK_SIZE..CHUNK_SIZE + 5]);
}

#[test]
fn audit_chain_verifies_and_reports_first_broken_link() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    for i in 0..5 {
        s.audit(&crate::audit::NewEntry {
            actor: "self",
            action: "licence.present",
            subject: SELF_SUBJECT,
            target: "lic-1",
            detail: serde_json::json!({ "to": "hotel", "i": i }),
        })
        .unwrap();
    }
    let v = s.audit_verify().unwrap();
    assert_eq!(v, crate::audit::AuditVerification { entries: 5, first_broken: None });
    assert_eq!(s.audit_entries(Some("lic-1")).unwrap()[2].detail["i"], 2);
    // Updates are refused by the trigger; tamper below SQL's rules to test the chain itself.
    assert!(s.with_txn_raw(|tx| Ok(tx.execute("UPDATE audit_log SET actor='x' WHERE seq=3", [])?)).is_err());
    s.with_txn_raw(|tx| {
        tx.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit_log SET actor='mallory' WHERE seq=3;")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(s.audit_verify().unwrap().first_broken, Some(3));
}

// ---- attacks (issue 10, finding 14) -----------------------------------------------------------------

#[test]
fn attack_delete_attachment_cannot_leave_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    // Another app's (or the user's) file, two levels up, with the attachment extension.
    let victim = tmp.path().join("victim.zba");
    fs::write(&victim, b"not yours").unwrap();
    let _ = s.delete_attachment("../../victim");
    assert!(victim.exists(), "delete_attachment removed a file outside the store");
}

#[cfg(unix)]
#[test]
fn attack_a_planted_temporary_file_does_not_receive_the_vault_key() {
    let tmp = tempfile::tempdir().unwrap();
    // The attacker plants a symlink where the vault's temporary file used to be written.
    let grab = tmp.path().join("grab");
    fs::write(&grab, b"").unwrap();
    std::os::unix::fs::symlink(&grab, tmp.path().join("vault.tmp")).unwrap();
    FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap();
    assert_eq!(fs::read(&grab).unwrap().len(), 0, "the vault key was written through the planted symlink");
}

#[test]
fn attack_a_damaged_iteration_count_does_not_stall_unlock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), Some("246810")).unwrap();
    // Damage the stored iteration count to u32::MAX (4 billion PBKDF2 rounds: hours).
    s.with_txn_raw(|tx| {
        let mut p = keys::meta_get(tx, "pin_params")?.unwrap();
        p[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        keys::meta_set(tx, "pin_params", &p)?;
        Ok(())
    })
    .unwrap();
    s.lock();
    let (done, rx) = std::sync::mpsc::channel();
    let s = Arc::new(s);
    let s2 = s.clone();
    std::thread::spawn(move || {
        let _ = done.send(s2.unlock(Some("246810")));
    });
    let r = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("unlock still running after 10 s");
    assert!(matches!(r, Err(Error::Corrupted { .. })), "{r:?}");
}

#[test]
fn a_damaged_envelope_or_canary_is_corrupted_not_a_wrong_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    s.put("profile", "me", SELF_SUBJECT, b"x").unwrap();
    let g = s.guard();
    let envelope = keys::meta_get(&g.conn, "envelope").unwrap().unwrap();
    let canary = keys::meta_get(&g.conn, "canary").unwrap().unwrap();
    drop(g);
    drop(s);
    for (what, good) in [("envelope", &envelope), ("canary", &canary)] {
        let mut bad = good.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x10;
        let s = Store::open(&dir, vault(tmp.path())).unwrap();
        s.set_raw_meta_for_test(what, &bad);
        drop(s);
        match Store::open(&dir, vault(tmp.path())) {
            Err(Error::Corrupted { table, record }) => assert_eq!((table.as_str(), record.as_str()), ("meta", what)),
            other => panic!("damaged {what}: {:?}", other.map(|_| ())),
        }
        // The salvage path still opens it when only the canary is damaged.
        if what == "canary" {
            let got = salvage(&dir, vault(tmp.path()), None).unwrap();
            assert_eq!(got.records.len(), 1);
            assert_eq!(got.damaged, vec!["meta/canary".to_string()]);
        }
        // Put the good bytes back (the store cannot open, so through SQLite directly).
        let c = Connection::open(dir.join(DB_FILE)).unwrap();
        keys::meta_set(&c, what, good).unwrap();
    }
    // The right bytes with another key: still WrongKey.
    let other: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("other.key")).unwrap());
    assert!(matches!(Store::open(&dir, other.clone()), Err(Error::WrongKey)));
    assert!(matches!(salvage(&dir, other, None), Err(Error::WrongKey)));
    assert!(Store::open(&dir, vault(tmp.path())).is_ok());
}

#[test]
fn a_miss_or_a_short_list_that_disagrees_with_the_kept_count_is_corrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    for i in 0..5 {
        s.put("case", &format!("c{i}"), SELF_SUBJECT, b"x").unwrap();
    }
    s.put("case", "c0", SELF_SUBJECT, b"y").unwrap(); // an update does not change the count
    assert!(s.delete("case", "c4").unwrap());
    assert_eq!(s.list("case", None).unwrap().len(), 4);
    assert_eq!(s.list("case", Some(SELF_SUBJECT)).unwrap().len(), 4);
    assert_eq!(s.scan("case", Some(SELF_SUBJECT), None).unwrap().len(), 4);
    assert_eq!(s.list_tagged("case", "none-tagged").unwrap().len(), 0);
    assert!(matches!(s.get("case", "c4"), Err(Error::NotFound { .. })), "a real absence stays NotFound");
    // A row that vanished without its count (what a damaged page does).
    s.with_txn_raw(|tx| {
        tx.execute_batch("DROP TRIGGER record_counts_delete; DELETE FROM records WHERE id = 'c3';")?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.get("case", "c3"), Err(Error::Corrupted { .. })), "a lost record is damage, not absence");
    assert!(matches!(s.list("case", None), Err(Error::Corrupted { .. })), "a short list is damage");
    assert!(matches!(s.list_tagged("case", "pending"), Err(Error::Corrupted { .. })));
    // Other collections are unaffected.
    assert!(matches!(s.get("profile", "me"), Err(Error::NotFound { .. })));
}

/// Issue 11 (ADR 0031): the counts per (collection, subject, tag) that migration 14's triggers keep in the
/// write's own transaction follow every kind of write, and a subject's list reads its rows through them.
#[test]
fn kept_subject_counts_follow_every_write() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let a = s.create_subject(SubjectKind::Principal, "甲").unwrap();
    let b = s.create_subject(SubjectKind::Principal, "乙").unwrap();
    s.transaction(|t| {
        for i in 0..6 {
            let (subject, tag) = match i % 3 {
                0 => (a.as_str(), Some("open")),
                1 => (a.as_str(), None),
                _ => (b.as_str(), Some("open")),
            };
            t.put("case", &format!("c{i}"), subject, b"x", PutOptions { tag, lookup: None })?;
        }
        Ok(())
    })
    .unwrap();
    let counts = |s: &Store| {
        let mut v = s.tag_counts("case").unwrap();
        v.sort();
        v
    };
    let row = |subject: &str, tag: Option<&str>, n: i64| (subject.to_string(), tag.map(str::to_string), n);
    let mut want = vec![row(&a, Some("open"), 2), row(&a, None, 2), row(&b, Some("open"), 2)];
    want.sort();
    assert_eq!(counts(&s), want);
    // A tag changed, a record moved to another subject, one written again as it was, one deleted.
    s.transaction(|t| {
        t.set_tag("case", "c0", Some("done"))?;
        t.put("case", "c1", &b, b"y", PutOptions::default())?;
        t.put("case", "c2", &b, b"z", PutOptions { tag: Some("open"), lookup: None })?;
        t.delete("case", "c5")?;
        Ok(())
    })
    .unwrap();
    let mut want = vec![
        row(&a, Some("done"), 1),
        row(&a, Some("open"), 1),
        row(&a, None, 1),
        row(&b, None, 1),
        row(&b, Some("open"), 1),
    ];
    want.sort();
    assert_eq!(counts(&s), want);
    let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list("case", Some(&a)).unwrap()), ["c0", "c3", "c4"]);
    assert_eq!(ids(s.list("case", Some(&b)).unwrap()), ["c1", "c2"]);
    let open_a: Vec<String> =
        s.scan("case", Some(&a), Some("open")).unwrap().into_iter().map(|r| r.unwrap().id).collect();
    assert_eq!(open_a, ["c3"]);
    assert!(s.list("case", Some(SELF_SUBJECT)).unwrap().is_empty());
    // Erasing a subject leaves no count naming it (a count that reaches 0 is deleted).
    s.shred_subject(&a).unwrap();
    assert_eq!(counts(&s), vec![row(&b, None, 1), row(&b, Some("open"), 1)]);
    let naming_a: i64 = s
        .with_txn_raw(|tx| {
            Ok(tx.query_row("SELECT count(*) FROM record_subject_counts WHERE subject = ?1", [&a], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(naming_a, 0);
}

/// Issue 11 (ADR 0031), damage: a subject's list that disagrees with the count kept for the subject, or a tag
/// changed under it, or a kept count that disagrees with the collection's, is `Corrupted` — never a short
/// list or a wrong home.
#[test]
fn a_subjects_list_or_counts_that_disagree_with_the_kept_counts_are_corrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let a = s.create_subject(SubjectKind::Principal, "甲").unwrap();
    s.transaction(|t| {
        for i in 0..4 {
            let tag = if i % 2 == 0 { Some("open") } else { None };
            t.put("case", &format!("c{i}"), &a, b"x", PutOptions { tag, lookup: None })?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(s.list("case", Some(&a)).unwrap().len(), 4);
    // A tag changed under the count (a damaged page: no trigger runs): the tagged list is not short.
    s.with_txn_raw(|tx| {
        tx.execute_batch(
            "DROP TRIGGER record_subject_counts_update; UPDATE records SET tag = 'opem' WHERE id = 'c0';",
        )?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.scan("case", Some(&a), Some("open")), Err(Error::Corrupted { .. })), "a short tagged list");
    // A row lost without its counts: the subject's list is damage, not three records.
    s.with_txn_raw(|tx| {
        tx.execute_batch(
            "DROP TRIGGER record_counts_delete; DROP TRIGGER record_subject_counts_delete;
             DELETE FROM records WHERE id = 'c3';",
        )?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.list("case", Some(&a)), Err(Error::Corrupted { .. })), "a short list is damage");
    // A kept count changed: the counts no longer add up to the collection's.
    s.with_txn_raw(|tx| {
        tx.execute_batch("UPDATE record_subject_counts SET n = n + 1 WHERE collection = 'case' AND tag = '';")?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.tag_counts("case"), Err(Error::Corrupted { .. })));
    // Another collection is unaffected.
    assert!(s.tag_counts("profile").unwrap().is_empty());
}

/// A store at migration 13 (before the kept subject counts) opens, counts what it holds, and keeps counting.
#[test]
fn a_store_from_before_migration_14_counts_what_it_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    let a = s.create_subject(SubjectKind::Principal, "甲").unwrap();
    s.transaction(|t| {
        for i in 0..5 {
            let subject = if i < 3 { a.as_str() } else { SELF_SUBJECT };
            t.put("case", &format!("c{i}"), subject, b"x", PutOptions { tag: Some("queued"), lookup: None })?;
        }
        Ok(())
    })
    .unwrap();
    drop(s);
    // Back to the schema of migration 13, as an installed app left it.
    raw_db(&dir)
        .execute_batch(
            "DROP TRIGGER record_subject_counts_insert; DROP TRIGGER record_subject_counts_delete;
             DROP TRIGGER record_subject_counts_update; DROP INDEX records_collection_subject;
             DROP TABLE record_subject_counts; DELETE FROM schema_migrations WHERE id = 14;",
        )
        .unwrap();
    let s = Store::open(&dir, vault(tmp.path())).unwrap();
    let mut counts = s.tag_counts("case").unwrap();
    counts.sort();
    let mut want =
        vec![(a.clone(), Some("queued".to_string()), 3), (SELF_SUBJECT.to_string(), Some("queued".to_string()), 2)];
    want.sort();
    assert_eq!(counts, want);
    assert_eq!(s.list("case", Some(&a)).unwrap().len(), 3);
    s.put("case", "c9", &a, b"y").unwrap();
    assert_eq!(s.list("case", Some(&a)).unwrap().len(), 4);
}

/// Found by the byte-flip test (`salvage failed with WrongKey`, seed 6, a 64-bit trial): one bit of
/// `meta.vault_seal_key` flipped made open and salvage say `WrongKey` — damage called a wrong key (ADR 0003).
/// A store made before the seal key's digest gets it at its next unlock.
#[test]
fn a_damaged_vault_seal_key_is_damage_not_a_wrong_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    drop(Store::create(&dir, vault(tmp.path()), None).unwrap());
    raw_db(&dir).execute("DELETE FROM meta WHERE key = 'vault_seal_key_sha256'", []).unwrap();
    drop(Store::open(&dir, vault(tmp.path())).unwrap());
    let digests: i64 = raw_db(&dir)
        .query_row("SELECT count(*) FROM meta WHERE key = 'vault_seal_key_sha256'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(digests, 1, "the digest is added at the next unlock");
    let c = raw_db(&dir);
    let mut l: Vec<u8> = c.query_row("SELECT value FROM meta WHERE key = 'vault_seal_key'", [], |r| r.get(0)).unwrap();
    l[16] ^= 4;
    c.execute("UPDATE meta SET value = ?1 WHERE key = 'vault_seal_key'", [l]).unwrap();
    drop(c);
    let opened = Store::open(&dir, vault(tmp.path()));
    assert!(
        matches!(&opened, Err(Error::Corrupted { record, .. }) if record == "vault_seal_key"),
        "{:?}",
        opened.err()
    );
    let salvaged = salvage(&dir, vault(tmp.path()), None);
    assert!(matches!(&salvaged, Err(Error::Corrupted { .. })), "{:?}", salvaged.err());
}

/// Found by the byte-flip test (seed 20: open failed with `Storage("unsupported file format")`): a damaged
/// schema format number in the file header is damage.
#[test]
fn a_damaged_schema_format_number_is_corrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    drop(Store::create(&dir, vault(tmp.path()), None).unwrap());
    let mut bytes = fs::read(dir.join(DB_FILE)).unwrap();
    bytes[44..48].copy_from_slice(&9u32.to_be_bytes());
    fs::write(dir.join(DB_FILE), &bytes).unwrap();
    let opened = Store::open(&dir, vault(tmp.path()));
    assert!(matches!(&opened, Err(Error::Corrupted { .. })), "{:?}", opened.err());
}

/// A store on a [`FixedClock`] (with its boot clock) and a PIN, locked after five wrong tries.
fn locked_out(tmp: &Path, clock: Arc<crate::clock::FixedClock>) -> Store {
    let dir = tmp.join("s");
    let policy = PinPolicy { iterations: MIN_PIN_ITERATIONS, min_len: 6 };
    let s = Store::create_with(&dir, vault(tmp), Some("246810"), &policy, clock.clone()).unwrap();
    s.lock();
    for _ in 0..5 {
        let _ = s.unlock(Some("000000"));
    }
    assert_eq!(s.lockout_remaining().unwrap(), 30);
    s
}

/// Attack (finding 4): guessing the PIN through `change_pin` was free — the count was rolled back with the
/// failed transaction (eight wrong tries all said "4 left", then the right PIN worked).
#[test]
fn attack_pin_guesses_through_change_pin_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), Some("246810")).unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(match s.change_pin(Some("000000"), Some("135790")) {
            Err(Error::WrongPin { attempts_left }) => format!("left {attempts_left}"),
            Err(Error::Locked { .. }) => "locked".to_string(),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(seen, ["left 4", "left 3", "left 2", "left 1", "locked", "locked", "locked", "locked"]);
    // Even the right PIN waits now, through either door.
    assert!(matches!(s.change_pin(Some("246810"), Some("135790")), Err(Error::Locked { .. })));
    s.lock();
    assert!(matches!(s.unlock(Some("246810")), Err(Error::Locked { retry_after_secs }) if retry_after_secs > 0));
}

/// Attack (finding 5): setting the wall clock forward skipped the wait.
#[test]
fn attack_setting_the_clock_forward_does_not_skip_the_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(crate::clock::FixedClock::at(1_790_000_000));
    let s = locked_out(tmp.path(), clock.clone());
    clock.set(1_790_000_000 + 86_400 * 3); // the person sets the date three days on
    assert_eq!(s.lockout_remaining().unwrap(), 30);
    assert!(matches!(s.unlock(Some("246810")), Err(Error::Locked { retry_after_secs: 30 })));
    clock.advance(31); // the time really passes
    s.unlock(Some("246810")).unwrap();
}

/// Attack (finding 5): setting the wall clock back after failures locked the owner out for years.
#[test]
fn attack_setting_the_clock_back_does_not_lengthen_the_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(crate::clock::FixedClock::at(1_790_000_000));
    let s = locked_out(tmp.path(), clock.clone());
    clock.set(1_790_000_000 - 10 * 365 * 86_400);
    assert_eq!(s.lockout_remaining().unwrap(), 30, "never more than the delay itself");
    clock.advance(30);
    s.unlock(Some("246810")).unwrap();
}

/// A restart (the boot clock starts again) with the wall clock set forward: the wait counts from the
/// restart, since only the time since boot surely passed.
#[test]
fn a_restart_does_not_skip_the_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(crate::clock::FixedClock::at(1_790_000_000));
    let s = locked_out(tmp.path(), clock.clone());
    drop(s);
    clock.reboot();
    clock.set(1_790_000_000 + 86_400);
    let s = Store::open_with(&tmp.path().join("s"), vault(tmp.path()), clock.clone()).unwrap();
    assert_eq!(s.lockout_remaining().unwrap(), 30);
    clock.advance(12);
    assert_eq!(s.lockout_remaining().unwrap(), 18);
    clock.advance(18);
    s.unlock(Some("246810")).unwrap();
}

/// Without a boot clock the wall clock counts, but never backwards and never beyond the delay.
#[test]
fn without_a_boot_clock_the_wall_clock_counts_bounded() {
    #[derive(Debug)]
    struct WallOnly(crate::clock::FixedClock);
    impl Clock for WallOnly {
        fn now_micros(&self) -> i64 {
            self.0.now_micros()
        }
        fn now_secs(&self) -> i64 {
            self.0.now_secs()
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(WallOnly(crate::clock::FixedClock::at(1_790_000_000)));
    let dir = tmp.path().join("s");
    let policy = PinPolicy { iterations: MIN_PIN_ITERATIONS, min_len: 6 };
    let s = Store::create_with(&dir, vault(tmp.path()), Some("246810"), &policy, clock.clone()).unwrap();
    s.lock();
    for _ in 0..5 {
        let _ = s.unlock(Some("000000"));
    }
    assert_eq!(s.lockout_remaining().unwrap(), 30);
    clock.0.set(1_790_000_000 - 86_400 * 365);
    assert_eq!(s.lockout_remaining().unwrap(), 30, "bounded by the delay");
    clock.0.set(1_790_000_000 + 31);
    s.unlock(Some("246810")).unwrap();
}

/// Copies a store's folder (database, WAL, shared memory, attachments) as an attacker with file access
/// would, while the store is open.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Finding 3: an attacker copies the store's files before an agent erases a principal; afterwards, with
/// the current key material (the same platform vault, as malware running as the app can use it), the
/// copy must give nothing of the principal: no record, no label, no attachment, no audit detail.
#[test]
fn attack_a_copy_taken_before_a_shred_gives_nothing_of_the_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("case", "mine", SELF_SUBJECT, b"own data").unwrap();
    let p = s.create_subject(SubjectKind::Principal, "委托人 李奶奶").unwrap();
    s.put("case", "c1", &p, "{\"name\":\"李秀英\"}".as_bytes()).unwrap();
    let att = s.write_attachment(&p, "李秀英身份证.jpg", &mut &b"JPEG li xiuying"[..]).unwrap();
    s.audit(&crate::audit::NewEntry {
        actor: "agent-1",
        action: "agent.access",
        subject: &p,
        target: "c1",
        detail: serde_json::json!({"principal": "李秀英"}),
    })
    .unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    s.shred_subject(&p).unwrap();

    // The live store keeps nothing readable of the subject either: no label, no audit detail.
    let label = s.subjects().unwrap().into_iter().find(|x| x.id == p).unwrap().label;
    assert!(!label.contains("李奶奶"), "the live store still shows the label {label:?}");
    let details = format!("{:?}", s.audit_entries(None).unwrap());
    assert!(!details.contains("李秀英"), "the live store still shows the audit detail: {details}");
    assert_eq!(s.get("case", "mine").unwrap().body.as_slice(), b"own data");
    drop(s);

    // The attacker opens the copy with the vault as it is now.
    let Ok(c) = Store::open(&copy, v) else { return }; // nothing opens: nothing leaks
    assert!(c.get("case", "c1").is_err(), "the copy still reads the principal's record");
    assert!(c.read_attachment_to_vec(&att.id).is_err(), "the copy still reads the principal's attachment");
    if let Ok(subjects) = c.subjects() {
        let labels = format!("{subjects:?}");
        assert!(!labels.contains("李奶奶"), "the copy still shows the label: {labels}");
    }
    if let Ok(entries) = c.audit_entries(None) {
        let details = format!("{entries:?}");
        assert!(!details.contains("李秀英"), "the copy still shows the audit detail: {details}");
    }
}

/// A store with five audit entries, closed; returns its folder and vault.
fn audited_store(tmp: &Path) -> (PathBuf, Arc<dyn KeyVault>) {
    let dir = tmp.join("s");
    let v = vault(tmp);
    let s = Store::create(&dir, v.clone(), None).unwrap();
    for i in 0..5 {
        s.audit(&crate::audit::NewEntry {
            actor: "self",
            action: "licence.present",
            subject: SELF_SUBJECT,
            target: "lic-1",
            detail: serde_json::json!({ "to": "hotel", "i": i }),
        })
        .unwrap();
    }
    assert!(s.audit_verify().unwrap().is_intact());
    (dir, v)
}

/// Finding 7: an attacker with the files (not the keys) drops the last entries of the log, the ones that
/// show what was presented last. The log must say it was cut.
#[test]
fn attack_a_truncated_audit_log_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, v) = audited_store(tmp.path());
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit_log WHERE seq >= 4;").unwrap();
    drop(conn);
    let s = Store::open(&dir, v).unwrap();
    let verdict = s.audit_verify().unwrap();
    assert_eq!(verdict.first_broken, Some(4), "a log cut after entry 3 verified: {verdict:?}");
}

/// Finding 7: the attacker rewrites an entry and recomputes the chain after it with the published
/// formula (SHA-256 over the previous hash and the fields). Without a key the chain cannot be remade.
#[test]
fn attack_a_rewritten_and_rechained_audit_log_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, v) = audited_store(tmp.path());
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit_log SET action = 'licence.nothing' WHERE seq = 2;")
        .unwrap();
    type AuditRow = (i64, i64, String, String, String, String, Vec<u8>);
    let rows: Vec<AuditRow> = conn
        .prepare("SELECT seq, at, actor, action, subject, target, detail FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    // Entry 1 stays as written; from the rewritten entry 2 on, every link is remade.
    let mut prev: Vec<u8> = conn.query_row("SELECT hash FROM audit_log WHERE seq = 1", [], |r| r.get(0)).unwrap();
    for (seq, at, actor, action, subject, target, detail) in rows.into_iter().skip(1) {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"zhangban-audit-v1");
        ctx.update(&prev);
        ctx.update(&seq.to_be_bytes());
        ctx.update(&at.to_be_bytes());
        for part in [actor.as_bytes(), action.as_bytes(), subject.as_bytes(), target.as_bytes(), &detail] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let hash = ctx.finish().as_ref().to_vec();
        conn.execute("UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE seq = ?1", params![seq, prev, hash])
            .unwrap();
        prev = hash;
    }
    drop(conn);
    let s = Store::open(&dir, v).unwrap();
    let verdict = s.audit_verify().unwrap();
    assert_eq!(verdict.first_broken, Some(2), "a rewritten, re-chained log verified: {verdict:?}");
}

/// A copy of the format-1 store fixture in a fresh folder: the folder and the store's path in it.
fn format1_copy() -> (tempfile::TempDir, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-format1");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let dir = tmp.path().join("store");
    (tmp, dir)
}

/// The fixture's vault (its key file is in the copied folder).
fn format1_vault(tmp: &Path) -> Arc<dyn KeyVault> {
    Arc::new(FileVault::open_or_create(&tmp.join("vault.key")).unwrap())
}

/// A store written by the code of format 1 (`core/base/tests/fixtures/store-format1`, made at 6cf004b)
/// opens, upgrades at its first unlock, reads as before, and then erases a principal against a copy.
#[test]
fn a_format1_store_opens_and_migrates() {
    let (tmp, dir) = format1_copy();
    let v = format1_vault(tmp.path());
    let s = Store::open(&dir, v.clone()).unwrap();
    assert_eq!(s.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"张三丰\"}".as_bytes());
    let li = s.get("case", "c-li").unwrap();
    assert_eq!(li.subject, "p-li");
    assert_eq!(li.tag.as_deref(), Some("open"));
    assert_eq!(s.find_by_lookup("case", "110101194001011234").unwrap().len(), 1);
    // Migration 14 counted what the old store held: its subject lists read through the new counts.
    assert_eq!(s.tag_counts("case").unwrap(), vec![("p-li".to_string(), Some("open".to_string()), 1)]);
    assert_eq!(s.list("case", Some("p-li")).unwrap().len(), 1);
    assert_eq!(s.scan("case", Some("p-li"), Some("open")).unwrap().len(), 1);
    assert_eq!(s.list("draft", Some(SELF_SUBJECT)).unwrap().len(), 0);
    let subjects = s.subjects().unwrap();
    assert!(subjects.iter().any(|x| x.id == "p-li" && x.label == "委托人 李奶奶" && x.kind == SubjectKind::Principal));
    assert!(subjects.iter().any(|x| x.label == "母亲 王秀兰" && x.kind == SubjectKind::Family));
    let att = s.attachments().unwrap();
    assert_eq!(att.len(), 1);
    assert_eq!(att[0].name, "李秀英身份证.jpg");
    assert_eq!(s.read_attachment_to_vec(&att[0].id).unwrap(), b"JPEG li xiuying");
    let log = s.audit_entries(None).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].detail["purpose"], "hotel");
    assert_eq!(log[1].detail["principal"], "李秀英");
    assert_eq!(s.audit_verify().unwrap(), crate::audit::AuditVerification { entries: 2, first_broken: None });
    let format: Vec<u8> = s
        .with_txn_raw(|tx| Ok(tx.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(format, 2u64.to_be_bytes());
    // A second open reads the upgraded store as it is.
    drop(s);
    let s = Store::open(&dir, v.clone()).unwrap();
    assert_eq!(s.get("case", "c-li").unwrap().body.as_slice(), li.body.as_slice());
    // Erasure now holds against a copy taken after the upgrade.
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    s.shred_subject("p-li").unwrap();
    assert!(s.audit_entries(None).unwrap()[1].detail.is_null());
    assert!(s.audit_verify().unwrap().is_intact());
    drop(s);
    // Closing bound the erasure to the anchor (ADR 0036): the copy's own anchor is refused. The attacker puts
    // the current anchor's rows into the copy to pass that: the copy's ring key is still gone.
    assert!(matches!(Store::open(&copy, v.clone()), Err(Error::RolledBack)));
    put_current_anchor(&dir, &copy);
    assert!(matches!(Store::open(&copy, v), Err(Error::WrongKey)));
}

/// Copies the anchor's rows of the store in `from` into the files in `to` (an attacker passing the anchor).
fn put_current_anchor(from: &Path, to: &Path) {
    let rows: Vec<(String, Vec<u8>)> = {
        let c = raw_db(from);
        let mut st = c.prepare("SELECT key, value FROM meta WHERE key LIKE 'anchor%'").unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        rows
    };
    let c = raw_db(to);
    for (k, v) in rows {
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![k, v]).unwrap();
    }
}

/// A format-1 log that was tampered with before the upgrade stays reported as broken after it: the
/// upgrade re-chains with the key, but never launders a break.
#[test]
fn a_format1_log_broken_before_the_upgrade_stays_broken() {
    let (tmp, dir) = format1_copy();
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit_log SET target = 'lic-2' WHERE seq = 1;").unwrap();
    drop(conn);
    let v = format1_vault(tmp.path());
    let s = Store::open(&dir, v).unwrap();
    assert_eq!(s.audit_verify().unwrap().first_broken, Some(1));
}

/// Erasing a subject whose ring key the vault cannot destroy now finishes the erasure here and says so;
/// erasing it again, once the vault can, destroys the old ring key.
#[test]
fn an_erasure_the_vault_could_not_finish_is_finished_later() {
    struct Flaky(FileVault, std::sync::atomic::AtomicBool);
    impl KeyVault for Flaky {
        fn wrap(&self, a: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
            self.0.wrap(a, p)
        }
        fn unwrap(&self, a: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
            self.0.unwrap(a, w)
        }
        fn destroy(&self, a: &str) -> Result<(), VaultError> {
            if self.1.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(VaultError::Unavailable { detail: "busy".into() });
            }
            self.0.destroy(a)
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let flaky = Arc::new(Flaky(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap(), true.into()));
    let s = Store::create(&dir, flaky.clone(), None).unwrap();
    let p = s.create_subject(SubjectKind::Principal, "李奶奶").unwrap();
    s.put("case", "c1", &p, b"principal data").unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    assert!(matches!(s.shred_subject(&p), Err(Error::Io(_))));
    assert!(matches!(s.get("case", "c1"), Err(Error::NotFound { .. })));
    // Not destroyed yet: the copy still opens (this is what the error told).
    assert!(Store::open(&copy, flaky.clone()).is_ok());
    flaky.1.store(false, std::sync::atomic::Ordering::SeqCst);
    s.shred_subject(&p).unwrap();
    assert!(matches!(Store::open(&copy, flaky), Err(Error::WrongKey)));
}

/// Puts the copy at `from` back in place of the store's folder `to`, as an attacker with file access does.
fn put_back(from: &Path, to: &Path) {
    fs::remove_dir_all(to).unwrap();
    copy_dir(from, to);
}

/// Finding 10: the attacker copies the files while no PIN failure is counted, makes five guesses (the free
/// ones), puts the copy back, and guesses again: the count must not start over. The vault (outside the
/// app's files) is the anchor the copy cannot carry back.
#[test]
fn attack_putting_back_an_older_copy_does_not_reset_the_pin_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    Store::create(&dir, v.clone(), Some("246810")).unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    let s = Store::open(&dir, v.clone()).unwrap();
    for _ in 0..LOCKOUT_FREE_ATTEMPTS {
        assert!(s.unlock(Some("000000")).is_err());
    }
    assert!(s.lockout_remaining().unwrap() > 0);
    drop(s);
    put_back(&copy, &dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    match s.unlock(Some("111111")) {
        Err(Error::RolledBack) => {}
        other => panic!("a copy put back gave fresh guesses: {other:?}"),
    }
    // Not even the right PIN opens the copy: it is not the store any more.
    assert!(matches!(s.unlock(Some("246810")), Err(Error::RolledBack)));
}

/// Finding 10: a security-relevant change (here a used single-use grant, anchored) cannot be undone by
/// putting back the files of before; an ordinary one (a draft) does not move the anchor.
#[test]
fn attack_putting_back_the_files_of_before_an_anchored_change_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("draft", "d1", SELF_SUBJECT, b"typed").unwrap();
    drop(s);
    let before = tmp.path().join("before");
    copy_dir(&dir, &before);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.put("draft", "d1", SELF_SUBJECT, b"typed more").unwrap();
    drop(s);
    // Only drafts changed, but closing the store bound them to the anchor (ADR 0036): the copy is refused.
    let unanchored = tmp.path().join("unanchored");
    copy_dir(&before, &unanchored);
    assert!(matches!(Store::open(&unanchored, v.clone()), Err(Error::RolledBack)));
    let s = Store::open(&dir, v.clone()).unwrap();
    s.transaction(|t| {
        t.put("grant_used", "g1", SELF_SUBJECT, b"{}", PutOptions::default())?;
        t.anchor();
        Ok(())
    })
    .unwrap();
    drop(s);
    put_back(&before, &dir);
    assert!(matches!(Store::open(&dir, v), Err(Error::RolledBack)));
}

/// A store made before the anchor gets one at its first open, and a damaged anchor is damage, not a
/// rollback.
#[test]
fn a_store_gets_its_anchor_and_a_damaged_one_is_corrupted() {
    let (tmp, dir) = format1_copy();
    let v = format1_vault(tmp.path());
    let s = Store::open(&dir, v.clone()).unwrap();
    drop(s);
    // (Flipped once the store is closed: closing binds its changes, which writes a new anchor.)
    let blob: Vec<u8> =
        raw_db(&dir).query_row("SELECT value FROM meta WHERE key = 'anchor_blob'", [], |r| r.get(0)).unwrap();
    let mut flipped = blob.clone();
    flipped[5] ^= 1;
    raw_db(&dir).execute("UPDATE meta SET value = ?1 WHERE key = 'anchor_blob'", [flipped]).unwrap();
    assert!(matches!(Store::open(&dir, v), Err(Error::Corrupted { .. })));
}

/// The write generation of a collection grows with every insert, update (also a tag-only change and an
/// upsert) and delete of one of its records — through this store or another connection to the file — and
/// with nothing else (another collection, a setting, a read).
#[test]
fn write_generation_counts_every_write_of_the_collection_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    assert_eq!(s.generation("case").unwrap(), 0);
    s.put("case", "c1", SELF_SUBJECT, b"one").unwrap();
    let g1 = s.generation("case").unwrap();
    // One write is one step: the write sequence's own update of the row (migration 13) is not counted.
    assert_eq!(g1, 1);
    // Not bumped by reads, other collections or settings.
    s.get("case", "c1").unwrap();
    s.list("case", None).unwrap();
    s.put("outbox", "o1", SELF_SUBJECT, b"x").unwrap();
    s.set_setting("k", "v").unwrap();
    assert_eq!(s.generation("case").unwrap(), g1);
    // An upsert of the same id, a tag-only change, a delete: each bumps it.
    s.put("case", "c1", SELF_SUBJECT, b"two").unwrap();
    let g2 = s.generation("case").unwrap();
    assert_eq!(g2, g1 + 1);
    s.transaction(|t| t.set_tag("case", "c1", Some("accepted")).map(|_| ())).unwrap();
    let g3 = s.generation("case").unwrap();
    assert!(g3 > g2);
    assert!(s.delete("case", "c1").unwrap());
    let g4 = s.generation("case").unwrap();
    assert!(g4 > g3);
    // Through another connection (another store object over the same files).
    let other = Store::open(&dir, vault(tmp.path())).unwrap();
    other.put("case", "c2", SELF_SUBJECT, b"three").unwrap();
    drop(other);
    assert!(s.generation("case").unwrap() > g4);
    // A rolled-back write leaves it as it was.
    let g5 = s.generation("case").unwrap();
    let failed: Result<()> = s.transaction(|t| {
        t.put("case", "c3", SELF_SUBJECT, b"four", PutOptions::default())?;
        Err(Error::validation("x", "回滚", "roll back"))
    });
    assert!(failed.is_err());
    assert_eq!(s.generation("case").unwrap(), g5);
}

/// The change log (migration 12): what was written since a generation comes back — through this store or
/// another connection — and nothing else; a record that no longer passes the filter is `Dropped`; a delete
/// (which leaves no trace of its id) or more than `max` writes ask the cache to read everything again.
#[test]
fn the_change_log_gives_what_was_written_since_a_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    let all = |_: &str, _: Option<&str>, _: i64| true;
    let none_known = |_: &str, _: &[u8]| false;
    for i in 0..5 {
        s.put("case", &format!("c{i}"), SELF_SUBJECT, b"one").unwrap();
    }
    s.put("outbox", "o1", SELF_SUBJECT, b"x").unwrap();
    let g = s.generation("case").unwrap();
    assert!(s.scan_written_since("case", g, 10, &all, &none_known).unwrap().unwrap().is_empty());
    // One update and one insert: those two rows, decrypted; another collection's write is not among them.
    s.put("case", "c2", SELF_SUBJECT, b"two").unwrap();
    s.put("case", "c9", SELF_SUBJECT, b"new").unwrap();
    s.put("outbox", "o2", SELF_SUBJECT, b"y").unwrap();
    let got = s.scan_written_since("case", g, 10, &all, &none_known).unwrap().unwrap();
    let kept: Vec<(String, Vec<u8>)> = got
        .into_iter()
        .map(|w| match w {
            Written::Kept((id, _, Some(r))) => (id, r.unwrap().body.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kept, vec![("c2".to_string(), b"two".to_vec()), ("c9".to_string(), b"new".to_vec())]);
    // Known versions are not decrypted; a row the filter no longer keeps is Dropped.
    let g2 = s.generation("case").unwrap();
    s.transaction(|t| t.set_tag("case", "c3", Some("done")).map(|_| ())).unwrap();
    let untagged = |_: &str, tag: Option<&str>, _: i64| tag.is_none();
    let got = s.scan_written_since("case", g2, 10, &untagged, &|_, _| true).unwrap().unwrap();
    assert!(matches!(got.as_slice(), [Written::Dropped(id)] if id == "c3"), "{got:?}");
    let got = s.scan_written_since("case", g2, 10, &all, &|_, _| true).unwrap().unwrap();
    assert!(matches!(got.as_slice(), [Written::Kept((id, _, None))] if id == "c3"), "{got:?}");
    // Through another connection.
    let g3 = s.generation("case").unwrap();
    let other = Store::open(&dir, vault(tmp.path())).unwrap();
    other.put("case", "c4", SELF_SUBJECT, b"four").unwrap();
    drop(other);
    let got = s.scan_written_since("case", g3, 10, &all, &none_known).unwrap().unwrap();
    assert!(matches!(got.as_slice(), [Written::Kept((id, _, Some(_)))] if id == "c4"), "{got:?}");
    // More than `max` written: read everything.
    assert!(s.scan_written_since("case", g, 1, &all, &none_known).unwrap().is_none());
    // A rolled-back write leaves no entry.
    let g4 = s.generation("case").unwrap();
    let failed: Result<()> = s.transaction(|t| {
        t.put("case", "c7", SELF_SUBJECT, b"seven", PutOptions::default())?;
        Err(Error::validation("x", "回滚", "roll back"))
    });
    assert!(failed.is_err());
    assert!(s.scan_written_since("case", g4, 10, &all, &none_known).unwrap().unwrap().is_empty());
    // A delete: the log keeps no trace of the id, and a cache older than it must read everything.
    assert!(s.delete("case", "c1").unwrap());
    assert!(s.scan_written_since("case", g4, 10, &all, &none_known).unwrap().is_none());
    let n: i64 = s
        .with_txn_raw(|tx| Ok(tx.query_row("SELECT count(*) FROM record_changes WHERE id = 'c1'", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 0, "an erased record's id stays in the change log");
    // After the delete, a cache filled since reads incrementally again.
    let g5 = s.generation("case").unwrap();
    s.put("case", "c0", SELF_SUBJECT, b"zero").unwrap();
    assert_eq!(s.scan_written_since("case", g5, 10, &all, &none_known).unwrap().unwrap().len(), 1);
}

/// Byte-flip fault test, trial 44 (issue 14): a row whose collection name was damaged in the table, on a
/// page no index scan reached, still read through the normal path (which takes the collection from its
/// query) but salvage, trying only the names its scans gave, reported it damaged. Here the name is
/// damaged in the table and in the index too, so no path names it: salvage must still export it, under
/// its true collection, and only because that opening authenticates.
#[test]
fn salvage_exports_a_record_whose_collection_name_is_damaged_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    s.put("profile", "p1", SELF_SUBJECT, b"profile body").unwrap();
    s.put("case", "c1", SELF_SUBJECT, b"case body").unwrap();
    s.put("licence", "l1", SELF_SUBJECT, b"licence body").unwrap();
    drop(s); // checkpoints the WAL into the file
    let mut bytes = fs::read(dir.join(DB_FILE)).unwrap();
    let (good, bad) = (b"casec1", b"ca{ec1"); // one bit: 's' ^ 0x08; "ca{e" still sorts between "case" and "licence"
    let mut hits = 0;
    for at in 0..bytes.len() - good.len() {
        if &bytes[at..at + good.len()] == good {
            bytes[at..at + good.len()].copy_from_slice(bad);
            hits += 1;
        }
    }
    assert!(hits >= 2, "the name is in the table and in its index: {hits}");
    fs::write(dir.join(DB_FILE), &bytes).unwrap();
    // The normal path cannot find it by its name: damage, not absence (record format 2: found at the unlock
    // already, where the rows no longer match their kept counts).
    match Store::open(&dir, vault(tmp.path())) {
        Ok(s) => assert!(matches!(s.get("case", "c1"), Err(Error::Corrupted { .. }))),
        Err(e) => assert!(matches!(e, Error::Corrupted { .. }), "{e:?}"),
    }
    let got = salvage(&dir, vault(tmp.path()), None).unwrap();
    let case = got.records.iter().find(|r| r.id == "c1").expect("case c1 exported");
    assert_eq!((case.collection.as_str(), case.body.as_slice()), ("case", &b"case body"[..]));
    assert_eq!(got.records.len(), 3, "{:?}", got.damaged);
    assert!(got.damaged.is_empty(), "{:?}", got.damaged);
}

/// Byte-flip fault test (the rare flake on main): a flip in `schema_migrations` lost the row of an applied
/// migration; the open ran it again and failed with `Storage("table attachments already exists")`. The
/// list no longer matching the schema is damage: `Corrupted`, and nothing is written.
#[test]
fn an_applied_migration_missing_from_the_list_is_corrupted_not_a_storage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, vault(tmp.path()), None).unwrap();
    s.put("profile", "p1", SELF_SUBJECT, b"x").unwrap();
    drop(s);
    for lost in [2, 13] {
        let c = Connection::open(dir.join(DB_FILE)).unwrap();
        let row: (String, i64) = c
            .query_row("SELECT name, applied_at FROM schema_migrations WHERE id = ?1", [lost], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        c.execute("DELETE FROM schema_migrations WHERE id = ?1", [lost]).unwrap();
        drop(c);
        match Store::open(&dir, vault(tmp.path())) {
            Err(Error::Corrupted { table, record }) => {
                assert_eq!((table.as_str(), record.as_str()), ("schema_migrations", lost.to_string().as_str()))
            }
            other => panic!("migration {lost} lost from the list: {:?}", other.map(|_| ())),
        }
        let c = Connection::open(dir.join(DB_FILE)).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (id, name, applied_at) VALUES (?1, ?2, ?3)",
            params![lost, row.0, row.1],
        )
        .unwrap();
        drop(c);
        assert_eq!(Store::open(&dir, vault(tmp.path())).unwrap().get("profile", "p1").unwrap().body.as_slice(), b"x");
    }
}

// ---- finding 10 (one record written back in place) and finding 14 (record AAD splice) ------------------

/// The raw database of a closed store, as an attacker with the files has it.
fn raw_db(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE)).unwrap()
}

type RawCols = (String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);

fn raw_row(c: &Connection, collection: &str, id: &str) -> RawCols {
    c.query_row(
        "SELECT subject, tag, lookup, body, updated_at FROM records WHERE collection = ?1 AND id = ?2",
        params![collection, id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .unwrap()
}

fn write_back(c: &Connection, collection: &str, id: &str, row: &RawCols) {
    let n = c
        .execute(
            "UPDATE records SET subject = ?3, tag = ?4, lookup = ?5, body = ?6, updated_at = ?7
             WHERE collection = ?1 AND id = ?2",
            params![collection, id, row.0, row.1, row.2, row.3, row.4],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Finding 10: the attacker keeps an old ciphertext of one record (a used single-use grant's record before
/// it was used; an outbox entry before it was sent) and writes it back in its row, the rest of the file
/// current; or deletes the row. The next open must refuse the files, not read the old value as valid.
#[test]
fn attack_an_older_row_written_back_in_place_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put_with(
        "outbox",
        "op-1",
        SELF_SUBJECT,
        b"{\"state\":\"pending\"}",
        PutOptions { tag: Some("pending"), lookup: None },
    )
    .unwrap();
    s.put("grant_used", "g1", SELF_SUBJECT, b"{\"expires\":1}").unwrap();
    s.put("profile", "me", SELF_SUBJECT, b"old profile").unwrap();
    drop(s);
    let c = raw_db(&dir);
    let (old_op, old_grant, old_profile) =
        (raw_row(&c, "outbox", "op-1"), raw_row(&c, "grant_used", "g1"), raw_row(&c, "profile", "me"));
    drop(c);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.put_with("outbox", "op-1", SELF_SUBJECT, b"{\"state\":\"sent\"}", PutOptions { tag: Some("sent"), lookup: None })
        .unwrap();
    s.transaction(|t| t.set_tag("outbox", "op-1", Some("done")).map(|_| ())).unwrap();
    s.put("grant_used", "g1", SELF_SUBJECT, b"{\"expires\":2}").unwrap();
    s.put("profile", "me", SELF_SUBJECT, b"new profile").unwrap();
    s.put("grant_used", "g2", SELF_SUBJECT, b"{\"expires\":3}").unwrap();
    drop(s);
    let current = tmp.path().join("current");
    copy_dir(&dir, &current);
    assert!(Store::open(&dir, v.clone()).is_ok(), "the store as written opens");

    // The old outbox entry written back in place (it would be sent again): refused.
    write_back(&raw_db(&dir), "outbox", "op-1", &old_op);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));
    // Its tag alone set back (a plaintext column): refused too — record format 2 binds the tag in the
    // record's associated data, so the row no longer opens (damage to the head's check).
    put_back(&current, &dir);
    raw_db(&dir).execute("UPDATE records SET tag = 'pending' WHERE collection = 'outbox'", []).unwrap();
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::Corrupted { .. })));
    // The used grant's old record: refused.
    put_back(&current, &dir);
    write_back(&raw_db(&dir), "grant_used", "g1", &old_grant);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));
    // A row deleted (the record of a used grant gone: the grant usable again): refused.
    put_back(&current, &dir);
    // (Through SQL: the triggers keep the counts, as an attacker would.)
    raw_db(&dir).execute("DELETE FROM records WHERE collection = 'grant_used' AND id = 'g2'", []).unwrap();
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));
    // The head itself deleted: the anchor (in the vault) says the store keeps one, so it is damage.
    put_back(&current, &dir);
    raw_db(&dir).execute("DELETE FROM meta WHERE key = 'record_head'", []).unwrap();
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::Corrupted { .. })));
    // A damaged row of a covered collection is damage, not a rollback.
    put_back(&current, &dir);
    let mut damaged = raw_row(&raw_db(&dir), "grant_used", "g1");
    damaged.3[20] ^= 1;
    write_back(&raw_db(&dir), "grant_used", "g1", &damaged);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::Corrupted { .. })));
    // Ordinary collections are in the head too since record format 2 (ADR 0033): an older profile, refused.
    put_back(&current, &dir);
    write_back(&raw_db(&dir), "profile", "me", &old_profile);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));
    // Writes through the store keep the head: every covered write, delete and erasure, then a clean open.
    put_back(&current, &dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    let p = s.create_subject(SubjectKind::Principal, "李奶奶").unwrap();
    s.put("outbox", "op-p", &p, b"{}").unwrap();
    s.transaction(|t| t.delete("grant_used", "g2").map(|_| ())).unwrap();
    s.shred_subject(&p).unwrap();
    drop(s);
    assert!(Store::open(&dir, v).is_ok());
}

/// Makes the open, unlocked store `s` look as the code of record format 1 (before ADR 0033) left it: every
/// record sealed with the associated data of format 1, the envelope (the same data key) under the alias of
/// then, no record format in `meta`, a head of the covered collections only, bound to the anchor.
fn to_record_format1(s: &Store) {
    let mut g = s.guard();
    let Inner { conn, unlocked } = &mut *g;
    let u = unlocked.as_mut().unwrap();
    type Row = (i64, String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);
    let rows: Vec<Row> = conn
        .prepare("SELECT seq, collection, id, subject, tag, lookup, body, updated_at FROM records")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (seq, c, id, subject, tag, lookup, body, at) in rows {
        let rec = decode_row(conn, u, &c, (seq, id.clone(), subject.clone(), tag, lookup, body, at)).unwrap();
        let key = subject_key(conn, u, &subject).unwrap();
        let sealed = crypto::seal(&key, &record_aad_v1(&c, &id, &subject).unwrap(), &rec.body).unwrap();
        conn.execute("UPDATE records SET body = ?2 WHERE seq = ?1", params![seq, sealed]).unwrap();
    }
    let meta = |k: &str| keys::meta_get(conn, k).unwrap().unwrap();
    let id = s.store_id.clone();
    let (rekeyed, anchored) = (format!("zhangban.store.{id}.rekeyed"), format!("zhangban.store.{id}.anchored"));
    let plain_len = if keys::meta_get(conn, "pin_params").unwrap().is_some() { 32 + crypto::OVERHEAD } else { 32 };
    let sealed = s.vault.unwrap(&rekeyed, &meta("envelope")).unwrap();
    let (inner, _) = keys::open_secret(conn, &rekeyed, sealed, plain_len).unwrap();
    let envelope = keys::wrap_secret(conn, s.vault.as_ref(), &anchored, &inner).unwrap();
    keys::meta_set(conn, "envelope", &envelope).unwrap();
    keys::meta_set(conn, "envelope_sha256", &keys::envelope_digest(conn, &envelope).unwrap()).unwrap();
    conn.execute("DELETE FROM meta WHERE key = ?1", [keys::RECORD_FORMAT_META]).unwrap();
    let head = heads::start_covered_for_test(conn, &u.keys.data, &u.keys.head).unwrap();
    anchor::advance(conn, s.vault.as_ref(), &id, anchor::Heads::Bound(head.bind())).unwrap();
    anchor::destroy_old(conn, s.vault.as_ref(), &id).unwrap();
    s.vault.destroy(&rekeyed).unwrap();
    u.records_v2 = false;
}

fn meta_opt(c: &Connection, k: &str) -> Option<Vec<u8>> {
    c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0)).optional().unwrap()
}

/// Makes the closed store at `dir` look as the code before the rollback anchor left it: its envelope under
/// the alias of then, no anchor, no record head, no digests.
fn as_made_before_the_anchor(dir: &Path, v: &dyn KeyVault) {
    let c = raw_db(dir);
    let meta = |k: &str| c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get::<_, Vec<u8>>(0)).unwrap();
    let id = String::from_utf8(meta("store_id")).unwrap();
    let alias = format!("zhangban.store.{id}.anchored");
    let sealed = v.unwrap(&alias, &meta("envelope")).unwrap();
    let plain_len = if meta_opt(&c, "pin_params").is_some() { 32 + crypto::OVERHEAD } else { 32 };
    let (inner, _) = keys::open_secret(&c, &alias, sealed, plain_len).unwrap();
    let legacy = v.wrap(&format!("zhangban.store.{id}"), &inner).unwrap();
    c.execute("UPDATE meta SET value = ?1 WHERE key = 'envelope'", [legacy]).unwrap();
    c.execute(
        "DELETE FROM meta WHERE key IN ('record_head', 'anchor_epoch', 'anchor_blob', 'anchor_sha256',
         'anchor_destroyed_below', 'envelope_sha256', 'canary_sha256')",
        [],
    )
    .unwrap();
}

/// A store made before the head gets one at its first unlock; from then on the check holds.
#[test]
fn a_store_without_a_head_gets_one_and_is_checked_from_then_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("grant_used", "g1", SELF_SUBJECT, b"{}").unwrap();
    to_record_format1(&s);
    drop(s);
    // As made before the head and the anchor: no head, no anchor, the envelope under the old alias.
    as_made_before_the_anchor(&dir, v.as_ref());
    // The first unlock gives it the head (and seals its records again: record format 2).
    drop(Store::open(&dir, v.clone()).unwrap());
    let old = raw_row(&raw_db(&dir), "grant_used", "g1");
    let s = Store::open(&dir, v.clone()).unwrap();
    s.put("grant_used", "g1", SELF_SUBJECT, b"{\"used\":true}").unwrap();
    drop(s);
    write_back(&raw_db(&dir), "grant_used", "g1", &old);
    assert!(matches!(Store::open(&dir, v), Err(Error::RolledBack)));
}

/// Finding 14: the record's associated data joined collection and id with '/', so collection `a/b`, id `c`
/// and collection `a`, id `b/c` had the same: a row moved from one to the other read as valid.
#[test]
fn attack_a_record_spliced_across_the_collection_id_boundary_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("a", "b/c", SELF_SUBJECT, b"secret of a").unwrap();
    drop(s);
    raw_db(&dir).execute("UPDATE records SET collection = 'a/b', id = 'c' WHERE collection = 'a'", []).unwrap();
    // Record format 2 puts every collection in the head: the moved row is refused at the unlock already (its
    // collection's kept count no longer matches its rows: damage).
    if let Err(e) = Store::open(&dir, v.clone()) {
        assert!(matches!(e, Error::Corrupted { .. }), "{e:?}");
        return;
    }
    let s = Store::open(&dir, v).unwrap();
    let got = s.get("a/b", "c");
    assert!(got.as_ref().map_or(true, |r| r.body.as_slice() != b"secret of a"), "read as valid: {got:?}");
    assert!(got.is_err());
    assert!(s.put("a/b", "c", SELF_SUBJECT, b"x").is_err(), "no collection name with '/'");
}

// ---- the record head bound to the rollback anchor (finding 10, the gap found by reading) ----------------

/// What an attacker with the files copies of the covered collections at one moment: every row of them and
/// every `meta` row of the head (`record_head…`), the anchor's rows (`anchor_…`) left as they are.
type FullRow = (String, String, String, Option<String>, Option<Vec<u8>>, Vec<u8>, i64);

struct CoveredCopy {
    rows: Vec<FullRow>,
    head: Vec<(String, Vec<u8>)>,
}

fn covered_list() -> String {
    HEADED.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
}

fn copy_covered(dir: &Path) -> CoveredCopy {
    let c = raw_db(dir);
    let mut st = c
        .prepare(&format!(
            "SELECT collection, id, subject, tag, lookup, body, updated_at FROM records
             WHERE collection IN ({}) ORDER BY seq",
            covered_list()
        ))
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut st = c.prepare("SELECT key, value FROM meta WHERE key LIKE 'record_head%'").unwrap();
    let head: Vec<(String, Vec<u8>)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap();
    assert!(!head.is_empty(), "the store keeps a head");
    CoveredCopy { rows, head }
}

/// Puts the copied rows and head back in place of the current ones (every other row, the anchor's among
/// them, current). Through SQL, so the kept counts follow.
fn put_back_covered(dir: &Path, copy: &CoveredCopy) {
    let c = raw_db(dir);
    c.execute(&format!("DELETE FROM records WHERE collection IN ({})", covered_list()), []).unwrap();
    for r in &copy.rows {
        c.execute(
            "INSERT INTO records (collection, id, subject, tag, lookup, body, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![r.0, r.1, r.2, r.3, r.4, r.5, r.6],
        )
        .unwrap();
    }
    c.execute("DELETE FROM meta WHERE key LIKE 'record_head%'", []).unwrap();
    for (k, v) in &copy.head {
        c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![k, v]).unwrap();
    }
}

/// Finding 10, the gap found by reading (ADR 0025 left it): an older head put back *together with* every
/// covered row of its moment passes the head check (the rows make that head), and the anchor's meta rows,
/// left current, pass the anchor check — unless the head is bound to the anchor. Here the rows of before a
/// single-use grant was used.
#[test]
fn attack_an_older_head_put_back_with_all_its_rows_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put_with("outbox", "op-1", SELF_SUBJECT, b"{\"n\":1}", PutOptions { tag: Some("pending"), lookup: None })
        .unwrap();
    s.transaction(|t| {
        t.put("grant_used", "g0", SELF_SUBJECT, b"{}", PutOptions::default())?;
        t.anchor();
        Ok(())
    })
    .unwrap();
    drop(s);
    let before = copy_covered(&dir);

    // The single-use grant g1 is used (as the wallet records it: its row and the anchor in one transaction).
    let s = Store::open(&dir, v.clone()).unwrap();
    s.transaction(|t| {
        t.put("grant_used", "g1", SELF_SUBJECT, b"{}", PutOptions::default())?;
        t.anchor();
        Ok(())
    })
    .unwrap();
    drop(s);
    let current = tmp.path().join("current");
    copy_dir(&dir, &current);
    put_back_covered(&dir, &before);
    match Store::open(&dir, v.clone()) {
        Err(Error::RolledBack) => {}
        Ok(s) => panic!(
            "the older head and its rows were accepted: the used grant's record is {}",
            if s.get_opt("grant_used", "g1").unwrap().is_some() { "there" } else { "gone (usable again)" }
        ),
        Err(e) => panic!("not refused as a rollback: {e:?}"),
    }

    // A damaged head is damage, not a rollback.
    put_back(&current, &dir);
    let mut head = raw_db(&dir)
        .query_row("SELECT value FROM meta WHERE key = 'record_head'", [], |r| r.get::<_, Vec<u8>>(0))
        .unwrap();
    head[20] ^= 1;
    raw_db(&dir).execute("UPDATE meta SET value = ?1 WHERE key = 'record_head'", [head]).unwrap();
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::Corrupted { .. })));

    // The outbox part is bound at the next bind (ADR 0036: closing or locking the store), not at each
    // outbox write. An outbox entry sent, the store closed, then the older head and rows put back: refused.
    put_back(&current, &dir);
    let before = copy_covered(&dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.transaction(|t| t.set_tag("outbox", "op-1", Some("sent")).map(|_| ())).unwrap();
    drop(s);
    let current = tmp.path().join("current2");
    copy_dir(&dir, &current);
    put_back_covered(&dir, &before);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));

    // The store as written opens.
    put_back(&current, &dir);
    assert!(Store::open(&dir, v).is_ok());
}

/// A store whose anchor is of the version before the binding (version 2: "keeps a head", not which) opens,
/// is bound at that unlock, and from then on the older head with its rows is refused.
#[test]
fn a_store_anchored_before_the_binding_is_bound_at_its_first_unlock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("grant_used", "g0", SELF_SUBJECT, b"{}").unwrap();
    to_record_format1(&s);
    {
        // As the code before the binding left it: a head of one part, an anchor of version 2.
        let mut g = s.guard();
        let Inner { conn, unlocked } = &mut *g;
        let keys = &unlocked.as_ref().unwrap().keys;
        heads::save_whole_for_test(conn, &keys.data, &keys.head).unwrap();
        anchor::advance(conn, v.as_ref(), s.store_id(), anchor::Heads::Kept).unwrap();
        anchor::destroy_old(conn, v.as_ref(), s.store_id()).unwrap();
    }
    drop(s);
    let before = copy_covered(&dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.transaction(|t| {
        t.put("grant_used", "g1", SELF_SUBJECT, b"{}", PutOptions::default())?;
        t.anchor();
        Ok(())
    })
    .unwrap();
    drop(s);
    put_back_covered(&dir, &before);
    // The copy is of before the first unlock, which also sealed every record again (record format 2,
    // ADR 0033): its rows no longer authenticate either, so the refusal may name the damage.
    assert!(matches!(Store::open(&dir, v), Err(Error::RolledBack | Error::Corrupted { .. })));
}

/// The crash window before a commit: the vault made the key of the next epoch, and the transaction never
/// committed (killed; a torn WAL may still hold the blob it wrapped). The next move to that epoch must not
/// wrap under the same key, or that blob would open as the anchor of the epoch.
#[test]
fn a_key_made_for_an_epoch_that_never_committed_is_not_reused() {
    struct Recording(FileVault, Mutex<Vec<(String, Vec<u8>)>>);
    impl KeyVault for Recording {
        fn wrap(&self, a: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
            let w = self.0.wrap(a, p)?;
            self.1.lock().unwrap().push((a.to_string(), w.clone()));
            Ok(w)
        }
        fn unwrap(&self, a: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
            self.0.unwrap(a, w)
        }
        fn destroy(&self, a: &str) -> Result<(), VaultError> {
            self.0.destroy(a)
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = Arc::new(Recording(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap(), Mutex::default()));
    let s = Store::create(&dir, v.clone(), None).unwrap();
    {
        let g = s.guard();
        g.conn.execute_batch("BEGIN").unwrap();
        anchor::advance(&g.conn, v.as_ref(), s.store_id(), anchor::Heads::None).unwrap();
        g.conn.execute_batch("ROLLBACK").unwrap();
    }
    let (alias, orphan) = v.1.lock().unwrap().last().cloned().unwrap();
    s.transaction(|t| {
        t.put("grant_used", "g1", SELF_SUBJECT, b"{}", PutOptions::default())?;
        t.anchor();
        Ok(())
    })
    .unwrap();
    assert_eq!(v.1.lock().unwrap().last().unwrap().0, alias, "the same epoch was made again");
    assert!(matches!(v.unwrap(&alias, &orphan), Err(VaultError::UnwrapFailed)), "the orphan blob still opens");
    drop(s);
    assert!(Store::open(&dir, v).is_ok());
}

/// Finding 10, found while closing the head gap: a store without the anchor's meta rows was taken for one
/// made before the anchor existed, and got a fresh anchor. So an older copy put back *with its anchor rows
/// deleted* passed: five fresh PIN guesses after every restore, a used grant usable again.
#[test]
fn attack_an_older_copy_with_its_anchor_rows_deleted_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    Store::create(&dir, v.clone(), Some("246810")).unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    let s = Store::open(&dir, v.clone()).unwrap();
    for _ in 0..LOCKOUT_FREE_ATTEMPTS {
        assert!(s.unlock(Some("000000")).is_err());
    }
    drop(s);
    put_back(&copy, &dir);
    raw_db(&dir).execute("DELETE FROM meta WHERE key LIKE 'anchor%'", []).unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    match s.unlock(Some("111111")) {
        Err(Error::RolledBack | Error::Corrupted { .. }) => {}
        other => panic!("the copy without its anchor rows gave fresh guesses: {other:?}"),
    }

    // A store without a PIN: a used grant's record gone with the anchor rows.
    let dir = tmp.path().join("t");
    let s = Store::create(&dir, v.clone(), None).unwrap();
    drop(s);
    let copy = tmp.path().join("copy-t");
    copy_dir(&dir, &copy);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.transaction(|t| {
        t.put("grant_used", "g1", SELF_SUBJECT, b"{}", PutOptions::default())?;
        t.anchor();
        Ok(())
    })
    .unwrap();
    drop(s);
    put_back(&copy, &dir);
    raw_db(&dir).execute("DELETE FROM meta WHERE key LIKE 'anchor%'", []).unwrap();
    let got = Store::open(&dir, v.clone());
    assert!(matches!(got, Err(Error::RolledBack | Error::Corrupted { .. })), "accepted: {got:?}");

    // A store of before the anchor gets one, and its envelope moves to the anchored alias: a copy of its
    // files from before (no anchor to check) opens no more.
    let dir = tmp.path().join("u");
    let s = Store::create(&dir, v.clone(), Some("246810")).unwrap();
    to_record_format1(&s);
    drop(s);
    as_made_before_the_anchor(&dir, v.as_ref());
    let copy = tmp.path().join("copy-u");
    copy_dir(&dir, &copy);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.unlock(Some("246810")).unwrap();
    for _ in 0..LOCKOUT_FREE_ATTEMPTS {
        assert!(s.unlock(Some("000000")).is_err());
    }
    drop(s);
    put_back(&copy, &dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    let got = s.unlock(Some("111111"));
    assert!(
        matches!(got, Err(Error::WrongKey | Error::RolledBack | Error::Corrupted { .. })),
        "fresh guesses: {got:?}"
    );
}

/// Finding 10, found with the one above: salvage read past a damaged anchor, counting PIN attempts on the
/// files' own count. An older copy put back with one byte of its anchor flipped gave fresh guesses through
/// salvage. A store with a PIN is not salvaged past a damaged anchor.
#[test]
fn attack_salvage_past_a_damaged_anchor_gives_no_fresh_guesses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    Store::create(&dir, v.clone(), Some("246810")).unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    let s = Store::open(&dir, v.clone()).unwrap();
    for _ in 0..LOCKOUT_FREE_ATTEMPTS {
        assert!(s.unlock(Some("000000")).is_err());
    }
    drop(s);
    put_back(&copy, &dir);
    let c = raw_db(&dir);
    let mut blob: Vec<u8> = c.query_row("SELECT value FROM meta WHERE key = 'anchor_blob'", [], |r| r.get(0)).unwrap();
    blob[3] ^= 1;
    c.execute("UPDATE meta SET value = ?1 WHERE key = 'anchor_blob'", [blob]).unwrap();
    drop(c);
    match salvage(&dir, v.clone(), Some("111111")) {
        Err(Error::Corrupted { .. } | Error::RolledBack) => {}
        other => panic!("salvage gave a fresh guess: {:?}", other.map(|_| "salvaged")),
    }
    // A store without a PIN is still salvaged past a damaged anchor (no guesses to protect).
    let dir = tmp.path().join("t");
    drop(Store::create(&dir, v.clone(), None).unwrap());
    raw_db(&dir).execute("DELETE FROM meta WHERE key = 'anchor_sha256'", []).unwrap();
    raw_db(&dir).execute("UPDATE meta SET value = x'00' WHERE key = 'anchor_blob'", []).unwrap();
    assert!(salvage(&dir, v, None).is_ok());
}

// ---- record format 2: ordinary collections (finding 10, the rest; ADR 0033) --------------------------------

/// Finding 10, the rest: an attacker with the files keeps an older sealed row of an ordinary record — a case
/// before it was rejected, a draft before an edit — and writes it back in place (or deletes a row), the
/// rest of the files current. The store must refuse the files at the next unlock, not read the old case
/// as valid. Failed on `e74b46c`: the store opened and `get("case", "c1")` read the old "submitted" case.
#[test]
fn attack_an_older_case_written_back_in_place_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let v = vault(tmp.path());
    for pin in [None, Some("246810")] {
        let dir = tmp.path().join(if pin.is_some() { "pin" } else { "plain" });
        let s = Store::create(&dir, v.clone(), pin).unwrap();
        let p = s.create_subject(SubjectKind::Principal, "委托人 李奶奶").unwrap();
        let case = |state: &'static str| PutOptions { tag: Some(state), lookup: Some("110101194001011234") };
        s.put_with("case", "c1", &p, b"{\"state\":\"submitted\"}", case("submitted")).unwrap();
        s.put("draft", "d1", SELF_SUBJECT, b"{\"name\":\"old\"}").unwrap();
        s.put("draft", "d2", SELF_SUBJECT, b"{\"name\":\"other\"}").unwrap();
        drop(s);
        let c = raw_db(&dir);
        let (old_case, old_draft) = (raw_row(&c, "case", "c1"), raw_row(&c, "draft", "d1"));
        drop(c);
        let s = Store::open(&dir, v.clone()).unwrap();
        if pin.is_some() {
            s.unlock(pin).unwrap();
        }
        s.put_with("case", "c1", &p, b"{\"state\":\"rejected\"}", case("rejected")).unwrap();
        s.put("draft", "d1", SELF_SUBJECT, b"{\"name\":\"new\"}").unwrap();
        drop(s);
        let current = tmp.path().join("current");
        let _ = fs::remove_dir_all(&current);
        copy_dir(&dir, &current);
        let open = |what: &str| {
            let got = Store::open(&dir, v.clone()).and_then(|s| {
                s.unlock(pin)?;
                Ok(s)
            });
            match got {
                Err(Error::RolledBack) => {}
                Ok(s) => panic!("{what} (pin {pin:?}): read as valid: {:?}", s.get("case", "c1").map(|r| r.tag)),
                Err(e) => panic!("{what} (pin {pin:?}): {e:?}"),
            }
        };
        write_back(&raw_db(&dir), "case", "c1", &old_case);
        open("the older case");
        if pin.is_some() {
            // Checked at the unlock, before any record is read. (The attempt just counted moved the rollback
            // epoch: `current` is now itself an older copy, refused as such.)
            continue;
        }
        put_back(&current, &dir);
        write_back(&raw_db(&dir), "draft", "d1", &old_draft);
        open("the older draft");
        put_back(&current, &dir);
        let c = raw_db(&dir);
        // (Through SQL: the triggers keep the counts, as an attacker would.)
        c.execute("DELETE FROM records WHERE collection = 'draft' AND id = 'd2'", []).unwrap();
        drop(c);
        open("a deleted draft");
        // The store as written opens, and reads what was written last.
        put_back(&current, &dir);
        let s = Store::open(&dir, v.clone()).unwrap();
        s.unlock(pin).unwrap();
        assert_eq!(s.get("case", "c1").unwrap().tag.as_deref(), Some("rejected"));
    }
}

/// Finding 10, the rest: the plaintext columns of a record — its tag (a case's state for the lists), its
/// keyed lookup (which ID number finds it), its `updated_at` — changed in the file are detected when the
/// record is read (`Corrupted`, naming it): record format 2 binds them in its associated data. Failed on
/// `e74b46c`: each read returned the record with the changed column.
#[test]
fn attack_a_changed_tag_lookup_or_time_of_a_record_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    let p = s.create_subject(SubjectKind::Principal, "委托人 李奶奶").unwrap();
    s.put_with("case", "c1", &p, b"{\"who\":\"li\"}", PutOptions { tag: Some("submitted"), lookup: Some("A-1") })
        .unwrap();
    s.put_with("case", "c2", &p, b"{\"who\":\"wang\"}", PutOptions { tag: Some("submitted"), lookup: Some("B-2") })
        .unwrap();
    drop(s);
    let current = tmp.path().join("current");
    copy_dir(&dir, &current);
    let corrupted = |r: Result<Vec<Record>>, what: &str| match r {
        Err(Error::Corrupted { table, record }) => {
            assert_eq!((table.as_str(), record.as_str()), ("records/case", "c1"))
        }
        other => {
            panic!("{what}: {:?}", other.map(|v| v.iter().map(|r| (r.id.clone(), r.tag.clone())).collect::<Vec<_>>()))
        }
    };
    // The tag: the case listed as approved.
    raw_db(&dir).execute("UPDATE records SET tag = 'approved' WHERE id = 'c1'", []).unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    corrupted(s.get("case", "c1").map(|r| vec![r]), "tag: get");
    corrupted(s.list_tagged("case", "approved"), "tag: list_tagged");
    assert_eq!(s.get("case", "c2").unwrap().tag.as_deref(), Some("submitted"), "the other case still reads");
    drop(s);
    // The lookup: c2's keyed hash copied onto c1, so looking up c2's ID number finds c1.
    put_back(&current, &dir);
    raw_db(&dir)
        .execute("UPDATE records SET lookup = (SELECT lookup FROM records WHERE id = 'c2') WHERE id = 'c1'", [])
        .unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    corrupted(s.find_by_lookup("case", "B-2"), "lookup: find_by_lookup");
    drop(s);
    // The time: a month earlier (out of a "recent" filter, or first in an oldest-first list).
    put_back(&current, &dir);
    raw_db(&dir).execute("UPDATE records SET updated_at = updated_at - 2592000 WHERE id = 'c1'", []).unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    corrupted(s.get("case", "c1").map(|r| vec![r]), "updated_at: get");
    corrupted(s.list("case", None), "updated_at: list");
    drop(s);
    // The subject: the record moved to the owner.
    put_back(&current, &dir);
    raw_db(&dir).execute("UPDATE records SET subject = 'self' WHERE id = 'c1'", []).unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    corrupted(s.list("case", Some(SELF_SUBJECT)), "subject: list");
}

/// Finding 3, the rest: a copy of the files taken before the store's upgrade to format 2 holds each subject
/// key sealed under the data key alone. Erasing the principal after the upgrade destroyed her ring key, but
/// the data key was the same: whoever gets it from the live store (the vault, and the PIN if any) opened the
/// old copy's wrapped key, then her records in that copy. The upgrade to record format 2 rotates the data key
/// (a new key under a new vault alias; the old aliases destroyed). Failed on `e74b46c`: the old copy's
/// wrapped key opened under the live store's data key and gave her case ("李秀英").
#[test]
fn attack_a_copy_taken_before_the_format2_upgrade_gives_nothing_of_an_erased_principal() {
    let (tmp, dir) = format1_copy();
    let v = Arc::new(DestroyHolds(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap(), Mutex::default()));
    let old = tmp.path().join("old");
    copy_dir(&dir, &old);
    let s = Store::open(&dir, v.clone()).unwrap();
    assert!(s.get("case", "c-li").is_ok());
    s.shred_subject("p-li").unwrap();
    // The attacker's two halves: the old copy's rows, and the live store's data key.
    let c = raw_db(&old);
    let wrapped: Vec<u8> = c.query_row("SELECT wrapped_key FROM subjects WHERE id = 'p-li'", [], |r| r.get(0)).unwrap();
    let case = raw_row(&c, "case", "c-li");
    drop(c);
    let recovered =
        s.read(|_, u| Ok(crypto::open(&u.keys.data, &crypto::aad("subjects", "p-li", "key"), &wrapped))).unwrap();
    if let Some(raw) = recovered {
        let key = crypto::aead_key(&raw).unwrap();
        let body = crypto::open(&key, &record_aad_v1("case", "c-li", "p-li").unwrap(), &case.3);
        panic!("the erased principal's key opened: {:?}", body.map(|b| String::from_utf8_lossy(&b).into_owned()));
    }
    drop(s);
    // The old copy itself, with the vault as it is now: its envelope's alias no longer exists.
    assert!(matches!(Store::open(&old, v.clone()), Err(Error::WrongKey)));
    // The live store reads as before.
    let s = Store::open(&dir, v).unwrap();
    assert_eq!(s.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"张三丰\"}".as_bytes());
}

/// A vault whose destruction holds for every blob (as Keystore and Keychain do): the `FileVault` of the
/// format-1 fixture made blobs of its first format, which ignore the destruction of their alias
/// (docs/SECURITY.md, the `FileVault` limits).
struct DestroyHolds(FileVault, Mutex<Vec<String>>);
impl KeyVault for DestroyHolds {
    fn wrap(&self, a: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.1.lock().unwrap().retain(|d| d != a);
        self.0.wrap(a, p)
    }
    fn unwrap(&self, a: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
        if self.1.lock().unwrap().iter().any(|d| d == a) {
            return Err(VaultError::UnwrapFailed);
        }
        self.0.unwrap(a, w)
    }
    fn destroy(&self, a: &str) -> Result<(), VaultError> {
        self.1.lock().unwrap().push(a.to_string());
        self.0.destroy(a)
    }
}

/// A copy of `core/base/tests/fixtures/store-e74b46c` (a store written by main before record format 2).
fn main_fixture_copy() -> (tempfile::TempDir, Arc<dyn KeyVault>) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-e74b46c");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let v: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap());
    (tmp, v)
}

/// A store written by main at `e74b46c` (record format 1) opens, is upgraded at its first unlock (every
/// record sealed again, every collection in the head, the data key rotated under a new alias), reads as
/// before — records, lookups, tags, subjects, attachments, the audit log — and is protected from then on.
#[test]
fn a_store_written_by_main_opens_and_migrates() {
    let (tmp, v) = main_fixture_copy();
    let dir = tmp.path().join("store");
    let before = tmp.path().join("before");
    copy_dir(&dir, &before);
    let s = Store::open(&dir, v.clone()).unwrap();
    assert_eq!(s.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"张三丰\"}".as_bytes());
    let li = s.get("case", "c-li").unwrap();
    assert_eq!((li.subject.as_str(), li.tag.as_deref()), ("p-li", Some("open")));
    assert_eq!(s.find_by_lookup("case", "110101194001011234").unwrap().len(), 1);
    assert_eq!(s.get("draft", "d-mum").unwrap().subject, "f-mum");
    assert_eq!(s.list_tagged("outbox", "pending").unwrap().len(), 1);
    assert!(s.get("grant_used", "g-1").is_ok());
    let subjects = s.subjects().unwrap();
    assert!(subjects.iter().any(|x| x.id == "p-li" && x.label == "委托人 李奶奶"));
    let att = s.attachments().unwrap();
    assert_eq!((att.len(), att[0].name.as_str()), (1, "李秀英身份证.jpg"));
    assert_eq!(s.read_attachment_to_vec(&att[0].id).unwrap(), b"JPEG li xiuying");
    let log = s.audit_entries(None).unwrap();
    assert_eq!(
        (log[0].detail["purpose"].as_str(), log[1].detail["principal"].as_str()),
        (Some("hotel"), Some("李秀英"))
    );
    assert!(s.audit_verify().unwrap().is_intact());
    let format = s.with_txn_raw(|tx| keys::record_format(tx)).unwrap();
    assert_eq!(format, 2);
    // Writes after the upgrade; a second open reads them.
    s.put_with("case", "c-li", "p-li", b"{\"state\":\"done\"}", PutOptions { tag: Some("done"), lookup: None })
        .unwrap();
    drop(s);
    let old_case = raw_row(&raw_db(&dir), "case", "c-li");
    let s = Store::open(&dir, v.clone()).unwrap();
    assert_eq!(s.get("case", "c-li").unwrap().tag.as_deref(), Some("done"));
    s.put_with("case", "c-li", "p-li", b"{\"state\":\"closed\"}", PutOptions { tag: Some("closed"), lookup: None })
        .unwrap();
    drop(s);
    // From now on an ordinary record written back is refused.
    let current = tmp.path().join("current");
    copy_dir(&dir, &current);
    write_back(&raw_db(&dir), "case", "c-li", &old_case);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));
    put_back(&current, &dir);
    // The files of before the upgrade name a data key whose vault alias is destroyed.
    assert!(matches!(Store::open(&before, v.clone()), Err(Error::WrongKey)));
    // The store with a PIN: the wrong PIN is still wrong, the right one unlocks (the rotated key is wrapped
    // in the PIN layer again), and again after a reopen.
    let pdir = tmp.path().join("pinstore");
    let p = Store::open(&pdir, v.clone()).unwrap();
    assert!(matches!(p.unlock(Some("000000")), Err(Error::WrongPin { .. })));
    p.unlock(Some("246810")).unwrap();
    assert_eq!(p.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"王五\"}".as_bytes());
    drop(p);
    let p = Store::open(&pdir, v.clone()).unwrap();
    assert!(matches!(p.unlock(Some("000000")), Err(Error::WrongPin { .. })));
    p.unlock(Some("246810")).unwrap();
    assert_eq!(p.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"王五\"}".as_bytes());
    p.change_pin(Some("246810"), Some("135790")).unwrap();
    drop(p);
    let p = Store::open(&pdir, v).unwrap();
    p.unlock(Some("135790")).unwrap();
    assert!(p.get("profile", "me").is_ok());
}

/// A vault whose destruction can be made to fail (the attacker keeps the platform's key store busy, or the
/// process is stopped at that moment): everything else works.
struct DestroyFails(FileVault, std::sync::atomic::AtomicBool);
impl KeyVault for DestroyFails {
    fn wrap(&self, a: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.wrap(a, p)
    }
    fn unwrap(&self, a: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.unwrap(a, w)
    }
    fn destroy(&self, a: &str) -> Result<(), VaultError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(VaultError::Unavailable { detail: "busy".into() });
        }
        self.0.destroy(a)
    }
}

/// The crash window after a commit (SECURITY.md "Not yet", ADR 0030): an anchored change committed, and the
/// previous epoch's key not destroyed (the process killed, or the vault failing at that moment), so the files
/// of one change back still pass as current. The change's result must not have been released then: a used
/// grant answered, a PIN guess answered. Failed on `e74b46c`: the anchored change returned `Ok` with the
/// old key alive (and its files of before, put back, opened without the record), and a wrong PIN was
/// answered `WrongPin` while the copy with one attempt fewer still opened.
#[test]
fn attack_nothing_is_released_while_the_epoch_of_before_lives() {
    use std::sync::atomic::Ordering;
    let tmp = tempfile::tempdir().unwrap();
    let v = Arc::new(DestroyFails(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap(), false.into()));
    // A store without a PIN: a single-use grant's use.
    let dir = tmp.path().join("s");
    let s = Store::create(&dir, v.clone(), None).unwrap();
    let anchored = |s: &Store, id: &str| {
        s.transaction(|t| {
            t.put("grant_used", id, SELF_SUBJECT, b"{}", PutOptions::default())?;
            t.anchor();
            Ok("grant accepted")
        })
    };
    anchored(&s, "g0").unwrap();
    drop(s);
    let before = tmp.path().join("before");
    copy_dir(&dir, &before);
    let s = Store::open(&dir, v.clone()).unwrap();
    v.1.store(true, Ordering::SeqCst);
    match anchored(&s, "g1") {
        Err(Error::Io(_)) => {}
        other => panic!("released while the epoch of before lives: {other:?}"),
    }
    drop(s);
    // Once the vault works again, the next open destroys it: the files of before are refused.
    v.1.store(false, Ordering::SeqCst);
    let s = Store::open(&dir, v.clone()).unwrap();
    assert!(s.get("grant_used", "g1").is_ok(), "the change stayed committed");
    drop(s);
    let cur = tmp.path().join("cur");
    copy_dir(&dir, &cur);
    put_back(&before, &dir);
    assert!(matches!(Store::open(&dir, v.clone()), Err(Error::RolledBack)));
    put_back(&cur, &dir);

    // A store with a PIN: no guess is answered while the copy with fewer attempts would still open.
    let dir = tmp.path().join("p");
    Store::create(&dir, v.clone(), Some("246810")).unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    assert!(matches!(s.unlock(Some("000000")), Err(Error::WrongPin { attempts_left: 4 })));
    v.1.store(true, Ordering::SeqCst);
    match s.unlock(Some("111111")) {
        Err(Error::Io(_)) => {}
        other => panic!("a guess answered while the epoch of before lives: {other:?}"),
    }
    v.1.store(false, Ordering::SeqCst);
    assert!(matches!(s.unlock(Some("222222")), Err(Error::WrongPin { attempts_left: 2 })), "the attempt counted");
    s.unlock(Some("246810")).unwrap();
}

/// The record format in `meta` damaged or deleted is damage (`Corrupted`), never a wrong key, and never a
/// way to run the upgrade again (which would take the head from the rows as they are).
#[test]
fn a_damaged_or_deleted_record_format_is_corrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("case", "c1", SELF_SUBJECT, b"{}").unwrap();
    drop(s);
    let current = tmp.path().join("current");
    copy_dir(&dir, &current);
    for damage in [
        "DELETE FROM meta WHERE key = 'record_format'",
        "UPDATE meta SET value = x'0000000000000000' WHERE key = 'record_format'",
        "UPDATE meta SET value = x'02' WHERE key = 'record_format'",
    ] {
        put_back(&current, &dir);
        raw_db(&dir).execute(damage, []).unwrap();
        match Store::open(&dir, v.clone()) {
            Err(Error::Corrupted { table, record }) => {
                assert_eq!((table.as_str(), record.as_str()), ("meta", "record_format"))
            }
            other => panic!("{damage}: {other:?}"),
        }
    }
    put_back(&current, &dir);
    assert!(Store::open(&dir, v).is_ok());
}

// ---- ADR 0036: the ordinary and outbox parts bound, the PIN state vouched for, settings authenticated ----

/// Finding 10 (a): the attacker copies the files (a drafted case, an outbox entry pending), the person goes
/// on (the case submitted, the entry sent) and locks the app; the attacker puts the copy back — the whole
/// copy, or its rows and head with the anchor's rows left current. Neither may open as the current store.
#[test]
fn attack_ordinary_and_outbox_changes_put_back_with_their_head_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), Some("246810")).unwrap();
    s.put_with("case", "c1", SELF_SUBJECT, b"{\"state\":\"draft\"}", PutOptions { tag: Some("draft"), lookup: None })
        .unwrap();
    s.put_with("outbox", "op-1", SELF_SUBJECT, b"{\"n\":1}", PutOptions { tag: Some("pending"), lookup: None })
        .unwrap();
    s.lock();
    let before = tmp.path().join("before");
    copy_dir(&dir, &before);

    s.unlock(Some("246810")).unwrap();
    s.put_with(
        "case",
        "c1",
        SELF_SUBJECT,
        b"{\"state\":\"submitted\"}",
        PutOptions { tag: Some("submitted"), lookup: None },
    )
    .unwrap();
    s.transaction(|t| t.set_tag("outbox", "op-1", Some("sent")).map(|_| ())).unwrap();
    s.lock();
    drop(s);
    let current = tmp.path().join("current");
    copy_dir(&dir, &current);

    // The whole copy (anchor rows of before included).
    put_back(&before, &dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    match s.unlock(Some("246810")) {
        Err(Error::RolledBack) => {}
        Ok(()) => panic!(
            "the copy of before opened: the case reads {:?}, the outbox entry {:?}",
            s.get("case", "c1").unwrap().tag,
            s.get("outbox", "op-1").unwrap().tag
        ),
        Err(e) => panic!("not refused as a rollback: {e:?}"),
    }
    drop(s);

    // The store as written opens and reads what was written last (its unlock moves the epoch: copied again).
    put_back(&current, &dir);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.unlock(Some("246810")).unwrap();
    assert_eq!(s.get("case", "c1").unwrap().tag.as_deref(), Some("submitted"));
    assert_eq!(s.get("outbox", "op-1").unwrap().tag.as_deref(), Some("sent"));
    drop(s);

    // Every row and the head of before, the anchor's rows current.
    {
        let old = raw_db(&before.clone());
        let c = raw_db(&dir);
        c.execute("DELETE FROM records", []).unwrap();
        let mut st = old.prepare("SELECT collection, id, subject, tag, lookup, body, updated_at FROM records").unwrap();
        let rows: Vec<heads::Row> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for r in rows {
            c.execute(
                "INSERT INTO records (collection, id, subject, tag, lookup, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![r.0, r.1, r.2, r.3, r.4, r.5, r.6],
            )
            .unwrap();
        }
        let mut st = old.prepare("SELECT key, value FROM meta WHERE key LIKE 'record_head%'").unwrap();
        let head: Vec<(String, Vec<u8>)> =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        c.execute("DELETE FROM meta WHERE key LIKE 'record_head%'", []).unwrap();
        for (k, val) in head {
            c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![k, val]).unwrap();
        }
    }
    let s = Store::open(&dir, v.clone()).unwrap();
    match s.unlock(Some("246810")) {
        Err(Error::RolledBack) => {}
        Ok(()) => panic!("the rows and head of before opened: the case reads {:?}", s.get("case", "c1").unwrap().tag),
        Err(e) => panic!("not refused as a rollback: {e:?}"),
    }
}

/// Finding 10 (b): the count of wrong PINs is a `meta` row. The attacker who has used the five free guesses
/// (and is made to wait) edits the count and the time of the last failure in the SQLite file: no fresh
/// guesses, no shorter wait.
#[test]
fn attack_the_pin_count_edited_in_the_file_gives_no_fresh_guesses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    Store::create(&dir, v.clone(), Some("246810")).unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    for _ in 0..LOCKOUT_FREE_ATTEMPTS {
        assert!(s.unlock(Some("000000")).is_err());
    }
    let wait = s.lockout_remaining().unwrap();
    assert!(wait > 0);
    drop(s);
    {
        let c = raw_db(&dir);
        c.execute("UPDATE meta SET value = ?1 WHERE key = 'pin_failures'", [0u64.to_be_bytes().to_vec()]).unwrap();
        c.execute("UPDATE meta SET value = ?1 WHERE key = 'pin_last_failure'", [0u64.to_be_bytes().to_vec()]).unwrap();
        c.execute("DELETE FROM meta WHERE key = 'pin_last_failure_boot'", []).unwrap();
    }
    let s = Store::open(&dir, v.clone()).unwrap();
    match s.unlock(Some("111111")) {
        Err(Error::Locked { retry_after_secs }) => assert!(retry_after_secs > 0 && retry_after_secs <= wait),
        other => panic!("the edited count gave a fresh guess: {other:?}"),
    }
    // The right PIN waits too; the wait is the vault's.
    assert!(matches!(s.unlock(Some("246810")), Err(Error::Locked { .. })));
    assert!(s.lockout_remaining().unwrap() > 0);
    drop(s);

    // The right PIN, once the wait is over, resets the count for good: a later wrong guess has four left.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = tmp2.path().join("s");
    let v2 = vault(tmp2.path());
    Store::create(&dir2, v2.clone(), Some("246810")).unwrap();
    let s = Store::open(&dir2, v2.clone()).unwrap();
    assert!(matches!(s.unlock(Some("000000")), Err(Error::WrongPin { attempts_left: 4 })));
    s.unlock(Some("246810")).unwrap();
    drop(s);
    let s = Store::open(&dir2, v2).unwrap();
    assert!(matches!(s.unlock(Some("000000")), Err(Error::WrongPin { attempts_left: 4 })));
}

/// Finding 10 (b): plaintext settings are `meta` rows. The attacker edits the lock delay in the SQLite file
/// (the app then stays unlocked in the background for an hour), and puts back an older setting with
/// everything the file kept of it: the edit is not believed, the older value is refused.
#[test]
fn attack_a_setting_edited_or_put_back_in_the_file_is_not_believed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), Some("246810")).unwrap();
    s.set_lock_after_background(0).unwrap();
    s.set_setting("agent.retention_days", "30").unwrap();
    assert_eq!(s.lock_after_background().unwrap(), Some(0));
    s.lock();
    drop(s);
    raw_db(&dir)
        .execute(
            "UPDATE meta SET value = CAST('3600' AS BLOB) WHERE key = ?1",
            [format!("setting.{LOCK_AFTER_SETTING}")],
        )
        .unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    s.unlock(Some("246810")).unwrap();
    assert_eq!(
        s.lock_after_background().unwrap(),
        Some(DEFAULT_LOCK_AFTER_SECS),
        "the delay edited in the file was believed"
    );
    match s.setting(LOCK_AFTER_SETTING) {
        Err(Error::Corrupted { table, record }) => {
            assert_eq!(table, "meta");
            assert_eq!(record, format!("setting.{LOCK_AFTER_SETTING}"));
        }
        other => panic!("an edited setting read as {other:?}"),
    }
    // Setting it again mends it; the other setting reads as set.
    s.set_lock_after_background(0).unwrap();
    assert_eq!(s.lock_after_background().unwrap(), Some(0));
    assert_eq!(s.setting("agent.retention_days").unwrap().as_deref(), Some("30"));
    s.lock();
    let old: Vec<(String, Vec<u8>)> = {
        let c = raw_db(&dir);
        let mut st = c.prepare("SELECT key, value FROM meta WHERE key LIKE 'setting%retention_days'").unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        rows
    };
    assert_eq!(old.len(), 2, "the setting and its tag");
    s.unlock(Some("246810")).unwrap();
    s.set_setting("agent.retention_days", "7").unwrap();
    s.lock();
    drop(s);
    {
        let c = raw_db(&dir);
        for (k, val) in &old {
            c.execute("UPDATE meta SET value = ?2 WHERE key = ?1", params![k, val]).unwrap();
        }
    }
    let s = Store::open(&dir, v.clone()).unwrap();
    match s.unlock(Some("246810")) {
        Err(Error::RolledBack) => {}
        Ok(()) => panic!("the older setting was put back: {:?}", s.setting("agent.retention_days")),
        Err(e) => panic!("not refused as a rollback: {e:?}"),
    }
}

/// Finding 10 (c): the head is checked at unlock; the attacker (malware with the files, another process)
/// changes rows *under an open store* — an older ciphertext of a case written back whole (every column of
/// its moment, so it authenticates), a draft deleted through SQL (the kept count follows). Each read of them
/// must refuse, not serve the older state.
#[test]
fn attack_a_row_changed_under_an_open_store_is_refused_at_its_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put_with("case", "c1", SELF_SUBJECT, b"{\"state\":\"draft\"}", PutOptions { tag: Some("draft"), lookup: None })
        .unwrap();
    s.put("draft", "d1", SELF_SUBJECT, b"typed").unwrap();
    s.put("draft", "d2", SELF_SUBJECT, b"typed too").unwrap();
    // What the store itself writes and deletes reads as written; a failed transaction leaves no version.
    let _ = s.transaction(|t| {
        t.put("draft", "d3", SELF_SUBJECT, b"x", PutOptions::default())?;
        Err::<(), _>(Error::validation("x", "中止", "abort"))
    });
    assert!(matches!(s.get("draft", "d3"), Err(Error::NotFound { .. })));
    s.put("draft", "d4", SELF_SUBJECT, b"gone soon").unwrap();
    s.delete("draft", "d4").unwrap();
    assert!(matches!(s.get("draft", "d4"), Err(Error::NotFound { .. })));
    assert_eq!(s.list("draft", None).unwrap().len(), 2);

    let old = raw_row(&raw_db(&dir), "case", "c1");
    s.put_with(
        "case",
        "c1",
        SELF_SUBJECT,
        b"{\"state\":\"submitted\"}",
        PutOptions { tag: Some("submitted"), lookup: None },
    )
    .unwrap();
    let current = raw_row(&raw_db(&dir), "case", "c1");
    // The store stays open (unlocked); the attacker writes through another connection.
    write_back(&raw_db(&dir), "case", "c1", &old);
    match s.get("case", "c1") {
        Err(Error::RolledBack) => {}
        other => panic!("the older case written back under the open store read as {:?}", other.map(|r| r.tag)),
    }
    assert!(matches!(s.list("case", None), Err(Error::RolledBack)));
    assert!(matches!(s.get("draft", "d1"), Err(Error::RolledBack)), "a store found rolled back serves nothing");
    // The current row put back: the file makes its head again, and the store reads on.
    write_back(&raw_db(&dir), "case", "c1", &current);
    assert_eq!(s.get("case", "c1").unwrap().tag.as_deref(), Some("submitted"));

    raw_db(&dir).execute("DELETE FROM records WHERE collection = 'draft' AND id = 'd2'", []).unwrap();
    match s.get("draft", "d2") {
        Err(Error::RolledBack) => {}
        other => panic!("a draft deleted under the open store read as {:?}", other.map(|r| r.id)),
    }
    match s.list("draft", None) {
        Err(Error::RolledBack) => {}
        other => panic!("the list without the deleted draft read as {:?}", other.map(|v| v.len())),
    }
}

/// The platform's gate as the Keystore / Keychain keep it (finding 6): whether an alias's key is gated is
/// fixed when the key is made (by the core's rule, as both shells make it), and a gated key opens only
/// within the validity time after the person authenticated. The crypto is a `FileVault`'s.
struct PlatformGate {
    inner: FileVault,
    gated: std::sync::Mutex<std::collections::HashSet<String>>,
    aliases: std::sync::Mutex<std::collections::BTreeSet<String>>,
    present: std::sync::atomic::AtomicBool,
}

impl PlatformGate {
    fn new(dir: &Path) -> PlatformGate {
        PlatformGate {
            inner: FileVault::open_or_create(&dir.join("gate.key")).unwrap(),
            gated: Default::default(),
            aliases: Default::default(),
            present: std::sync::atomic::AtomicBool::new(true),
        }
    }
    fn present(&self, on: bool) {
        self.present.store(on, std::sync::atomic::Ordering::SeqCst);
    }
    fn check(&self, alias: &str) -> Result<(), VaultError> {
        let mut aliases = self.aliases.lock().unwrap();
        if aliases.insert(alias.to_string()) && vault_key_needs_user_authentication(alias) {
            self.gated.lock().unwrap().insert(alias.to_string());
        }
        if self.gated.lock().unwrap().contains(alias) && !self.present.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(VaultError::NeedsUserAuthentication);
        }
        Ok(())
    }
}

impl KeyVault for PlatformGate {
    fn wrap(&self, alias: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.check(alias)?;
        self.inner.wrap(alias, p)
    }
    fn unwrap(&self, alias: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.check(alias)?;
        self.inner.unwrap(alias, w)
    }
    fn destroy(&self, alias: &str) -> Result<(), VaultError> {
        self.gated.lock().unwrap().remove(alias);
        self.inner.destroy(alias)
    }
}

/// Finding 6, the attack itself rather than the gate's refusal: the attacker copies the store's files and
/// calls the platform vault as the app (malware on a rooted phone), without the person. They take every value
/// the files hold, ask the vault to unwrap it under every alias the vault has a key for, open what comes back
/// with the store's own seal L (it is in the files), and try the right PIN against each result as the PIN
/// layer: if any opened, all 10⁶ PINs could be tried offline. Nothing may open. Through the core, the same
/// copy says `NeedsUserAuthentication` and counts no attempt. The limit is asserted too (docs/SECURITY.md):
/// within the validity time after the person authenticated, the gated key opens for any caller of the app.
#[test]
fn attack_the_files_and_the_vault_without_the_person_give_nothing_to_search_pins_against() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let gate = Arc::new(PlatformGate::new(tmp.path()));
    let v: Arc<dyn KeyVault> = gate.clone();
    let s = Store::create(&dir, v.clone(), Some("246810")).unwrap();
    s.put("profile", "me", SELF_SUBJECT, "张三 110101199003074578".as_bytes()).unwrap();
    s.lock();
    drop(s);
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    gate.present(false);

    let c = raw_db(&copy);
    let params_row: Vec<u8> = c.query_row("SELECT value FROM meta WHERE key = 'pin_params'", [], |r| r.get(0)).unwrap();
    let (salt, iters) = params_row.split_at(16);
    let pin = keys::pin_key("246810", salt, u32::from_be_bytes([iters[0], iters[1], iters[2], iters[3]])).unwrap();
    let values: Vec<(String, Vec<u8>)> = {
        let mut st = c.prepare("SELECT key, CAST(value AS BLOB) FROM meta").unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        rows
    };
    let aliases: Vec<String> = gate.aliases.lock().unwrap().iter().cloned().collect();
    assert!(aliases.iter().any(|a| vault_key_needs_user_authentication(a)), "the envelope's key is gated: {aliases:?}");
    let (mut refused, mut opened) = (0, 0);
    for (key, value) in &values {
        for alias in &aliases {
            match v.unwrap(alias, value) {
                Err(VaultError::NeedsUserAuthentication) => refused += 1,
                Err(_) => {}
                Ok(out) => {
                    opened += 1;
                    let inner = match keys::open_secret(&c, alias, out.clone(), 32 + crypto::OVERHEAD) {
                        Ok((inner, _)) => inner.to_vec(),
                        Err(_) => out,
                    };
                    assert!(
                        crypto::open(&pin, &crypto::aad("meta", "envelope", "pin"), &inner).is_none(),
                        "meta.{key} unwrapped under {alias} without the person is the PIN-sealed data key"
                    );
                }
            }
        }
    }
    assert!(refused > 0 && opened > 0, "the attack tried gated and ungated keys ({refused} refused, {opened} opened)");

    // Through the core: refused before any PIN is tried; no attempt counted.
    let s = Store::open(&copy, v.clone()).unwrap();
    for _ in 0..7 {
        assert!(matches!(s.unlock(Some("246810")), Err(Error::NeedsUserAuthentication)));
    }
    assert_eq!(s.lockout_remaining().unwrap(), 0);
    drop(s);

    // The limit: once the person has authenticated (their own unlock), the gated key opens for the validity
    // time to any caller of the app — the envelope then gives the PIN-sealed key (docs/SECURITY.md).
    gate.present(true);
    let envelope = values.iter().find(|(k, _)| k == "envelope").map(|(_, v)| v.clone()).unwrap();
    let inside = aliases
        .iter()
        .filter(|a| vault_key_needs_user_authentication(a))
        .find_map(|a| v.unwrap(a, &envelope).ok().map(|out| keys::open_secret(&c, a, out, 0).unwrap().0.to_vec()))
        .expect("the envelope opens within the window");
    assert!(crypto::open(&pin, &crypto::aad("meta", "envelope", "pin"), &inside).is_some());
}

/// A store written by main at `2dd5546` (anchor payload v3, a head without generations or settings, settings
/// without tags, two wrong PINs counted: `tests/fixtures/store-2dd5546`) opens, reads as before, is sealed in
/// the formats of ADR 0036 at its first unlock, and from then on an edited setting or PIN count is not believed.
#[test]
fn a_store_written_by_2dd5546_opens_and_is_bound_from_its_first_unlock() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-2dd5546");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let v: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap());
    let dir = tmp.path().join("store");
    let s = Store::open(&dir, v.clone()).unwrap();
    assert_eq!(s.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"张三丰\"}".as_bytes());
    assert_eq!(s.get("case", "c-li").unwrap().tag.as_deref(), Some("open"));
    assert_eq!(s.list_tagged("outbox", "pending").unwrap().len(), 1);
    assert!(s.get("grant_used", "g-1").is_ok());
    assert!(s.audit_verify().unwrap().is_intact());
    assert_eq!(s.setting("agent.retention_days").unwrap().as_deref(), Some("30"));
    s.put("draft", "d-new", SELF_SUBJECT, b"after the upgrade").unwrap();
    drop(s);
    let s = Store::open(&dir, v.clone()).unwrap();
    assert_eq!(s.get("draft", "d-new").unwrap().body.as_slice(), b"after the upgrade");
    drop(s);
    // From now on a setting edited in the file is not believed.
    raw_db(&dir)
        .execute("UPDATE meta SET value = CAST('3650' AS BLOB) WHERE key = 'setting.agent.retention_days'", [])
        .unwrap();
    let s = Store::open(&dir, v.clone()).unwrap();
    assert!(matches!(s.setting("agent.retention_days"), Err(Error::Corrupted { .. })));
    drop(s);

    // The PIN store: its two counted failures are kept, the right PIN unlocks and reads.
    let pdir = tmp.path().join("pinstore");
    let p = Store::open(&pdir, v.clone()).unwrap();
    assert!(matches!(p.unlock(Some("000000")), Err(Error::WrongPin { attempts_left: 2 })));
    p.unlock(Some("246810")).unwrap();
    assert_eq!(p.get("profile", "me").unwrap().body.as_slice(), "{\"name\":\"王五\"}".as_bytes());
    assert_eq!(p.lock_after_background().unwrap(), Some(60));
    drop(p);
    // From then on the count is the vault's: five wrong PINs, the count zeroed in the file, still locked.
    let p = Store::open(&pdir, v.clone()).unwrap();
    for _ in 0..LOCKOUT_FREE_ATTEMPTS {
        assert!(p.unlock(Some("000000")).is_err());
    }
    drop(p);
    raw_db(&pdir)
        .execute("UPDATE meta SET value = ?1 WHERE key = 'pin_failures'", [0u64.to_be_bytes().to_vec()])
        .unwrap();
    let p = Store::open(&pdir, v).unwrap();
    assert!(matches!(p.unlock(Some("246810")), Err(Error::Locked { .. })));
}

/// A bit flipped in the head's generation number (kept in the clear beside the sealed head) is damage, not a
/// rollback: the head does not open under the generation the flip made (`byte_flips` met it: `RolledBack`
/// on open), while the files of before, whose head opens under their own older generation, are refused as
/// `RolledBack` still.
#[test]
fn a_damaged_head_generation_is_corrupted_and_an_older_head_put_back_is_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let s = Store::create(&dir, v.clone(), None).unwrap();
    s.put("case", "c1", SELF_SUBJECT, b"first").unwrap();
    drop(s);
    let before = tmp.path().join("before");
    copy_dir(&dir, &before);
    let s = Store::open(&dir, v.clone()).unwrap();
    s.put("case", "c2", SELF_SUBJECT, b"second").unwrap();
    drop(s);
    let generation = |dir: &Path| -> u64 {
        let b: Vec<u8> = raw_db(dir)
            .query_row("SELECT value FROM meta WHERE key = ?1", [heads::GENERATION_META], |r| r.get(0))
            .unwrap();
        u64::from_be_bytes(b.try_into().unwrap())
    };
    let g = generation(&dir);
    assert!(g > generation(&before), "the second close bound a newer generation");

    // The generation lowered in the current files (as a flipped bit may): damage.
    let damaged = tmp.path().join("damaged");
    copy_dir(&dir, &damaged);
    raw_db(&damaged)
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = ?2",
            params![(g - 1).to_be_bytes().to_vec(), heads::GENERATION_META],
        )
        .unwrap();
    match Store::open(&damaged, v.clone()) {
        Err(Error::Corrupted { table, record }) => {
            assert_eq!((table.as_str(), record.as_str()), ("meta", heads::GENERATION_META))
        }
        other => panic!("a damaged generation read as {:?}", other.map(|_| "opened")),
    }
    // The files of before put back in place of the current ones (the vault names the newer generation).
    std::fs::remove_dir_all(&dir).unwrap();
    copy_dir(&before, &dir);
    assert!(matches!(Store::open(&dir, v), Err(Error::RolledBack)));
}

// ---- ADR 0038: the window of unbound changes bounded in time, and bound when the app leaves the screen ----

/// The test clock of ADR 0038's tests, and a fast PIN policy.
fn timed_store(dir: &Path, v: Arc<dyn KeyVault>) -> (Store, Arc<crate::clock::FixedClock>) {
    let clock = Arc::new(crate::clock::FixedClock::at(1_790_000_000));
    let policy = PinPolicy { iterations: MIN_PIN_ITERATIONS, min_len: 6 };
    let s = Store::create_with(dir, v, Some("246810"), &policy, clock.clone()).unwrap();
    (s, clock)
}

fn case_tag(s: &Store) -> Option<String> {
    s.get("case", "c1").unwrap().tag
}

/// The process killed (`s` forgotten: neither `lock` nor `Drop` runs) and `copy` put back in place of the
/// files it left: unlocking the copy must be `RolledBack` (else `what` fails, with `reads` of the copy); then
/// the files as the process left them, put back again, unlocked.
fn kill_and_put_back(
    s: Store,
    dir: &Path,
    copy: &Path,
    v: &Arc<dyn KeyVault>,
    clock: &Arc<crate::clock::FixedClock>,
    reads: impl Fn(&Store) -> String,
    what: &str,
) -> Store {
    std::mem::forget(s);
    let current = dir.with_extension("current");
    copy_dir(dir, &current);
    put_back(copy, dir);
    let copied =
        Store::open_with(dir, v.clone(), clock.clone()).and_then(|s| s.unlock(Some("246810")).map(|_| reads(&s)));
    match copied {
        Err(Error::RolledBack) => {}
        Ok(reads) => panic!("{what}: the copy opened and reads {reads}"),
        Err(e) => panic!("{what}: not refused as a rollback: {e:?}"),
    }
    put_back(&current, dir);
    let s = Store::open_with(dir, v.clone(), clock.clone()).unwrap();
    s.unlock(Some("246810")).unwrap();
    s
}

/// Finding 10's window (ADR 0038 (a)): the attacker copies the files while the app is open and the person
/// works (a case drafted); the person goes on (the case submitted, an outbox entry queued) and keeps writing
/// for more than [`BIND_AFTER_SECS`]; then the process is killed (no lock, no close: nothing bound there) and
/// the copy put back. It must not open as the current store: the first commit that found the unbound
/// changes older than the bound bound them.
#[test]
fn attack_changes_of_an_open_store_put_back_after_a_kill_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v = vault(tmp.path());
    let (s, clock) = timed_store(&dir, v.clone());
    let draft = PutOptions { tag: Some("draft"), lookup: None };
    s.put_with("case", "c1", SELF_SUBJECT, b"{\"state\":\"draft\"}", draft).unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);

    clock.advance(20);
    let submitted = PutOptions { tag: Some("submitted"), lookup: None };
    s.put_with("case", "c1", SELF_SUBJECT, b"{\"state\":\"submitted\"}", submitted).unwrap();
    s.put_with("outbox", "op-1", SELF_SUBJECT, b"{\"n\":1}", PutOptions { tag: Some("pending"), lookup: None })
        .unwrap();
    clock.advance(BIND_AFTER_SECS as i64);
    s.put("draft", "d1", SELF_SUBJECT, b"typed").unwrap();

    let what = "the copy taken while the app was open";
    let s = kill_and_put_back(s, &dir, &copy, &v, &clock, |s| format!("the case {:?}", case_tag(s)), what);
    // The files as the killed process left them open and read its last writes.
    assert_eq!(case_tag(&s).as_deref(), Some("submitted"));
    assert_eq!(s.get("draft", "d1").unwrap().body.as_slice(), b"typed");
}

/// A vault whose wrap can be made to fail (a hardware key store busy, or one that needs the person now).
struct WrapFails(FileVault, std::sync::atomic::AtomicBool, std::sync::atomic::AtomicUsize);
impl KeyVault for WrapFails {
    fn wrap(&self, a: &str, p: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(VaultError::Unavailable { detail: "busy".into() });
        }
        self.0.wrap(a, p)
    }
    fn unwrap(&self, a: &str, w: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.0.unwrap(a, w)
    }
    fn destroy(&self, a: &str) -> Result<(), VaultError> {
        self.0.destroy(a)
    }
}

/// ADR 0038 (c): the timed bind is best effort. A vault that fails when it comes never fails or undoes the
/// person's write (it reads back, before and after a restart); the next commit binds, and a copy of before is
/// refused then. Writes within the bound do not call the vault at all.
#[test]
fn a_vault_failing_at_the_timed_bind_keeps_the_write_and_the_next_commit_binds() {
    use std::sync::atomic::Ordering;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let v =
        Arc::new(WrapFails(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap(), false.into(), 0.into()));
    let (s, clock) = timed_store(&dir, v.clone());
    s.put("draft", "d1", SELF_SUBJECT, b"one").unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    let wraps = v.2.load(Ordering::SeqCst);
    for i in 0..5 {
        clock.advance(BIND_AFTER_SECS as i64 / 10);
        s.put("draft", "d1", SELF_SUBJECT, format!("edit {i}").as_bytes()).unwrap();
    }
    assert_eq!(v.2.load(Ordering::SeqCst), wraps, "no vault call within the bound");

    clock.advance(BIND_AFTER_SECS as i64);
    v.1.store(true, Ordering::SeqCst);
    s.put("draft", "d1", SELF_SUBJECT, b"two").unwrap();
    assert!(v.2.load(Ordering::SeqCst) > wraps, "the bind was tried");
    assert_eq!(s.get("draft", "d1").unwrap().body.as_slice(), b"two", "the write kept though the bind failed");

    v.1.store(false, Ordering::SeqCst);
    s.put("draft", "d2", SELF_SUBJECT, b"three").unwrap();
    let vault: Arc<dyn KeyVault> = v;
    let reads = |s: &Store| format!("{:?}", s.get("draft", "d1"));
    let s = kill_and_put_back(s, &dir, &copy, &vault, &clock, reads, "the next commit did not bind");
    assert_eq!(s.get("draft", "d1").unwrap().body.as_slice(), b"two");
    assert_eq!(s.get("draft", "d2").unwrap().body.as_slice(), b"three");
}

/// ADR 0038: the shells' call when the app leaves the screen binds (with or without a PIN: the rollback is
/// not the PIN's matter) and gives the lock delay; a copy taken before it, put back after a kill, is refused.
#[test]
fn leaving_the_screen_binds_the_changes_and_gives_the_lock_delay() {
    let tmp = tempfile::tempdir().unwrap();
    let v = vault(tmp.path());
    for pin in [Some("246810"), None] {
        let dir = tmp.path().join(format!("s{}", pin.is_some()));
        let copy = tmp.path().join(format!("copy{}", pin.is_some()));
        let s = Store::create(&dir, v.clone(), pin).unwrap();
        s.put("draft", "d1", SELF_SUBJECT, b"one").unwrap();
        copy_dir(&dir, &copy);
        s.put("draft", "d1", SELF_SUBJECT, b"two").unwrap();
        assert_eq!(s.left_the_screen().unwrap(), pin.map(|_| DEFAULT_LOCK_AFTER_SECS));
        assert!(!s.is_locked(), "leaving the screen does not lock by itself");
        std::mem::forget(s);
        put_back(&copy, &dir);
        let opened = Store::open(&dir, v.clone()).and_then(|s| s.unlock(pin).map(|_| s));
        assert!(matches!(opened, Err(Error::RolledBack)), "pin {pin:?}: {:?}", opened.map(|_| "opened"));
    }
}

/// Issue 10 (the FFI probe): the shells' plain calls (`Store::plain`, `Store::plain_access`) never reach an
/// agent's principal; the owner and family members are theirs; an erased principal says `Shredded`. The
/// store's own calls (used by agent mode after its delegation check) are unchanged.
#[test]
fn attack_a_principals_attachments_through_the_plain_calls_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(&tmp.path().join("s"), vault(tmp.path()), None).unwrap();
    let p = s.create_subject(SubjectKind::Principal, "委托人 李秀英").unwrap();
    let m = s.create_subject(SubjectKind::Family, "妈妈").unwrap();
    let photo = s.write_attachment(&p, "id.jpg", &mut &b"ID card"[..]).unwrap();
    let denied =
        |r: Result<()>| matches!(r, Err(Error::PermissionDenied { ref missing, .. }) if missing == "delegation");
    let plain = s.plain();
    assert!(denied(plain.attachment_info(&photo.id).map(|_| ())));
    assert!(denied(plain.read_attachment_to_vec(&photo.id).map(|_| ())));
    let out = tmp.path().join("out.jpg");
    assert!(denied(plain.read_attachment_to_path(&photo.id, &out).map(|_| ())));
    assert!(!out.exists());
    assert!(denied(plain.write_attachment(&p, "x", &mut &b"planted"[..]).map(|_| ())));
    assert!(denied(plain.delete_attachment(&photo.id)));
    assert_eq!(s.read_attachment_to_vec(&photo.id).unwrap(), b"ID card", "still there, unchanged");
    for who in [SELF_SUBJECT, m.as_str()] {
        let a = plain.write_attachment(who, "mine.jpg", &mut &b"mine"[..]).unwrap();
        assert_eq!(plain.read_attachment_to_vec(&a.id).unwrap(), b"mine");
        plain.delete_attachment(&a.id).unwrap();
    }
    s.plain_access("no-such-subject").unwrap();
    s.shred_subject(&p).unwrap();
    assert!(matches!(s.plain_access(&p), Err(Error::Shredded { .. })));
    // Size bounds of what a shell passes.
    let long = "字".repeat(MAX_LABEL_CHARS + 1);
    assert!(
        matches!(s.create_subject(SubjectKind::Family, &long), Err(Error::Validation { ref field, .. }) if field == "label")
    );
    let long = "名".repeat(MAX_ATTACHMENT_NAME_CHARS + 1);
    let r = s.write_attachment(SELF_SUBJECT, &long, &mut &b"x"[..]);
    assert!(matches!(r, Err(Error::Validation { ref field, .. }) if field == "name"));
}
