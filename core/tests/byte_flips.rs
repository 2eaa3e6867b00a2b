//! Fault test: single-byte flips at random offsets of the database file and of attachment files.
//! Every outcome must be a typed error or the exact data that was written: never a panic, never
//! different bytes returned as data. Seeded (override with `ZB_FAULT_SEED`) and RNG-crate-free.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store, SubjectKind, SELF_SUBJECT};
use zhangban_core::Error;

/// xorshift64*: enough randomness for choosing offsets, reproducible from the seed.
struct XorShift(u64);
impl XorShift {
    fn seeded() -> Self {
        let seed = std::env::var("ZB_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15);
        println!("ZB_FAULT_SEED={seed}");
        XorShift(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A non-zero byte to XOR with (so the byte really changes).
    fn flip(&mut self) -> u8 {
        (self.below(255) + 1) as u8
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    vault: Arc<dyn KeyVault>,
    db: Vec<u8>,
    records: BTreeMap<(String, String), Vec<u8>>,
    attachments: BTreeMap<String, (PathBuf, Vec<u8>, Vec<u8>)>, // id -> (file, file bytes, plaintext)
}

fn body(i: usize) -> Vec<u8> {
    format!("{{\"n\":{i},\"name\":\"张三{i}\",\"pad\":\"{}\"}}", "x".repeat(i * 7 % 400)).into_bytes()
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap());
    let dir = tmp.path().join("store");
    let mut records = BTreeMap::new();
    let mut attachments = BTreeMap::new();
    {
        let s = Store::create(&dir, vault.clone(), None).unwrap();
        let principal = s.create_subject(SubjectKind::Principal, "李奶奶").unwrap();
        s.transaction(|t| {
            for i in 0..150 {
                let (coll, subject) =
                    if i % 3 == 0 { ("material", principal.as_str()) } else { ("profile", SELF_SUBJECT) };
                let id = format!("r{i}");
                let lookup = format!("1101051949123{i:04}");
                t.put(coll, &id, subject, &body(i), PutOptions { tag: Some("pending"), lookup: Some(&lookup) })?;
                records.insert((coll.to_string(), id), body(i));
            }
            Ok(())
        })
        .unwrap();
        for i in 0..5 {
            s.audit(&zhangban_core::audit::NewEntry {
                actor: SELF_SUBJECT,
                action: "licence.present",
                subject: SELF_SUBJECT,
                target: &format!("r{i}"),
                detail: serde_json::json!({ "to": "hotel" }),
            })
            .unwrap();
        }
        for (i, len) in [(0usize, 150_000usize), (1, 700)] {
            let plain: Vec<u8> = (0..len).map(|k| (k * 31 + i * 7) as u8).collect();
            let subject = if i == 0 { SELF_SUBJECT } else { principal.as_str() };
            let info = s.write_attachment(subject, "scan.jpg", &mut plain.as_slice()).unwrap();
            let file = dir.join("attachments").join(format!("{}.zba", info.id));
            attachments.insert(info.id, (file.clone(), std::fs::read(&file).unwrap(), plain));
        }
    }
    // Dropping the store checkpointed the WAL into the database file.
    let db = std::fs::read(dir.join("zhangban.db")).unwrap();
    Fixture { _tmp: tmp, dir, vault, db, records, attachments }
}

fn restore(f: &Fixture) {
    std::fs::write(f.dir.join("zhangban.db"), &f.db).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(f.dir.join(format!("zhangban.db{suffix}")));
    }
    for (file, bytes, _) in f.attachments.values() {
        std::fs::write(file, bytes).unwrap();
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Corrupted { .. } => "Corrupted",
        Error::WrongKey => "WrongKey",
        Error::NotFound { .. } => "NotFound",
        Error::Shredded { .. } => "Shredded",
        Error::Storage(m) => {
            if std::env::var("ZB_FAULT_VERBOSE").is_ok() {
                eprintln!("storage error: {m}");
            }
            "Storage"
        }
        Error::Io(_) => "Io",
        Error::Locked { .. } => "Locked",
        Error::Internal(_) => "Internal",
        _ => "other",
    }
}

/// Reads everything back; returns the kinds of errors met. Panics (fails) on wrong data.
fn read_all(s: &Store, f: &Fixture, outcomes: &mut BTreeMap<&'static str, usize>) {
    for ((coll, id), expected) in &f.records {
        match s.get(coll, id) {
            Ok(r) => assert_eq!(&r.body[..], &expected[..], "{coll}/{id} returned different bytes"),
            Err(e) => *outcomes.entry(kind(&e)).or_default() += 1,
        }
    }
    for coll in ["profile", "material"] {
        match s.scan(coll, None, None) {
            Ok(rows) => {
                for r in rows {
                    match r {
                        Ok(r) => {
                            let expected = f.records.get(&(coll.to_string(), r.id.clone()));
                            assert_eq!(Some(&r.body[..]), expected.map(|v| &v[..]), "scan {coll}/{} wrong", r.id);
                        }
                        Err(e) => *outcomes.entry(kind(&e)).or_default() += 1,
                    }
                }
            }
            Err(e) => *outcomes.entry(kind(&e)).or_default() += 1,
        }
    }
    match s.find_by_lookup("profile", "11010519491230001") {
        Ok(rs) => {
            for r in rs {
                assert_eq!(&r.body[..], &body(1)[..]);
            }
        }
        Err(e) => *outcomes.entry(kind(&e)).or_default() += 1,
    }
    for (id, (_, _, plain)) in &f.attachments {
        match s.read_attachment_to_vec(id) {
            Ok(v) => assert_eq!(&v, plain, "attachment {id} returned different bytes"),
            Err(e) => *outcomes.entry(kind(&e)).or_default() += 1,
        }
    }
    if let Err(e) = s.audit_entries(None) {
        *outcomes.entry(kind(&e)).or_default() += 1;
    }
    let _ = s.audit_verify();
    let _ = s.integrity_check();
}

fn open(dir: &Path, vault: &Arc<dyn KeyVault>) -> Result<Store, Error> {
    Store::open(dir, vault.clone())
}

#[test]
fn byte_flips_in_the_database_give_typed_errors_or_the_true_data() {
    let f = fixture();
    let mut rng = XorShift::seeded();
    let mut outcomes = BTreeMap::new();
    let mut open_failures: BTreeMap<&str, usize> = BTreeMap::new();
    let rounds = 150;
    for _ in 0..rounds {
        restore(&f);
        let mut bytes = f.db.clone();
        let at = rng.below(bytes.len());
        bytes[at] ^= rng.flip();
        std::fs::write(f.dir.join("zhangban.db"), &bytes).unwrap();
        match open(&f.dir, &f.vault) {
            Ok(s) => read_all(&s, &f, &mut outcomes),
            Err(e) => *open_failures.entry(kind(&e)).or_default() += 1,
        }
    }
    println!("open failures: {open_failures:?}; read errors: {outcomes:?}");
    // Damage is always reported as such (Corrupted, or WrongKey when the key check itself was hit),
    // never as a generic storage or internal failure.
    for k in ["Internal", "Storage", "other"] {
        assert!(!open_failures.contains_key(k) && !outcomes.contains_key(k), "{k}: {open_failures:?} {outcomes:?}");
    }
    // The flips must have hit something: not every round can be harmless.
    assert!(!outcomes.is_empty() || !open_failures.is_empty());
}

#[test]
fn byte_flips_in_attachment_files_are_always_corrupted() {
    let f = fixture();
    let mut rng = XorShift::seeded();
    let s = open(&f.dir, &f.vault).unwrap();
    let ids: Vec<&String> = f.attachments.keys().collect();
    for round in 0..100 {
        restore(&f);
        let id = ids[round % ids.len()];
        let (file, bytes, _) = &f.attachments[id];
        let mut bad = bytes.clone();
        let at = rng.below(bad.len());
        bad[at] ^= rng.flip();
        std::fs::write(file, &bad).unwrap();
        match s.read_attachment_to_vec(id) {
            Err(Error::Corrupted { table, record }) => {
                assert_eq!(table, "attachments");
                assert!(record.contains(id.as_str()));
            }
            other => panic!("flip at {at} of {id}: expected Corrupted, got {:?}", other.map(|v| v.len())),
        }
        // The other attachment is untouched and still reads.
        let other = ids[(round + 1) % ids.len()];
        assert_eq!(&s.read_attachment_to_vec(other).unwrap(), &f.attachments[other].2);
    }
    // Truncation and a missing file are typed too.
    restore(&f);
    let (file, bytes, _) = &f.attachments[ids[0]];
    std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(s.read_attachment_to_vec(ids[0]), Err(Error::Corrupted { .. })));
    std::fs::remove_file(file).unwrap();
    assert!(matches!(s.read_attachment_to_vec(ids[0]), Err(Error::Corrupted { .. })));
}

// ---- Issue 16: damage is reported as damage ------------------------------------------------------

const BIG_RECORDS: usize = 1000;
const TRIALS: usize = 48;

struct Big {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    vault: Arc<dyn KeyVault>,
    db: Vec<u8>,
    records: BTreeMap<(String, String), Vec<u8>>,
}

fn big_fixture() -> Big {
    let tmp = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap());
    let dir = tmp.path().join("store");
    let mut records = BTreeMap::new();
    {
        let s = Store::create(&dir, vault.clone(), None).unwrap();
        s.transaction(|t| {
            for i in 0..BIG_RECORDS {
                let coll = ["profile", "material", "case"][i % 3];
                let id = format!("r{i}");
                let lookup = format!("1101051949123{i:04}");
                let tag = if i % 2 == 0 { Some("pending") } else { None };
                t.put(coll, &id, SELF_SUBJECT, &body(i % 300), PutOptions { tag, lookup: Some(&lookup) })?;
                records.insert((coll.to_string(), id), body(i % 300));
            }
            Ok(())
        })
        .unwrap();
    }
    let db = std::fs::read(dir.join("zhangban.db")).unwrap();
    Big { _tmp: tmp, dir, vault, db, records }
}

/// Writes the pristine file with `bits` random bits flipped.
fn damage(b: &Big, rng: &mut XorShift, bits: usize) {
    damage_at(&b.dir, &b.db, rng, bits)
}

/// Writes `db` into the store at `dir` with `bits` random bits flipped.
fn damage_at(dir: &Path, db: &[u8], rng: &mut XorShift, bits: usize) {
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("zhangban.db{suffix}")));
    }
    let mut bytes = db.to_vec();
    for _ in 0..bits {
        let at = rng.below(bytes.len());
        bytes[at] ^= 1 << rng.below(8);
    }
    std::fs::write(dir.join("zhangban.db"), &bytes).unwrap();
}

/// 1, 2, 4, …, 256 bits, six trials each.
fn bits_for(trial: usize) -> usize {
    1 << (trial % 9)
}

#[test]
fn bit_flips_are_reported_as_damage_never_as_absence_a_short_list_or_a_wrong_key() {
    let b = big_fixture();
    let mut rng = XorShift::seeded();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for trial in 0..TRIALS {
        damage(&b, &mut rng, bits_for(trial));
        let s = match Store::open(&b.dir, b.vault.clone()) {
            Ok(s) => s,
            Err(e) => {
                // The vault's key is the right one: damage must never be called a wrong key.
                assert!(matches!(e, Error::Corrupted { .. }), "trial {trial}: open failed with {}: {e:?}", kind(&e));
                *tally.entry("open Corrupted").or_default() += 1;
                continue;
            }
        };
        for ((coll, id), expected) in &b.records {
            match s.get(coll, id) {
                Ok(r) => assert_eq!(&r.body[..], &expected[..], "trial {trial}: {coll}/{id} wrong data"),
                Err(Error::Corrupted { .. }) => *tally.entry("get Corrupted").or_default() += 1,
                Err(e) => panic!("trial {trial}: existing record {coll}/{id} came back as {}: {e:?}", kind(&e)),
            }
        }
        for coll in ["profile", "material", "case"] {
            let want = b.records.keys().filter(|(c, _)| c == coll).count();
            match s.list(coll, None) {
                Ok(v) => {
                    assert_eq!(
                        v.len(),
                        want,
                        "trial {trial}: list({coll}) returned {} of {want} with no error",
                        v.len()
                    );
                    for r in v {
                        assert_eq!(Some(&r.body[..]), b.records.get(&(coll.to_string(), r.id.clone())).map(|v| &v[..]));
                    }
                }
                Err(Error::Corrupted { .. }) => *tally.entry("list Corrupted").or_default() += 1,
                Err(e) => panic!("trial {trial}: list({coll}) failed with {}: {e:?}", kind(&e)),
            }
            match s.list_tagged(coll, "pending") {
                Ok(v) => {
                    let want = b
                        .records
                        .keys()
                        .filter(|(c, i)| c == coll && i[1..].parse::<usize>().unwrap() % 2 == 0)
                        .count();
                    assert_eq!(v.len(), want, "trial {trial}: list_tagged({coll}) short with no error");
                }
                Err(Error::Corrupted { .. }) => {}
                Err(e) => panic!("trial {trial}: list_tagged({coll}) failed with {}: {e:?}", kind(&e)),
            }
        }
        // A record that does not exist is still `NotFound` when the damage is elsewhere, or `Corrupted`.
        match s.get("profile", "never-written") {
            Err(Error::NotFound { .. }) | Err(Error::Corrupted { .. }) => {}
            other => panic!("trial {trial}: a missing record gave {other:?}"),
        }
    }
    println!("outcomes over {TRIALS} trials: {tally:?}");
    assert!(!tally.is_empty(), "no trial hit anything: the flips prove nothing");
}

#[test]
fn salvage_exports_everything_that_still_reads() {
    let b = big_fixture();
    // An undamaged store: everything, nothing damaged.
    let all = zhangban_core::store::salvage(&b.dir, b.vault.clone(), None).unwrap();
    assert_eq!(all.records.len(), BIG_RECORDS);
    assert!(all.damaged.is_empty(), "{:?}", all.damaged);
    assert_eq!(all.expected.values().sum::<u64>(), BIG_RECORDS as u64);
    let mut rng = XorShift::seeded();
    let (mut readable_total, mut salvaged_total) = (0usize, 0usize);
    for trial in 0..TRIALS {
        damage(&b, &mut rng, bits_for(trial));
        // What the normal path can still read, record by record.
        let readable: Vec<&(String, String)> = match Store::open(&b.dir, b.vault.clone()) {
            Ok(s) => b.records.keys().filter(|(c, i)| s.get(c, i).is_ok()).collect(),
            Err(_) => Vec::new(),
        };
        match zhangban_core::store::salvage(&b.dir, b.vault.clone(), None) {
            Ok(got) => {
                for r in &got.records {
                    let key = (r.collection.clone(), r.id.clone());
                    assert_eq!(
                        Some(&r.body[..]),
                        b.records.get(&key).map(|v| &v[..]),
                        "trial {trial}: salvage returned wrong data"
                    );
                }
                for k in &readable {
                    assert!(
                        got.records.iter().any(|r| r.collection == k.0 && r.id == k.1),
                        "trial {trial}: salvage lost readable {k:?}; damaged: {:?}",
                        &got.damaged[..got.damaged.len().min(12)]
                    );
                }
                readable_total += readable.len();
                salvaged_total += got.records.len();
            }
            Err(e) => {
                assert!(matches!(e, Error::Corrupted { .. }), "trial {trial}: salvage failed with {}: {e:?}", kind(&e));
                assert!(readable.is_empty(), "trial {trial}: salvage failed but {} records still read", readable.len());
            }
        }
    }
    println!("salvage: {salvaged_total} records exported where the normal path read {readable_total}");
}

// ---- Issue 11 (ADR 0031): one subject's list and the kept counts under damage ------------------------

/// An agent's phone in small: four subjects (the owner and three principals), 900 cases in three states
/// (one untagged), each subject's list read through its own rows and kept counts.
struct Subjects {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    vault: Arc<dyn KeyVault>,
    db: Vec<u8>,
    subjects: Vec<String>,
    /// (subject, tag) → ids, and every body by id.
    by: BTreeMap<(String, Option<String>), Vec<String>>,
    bodies: BTreeMap<String, Vec<u8>>,
}

fn subjects_fixture() -> Subjects {
    let tmp = tempfile::tempdir().unwrap();
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key")).unwrap());
    let dir = tmp.path().join("store");
    let mut by: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
    let mut bodies = BTreeMap::new();
    let mut subjects = vec![SELF_SUBJECT.to_string()];
    {
        let s = Store::create(&dir, vault.clone(), None).unwrap();
        for p in 0..3 {
            subjects.push(s.create_subject(SubjectKind::Principal, &format!("委托人{p}")).unwrap());
        }
        s.transaction(|t| {
            for i in 0..900 {
                let subject = &subjects[i % 4];
                let tag = [Some("queued"), Some("open"), None][i % 3];
                let id = format!("c{i}");
                t.put("case", &id, subject, &body(i % 300), PutOptions { tag, lookup: None })?;
                by.entry((subject.clone(), tag.map(str::to_string))).or_default().push(id.clone());
                bodies.insert(id, body(i % 300));
            }
            Ok(())
        })
        .unwrap();
    }
    let db = std::fs::read(dir.join("zhangban.db")).unwrap();
    Subjects { _tmp: tmp, dir, vault, db, subjects, by, bodies }
}

#[test]
fn bit_flips_never_shorten_one_subjects_list_or_its_counts() {
    let f = subjects_fixture();
    let mut rng = XorShift::seeded();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let total: usize = f.by.values().map(Vec::len).sum();
    for trial in 0..TRIALS {
        damage_at(&f.dir, &f.db, &mut rng, bits_for(trial));
        let s = match Store::open(&f.dir, f.vault.clone()) {
            Ok(s) => s,
            Err(e) => {
                assert!(matches!(e, Error::Corrupted { .. }), "trial {trial}: open failed with {}: {e:?}", kind(&e));
                *tally.entry("open Corrupted").or_default() += 1;
                continue;
            }
        };
        for subject in &f.subjects {
            let mut want: Vec<&String> =
                f.by.iter().filter(|((s, _), _)| s == subject).flat_map(|(_, ids)| ids).collect();
            want.sort();
            match s.list("case", Some(subject)) {
                Ok(v) => {
                    let mut got: Vec<&String> = v.iter().map(|r| &r.id).collect();
                    got.sort();
                    assert_eq!(got, want, "trial {trial}: list of {subject} differs with no error");
                    for r in &v {
                        assert_eq!(&r.body[..], &f.bodies[&r.id][..], "trial {trial}: {} wrong data", r.id);
                        assert_eq!(&r.subject, subject);
                    }
                }
                Err(Error::Corrupted { .. }) => *tally.entry("list Corrupted").or_default() += 1,
                Err(e) => panic!("trial {trial}: list of {subject} failed with {}: {e:?}", kind(&e)),
            }
            let queued = &f.by[&(subject.clone(), Some("queued".to_string()))];
            match s.scan("case", Some(subject), Some("queued")) {
                Ok(v) if v.iter().all(|r| r.is_ok()) => {
                    assert_eq!(v.len(), queued.len(), "trial {trial}: queued of {subject} short with no error");
                    for r in v.into_iter().flatten() {
                        assert!(queued.contains(&r.id) && r.body[..] == f.bodies[&r.id][..], "trial {trial}: {}", r.id);
                    }
                }
                Ok(v) => {
                    for r in v {
                        match r {
                            Ok(r) => assert_eq!(&r.body[..], &f.bodies[&r.id][..], "trial {trial}: {} wrong", r.id),
                            Err(Error::Corrupted { .. }) => {}
                            Err(e) => panic!("trial {trial}: scan row failed with {}: {e:?}", kind(&e)),
                        }
                    }
                    *tally.entry("scan row Corrupted").or_default() += 1;
                }
                Err(Error::Corrupted { .. }) => *tally.entry("scan Corrupted").or_default() += 1,
                Err(e) => panic!("trial {trial}: scan of {subject} failed with {}: {e:?}", kind(&e)),
            }
        }
        // The kept counts: every record counted, each under a subject of the store; or damage.
        match s.tag_counts("case") {
            Ok(counts) => {
                let sum: i64 = counts.iter().map(|c| c.2).sum();
                assert_eq!(sum as usize, total, "trial {trial}: counts short with no error: {counts:?}");
                assert!(counts.iter().all(|c| f.subjects.contains(&c.0)), "trial {trial}: {counts:?}");
            }
            Err(Error::Corrupted { .. }) => *tally.entry("counts Corrupted").or_default() += 1,
            Err(e) => panic!("trial {trial}: tag_counts failed with {}: {e:?}", kind(&e)),
        }
    }
    println!("outcomes over {TRIALS} trials: {tally:?}");
    assert!(!tally.is_empty(), "no trial hit anything: the flips prove nothing");
}
