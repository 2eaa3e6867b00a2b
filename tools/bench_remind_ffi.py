#!/usr/bin/env python3
"""The 待办 home and the reminder plan through the FFI (issue 12: each ≤ 30 ms for 10,000 cases, 50 licences,
100 principals), timed from Python over the generated bindings of a release library, on the store the core
bench leaves behind:

    CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 ZB_BENCH_KEEP=/tmp/zb-remind \\
        cargo bench -p zhangban-sandbox --bench remind
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \\
        cargo build --release -p zhangban-ffi -p uniffi-bindgen --features zhangban-base/sandbox-trust
    bindings/generate.sh --no-build --release python
    python3 tools/bench_remind_ffi.py /tmp/zb-remind

Each figure is the median of 21 calls after 3 warm-up calls and includes the Python side (ctypes, decoding
every record into Python objects); "after a write" writes first through the FFI (a setting of the reminder
engine; a new case submitted offline). Standard library only.
"""
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from ffi import zb  # noqa: E402


def median_ms(f, n=21, before=None):
    """Median wall-clock and thread-CPU milliseconds of `f` (CPU time is the steadier figure on a machine
    shared with other builds: it leaves out the time the thread waited for a core)."""
    for _ in range(3):
        if before:
            before()
        f()
    wall, cpu = [], []
    for _ in range(n):
        if before:
            before()
        t, c = time.perf_counter(), time.thread_time()
        f()
        cpu.append((time.thread_time() - c) * 1e3)
        wall.append((time.perf_counter() - t) * 1e3)
    return f"{statistics.median(wall):6.1f} ms wall, {statistics.median(cpu):6.1f} ms CPU"


def main():
    kept = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/zb-remind")
    store = zb.ZhangbanStore.open(str(kept / "store"), zb.file_vault(str(kept / "vault.key")))
    rem = zb.ZhangbanReminders(store)
    cases = zb.ZhangbanCases(store, "http://127.0.0.1:9", None)  # offline: submitting only queues
    settings = rem.settings()
    t = time.perf_counter()
    home = rem.home()
    first = (time.perf_counter() - t) * 1e3
    print(f"home: {home.needs_total} needs ({len(home.needs)} carried), {home.cases_total} active cases "
          f"({len(home.cases)} carried), {len(home.principals)} subjects with needs; first call {first:.1f} ms")
    print(f"home warm:                 {median_ms(rem.home)}")
    rem.plan()
    print(f"plan warm (empty diff):    {median_ms(rem.plan)}")
    touch = lambda: rem.set_settings(settings)  # noqa: E731
    print(f"home after a setting write: {median_ms(rem.home, before=touch)}")
    sub = zb.Submission(item_codes=["GA-002"], title="基准", values="{}", attachments=[], deferred_materials=[],
                        materials=[])
    new_case = lambda: cases.submit(zb.self_subject(), sub)  # noqa: E731
    print(f"home after a new case:     {median_ms(rem.home, before=new_case)}")
    print(f"plan after a new case:     {median_ms(rem.plan, before=new_case)}")
    print(f"plan from scratch (reset): {median_ms(rem.plan, before=rem.reset_plan)}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
