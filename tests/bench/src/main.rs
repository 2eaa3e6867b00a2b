//! The benchmark binary of tests/bench.sh: the wallet, forms and sync rows of the promised figures
//! (docs/benchmarks.md), compared engines interleaved run by run, written as JSON rows.
//!
//! ```text
//! zhangban-bench [--quick | --full] [--out FILE] [--only ID,ID…]   # rows: wallet forms sync homes
//! zhangban-bench prep-first-code DIR NOW                             # setup of the first-code row
//! ```
//! Build with the release profile (`--profile bench`: the shipped library's settings).

mod first_code;
mod forms;
mod harness;
mod homes;
mod sync;
mod wallet;

use std::path::PathBuf;

use serde_json::json;

use harness::Plan;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("prep-first-code") {
        let dir = PathBuf::from(args.get(1).ok_or("prep-first-code DIR NOW")?);
        let now: i64 = args.get(2).ok_or("prep-first-code DIR NOW")?.parse()?;
        println!("{}", first_code::prepare(&dir, now)?);
        return Ok(());
    }
    let mut full = false;
    let mut out: Option<PathBuf> = None;
    let mut only: Option<Vec<String>> = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => full = false,
            "--full" => full = true,
            "--out" => out = Some(it.next().ok_or("--out FILE")?.into()),
            "--only" => only = Some(it.next().ok_or("--only a,b")?.split(',').map(str::to_string).collect()),
            _ => return Err(format!("unknown argument {a}; see the source's header").into()),
        }
    }
    let want = |g: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == g));
    let plan = if full { Plan::full() } else { Plan::quick() };
    let mut rows = Vec::new();
    if want("wallet") {
        eprintln!("wallet: present and verify ({} runs each, interleaved with their floors)", plan.runs);
        rows.extend(wallet::rows(plan));
    }
    if want("forms") {
        eprintln!("forms: autofill, edit vs full recompute, catalog search");
        rows.extend(forms::rows(plan));
    }
    if want("sync") {
        let runs = if full { 3 } else { 1 };
        let n = std::env::var("ZB_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        eprintln!("sync: {n} applications, {runs} run(s) per scenario");
        rows.extend(sync::rows(n, runs)?);
    }
    if want("homes") {
        eprintln!("homes: agent home, 待办 home, reminder plan ({} runs each, interleaved)", plan.runs);
        rows.extend(homes::rows(plan)?);
    }
    let doc = json!({"mode": if full { "full" } else { "quick" }, "rows": rows});
    match out {
        Some(p) => std::fs::write(p, serde_json::to_vec_pretty(&doc)?)?,
        None => println!("{}", serde_json::to_string_pretty(&doc)?),
    }
    Ok(())
}
