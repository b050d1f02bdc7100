"""Shared pieces of the benchmark scripts: timing, results, `timebase serve`, side environments.

Every scenario script starts its own `timebase serve` (embedded PostgreSQL with the app's default
settings, ports chosen by the OS, 127.0.0.1 only) in a temporary directory and stops it at the
end; it writes its result rows as JSON lines to `--out` (and prints them as a table when run
alone). `run.py` runs every script and renders one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Side environments (psycopg, ArcticDB) live here, never in the project's .venv.
CACHE_DIR = Path(os.environ.get("TIMEBASE_BENCH_CACHE", Path.home() / ".cache" / "timebase-bench"))
#: Measured runs per figure (after a warm-up); `run.py --smoke` sets 2 (it checks the scripts).
RUNS = int(os.environ.get("TIMEBASE_BENCH_RUNS", "5"))
#: The database backends every scenario runs on: `timebase serve`'s embedded PostgreSQL without
#: TimescaleDB, and with it preloaded (when its files are installed: `make timescaledb`).
BACKENDS = {"postgres": "PostgreSQL", "timescaledb": "TimescaleDB"}


# -- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """Figures of repeated runs: the median and the range."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def repeat(fn: Callable[[], float | None], runs: int = RUNS, warmup: int = 1) -> Stat:
    """Call `fn` `warmup` times, then `runs` times; each call's figure is what it returns (or its
    wall time in seconds when it returns None)."""
    for _ in range(warmup):
        fn()
    return Stat(tuple(_figure(fn) for _ in range(runs)))


def _figure(fn: Callable[[], float | None]) -> float:
    """What one call of `fn` returns, or its wall time in seconds when it returns None."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started if result is None else result


def alternate(
    first: Callable[[], float | None],
    second: Callable[[], float | None],
    runs: int = RUNS,
    warmup: int = 1,
) -> tuple[Stat, Stat]:
    """`repeat` of two calls taking turns (first, second, first, ...): on a shared machine whose
    speed drifts during a run, both figures of a ratio are taken under the same conditions."""
    for _ in range(warmup):
        first()
        second()
    pairs = [(_figure(first), _figure(second)) for _ in range(runs)]
    return Stat(tuple(a for a, _ in pairs)), Stat(tuple(b for _, b in pairs))


def rate(rows: int, seconds: Stat) -> Stat:
    """Rows per second from durations (the median of rates is rows / the median duration)."""
    return Stat(tuple(rows / s for s in seconds.values))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def fmt_number(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1e6:.2f}M"
    if value >= 1000:
        return f"{value / 1e3:.1f}k"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt(stat: Stat, unit: str) -> str:
    """`1.23M rows/s (1.10M–1.30M)`."""
    return (
        f"{fmt_number(stat.median)} {unit} ({fmt_number(stat.low)}–{fmt_number(stat.high)})"
    ).strip()


# -- results ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a TimeBase figure, optionally next to a baseline."""

    scenario: str
    path: str
    value: str
    baseline: str = "—"
    baseline_value: str = "—"
    ratio: str = "—"
    target: str = "report"
    #: True/False when there is a target to meet; None when the figure is only reported.
    met: bool | None = None
    note: str = ""
    #: What limits it (for docs/benchmarks.md), when the target is missed.
    limit: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: The database it ran on (a BACKENDS value), shown with the scenario; "" when both.
    backend: str = ""


def ratio_text(value: float) -> str:
    return f"{value:.2f}×"


class Results:
    def __init__(self, out: Path | None, backend: str = "") -> None:
        self.out = out
        self.backend = BACKENDS.get(backend, "")
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        if self.backend and not row.backend:
            row.backend = self.backend
        self.rows.append(row)
        print(f"  {row.scenario} | {row.path}: {row.value} vs {row.baseline} {row.baseline_value}"
              f" → {row.ratio} [{row.target}] {_mark(row.met)} {row.note}", file=sys.stderr,
              flush=True)  # fmt: skip
        if self.out is not None:
            with self.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(row)) + "\n")


def _mark(met: bool | None) -> str:
    return {True: "✅", False: "❌", None: "—"}[met]


HEADER = (
    "| scenario | TimeBase path | TimeBase | baseline | baseline figure | ratio | target | met |\n"
    "|---|---|---|---|---|---|---|---|"
)


def render(rows: Sequence[Row]) -> str:
    lines = [HEADER]
    for r in rows:
        note = f" ({r.note})" if r.note else ""
        scenario = f"{r.scenario} · {r.backend}" if r.backend else r.scenario
        lines.append(
            f"| {scenario} | {r.path} | {r.value} | {r.baseline}{note} | {r.baseline_value} "
            f"| {r.ratio} | {r.target} | {_mark(r.met)} |"
        )
    return "\n".join(lines)


def read_rows(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [Row(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no side environments")
    parser.add_argument("--out", type=Path, help="append result rows (JSON lines) here")
    parser.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default="postgres",
        help="the embedded PostgreSQL without or with TimescaleDB (default: postgres)",
    )
    return parser.parse_args()


def available_backends() -> list[str]:
    """postgres, and timescaledb when its files are installed in the embedded PostgreSQL."""
    from timebase.store.embedded import timescaledb_installed

    return ["postgres", "timescaledb"] if timescaledb_installed() else ["postgres"]


# -- timebase serve ---------------------------------------------------------------------------


@dataclass
class Served:
    """A running `timebase serve` (see `serve()`)."""

    proc: subprocess.Popen[str]
    grpc: str
    flight: str
    rest: str
    database_url: str
    providers: dict[str, str]
    log: Path


def bench_config(**extra: Any) -> dict[str, Any]:
    """The configuration every benchmark serves with: defaults, except that the REST per-client
    rate limit is off (one client makes all the requests) and old 1m bars are kept."""
    config: dict[str, Any] = {
        "rest": {"rate_limit_enabled": False},
        "retention": {"intraday_days": None},
        "log": {"level": "WARNING"},
    }
    for key, value in extra.items():
        config[key] = value
    return config


@contextmanager
def serve(
    config: dict[str, Any], *, backend: str = "postgres", start_timeout: float = 180.0
) -> Iterator[Served]:
    """Start `timebase serve` in a temporary directory on `backend` (a BACKENDS key); stop it
    (and its PostgreSQL) at the end."""
    with tempfile.TemporaryDirectory(prefix="timebase-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # the embedded PostgreSQL may run as an unprivileged user
        (tmp / "timebase.yaml").write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
        env.update(
            TIMEBASE_CONFIG=str(tmp / "timebase.yaml"),
            TIMEBASE_DATA_DIR=str(tmp / "data"),
            TIMEBASE_HOST="127.0.0.1",
            TIMEBASE_GRPC_PORT="0",
            TIMEBASE_FLIGHT_PORT="0",
            TIMEBASE_HTTP_PORT="0",
            TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB="on" if backend == "timescaledb" else "off",
        )
        log = tmp / "serve.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "timebase.cli.main", "serve"],
                env=env,
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        try:
            served = _wait_ready(proc, log, start_timeout)
            yield served
        finally:
            _stop(proc)
            kept = CACHE_DIR / "last-serve.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, kept)


def _wait_ready(proc: subprocess.Popen[str], log: Path, timeout: float) -> Served:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    text = "\n".join(lines)
    if not lines or not lines[-1].startswith("Press Ctrl-C"):
        raise RuntimeError(
            f"timebase serve did not start:\n{text}\n{log.read_text(errors='replace')[-4000:]}"
        )

    def find(pattern: str) -> str:
        match = re.search(pattern, text, re.M)
        if match is None:
            raise RuntimeError(f"no {pattern!r} in the serve output:\n{text}")
        return match.group(1)

    providers = dict(re.findall(r"^  provider (\S+) +ready at (\S+) ", text, re.M))
    return Served(
        proc=proc,
        grpc=find(r"^  gRPC +(\S+)$"),
        flight=find(r"^  Flight +(\S+)$"),
        rest=find(r"^  REST +(\S+)$"),
        database_url=find(r'try: psql "([^"]+)"'),
        providers=providers,
        log=log,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


# -- side environments ------------------------------------------------------------------------


def bench_requirements(*names: str) -> list[str]:
    """The requirements of the `bench` extra (pyproject.toml) whose names start with `names`."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["bench"]
    return [r for r in extra if any(re.match(rf"{n}\b", r) for n in names)]


def side_venv(name: str, requirements: Sequence[str], *, timeout: float = 600.0) -> Path | None:
    """A venv under the cache dir with `requirements` installed (made once); its python, or None
    when it cannot be made (no index, no wheel for this platform, …)."""
    venv = CACHE_DIR / f"venv-{name}"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"  making the side environment {venv} ({', '.join(requirements)})", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *requirements],
            check=True, timeout=timeout, capture_output=True, text=True,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"  cannot make {venv}: {str(detail).strip()[-500:]}", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        return None
    stamp.write_text(wanted)
    return python


def run_side(python: Path, script: str, args: dict[str, Any], timeout: float = 1800.0) -> Any:
    """Run `script` (Python source) with the side environment's python; it reads its arguments as
    JSON on stdin and prints its result as JSON on the last line of stdout."""
    result = subprocess.run(
        [str(python), "-c", script],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"side script failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- processes --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def provider_pids(gateway_pid: int) -> dict[str, int]:
    """slug → pid of each provider process the gateway started."""
    import psutil

    found: dict[str, int] = {}
    for child in psutil.Process(gateway_pid).children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
            env = child.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        slug = env.get("TIMEBASE_PROVIDER_SLUG")
        if slug is None:
            match = re.search(r"providers/([a-z0-9_-]+)/src", cmdline)
            slug = match.group(1) if match else None
        if slug is not None and "postgres" not in cmdline.split(" ", 1)[0]:
            found.setdefault(slug, child.pid)
    return found
