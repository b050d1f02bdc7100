"""`timebase` command line entry point."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from timebase.core.build import describe
from timebase.core.config import load_config
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.logs import configure_logging

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: A reader closed our standard output (`timebase get … | head`): 128 + SIGPIPE, the status a
#: shell reports for a Unix tool the signal ended; nothing is printed.
EXIT_BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timebase", description="TimeBase: self-hosted financial time-series data."
    )
    parser.add_argument("--version", action="version", version=describe())
    parser.add_argument(
        "-c", "--config", type=Path, help="configuration file (default: ./timebase.yaml if present)"
    )
    parser.add_argument(
        "--host",
        help="TimeBase server to talk to (client commands; default: the configured host)",
    )
    from timebase.cli.tls_options import add_arguments as add_tls_arguments

    add_tls_arguments(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("serve", help="run TimeBase in the foreground (Ctrl-C to stop)")
    from timebase.cli.client_commands import add_commands
    from timebase.cli.keys import add_command as add_keys_command

    add_commands(commands)
    add_keys_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `timebase`; a closed standard output ends it quietly with EXIT_BROKEN_PIPE."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a broken pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush does not fail again
    (and print "Exception ignored ... BrokenPipeError")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except TimeBaseError as exc:
        print(f"timebase: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(config.log.level, config.log.format)
    if args.command == "keys":
        from timebase.cli.keys import run as run_keys

        return run_keys(args, config)
    if args.command != "serve":
        from timebase.cli.client_commands import run

        return run(args, config)
    if args.command == "serve":
        from timebase.sdk.lean import CLOUD_FILESYSTEMS, DATAFRAME_LIBRARIES, refuse_imports

        # Before the server's modules: pyarrow imports pandas (where installed) on its first
        # conversion of Python objects, ADBC's DB-API polars; the gateway uses neither, nor
        # pyarrow's cloud filesystems (loaded with pyarrow.acero by `Table.group_by`).
        refuse_imports((*DATAFRAME_LIBRARIES, *CLOUD_FILESYSTEMS))
        from timebase.cli.serve import serve

        try:
            return asyncio.run(serve(config))
        except TimeBaseError as exc:
            print(f"timebase: {exc.message}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
