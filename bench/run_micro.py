#!/usr/bin/env python3
"""Runs micro_benchmarks (bench/micro/, the per-operation costs of issue 12) and prints one
Markdown table.

usage: run_micro.py [--build BUILD_DIR | --binary PATH] [--repetitions N] [--quick]
                    [--min-time SECONDS] [--filter REGEX] [--json PATH]

Google Benchmark runs with --benchmark_repetitions=N (default 5; --quick: 1, and a 0.05 s minimum
time) --benchmark_report_aggregates_only=true --benchmark_format=json; the JSON it printed is
written to --json (default: micro_benchmarks.json in the current directory). Table columns:
operation, backend, median ns/op (1e9 / items_per_second, so a benchmark whose iteration is a
batch, spawn_many or timers_fire_1M, is still per operation; real time for the benchmarks named
.../real_time, CPU time of the loop thread for the others), median items/s and the benchmark's
own counters (bytes_per_task, wakes_per_1000, ...). A benchmark that skipped (io_uring
unavailable) gets a row saying why. /usr/bin/python3, standard library only.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Keys of a Google Benchmark JSON entry that are not user counters.
STANDARD_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "aggregate_name", "aggregate_unit", "iterations", "real_time",
    "cpu_time", "time_unit", "items_per_second", "bytes_per_second", "label", "error_occurred",
    "error_message",
}
BACKENDS = ("uring", "epoll")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-release"),
                        help="build directory holding bench/micro_benchmarks")
    parser.add_argument("--binary", help="the micro_benchmarks program (overrides --build)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="1 repetition and a 0.05 s minimum time per benchmark")
    parser.add_argument("--min-time", type=float, help="--benchmark_min_time in seconds")
    parser.add_argument("--filter", help="--benchmark_filter regular expression")
    parser.add_argument("--json", default="micro_benchmarks.json",
                        help="where to write Google Benchmark's JSON")
    return parser.parse_args()


def split_name(run_name):
    """'call_soon_threadsafe/uring/threads:1/real_time' -> ('call_soon_threadsafe threads:1',
    'uring')."""
    parts = run_name.split("/")
    backend = next((part for part in parts if part in BACKENDS), "-")
    rest = [part for part in parts[1:]
            if part not in BACKENDS and part != "real_time" and not part.startswith("iterations:")]
    return " ".join([parts[0]] + rest), backend


def format_number(value):
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.2f}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def main():
    arguments = parse_arguments()
    binary = arguments.binary or os.path.join(arguments.build, "bench", "micro_benchmarks")
    repetitions = 1 if arguments.quick else arguments.repetitions
    min_time = arguments.min_time if arguments.min_time is not None else (
        0.05 if arguments.quick else None)
    command = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
               "--benchmark_report_aggregates_only=true"]
    if min_time is not None:
        command.append(f"--benchmark_min_time={min_time}")
    if arguments.filter:
        command.append(f"--benchmark_filter={arguments.filter}")
    print(f"running: {' '.join(command)}", file=sys.stderr)
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=7200)
    if result.returncode != 0:
        sys.exit(f"{binary} failed with exit status {result.returncode}")
    with open(arguments.json, "w") as file:
        file.write(result.stdout)
    report = json.loads(result.stdout)

    rows = []
    for entry in report["benchmarks"]:
        run_name = entry.get("run_name", entry["name"])
        operation, backend = split_name(run_name)
        if entry.get("error_occurred"):
            rows.append((operation, backend, "skipped", "", entry.get("error_message", "")))
            continue
        # With one repetition there are no aggregates: the run itself is the median.
        if repetitions > 1 and entry.get("aggregate_name") != "median":
            continue
        if repetitions == 1 and entry.get("run_type") == "aggregate":
            continue
        items = entry.get("items_per_second")
        ns_per_op = 1e9 / items if items else None
        counters = ", ".join(f"{key}={format_number(value)}" for key, value in sorted(entry.items())
                             if key not in STANDARD_KEYS and isinstance(value, (int, float)))
        rows.append((operation, backend,
                     f"{ns_per_op:.1f}" if ns_per_op is not None else "n/a",
                     format_number(items), counters))

    context = report.get("context", {})
    print(f"micro_benchmarks: {repetitions} repetition(s), host {context.get('host_name', '?')}, "
          f"{context.get('num_cpus', '?')} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in context.get('load_avg', []))}; JSON in {arguments.json}")
    print()
    print("| operation | backend | median ns/op | items/s | counters |")
    print("|---|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
