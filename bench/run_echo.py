#!/usr/bin/env python3
"""Echo benchmark: ringloop's echo_server on io_uring and epoll beside a plain C epoll server,
uvloop and asyncio, all driven by the same load generator (samples/echo_client).

usage: run_echo.py [--build BUILD_DIR] [--duration 4] [--warmup 1] [--connections 10]
                   [--sizes 1024,10240,102400] [--servers ringloop-uring,ringloop-epoll,c-epoll,uvloop,asyncio]

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
"""
import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"
PYTHON_SERVER = os.path.join(HERE, "echo_python_server.py")
SERVER_CPU = ["taskset", "-c", "0"]
CLIENT_CPU = ["taskset", "-c", "1"]
BASELINE = "c-epoll"
ALL_SERVERS = ("ringloop-uring", "ringloop-epoll", "c-epoll", "uvloop", "asyncio")
START_TIMEOUT_S = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

running_servers = []  # every Popen started, killed in the end whatever happens


def server_command(name, build):
    if name == "ringloop-uring":
        return [os.path.join(build, "samples", "echo_server"), "--port", "0", "--backend", "uring"]
    if name == "ringloop-epoll":
        return [os.path.join(build, "samples", "echo_server"), "--port", "0", "--backend", "epoll"]
    if name == "c-epoll":
        return [os.path.join(build, "bench", "echo_epoll_server"), "--port", "0"]
    if name in ("uvloop", "asyncio"):
        return [PYTHON, PYTHON_SERVER, "--loop", name, "--port", "0"]
    raise ValueError(f"unknown server {name!r}; known: {', '.join(ALL_SERVERS)}")


def start_server(command):
    """Starts `command` on CPU 0; gives (process, port) once it prints its listening line."""
    process = subprocess.Popen(SERVER_CPU + command, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    running_servers.append(process)
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("listening on "):
        stop_server(process)
        errors = process.stderr.read().strip()
        raise RuntimeError(f"{' '.join(command)} did not start: {line.strip() or errors or 'no output'}")
    # "listening on 127.0.0.1:PORT" with an optional " (backend: ...)" after it.
    address = line.split()[2]
    return process, int(address.rsplit(":", 1)[1])


def stop_server(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process in running_servers:
        running_servers.remove(process)


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
    if requested:
        return os.path.abspath(requested)
    for candidate in ("build-release", "build"):
        path = os.path.join(ROOT, candidate)
        if os.path.exists(os.path.join(path, "samples", "echo_client")):
            return path
    sys.exit("run_echo.py: no build with samples/echo_client in build-release/ or build/; "
             "pass --build")


def size_label(size):
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def print_table(servers, sizes, results, connections, duration):
    print(f"\nEcho, {connections} connections, {duration:g} s measured per cell; server on CPU 0, "
          f"echo_client on CPU 1; load average {load_average()}")
    print("req/s | server CPU µs per message | CPU per message relative to the plain C server\n")
    cell_width = 28
    header = f"{'server':<16}" + "".join(f"{size_label(size):>{cell_width}}" for size in sizes)
    print(header)
    print("-" * len(header))
    for server in servers:
        cells = []
        for size in sizes:
            report = results.get((server, size))
            if report is None:
                cells.append("n/a")
                continue
            baseline = results.get((BASELINE, size))
            ratio = (f"{report['cpu_us_per_msg'] / baseline['cpu_us_per_msg']:.2f}x"
                     if baseline and baseline["cpu_us_per_msg"] > 0 else "n/a")
            cells.append(f"{report['reqs_per_s']:,.0f} | {report['cpu_us_per_msg']:.2f} | {ratio}")
        print(f"{server:<16}" + "".join(f"{cell:>{cell_width}}" for cell in cells))
    print("\np50/p99 round-trip latency (µs)\n")
    print(f"{'server':<16}" + "".join(f"{size_label(size):>{cell_width}}" for size in sizes))
    for server in servers:
        cells = []
        for size in sizes:
            report = results.get((server, size))
            cells.append(f"{report['p50_us']:.1f} / {report['p99_us']:.1f}" if report else "n/a")
        print(f"{server:<16}" + "".join(f"{cell:>{cell_width}}" for cell in cells))


def load_average():
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", help="build directory (default: build-release, else build)")
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per cell")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--sizes", default="1024,10240,102400", help="message sizes in bytes")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    servers = [server for server in args.servers.split(",") if server]
    for server in servers:
        if server not in ALL_SERVERS:
            parser.error(f"unknown server {server!r}; known: {', '.join(ALL_SERVERS)}")
    if args.duration <= 0 or args.warmup <= 0 or args.connections <= 0 or not sizes:
        parser.error("--duration, --warmup, --connections and --sizes must be positive")
    if not shutil.which("taskset"):
        sys.exit("run_echo.py: taskset is missing (util-linux)")
    if os.cpu_count() < 2:
        print("run_echo.py: fewer than 2 CPUs: server and client share one", file=sys.stderr)
    build = find_build(args.build)
    client = os.path.join(build, "samples", "echo_client")

    results = {}
    for server in servers:
        command = server_command(server, build)
        try:
            process, port = start_server(command)
        except (RuntimeError, OSError) as error:
            print(f"skipped {server}: {error}", file=sys.stderr)
            continue
        try:
            for size in sizes:
                print(f"{server}, {size_label(size)}...", file=sys.stderr, flush=True)
                results[(server, size)] = measure(process.pid, client, port, args.connections, size,
                                                  args.warmup, args.duration)
        except RuntimeError as error:
            print(f"{server}: {error}", file=sys.stderr)
        finally:
            stop_server(process)
    print_table(servers, sizes, results, args.connections, args.duration)
    return 0


def kill_all_servers():
    for process in list(running_servers):
        if process.poll() is None:
            process.kill()
            process.wait()
    running_servers.clear()


if __name__ == "__main__":
    # SIGTERM to this script unwinds like Ctrl-C, so the finally below still runs.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        sys.exit(main())
    finally:
        kill_all_servers()
