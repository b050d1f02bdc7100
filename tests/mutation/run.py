"""`make mutate`: mutmut over the gateway core, then a score per module (docs/mutation.md).

mutmut names a mutant after its file's path and matches that name against the module the code
runs as, so the mutated packages must sit at `timebase/<package>` below the folder mutmut runs in.
This script builds that folder (build/mutate/: symbolic links to the packages, the tests and
pyproject.toml, whose [tool.mutmut] section holds the configuration), starts one embedded
PostgreSQL for the store tests (TIMEBASE_TEST_DATABASE_URL; each test still creates its own
database), runs mutmut with one worker, and prints killed / survived per module.

    python tests/mutation/run.py                 # a fresh run over every configured module
    python tests/mutation/run.py --keep          # reuse earlier results, test only new mutants
    python tests/mutation/run.py 'timebase.gateway.router*'   # only these mutants
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "mutate"
LINKS = {
    "timebase/gateway": "gateway/timebase/gateway",
    "timebase/store": "gateway/timebase/store",
    "timebase/sdk": "sdk/timebase/sdk",
    "tests": "tests",
    "pyproject.toml": "pyproject.toml",
    # The store finds its migrations at ../sql from timebase/store/ (as in a checkout).
    "sql": "sql",
}
#: mutmut's exit codes (mutmut.stats.status_by_exit_code) folded into the report's columns: a
#: mutant that made the tests hang or crash was detected, like a killed one.
STATUS = {1: "killed", 3: "killed", 0: "survived", 36: "timeout", 24: "timeout", -24: "timeout"}
STATUS |= {152: "timeout", 255: "timeout", -11: "timeout", -9: "timeout"}
STATUS |= {33: "no tests", 5: "no tests"}
TRIAGE = ROOT / "docs" / "mutation.md"
TARGET = 0.9


def prepare(keep: bool) -> None:
    if not keep and WORK.exists():
        shutil.rmtree(WORK)
    for link, target in LINKS.items():
        path = WORK / link
        if path.is_symlink() or path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(os.path.relpath(ROOT / target, path.parent))


def results() -> dict[str, dict[str, str]]:
    """module → mutant name → status, from mutmut's files in build/mutate/mutants/."""
    out: dict[str, dict[str, str]] = {}
    for meta in sorted((WORK / "mutants").rglob("*.py.meta")):
        module = meta.relative_to(WORK / "mutants").as_posix().removesuffix(".py.meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out[module.replace("/", ".")] = {
            name: STATUS.get(code, "other") if code is not None else "not checked"
            for name, code in codes.items()
        }
    return out


def _names(cell: str) -> list[str]:
    """The mutants a table cell names: `…__mutmut_4`, then `_7` (one more) or … `_9` (a range)."""
    tokens = re.findall(r"([^`]*)`([^`]+)`", cell)
    if not tokens or "__mutmut_" not in tokens[0][1]:
        return []
    base, _, first = tokens[0][1].rpartition("__mutmut_")
    numbers = [int(first)]
    for between, token in tokens[1:]:
        if not re.fullmatch(r"_\d+", token):
            break
        last = int(token[1:])
        numbers += range(numbers[-1] + 1, last + 1) if "…" in between else [last]
    return [f"{base}__mutmut_{n}" for n in numbers]


def triage() -> dict[str, str]:
    """Mutant name → verdict (killed, equivalent, accepted) from the tables of docs/mutation.md;
    a later row overrides an earlier one (a range, then its exceptions)."""
    verdicts: dict[str, str] = {}
    for line in TRIAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`timebase."):
            verdict = cells[2].split()[0].lower().rstrip(":") if cells[2] else ""
            for name in _names(cells[0]):
                verdicts[name] = verdict
    return verdicts


def report() -> bool:
    """Print the score per module; True when every module meets the target and every mutant
    left alive is triaged in docs/mutation.md."""
    verdicts = triage()
    ok = True
    untriaged: list[str] = []
    print(
        f"\n{'module':34} {'mutants':>7} {'killed':>6} {'timeout':>7} {'equiv.':>6} "
        f"{'survived':>8} {'score':>6}"
    )
    for module, statuses in results().items():
        counts = Counter(statuses.values())
        equivalent = sum(
            1
            for name, status in statuses.items()
            if status != "killed" and verdicts.get(name) == "equivalent"
        )
        detected = counts["killed"] + counts["timeout"]
        alive = len(statuses) - detected - equivalent
        scored = len(statuses) - equivalent
        score = detected / scored if scored else 1.0
        ok = ok and score >= TARGET and counts["not checked"] == 0
        print(
            f"{module:34} {len(statuses):7} {counts['killed']:6} {counts['timeout']:7} "
            f"{equivalent:6} {alive:8} {score:6.1%}"
        )
        untriaged += [
            name
            for name, status in sorted(statuses.items())
            if status not in ("killed", "timeout") and name not in verdicts
        ]
    if untriaged:
        print(f"\nnot killed and not triaged in docs/mutation.md ({len(untriaged)}):")
        print("(`cd build/mutate && ../../.venv/bin/mutmut show NAME` shows one)")
        for name in untriaged:
            print(f"  {name}")
    print(f"\ntarget: {TARGET:.0%} of the non-equivalent mutants of each module killed")
    return ok and not untriaged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="reuse the results of the last run")
    parser.add_argument("--report", action="store_true", help="only print the last run's report")
    parser.add_argument("mutants", nargs="*", help="mutant names or patterns (default: all)")
    args = parser.parse_args()
    if args.report:
        return 0 if report() else 1
    prepare(args.keep or bool(args.mutants))
    env = dict(os.environ)
    server = None
    with tempfile.TemporaryDirectory(prefix="timebase-mutate-") as tmp:
        if not env.get("TIMEBASE_TEST_DATABASE_URL"):
            from timebase.store.embedded import EmbeddedPostgres

            server = EmbeddedPostgres(Path(tmp) / "pg")
            asyncio.run(server.start())
            env["TIMEBASE_TEST_DATABASE_URL"] = server.url
        started = time.monotonic()
        # A SIGTERM (e.g. `timeout`) ends mutmut and stops PostgreSQL like Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        mutmut = subprocess.Popen(
            [sys.executable, "-m", "mutmut", "run", "--max-children", "1", *args.mutants],
            cwd=WORK,
            env=env,
        )
        try:
            code = mutmut.wait()
        finally:
            if mutmut.poll() is None:
                mutmut.terminate()
                mutmut.wait()
            if server is not None:
                asyncio.run(server.stop())
        print(f"\nmutmut finished in {time.monotonic() - started:.0f} s (exit code {code})")
    return code or (0 if report() else 1)


if __name__ == "__main__":
    sys.exit(main())
