"""One cache of exchange calendars' session tables per test session (built once, in the
separate process the gateway uses: `python -m timebase.calendars.build`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from timebase.calendars.registry import Calendars

#: Shared by the tests of one process (each build takes a few seconds).
_CACHE = Path(tempfile.gettempdir()) / f"timebase-calendars-{os.getuid()}"


def shared_calendars() -> Calendars:
    """A registry over the shared test cache (tables written atomically: workers may share it)."""
    return Calendars(_CACHE)
