#!/usr/bin/python3
"""Python's offload for reference: asyncio.to_thread on asyncio's loop and (if importable) uvloop.

Measures what bench/offload_benchmark.cpp measures for ringloop:
  round trip  one coroutine awaits asyncio.to_thread(trivial_job) in a loop; p50/p99 in µs
  throughput  16 coroutines each await to_thread(trivial_job) in a loop; jobs/s
to_thread uses the loop's default executor (a ThreadPoolExecutor, min(32, cpus + 4) workers),
which hands results back with call_soon_threadsafe: asyncio writes its self-pipe once per result
(~1M wake-ups per 1M results by design); uvloop goes through libuv's uv_async_send, which
coalesces. bench/run_offload.py counts those writes with `perf stat` (--only throughput).

usage: /usr/bin/python3 bench/offload_python.py [--loop asyncio|uvloop] [--round-trips 20000]
           [--jobs 100000] [--awaiters 16] [--repeat 3] [--only round_trip|throughput]
Prints one JSON object: per-repeat p50_us, p99_us, jobs_per_s (run_offload.py takes medians).
"""
import argparse
import asyncio
import json
import statistics
import sys
import time


def trivial_job(value):
    return value + 1


async def round_trips(count):
    latencies = []
    clock = time.perf_counter_ns
    for i in range(count):
        started = clock()
        await asyncio.to_thread(trivial_job, i)
        latencies.append(clock() - started)
    latencies.sort()
    return (latencies[len(latencies) // 2] / 1000.0,
            latencies[int(0.99 * (len(latencies) - 1))] / 1000.0)


async def offload_jobs(count):
    for i in range(count):
        await asyncio.to_thread(trivial_job, i)


async def throughput(jobs, awaiters):
    per_awaiter = jobs // awaiters
    started = time.perf_counter()
    await asyncio.gather(*(offload_jobs(per_awaiter) for _ in range(awaiters)))
    return per_awaiter * awaiters / (time.perf_counter() - started)


async def main_async(args):
    # Warm up: start the executor's workers and settle the interpreter.
    await asyncio.gather(*(offload_jobs(200) for _ in range(args.awaiters)))
    result = {"loop": args.loop, "p50_us": [], "p99_us": [], "jobs_per_s": []}
    for _ in range(args.repeat):
        if args.only in (None, "round_trip"):
            p50, p99 = await round_trips(args.round_trips)
            result["p50_us"].append(p50)
            result["p99_us"].append(p99)
        if args.only in (None, "throughput"):
            result["jobs_per_s"].append(await throughput(args.jobs, args.awaiters))
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--round-trips", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--awaiters", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("round_trip", "throughput"))
    args = parser.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not importable", file=sys.stderr)
            return 3
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    result = asyncio.run(main_async(args))
    for key in ("p50_us", "p99_us", "jobs_per_s"):
        result[key + "_median"] = statistics.median(result[key]) if result[key] else None
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
