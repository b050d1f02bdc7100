"""The composition root: `TimeBaseApp` starts the database, the core and every door in order."""

from timebase.server.app import Endpoint, TimeBaseApp

__all__ = ["Endpoint", "TimeBaseApp"]
