"""How late a sleeping process wakes up while CPU hogs run: the scheduling delay a heartbeat
sender or an idle observer sees, against the deadlines of the failure detectors.

    python benchmarks/wakeup.py [--hogs 4 64 256] [--nice 0 -20] [--seconds 10]

For each (number of busy processes, their nice value): start the hogs, then sleep 50 ms at a
time for `--seconds` and record how much later than asked each sleep returned; print p50, p99
and max. The hogs are load under test; the figure is the overshoot of `time.sleep` as measured by
`time.monotonic`. A nice value below 0 needs root.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

NAP = 0.05


def overshoot(hogs: int, nice: int, seconds: float) -> list[float]:
    busy = (f"import os, time\nos.nice({nice})\nend = time.time() + {seconds + 2}\n"
            "while time.time() < end: pass\n")
    procs = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(hogs)]
    try:
        time.sleep(1.0)  # the hogs up and running
        late = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.monotonic()
            time.sleep(NAP)
            late.append(time.monotonic() - t - NAP)
        return late
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hogs", nargs="+", type=int, default=[4, 64, 256])
    ap.add_argument("--nice", nargs="+", type=int, default=[0, -20])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(f"{'hogs':>5} {'nice':>5} {'sleeps':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for hogs in args.hogs:
        for nice in args.nice:
            late = sorted(overshoot(hogs, nice, args.seconds))
            p99 = late[min(len(late) - 1, int(0.99 * len(late)))]
            print(f"{hogs:>5} {nice:>5} {len(late):>6} {statistics.median(late) * 1e3:>7.1f} "
                  f"{p99 * 1e3:>7.1f} {late[-1] * 1e3:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
