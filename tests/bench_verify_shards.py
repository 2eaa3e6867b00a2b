#!/usr/bin/env python3
"""Verification throughput before/after a change (issue 10: sharded status lists must keep it within 10 %).

Runs two builds of `core/wallet/examples/verify_bench.rs` (the same source builds on both versions) alternately
under the same load, ROUNDS times each, and prints each binary's median time of one verification (µs), the
verifications per second on one core, the ratio after/before and the load average. Build the two binaries:

    cargo build --release -p zhangban-wallet --features zhangban-base/sandbox-trust --example verify_bench
    cp target/release/examples/verify_bench /tmp/verify-after
    git checkout BASE -- core/wallet/src && (the same build) && cp … /tmp/verify-before
    git checkout HEAD -- core/wallet/src

    tests/bench_verify_shards.py /tmp/verify-before /tmp/verify-after [ROUNDS] [ITERATIONS]
"""

import os
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    before, after = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    iterations = sys.argv[4] if len(sys.argv) > 4 else "2000"
    load = os.getloadavg()[0]
    got = {before: [], after: []}
    for i in range(rounds):
        # Alternate which goes first, so a drift in load touches both alike.
        for exe in (before, after) if i % 2 == 0 else (after, before):
            out = subprocess.run([exe, "1", iterations], capture_output=True, text=True, check=True).stdout
            got[exe].append(float(out.split()[0]))
    b, a = statistics.median(got[before]), statistics.median(got[after])
    print(f"rounds {rounds} × {iterations} verifications each, load average {load:.2f} → {os.getloadavg()[0]:.2f}")
    print(f"before: median {b:.2f} µs per verification ({1e6 / b:,.0f}/s on one core)")
    print(f"after:  median {a:.2f} µs per verification ({1e6 / a:,.0f}/s on one core)")
    print(f"ratio after/before: {a / b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
