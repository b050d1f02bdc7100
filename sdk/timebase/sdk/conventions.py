"""Conventions every TimeBase component shares, each defined once: the version, the default
ports, the provider slug pattern and how a boolean is written in text.

The gateway's configuration, its doors, the client and the SDK all import these.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version


def _package_version() -> str:
    try:
        return version("timebase")
    except PackageNotFoundError:  # a provider image runs the SDK from a plain folder
        return "0.0.0"


#: The installed `timebase` distribution's version.
VERSION = _package_version()

DEFAULT_GRPC_PORT = 50051
DEFAULT_FLIGHT_PORT = 8815
DEFAULT_HTTP_PORT = 8080
#: Where a provider add-on listens by default (and inside its container).
DEFAULT_PROVIDER_PORT = 50052

#: A provider slug: lower-case letters, digits, '-' and '_', starting with a letter or digit.
SLUG_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
SLUG_RE = re.compile(SLUG_PATTERN)
#: Words that match the pattern but name routes, never a provider: `GET /api/providers/symbols`
#: (the original TimeBase's catalogue route) would otherwise shadow a provider called "symbols".
RESERVED_SLUGS = frozenset({"symbols"})

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def is_slug(text: str) -> bool:
    """A valid provider slug: the pattern, and not a reserved word (`RESERVED_SLUGS`)."""
    return SLUG_RE.fullmatch(text) is not None and text not in RESERVED_SLUGS


def slug_problem(text: str) -> str | None:
    """Why `text` is not a provider slug (None when it is one)."""
    if text in RESERVED_SLUGS:
        return f"{text!r} is a reserved word (it names a route), not a provider slug"
    if SLUG_RE.fullmatch(text) is None:
        return f"expected lower-case letters, digits, '-' or '_' (got {text!r})"
    return None


def parse_bool(text: str, *, strict: bool = False) -> bool | None:
    """The boolean `text` writes (case and surrounding blanks ignored), None when it writes none.

    Accepted: 1/0, true/false, yes/no, on/off; `strict` accepts only true/false (a manifest's
    YAML bool written as a string)."""
    word = text.strip().lower()
    if strict:
        return {"true": True, "false": False}.get(word)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None
