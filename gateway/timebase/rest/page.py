"""The web page: `GET /` (static/index.html) and `GET /static/{name}` (its script, style and the
vendored chart library), served from the package's `static` folder with no build step.

The files are read once, when this module is imported (a handful, ~250 KB), and served from
memory. `/static/{name}` serves only the files found there (by file name; vendored files under
`static/vendor/` too), so no path ever reaches the file system. Every answer carries a strict
Content-Security-Policy: scripts, styles and connections from this origin only (the WebSocket
included), no inline script, no framing. See docs/web.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

from timebase.rest.responses import respond
from timebase.sdk.errors import RouteNotFound

routes = web.RouteTableDef()

#: The page's own paths (open when authentication is on: the page asks for the key itself).
PAGE_PATH = "/"
STATIC_PREFIX = "/static/"

CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".md": "text/plain",
    ".LICENSE": "text/plain",
}

#: 'self' covers same-origin ws:/wss: (CSP Level 3). No inline script or style.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Always revalidated: a new release's page never runs an old script.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str


def _content_type(name: str) -> str:
    for suffix, kind in CONTENT_TYPES.items():
        if name.endswith(suffix):
            return kind
    raise ValueError(f"static/{name}: no content type for this file (add it to CONTENT_TYPES)")


def _walk(folder: Traversable) -> list[Traversable]:
    found: list[Traversable] = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found.extend(_walk(entry))
        elif entry.is_file() and not entry.name.startswith("."):
            found.append(entry)
    return found


def load_files() -> dict[str, StaticFile]:
    """Every file of the `static` folder by name (unique across its subfolders)."""
    files: dict[str, StaticFile] = {}
    for entry in _walk(resources.files("timebase.rest") / "static"):
        if entry.name in files:
            raise ValueError(f"static/: two files named {entry.name!r}")
        files[entry.name] = StaticFile(entry.read_bytes(), _content_type(entry.name))
    if "index.html" not in files:
        raise ValueError("static/index.html is missing")
    return files


#: Read once, at import (not on the event loop).
FILES = load_files()


def _serve(item: StaticFile) -> web.Response:
    return respond(item.body, item.content_type, SECURITY_HEADERS)


@routes.get(PAGE_PATH, allow_head=False)
async def page(request: web.Request) -> web.Response:
    return _serve(FILES["index.html"])


@routes.get(STATIC_PREFIX + "{name}", allow_head=False)
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    item = FILES.get(name)
    if item is None:
        raise RouteNotFound(
            f"name: no static file {name!r}; the page is served at /", path=request.path
        )
    return _serve(item)


def is_page_path(path: str) -> bool:
    """The page's paths: open to anyone (with auth on, it asks for the key itself)."""
    return path == PAGE_PATH or path.startswith(STATIC_PREFIX)
