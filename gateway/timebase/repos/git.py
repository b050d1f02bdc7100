"""`git` as an asyncio subprocess: bounded in time, never prompting, URLs checked first."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from timebase.sdk.errors import InvalidRequestError, NotImplementedByServer

#: How long one git command (a clone or a fetch) may take.
GIT_TIMEOUT_SECONDS = 120.0
#: The longest repository URL accepted.
MAX_URL_CHARS = 2048
#: Transports accepted: no `ext::` helpers, no local paths that could be taken for options.
SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")


class GitError(Exception):
    """A git command failed; the message is git's own last line (or the timeout)."""


def check_url(url: str) -> str:
    """`url` stripped, or InvalidRequestError on `repository` naming what is wrong."""
    text = url.strip()
    if not text:
        raise InvalidRequestError(
            "repository: required: the URL of a Git repository", field="repository"
        )
    if len(text) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in text):
        raise InvalidRequestError(
            f"repository: not a usable URL (at most {MAX_URL_CHARS} characters, no spaces or "
            "control characters)",
            field="repository",
        )
    if not text.lower().startswith(SCHEMES):
        raise InvalidRequestError(
            f"repository: {text!r} is not a Git URL (schemes: {', '.join(SCHEMES)})",
            field="repository",
        )
    return text


def shown_url(url: str) -> str:
    """`url` as it may be shown, audited and logged: a password in it replaced by `***`, and so is
    the user name of an http(s) URL (where access tokens go: `https://TOKEN@host/…`). Git never
    prompts here, so a private repository's credentials travel in its URL."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return "<an unreadable URL>"
    if password is None and (user is None or parts.scheme.lower() not in ("http", "https")):
        return url
    host = parts.netloc.rpartition("@")[2]
    userinfo = "***" if password is None else f"{user}:***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def git_binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise NotImplementedByServer(
            "provider repositories need the `git` command, which this server does not have"
        )
    return found


async def run_git(
    *args: str, cwd: Path | None = None, limit_seconds: float = GIT_TIMEOUT_SECONDS
) -> str:
    """Run `git args…` (never asking for credentials), its stdout; GitError on failure."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
        "LC_ALL": "C",
    }
    proc = await asyncio.create_subprocess_exec(
        git_binary(),
        "-c",
        "protocol.ext.allow=never",
        *args,
        cwd=str(cwd) if cwd is not None else None,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(f"git {args[0]} timed out after {limit_seconds:g} s") from None
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        raise GitError(lines[-1] if lines else f"git {args[0]} exited with {proc.returncode}")
    return out.decode(errors="replace").strip()
