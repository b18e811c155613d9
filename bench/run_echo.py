#!/usr/bin/env python3
"""Echo benchmark: ringloop's echo_server on io_uring and epoll beside a plain C epoll server,
uvloop and asyncio, all driven by the same load generator (samples/echo_client).

usage: run_echo.py [--build BUILD_DIR] [--duration 4] [--warmup 1] [--connections 10[,1000...]]
                   [--sizes 1024,10240,102400] [--servers ringloop-uring,ringloop-epoll,c-epoll,uvloop,asyncio]
                   [--idle [--idle-rounds 3]]

For each server and each message size: the server runs pinned to CPU 0 (`taskset -c 0`), one
echo_client pinned to CPU 1 (`taskset -c 1`) opens --connections connections and runs for
--warmup seconds (discarded), then a second echo_client runs for --duration seconds: that is the
measured run. The server's CPU time (utime + stime of /proc/PID/stat, every thread of the process
included) is read just before and just after the measured run. Each server is started once (port
0, the port taken from its "listening on" line) and serves every size, then gets SIGTERM.

The table gives, per server and size, requests/s (round trips, from echo_client's line), the
server's CPU µs per message (CPU time / requests), and that CPU per message divided by the plain C
server's ("x C"): the overhead of each runtime over the bare system calls. Python runs with
/usr/bin/python3 (python3-uvloop is a Debian package; scripts/main.sh installs it). A server that
cannot start here (io_uring refused, uvloop missing) shows n/a. CPU time is counted in clock ticks
(usually 10 ms), so short runs give coarse figures.

--connections takes a list (e.g. 10,1000): each server serves every count and size, and each count
gets its own pair of tables (requests/s and CPU; p50/p99 latency from echo_client's line). When
samples/echo_server's --help offers --read-mode, each ringloop server runs once per mode, as rows
"ringloop-uring/MODE". --idle then runs bench/idle_connections.py's measurement (fresh servers,
10,000 idle connections each, median of --idle-rounds) and appends its bytes per idle connection
as a last column. The servers and how they start are in bench/echo_servers.py.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing echo_servers
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_servers import (ALL_SERVERS, BASELINE, kill_all_servers, load_average,  # noqa: E402
                          server_command, start_server, stop_server, variants)
import echo_servers  # noqa: E402

CLIENT_CPU = ["taskset", "-c", "1"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_CONNECTIONS = 10000


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as file:
        # The command name, in parentheses, may hold spaces: split after its closing one.
        fields = file.read().rsplit(")", 1)[1].split()
    # After the name, field 3 (state) is fields[0]; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run_client(client, port, connections, size, duration):
    """One echo_client run on CPU 1; gives its fields as floats."""
    command = CLIENT_CPU + [client, "--host", "127.0.0.1", "--port", str(port), "--conns",
                            str(connections), "--size", str(size), "--duration", str(duration)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if result.returncode != 0:
        raise RuntimeError(f"echo_client failed ({result.returncode}): "
                           f"{result.stdout.strip()} {result.stderr.strip()}")
    return {key: float(value) for key, value in
            (item.split("=") for item in result.stdout.split())}


def measure(pid, client, port, connections, size, warmup, duration):
    run_client(client, port, connections, size, warmup)
    before = cpu_seconds(pid)
    report = run_client(client, port, connections, size, duration)
    after = cpu_seconds(pid)
    requests = report["reqs_per_s"] * duration
    report["cpu_us_per_msg"] = (after - before) * 1e6 / requests if requests else float("nan")
    return report


def find_build(requested):
    return echo_servers.find_build(requested, "run_echo.py")


def size_label(size):
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def print_table(labels, sizes, results, connections, duration, idle=None):
    """One connection count's tables; `idle` ({label: bytes per idle connection}) appends a
    column to the first."""
    print(f"\nEcho, {connections} connections, {duration:g} s measured per cell; server on CPU 0, "
          f"echo_client on CPU 1; load average {load_average()}")
    print("req/s | server CPU µs per message | CPU per message relative to the plain C server"
          + (f" | server RSS bytes per idle connection ({IDLE_CONNECTIONS:,} connections)"
             if idle is not None else "") + "\n")
    cell_width = 28
    idle_width = 18
    name_width = max([16] + [len(label) + 2 for label in labels])
    header = f"{'server':<{name_width}}" + "".join(f"{size_label(size):>{cell_width}}"
                                                   for size in sizes)
    if idle is not None:
        header += f"{'idle B/conn':>{idle_width}}"
    print(header)
    print("-" * len(header))
    for label in labels:
        cells = []
        for size in sizes:
            report = results.get((label, connections, size))
            if report is None:
                cells.append("n/a")
                continue
            baseline = results.get((BASELINE, connections, size))
            ratio = (f"{report['cpu_us_per_msg'] / baseline['cpu_us_per_msg']:.2f}x"
                     if baseline and baseline["cpu_us_per_msg"] > 0 else "n/a")
            cells.append(f"{report['reqs_per_s']:,.0f} | {report['cpu_us_per_msg']:.2f} | {ratio}")
        line = f"{label:<{name_width}}" + "".join(f"{cell:>{cell_width}}" for cell in cells)
        if idle is not None:
            value = idle.get(label)
            line += f"{(f'{value:,.0f}' if value is not None else 'n/a'):>{idle_width}}"
        print(line)
    print("\np50/p99 round-trip latency (µs)\n")
    print(f"{'server':<{name_width}}" + "".join(f"{size_label(size):>{cell_width}}"
                                                for size in sizes))
    for label in labels:
        cells = []
        for size in sizes:
            report = results.get((label, connections, size))
            cells.append(f"{report['p50_us']:.1f} / {report['p99_us']:.1f}" if report else "n/a")
        print(f"{label:<{name_width}}" + "".join(f"{cell:>{cell_width}}" for cell in cells))


def positive_list(text):
    values = [int(value) for value in text.split(",") if value]
    if not values or min(values) <= 0:
        raise ValueError(text)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", help="build directory (default: build-release, else build)")
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per cell")
    parser.add_argument("--connections", default="10",
                        help="connection counts, comma-separated: one table each (default 10)")
    parser.add_argument("--sizes", default="1024,10240,102400", help="message sizes in bytes")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--idle", action="store_true",
                        help=f"append each server's RSS per idle connection "
                             f"(bench/idle_connections.py, {IDLE_CONNECTIONS:,} connections)")
    parser.add_argument("--idle-rounds", type=int, default=3,
                        help="rounds of the --idle measurement (median)")
    args = parser.parse_args()
    try:
        sizes = positive_list(args.sizes)
        connection_counts = positive_list(args.connections)
    except ValueError:
        parser.error("--connections and --sizes need comma-separated positive integers")
    servers = [server for server in args.servers.split(",") if server]
    for server in servers:
        if server not in ALL_SERVERS:
            parser.error(f"unknown server {server!r}; known: {', '.join(ALL_SERVERS)}")
    if args.duration <= 0 or args.warmup <= 0 or args.idle_rounds <= 0:
        parser.error("--duration, --warmup and --idle-rounds must be positive")
    if not shutil.which("taskset"):
        sys.exit("run_echo.py: taskset is missing (util-linux)")
    if os.cpu_count() < 2:
        print("run_echo.py: fewer than 2 CPUs: server and client share one", file=sys.stderr)
    build = find_build(args.build)
    client = os.path.join(build, "samples", "echo_client")
    server_variants = variants(servers, build)  # ringloop once per --read-mode it offers

    results = {}
    for label, server, read_mode in server_variants:
        command = server_command(server, build, read_mode)
        try:
            process, port = start_server(command)
        except (RuntimeError, OSError) as error:
            print(f"skipped {label}: {error}", file=sys.stderr)
            continue
        try:
            for connections in connection_counts:
                for size in sizes:
                    print(f"{label}, {size_label(size)}"
                          + (f", {connections} connections" if len(connection_counts) > 1 else "")
                          + "...", file=sys.stderr, flush=True)
                    results[(label, connections, size)] = measure(
                        process.pid, client, port, connections, size, args.warmup, args.duration)
        except RuntimeError as error:
            print(f"{label}: {error}", file=sys.stderr)
        finally:
            stop_server(process)
    idle = None
    if args.idle:
        import idle_connections
        idle = idle_connections.idle_bytes_per_connection(servers, build, IDLE_CONNECTIONS,
                                                          args.idle_rounds)
    labels = [label for label, _, _ in server_variants]
    for connections in connection_counts:
        print_table(labels, sizes, results, connections, args.duration, idle)
    return 0


if __name__ == "__main__":
    # SIGTERM to this script unwinds like Ctrl-C, so the finally below still runs.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        sys.exit(main())
    finally:
        kill_all_servers()
