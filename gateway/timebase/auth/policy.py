"""Safe defaults: TimeBase without keys serves loopback only, unless told otherwise explicitly.

`check_bind(config)` runs before anything starts. With `auth.mode` not set and a door bound to an
address other than loopback, it refuses (ConfigError, `timebase serve` exits 1) and says how to
turn keys on or accept the risk; with `auth.mode: none` set explicitly it logs a warning.
"""

from __future__ import annotations

import logging

from timebase.auth.authenticator import is_loopback
from timebase.core.config import Config
from timebase.sdk.errors import ConfigError

_log = logging.getLogger(__name__)


def bound_addresses(config: Config) -> list[str]:
    """Every address a door of `config` listens on."""
    return [config.host]


def check_bind(config: Config) -> None:
    """Refuse (ConfigError) to serve beyond loopback without keys; see the module docstring."""
    if config.auth.enabled:
        if not config.auth.keys:
            _log.info(
                "API keys are on (auth.mode: keys); create keys with "
                "`timebase keys create --scope SCOPE`"
            )
        return
    exposed = [host for host in bound_addresses(config) if not is_loopback(host)]
    if not exposed:
        return
    where = ", ".join(exposed)
    if config.auth.mode == "none":
        _log.warning(
            "auth.mode is none and TimeBase listens on %s: anyone who can reach it may read, "
            "write and administer it",
            where,
            extra={"host": where},
        )
        return
    raise ConfigError(
        f"refusing to listen on {where} without API keys: anyone who can reach it could read, "
        "write and administer TimeBase. Turn keys on with `auth.mode: keys` "
        "(TIMEBASE_AUTH_MODE=keys) and create one with `timebase keys create --scope admin`, "
        "listen on loopback only (TIMEBASE_HOST=127.0.0.1), or accept the risk with "
        "`auth.mode: none` (TIMEBASE_AUTH_MODE=none)",
        host=where,
    )
