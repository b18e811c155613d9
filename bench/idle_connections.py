#!/usr/bin/env python3
"""Idle-connection memory: each echo server's resident bytes per open, idle connection.

The same servers as bench/run_echo.py, the plain C peers on liburing and libuv included
(bench/echo_servers.py names and starts them).

usage: idle_connections.py [--build BUILD_DIR] [--counts 10000[,100000...]] [--rounds 3]
                           [--servers ringloop-uring,ringloop-epoll,c-uring,c-uring-zc,c-epoll,
                                      libuv,uvloop,asyncio]
                           [--json FILE]

Method, per server and connection count N: a fresh server starts (port 0, pinned to CPU 0) and its
VmRSS is read from /proc/PID/status ("before"). This script then opens N TCP connections to it from
non-blocking sockets driven by one selector, at most --window at a time in flight (connect, send one
byte, read its echo; a connection whose echo came back is left open and idle). Once all N echoed,
it waits --settle seconds and reads VmRSS again ("after"): (after - before) / N is the figure, the
memory the server keeps per idle connection that has served one message (user space only: kernel
socket buffers are not in VmRSS). Then the server gets SIGTERM and the connections are closed with
a reset (SO_LINGER 0, so no TIME_WAIT is left to exhaust ports in later cells). Servers are
interleaved round by round (--rounds): each round runs every server at every count once; the table
gives medians over rounds. A ringloop echo_server whose --help offers --read-mode runs once per mode.

Limits, checked and reported: RLIMIT_NOFILE is raised to its hard limit (and the hard limit to the
need with CAP_SYS_RESOURCE, up to fs.nr_open); the server inherits it. A count that does not fit
is cut to what does and the output says so. One source address gives at most the ephemeral port
range (net.ipv4.ip_local_port_range) connections to one server port, so connections are spread
over source addresses 127.0.0.1, 127.0.0.2, ... (bound before connect with
IP_BIND_ADDRESS_NO_PORT). Memory: every 1,000 connections the server's growth so far is
projected to N; when that would leave less than --reserve-mib of MemAvailable the cell stops
there and says so (its figure is then over the connections it got). Python's standard library
only; Python runs with /usr/bin/python3 for the asyncio and uvloop servers.
"""
import argparse
import errno
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import struct
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing echo_servers
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_servers  # noqa: E402  (the directory of this script, as for run_echo.py)

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
SPARE_FDS = 64  # stdio, pipes, the selector, the listener
KERNEL_BYTES_PER_CONNECTION = 8192  # both socket ends' kernel memory, for the memory projection
CHECK_EVERY = 1000
STALL_TIMEOUT_S = 15.0
MIB = 1024 * 1024


def status_kib(pid, field):
    """A "FIELD:  N kB" line of /proc/PID/status, in bytes."""
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def meminfo(field):
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/meminfo")


def read_sysctl(path, default):
    try:
        with open(path) as file:
            return [int(value) for value in file.read().split()]
    except OSError:
        return default


def ephemeral_ports():
    low, high = read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", [32768, 60999])
    return high - low + 1


def raise_fd_limit(need):
    """Raises RLIMIT_NOFILE to max(hard, need) where allowed; gives (soft, note)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target_hard = hard
    if hard != resource.RLIM_INFINITY and hard < need:
        nr_open = read_sysctl("/proc/sys/fs/nr_open", [hard])[0]
        target_hard = min(need, nr_open)
    for new_hard in ([target_hard, hard] if target_hard != hard else [hard]):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_hard, new_hard))
            break
        except (ValueError, OSError):
            continue
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    note = None
    if soft != resource.RLIM_INFINITY and soft < need:
        note = (f"RLIMIT_NOFILE is {soft} (hard {hard}), below the {need} file descriptors "
                f"needed; raising the hard limit takes CAP_SYS_RESOURCE (ulimit -Hn as root)")
    return soft, note


def source_addresses(count):
    """127.0.0.1, 127.0.0.2, ... enough for `count` connections to one server port."""
    per_source = max(1, int(ephemeral_ports() * 0.9))
    sources = -(-count // per_source)
    if sources > 254:
        raise RuntimeError(f"{count} connections need {sources} source addresses")
    return [f"127.0.0.{index + 1}" for index in range(sources)], per_source


class Stopped(Exception):
    """Opening connections stopped before the count: the reason is the message."""


def open_idle_connections(port, count, pid, window, reserve):
    """Opens `count` connections to 127.0.0.1:port, each sending one byte and reading it back,
    at most `window` at a time in flight. Gives (sockets, note): every connection that echoed,
    still open, and why fewer than `count` were opened (None when all were)."""
    sources, per_source = source_addresses(count)
    selector = selectors.EpollSelector()
    idle = []
    in_flight = 0
    started = 0
    failures = []
    rss_start = status_kib(pid, "VmRSS")
    next_check = CHECK_EVERY
    last_progress = time.monotonic()
    note = None

    def start_one():
        nonlocal started, in_flight
        source = sources[started // per_source]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            error = sock.connect_ex(("127.0.0.1", port))
            if error not in (0, errno.EINPROGRESS):
                raise OSError(error, os.strerror(error))
        except OSError:
            sock.close()
            raise
        selector.register(sock, selectors.EVENT_WRITE, "connecting")
        started += 1
        in_flight += 1

    try:
        while len(idle) < count:
            while in_flight < window and started < count and note is None:
                try:
                    start_one()
                except OSError as error:
                    note = f"stopped at {started} connections: connect: {error.strerror}"
            if in_flight == 0:
                break
            events = selector.select(timeout=1.0)
            now = time.monotonic()
            if events:
                last_progress = now
            elif now - last_progress > STALL_TIMEOUT_S:
                note = note or (f"stopped at {len(idle)} connections: {in_flight} made no "
                                f"progress for {STALL_TIMEOUT_S:g} s")
                break
            for key, _ in events:
                sock = key.fileobj
                try:
                    if key.data == "connecting":
                        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if error:
                            raise OSError(error, os.strerror(error))
                        sock.send(b"x")
                        selector.modify(sock, selectors.EVENT_READ, "echo")
                        continue
                    data = sock.recv(16)
                    if data != b"x":
                        raise OSError(errno.EPROTO, f"echo gave {data!r}")
                    selector.unregister(sock)
                    in_flight -= 1
                    idle.append(sock)
                except OSError as error:
                    selector.unregister(sock)
                    sock.close()
                    in_flight -= 1
                    failures.append(error.strerror or str(error))
                    if len(failures) > max(10, count // 100) and note is None:
                        note = (f"stopped at {len(idle)} connections: {len(failures)} failed "
                                f"({failures[-1]})")
            if note is None and len(idle) >= next_check and len(idle) < count:
                next_check += CHECK_EVERY
                growth = (status_kib(pid, "VmRSS") - rss_start) / len(idle)
                needed = (growth + KERNEL_BYTES_PER_CONNECTION) * (count - len(idle))
                available = meminfo("MemAvailable")
                if available - needed < reserve:
                    note = (f"stopped at {len(idle)} connections: memory ({growth / 1024:.0f} KiB "
                            f"per connection projects {needed / 2**30:.1f} GiB more, "
                            f"{available / 2**30:.1f} GiB available, "
                            f"{reserve / 2**30:.1f} GiB kept free)")
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    if note is None and len(idle) < count:
        note = f"{count - len(idle)} connections failed ({failures[-1] if failures else '?'})"
    return idle, note


def close_with_reset(sockets):
    linger = struct.pack("ii", 1, 0)
    for sock in sockets:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        sock.close()


def measure_cell(label, server, read_mode, build, count, window=256, settle=0.5,
                 reserve=2 * 2**30):
    """One fresh server, `count` idle connections: a dict with rss_before, rss_after (bytes),
    connections (how many echoed), bytes_per_connection, seconds (to open them) and note."""
    process, port = echo_servers.start_server(
        echo_servers.server_command(server, build, read_mode))
    sockets = []
    try:
        time.sleep(settle)
        before = status_kib(process.pid, "VmRSS")
        start = time.monotonic()
        sockets, note = open_idle_connections(port, count, process.pid, window, reserve)
        seconds = time.monotonic() - start
        time.sleep(settle)
        if process.poll() is not None:
            raise RuntimeError(f"{label} exited ({process.returncode}) with "
                               f"{len(sockets)} connections open")
        after = status_kib(process.pid, "VmRSS")
    finally:
        echo_servers.stop_server(process)
        close_with_reset(sockets)
    connected = len(sockets)
    return {"server": label, "requested": count, "connections": connected,
            "rss_before": before, "rss_after": after,
            "bytes_per_connection": (after - before) / connected if connected else None,
            "seconds": seconds, "note": note}


def prepare_limits(counts):
    """Raises the fd limit for the largest count; gives (usable count per requested, notes)."""
    largest = max(counts)
    soft, note = raise_fd_limit(largest + SPARE_FDS)
    notes = [note] if note else []
    usable = {}
    for count in counts:
        fit = count if soft == resource.RLIM_INFINITY else min(count, soft - SPARE_FDS)
        if fit < count:
            notes.append(f"{count} connections cut to {fit}: file descriptor limit")
        usable[count] = max(1, fit)
    per_source = max(1, int(ephemeral_ports() * 0.9))
    largest = max(usable.values())
    if largest > per_source:
        notes.append(f"{largest} connections exceed one source address's ephemeral ports "
                     f"({ephemeral_ports()}): spread over "
                     f"{-(-largest // per_source)} addresses 127.0.0.x")
    return usable, notes


def run(servers, counts, rounds, build, window=256, settle=0.5, reserve=2 * 2**30,
        progress=sys.stderr):
    """Every (variant, count) cell once per round, interleaved. Gives (cells, notes): cells maps
    (label, requested count) to the list of measure_cell() results over rounds."""
    usable, notes = prepare_limits(counts)
    cells = {}
    for round_number in range(1, rounds + 1):
        for label, server, read_mode in echo_servers.variants(servers, build):
            for count in counts:
                print(f"round {round_number}: {label}, {count} idle connections...",
                      file=progress, flush=True)
                try:
                    result = measure_cell(label, server, read_mode, build, usable[count],
                                          window, settle, reserve)
                except (RuntimeError, OSError) as error:
                    print(f"skipped {label}: {error}", file=progress)
                    cells.setdefault((label, count), [])
                    continue
                result["round"] = round_number
                result["requested"] = count
                print(f"  {result['connections']} connections in {result['seconds']:.1f} s, "
                      f"{result['bytes_per_connection'] or 0:,.0f} bytes each"
                      + (f"; {result['note']}" if result["note"] else ""),
                      file=progress, flush=True)
                cells.setdefault((label, count), []).append(result)
    return cells, notes


def summarize(results):
    """The medians of one cell's rounds (None when no round ran)."""
    results = [result for result in results if result["bytes_per_connection"] is not None]
    if not results:
        return None
    return {
        "connections": min(result["connections"] for result in results),
        "rss_before": statistics.median(result["rss_before"] for result in results),
        "rss_after": statistics.median(result["rss_after"] for result in results),
        "bytes_per_connection": statistics.median(result["bytes_per_connection"]
                                                  for result in results),
        "seconds": statistics.median(result["seconds"] for result in results),
        "rounds": len(results),
        "notes": sorted({result["note"] for result in results if result["note"]}),
    }


def idle_bytes_per_connection(servers, build, count=10000, rounds=3, progress=sys.stderr):
    """For run_echo.py --idle: {label: median bytes per idle connection (or None)}."""
    cells, _ = run(servers, [count], rounds, build, progress=progress)
    result = {}
    for (label, _), results in cells.items():
        summary = summarize(results)
        result[label] = summary["bytes_per_connection"] if summary else None
    return result


def print_table(cells, counts, labels, rounds, notes):
    print(f"\nIdle connections: server RSS (VmRSS) before and after N connections that each "
          f"echoed one byte; medians of {rounds} round(s); load average "
          f"{echo_servers.load_average()}\n")
    print("| server | idle conns | RSS before MiB | RSS after MiB | bytes per idle connection |")
    print("|---|---:|---:|---:|---:|")
    footnotes = []
    for label in labels:
        for count in counts:
            summary = summarize(cells.get((label, count), []))
            if summary is None:
                print(f"| {label} | {count:,} | n/a | n/a | n/a |")
                continue
            mark = ""
            if summary["notes"]:
                footnotes.append(f"{label}, {count:,}: " + "; ".join(summary["notes"]))
                mark = f" [{len(footnotes)}]"
            print(f"| {label} | {summary['connections']:,}{mark} | "
                  f"{summary['rss_before'] / MIB:.1f} | {summary['rss_after'] / MIB:.1f} | "
                  f"{summary['bytes_per_connection']:,.0f} |")
    for number, footnote in enumerate(footnotes, 1):
        print(f"\n[{number}] {footnote}")
    for note in notes:
        print(f"\nNote: {note}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", help="build directory (default: build-release, else build)")
    parser.add_argument("--counts", "--connections", dest="counts", default="10000",
                        help="idle connection counts, comma-separated (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table gives medians")
    parser.add_argument("--servers", default=",".join(echo_servers.ALL_SERVERS))
    parser.add_argument("--window", type=int, default=256,
                        help="connections in flight (connecting or awaiting their echo) at once")
    parser.add_argument("--settle", type=float, default=0.5,
                        help="seconds to wait before each RSS reading")
    parser.add_argument("--reserve-mib", type=int, default=2048,
                        help="MemAvailable to keep free: a cell stops before it would go below")
    parser.add_argument("--json", metavar="FILE", help="write every round's raw figures here")
    args = parser.parse_args()
    try:
        counts = [int(count.replace("_", "")) for count in args.counts.split(",") if count]
    except ValueError:
        parser.error(f"--counts needs comma-separated integers, got {args.counts!r}")
    servers = [server for server in args.servers.split(",") if server]
    for server in servers:
        if server not in echo_servers.ALL_SERVERS:
            parser.error(f"unknown server {server!r}; known: {', '.join(echo_servers.ALL_SERVERS)}")
    if not counts or min(counts) <= 0 or args.rounds <= 0 or args.window <= 0:
        parser.error("--counts, --rounds and --window must be positive")
    build = echo_servers.find_build(args.build, "idle_connections.py",
                                    needs=("samples", "echo_server"))
    labels = [label for label, _, _ in echo_servers.variants(servers, build)]
    cells, notes = run(servers, counts, args.rounds, build, args.window, args.settle,
                       args.reserve_mib * MIB)
    print_table(cells, counts, labels, args.rounds, notes)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"rounds": args.rounds, "counts": counts, "notes": notes,
                       "load_average": echo_servers.load_average(),
                       "rlimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                       "ephemeral_ports": ephemeral_ports(),
                       "mem_available": meminfo("MemAvailable"),
                       "results": [result for results in cells.values() for result in results],
                       "medians": [dict(server=label, requested=count, **summary)
                                   for (label, count), results in cells.items()
                                   if (summary := summarize(results))]},
                      file, indent=2)
    return 0


if __name__ == "__main__":
    # SIGTERM to this script unwinds like Ctrl-C, so the finally below still runs.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        sys.exit(main())
    finally:
        echo_servers.kill_all_servers()
