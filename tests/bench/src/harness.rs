//! Timing: compared engines interleaved run by run (rotating which goes first), medians of per-iteration
//! times, and the rows written out as JSON for tests/bench_report.py.

use std::time::Instant;

use serde_json::{json, Value};

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Timed runs per engine (the median is over these).
    pub runs: usize,
    /// Target wall time of one run of one engine, in seconds (the batch size is chosen from it).
    pub run_secs: f64,
}

impl Plan {
    pub fn quick() -> Plan {
        Plan { runs: 7, run_secs: 0.05 }
    }
    pub fn full() -> Plan {
        Plan { runs: 31, run_secs: 0.2 }
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Iterations per batch so that one batch of `f` takes about `secs` (at least 1).
fn batch_size(f: &mut dyn FnMut(), secs: f64) -> usize {
    let mut n = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let e = t.elapsed().as_secs_f64();
        if e >= secs / 4.0 || n >= 1 << 20 {
            return ((n as f64 * secs / e.max(1e-9)).ceil() as usize).clamp(1, 1 << 22);
        }
        n *= 4;
    }
}

/// Times each engine in turn, `plan.runs` times, the order rotating each run. Returns, per engine,
/// the seconds per iteration of every run.
pub fn interleaved(plan: Plan, engines: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    let sizes: Vec<usize> = engines.iter_mut().map(|f| batch_size(*f, plan.run_secs)).collect();
    let k = engines.len();
    let mut out = vec![Vec::with_capacity(plan.runs); k];
    for run in 0..plan.runs {
        for j in 0..k {
            let e = (run + j) % k;
            let t = Instant::now();
            for _ in 0..sizes[e] {
                (engines[e])();
            }
            out[e].push(t.elapsed().as_secs_f64() / sizes[e] as f64);
        }
    }
    out
}

/// One row of the table. `value` is in `unit`; `compare` lists the compared engines in the same unit.
#[allow(clippy::too_many_arguments)]
pub fn row(
    id: &str,
    title: &str,
    value: f64,
    unit: &str,
    compare: &[(&str, f64)],
    goal: &str,
    met: Option<bool>,
    detail: Value,
) -> Value {
    json!({
        "id": id,
        "title": title,
        "value": value,
        "unit": unit,
        "compare": compare.iter().map(|(n, c)| json!({"name": n, "value": c, "ratio": value / c})).collect::<Vec<_>>(),
        "goal": goal,
        "met": met,
        "detail": detail,
    })
}

/// A row whose feature is not on main yet.
pub fn not_built(id: &str, title: &str, goal: &str) -> Value {
    json!({"id": id, "title": title, "value": null, "unit": "ms", "compare": [],
           "goal": goal, "met": null, "detail": {"status": "not built yet"}})
}
