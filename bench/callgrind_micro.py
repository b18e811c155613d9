#!/usr/bin/env python3
"""Instructions per operation of ringloop's five hottest paths, counted by callgrind.

usage: callgrind_micro.py [--build BUILD_DIR | --binary PATH] [--operations N]
                          [--backends epoll[,uring]] [--cases a,b,...] [--timeout SECONDS]

Each case (micro_benchmarks --list-callgrind: spawn_await, call_soon, call_soon_threadsafe with
1 posting thread, timer_add_cancel with 1,000 live timers, queue_handoff) runs twice under
`valgrind --tool=callgrind`, as `micro_benchmarks --callgrind=<case> --operations=N` and with 2N;
instructions per operation = (Ir(2N) - Ir(N)) / N, so start-up, loop construction and the case's
set-up cancel out. Ir counts every thread (call_soon_threadsafe: the poster's and the loop's
instructions together). Prints one Markdown table: case, backend, N, Ir(N), Ir(2N), Ir/op.
The default backend is epoll: under valgrind 3.19 an io_uring loop that sleeps in io_uring_enter
while another thread must post to it never wakes (valgrind does not release its thread lock
around that system call). The single-thread cases do run on io_uring (--backends epoll,uring);
every run has a --timeout (default 120 s, then SIGKILL) and a case that did not finish, such as
call_soon_threadsafe on io_uring, is reported as "timeout". /usr/bin/python3, standard library
only.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CASES = ("spawn_await", "call_soon", "call_soon_threadsafe", "timer_add_cancel",
                 "queue_handoff")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-release"),
                        help="build directory holding bench/micro_benchmarks")
    parser.add_argument("--binary", help="the micro_benchmarks program (overrides --build)")
    parser.add_argument("--operations", type=int, default=10000, help="N (the runs do N and 2N)")
    parser.add_argument("--backends", default="epoll", help="comma-separated: epoll,uring")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per valgrind run")
    return parser.parse_args()


def instructions(binary, case, operations, backend, timeout):
    """Total Ir of one run, or None when it did not finish in time."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
                   f"--callgrind={case}", f"--operations={operations}", f"--backend={backend}"]
        try:
            result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n"
                               f"{result.stderr[-2000:]}")
        with open(out) as file:
            for line in file:
                match = re.match(r"(?:summary|totals):\s+(\d+)", line)
                if match:
                    return int(match.group(1))
    raise RuntimeError(f"no summary line in callgrind's output for {case}")


def main():
    arguments = parse_arguments()
    binary = arguments.binary or os.path.join(arguments.build, "bench", "micro_benchmarks")
    n = arguments.operations
    if n <= 0:
        sys.exit("--operations must be positive")
    if not shutil.which("valgrind"):
        sys.exit("callgrind_micro.py: valgrind is missing (apt-get install valgrind; "
                 "scripts/main.sh installs it with the other benchmark packages)")
    if not os.access(binary, os.X_OK):
        sys.exit(f"callgrind_micro.py: no {binary}; build the micro_benchmarks target first")
    print(f"callgrind: instructions per operation = (Ir(2N) - Ir(N)) / N, N = {n}")
    print()
    print("| case | backend | N | Ir(N) | Ir(2N) | Ir/op |")
    print("|---|---|---:|---:|---:|---:|")
    for case in arguments.cases.split(","):
        for backend in arguments.backends.split(","):
            single = instructions(binary, case, n, backend, arguments.timeout)
            double = instructions(binary, case, 2 * n, backend, arguments.timeout) \
                if single is not None else None
            if single is None or double is None:
                print(f"| {case} | {backend} | {n} | timeout | timeout | n/a |", flush=True)
                continue
            per_op = (double - single) / n
            print(f"| {case} | {backend} | {n} | {single:,} | {double:,} | {per_op:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
