//! Storage benchmark, all engines in the same run: 10,000 records of 1 KB inserted in one transaction,
//! then 10,000 point reads in random order, then the time to open a store holding them.
//!
//! * **ours**: `zhangban_core::store::Store` (per-value AES-256-GCM, subject keys, AAD).
//! * **plain**: rusqlite on the same schema and pragmas, no encryption.
//! * **sqlcipher**: the same as plain with `PRAGMA key = "x'…'"` (a raw 256-bit key: no PBKDF2).
//!
//! Each run builds fresh databases; the engines are interleaved within a run so drift hits all three.
//! Reported: the median of `ZB_BENCH_RUNS` runs (default 7) per phase, and ratios of medians.
//! `cargo run --release` (see tests/bench.sh).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use zhangban_core::store::{FileVault, KeyVault, PutOptions, Store, SELF_SUBJECT};

const N: usize = 10_000;
const SIZE: usize = 1024;
const COLLECTION: &str = "bench";

/// The store's pragmas (core/src/store/mod.rs `open_connection`).
const PRAGMAS: &str = "PRAGMA journal_mode = WAL;
     PRAGMA synchronous = NORMAL;
     PRAGMA foreign_keys = ON;
     PRAGMA busy_timeout = 5000;
     PRAGMA secure_delete = ON;";

/// The store's `subjects` and `records` tables (core/src/store/migrations.rs).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS subjects (id TEXT PRIMARY KEY, kind TEXT NOT NULL, label BLOB NOT NULL,
         wrapped_key BLOB, created_at INTEGER NOT NULL, shredded_at INTEGER);
     CREATE TABLE IF NOT EXISTS records (
         seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, id TEXT NOT NULL,
         subject TEXT NOT NULL REFERENCES subjects(id), tag TEXT, lookup BLOB, body BLOB NOT NULL,
         updated_at INTEGER NOT NULL, UNIQUE (collection, id));
     CREATE INDEX IF NOT EXISTS records_subject ON records(subject);
     CREATE INDEX IF NOT EXISTS records_lookup ON records(collection, lookup) WHERE lookup IS NOT NULL;
     CREATE INDEX IF NOT EXISTS records_tag ON records(collection, tag) WHERE tag IS NOT NULL;
     INSERT OR IGNORE INTO subjects (id, kind, label, wrapped_key, created_at) VALUES ('self', 'owner', x'00', x'00', 0);";

const UPSERT: &str = "INSERT INTO records (collection, id, subject, tag, lookup, body, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT(collection, id) DO UPDATE SET subject = excluded.subject, tag = excluded.tag,
         lookup = excluded.lookup, body = excluded.body, updated_at = excluded.updated_at";
const SELECT: &str = "SELECT seq, id, subject, tag, body, updated_at FROM records WHERE collection = ?1 AND id = ?2";

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

struct Data {
    ids: Vec<String>,
    bodies: Vec<Vec<u8>>,
    /// Indexes into `ids` in random order, for the point reads.
    order: Vec<usize>,
}

fn data() -> Data {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    let ids: Vec<String> = (0..N).map(|i| format!("rec-{i:05}")).collect();
    let bodies = (0..N).map(|_| (0..SIZE).map(|_| rng.next() as u8).collect()).collect();
    let mut order: Vec<usize> = (0..N).collect();
    for i in (1..N).rev() {
        order.swap(i, rng.next() as usize % (i + 1));
    }
    Data { ids, bodies, order }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// CPU time of this thread (user + system): unlike wall time, not inflated when other processes
/// share the cores (the build machines here run several builds at once).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and thread-CPU time of one phase.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

struct Timer(Instant, Duration);
impl Timer {
    fn start() -> Self {
        Timer(Instant::now(), thread_cpu())
    }
    fn stop(self) -> Sample {
        Sample { wall: self.0.elapsed(), cpu: thread_cpu().saturating_sub(self.1) }
    }
}

#[derive(Default)]
struct Times {
    insert: Vec<Sample>,
    read: Vec<Sample>,
    open: Vec<Sample>,
}

// ---- ours ---------------------------------------------------------------------------------------

fn run_ours(dir: &Path, d: &Data, t: &mut Times) {
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key")).unwrap());
    let store_dir = dir.join("ours");
    {
        let s = Store::create(&store_dir, vault.clone(), None).unwrap();
        let start = Timer::start();
        s.transaction(|tx| {
            for (id, body) in d.ids.iter().zip(&d.bodies) {
                tx.put(COLLECTION, id, SELF_SUBJECT, body, PutOptions::default())?;
            }
            Ok(())
        })
        .unwrap();
        t.insert.push(start.stop());
        let start = Timer::start();
        let mut total = 0;
        for &i in &d.order {
            total += black_box(s.get(COLLECTION, &d.ids[i]).unwrap()).body.len();
        }
        t.read.push(start.stop());
        assert_eq!(total, N * SIZE);
        assert_eq!(&s.get(COLLECTION, &d.ids[7]).unwrap().body[..], &d.bodies[7][..]);
    }
    let start = Timer::start();
    let s = Store::open(&store_dir, vault).unwrap();
    t.open.push(start.stop());
    assert_eq!(s.get(COLLECTION, &d.ids[N - 1]).unwrap().body.len(), SIZE);
}

// ---- plain and SQLCipher ------------------------------------------------------------------------

fn connect(path: &Path, key: Option<&str>) -> Connection {
    let conn = Connection::open(path).unwrap();
    if let Some(k) = key {
        conn.execute_batch(&format!("PRAGMA key = \"x'{k}'\";")).unwrap();
    }
    conn.execute_batch(PRAGMAS).unwrap();
    conn.set_prepared_statement_cache_capacity(64);
    conn
}

type Row = (i64, String, String, Option<String>, Vec<u8>, i64);

fn run_sqlite(path: &Path, key: Option<&str>, d: &Data, t: &mut Times) {
    {
        let mut conn = connect(path, key);
        conn.execute_batch(SCHEMA).unwrap();
        let start = Timer::start();
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx.prepare_cached(UPSERT).unwrap();
            for (id, body) in d.ids.iter().zip(&d.bodies) {
                st.execute(params![COLLECTION, id, SELF_SUBJECT, None::<String>, None::<Vec<u8>>, body, now()])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        t.insert.push(start.stop());
        let start = Timer::start();
        let mut total = 0;
        for &i in &d.order {
            let row: Row = conn
                .prepare_cached(SELECT)
                .unwrap()
                .query_row(params![COLLECTION, d.ids[i]], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .unwrap();
            total += black_box(row).4.len();
        }
        t.read.push(start.stop());
        assert_eq!(total, N * SIZE);
    }
    // Open: connect, apply the pragmas, read the schema (as the store's open does with its migrations).
    let start = Timer::start();
    let conn = connect(path, key);
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM subjects", [], |r| r.get(0)).unwrap();
    t.open.push(start.stop());
    assert_eq!(n, 1);
}

fn median(v: &[Sample], cpu: bool) -> Duration {
    let mut v: Vec<Duration> = v.iter().map(|s| if cpu { s.cpu } else { s.wall }).collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runs: usize = std::env::var("ZB_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let d = data();
    let key = hex::encode((0..32u8).map(|b| b.wrapping_mul(37).wrapping_add(11)).collect::<Vec<u8>>());
    let cipher_version: String = {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(&format!("PRAGMA key = \"x'{key}'\";")).unwrap();
        c.query_row("PRAGMA cipher_version", [], |r| r.get(0)).unwrap_or_else(|_| "NOT SQLCIPHER".into())
    };
    let sqlite_version: String =
        Connection::open_in_memory().unwrap().query_row("SELECT sqlite_version()", [], |r| r.get(0)).unwrap();
    println!("zhangban storage bench: {N} records × {SIZE} B, {runs} runs (medians); SQLite {sqlite_version}, SQLCipher {cipher_version}");
    let (mut ours, mut plain, mut cipher) = (Times::default(), Times::default(), Times::default());
    for run in 0..runs {
        let tmp = tempfile::tempdir().unwrap();
        // Rotate the order so no engine always goes first.
        let only_ours = std::env::var("ZB_BENCH_ONLY").is_ok_and(|v| v == "ours");
        for k in 0..3 {
            if only_ours && (run + k) % 3 != 0 {
                continue;
            }
            match (run + k) % 3 {
                0 => run_ours(tmp.path(), &d, &mut ours),
                1 => run_sqlite(&tmp.path().join("plain.db"), None, &d, &mut plain),
                _ => run_sqlite(&tmp.path().join("cipher.db"), Some(&key), &d, &mut cipher),
            }
        }
    }
    // The SQLCipher file must really be encrypted and the plain one not (sanity of the comparison).
    {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = Times::default();
        run_sqlite(&tmp.path().join("c.db"), Some(&key), &d, &mut t);
        let bytes = std::fs::read(tmp.path().join("c.db")).unwrap();
        assert!(!bytes.starts_with(b"SQLite format 3"), "the SQLCipher database is not encrypted");
        run_sqlite(&tmp.path().join("p.db"), None, &d, &mut t);
        assert!(std::fs::read(tmp.path().join("p.db")).unwrap().starts_with(b"SQLite format 3"));
    }

    let only_ours = std::env::var("ZB_BENCH_ONLY").is_ok_and(|v| v == "ours");
    if only_ours {
        return;
    }
    for (label, cpu) in [("wall-clock time", false), ("thread CPU time (user + system)", true)] {
        println!();
        println!("{label}, median of {runs} runs:");
        println!();
        println!("| phase | ours (ms) | plain rusqlite (ms) | SQLCipher (ms) | ours / plain | ours / SQLCipher |");
        println!("|---|---:|---:|---:|---:|---:|");
        let mut verdicts = Vec::new();
        for (name, o, p, c) in [
            ("insert 10k × 1 KB, one transaction", &ours.insert, &plain.insert, &cipher.insert),
            ("10k point reads (random order)", &ours.read, &plain.read, &cipher.read),
            ("open with 10k records", &ours.open, &plain.open, &cipher.open),
        ] {
            let (o, p, c) = (median(o, cpu), median(p, cpu), median(c, cpu));
            let (rp, rc) = (o.as_secs_f64() / p.as_secs_f64(), o.as_secs_f64() / c.as_secs_f64());
            println!("| {name} | {:.3} | {:.3} | {:.3} | {rp:.2}× | {rc:.2}× |", ms(o), ms(p), ms(c));
            verdicts.push((name, o, rp, rc));
        }
        println!();
        for (name, o, rp, rc) in &verdicts[..2] {
            println!(
                "goal {name}: ≤ 1.25× plain: {} ({rp:.2}×); ≤ 1.0× SQLCipher: {} ({rc:.2}×); ours {:.1} µs per record",
                if *rp <= 1.25 { "met" } else { "MISSED" },
                if *rc <= 1.0 { "met" } else { "MISSED" },
                o.as_secs_f64() * 1e6 / N as f64
            );
        }
        let open = verdicts[2].1;
        println!("goal open ≤ 5 ms: {} ({:.3} ms)", if ms(open) <= 5.0 { "met" } else { "MISSED" }, ms(open));
    }
    if let Ok(path) = std::env::var("ZB_BENCH_JSON") {
        std::fs::write(&path, json_rows(runs, &sqlite_version, &cipher_version, &ours, &plain, &cipher))
            .expect("write ZB_BENCH_JSON");
    }
}

/// The three rows for tests/bench_report.py (thread CPU time, the steadier figure on a shared machine;
/// wall-clock time in the detail). Hand-written JSON: this workspace has no serde_json.
fn json_rows(runs: usize, sqlite: &str, cipher_version: &str, ours: &Times, plain: &Times, cipher: &Times) -> String {
    let mut rows = Vec::new();
    for (id, title, o, p, c) in [
        ("store_insert", "store: insert 10k × 1 KB in one transaction", &ours.insert, &plain.insert, &cipher.insert),
        ("store_read", "store: 10k point reads (random order)", &ours.read, &plain.read, &cipher.read),
        ("store_open", "store: open with 10k records", &ours.open, &plain.open, &cipher.open),
    ] {
        let (oc, pc, cc) = (ms(median(o, true)), ms(median(p, true)), ms(median(c, true)));
        let (ow, pw, cw) = (ms(median(o, false)), ms(median(p, false)), ms(median(c, false)));
        let (goal, met) = if id == "store_open" {
            ("≤ 5 ms", oc <= 5.0 && ow <= 5.0)
        } else {
            ("≤ 1.25× plain, ≤ 1.0× SQLCipher", oc / pc <= 1.25 && oc / cc <= 1.0)
        };
        rows.push(format!(
            r#"{{"id": "{id}", "title": "{title}", "value": {oc}, "unit": "ms",
 "compare": [{{"name": "plain rusqlite", "value": {pc}, "ratio": {}}}, {{"name": "SQLCipher (raw key)", "value": {cc}, "ratio": {}}}],
 "goal": "{goal}", "met": {met},
 "detail": {{"runs": {runs}, "clock": "thread CPU time", "wall_ms": {{"ours": {ow}, "plain": {pw}, "sqlcipher": {cw}}},
   "sqlite": "{sqlite}", "sqlcipher": "{cipher_version}"}}}}"#,
            oc / pc,
            oc / cc
        ));
    }
    format!("{{\"rows\": [\n{}\n]}}\n", rows.join(",\n"))
}
