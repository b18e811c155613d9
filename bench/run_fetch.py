#!/usr/bin/env python3
"""Fetch benchmark: ringloop's fetch sample (async on io_uring and on epoll, threads, sequential)
beside requests (sequential and with a ThreadPoolExecutor), aiohttp (asyncio and uvloop) and
libcurl's multi interface, all fetching from the same local nginx.

usage: run_fetch.py [--build BUILD_DIR] [--rounds 5] [--quick] [--count 500] [--concurrency 100]
                    [--sequential-delay-count 40] [--clients SUBSTRING,...] [--json FILE]
                    [--no-ensure-packages]

The server: nginx (Debian's nginx-light) started from a config generated into a temporary
directory: one worker process pinned to CPU 0 (worker_cpu_affinity), access_log off, keep-alive
with up to 100000 requests per connection, two endpoints:
  page     /page        a static 1 KiB HTML page (what it costs to fetch at all)
  delay    /delay/50ms  the echo module's echo_sleep 0.05, then a short body (waiting dominates:
                        concurrency decides)
The clients: each run is one process pinned to CPU 1 (`taskset -c 1`) fetching the endpoint
--count times (500) with at most --concurrency requests in flight (100: aiohttp's default
connection limit; every concurrent client gets the same K, threads included; 0 gives each client
its own default). Each prints "seconds=S ok=K failed=F" as its last line; the run's CPU time
(user + sys) comes from os.wait4() on it, its peak RSS from GNU time's %M (/usr/bin/time, Debian's
"time"; without it wait4's ru_maxrss, which cannot go below this script's own ~20 MiB: see
run_client()).
  ringloop fetch (io_uring|epoll)  BUILD/samples/fetch --mode async --backend uring|epoll
  ringloop threads                 BUILD/samples/fetch --mode threads
  ringloop sequential              BUILD/samples/fetch --mode sequential
  requests sequential              bench/fetch_python.py --client requests-sequential
  requests + ThreadPoolExecutor    bench/fetch_python.py --client requests-threads
  aiohttp asyncio / uvloop         bench/fetch_python.py --client aiohttp-asyncio|aiohttp-uvloop
  libcurl multi                    BUILD/bench/fetch_curl_multi
A row whose program is missing (samples/fetch not built, libcurl not found at configure time, a
Python module not installed) is skipped with the reason printed under the table.

Sequential clients on the delay endpoint would take 500 x 50 ms = 25 s per run; they fetch it
--sequential-delay-count times (40, 2 s) instead: their seconds are scaled up to --count (marked
"*", the scale printed under the table); req/s is the measured rate; CPU seconds and peak RSS are
those of the smaller run, unscaled (marked "+": scaling would multiply the interpreter's start-up
too). Every other cell is --count requests as measured.

CPU seconds cover the whole client process, start-up included (about 0.2 s for Python importing
requests or aiohttp); seconds are the client's own clock from its first request to its last
response.

Rounds: --rounds R (5) interleaved rounds, each running every client on both endpoints, so a
noisy moment of a shared machine hits all clients alike; a cell is the median over the rounds.
--quick: 1 round and five clients (ringloop fetch (io_uring), ringloop threads, requests +
ThreadPoolExecutor, aiohttp uvloop, libcurl multi). Compare cells of one run only: the machines
are shared and noisy. The table is Markdown; --json FILE writes every run's raw figures.

Packages (nginx-light, libcurl4-openssl-dev, python3-requests, python3-aiohttp, python3-uvloop,
python3-matplotlib, time) are ensured through scripts/ensure-packages.sh's RINGLOOP_BENCH_PACKAGES
unless --no-ensure-packages is given.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"
FETCH_PYTHON = os.path.join(HERE, "fetch_python.py")
NGINX = "/usr/sbin/nginx"
GNU_TIME = "/usr/bin/time"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
SERVER_CPU = 0
CLIENT_CPU = 1
RUN_TIMEOUT_S = 600
ENDPOINTS = (("page", "/page", "1 KiB page"), ("delay", "/delay/50ms", "50 ms delay"))

NGINX_CONFIG = """load_module {echo_module};
{user}
daemon off;
master_process on;
worker_processes 1;
{affinity}
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type application/octet-stream;
  client_body_temp_path {dir}/temp/client_body;
  proxy_temp_path {dir}/temp/proxy;
  fastcgi_temp_path {dir}/temp/fastcgi;
  uwsgi_temp_path {dir}/temp/uwsgi;
  scgi_temp_path {dir}/temp/scgi;
  gzip off;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {dir}/www;
    location = /page {{ default_type text/html; }}
    location = /delay/50ms {{ echo_sleep 0.05; echo "slept 50ms"; }}
  }}
}}
"""


def page_body():
    """1024 bytes of HTML (the same page as tests/support/nginx.hpp's page_body())."""
    page = "<!DOCTYPE html>\n<html><head><title>ringloop</title></head><body>\n"
    tail = "</body></html>\n"
    line = 0
    while len(page) + len(tail) < 1024:
        text = f"<p>line {line} of the benchmark page</p>\n"
        line += 1
        page += text[:1024 - len(tail) - len(page)]
    return page + tail


class Nginx:
    """nginx on 127.0.0.1 (a free port) from a generated config; stop() ends and reaps it."""

    def __init__(self, pin):
        self.directory = tempfile.mkdtemp(prefix="ringloop-fetch-bench-")
        os.makedirs(os.path.join(self.directory, "www"))
        os.makedirs(os.path.join(self.directory, "temp"))
        with open(os.path.join(self.directory, "www", "page"), "w") as page:
            page.write(page_body())
        self.process = None
        failure = ""
        for _ in range(5):
            self.port = free_port()
            self.write_config(pin)
            self.start()
            failure = self.wait_until_listening()
            if not failure:
                return
            self.stop(remove=False)
            if "Address already in use" not in failure:
                break
        self.stop()
        raise RuntimeError(f"nginx did not start: {failure}")

    def write_config(self, pin):
        config = NGINX_CONFIG.format(
            echo_module=ECHO_MODULE, dir=self.directory, port=self.port,
            # As root the worker would run as nobody, who cannot read the 0700 directory.
            user="user root;" if os.geteuid() == 0 else "",
            affinity=f"worker_cpu_affinity {1 << SERVER_CPU:b};" if pin else "")
        with open(os.path.join(self.directory, "nginx.conf"), "w") as file:
            file.write(config)

    def start(self):
        command = [NGINX, "-p", self.directory + "/", "-c",
                   os.path.join(self.directory, "nginx.conf"),
                   "-e", os.path.join(self.directory, "error.log")]
        self.output = open(os.path.join(self.directory, "output.log"), "wb")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.output,
                                        stderr=subprocess.STDOUT)

    def log(self):
        text = ""
        for name in ("error.log", "output.log"):
            try:
                with open(os.path.join(self.directory, name), errors="replace") as file:
                    text += file.read()
            except OSError:
                pass
        return text.strip()

    def wait_until_listening(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"nginx exited ({self.process.returncode}): {self.log()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return ""
            except OSError:
                time.sleep(0.01)
        return f"nginx did not listen on port {self.port} within 10 s: {self.log()}"

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self, remove=True):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: the worker goes too
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.output.close()
        self.process = None
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    def __init__(self, name, command, sequential=False, skip=None):
        self.name = name
        self.command = command  # (url, count, concurrency) -> argv
        self.sequential = sequential
        self.skip = skip


def python_module_missing(module):
    result = subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True)
    return (f"python3 module {module} missing (apt-get install python3-{module})"
            if result.returncode != 0 else None)


def clients(build):
    fetch = os.path.join(build, "samples", "fetch")
    fetch_missing = (None if os.access(fetch, os.X_OK) else
                     f"{fetch} not built (samples/fetch; build it with scripts/build.sh)")
    curl = os.path.join(build, "bench", "fetch_curl_multi")
    curl_missing = (None if os.access(curl, os.X_OK) else
                    f"{curl} not built (libcurl4-openssl-dev missing when cmake ran?)")
    requests_missing = python_module_missing("requests")
    aiohttp_missing = python_module_missing("aiohttp")
    uvloop_missing = aiohttp_missing or python_module_missing("uvloop")

    def ringloop(mode, backend=None):
        def command(url, count, concurrency):
            argv = [fetch, "--count", str(count), "--mode", mode]
            if backend:
                argv += ["--backend", backend]
            if concurrency and mode != "sequential":
                argv += ["--concurrency", str(concurrency)]
            return argv + ["--quiet", url]
        return command

    def python(client):
        def command(url, count, concurrency):
            argv = [PYTHON, FETCH_PYTHON, "--client", client, "--count", str(count)]
            if concurrency and client != "requests-sequential":
                argv += ["--concurrency", str(concurrency)]
            return argv + [url]
        return command

    def libcurl(url, count, concurrency):
        return [curl, url, str(count)] + ([str(concurrency)] if concurrency else [])

    return [
        Client("ringloop fetch (io_uring)", ringloop("async", "uring"), skip=fetch_missing),
        Client("ringloop fetch (epoll)", ringloop("async", "epoll"), skip=fetch_missing),
        Client("ringloop threads", ringloop("threads"), skip=fetch_missing),
        Client("ringloop sequential", ringloop("sequential"), sequential=True,
               skip=fetch_missing),
        Client("requests sequential", python("requests-sequential"), sequential=True,
               skip=requests_missing),
        Client("requests + ThreadPoolExecutor", python("requests-threads"),
               skip=requests_missing),
        Client("aiohttp asyncio", python("aiohttp-asyncio"), skip=aiohttp_missing),
        Client("aiohttp uvloop", python("aiohttp-uvloop"), skip=uvloop_missing),
        Client("libcurl multi", libcurl, skip=curl_missing),
    ]


QUICK_CLIENTS = ("ringloop fetch (io_uring)", "ringloop threads", "requests + ThreadPoolExecutor",
                 "aiohttp uvloop", "libcurl multi")


def run_client(argv, pin):
    """Runs argv (on CLIENT_CPU if pin); gives its summary, CPU seconds and peak RSS (KiB).

    CPU seconds: os.wait4() on the child (GNU time, when there, adds about a millisecond). Peak
    RSS: GNU time's %M, the client's own. wait4's ru_maxrss would not do: a process forked from
    this Python keeps the parent's resident size as its peak across exec (~20 MiB floor).
    """
    if pin:
        argv = ["taskset", "-c", str(CLIENT_CPU)] + argv
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss:
        if os.access(GNU_TIME, os.X_OK):
            argv = [GNU_TIME, "-f", "%M", "-o", rss.name] + argv
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        watchdog = threading.Timer(RUN_TIMEOUT_S, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 already
        out.seek(0)
        err.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
        errors = err.read().decode(errors="replace").strip()
        rss_lines = rss.read().split()
    summary = parse_summary(lines[-1] if lines else "")
    max_rss_kib = int(rss_lines[-1]) if rss_lines and rss_lines[-1].isdigit() else None
    result = {"exit_status": process.returncode,
              "cpu_seconds": usage.ru_utime + usage.ru_stime,
              "max_rss_kib": max_rss_kib if max_rss_kib is not None else usage.ru_maxrss,
              "max_rss_source": "gnu-time" if max_rss_kib is not None else "wait4"}
    if summary is None:
        result["error"] = (errors.splitlines()[-1] if errors else
                           f"no summary line (exit {process.returncode})")
    else:
        result.update(summary)
    return result


def parse_summary(line):
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    try:
        return {"seconds": float(fields["seconds"]), "ok": int(fields["ok"]),
                "failed": int(fields["failed"])}
    except (KeyError, ValueError):
        return None


def ensure_packages():
    script = os.path.join(ROOT, "scripts", "ensure-packages.sh")
    subprocess.run(["bash", "-c", f'source "{script}" && '
                    'ensure_packages "${RINGLOOP_BENCH_PACKAGES[@]}"'], check=True)


def warm_up(nginx):
    for _, path, _ in ENDPOINTS:
        with urllib.request.urlopen(nginx.url(path), timeout=10) as response:
            response.read()


def cell(runs, count):
    """Median figures over the rounds of one client and endpoint, or an error text."""
    good = [run for run in runs if "error" not in run and run["failed"] == 0 and
            run["ok"] == run["count"]]
    if len(good) < len(runs):
        bad = next(run for run in runs if run not in good)
        why = bad.get("error") or f"{bad['failed']} of {bad['count']} failed"
        return {"error": why}
    scale = count / runs[0]["count"]
    seconds = statistics.median(run["seconds"] for run in good)
    return {"seconds": seconds * scale,
            "requests_per_second": runs[0]["count"] / seconds,
            "cpu_seconds": statistics.median(run["cpu_seconds"] for run in good),
            "max_rss_mib": statistics.median(run["max_rss_kib"] for run in good) / 1024,
            "scale": scale}


def markdown_table(summary, names, count):
    header = ["client"]
    for _, path, title in ENDPOINTS:
        header += [f"{title}: s", "req/s", "CPU s", "RSS MiB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        row = [name]
        for endpoint, _, _ in ENDPOINTS:
            figures = summary[name][endpoint]
            if "error" in figures:
                row += [figures["error"], "", "", ""]
                continue
            scaled = figures["scale"] != 1
            row += [f"{figures['seconds']:.3f}{'*' if scaled else ''}",
                    f"{figures['requests_per_second']:.0f}",
                    f"{figures['cpu_seconds']:.3f}{'+' if scaled else ''}",
                    f"{figures['max_rss_mib']:.1f}{'+' if scaled else ''}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def run_course_table(build, nginx, counts, plot):
    """The fetch sample's --compare (sequential, threads, async per count) on the delay page."""
    fetch = os.path.join(build, "samples", "fetch")
    if not os.access(fetch, os.X_OK):
        return f"skipped: {fetch} is not built"
    argv = [fetch, "--compare", counts, nginx.url("/delay/50ms")]
    if plot:
        argv += ["--plot", plot]
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    return done.stdout.rstrip() + ("" if done.returncode == 0 else
                                   f"\n(fetch exited {done.returncode})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sequential-delay-count", type=int, default=40)
    parser.add_argument("--clients", default="",
                        help="comma-separated substrings: run only the clients matching one")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--course", metavar="COUNTS",
                        help="also print the course's table: the fetch sample's --compare COUNTS "
                             "(e.g. 1,10,50,100,500) on the 50 ms page, sequential, threads and "
                             "async")
    parser.add_argument("--plot", metavar="FILE.png", help="with --course: draw it as a line chart")
    parser.add_argument("--no-ensure-packages", action="store_true")
    args = parser.parse_args()
    if args.count <= 0 or args.rounds <= 0 or args.sequential_delay_count <= 0:
        parser.error("--count, --rounds and --sequential-delay-count must be positive")
    if args.quick:
        args.rounds = 1
    if not args.no_ensure_packages:
        ensure_packages()
    for path in (NGINX, ECHO_MODULE):
        if not os.path.exists(path):
            sys.exit(f"run_fetch: {path} is missing (apt-get install nginx-light)")

    pin = (os.cpu_count() or 1) > max(SERVER_CPU, CLIENT_CPU) and shutil.which("taskset")
    chosen = clients(os.path.abspath(args.build))
    if args.quick:
        chosen = [client for client in chosen if client.name in QUICK_CLIENTS]
    if args.clients:
        wanted = [part.strip() for part in args.clients.split(",") if part.strip()]
        chosen = [client for client in chosen if any(part in client.name for part in wanted)]
    skipped = {client.name: client.skip for client in chosen if client.skip}
    runnable = [client for client in chosen if not client.skip]

    nginx = Nginx(pin)
    raw = []
    course = None
    try:
        warm_up(nginx)
        if args.course:
            course = run_course_table(os.path.abspath(args.build), nginx, args.course, args.plot)
        for round_index in range(args.rounds):
            for endpoint, path, _ in ENDPOINTS:
                for client in runnable:
                    count = (args.sequential_delay_count
                             if client.sequential and endpoint == "delay" else args.count)
                    argv = client.command(nginx.url(path), count, args.concurrency)
                    result = run_client(argv, pin)
                    result.update({"client": client.name, "endpoint": endpoint,
                                   "round": round_index, "count": count, "command": argv})
                    raw.append(result)
                    shown = (f"{result['seconds']:.3f} s, ok={result['ok']}" if "seconds" in result
                             else result["error"])
                    print(f"round {round_index + 1}/{args.rounds} {endpoint:5} {client.name}: "
                          f"{shown}", file=sys.stderr, flush=True)
    finally:
        nginx.stop()

    summary = {client.name: {endpoint: cell([run for run in raw if run["client"] == client.name
                                             and run["endpoint"] == endpoint], args.count)
                             for endpoint, _, _ in ENDPOINTS}
               for client in runnable}
    in_flight = args.concurrency or "each client's default number of"
    where = "nginx (1 worker, CPU 0) and client (CPU 1)" if pin else "nginx and client (unpinned)"
    print(f"Fetch benchmark: {args.count} requests per cell, at most {in_flight} in flight, "
          f"median of {args.rounds} round(s); {where} on 127.0.0.1.")
    print()
    print(markdown_table(summary, [client.name for client in runnable], args.count))
    print()
    scale = args.count / args.sequential_delay_count
    if any(client.sequential for client in runnable):
        print(f"* sequential clients fetched the 50 ms page {args.sequential_delay_count} times; "
              f"seconds scaled x{scale:g} to {args.count} requests.")
        print(f"+ CPU seconds and peak RSS of those {args.sequential_delay_count} requests, "
              "unscaled.")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    if course is not None:
        print()
        print("The course's table (the fetch sample's --compare on the 50 ms page; the texts "
              "fetched a public site):")
        print(course)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"count": args.count, "concurrency": args.concurrency,
                       "rounds": args.rounds, "sequential_delay_count":
                       args.sequential_delay_count, "pinned": bool(pin),
                       "summary": summary, "skipped": skipped, "runs": raw}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
