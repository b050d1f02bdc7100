"""`timebase serve`: start everything, print the endpoints, stop cleanly on Ctrl-C / SIGTERM.

It also stops when TimeBase cannot go on (the embedded PostgreSQL crashed more often than
`database.embedded_restarts` allows): then it prints why and returns `EXIT_DATABASE_LOST` (3).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from importlib.metadata import version

from timebase.cli.memory import MemoryReleaser, limit_arenas
from timebase.core.config import Config
from timebase.server.app import TimeBaseApp

EXIT_OK = 0
#: The embedded PostgreSQL kept crashing and its restarts are exhausted (docs/cli.md).
EXIT_DATABASE_LOST = 3


async def serve(config: Config) -> int:
    limit_arenas()  # before the servers start their threads
    app = TimeBaseApp(config)
    releaser = MemoryReleaser()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await app.start()
        await releaser.start()
        print(f"TimeBase {version('timebase')} is running:", flush=True)
        endpoints = app.endpoints()
        width = max(len(endpoint.name) for endpoint in endpoints)
        for endpoint in endpoints:
            print(f"  {endpoint.name:<{width}}  {endpoint.address}", flush=True)
            if endpoint.example:
                print(f"  {'':<{width}}  try: {endpoint.example}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(app.failed.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if app.failure is not None:
            print(f"timebase: {app.failure}; stopping", file=sys.stderr, flush=True)
        print("TimeBase is stopping…", file=sys.stderr, flush=True)
    finally:
        await releaser.stop()
        await app.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return EXIT_DATABASE_LOST if app.failure is not None else EXIT_OK
