"""`timebase providers [ACTION …]`: list the providers, or manage them (the admin scope).

    timebase providers                       # the listing
    timebase providers install URL [SLUG]    # an add-on of a Git repository (repository.yaml)
    timebase providers update SLUG           # pull its repository, then restart it
    timebase providers enable|disable SLUG   # kept across gateway restarts
    timebase providers refresh SLUG          # read its manifest (capabilities) again
    timebase providers remove SLUG           # stop it and forget it

Each action is one `timebase.v1` admin RPC through `timebase.client.TimeBase`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from timebase.cli.bars_io import UsageError, print_rows
from timebase.client import TimeBase

#: Actions and how many words follow each (min, max).
ACTIONS: dict[str, tuple[int, int]] = {
    "install": (1, 2),
    "update": (1, 1),
    "enable": (1, 1),
    "disable": (1, 1),
    "refresh": (1, 1),
    "remove": (1, 1),
}
USAGE = (
    "timebase providers [install URL [SLUG] | update SLUG | enable SLUG | disable SLUG | "
    "refresh SLUG | remove SLUG]"
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "providers",
        help="list the providers, or install, update, enable, disable, refresh or remove one",
        usage=USAGE,
    )
    parser.add_argument(
        "words",
        nargs="*",
        metavar="ACTION ARGS",
        help="none: the listing; `install URL [SLUG]`: an add-on of a Git repository; "
        "`update|enable|disable|refresh|remove SLUG`",
    )


def run_action(words: list[str], client: TimeBase) -> dict[str, Any] | None:
    """Do the action `words` name; the provider as it now is (None for remove)."""
    action, rest = words[0], words[1:]
    if action not in ACTIONS:
        raise UsageError(f"providers: unknown action {action!r} (usage: {USAGE})")
    least, most = ACTIONS[action]
    if not least <= len(rest) <= most:
        raise UsageError(f"providers {action}: wrong arguments (usage: {USAGE})")
    calls: dict[str, Callable[[], dict[str, Any] | None]] = {
        "install": lambda: client.install_provider(rest[0], rest[1] if len(rest) > 1 else ""),
        "update": lambda: client.update_provider(rest[0]),
        "enable": lambda: client.set_provider_enabled(rest[0], True),
        "disable": lambda: client.set_provider_enabled(rest[0], False),
        "refresh": lambda: client.refresh_provider(rest[0]),
        "remove": lambda: client.remove_provider(rest[0]),
    }
    return calls[action]()


def print_provider(slug: str, provider: dict[str, Any] | None) -> None:
    """One line per field worth seeing after an action."""
    if provider is None:
        print(f"{slug}: removed")
        return
    rows = [
        (key, str(provider.get(key, "")))
        for key in ("slug", "status", "version", "repository", "commit", "last_error")
        if provider.get(key) not in (None, "")
    ]
    print_rows(("field", "value"), rows)


def cmd_providers_action(args: argparse.Namespace, client: TimeBase) -> int:
    """`timebase providers ACTION …`: 0 when done and the provider is ready (or disabled,
    removed), 1 when it failed to start."""
    words: list[str] = args.words
    provider = run_action(words, client)
    print_provider(words[-1], provider)
    if provider is not None and provider.get("status") == "failed":
        return 1
    return 0
