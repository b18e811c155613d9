"""The echo servers that bench/run_echo.py and bench/idle_connections.py compare, and how to start,
stop and find them.

Servers: ringloop's samples/echo_server with --backend uring and --backend epoll ("ringloop-uring",
"ringloop-epoll"); the plain C peers: bench/echo_uring_server on liburing ("c-uring", and
"c-uring-zc" with --send-zc: IORING_OP_SEND_ZC), bench/echo_epoll_server ("c-epoll") and
bench/echo_libuv_server ("libuv"); and bench/echo_python_server.py on uvloop and asyncio
(/usr/bin/python3). BASELINE (c-epoll) is what CPU per message is divided by; URING_BASELINE
(c-uring) is the second divisor, the bare ring that ringloop's io_uring backend sits on.
Each starts on port 0 pinned to CPU 0 (`taskset -c 0`, which execs the server, so the Popen's pid is
the server's) and is ready once it prints "listening on HOST:PORT" (optionally followed by
" (backend: ...)"); the port is taken from that line.

A ringloop server may offer `--read-mode MODE1|MODE2` (after the receive-path rewrite): variants()
asks `echo_server --help` and, when it does, gives one variant per mode, named "SERVER/MODE"
(the modes listed as "--read-mode a|b", else copy and zero-copy); otherwise the plain names. Every Popen started is recorded in running_servers so that
kill_all_servers() can end them whatever happens.
"""
import os
import re
import select
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"
PYTHON_SERVER = os.path.join(HERE, "echo_python_server.py")
SERVER_CPU = ["taskset", "-c", "0"]
BASELINE = "c-epoll"
URING_BASELINE = "c-uring"
ALL_SERVERS = ("ringloop-uring", "ringloop-epoll", "c-uring", "c-uring-zc", "c-epoll", "libuv",
               "uvloop", "asyncio")
RINGLOOP_SERVERS = ("ringloop-uring", "ringloop-epoll")
START_TIMEOUT_S = 10.0

running_servers = []  # every Popen started, killed in the end whatever happens


def server_command(name, build, read_mode=None):
    """The command line of server `name` (one of ALL_SERVERS) on port 0; `read_mode` is passed
    as --read-mode to a ringloop server."""
    if name in RINGLOOP_SERVERS:
        command = [os.path.join(build, "samples", "echo_server"), "--port", "0", "--backend",
                   name.split("-", 1)[1]]
        return command + (["--read-mode", read_mode] if read_mode else [])
    if read_mode:
        raise ValueError(f"{name} has no read modes")
    if name == "c-epoll":
        return [os.path.join(build, "bench", "echo_epoll_server"), "--port", "0"]
    if name in ("c-uring", "c-uring-zc"):
        command = [os.path.join(build, "bench", "echo_uring_server"), "--port", "0"]
        return command + (["--send-zc"] if name == "c-uring-zc" else [])
    if name == "libuv":
        return [os.path.join(build, "bench", "echo_libuv_server"), "--port", "0"]
    if name in ("uvloop", "asyncio"):
        return [PYTHON, PYTHON_SERVER, "--loop", name, "--port", "0"]
    raise ValueError(f"unknown server {name!r}; known: {', '.join(ALL_SERVERS)}")


def read_modes(build):
    """The values `echo_server --help` lists for --read-mode (e.g. ["copy", "zero-copy"]), or []
    when it has no such flag (or cannot run)."""
    try:
        result = subprocess.run([os.path.join(build, "samples", "echo_server"), "--help"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    match = re.search(r"--read-mode[ =\[]*([A-Za-z0-9_|-]*)", result.stdout + result.stderr)
    if not match:
        return []
    if "|" in match.group(1):
        return [mode for mode in match.group(1).split("|") if mode]
    return ["copy", "zero-copy"]  # "--read-mode MODE": the modes the rewrite announced


def variants(servers, build):
    """(label, server, read_mode) for each server in `servers`: a ringloop server once per read
    mode its --help offers ("ringloop-uring/copy", ...), once with no --read-mode otherwise."""
    modes = read_modes(build) if any(server in RINGLOOP_SERVERS for server in servers) else []
    result = []
    for server in servers:
        if server in RINGLOOP_SERVERS and modes:
            result.extend((f"{server}/{mode}", server, mode) for mode in modes)
        else:
            result.append((server, server, None))
    return result


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


def stop_server(process, timeout=5):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process in running_servers:
        running_servers.remove(process)


def kill_all_servers():
    for process in list(running_servers):
        if process.poll() is None:
            process.kill()
            process.wait()
    running_servers.clear()


def find_build(requested, script="run_echo.py", needs=("samples", "echo_client")):
    """`requested` made absolute, else build-release/ or build/ when it has `needs`."""
    if requested:
        return os.path.abspath(requested)
    for candidate in ("build-release", "build"):
        path = os.path.join(ROOT, candidate)
        if os.path.exists(os.path.join(path, *needs)):
            return path
    sys.exit(f"{script}: no build with {'/'.join(needs)} in build-release/ or build/; "
             "pass --build")


def load_average():
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])
