//! `zhangban-sandbox`: the local stand-in for the provincial government service platform, and the
//! journey demo.
//!
//! ```text
//! zhangban-sandbox serve [--addr 127.0.0.1:0] [--db FILE]   serve the platform; prints "listening on URL"
//!   (`--status-list-max BITS`: the cap of one status list shard, small in a test to cross shards)
//! zhangban-sandbox demo [--report FILE]                      run the citizen's journey end to end
//! ```
//! Add a subcommand: one arm in `main` and one line in `USAGE`; parse options with [`Args`].
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use zhangban_sandbox::{demo, fault_writer, server};

const USAGE: &str = "usage:
  zhangban-sandbox serve [--addr 127.0.0.1:0] [--db FILE] [--status-list-max BITS]
  zhangban-sandbox demo [--report FILE]
  zhangban-sandbox clerk --url URL (list | stats | agents | sweep [--on DATE] | show CASE |
      accept CASE [--days N] | review CASE | supplement CASE --items A,B [--due-days N] [--note T] |
      suspend CASE [--reason R] | resume CASE | approve CASE [--result R] | reject CASE --reason R |
      complete CASE [--result R] | faults --rate 0.3 [--timeout-ms MS] [--latency-ms MS] |
      intake --item CODE --applicant ID_NUMBER_OR_CREDIT_CODE [--title T] | transfer-code OLD_DEVICE_ID |
      revoke-mandate MANDATE_ID | end-certificate AGENT_ID)
      (CASE: platform case id or receipt number; --on YYYY-MM-DD and --clerk NAME on any action)";

/// A tiny argument parser: `--name value` options and positional words, in any order.
struct Args {
    rest: VecDeque<String>,
}

impl Args {
    fn new(args: impl Iterator<Item = String>) -> Self {
        Args { rest: args.collect() }
    }
    /// Takes the value of `--name VALUE` (or `--name=VALUE`).
    fn opt(&mut self, name: &str) -> Result<Option<String>, String> {
        let eq = format!("{name}=");
        for i in 0..self.rest.len() {
            if self.rest[i] == name {
                let value = self.rest.get(i + 1).cloned().ok_or_else(|| format!("{name} needs a value"))?;
                self.rest.drain(i..=i + 1);
                return Ok(Some(value));
            }
            if let Some(v) = self.rest[i].strip_prefix(&eq) {
                let v = v.to_string();
                self.rest.remove(i);
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
    /// Takes the next positional word.
    fn word(&mut self) -> Option<String> {
        let i = self.rest.iter().position(|a| !a.starts_with("--"))?;
        self.rest.remove(i)
    }
    /// Fails on anything not taken.
    fn finish(self) -> Result<(), String> {
        match self.rest.front() {
            None => Ok(()),
            Some(a) => Err(format!("unexpected argument: {a}")),
        }
    }
}

fn main() -> ExitCode {
    let mut args = Args::new(std::env::args().skip(1));
    let result = match args.word().as_deref() {
        Some("serve") => serve(args),
        Some("demo") => run_demo(args),
        Some("clerk") => clerk(args),
        // Hidden: the child process of the kill -9 sync test (tests/sandbox/tests/cases.rs).
        Some("device-sync") => device_sync(args),
        // Hidden: the child process of the kill -9 fault test (tests/sandbox/tests/faults.rs).
        Some("fault-writer") => fault_writer(args),
        Some("backup-child") => backup_child(args),
        // Hidden: the agent-mode bench's store for tests/python/bench_agent.py (through the FFI).
        Some("agent-bench-store") => agent_bench_store(args),
        Some("help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command: {other}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

fn serve(mut args: Args) -> Result<(), String> {
    let addr = args.opt("--addr")?.unwrap_or_else(|| "127.0.0.1:0".into());
    let db = args.opt("--db")?.map(PathBuf::from);
    let faults =
        args.opt("--faults")?.map(|r| r.parse::<f64>().map_err(|_| "--faults takes a rate 0..1")).transpose()?;
    let mut config = server::Config::default();
    if let Some(cap) = args.opt("--status-list-max")? {
        config.status_list_max = cap.parse().map_err(|_| "--status-list-max takes a number of bits")?;
        config.status_list_size = config.status_list_size.min(config.status_list_max);
    }
    args.finish()?;
    runtime()?.block_on(async {
        let running = server::start(&addr, db.as_deref(), config).await.map_err(|e| e.to_string())?;
        if let Some(rate) = faults {
            running.state.faults.set(zhangban_sandbox::faults::FaultConfig::mixed(rate, 2000));
        }
        println!("listening on {}", running.url);
        // The back office's token (X-Admin-Token; the `clerk` command reads it from ZHANGBAN_SANDBOX_ADMIN_TOKEN).
        println!("admin token {}", running.state.admin_token);
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
        Ok(())
    })
}

fn run_demo(mut args: Args) -> Result<(), String> {
    let report = args.opt("--report")?.map(PathBuf::from);
    args.finish()?;
    let outcome = runtime()?.block_on(demo::run(demo::Options { report_path: report }));
    match outcome {
        Ok(r) if r.ok => Ok(()),
        Ok(_) => Err("the journey did not complete: see the steps marked FAILED above".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn fault_writer(mut args: Args) -> Result<(), String> {
    let dir = args.word().ok_or("fault-writer DIR RUN")?;
    let run = args.word().ok_or("fault-writer DIR RUN")?;
    let mode = args.word();
    let url = if mode.as_deref() == Some("access") {
        Some(args.word().ok_or("fault-writer DIR RUN access URL")?)
    } else {
        None
    };
    args.finish()?;
    let dir = std::path::Path::new(&dir);
    match (mode.as_deref(), url) {
        (Some("door"), _) => fault_writer::run_door(dir, &run),
        (Some("access"), Some(url)) => fault_writer::run_access(dir, &url),
        _ => fault_writer::run(dir, &run),
    }
    .map_err(|e| e.to_string())
}

fn clerk(mut args: Args) -> Result<(), String> {
    let url = args.opt("--url")?.ok_or("clerk needs --url URL")?;
    let mut body = serde_json::Map::new();
    for (flag, key) in [
        ("--reason", "reason"),
        ("--result", "result"),
        ("--note", "note"),
        ("--on", "on"),
        ("--clerk", "clerk"),
        ("--item", "item_code"),
        ("--applicant", "applicant_id"),
        ("--title", "title"),
    ] {
        if let Some(v) = args.opt(flag)? {
            body.insert(key.into(), v.into());
        }
    }
    for (flag, key) in [("--days", "promised_days"), ("--due-days", "due_days"), ("--latency-ms", "latency_ms")] {
        if let Some(v) = args.opt(flag)? {
            body.insert(key.into(), v.parse::<u64>().map_err(|_| format!("{flag} takes a whole number"))?.into());
        }
    }
    if let Some(v) = args.opt("--items")? {
        body.insert("items".into(), v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>().into());
    }
    let rate = args.opt("--rate")?;
    let timeout = args.opt("--timeout-ms")?;
    let action = args.word().ok_or(format!("clerk needs an action\n{USAGE}"))?;
    let case = args.word();
    args.finish()?;
    if action == "faults" {
        let rate: f64 = rate.as_deref().unwrap_or("0").parse().map_err(|_| "--rate takes 0..1")?;
        let timeout: u64 = timeout.as_deref().unwrap_or("2000").parse().map_err(|_| "--timeout-ms takes ms")?;
        let mut cfg = zhangban_sandbox::faults::FaultConfig::mixed(rate, timeout);
        cfg.latency_ms = body.get("latency_ms").and_then(|v| v.as_u64()).unwrap_or(0);
        body = serde_json::to_value(cfg).map_err(|e| e.to_string())?.as_object().cloned().unwrap_or_default();
    }
    if action == "sweep" {
        if let Some(v) = body.remove("on") {
            body.insert("today".into(), v);
        }
    }
    let out =
        runtime()?.block_on(zhangban_sandbox::cases::clerk_command(&url, &action, case.as_deref(), body.into()))?;
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    Ok(())
}

fn agent_bench_store(mut args: Args) -> Result<(), String> {
    let principals: usize =
        args.opt("--principals")?.as_deref().unwrap_or("100").parse().map_err(|_| "--principals N")?;
    let cases: usize = args.opt("--cases")?.as_deref().unwrap_or("100").parse().map_err(|_| "--cases N")?;
    let dir = args.word().ok_or("agent-bench-store DIR [--principals N] [--cases M]")?;
    args.finish()?;
    let subjects = zhangban_sandbox::agent_bench::bench_store(std::path::Path::new(&dir), principals, cases)?;
    println!("{}", serde_json::json!({ "subjects": subjects }));
    Ok(())
}

fn device_sync(mut args: Args) -> Result<(), String> {
    let dir = args.word().ok_or("device-sync DIR URL")?;
    let url = args.word().ok_or("device-sync DIR URL")?;
    args.finish()?;
    runtime()?.block_on(zhangban_sandbox::cases::device_sync(std::path::Path::new(&dir), &url))
}

/// `backup-child backup STORE_DIR VAULT_FILE BACKUP_FILE` (backs up again and again until killed) or
/// `backup-child restore BACKUP_FILE CODE_FILE VAULT_FILE TARGET_DIR` (hidden; the child process of the
/// kill -9 test of backups and restores).
fn backup_child(mut args: Args) -> Result<(), String> {
    use std::sync::Arc;
    use zhangban_core::backup;
    use zhangban_core::store::{FileVault, KeyVault, Store};
    let what = args.word().ok_or("backup-child backup|restore …")?;
    let words: Vec<String> = std::iter::from_fn(|| args.word()).collect();
    args.finish()?;
    let vault = |p: &str| -> Result<Arc<dyn KeyVault>, String> {
        Ok(Arc::new(FileVault::open_or_create(std::path::Path::new(p)).map_err(|e| e.to_string())?))
    };
    match (what.as_str(), words.as_slice()) {
        ("backup", [store, v, file]) => {
            let store = Store::open(std::path::Path::new(store), vault(v)?).map_err(|e| e.to_string())?;
            for _ in 0..50 {
                backup::write_backup(&store, std::path::Path::new(file)).map_err(|e| e.message_en())?;
            }
            Ok(())
        }
        ("restore", [file, code, v, target]) => {
            let code = std::fs::read_to_string(code).map_err(|e| e.to_string())?;
            let (_, key) = backup::open_backup(std::path::Path::new(file), &code).map_err(|e| e.message_en())?;
            backup::restore(
                std::path::Path::new(file),
                &key,
                std::path::Path::new(target),
                vault(v)?,
                None,
                Arc::new(zhangban_core::SystemClock),
            )
            .map(|_| ())
            .map_err(|e| e.message_en())
        }
        _ => Err("backup-child backup STORE VAULT FILE | restore FILE CODE_FILE VAULT TARGET".into()),
    }
}
