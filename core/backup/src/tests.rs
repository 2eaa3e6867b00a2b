use std::path::{Path, PathBuf};
use std::sync::Arc;

use zhangban_base::clock::{Clock, FixedClock, SystemClock};
use zhangban_base::outbox;
use zhangban_base::store::{FileVault, PutOptions, Store, SubjectKind, SELF_SUBJECT};

use super::*;

/// Small KDF parameters: these tests run the KDF dozens of times (the default is measured elsewhere).
pub(crate) const FAST: KdfParams = KdfParams { m_kib: 1024, t: 1, p: 1 };

fn vault(dir: &Path, name: &str) -> Arc<dyn KeyVault> {
    Arc::new(FileVault::open_or_create(&dir.join(format!("{name}.key"))).unwrap())
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A store with a bit of everything: subjects, records with tags and lookups in several collections, an
/// outbox operation, settings, attachments (one larger than a chunk), audit entries, device records.
fn sample(dir: &Path, records: usize, attachments: usize) -> Store {
    sample_with(dir, records, attachments, clock())
}

fn sample_with(dir: &Path, records: usize, attachments: usize, clock: Arc<dyn Clock>) -> Store {
    let store = Store::create_with(&dir.join("old"), vault(dir, "old"), None, &PinPolicy::default(), clock).unwrap();
    let family = store.create_subject(SubjectKind::Family, "母亲 / mother").unwrap();
    let shredded = store.create_subject(SubjectKind::Principal, "委托人").unwrap();
    let principal = store.create_subject(SubjectKind::Principal, "委托人 李奶奶").unwrap();
    store.put("profile", "principal-1", &principal, "{\"name\":\"李\"}".as_bytes()).unwrap();
    let photo = [7u8; 100];
    store.write_attachment(&principal, "principal.jpg", &mut &photo[..]).unwrap();
    store.put("profile", "gone", &shredded, b"{\"x\":1}").unwrap();
    store.shred_subject(&shredded).unwrap();
    store
        .transaction(|t| {
            for i in 0..records {
                let (coll, subject) = match i % 4 {
                    0 => ("case", SELF_SUBJECT),
                    1 => ("draft", family.as_str()),
                    2 => ("licence", SELF_SUBJECT),
                    _ => ("profile", SELF_SUBJECT),
                };
                let body = format!("{{\"n\":{i},\"text\":\"第 {i} 条 / record {i}\"}}");
                let lookup = format!("1101051949123{i:05}");
                let tag = if i % 3 == 0 { Some("open") } else { None };
                // Licences are kept under keyed ids, as the wallet keeps them (finding 11).
                let id = format!("{coll}-{i}");
                let id = if coll == "licence" { t.keyed_id(coll, &id) } else { id };
                t.put(coll, &id, subject, body.as_bytes(), PutOptions { tag, lookup: Some(&lookup) })?;
            }
            outbox::enqueue(
                t,
                SELF_SUBJECT,
                "case-0",
                outbox::OpKind::Submit,
                outbox::new_key(),
                json!({"a": 1}),
                vec![],
            )?;
            t.put("device", "key", SELF_SUBJECT, b"device-bound secret", PutOptions::default())?;
            t.put(
                "device",
                "registration",
                SELF_SUBJECT,
                br#"{"device_id":"dev-old","token":"t"}"#,
                PutOptions::default(),
            )?;
            Ok(())
        })
        .unwrap();
    store.set_setting("catalog.version", "7").unwrap();
    for i in 0..attachments {
        let data: Vec<u8> = (0..(i * 37_000 + 10)).map(|b| (b * 7 + i) as u8).collect();
        store
            .write_attachment(if i % 2 == 0 { SELF_SUBJECT } else { &family }, &format!("材料{i}.jpg"), &mut &data[..])
            .unwrap();
    }
    store
        .audit(&NewEntry {
            actor: "self",
            action: "licence.present",
            subject: SELF_SUBJECT,
            target: "lic-1",
            detail: json!({"to": "hotel"}),
        })
        .unwrap();
    store
}

/// (collection, id, subject, tag, body, updated_at)
type Row = (String, String, String, Option<String>, Vec<u8>, i64);

fn all_records(store: &Store) -> Vec<Row> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.export_records(after, 100).unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page {
            if !EXCLUDED.contains(&r.collection.as_str()) && r.id != "principal-1" {
                out.push((r.collection, r.id, r.subject, r.tag, r.body.to_vec(), r.updated_at));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn round_trip_into_a_new_store_with_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(dir.path(), 200, 5);
    let code = make_recovery_code_with(&old, FAST).unwrap();
    let file = dir.path().join("backup.zbk");
    let summary = write_backup(&old, &file).unwrap();
    assert_eq!(summary.manifest.records, 201, "200 records + 1 outbox operation, no device records");
    assert_eq!(summary.manifest.count("outbox"), 1);
    assert_eq!(summary.manifest.count("device"), 0);
    assert_eq!(summary.manifest.attachments, 5);
    assert!(!part_path(&file).exists());

    let (header, key) = open_backup(&file, &code.grouped()).unwrap();
    let new_dir = dir.path().join("new");
    let (new, restored) = restore(&file, &key, &new_dir, vault(dir.path(), "new"), None, clock()).unwrap();
    assert_eq!(restored.manifest, summary.manifest);
    assert_eq!(restored.origin_device.as_deref(), Some("dev-old"));
    assert_eq!(restored.backup_id, hex::encode(header.backup_id));
    assert_ne!(new.store_id(), old.store_id());
    assert!(!restoring_path(&new_dir).exists());

    // Every record equal: collection, id, subject, tag, body, time.
    assert_eq!(all_records(&new), all_records(&old));
    assert!(new.get_opt("device", "key").unwrap().is_none(), "the device key stays on the old phone");
    // Keyed lookups still work (the lookup key moved with the data).
    assert_eq!(new.find_by_lookup("licence", "110105194912300002").unwrap().len(), 1);
    assert_eq!(new.find_by_lookup("profile", "110105194912300003").unwrap()[0].id, "profile-3");
    // Subjects (the shredded one is not brought back), settings, outbox with its idempotency key.
    let labels: Vec<String> = new.subjects().unwrap().into_iter().map(|s| s.label).collect();
    assert!(labels.contains(&"母亲 / mother".to_string()));
    assert_eq!(new.subjects().unwrap().len(), 2);
    assert_eq!(new.setting("catalog.version").unwrap().as_deref(), Some("7"));
    assert_eq!(outbox::pending(&new).unwrap(), outbox::pending(&old).unwrap());
    // An agent's principal is not in the backup (erasure must hold against every copy).
    assert!(new.get_opt("profile", "principal-1").unwrap().is_none());
    assert!(new.subjects().unwrap().iter().all(|s| s.kind != SubjectKind::Principal));
    // Attachments: same ids, names, bytes (the principal's stays out). Compared by id: the list is in
    // creation order, and restored attachments are created anew (within one second they tie and fall back
    // to id order, so a creation that crossed a second boundary on the old phone listed differently).
    let mut a: Vec<_> = old.attachments().unwrap().into_iter().filter(|a| a.name != "principal.jpg").collect();
    let mut b = new.attachments().unwrap();
    a.sort_by(|x, y| x.id.cmp(&y.id));
    b.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(a, b);
    for info in &a {
        assert_eq!(new.read_attachment_to_vec(&info.id).unwrap(), old.read_attachment_to_vec(&info.id).unwrap());
    }
    // The audit log came along, re-chained, and says it was restored.
    let entries = new.audit_entries(None).unwrap();
    assert!(entries.iter().any(|e| e.action == "licence.present" && e.detail == json!({"to": "hotel"})));
    assert!(entries.iter().any(|e| e.action == "backup.restore"));
    assert!(new.audit_verify().unwrap().is_intact());

    // The restored phone backs up with the same code, without being asked for it.
    let again = dir.path().join("again.zbk");
    write_backup(&new, &again).unwrap();
    let (_, key2) = open_backup(&again, &code.grouped()).unwrap();
    assert_eq!(key2.id, key.id);
    // And the restored store reopens with its own vault.
    drop(new);
    let reopened = Store::open(&new_dir, vault(dir.path(), "new")).unwrap();
    assert_eq!(all_records(&reopened), all_records(&old));
}

#[test]
fn wrong_code_typo_and_foreign_files_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(dir.path(), 10, 1);
    assert!(matches!(write_backup(&old, &dir.path().join("x")), Err(BackupError::NoRecoveryCode)));
    let code = make_recovery_code_with(&old, FAST).unwrap();
    let file = dir.path().join("b.zbk");
    write_backup(&old, &file).unwrap();
    // Another well-formed code: typed error after the KDF.
    let other = RecoveryCode::generate().unwrap();
    assert!(matches!(open_backup(&file, &other.grouped()), Err(BackupError::WrongCode)));
    // A typo: caught by the check symbol.
    let mut typo = code.grouped().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    assert!(matches!(open_backup(&file, std::str::from_utf8(&typo).unwrap()), Err(BackupError::CodeTypo)));
    // Not a backup at all.
    let foreign = dir.path().join("photo.jpg");
    std::fs::write(&foreign, b"\xFF\xD8\xFF\xE0 not a backup").unwrap();
    assert!(matches!(open_backup(&foreign, &code.grouped()), Err(BackupError::NotABackup)));
    std::fs::write(&foreign, b"").unwrap();
    assert!(matches!(open_backup(&foreign, &code.grouped()), Err(BackupError::NotABackup)));
    // A backup of another store, opened with this store's key: its key id differs.
    let dir2 = tempfile::tempdir().unwrap();
    let other_store = sample(dir2.path(), 3, 0);
    let other_code = make_recovery_code_with(&other_store, FAST).unwrap();
    let other_file = dir.path().join("other.zbk");
    write_backup(&other_store, &other_file).unwrap();
    let (_, key) = open_backup(&file, &code.grouped()).unwrap();
    let target = dir.path().join("t");
    assert!(matches!(
        restore(&other_file, &key, &target, vault(dir.path(), "t"), None, clock()),
        Err(BackupError::WrongCode)
    ));
    assert!(!target.exists());
    assert!(open_backup(&other_file, &other_code.grouped()).is_ok());
    // Restoring over existing data is refused.
    let (_, key) = open_backup(&file, &code.grouped()).unwrap();
    assert!(matches!(
        restore(&file, &key, &dir.path().join("old"), vault(dir.path(), "t"), None, clock()),
        Err(BackupError::TargetExists)
    ));
    // Every error says what to do in both languages.
    for e in [BackupError::WrongCode, BackupError::CodeTypo, BackupError::Truncated, BackupError::damaged("chunk 3")] {
        assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
        assert_ne!(e.message_zh(), e.message_en());
    }
}

#[test]
fn a_code_is_offered_once_a_licence_arrived_and_until_one_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("s"), vault(dir.path(), "s"), None).unwrap();
    assert!(!should_offer_recovery_code(&store).unwrap(), "nothing to lose yet");
    store.put("licence", "lic-1", SELF_SUBJECT, b"{}").unwrap();
    assert!(should_offer_recovery_code(&store).unwrap(), "the first licence arrived");
    make_recovery_code_with(&store, FAST).unwrap();
    assert!(!should_offer_recovery_code(&store).unwrap(), "a code exists");
}

#[test]
fn changing_the_code_rewraps_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(dir.path(), 20, 1);
    let first = make_recovery_code_with(&old, FAST).unwrap();
    let before = dir.path().join("before.zbk");
    write_backup(&old, &before).unwrap();
    let second = make_recovery_code_with(&old, FAST).unwrap();
    assert_ne!(first, second);
    let after = dir.path().join("after.zbk");
    write_backup(&old, &after).unwrap();
    let (_, k1) = open_backup(&before, &first.grouped()).unwrap();
    let (_, k2) = open_backup(&after, &second.grouped()).unwrap();
    assert_eq!(k1.id, k2.id);
    assert_eq!(*k1.key, *k2.key, "the same backup key, only re-wrapped");
    assert!(matches!(open_backup(&after, &first.grouped()), Err(BackupError::WrongCode)));
    assert!(matches!(open_backup(&before, &second.grouped()), Err(BackupError::WrongCode)));
}

/// Byte flips, truncations, chunk swaps, chunk drops and appended bytes: each restore fails with a
/// typed error and leaves nothing at the target (nor its temporary folder).
#[test]
fn damaged_files_restore_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(dir.path(), 300, 4);
    let code = make_recovery_code_with(&old, FAST).unwrap();
    let file = dir.path().join("b.zbk");
    write_backup(&old, &file).unwrap();
    let good = std::fs::read(&file).unwrap();
    let (_, key) = open_backup(&file, &code.grouped()).unwrap();
    let stride = 4 + format::CHUNK + 16;
    let chunks = (good.len() - format::HEADER_LEN).div_ceil(stride);
    assert!(chunks >= 4, "{chunks} chunks");
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let bad = dir.path().join("bad.zbk");
    let target = dir.path().join("target");
    let mut kinds = BTreeMap::<&str, u32>::new();
    for trial in 0..300 {
        let mut b = good.clone();
        match trial % 5 {
            0 | 1 => {
                // 1 to 8 random bit flips anywhere (header included).
                for _ in 0..1 + rnd(8) {
                    let i = rnd(b.len());
                    b[i] ^= 1 << rnd(8);
                }
            }
            2 => b.truncate(rnd(b.len())),
            3 => {
                // Swap two whole chunks (not the final one, which is shorter).
                let (i, j) = (rnd(chunks - 1), rnd(chunks - 1));
                let j = if i == j { (j + 1) % (chunks - 1) } else { j };
                let (x, y) = (format::HEADER_LEN + i * stride, format::HEADER_LEN + j * stride);
                let ci = good[x..x + stride].to_vec();
                let cj = good[y..y + stride].to_vec();
                b[x..x + stride].copy_from_slice(&cj);
                b[y..y + stride].copy_from_slice(&ci);
            }
            _ => {
                if trial % 2 == 0 {
                    // Drop a whole chunk.
                    let i = rnd(chunks - 1);
                    let x = format::HEADER_LEN + i * stride;
                    b.drain(x..x + stride);
                } else {
                    // Append bytes after the final chunk.
                    b.extend_from_slice(&good[format::HEADER_LEN..format::HEADER_LEN + 1 + rnd(stride)]);
                }
            }
        }
        if b == good {
            continue;
        }
        std::fs::write(&bad, &b).unwrap();
        let res = restore(&bad, &key, &target, vault(dir.path(), "t"), None, clock());
        let err = res.err().unwrap_or_else(|| panic!("trial {trial}: a damaged file restored"));
        assert!(
            matches!(
                err,
                BackupError::Damaged { .. }
                    | BackupError::Truncated
                    | BackupError::NotABackup
                    | BackupError::UnsupportedVersion { .. }
                    | BackupError::WrongCode
            ),
            "trial {trial}: {err:?}"
        );
        *kinds.entry(err.code()).or_default() += 1;
        assert!(!target.exists(), "trial {trial}: something was restored");
        assert!(!restoring_path(&target).exists(), "trial {trial}: temporary folder left");
    }
    assert!(kinds.get("damaged").copied().unwrap_or(0) > 100, "{kinds:?}");
    assert!(kinds.get("truncated").copied().unwrap_or(0) > 10, "{kinds:?}");
    // The good file still restores.
    restore(&file, &key, &target, vault(dir.path(), "t"), None, clock()).unwrap();
}

#[test]
fn a_flipped_header_with_the_right_code_is_damage_not_a_wrong_code() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(dir.path(), 5, 0);
    let code = make_recovery_code_with(&old, FAST).unwrap();
    let file = dir.path().join("b.zbk");
    write_backup(&old, &file).unwrap();
    let good = std::fs::read(&file).unwrap();
    for i in 4..format::HEADER_LEN {
        let mut b = good.clone();
        b[i] ^= 0x10;
        std::fs::write(&file, &b).unwrap();
        let e = open_backup(&file, &code.grouped()).unwrap_err();
        assert!(matches!(e, BackupError::Damaged { .. }), "byte {i}: {e:?}");
    }
}

/// (id, subject, sha256) of every attachment but principals' (never backed up).
fn all_attachments(store: &Store) -> Vec<(String, String, String)> {
    let principal = |s: &str| store.subject_kind(s).unwrap() == SubjectKind::Principal;
    let all = store.attachments().unwrap().into_iter().filter(|a| !principal(&a.subject));
    let mut v: Vec<_> = all.map(|a| (a.id, a.subject, a.sha256)).collect();
    v.sort();
    v
}

fn subjects_of(store: &Store) -> Vec<(String, String)> {
    let mut v: Vec<_> = store
        .subjects()
        .unwrap()
        .into_iter()
        .filter(|s| !s.shredded && s.kind != SubjectKind::Principal)
        .map(|s| (s.id, s.label))
        .collect();
    v.sort();
    v
}

/// A store, a full backup, then two increments with updates, a tag change, deletions, a shredded subject,
/// new and deleted attachments; the chain restores to exactly the store, and an earlier prefix of it to
/// exactly the store at that time. A record erased on the phone does not come back from the increment
/// that carried its last update.
#[test]
fn increments_carry_only_changes_and_the_chain_restores_deletions_too() {
    let dir = tempfile::tempdir().unwrap();
    let t = Arc::new(FixedClock::at(1_800_000_000));
    let old = sample_with(dir.path(), 400, 6, t.clone());
    let code = make_recovery_code_with(&old, FAST).unwrap();
    // Records of the backup's own second go again in the next increment (harmless): not these.
    t.advance(60);
    let full = write_backup(&old, &dir.path().join("0.zbk")).unwrap();
    assert_eq!((full.base_id.as_deref(), full.chain_index, full.generation), (None, 0, 1));

    // Increment 1: one update, one tag change, one new record, one deletion, a new attachment, one gone.
    t.advance(60);
    let family = old.subjects().unwrap().into_iter().find(|s| s.kind == SubjectKind::Family).unwrap().id;
    old.put("case", "case-0", SELF_SUBJECT, b"{\"n\":0,\"state\":\"accepted\"}").unwrap();
    old.transaction(|tx| tx.set_tag("profile", "profile-3", Some("moved"))).unwrap();
    old.put("case", "case-new", SELF_SUBJECT, b"{\"n\":-1}").unwrap();
    assert!(old.delete("licence", &old.keyed_id("licence", "licence-2").unwrap()).unwrap());
    let photo: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let new_photo = old.write_attachment(SELF_SUBJECT, "新材料.jpg", &mut photo.as_slice()).unwrap();
    let first_photo = all_attachments(&old).into_iter().find(|a| a.1 == SELF_SUBJECT && a.0 != new_photo.id).unwrap();
    old.delete_attachment(&first_photo.0).unwrap();
    old.set_setting("catalog.version", "8").unwrap();
    t.advance(60);
    let inc1 = write_increment(&old, &dir.path().join("1.zbk")).unwrap();
    assert_eq!((inc1.base_id.as_deref(), inc1.chain_index, inc1.generation), (Some(full.backup_id.as_str()), 1, 2));
    assert_eq!(inc1.manifest.records, 3, "case-0, profile-3 (tag), case-new: {:?}", inc1.manifest.collections);
    assert_eq!(inc1.manifest.attachments, 1);
    assert_eq!(inc1.manifest.live_records, all_records(&old).len() as u64);
    // The new photo, three records, the live lists (about 25 bytes a key): not the 400 records nor the
    // other attachments again.
    assert!(inc1.bytes < photo.len() as u64 + 30_000, "increment {} vs full {} bytes", inc1.bytes, full.bytes);
    // (The live list names every record: a licence's keyed id has 34 characters, so the list is a few KB
    // longer than with the short ids of before; the increment is still under a third of the full file.)
    assert!(10 * full.bytes > 29 * inc1.bytes, "increment {} vs full {} bytes", inc1.bytes, full.bytes);
    let at_inc1 = (all_records(&old), all_attachments(&old), subjects_of(&old));

    // Increment 2: case-0 (carried by increment 1) erased; the family subject shredded.
    t.advance(60);
    assert!(old.delete("case", "case-0").unwrap());
    old.shred_subject(&family).unwrap();
    t.advance(60);
    let inc2 = write_increment(&old, &dir.path().join("2.zbk")).unwrap();
    assert_eq!((inc2.base_id.as_deref(), inc2.chain_index, inc2.generation), (Some(inc1.backup_id.as_str()), 2, 3));
    assert_eq!(inc2.manifest.records, 0);

    let files: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.zbk"))).collect();
    let (_, key) = open_backup(&files[2], &code.grouped()).unwrap();
    let (new, summary) =
        restore_chain(&files, &key, &dir.path().join("new"), vault(dir.path(), "new"), None, clock()).unwrap();
    assert_eq!((summary.files, summary.generation), (3, 3));
    assert_eq!(all_records(&new), all_records(&old));
    assert!(new.get_opt("case", "case-0").unwrap().is_none(), "erased after increment 1 carried it");
    assert!(new.list("draft", None).unwrap().is_empty(), "the shredded subject's drafts stay gone");
    assert_eq!(all_attachments(&new), all_attachments(&old));
    assert_eq!(subjects_of(&new), subjects_of(&old));
    let settings: Vec<_> = new.settings().unwrap().into_iter().filter(|(k, _)| k != outbox::HOLD_SETTING).collect();
    assert_eq!(settings, old.settings().unwrap());
    let principals: Vec<String> =
        old.subjects().unwrap().into_iter().filter(|s| s.kind == SubjectKind::Principal).map(|s| s.id).collect();
    let actions = |s: &Store| -> Vec<(String, String)> {
        let entries = s.audit_entries(None).unwrap().into_iter();
        entries.filter(|e| !principals.contains(&e.subject)).map(|e| (e.action, e.target)).collect()
    };
    let mut want = actions(&old);
    want.pop(); // the last `backup.write` is logged after its file was made
    let mut got = actions(&new);
    assert_eq!(got.pop().map(|a| a.0).as_deref(), Some("backup.restore"));
    assert_eq!(got, want);
    assert_eq!(new.read_attachment_to_vec(&new_photo.id).unwrap(), photo);
    assert_eq!(known_generation(&new).unwrap(), 3, "the restored store counts on from the chain");
    // The restored store's next backup is a full one (a new chain), generation 4.
    let next = write_increment(&new, &dir.path().join("n.zbk")).unwrap();
    assert_eq!((next.base_id, next.generation), (None, 4));

    // The full backup and increment 1 alone: the store as it was then.
    let (at1, _) =
        restore_chain(&files[..2], &key, &dir.path().join("at1"), vault(dir.path(), "at1"), None, clock()).unwrap();
    assert_eq!((all_records(&at1), all_attachments(&at1), subjects_of(&at1)), at_inc1);
    assert_eq!(at1.get("case", "case-0").unwrap().body.as_slice(), b"{\"n\":0,\"state\":\"accepted\"}");
}

/// A chain with a file missing, out of order, from another store, or starting with an increment is
/// refused from the headers with a typed error, and nothing is restored.
#[test]
fn a_missing_or_misplaced_increment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = Arc::new(FixedClock::at(1_800_000_000));
    let old = sample_with(dir.path(), 20, 1, t.clone());
    let code = make_recovery_code_with(&old, FAST).unwrap();
    t.advance(10);
    let f = |i: u32| dir.path().join(format!("{i}.zbk"));
    write_backup(&old, &f(0)).unwrap();
    for i in 1..=3 {
        t.advance(10);
        old.put("case", &format!("c{i}"), SELF_SUBJECT, b"{}").unwrap();
        assert_eq!(write_increment(&old, &f(i)).unwrap().chain_index, i);
    }
    // Another chain of the same store (a later full backup) and another store's chain.
    t.advance(10);
    write_backup(&old, &f(4)).unwrap();
    t.advance(10);
    write_increment(&old, &f(5)).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let other = sample(dir2.path(), 3, 0);
    make_recovery_code_with(&other, FAST).unwrap();
    write_backup(&other, &dir2.path().join("o0.zbk")).unwrap();
    write_increment(&other, &dir2.path().join("o1.zbk")).unwrap();

    let (_, key) = open_backup(&f(0), &code.grouped()).unwrap();
    let target = dir.path().join("target");
    let attempt = |files: Vec<PathBuf>| {
        let e = restore_chain(&files, &key, &target, vault(dir.path(), "t"), None, clock()).unwrap_err();
        assert!(!target.exists() && !restoring_path(&target).exists(), "{e:?}: something was restored");
        assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
        e
    };
    assert!(matches!(attempt(vec![f(1), f(2)]), BackupError::MissingBase));
    assert!(matches!(attempt(vec![]), BackupError::MissingBase));
    assert!(matches!(attempt(vec![f(0), f(1), f(3)]), BackupError::IncrementMissing { after: 1, found: 3 }));
    assert!(matches!(attempt(vec![f(0), f(2), f(1), f(3)]), BackupError::ChainOrder { position: 2 }));
    assert!(matches!(attempt(vec![f(0), f(1), f(0)]), BackupError::ChainOrder { position: 3 }));
    assert!(matches!(attempt(vec![f(0), f(5)]), BackupError::ChainOrder { position: 2 }), "another chain's increment");
    assert!(matches!(attempt(vec![f(0), dir2.path().join("o1.zbk")]), BackupError::ChainOrder { position: 2 }));
    let e = attempt(vec![f(0), f(1), f(3)]);
    assert_eq!(e.code(), "increment_missing");
    assert!(e.message_en().contains("after increment 1 comes increment 3"), "{}", e.message_en());
    // Picked in any order (a multiple selection in the file picker), the files of one chain are put in
    // order from their headers; a selection that is not one chain stays refused, typed.
    assert_eq!(order_chain(&[f(3), f(1), f(0), f(2)]).unwrap(), vec![f(0), f(1), f(2), f(3)]);
    assert!(matches!(attempt(order_chain(&[f(3), f(0), f(1)]).unwrap()), BackupError::IncrementMissing { .. }));
    assert!(matches!(attempt(order_chain(&[f(5), f(0), f(4)]).unwrap()), BackupError::ChainOrder { .. }));
    assert!(matches!(attempt(order_chain(&[f(2), f(1)]).unwrap()), BackupError::MissingBase));
    assert!(matches!(order_chain(&[f(0), dir.path().join("none.zbk")]), Err(BackupError::Store(_))));
    assert!(matches!(open_chain(&[], &code.grouped()), Err(BackupError::MissingBase)));
    let typo = {
        let g = code.grouped();
        format!("{}{}", if g.starts_with('0') { '1' } else { '0' }, &g[1..])
    };
    assert!(matches!(open_chain(&[f(2), f(0)], &typo), Err(BackupError::CodeTypo)));
    // The newest file decides a new phone's check against the platform's generation.
    let (newest, info) = newest_file(&[f(1), f(3), f(0), f(2)]).unwrap();
    assert_eq!((newest, info.chain_index), (f(3), 3));
    assert!(matches!(newest_file(&[]), Err(BackupError::MissingBase)));
    // The right order restores (here from files picked in another order); so does the later chain.
    let (ordered, chain_key) = open_chain(&[f(2), f(0), f(3), f(1)], &code.grouped()).unwrap();
    assert_eq!(ordered, vec![f(0), f(1), f(2), f(3)]);
    restore_chain(&ordered, &chain_key, &target, vault(dir.path(), "t"), None, clock()).unwrap();
    let (s, _) =
        restore_chain(&[f(4), f(5)], &key, &dir.path().join("t2"), vault(dir.path(), "t2"), None, clock()).unwrap();
    assert!(s.get_opt("case", "c3").unwrap().is_some());
}

/// Rollback: whoever serves this phone a backup older than one it made or restored (the platform keeping
/// yesterday's file, a network attacker replaying it) is refused; raising the file's generation to pass
/// breaks every chunk.
#[test]
fn an_older_backup_is_refused_as_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(dir.path(), 10, 1);
    let code = make_recovery_code_with(&old, FAST).unwrap();
    let (yesterday, today) = (dir.path().join("y.zbk"), dir.path().join("t.zbk"));
    write_backup(&old, &yesterday).unwrap();
    old.put("case", "filed-today", SELF_SUBJECT, b"{}").unwrap();
    write_backup(&old, &today).unwrap();
    let served = dir.path().join("served.zbk");
    std::fs::copy(&yesterday, &served).unwrap();
    let e = accept_download(&old, &served, None).unwrap_err();
    assert!(matches!(e, BackupError::OlderBackup { known: 2, got: 1 }), "{e:?}");
    assert_eq!(e.code(), "older_backup");
    assert!(!served.exists(), "the rolled-back file is removed");
    std::fs::copy(&today, &served).unwrap();
    assert_eq!(accept_download(&old, &served, None).unwrap().generation, 2);

    // A new phone restored from today's file remembers its generation.
    let (_, key) = open_backup(&today, &code.grouped()).unwrap();
    let (new, _) = restore(&today, &key, &dir.path().join("new"), vault(dir.path(), "new"), None, clock()).unwrap();
    std::fs::copy(&yesterday, &served).unwrap();
    assert!(matches!(accept_download(&new, &served, None), Err(BackupError::OlderBackup { known: 2, got: 1 })));

    // Yesterday's file with its generation raised (and the header digest recomputed) passes the check but
    // opens no chunk: the header is in every chunk's associated data.
    let mut b = std::fs::read(&yesterday).unwrap();
    b[90..98].copy_from_slice(&99u64.to_be_bytes());
    let d = ring::digest::digest(&ring::digest::SHA256, &b[..162]);
    b[162..194].copy_from_slice(d.as_ref());
    std::fs::write(&served, &b).unwrap();
    assert_eq!(accept_download(&new, &served, None).unwrap().generation, 99);
    let (_, key) = open_backup(&served, &code.grouped()).unwrap();
    let e = restore(&served, &key, &dir.path().join("forged"), vault(dir.path(), "f"), None, clock()).unwrap_err();
    assert!(matches!(e, BackupError::Damaged { .. }), "{e:?}");
    assert!(!dir.path().join("forged").exists());
}

/// ADR 0014's residual risk, closed: the clock goes back between two backups, a record and an attachment
/// are written while it is behind, and it comes forward again before the next increment. An increment
/// chosen by `updated_at` / `created_at` misses both; one chosen by the store's write sequence does not.
#[test]
fn a_clock_that_went_back_and_forth_between_backups_misses_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let t = Arc::new(FixedClock::at(1_800_000_000));
    let old = sample_with(dir.path(), 40, 2, t.clone());
    let code = make_recovery_code_with(&old, FAST).unwrap();
    t.advance(60);
    write_backup(&old, &dir.path().join("0.zbk")).unwrap();
    // The clock is set back a day; the person edits a draft and adds a photo; the clock is put right.
    t.advance(-86_400);
    old.put("draft", "written-while-behind", SELF_SUBJECT, b"{\"n\":42}").unwrap();
    old.put("case", "case-0", SELF_SUBJECT, b"{\"n\":0,\"state\":\"edited while behind\"}").unwrap();
    let photo = vec![9u8; 70_000];
    let behind = old.write_attachment(SELF_SUBJECT, "behind.jpg", &mut photo.as_slice()).unwrap();
    t.advance(86_400 + 120);
    let inc = write_increment(&old, &dir.path().join("1.zbk")).unwrap();
    assert_eq!(inc.chain_index, 1, "still an increment");
    assert_eq!(inc.manifest.records, 2, "both writes made while the clock was behind: {:?}", inc.manifest.collections);
    assert_eq!(inc.manifest.attachments, 1);
    let files: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("{i}.zbk"))).collect();
    let (_, key) = open_backup(&files[1], &code.grouped()).unwrap();
    let (new, _) =
        restore_chain(&files, &key, &dir.path().join("new"), vault(dir.path(), "new"), None, clock()).unwrap();
    assert_eq!(all_records(&new), all_records(&old));
    assert_eq!(new.read_attachment_to_vec(&behind.id).unwrap(), photo);
    // A write sequence needs no clock: an increment right after a full backup carries nothing.
    let again = write_increment(&old, &dir.path().join("2.zbk")).unwrap();
    assert_eq!((again.chain_index, again.manifest.records, again.manifest.attachments), (2, 0, 0));
}

/// A version 1 file (182-byte header, no generation or chain index), made by the version 1 writer itself
/// (commit 6cf004b; how: fixtures/README.md), restores on today's code: every record, the attachment,
/// the family subject, the setting, the outbox with its idempotency key held for the old phone.
#[test]
fn a_version_1_file_made_by_the_old_writer_still_restores() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v1-full.zbk");
    let info = inspect_backup(&file).unwrap();
    assert_eq!(info.backup_id, "8a0d941b32ada48184121ea7c89bc0b7");
    assert_eq!((info.base_id.as_deref(), info.chain_index, info.generation), (None, 0, 0));
    assert_eq!((info.kdf_m_kib, info.kdf_t, info.kdf_p), (1024, 1, 1));
    assert_eq!(info.created_at, 1_796_000_000);
    assert!(matches!(open_backup(&file, &RecoveryCode::generate().unwrap().grouped()), Err(BackupError::WrongCode)));
    let (header, key) = open_backup(&file, "ZE1MF-F5JYB-EVBEE-MQPN9-D9FHB").unwrap();
    assert_eq!(header.version, 1);
    let dir = tempfile::tempdir().unwrap();
    let (new, summary) =
        restore(&file, &key, &dir.path().join("new"), vault(dir.path(), "new"), None, clock()).unwrap();
    assert_eq!((summary.files, summary.generation, summary.records), (1, 0, 4));
    assert_eq!(summary.origin_device.as_deref(), Some("dev-v1"));
    assert_eq!(summary.manifest.count("outbox"), 1);
    // Written by the old code under the licence id; restored and converted to its keyed id (finding 11).
    let keyed = new.keyed_id("licence", "lic-1").unwrap();
    assert!(new.get_opt("licence", "lic-1").unwrap().is_none(), "no licence id left as a record id");
    let lic = new.get("licence", &keyed).unwrap();
    assert_eq!(lic.body.as_slice(), "{\"type\":\"resident_id\",\"name\":\"张三\"}".as_bytes());
    let found: Vec<String> =
        new.find_by_lookup("licence", "11010519491231002X").unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(found, vec![keyed], "the keyed lookup moved with the data");
    let case = new.get("case", "case-1").unwrap();
    assert_eq!(case.tag.as_deref(), Some("open"));
    let ops = outbox::pending(&new).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].idempotency_key, "idem-v1-0001", "the idempotency key came along");
    assert_eq!(awaiting_transfer_from(&new).unwrap().as_deref(), Some("dev-v1"));
    let family = new.subjects().unwrap().into_iter().find(|s| s.kind == SubjectKind::Family).unwrap();
    assert_eq!(family.label, "母亲 / mother");
    assert_eq!(new.get("draft", "draft-1").unwrap().subject, family.id);
    let data: Vec<u8> = (0..70_000u32).map(|b| (b * 7 % 251) as u8).collect();
    assert_eq!(new.read_attachment_to_vec("9b6cefa6-f36a-46ce-ae6c-4e5d70caa126").unwrap(), data);
    assert_eq!(new.setting("catalog.version").unwrap().as_deref(), Some("7"));
    // The restored store counts on from generation 0 and writes version 2 files.
    let next = write_backup(&new, &dir.path().join("next.zbk")).unwrap();
    assert_eq!(next.generation, 1);
    assert_eq!(inspect_backup(&dir.path().join("next.zbk")).unwrap().generation, 1);
}

#[test]
fn the_backup_screens_counts_are_worded_by_the_core() {
    assert_eq!(
        counts_text(1, 0, 512),
        Text::new("1 条记录 · 0 个附件 · 512 字节", "1 record · 0 attachments · 512 bytes")
    );
    assert_eq!(
        counts_text(1203, 1, 2_202_010),
        Text::new("1,203 条记录 · 1 个附件 · 2.1 MB", "1,203 records · 1 attachment · 2.1 MB")
    );
    assert_eq!(size_text(1).en, "1 byte");
    assert_eq!(size_text(1536).zh, "1.5 KB");
    assert_eq!(
        picked_text(1, 7),
        Text::new("已选 1 个文件，最新一份是第 7 次备份。", "1 file picked; the newest is backup number 7.")
    );
    assert_eq!(picked_text(3, 12).en, "3 files picked; the newest is backup number 12.");
}
