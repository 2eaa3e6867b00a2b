//! Backup and restore throughput and peak memory: 10,000 records + 100 MB of attachments, against a plain
//! copy of the same store's files (the floor); and an increment after a small change (10 records updated,
//! one added) against the full backup just before it, and the restore of that chain.
//!
//! `cargo run -p zhangban-backup --example backup_bench [-- --records N --mb M]`
//!
//! Each phase runs in its own child process (this program with a phase argument) so its peak resident
//! memory (`VmHWM` from `/proc/self/status`, Linux) is its own: prepare, copy, backup, restore. Dependencies
//! (ring, SQLite, argon2) are optimised in dev builds (workspace profile), so the figures are not a debug
//! build's; the release profile (fat LTO) was not used.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use zhangban_backup::{make_recovery_code, open_backup, restore, restore_chain, write_backup, write_increment};
use zhangban_base::store::{FileVault, KeyVault, PutOptions, Store, SubjectKind, SELF_SUBJECT};
use zhangban_base::SystemClock;

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn vault(dir: &Path, name: &str) -> Arc<dyn KeyVault> {
    Arc::new(FileVault::open_or_create(&dir.join(format!("{name}.key"))).expect("vault"))
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).expect("dir").flatten() {
        let m = e.metadata().expect("meta");
        n += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
    }
    n
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("dir").flatten() {
        let t = to.join(e.file_name());
        if e.metadata().expect("meta").is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).expect("copy");
        }
    }
    std::fs::File::open(to).and_then(|f| f.sync_all()).ok();
}

fn phase(args: &[String]) {
    let work = PathBuf::from(&args[2]);
    let t = Instant::now();
    let out = match args[1].as_str() {
        "prepare" => {
            let records: usize = args[3].parse().expect("records");
            let mb: usize = args[4].parse().expect("mb");
            let store = Store::create(&work.join("old"), vault(&work, "old"), None).expect("store");
            let family = store.create_subject(SubjectKind::Family, "家人").expect("subject");
            for chunk in 0..records.div_ceil(1000) {
                store
                    .transaction(|tx| {
                        for i in chunk * 1000..((chunk + 1) * 1000).min(records) {
                            let coll = ["case", "draft", "profile", "outbox", "licence"][i % 5];
                            let body = format!(
                                "{{\"n\":{i},\"title\":\"办件 {i}\",\"values\":{{\"name\":\"张三\",\"address\":\"北京市朝阳区建国路{i}号\",\"note\":\"{}\"}}}}",
                                "x".repeat(200 + i % 300)
                            );
                            let s = if i % 7 == 0 { family.as_str() } else { SELF_SUBJECT };
                            tx.put(coll, &format!("{coll}-{i}"), s, body.as_bytes(), PutOptions::default())?;
                        }
                        Ok(())
                    })
                    .expect("records");
            }
            // 100 MB in 10 MB files of incompressible bytes (photos are).
            let per = 10 * 1024 * 1024;
            let mut seed = 0x1234_5678_9abc_def0u64;
            for f in 0..mb.div_ceil(10) {
                let mut data = vec![0u8; per];
                for b in data.chunks_mut(8) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b.copy_from_slice(&seed.to_le_bytes()[..b.len()]);
                }
                store.write_attachment(SELF_SUBJECT, &format!("photo{f}.jpg"), &mut data.as_slice()).expect("att");
            }
            let code = make_recovery_code(&store).expect("code");
            std::fs::write(work.join("code.txt"), code.grouped()).expect("code file");
            format!("prepared {records} records, {} bytes of store", dir_bytes(&work.join("old")))
        }
        "copy" => {
            copy_dir(&work.join("old"), &work.join("copy"));
            let n = dir_bytes(&work.join("copy"));
            std::fs::remove_dir_all(work.join("copy")).ok();
            format!("copy {n}")
        }
        "backup" => {
            let store = Store::open(&work.join("old"), vault(&work, "old")).expect("open");
            let t = Instant::now();
            let s = write_backup(&store, &work.join("b.zbk")).expect("backup");
            format!("backup {} {}", s.bytes, t.elapsed().as_secs_f64())
        }
        "increment" => {
            // A small change after the full backup: 10 records updated, one added.
            let store = Store::open(&work.join("old"), vault(&work, "old")).expect("open");
            store
                .transaction(|tx| {
                    for i in 0..10 {
                        let body = format!("{{\"n\":{i},\"title\":\"办件 {i}\",\"state\":\"accepted\"}}");
                        tx.put(
                            "case",
                            &format!("case-{}", i * 5),
                            SELF_SUBJECT,
                            body.as_bytes(),
                            PutOptions::default(),
                        )?;
                    }
                    tx.put("case", "case-new", SELF_SUBJECT, b"{\"n\":-1}", PutOptions::default())
                })
                .expect("change");
            let t = Instant::now();
            let s = write_increment(&store, &work.join("i.zbk")).expect("increment");
            assert_eq!(s.chain_index, 1, "an increment on the full backup");
            format!("increment {} {} records {}", s.bytes, t.elapsed().as_secs_f64(), s.manifest.records)
        }
        "restore-chain" => {
            let code = std::fs::read_to_string(work.join("code.txt")).expect("code");
            let (_, key) = open_backup(&work.join("i.zbk"), &code).expect("open");
            let t = Instant::now();
            let files = [work.join("b.zbk"), work.join("i.zbk")];
            let (_, r) =
                restore_chain(&files, &key, &work.join("new"), vault(&work, "new"), None, Arc::new(SystemClock))
                    .expect("restore");
            let secs = t.elapsed().as_secs_f64();
            std::fs::remove_dir_all(work.join("new")).ok();
            format!("chain {} {secs}", r.records)
        }
        "restore" => {
            let code = std::fs::read_to_string(work.join("code.txt")).expect("code");
            let tk = Instant::now();
            let (_, key) = open_backup(&work.join("b.zbk"), &code).expect("open");
            let kdf = tk.elapsed().as_secs_f64();
            let kdf_peak = peak_kib();
            let t = Instant::now();
            let (_, r) =
                restore(&work.join("b.zbk"), &key, &work.join("new"), vault(&work, "new"), None, Arc::new(SystemClock))
                    .expect("restore");
            let secs = t.elapsed().as_secs_f64();
            std::fs::remove_dir_all(work.join("new")).ok();
            format!("restore {} {secs} kdf {kdf} {kdf_peak}", r.manifest.records)
        }
        other => panic!("unknown phase {other}"),
    };
    println!("{out} | secs {} | peak_kib {}", t.elapsed().as_secs_f64(), peak_kib());
}

fn run(exe: &Path, args: &[&str]) -> String {
    let out = Command::new(exe).args(args).output().expect("child");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn field(line: &str, name: &str) -> f64 {
    let mut it = line.split_whitespace();
    while let Some(w) = it.next() {
        if w == name {
            return it.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        }
    }
    0.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 2 {
        return phase(&args);
    }
    let (mut records, mut mb) = (10_000usize, 100usize);
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--records" => records = it.next().and_then(|v| v.parse().ok()).expect("--records N"),
            "--mb" => mb = it.next().and_then(|v| v.parse().ok()).expect("--mb M"),
            _ => {}
        }
    }
    let exe = std::env::current_exe().expect("exe");
    let tmp = tempfile::tempdir().expect("tmp");
    let w = tmp.path().to_str().expect("path").to_string();
    println!("{}", run(&exe, &["prepare", &w, &records.to_string(), &mb.to_string()]));
    let store_bytes = dir_bytes(&tmp.path().join("old")) as f64;
    let mut rows = Vec::new();
    let mut incs = Vec::new();
    for _ in 0..3 {
        let c = run(&exe, &["copy", &w]);
        let b = run(&exe, &["backup", &w]);
        let r = run(&exe, &["restore", &w]);
        // The full backup just made is the increment's base (the restore above does not touch the store).
        let i = run(&exe, &["increment", &w]);
        let rc = run(&exe, &["restore-chain", &w]);
        rows.push((c, b, r));
        incs.push((i, rc));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v[v.len() / 2]
    };
    let mbs = |secs: f64| store_bytes / 1_048_576.0 / secs;
    let copy = median(rows.iter().map(|r| field(&r.0, "secs")).collect());
    let backup = median(
        rows.iter().map(|r| r.1.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or(0.0)).collect(),
    );
    let restore = median(
        rows.iter().map(|r| r.2.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or(0.0)).collect(),
    );
    let kdf = median(rows.iter().map(|r| field(&r.2, "kdf")).collect());
    let peak = |i: usize| rows.iter().map(|r| field([&r.0, &r.1, &r.2][i], "peak_kib")).fold(0.0, f64::max) / 1024.0;
    let file = field(&rows[0].1, "backup");
    println!(
        "\nstore: {records} records + {mb} MB attachments = {:.1} MB on disk; backup file {:.1} MB",
        store_bytes / 1_048_576.0,
        file / 1_048_576.0
    );
    println!("median of 3 runs (each phase its own process):");
    println!("  plain file copy   {copy:7.2} s  {:7.1} MB/s  peak {:5.1} MB", mbs(copy), peak(0));
    println!(
        "  backup            {backup:7.2} s  {:7.1} MB/s  peak {:5.1} MB  ({:.2}x the copy's time)",
        mbs(backup),
        peak(1),
        backup / copy
    );
    println!(
        "  restore           {restore:7.2} s  {:7.1} MB/s  peak {:5.1} MB  ({:.2}x the copy's time; + KDF {kdf:.2} s)",
        mbs(restore),
        peak(2),
        restore / copy
    );
    let nth = |l: &str, n: usize| l.split_whitespace().nth(n).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let inc = median(incs.iter().map(|r| nth(&r.0, 2)).collect());
    let inc_bytes = median(incs.iter().map(|r| nth(&r.0, 1)).collect());
    let chain = median(incs.iter().map(|r| nth(&r.1, 2)).collect());
    println!(
        "  increment         {inc:7.3} s  {:7.1} KB file ({} records)  peak {:5.1} MB  (full/increment: {:.0}x the time, {:.0}x the bytes)",
        inc_bytes / 1024.0,
        nth(&incs[0].0, 4),
        incs.iter().map(|r| field(&r.0, "peak_kib")).fold(0.0, f64::max) / 1024.0,
        backup / inc,
        file / inc_bytes
    );
    println!("  restore full + 1 increment {chain:7.2} s  ({:.2}x the full restore)", chain / restore);
}
