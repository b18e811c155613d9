#!/usr/bin/env python3
"""The Python peers of bench/run_fetch.py: fetch URL --count times and print one line,
"seconds=S ok=K failed=F" (the format of samples/fetch and bench/fetch_curl_multi).

usage: fetch_python.py --client requests-sequential|requests-threads|aiohttp-asyncio|aiohttp-uvloop
                       --count N [--concurrency K] URL

  requests-sequential  one requests.Session, one request after the other (keep-alive).
  requests-threads     concurrent.futures.ThreadPoolExecutor(K) (K default: the executor's own,
                       min(32, CPUs + 4)), one requests.Session per thread (thread-local): the
                       texts' "threads" version.
  aiohttp-asyncio      one aiohttp.ClientSession with TCPConnector(limit=K) (K default 100, as
                       aiohttp's own default), all N requests gathered at once on asyncio.
  aiohttp-uvloop       the same on uvloop.
A request is ok when its status is 200 and its whole body was read. Time is wall-clock from the
first request to the last response (imports and session setup excluded).
"""
import argparse
import asyncio
import sys
import threading
import time

CLIENTS = ("requests-sequential", "requests-threads", "aiohttp-asyncio", "aiohttp-uvloop")


def requests_sequential(url, count, _concurrency):
    import requests

    ok = 0
    with requests.Session() as session:
        start = time.perf_counter()
        for _ in range(count):
            ok += fetch_with_requests(session, url)
        seconds = time.perf_counter() - start
    return seconds, ok


def fetch_with_requests(session, url):
    try:
        response = session.get(url, timeout=60)
        _ = response.content
        return 1 if response.status_code == 200 else 0
    except Exception as error:  # counted as a failure, the run goes on
        print(f"fetch_python: {url}: {error}", file=sys.stderr)
        return 0


def requests_threads(url, count, concurrency):
    import concurrent.futures

    import requests

    local = threading.local()
    sessions = []
    sessions_lock = threading.Lock()

    def fetch_one(_):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            with sessions_lock:
                sessions.append(session)
        return fetch_with_requests(session, url)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency or None) as pool:
        start = time.perf_counter()
        ok = sum(pool.map(fetch_one, range(count)))
        seconds = time.perf_counter() - start
    for session in sessions:
        session.close()
    return seconds, ok


async def aiohttp_fetch_all(url, count, concurrency):
    import aiohttp

    async def fetch_one(session):
        try:
            async with session.get(url) as response:
                await response.read()
                return 1 if response.status == 200 else 0
        except Exception as error:
            print(f"fetch_python: {url}: {error!r}", file=sys.stderr)
            return 0

    connector = aiohttp.TCPConnector(limit=concurrency or 100)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        results = await asyncio.gather(*(fetch_one(session) for _ in range(count)))
        seconds = time.perf_counter() - start
    return seconds, sum(results)


def aiohttp_asyncio(url, count, concurrency):
    return asyncio.run(aiohttp_fetch_all(url, count, concurrency))


def aiohttp_uvloop(url, count, concurrency):
    import uvloop

    uvloop.install()
    return asyncio.run(aiohttp_fetch_all(url, count, concurrency))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True, choices=CLIENTS)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="threads (requests-threads, default min(32, CPUs + 4)) or connection limit "
                             "(aiohttp, default 100)")
    parser.add_argument("url")
    args = parser.parse_args()
    if args.count <= 0 or args.concurrency < 0:
        parser.error("--count must be positive and --concurrency not negative")
    run = {
        "requests-sequential": requests_sequential,
        "requests-threads": requests_threads,
        "aiohttp-asyncio": aiohttp_asyncio,
        "aiohttp-uvloop": aiohttp_uvloop,
    }[args.client]
    try:
        seconds, ok = run(args.url, args.count, args.concurrency)
    except ImportError as error:
        print(f"fetch_python: {args.client} needs {error.name} (apt-get install python3-"
              f"{error.name})", file=sys.stderr)
        return 3
    print(f"seconds={seconds:.6f} ok={ok} failed={args.count - ok}")
    return 0 if ok == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
