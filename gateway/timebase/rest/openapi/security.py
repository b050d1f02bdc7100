"""API keys in the OpenAPI document: the bearer scheme, which operations need it, and their
401/403 answers (docs/security.md). Applied to the described paths by `build_spec`."""

from __future__ import annotations

from typing import Any

from timebase.rest.auth import OPEN_PATHS
from timebase.rest.openapi.common import errors

SCHEME = "apiKey"
SECURITY_SCHEMES: dict[str, Any] = {
    SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key made by `timebase keys create --scope read|write|admin`, "
        "sent as `Authorization: Bearer <key>`. Needed when auth is on (`auth.mode: keys`). "
        "A missing or wrong key is 401 UNAUTHENTICATED; a key without the scope an action "
        "needs is 403 PERMISSION_DENIED naming the scope. Repeated wrong keys from one address "
        "are 429 RATE_LIMITED.",
    }
}
#: Routes anyone may call (they reveal only up or down without a key: /api/health).
OPEN = OPEN_PATHS | {"/", "/static/{name}"}
#: Operations that need more than `read` (403 when the key lacks it).
SCOPED = {
    "installProvider": "admin",
    "removeProvider": "admin",
    "updateProvider": "admin",
    "setProviderEnabled": "admin",
    "refreshProvider": "admin",
    "getBars": "write (with `refresh=true`)",
    "getProviderBars": "write (with `refresh=true`)",
    "listAudit": "admin",
    "refreshSymbols": "write",
}
_NOTES = {
    "/metrics": "Open to loopback clients; from any other address it needs a key (any scope).",
    "/api/stream": "Browsers, which cannot set the header on a WebSocket, send "
    '`{"type": "auth", "key": "<key>"}` as their first message instead.',
}


def secure(paths: dict[str, Any]) -> dict[str, Any]:
    """`paths` with the security of each operation and its 401/403 responses."""
    for path, operations in paths.items():
        for operation in operations.values():
            if path in OPEN:
                operation["security"] = []
                continue
            operation["security"] = [{SCHEME: []}] + ([{}] if path == "/api/stream" else [])
            responses = operation.setdefault("responses", {})
            responses.update(errors(401))
            scope = SCOPED.get(operation.get("operationId", ""))
            notes = [_NOTES[path]] if path in _NOTES else []
            if scope is not None:
                responses.update(errors(403))
                notes.append(f"Needs the `{scope}` scope.")
            if notes:
                text = operation.get("description", "")
                operation["description"] = " ".join([text, *notes]).strip()
    return paths
