"""Sealing at rest (issue 24), before and after in one run: the engine saturated
(`flow_throughput.py`'s saturated run: N reporters each filing a complete report, every
step a durable transaction) on this checkout and on another one (the code before sealing),
alternating, each run in a process of its own; then the medians, the ratio, and the CPU
each process used (on a machine shared with other work, the figure to compare).

Usage: python bench/at_rest.py --before DIR [--runs 3] [--reporters 1000]
(DIR: a checkout of the code to compare with, e.g. `git archive main | tar -x -C DIR`.)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PROBE = """
import asyncio, json, logging, sys
from pathlib import Path
sys.path.insert(0, {root!r})
logging.getLogger("flows").setLevel(logging.ERROR)
from bench import flow_throughput
print(json.dumps(asyncio.run(flow_throughput.run(Path({db!r}), {reporters}, 0.0, "sat"))))
"""


def once(root: Path, reporters: int) -> tuple[float, float]:
    """Saturated steps/s and the CPU seconds (user + system) of one run on the code at `root`."""
    with tempfile.TemporaryDirectory(prefix="lapor-at-rest-") as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(root), db=str(Path(tmp) / "sat.db"),
                                                                  reporters=reporters)],
                             cwd=root, check=True, capture_output=True, text=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.loads(out.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(figures["steps_per_s"]), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reporters", type=int, default=1000)
    args = parser.parse_args()
    codes = {"before": args.before.resolve(), "after (sealed)": HERE}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    started = time.time()
    for n in range(args.runs):
        order = list(codes) if n % 2 == 0 else list(reversed(codes))  # neither always goes first
        for name in order:
            results[name].append(once(codes[name], args.reporters))
            rate, cpu = results[name][-1]
            print(f"run {n + 1} {name:<15} {rate:8.0f} steps/s  CPU {cpu:6.2f} s", flush=True)
    print(f"\n{args.reporters} reporters, saturated, {args.runs} runs each ({time.time() - started:.0f} s in all)")
    medians = {}
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = (rate, cpu)
        print(f"{name:<15} median {rate:8.0f} steps/s  CPU {cpu:6.2f} s per run")
    (rate_b, cpu_b), (rate_a, cpu_a) = medians["before"], medians["after (sealed)"]
    print(f"after / before: steps/s {rate_a / rate_b:.2f}x, CPU per run {cpu_a / cpu_b:.2f}x")


if __name__ == "__main__":
    main()
