"""The 500k-action producer/consumer program on Python asyncio or uvloop, for comparison.

usage: producer_consumer.py [--actions N] [--loop asyncio|uvloop]
Same workload as samples/producer_consumer.cpp: two producers put (idx*idx, timestamp) and
yield after every put; one consumer gets every item and yields after every get.
"""
import argparse
import asyncio
import sys
import time


async def producer(queue, count):
    for idx in range(1, count + 1):
        await queue.put((idx * idx, time.time()))
        await asyncio.sleep(0)


async def consumer(queue, count, totals):
    for _ in range(count):
        square, _stamp = await queue.get()
        totals[0] += square
        await asyncio.sleep(0)


async def application(actions):
    queue = asyncio.Queue()
    totals = [0]
    per_producer = actions // 2
    await asyncio.gather(producer(queue, per_producer),
                         producer(queue, actions - per_producer),
                         consumer(queue, actions, totals))
    return totals[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--actions", type=int, default=500_000)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed (apt-get install python3-uvloop)", file=sys.stderr)
            return 3
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print(f"Running {args.loop} loop with {args.actions:,} actions.")
    started = time.perf_counter()
    total = asyncio.run(application(args.actions))
    print(f"App exiting, total time: {time.perf_counter() - started:.4f} sec.")
    print(f"checksum: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
