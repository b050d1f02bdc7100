"""The TimeBase gateway: the process that owns the database and serves every door."""

from timebase.gateway.app import Endpoint, TimeBaseApp

__all__ = ["Endpoint", "TimeBaseApp"]
