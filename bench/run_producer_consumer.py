#!/usr/bin/env python3
"""Runs the 500k-action producer/consumer program on every loop, side by side, and prints a table.

usage: run_producer_consumer.py --build BUILD_DIR [--runs 5] [--actions 500000]

Rows: the plain-loop floor, ringloop's standard loop (epoll + system allocator), ringloop's
optimized loop (io_uring + mimalloc), Python asyncio and uvloop (/usr/bin/python3). Each runs
`--runs` times as its own process; the table gives median/min/max and each median's ratio to
uvloop's and to the floor's. Every run's checksum is checked, so a lost item fails the run.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = re.compile(r"App exiting, total time: ([0-9.]+) sec\.")
CHECKSUM = re.compile(r"checksum: (\d+)")


def expected_checksum(actions):
    def squares(n):
        return n * (n + 1) * (2 * n + 1) // 6
    half = actions // 2
    return squares(half) + squares(actions - half)


def measure(command, runs, actions):
    times = []
    for _ in range(runs):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
        seconds = TIME.search(result.stdout)
        checksum = CHECKSUM.search(result.stdout)
        if not seconds or not checksum:
            raise RuntimeError(f"{' '.join(command)} printed no time/checksum:\n{result.stdout}")
        if int(checksum.group(1)) != expected_checksum(actions):
            raise RuntimeError(f"{' '.join(command)}: checksum {checksum.group(1)} != "
                               f"{expected_checksum(actions)} (an item was lost or duplicated)")
        times.append(float(seconds.group(1)))
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--actions", type=int, default=500_000)
    args = parser.parse_args()
    samples = os.path.join(args.build, "samples")
    actions = ["--actions", str(args.actions)]
    optimized = os.path.join(samples, "producer_consumer_mimalloc")
    if not os.path.exists(optimized):
        print("note: mimalloc build missing; optimized row uses the system allocator", file=sys.stderr)
        optimized = os.path.join(samples, "producer_consumer")
    python = "/usr/bin/python3"
    script = os.path.join(HERE, "producer_consumer.py")
    rows = [
        ("floor (plain C++ loop)", [os.path.join(args.build, "bench", "producer_consumer_floor")] + actions),
        ("ringloop standard (epoll, malloc)",
         [os.path.join(samples, "producer_consumer"), "--loop", "standard"] + actions),
        ("ringloop optimized (io_uring, mimalloc)", [optimized, "--loop", "optimized"] + actions),
        ("python asyncio", [python, script, "--loop", "asyncio"] + actions),
        ("python uvloop", [python, script, "--loop", "uvloop"] + actions),
    ]
    results = {}
    for name, command in rows:
        try:
            results[name] = measure(command, args.runs, args.actions)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            print(f"skipped {name}: {error}", file=sys.stderr)
    print(f"\n{args.actions:,} actions, {args.runs} runs each (seconds)\n")
    uvloop = statistics.median(results["python uvloop"]) if "python uvloop" in results else None
    floor = statistics.median(results["floor (plain C++ loop)"]) if "floor (plain C++ loop)" in results else None
    print(f"{'loop':<42}{'median':>10}{'min':>10}{'max':>10}{'vs uvloop':>12}{'vs floor':>10}")
    for name, _command in rows:
        if name not in results:
            continue
        times = results[name]
        median = statistics.median(times)
        versus_uvloop = f"{uvloop / median:.1f}x" if uvloop else "n/a"
        versus_floor = f"{median / floor:.2f}x" if floor else "n/a"
        print(f"{name:<42}{median:>10.4f}{min(times):>10.4f}{max(times):>10.4f}"
              f"{versus_uvloop:>12}{versus_floor:>10}")
    print("\n'vs uvloop': how many times faster than uvloop; 'vs floor': times slower than the floor.")
    missing = [name for name, _ in rows if name not in results]
    return 1 if any(name.startswith("ringloop") for name in missing) else 0


if __name__ == "__main__":
    sys.exit(main())
