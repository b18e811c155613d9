#!/usr/bin/env python3
"""TCP echo server on asyncio or uvloop, the Python side of bench/run_echo.py.

usage: /usr/bin/python3 echo_python_server.py [--loop asyncio|uvloop] [--host 127.0.0.1] [--port P]

An asyncio.Protocol whose data_received() writes the data straight back: the fastest echo asyncio
offers (no streams, no coroutine per connection), as in uvloop's own benchmarks. Both loops set
TCP_NODELAY on TCP connections themselves. Prints, flushed, "listening on HOST:PORT (loop: NAME)"
(--port 0: the port the kernel picked). SIGINT and SIGTERM close the server and exit 0.
"""
import argparse
import asyncio
import signal
import sys


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        self.transport.close()
        return False


async def serve(host, port, loop_name):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    server = await loop.create_server(EchoProtocol, host, port, backlog=1024, reuse_address=True)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on {bound_host}:{bound_port} (loop: {loop_name})", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args()  # exits 2 with usage on bad flags
    if not 0 <= args.port <= 65535:
        parser.error(f"--port needs a number from 0 to 65535, got {args.port}")
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("echo_python_server: uvloop is not installed (apt-get install python3-uvloop)",
                  file=sys.stderr)
            return 1
        if hasattr(uvloop, "run"):  # uvloop >= 0.18
            uvloop.run(serve(args.host, args.port, args.loop))
            return 0
        uvloop.install()
    asyncio.run(serve(args.host, args.port, args.loop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
