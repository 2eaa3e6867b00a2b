"""No abort at exit (issue 16): a process that makes one async FFI call and then exits normally must exit
with status 0, every time. The library used to abort such a process now and then (SIGABRT, "FATAL:
exception not rethrown"): a thread of the library called into the interpreter while it was shutting down.

Each run is its own Python process (the abort happens only at process exit); they run in parallel batches
so that 100 exits take seconds, not minutes.
"""

import os
import subprocess
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from ffi import BINDINGS_DIR, FfiTestCase

RUNS = int(os.environ.get("ZB_EXIT_RUNS", "100"))
PARALLEL = int(os.environ.get("ZB_EXIT_PARALLEL", "8"))

CHILD = r"""
import asyncio, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from zhangban import zhangban_ffi as zb  # the package bindings/generate.sh writes (one module per crate)

class Vault(zb.KeyVault):
    # A key vault implemented in Python: the store holds it, so dropping the store calls back into Python.
    def wrap(self, alias, plaintext):
        return bytes(b ^ 0x5A for b in plaintext)
    def unwrap(self, alias, wrapped):
        return bytes(b ^ 0x5A for b in wrapped)
    def destroy(self, alias):
        pass

class Listener(zb.CaseListener):
    def on_notice(self, notice):
        pass

d = tempfile.mkdtemp()
store = zb.ZhangbanStore.create(os.path.join(d, "s"), Vault(), None)
asyncio.run(store.integrity_check())
if sys.argv[2] == "sync":
    # An unreachable platform: the call fails fast with Network, after starting HTTP machinery.
    cases = zb.ZhangbanCases(store, "http://127.0.0.1:9", Listener())
    try:
        asyncio.run(cases.sync_now())
    except zb.ZhangbanError:
        pass
print("done")
"""


def one(kind):
    p = subprocess.run(
        [sys.executable, "-c", CHILD, str(BINDINGS_DIR), kind],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.returncode, p.stdout.strip(), p.stderr.strip()[-300:]


class ExitTest(FfiTestCase):
    def test_one_hundred_exits_after_an_async_call_never_abort(self):
        start = time.monotonic()
        kinds = ["check" if i % 2 == 0 else "sync" for i in range(RUNS)]
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            results = list(pool.map(one, kinds))
        elapsed = time.monotonic() - start
        bad = [(k, r) for k, r in zip(kinds, results) if r[0] != 0 or r[1] != "done"]
        print(f"\n{RUNS} process exits in {elapsed:.1f} s ({PARALLEL} at a time): {len(bad)} failed", file=sys.stderr)
        self.assertEqual(bad, [], f"{len(bad)} of {RUNS} exits failed; first: {bad[:1]}")


if __name__ == "__main__":
    unittest.main()
