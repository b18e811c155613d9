#!/usr/bin/env python3
"""Echo benchmark: ringloop's echo_server on io_uring and epoll beside plain C servers on liburing,
epoll and libuv, uvloop and asyncio, all driven by the same load generator (samples/echo_client).

usage: run_echo.py [--build BUILD_DIR] [--duration 4] [--warmup 1] [--rounds 3]
                   [--connections 10[,1000...]] [--sizes 1024,10240,102400]
                   [--servers ringloop-uring,ringloop-epoll,c-uring,c-uring-zc,c-epoll,libuv,uvloop,asyncio]
                   [--json FILE] [--idle [--idle-rounds 3]]

Every server is started once, before the first measurement, and kept running to the end (port 0,
the port taken from its "listening on" line), each pinned to CPU 0 (`taskset -c 0`); only one is
loaded at a time, the others wait in their poll. The cells are interleaved, because the noise on a
shared machine drifts by tens of percent over minutes: for round 1..--rounds, for each connection
count, for each size, every server is measured once, in an order that rotates by one each round.
One measurement: one echo_client pinned to CPU 1 (`taskset -c 1`) opens --connections
connections and runs for --warmup seconds (discarded; 0 skips it), then a second echo_client runs
for --duration seconds: that is the measured run. The server's CPU time (the run time in
/proc/PID/task/*/schedstat, in ns, every thread of the process included; utime + stime where
schedstat is missing) is read just before and just after it.

The tables give, per connection count, size and server, the MEDIAN over rounds of requests/s
(round trips, from echo_client's line), the server's CPU µs per message (CPU time / requests) and
p50/p99 round-trip latency; the spread of CPU µs per message over rounds (min-max, marked "!" when
(max - min) / median exceeds 20%); and the median CPU per message divided by the median of the
plain C epoll server ("x c-epoll": the overhead over the bare system calls) and of the plain C
io_uring server ("x c-uring": over the bare ring), both from the same run. Python runs with
/usr/bin/python3 (python3-uvloop is a Debian package; scripts/main.sh installs it). A server that
cannot start here (io_uring or SEND_ZC refused, uvloop missing, a peer not built) shows n/a.

When samples/echo_server's --help offers --read-mode, each ringloop server runs once per mode, as
rows "ringloop-uring/MODE". --json writes every raw measurement (with its round and position in
the order) and the medians. --idle then runs bench/idle_connections.py's measurement (fresh
servers, 10,000 idle connections each, median of --idle-rounds) and prints each server's bytes per
idle connection as one more table. The servers and how they start are in bench/echo_servers.py.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing echo_servers
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_servers import (ALL_SERVERS, BASELINE, RINGLOOP_SERVERS, URING_BASELINE,  # noqa: E402
                          kill_all_servers,
                          load_average, server_command, start_server, stop_server, variants)
import echo_servers  # noqa: E402

CLIENT_CPU = ["taskset", "-c", "1"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_CONNECTIONS = 10000


def cpu_seconds(pid):
    """CPU time of the whole process, in seconds: the sum over its threads of the run time in
    /proc/PID/task/TID/schedstat (nanoseconds; a thread that ends during a measurement would be
    missed, and these servers keep theirs), else utime + stime of /proc/PID/stat (clock ticks,
    usually 10 ms: coarse for short runs) where the kernel has no schedstat."""
    try:
        total = 0
        tasks = os.listdir(f"/proc/{pid}/task")
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as file:
                    total += int(file.read().split()[0])
            except FileNotFoundError:
                continue  # the thread ended between listdir and open
        if tasks:
            return total / 1e9
    except OSError:
        pass
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
    if warmup > 0:
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
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


SPREAD_LIMIT = 0.20  # (max - min) / median of CPU per message above this is marked
MEDIAN_FIELDS = ("reqs_per_s", "cpu_us_per_msg", "p50_us", "p99_us")


def summarize(reports):
    """The medians of one cell's rounds, with the CPU-per-message spread (None when none ran)."""
    if not reports:
        return None
    summary = {field: statistics.median(report[field] for report in reports)
               for field in MEDIAN_FIELDS}
    cpu = [report["cpu_us_per_msg"] for report in reports]
    summary["cpu_min"], summary["cpu_max"] = min(cpu), max(cpu)
    median = summary["cpu_us_per_msg"]
    summary["cpu_spread"] = (max(cpu) - min(cpu)) / median if median > 0 else float("nan")
    summary["rounds"] = len(reports)
    return summary


def ratio(summary, baseline):
    if summary is None or baseline is None or not baseline["cpu_us_per_msg"] > 0:
        return "n/a"
    return f"{summary['cpu_us_per_msg'] / baseline['cpu_us_per_msg']:.2f}x"


def print_table(labels, sizes, medians, connections, duration, rounds):
    """One connection count's table: a block of rows per size, one row per server."""
    print(f"\nEcho, {connections} connections, {duration:g} s measured per cell, medians of "
          f"{rounds} interleaved round(s); server on CPU 0, echo_client on CPU 1; load average "
          f"{load_average()}")
    print(f"CPU = server CPU µs per message (median; min-max over rounds, ! = spread over "
          f"{SPREAD_LIMIT:.0%} of the median); x {BASELINE} / x {URING_BASELINE} = that median "
          f"divided by theirs\n")
    name_width = max([16] + [len(label) + 2 for label in labels])
    columns = [("req/s", 11), ("CPU µs/msg", 12), ("CPU min-max", 18), (f"x {BASELINE}", 10),
               (f"x {URING_BASELINE}", 10), ("p50 µs", 10), ("p99 µs", 10), ("rounds", 8)]
    size_width = max([6] + [len(size_label(size)) + 2 for size in sizes])
    header = f"{'size':<{size_width}}{'server':<{name_width}}" + "".join(f"{name:>{width}}"
                                                              for name, width in columns)
    print(header)
    print("-" * len(header))
    for index, size in enumerate(sizes):
        if index:
            print()
        epoll = medians.get((BASELINE, connections, size))
        uring = medians.get((URING_BASELINE, connections, size))
        for label in labels:
            summary = medians.get((label, connections, size))
            line = f"{size_label(size):<{size_width}}{label:<{name_width}}"
            if summary is None:
                cells = ["n/a"] + [""] * (len(columns) - 1)
            else:
                mark = "!" if summary["cpu_spread"] > SPREAD_LIMIT else " "
                cells = [f"{summary['reqs_per_s']:,.0f}", f"{summary['cpu_us_per_msg']:.2f}",
                         f"{summary['cpu_min']:.2f}-{summary['cpu_max']:.2f}{mark}",
                         ratio(summary, epoll), ratio(summary, uring),
                         f"{summary['p50_us']:.1f}", f"{summary['p99_us']:.1f}",
                         str(summary["rounds"])]
            # A cell wider than its column still gets a space before it.
            line += "".join(f"{cell:>{width}}" if len(cell) < width else f" {cell}"
                            for cell, (_, width) in zip(cells, columns))
            print(line.rstrip())


def print_idle(labels, idle):
    print(f"\nServer RSS bytes per idle connection ({IDLE_CONNECTIONS:,} connections, "
          "bench/idle_connections.py)\n")
    name_width = max([16] + [len(label) + 2 for label in labels])
    for label in labels:
        value = idle.get(label)
        print(f"{label:<{name_width}}{(f'{value:,.0f}' if value is not None else 'n/a'):>14}")


def positive_list(text):
    values = [int(value) for value in text.split(",") if value]
    if not values or min(values) <= 0:
        raise ValueError(text)
    return values


def start_all(server_variants, build, builds=None):
    """Starts every variant (from `build`, or from builds[label] where given); gives
    {label: (process, port)} of those that started."""
    running = {}
    for label, server, read_mode in server_variants:
        try:
            running[label] = start_server(server_command(server, (builds or {}).get(label, build),
                                                         read_mode))
        except (RuntimeError, OSError) as error:
            print(f"skipped {label}: {error}", file=sys.stderr)
    return running


def run_rounds(running, labels, client, connection_counts, sizes, rounds, warmup, duration):
    """Every (round, connections, size, server) once, servers in an order rotated per round.
    Gives the raw measurements, each a dict with its cell, round and place in the order."""
    raw = []
    for round_number in range(1, rounds + 1):
        shift = (round_number - 1) % len(labels)
        order = labels[shift:] + labels[:shift]
        for connections in connection_counts:
            for size in sizes:
                for position, label in enumerate(order):
                    if label not in running:
                        continue
                    process, port = running[label]
                    print(f"round {round_number}/{rounds}: {label}, {size_label(size)}, "
                          f"{connections} connections...", file=sys.stderr, flush=True)
                    try:
                        report = measure(process.pid, client, port, connections, size, warmup,
                                         duration)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                        print(f"{label}: {error}", file=sys.stderr)
                        if process.poll() is not None:
                            print(f"{label} exited ({process.returncode}): no more cells",
                                  file=sys.stderr)
                            stop_server(process)
                            del running[label]
                        continue
                    if report.get("errors"):
                        print(f"{label}: echo_client counted {report['errors']:.0f} failed "
                              "connections in this cell", file=sys.stderr)
                    raw.append(dict(report, server=label, connections=connections, size=size,
                                    round=round_number, position=position))
    return raw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", help="build directory (default: build-release, else build)")
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="warm-up seconds per cell (0: none)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; the tables give medians (default 3)")
    parser.add_argument("--connections", default="10",
                        help="connection counts, comma-separated: one table each (default 10)")
    parser.add_argument("--sizes", default="1024,10240,102400", help="message sizes in bytes")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--before", metavar="BUILD",
                        help="also run the ringloop servers of another build (e.g. an older "
                             "commit's) as rows 'SERVER@before', interleaved with the rest")
    parser.add_argument("--json", metavar="PATH",
                        help="write every raw measurement and the medians here")
    parser.add_argument("--idle", action="store_true",
                        help=f"add each server's RSS per idle connection "
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
    if args.duration <= 0 or args.warmup < 0 or args.idle_rounds <= 0 or args.rounds <= 0:
        parser.error("--duration, --rounds and --idle-rounds must be positive, --warmup not "
                     "negative")
    if not shutil.which("taskset"):
        sys.exit("run_echo.py: taskset is missing (util-linux)")
    if os.cpu_count() < 2:
        print("run_echo.py: fewer than 2 CPUs: server and client share one", file=sys.stderr)
    build = find_build(args.build)
    client = os.path.join(build, "samples", "echo_client")
    server_variants = variants(servers, build)  # ringloop once per --read-mode it offers
    builds = {}
    if args.before:
        before = os.path.abspath(args.before)
        for server in servers:
            if server in RINGLOOP_SERVERS:
                for label, _, read_mode in variants([server], before):
                    builds[f"{label}@before"] = before
                    server_variants.append((f"{label}@before", server, read_mode))
    labels = [label for label, _, _ in server_variants]

    load_before = load_average()
    running = start_all(server_variants, build, builds)
    try:
        raw = run_rounds(running, labels, client, connection_counts, sizes, args.rounds,
                         args.warmup, args.duration)
    finally:
        for process, _ in running.values():
            stop_server(process)
    medians = {}
    for label in labels:
        for connections in connection_counts:
            for size in sizes:
                summary = summarize([report for report in raw if report["server"] == label
                                     and report["connections"] == connections
                                     and report["size"] == size])
                if summary:
                    medians[(label, connections, size)] = summary
    idle = None
    if args.idle:
        import idle_connections
        idle = idle_connections.idle_bytes_per_connection(servers, build, IDLE_CONNECTIONS,
                                                          args.idle_rounds)
    for connections in connection_counts:
        print_table(labels, sizes, medians, connections, args.duration, args.rounds)
    if idle is not None:
        print_idle(labels, idle)
    if args.json:
        rows = []
        for (label, connections, size), summary in medians.items():
            row = dict(server=label, connections=connections, size=size, **summary)
            for name, baseline in (("x_c_epoll", BASELINE), ("x_c_uring", URING_BASELINE)):
                other = medians.get((baseline, connections, size))
                row[name] = (summary["cpu_us_per_msg"] / other["cpu_us_per_msg"]
                             if other and other["cpu_us_per_msg"] > 0 else None)
            rows.append(row)
        with open(args.json, "w") as file:
            json.dump({"duration": args.duration, "warmup": args.warmup, "rounds": args.rounds,
                       "connections": connection_counts, "sizes": sizes, "servers": labels,
                       "load_average_before": load_before, "load_average_after": load_average(),
                       "raw": raw, "medians": rows, "idle_bytes_per_connection": idle},
                      file, indent=2)
    return 0


if __name__ == "__main__":
    # SIGTERM to this script unwinds like Ctrl-C, so the finally below still runs.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        sys.exit(main())
    finally:
        kill_all_servers()
