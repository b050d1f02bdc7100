"""`timebase serve`: start everything, print the endpoints, stop cleanly on Ctrl-C / SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from importlib.metadata import version

from timebase.core.config import Config
from timebase.server.app import TimeBaseApp


async def serve(config: Config) -> int:
    app = TimeBaseApp(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await app.start()
        print(f"TimeBase {version('timebase')} is running:", flush=True)
        endpoints = app.endpoints()
        width = max(len(endpoint.name) for endpoint in endpoints)
        for endpoint in endpoints:
            print(f"  {endpoint.name:<{width}}  {endpoint.address}", flush=True)
            if endpoint.example:
                print(f"  {'':<{width}}  try: {endpoint.example}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
        print("TimeBase is stopping…", file=sys.stderr, flush=True)
    finally:
        await app.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0
