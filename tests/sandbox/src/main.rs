//! `zhangban-sandbox`: the local stand-in for the provincial government service platform, and the
//! journey demo.
//!
//! ```text
//! zhangban-sandbox serve [--addr 127.0.0.1:0] [--db FILE]   serve the platform; prints "listening on URL"
//! zhangban-sandbox demo [--report FILE]                      run the citizen's journey end to end
//! ```
//! Add a subcommand: one arm in `main` and one line in `USAGE`; parse options with [`Args`].
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use zhangban_sandbox::{demo, fault_writer, server};

const USAGE: &str = "usage:
  zhangban-sandbox serve [--addr 127.0.0.1:0] [--db FILE]
  zhangban-sandbox demo [--report FILE]";

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
        // Hidden: the child process of the kill -9 fault test (tests/sandbox/tests/faults.rs).
        Some("fault-writer") => fault_writer(args),
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
    args.finish()?;
    runtime()?.block_on(async {
        let running =
            server::start(&addr, db.as_deref(), server::Config::default()).await.map_err(|e| e.to_string())?;
        println!("listening on {}", running.url);
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
    args.finish()?;
    fault_writer::run(std::path::Path::new(&dir), &run).map_err(|e| e.to_string())
}
