//! The 30 ms rows (issues 11 and 12): an agent's phone with 100 principals and 10,000 cases (100 each, in six
//! states, built by the sandbox's agent-bench fixture, `zhangban_sandbox::agent_bench`), timed through the
//! core API: the agent home (`Agent::principals`), the 待办 home (`remind::home`) and the reminder plan on
//! an unchanged store (`remind::plan`, the steady state of the background task: an empty diff).
//! The same figures through the FFI: `tests/python/bench_agent.py`; the reminder bench with 50 real licences
//! and the plan after writes: `cargo bench -p zhangban-sandbox --bench remind` (docs/benchmarks.md).

use std::sync::Arc;

use serde_json::{json, Value};
use zhangban_core::agent::Agent;
use zhangban_core::remind;
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::wallet::Wallet;

use crate::harness::{interleaved, row, Plan};

const PRINCIPALS: usize = 100;
const CASES_EACH: usize = 100;

pub fn rows(plan: Plan) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let t = std::time::Instant::now();
    zhangban_sandbox::agent_bench::bench_store(tmp.path(), PRINCIPALS, CASES_EACH)?;
    eprintln!(
        "  setup: {PRINCIPALS} principals, {} cases in {:.1} s",
        PRINCIPALS * CASES_EACH,
        t.elapsed().as_secs_f64()
    );
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&tmp.path().join("vault.key"))?);
    let store = Arc::new(Store::open(&tmp.path().join("store"), vault)?);
    let wallet = Wallet::open(store.clone())?;
    let agent = Agent::new(&wallet);
    // Sanity: each call sees the whole store (a bench of an empty answer would measure nothing).
    let lines = agent.principals()?;
    if lines.len() != PRINCIPALS {
        return Err(format!("agent home lists {} principals, expected {PRINCIPALS}", lines.len()).into());
    }
    let home = remind::home(&store)?;
    remind::plan(&store)?;
    // Errors are kept (a failing call would time nothing) and reported after the timing.
    let (mut ea, mut eh, mut ep) = (None, None, None);
    let times = {
        let mut a = || {
            if let Err(e) = agent.principals() {
                ea.get_or_insert(e.message_en());
            }
        };
        let mut h = || {
            if let Err(e) = remind::home(&store) {
                eh.get_or_insert(e.message_en());
            }
        };
        let mut p = || {
            if let Err(e) = remind::plan(&store) {
                ep.get_or_insert(e.message_en());
            }
        };
        interleaved(plan, &mut [&mut a, &mut h, &mut p])
    };
    if let Some(e) = ea.or(eh).or(ep) {
        return Err(e.into());
    }
    let detail = |e: usize| {
        let (cpu, wall) = times.ms(e);
        json!({"cpu_ms": cpu, "wall_ms": wall, "principals": PRINCIPALS, "cases": PRINCIPALS * CASES_EACH,
               "needs_total": home.needs_total, "runs": plan.runs})
    };
    let mut out = Vec::new();
    for (e, id, title) in [
        (0, "agent_home", "agent home at 10k cases, 100 principals"),
        (1, "todo_home", "待办 home at 10k cases, 100 principals"),
        (2, "reminder_plan", "reminder plan at 10k cases, 100 principals (unchanged store)"),
    ] {
        let (cpu, _) = times.ms(e);
        out.push(row(id, title, cpu, "ms", &[], "≤ 30 ms", Some(cpu <= 30.0), detail(e)));
    }
    Ok(out)
}
