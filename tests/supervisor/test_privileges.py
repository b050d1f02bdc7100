"""Process providers: an unprivileged user when TimeBase is root, an allow-listed environment
always (real provider processes, read through /proc)."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.supervisor.conftest import make_config, provider_folder, with_providers
from timebase.core.config import ProviderSettings
from timebase.sdk.errors import ConfigError
from timebase.supervisor import ProviderStatus, Supervisor
from timebase.supervisor.privileges import PASSED as ALLOW_LISTED
from timebase.supervisor.privileges import RunAs, grant_access, provider_environment, provider_user
from timebase.supervisor.process import ProcessRuntime

# Reports what it may write (its folder, its data folder) into its data folder, then serves.
PROBING_PROVIDER = """\
import os
from timebase.sdk import Provider, serve

def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__

data = os.environ["TIMEBASE_PROVIDER_DATA_DIR"]
with open(os.path.join(data, "probe"), "w") as f:
    f.write(attempt("own-folder.txt") + " " + attempt(os.path.join(data, "mine.txt")))

class Probe(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        return
        yield

if __name__ == "__main__":
    serve(Probe)
"""

GATEWAY_ONLY = {
    "PGPASSWORD": "db-password-123",
    "TIMEBASE_DATABASE_URL": "postgresql://timebase:db-password-123@db/timebase",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-456",
}
PASSED = {"LC_TIME": "C.UTF-8", "TZ": "UTC", "no_proxy": "example.invalid"}
#: What a provider may get besides LC_*: the allow-list, and what the runtime sets.
ALWAYS = ALLOW_LISTED | {"HOME", "PYTHONUNBUFFERED"}

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")
    return dict(e.decode().split("=", 1) for e in entries if b"=" in e)


def _reachable_python(root: Path, user: RunAs) -> Path:
    """An interpreter `user` can run that sees this environment's packages: this one when its
    folders are searchable by others, else a venv of a system Python of the same version."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys.executable)]
    candidates += [Path(d) / version for d in ("/usr/local/bin", "/usr/bin")]
    for candidate in candidates:
        real = candidate.resolve()
        searchable = all(os.stat(d).st_mode & 0o001 for d in real.parents)
        if not (real.is_file() and searchable):
            continue
        if candidate == Path(sys.executable):
            return candidate
        venv = root / "venv"
        subprocess.run([str(candidate), "-m", "venv", "--without-pip", str(venv)], check=True)
        purelib = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        own = sysconfig.get_path("purelib")
        Path(purelib, "_gateway.pth").write_text(f"import site; site.addsitedir({own!r})\n")
        for directory in [venv, *venv.parents]:
            directory.chmod(directory.stat().st_mode | 0o001)
        return venv / "bin" / "python"
    pytest.skip(f"no {version} that the user {user.name} can run (install one in /usr/local)")


async def _start(runtime: ProcessRuntime) -> int:
    await runtime.start()
    assert runtime.pid is not None
    return runtime.pid


@as_root
async def test_started_as_root_a_provider_runs_unprivileged_with_a_minimal_environment(
    tmp_path: Path, data_dir: Path, providers_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**GATEWAY_ONLY, **PASSED, "MY_ADDON_TOKEN": "addon-token"}.items():
        monkeypatch.setenv(name, value)
    user = provider_user(None)
    assert user is not None
    expected = pwd.getpwnam("timebase" if _exists("timebase") else "nobody")
    assert (user.name, user.uid, user.gid) == (expected.pw_name, expected.pw_uid, expected.pw_gid)
    assert user.uid != 0
    python = await asyncio.to_thread(_reachable_python, tmp_path / "py", user)
    folder = await provider_folder(providers_root, "probe", PROBING_PROVIDER)
    runtime = ProcessRuntime(
        "probe",
        folder,
        data_dir=data_dir,
        python=str(python),
        run_as=user,
        passed_env=("MY_ADDON_TOKEN",),
    )
    try:
        pid = await _start(runtime)
        status = await asyncio.to_thread(_status, pid)
        assert status["Uid"].split() == [str(user.uid)] * 4
        assert status["Gid"].split() == [str(user.gid)] * 4
        assert status["Groups"].split() == []
        env = await asyncio.to_thread(_environ, pid)
    finally:
        await runtime.stop(3.0)
    own = data_dir / "providers" / "probe"
    for name in GATEWAY_ONLY:
        assert name not in env
    assert not any(value in "".join(env.values()) for value in GATEWAY_ONLY.values())
    for name, value in PASSED.items():
        assert env[name] == value
    assert env["MY_ADDON_TOKEN"] == "addon-token"
    assert env["HOME"] == str(own)
    assert env["PATH"] == os.environ["PATH"]
    assert env["TIMEBASE_PROVIDER_DATA_DIR"] == str(own)
    # It writes its own data folder, not its add-on folder.
    probe = await asyncio.to_thread((own / "probe").read_text)
    assert probe == "PermissionError written"
    mine = await asyncio.to_thread((own / "mine.txt").stat)
    assert mine.st_uid == user.uid
    assert not await asyncio.to_thread((folder / "own-folder.txt").exists)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@as_root
async def test_an_unknown_process_user_fails_the_provider_naming_the_key(
    data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    await provider_folder(providers_root, "probe", PROBING_PROVIDER)
    config = make_config(
        data_dir,
        bundled_dir=empty_bundled,
        directories=(providers_root,),
        process_user="no-such-user",
    )
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        state = supervisor.get("probe")
        assert state.status is ProviderStatus.FAILED
        assert state.last_error == (
            "providers.process_user: no user 'no-such-user' on this machine "
            "(TIMEBASE_PROVIDERS_PROCESS_USER)"
        )
    finally:
        await supervisor.stop()


async def test_a_provider_gets_only_the_allow_listed_environment(
    data_dir: Path, empty_bundled: Path, providers_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever its user (root keeps the providers root here: process_user root in FAST).
    for name, value in {**GATEWAY_ONLY, **PASSED, "MY_ADDON_TOKEN": "addon-token"}.items():
        monkeypatch.setenv(name, value)
    await provider_folder(providers_root, "probe", PROBING_PROVIDER)
    config = make_config(data_dir, bundled_dir=empty_bundled, directories=(providers_root,))
    config = with_providers(
        config, settings={"probe": ProviderSettings(environment=("MY_ADDON_TOKEN",))}
    )
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        state = supervisor.get("probe")
        assert state.status is ProviderStatus.READY, state.last_error
        assert state.pid is not None
        env = await asyncio.to_thread(_environ, state.pid)
    finally:
        await supervisor.stop()
    assert not set(GATEWAY_ONLY) & set(env)
    assert {k: env[k] for k in PASSED} == PASSED
    assert env["MY_ADDON_TOKEN"] == "addon-token"
    assert env["HOME"] == str(data_dir / "providers" / "probe")
    runtime = {k for k in env if k.startswith("TIMEBASE_")}
    allowed = {*ALWAYS, *runtime, "MY_ADDON_TOKEN", *(k for k in env if k.startswith("LC_"))}
    assert set(env) - allowed == set()
    assert {k for k in env if k.startswith("TIMEBASE_")} == {
        "TIMEBASE_PROVIDER_HOST",
        "TIMEBASE_PROVIDER_PORT",
        "TIMEBASE_PROVIDER_OPTIONS",
        "TIMEBASE_PROVIDER_MANIFEST",
        "TIMEBASE_PROVIDER_DATA_DIR",
        "TIMEBASE_SUPERVISOR_PID",
        "TIMEBASE_LOG_LEVEL",
    }


def test_the_environment_allow_list() -> None:
    source = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "HTTPS_PROXY": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "PGPASSWORD": "x",
        "TIMEBASE_DATABASE_URL": "postgresql://u:p@h/d",
        "AWS_ACCESS_KEY_ID": "y",
        "MINE": "z",
    }
    assert provider_environment(source, Path("/data/p"), ["MINE"]) == {
        "PATH": "/usr/bin",
        "HOME": "/data/p",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "HTTPS_PROXY": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "MINE": "z",
    }


def test_no_user_switch_when_not_root() -> None:
    assert provider_user(None, euid=1000) is None
    assert provider_user("no-such-user", euid=1000) is None
    with pytest.raises(ConfigError) as info:
        provider_user("no-such-user", euid=0)
    assert str(info.value) == (
        "providers.process_user: no user 'no-such-user' on this machine "
        "(TIMEBASE_PROVIDERS_PROCESS_USER)"
    )
    assert provider_user("root", euid=0) is None


def test_an_interpreter_in_a_closed_home_gets_its_folders_opened_for_traversal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Python under a 0700 home (pyenv in /root) is made reachable, o+x only, with a warning."""
    home = tmp_path / "home"
    bin_dir = home / ".pyenv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python3"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    home.chmod(0o700)
    own, folder = tmp_path / "data" / "tiny", tmp_path / "tiny"
    own.mkdir(parents=True)
    folder.mkdir()
    nobody = pwd.getpwnam("nobody")
    user = RunAs(nobody.pw_name, nobody.pw_uid, nobody.pw_gid)
    with caplog.at_level("WARNING", logger="timebase.supervisor.process"):
        grant_access(user, own, folder, python)
    assert home.stat().st_mode & 0o777 == 0o701
    # Only the closed folder is named; the others were already traversable and are left alone.
    assert caplog.text.rstrip().endswith(f"(o+x: enter, not list) on {home}")
    python.chmod(0o700)
    with pytest.raises(ConfigError, match="is not executable by 'nobody'"):
        grant_access(user, own, folder, python)
