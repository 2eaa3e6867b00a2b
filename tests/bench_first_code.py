"""Time to a first 亮证 code, through the FFI, from a cold process (a row of tests/bench.sh).

Each run is a fresh Python process that loads the generated bindings and the library (dlopen, UniFFI's
checks), opens the store with its platform vault and no PIN, opens the wallet, builds a presentation of
the resident ID card (hotel check-in preset) and renders its QR modules, and reports the time of each
step from before the import. The store and licence come from `zhangban-bench prep-first-code`. Python's
own start-up (before the first line of the child) is measured apart and not counted.

    python3 tests/bench_first_code.py --bindings DIR --prep PREP.json --now NOW --runs N --out FILE
Standard library only.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import zhangban_ffi as zb
t1 = time.perf_counter()
prep = json.loads(sys.argv[2]); now = int(sys.argv[3])
store = zb.ZhangbanStore.open(prep["store"], zb.file_vault(prep["vault"]))
t2 = time.perf_counter()
wallet = zb.ZhangbanWallet.open(store)
t3 = time.perf_counter()
code = wallet.present(prep["licence_id"], zb.DisclosurePreset.HOTEL_CHECK_IN(), None, now)
t4 = time.perf_counter()
qr = zb.render_qr(code.qr_text)
t5 = time.perf_counter()
assert code.qr_text.startswith("ZB1:") and qr.width > 0
print(json.dumps({"load": t1 - t0, "open_store": t2 - t1, "open_wallet": t3 - t2, "present": t4 - t3,
                  "render_qr": t5 - t4, "total": t5 - t0, "chars": len(code.qr_text)}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindings", required=True)
    ap.add_argument("--prep", required=True)
    ap.add_argument("--now", required=True)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    prep = open(a.prep, encoding="utf-8").read().strip()
    runs, process = [], []
    for _ in range(a.runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, a.bindings, prep, a.now], check=True,
                             capture_output=True, text=True).stdout
        process.append(time.perf_counter() - t)
        runs.append(json.loads(out))
    med = {k: statistics.median(r[k] for r in runs) * 1e3 for k in runs[0] if k != "chars"}
    total = med["total"]
    row = {
        "id": "first_code",
        "title": "time to a first code: open the store (platform key, no PIN) + open the wallet + present, "
                 "through the FFI from a cold process",
        "value": total, "unit": "ms", "compare": [], "goal": "≤ 50 ms", "met": total <= 50.0,
        "detail": {"runs": a.runs, "median_ms_per_step": {k: round(v, 3) for k, v in med.items()},
                   "process_wall_ms_median_incl_python_startup": statistics.median(process) * 1e3,
                   "qr_text_chars": runs[0]["chars"]},
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"rows": [row]}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
