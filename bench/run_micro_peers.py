#!/usr/bin/env python3
"""Runs ringloop's micro benchmarks beside the same operations on libuv, Asio, Tokio and Go, and
prints one side-by-side Markdown table with ratios (issue 12).

usage: run_micro_peers.py [--build BUILD_DIR] [--rounds N] [--quick] [--json PATH] [--no-strace]
       run_micro_peers.py --table-from PATH     (the table of an earlier --json file again)

Programs: ringloop is bench/micro_benchmarks (Google Benchmark, run once per backend per round
with --benchmark_filter for the benchmarks below, --benchmark_repetitions=1,
--benchmark_format=json); the peers are bench/libuv_ops and bench/asio_ops (CMake targets of
bench/CMakeLists.txt, built where libuv1-dev / libasio-dev are), bench/peers/tokio_ops (copied
into BUILD_DIR/bench/tokio_ops and built there offline with Debian's cargo against Debian's crates:
apt-get install librust-tokio-dev cargo) and bench/peers/go_ops.go (built into
BUILD_DIR/bench/go_ops with GO111MODULE=off: apt-get install golang-go). A peer that is missing
or does not build is skipped with the reason printed below the table. Rounds interleave the
programs (round 1: every program, round 2: every program, ...); the table shows medians over the
rounds. --quick: one round, peers do 100,000 operations instead of 1,000,000 and Google Benchmark
a 0.05 s minimum time.

Each peer prints one JSON object per operation per line: peer, operation, ns_per_op,
items_per_s, clock and counters. Clocks follow ringloop's benchmarks: wall time for the
cross-thread posts and the 1M timers fired (UseRealTime there), the loop thread's CPU time for the
others (Go: the process's CPU time, its goroutines not being bound to a thread).

How each operation is mapped (the comment at the top of each peer says more):
  call_soon_threadsafe threads:T  ringloop: T threads call_soon_threadsafe() 4,000 callbacks per
      batch, the loop's task waits until all ran. The same batches of 4,000 everywhere, the last
      callback starting the next batch from the loop thread. libuv: a mutex-protected queue +
      uv_async_send (the usual idiom). Asio: asio::post(io_context, fn). Tokio: a boxed callback
      sent on an unbounded mpsc channel to one loop task that runs it (closer to a callback queue
      than Handle::spawn, which makes a task per post). Go: a closure sent on a channel buffered
      for 4,096 to one consumer goroutine (default GOMAXPROCS here).
  spawn_await  an empty task spawned and awaited, one at a time. libuv: none (no tasks). Asio:
      co_await co_spawn(executor, task, use_awaitable). Tokio: tokio::spawn + .await of the
      JoinHandle from a driver task. Go: go func(){...; done <- struct{}{}}() then <-done.
  spawn_many 1000000  1M empty tasks spawned, then all awaited; bytes_per_task is the heap growth
      while all are pending (mallinfo2 uordblks + hblkhd for ringloop, Asio and Tokio, all on
      glibc malloc; Go: runtime.MemStats HeapAlloc + StackInuse, over a batch whose goroutines
      wait at a gate so that all are pending at once). libuv: none. Asio: co_spawn with a
      completion handler counting, the last cancelling a timer the driver awaits. Tokio: a
      Vec<JoinHandle> awaited in order. Go: a sync.WaitGroup.
  timers_fire_1M  1M timers with random deadlines 1-1000 ms, armed then all fired: ns_per_op is
      the total wall time per timer, arm ns per timer and bytes per timer (heap growth over the
      arming) beside it. libuv: a uv_timer_t each (one calloc'ed array). Asio: a steady_timer
      each + async_wait. Tokio: a spawned task awaiting a tokio::time::Sleep each (the Sleep
      enters the wheel at the task's first poll, which the arming includes). Go: time.AfterFunc.
  timer_add_cancel live:L  one timer 1-2 hours away added and cancelled while L others are armed.
      libuv: uv_timer_start + uv_timer_stop of one uv_timer_t. Asio: expires_after + async_wait
      + cancel, with io_context::poll() after every 100 to run the aborted handlers (Asio always
      runs them). Tokio: tokio::time::sleep polled once (which registers it) and dropped. Go:
      time.AfterFunc + Timer.Stop. ringloop: call_later() + Handle::cancel() (allocates the
      callback, as asyncio's API does).
  timer_arm_disarm live:L  the same with ringloop's timer embedded in its owner (what sleep()
      and timeout scopes arm, and what a uv_timer_t is): no allocation. The peers' columns
      repeat their timer_add_cancel figures (each peer has one start + cancel).

Wake system calls: after the timed rounds, each program does 4,000 and then 104,000 posts from one
thread under `strace -f -c -e trace=write,futex,epoll_wait,epoll_pwait,io_uring_enter`, once per
round; the difference of the counts, per 1,000 posts, median over the rounds, is the table's
syscalls row (ringloop: its --callgrind mode, which posts all of them in one batch; the peers'
batches of 4,000 add a futex or two per batch at the gate). ptrace makes every system call far slower, so these
counts show the mechanism more than the timed runs' exact rate; ringloop's own wakes_per_1000
counter (posts that had to wake the loop, in the timed runs) has its own row. --no-strace skips
this, as does a machine without strace (apt-get install strace).

--json PATH (default micro_peers.json) keeps every round's figures, the medians, the strace counts
and the skipped programs. /usr/bin/python3, standard library only.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.path.join(HERE, "peers")
sys.path.insert(0, HERE)
from run_micro import format_number, split_name  # noqa: E402

BACKENDS = ("uring", "epoll")
# Table columns: program key and heading.
PROGRAMS = [("ringloop-uring", "ringloop io_uring"), ("ringloop-epoll", "ringloop epoll"),
            ("libuv", "libuv"), ("asio", "Asio"), ("tokio", "Tokio"), ("go", "Go")]
PEERS = ("libuv", "asio", "tokio", "go")
OPERATIONS = [
    "call_soon_threadsafe threads:1",
    "call_soon_threadsafe threads:4",
    "spawn_await",
    "spawn_many 1000000",
    "timers_fire_1M",
    "timer_add_cancel live:1",
    "timer_add_cancel live:1000",
    "timer_add_cancel live:1000000",
    "timer_arm_disarm live:1",
    "timer_arm_disarm live:1000",
    "timer_arm_disarm live:1000000",
]
# Each peer has one timer start + cancel; it stands in both ringloop rows: timer_add_cancel
# (call_later() + Handle::cancel(), asyncio's API, which allocates a callback) and
# timer_arm_disarm (a timer embedded in its owner, as sleep() and timeout scopes arm theirs and as
# a uv_timer_t or steady_timer lives in the caller's memory: no allocation).
PEER_ALIASES = {f"timer_arm_disarm live:{live}": f"timer_add_cancel live:{live}"
                for live in (1, 1000, 1000000)}
# ringloop's benchmarks for those operations, {b} the backend.
RINGLOOP_FILTER = (r"^(call_soon_threadsafe/{b}/threads:(1|4)|spawn_await/{b}|"
                   r"spawn_many/{b}/1000000|timers_fire_1M/{b}|"
                   r"timer_(add_cancel|arm_disarm)/{b}/live:(1|1000|1000000))(/|$)")
# Operations a peer does not have, and why.
NOT_MEASURED = {("libuv", "spawn_await"): "libuv has no tasks",
                ("libuv", "spawn_many 1000000"): "libuv has no tasks"}
STRACE_SYSCALLS = ("write", "futex", "epoll_wait", "epoll_pwait", "io_uring_enter")
STRACE_OPERATION = "call_soon_threadsafe threads:1"
STRACE_SMALL, STRACE_LARGE = 4000, 104000


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-release"),
                        help="build directory holding bench/micro_benchmarks and the C/C++ peers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="1 round, 100,000 operations per peer benchmark, 0.05 s minimum time")
    parser.add_argument("--json", default="micro_peers.json", help="where to write the results")
    parser.add_argument("--no-strace", action="store_true", help="skip the system call counts")
    parser.add_argument("--table-from", metavar="JSON",
                        help="print the table of an earlier run's --json file, running nothing")
    return parser.parse_args()


def run(command, timeout=1200, env=None, cwd=None):
    """Runs command; returns (exit status, stdout, stderr)."""
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout} s"
    except OSError as error:
        return -1, "", str(error)
    return result.returncode, result.stdout, result.stderr


def last_lines(text, count=3):
    return " / ".join(line.strip() for line in text.strip().splitlines()[-count:])


# ---- building the peers ----

def build_tokio(build_dir):
    """Returns (command, None) or (None, reason)."""
    registry = "/usr/share/cargo/registry"
    if not os.path.isdir(registry) or not any(name.startswith("tokio-")
                                              for name in os.listdir(registry)):
        return None, "Debian's tokio crate is not installed: apt-get install librust-tokio-dev cargo"
    env = dict(os.environ)
    # Debian's cargo and rustc (what librust-tokio-dev is packaged for); another cargo on PATH
    # (rustup's) only when Debian's is absent.
    if os.path.exists("/usr/bin/cargo") and os.path.exists("/usr/bin/rustc"):
        cargo = "/usr/bin/cargo"
        env["RUSTC"] = "/usr/bin/rustc"
    else:
        cargo = shutil.which("cargo")
        if cargo is None:
            return None, "no cargo: apt-get install librust-tokio-dev cargo"
    project = os.path.join(build_dir, "bench", "tokio_ops")
    source = os.path.join(PEERS_DIR, "tokio_ops")
    os.makedirs(project, exist_ok=True)
    for name in ("Cargo.toml", "src", ".cargo"):
        source_path = os.path.join(source, name)
        target_path = os.path.join(project, name)
        if os.path.isdir(source_path):
            shutil.copytree(source_path, target_path, dirs_exist_ok=True)
        else:
            shutil.copy2(source_path, target_path)
    env["CARGO_HOME"] = os.path.join(project, "cargo-home")  # no user's config or cache
    env["CARGO_BUILD_JOBS"] = "2"
    status, _, errors = run([cargo, "build", "--release", "--offline"], env=env, cwd=project)
    if status != 0:
        return None, f"cargo build failed ({cargo}): {last_lines(errors)}"
    return [os.path.join(project, "target", "release", "tokio_ops")], None


def build_go(build_dir):
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if os.path.exists("/usr/lib/go/bin/go")
                                else None)
    if go is None:
        return None, "no Go toolchain: apt-get install golang-go"
    directory = os.path.join(build_dir, "bench", "go_ops")
    os.makedirs(directory, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOCACHE=os.path.join(directory, "cache"),
               GOPATH=os.path.join(directory, "path"), GOFLAGS="")
    binary = os.path.join(directory, "go_ops")
    status, _, errors = run([go, "build", "-o", binary, os.path.join(PEERS_DIR, "go_ops.go")],
                            env=env)
    if status != 0:
        return None, f"go build failed: {last_lines(errors)}"
    return [binary], None


def find_built(build_dir, name, package):
    path = os.path.join(build_dir, "bench", name)
    if os.access(path, os.X_OK):
        return [path], None
    return None, (f"{path} is not built (apt-get install {package}, then cmake --build "
                  f"{build_dir} --target {name})")


def peer_commands(build_dir):
    """{peer: (command or None, reason or None)}."""
    print("building the Tokio and Go peers ...", file=sys.stderr)
    return {"libuv": find_built(build_dir, "libuv_ops", "libuv1-dev"),
            "asio": find_built(build_dir, "asio_ops", "libasio-dev"),
            "tokio": build_tokio(build_dir),
            "go": build_go(build_dir)}


# ---- running ----

def run_ringloop(binary, backend, quick):
    """{operation: {metric: value}} of one micro_benchmarks run on one backend, or raises."""
    command = [binary, "--benchmark_format=json", "--benchmark_repetitions=1",
               f"--benchmark_filter={RINGLOOP_FILTER.format(b=backend)}"]
    if quick:
        command.append("--benchmark_min_time=0.05")
    status, output, errors = run(command)
    if status != 0:
        raise RuntimeError(f"exit status {status}: {last_lines(errors)}")
    results = {}
    for entry in json.loads(output)["benchmarks"]:
        operation, _ = split_name(entry.get("run_name", entry["name"]))
        if entry.get("run_type") == "aggregate":
            continue
        if entry.get("error_occurred"):
            results[operation] = {"error": entry.get("error_message", "skipped")}
            continue
        items = entry.get("items_per_second")
        metrics = {"ns_per_op": 1e9 / items if items else None, "items_per_s": items}
        for key in ("bytes_per_task", "bytes_per_timer", "arm_ns_per_timer", "cpu_ns_per_timer",
                    "late_ms_max", "wakes_per_1000", "backend_calls_per_1000"):
            if key in entry:
                metrics[key] = entry[key]
        if operation == "timers_fire_1M":
            unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[entry.get("time_unit", "ns")]
            metrics["total_s"] = entry["real_time"] * unit
        results[operation] = metrics
    return results


def run_peer(command, quick):
    arguments = ["--ops", "100000"] if quick else []
    if command[0].endswith("go_ops"):
        arguments = ["-ops", "100000"] if quick else []
    status, output, errors = run(command + arguments)
    if status != 0:
        raise RuntimeError(f"exit status {status}: {last_lines(errors)}")
    results = {}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            results[record["operation"]] = {key: value for key, value in record.items()
                                            if key not in ("peer", "operation", "clock")}
    for alias, measured in PEER_ALIASES.items():
        if measured in results:
            results[alias] = results[measured]
    return results


def strace_counts(command):
    """{syscall: calls} of command under strace -f -c, or raises."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as output:
        status, _, errors = run(["strace", "-f", "-c", "-o", output.name,
                                 "-e", "trace=" + ",".join(STRACE_SYSCALLS)] + command)
        if status != 0:
            raise RuntimeError(f"exit status {status}: {last_lines(errors)}")
        counts = {}
        for line in output.read().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[-1] in STRACE_SYSCALLS and parts[3].isdigit():
                counts[parts[-1]] = int(parts[3])
        return counts


def strace_command(program, command, posts):
    if program.startswith("ringloop-"):
        backend = program.split("-")[1]
        return command + [f"--callgrind=call_soon_threadsafe", f"--operations={posts}",
                          f"--backend={backend}"]
    if program == "go":
        return command + ["-ops", str(posts), "-only", STRACE_OPERATION]
    return command + ["--ops", str(posts), "--only", STRACE_OPERATION]


def syscalls_per_1000(program, command):
    small = strace_counts(strace_command(program, command, STRACE_SMALL))
    large = strace_counts(strace_command(program, command, STRACE_LARGE))
    scale = 1000.0 / (STRACE_LARGE - STRACE_SMALL)
    return {name: max(0, large.get(name, 0) - small.get(name, 0)) * scale
            for name in STRACE_SYSCALLS}


# ---- the table ----

def cell(value, digits=1):
    if value is None:
        return "n/a"
    if abs(value) >= 1e4:
        return format_number(value)
    return f"{value:.{digits}f}"


def table_rows(medians, strace):
    """[(label, {program: value or None}, digits)]; lower is better in every row."""
    def metric(operation, key):
        return {program: medians.get(program, {}).get(operation, {}).get(key)
                for program, _ in PROGRAMS}

    rows = []
    for operation in OPERATIONS:
        if operation == "timers_fire_1M":
            rows.append((f"{operation} (total s)", metric(operation, "total_s"), 3))
        else:
            unit = "ns/post" if operation.startswith("call_soon") else "ns/op"
            rows.append((f"{operation} ({unit})", metric(operation, "ns_per_op"), 1))
        if operation == "call_soon_threadsafe threads:1":
            if strace:
                rows.append(("  syscalls / 1,000 posts, threads:1 (strace)",
                             {program: (sum(counts.values()) if counts is not None else None)
                              for program, counts in strace.items()}, 1))
            rows.append(("  wakes / 1,000 posts, threads:1 (ringloop's counter)",
                         metric(operation, "wakes_per_1000"), 2))
        if operation == "spawn_many 1000000":
            rows.append(("  bytes / task (heap growth)", metric(operation, "bytes_per_task"), 0))
        if operation == "timers_fire_1M":
            rows.append(("  arm ns / timer", metric(operation, "arm_ns_per_timer"), 1))
            rows.append(("  bytes / timer (heap growth over arming)",
                         metric(operation, "bytes_per_timer"), 0))
    return rows


def markdown_table(medians, strace):
    lines = ["| operation | " + " | ".join(heading for _, heading in PROGRAMS) +
             " | best peer | ringloop/best (io_uring, epoll) |",
             "|---|" + "---:|" * len(PROGRAMS) + "---|---:|"]
    names = dict(PROGRAMS)
    for label, values, digits in table_rows(medians, strace):
        peers = [(values[peer], peer) for peer in PEERS if values.get(peer) is not None]
        best_value, best = min(peers) if peers else (None, None)
        ratios = []
        for program in ("ringloop-uring", "ringloop-epoll"):
            value = values.get(program)
            ratios.append(f"{value / best_value:.2f}" if value is not None and best_value
                          else "n/a")
        cells = [cell(values.get(program), digits) for program, _ in PROGRAMS]
        if "(ns/post)" in label:  # posts/s beside
            cells = [text if values.get(program) is None
                     else f"{text} ({format_number(1e9 / values[program])}/s)"
                     for text, (program, _) in zip(cells, PROGRAMS)]
        lines.append(f"| {label} | " + " | ".join(cells) +
                     f" | {names[best] if best else 'n/a'} | {', '.join(ratios)} |")
    return "\n".join(lines)


def main():
    arguments = parse_arguments()
    if arguments.table_from:
        with open(arguments.table_from) as file:
            print_report(json.load(file))
        return
    rounds = 1 if arguments.quick else max(1, arguments.rounds)
    build_dir = os.path.abspath(arguments.build)
    ringloop = os.path.join(build_dir, "bench", "micro_benchmarks")
    if not os.access(ringloop, os.X_OK):
        sys.exit(f"{ringloop} is not built (cmake --build {build_dir} --target micro_benchmarks)")

    commands = {f"ringloop-{backend}": ([ringloop], None) for backend in BACKENDS}
    commands.update(peer_commands(build_dir))
    skipped = {program: reason for program, (command, reason) in commands.items() if command is None}
    for program, reason in skipped.items():
        print(f"skipping {program}: {reason}", file=sys.stderr)

    per_round = {program: [] for program, _ in PROGRAMS}
    failures = {}
    for round_number in range(1, rounds + 1):
        for program, _ in PROGRAMS:
            command = commands[program][0]
            if command is None:
                continue
            print(f"round {round_number}/{rounds}: {program}", file=sys.stderr)
            try:
                if program.startswith("ringloop-"):
                    results = run_ringloop(command[0], program.split("-")[1], arguments.quick)
                else:
                    results = run_peer(command, arguments.quick)
            except (RuntimeError, ValueError, KeyError) as error:
                failures.setdefault(program, []).append(f"round {round_number}: {error}")
                print(f"  {program} failed: {error}", file=sys.stderr)
                continue
            per_round[program].append(results)
            for operation, metrics in results.items():
                if "error" in metrics and round_number == 1:
                    failures.setdefault(program, []).append(f"{operation}: {metrics['error']}")

    medians = {}
    for program, results in per_round.items():
        medians[program] = {}
        for operation in OPERATIONS:
            samples = [result[operation] for result in results if operation in result]
            if not samples:
                continue
            keys = {key for sample in samples for key, value in sample.items()
                    if isinstance(value, (int, float))}
            medians[program][operation] = {
                key: statistics.median(sample[key] for sample in samples
                                       if isinstance(sample.get(key), (int, float)))
                for key in keys}

    # System calls: one strace pass per program per round after the timed rounds (the counts
    # vary with the race between posters and loop), medians per system call.
    strace = {}
    strace_rounds = {}
    strace_note = None
    if arguments.no_strace:
        strace_note = "system call counts skipped (--no-strace)"
    elif shutil.which("strace") is None:
        strace_note = "system call counts skipped: no strace (apt-get install strace)"
    else:
        for round_number in range(1, rounds + 1):
            for program, _ in PROGRAMS:
                command = commands[program][0]
                if command is None:
                    continue
                print(f"strace round {round_number}/{rounds}: {program}", file=sys.stderr)
                try:
                    strace_rounds.setdefault(program, []).append(
                        syscalls_per_1000(program, command))
                except RuntimeError as error:
                    failures.setdefault(program, []).append(f"strace: {error}")
        for program, samples in strace_rounds.items():
            strace[program] = {name: statistics.median(sample[name] for sample in samples)
                               for name in STRACE_SYSCALLS}

    data = {"rounds": rounds, "quick": arguments.quick, "cpus": os.cpu_count(),
            "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
            "per_round": per_round, "medians": medians, "strace_per_1000_posts": strace,
            "strace_rounds": strace_rounds,
            "strace_note": strace_note, "skipped": skipped, "failures": failures}
    data["table"] = print_report(data)
    with open(arguments.json, "w") as file:
        json.dump(data, file, indent=1)
    print(f"\nJSON in {arguments.json}", file=sys.stderr)


def print_report(data):
    """Prints the heading, the table and the notes below it; returns the table."""
    sizes = ("quick (100,000 operations per peer benchmark, so its timers_fire_1M fires 100,000)"
             if data["quick"] else "1,000,000 operations per peer benchmark")
    print(f"micro benchmarks beside their peers: medians of {data['rounds']} interleaved "
          f"round(s), {sizes}, {data['cpus']} CPUs, load average {data['load_average']} at the "
          f"end; lower is better in every row (a ratio below 1: ringloop costs less than the best "
          f"peer)")
    print()
    strace = data["strace_per_1000_posts"]
    table = markdown_table(data["medians"], strace)
    print(table)
    print()
    notes = []
    for (peer, operation), reason in NOT_MEASURED.items():
        notes.append(f"- {peer}, {operation}: n/a, {reason}")
    for program, reason in data["skipped"].items():
        notes.append(f"- {program} skipped: {reason}")
    for program, messages in data["failures"].items():
        for message in messages:
            notes.append(f"- {program} failed, {message}")
    for program, counts in strace.items():
        if counts is not None:
            detail = ", ".join(f"{name} {value:.1f}" for name, value in counts.items() if value)
            totals = ", ".join(f"{sum(sample.values()):.1f}"
                               for sample in data.get("strace_rounds", {}).get(program, []))
            notes.append(f"- strace, {program}: {detail or 'none'} per 1,000 posts (medians; "
                         f"totals of the rounds: {totals})")
    if data.get("strace_note"):
        notes.append(f"- {data['strace_note']}")
    print("\n".join(notes))
    return table


if __name__ == "__main__":
    main()
