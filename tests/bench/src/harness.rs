//! Timing: compared engines interleaved run by run (rotating which goes first), medians of per-iteration
//! times, and the rows written out as JSON for tests/bench_report.py.
//!
//! The time of a run is the benchmark thread's CPU time (user + system, `CLOCK_THREAD_CPUTIME_ID`): on a
//! shared machine the wall clock also counts the time other processes held the core; the CPU time is the
//! work done, which is what "on one core" means. Wall-clock medians go into each row's detail.

use std::time::Instant;

/// CPU time of the calling thread, in seconds.
pub fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Per engine: seconds per iteration of each run, by CPU time and by wall clock.
pub struct Times {
    pub cpu: Vec<Vec<f64>>,
    pub wall: Vec<Vec<f64>>,
}

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

/// Times each engine in turn, `plan.runs` times, the order rotating each run.
pub fn interleaved(plan: Plan, engines: &mut [&mut dyn FnMut()]) -> Times {
    let sizes: Vec<usize> = engines.iter_mut().map(|f| batch_size(*f, plan.run_secs)).collect();
    let k = engines.len();
    let mut t = Times { cpu: vec![Vec::with_capacity(plan.runs); k], wall: vec![Vec::with_capacity(plan.runs); k] };
    for run in 0..plan.runs {
        for j in 0..k {
            let e = (run + j) % k;
            let (w0, c0) = (Instant::now(), thread_cpu_secs());
            for _ in 0..sizes[e] {
                (engines[e])();
            }
            t.cpu[e].push((thread_cpu_secs() - c0) / sizes[e] as f64);
            t.wall[e].push(w0.elapsed().as_secs_f64() / sizes[e] as f64);
        }
    }
    t
}

impl Times {
    /// Median milliseconds per iteration of engine `e` by CPU time, and by wall clock.
    pub fn ms(&self, e: usize) -> (f64, f64) {
        (median(&self.cpu[e]) * 1e3, median(&self.wall[e]) * 1e3)
    }
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
