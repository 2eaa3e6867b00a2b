"""Agent-mode bench through the FFI (issue 11): an agent's phone with 100 principals and 10,000 cases (100
each, six states), built by the sandbox binary's hidden `agent-bench-store` command through the core; then
opened through the generated Python bindings and timed: the home (`ZhangbanAgent.principals()`: 100 lines
with what each needs now) and switching principal (`switch_principal()`: the line, 100 case summaries,
drafts; one audit entry) and the reminders' 待办 home (`ZhangbanReminders.home()`, which leaves ended principals
out, ADR 0043), 50 runs each, medians and p95 in milliseconds. Each figure includes the FFI
(lowering, the Rust call, lifting into Python objects). Not a unit test (not named test_*): run it as

    python3 tests/python/bench_agent.py [--principals 100] [--cases 100] [--runs 50]

with the library and bindings from `bindings/generate.sh python` (debug build by default: its figures
are labelled so in docs/benchmarks.md)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from ffi import zb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stats(name, v):
    v = sorted(v)
    med, p95 = v[len(v) // 2], v[min(len(v) - 1, len(v) * 95 // 100)]
    print(f"{name:40} median {med:7.2f} ms   p95 {p95:7.2f} ms   (n = {len(v)})")
    return med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--principals", type=int, default=100)
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--sandbox", default=os.path.join(ROOT, "target", "debug", "zhangban-sandbox"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = subprocess.run(
            [a.sandbox, "agent-bench-store", tmp, "--principals", str(a.principals), "--cases", str(a.cases)],
            check=True, capture_output=True, text=True,
        ).stdout
        subjects = json.loads(out)["subjects"]
        print(f"setup: {len(subjects)} principals x {a.cases} cases in {time.perf_counter() - t0:.1f} s")
        store = zb.ZhangbanStore.open(os.path.join(tmp, "store"), zb.file_vault(os.path.join(tmp, "vault.key")))
        agent = zb.ZhangbanAgent(store)
        home, switch = [], []
        for _ in range(a.runs):
            t = time.perf_counter()
            lines = agent.principals()
            home.append((time.perf_counter() - t) * 1e3)
            assert len(lines) == len(subjects), len(lines)
            assert all(l.needs_now.zh and l.needs_now.en for l in lines)
        for r in range(a.runs):
            s = subjects[(r * 37) % len(subjects)]
            t = time.perf_counter()
            v = agent.switch_principal(s)
            switch.append((time.perf_counter() - t) * 1e3)
            assert len(v.cases) == a.cases and v.line.subject == s and all(c.subject == s for c in v.cases)
        rem = zb.ZhangbanReminders(store)
        todo = []
        for _ in range(a.runs):
            t = time.perf_counter()
            th = rem.home()
            todo.append((time.perf_counter() - t) * 1e3)
            assert th.cases_total > 0
        h = stats(f"home ({len(subjects)} principals), FFI", home)
        stats(f"待办 home (reminders, {len(subjects) * a.cases} cases), FFI", todo)
        w = stats(f"switch principal ({a.cases} cases), FFI", switch)
        print(f"budget 30 ms: home {'met' if h <= 30 else 'MISSED'}, switch {'met' if w <= 30 else 'MISSED'}")
        del agent, rem, store
    return 0


if __name__ == "__main__":
    sys.exit(main())
