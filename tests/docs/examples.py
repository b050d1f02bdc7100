"""The fenced examples of README.md and docs/*.md, and which of them run against a server.

A block that talks to a TimeBase server is marked on the line before its fence:

    <!-- example: run -->                 run it against a live `timebase serve` (tests/docs)
    <!-- example: run: NAME -->           the same, after the file's earlier blocks of session
                                          NAME (they share their variables, e.g. a client)
    <!-- example: skip: REASON -->        not run, for the reason given (e.g. needs the network)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_FENCE = re.compile(r"^```(python|bash|sh)\n(.*?)^```\n", re.M | re.S)
_MARK = re.compile(r"<!-- example: (run(?:: [\w-]+)?|skip: [^>]+?) -->\n$")
#: What makes a block talk to a server (and so need a marker).
TALKS_TO_A_SERVER = re.compile(
    r"127\.0\.0\.1:(8080|50051|8815)|TimeBase\(|flight\.connect|grpcurl|buf curl|curl "
    r"|timebase (get|providers|symbols|ingest|backfill)\b"
)


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    lang: str
    code: str
    mark: str | None  # "run", "run: NAME", "skip: …" or None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.mark is not None and self.mark.startswith("run")


def examples() -> list[Example]:
    found: list[Example] = []
    for path in DOCS:
        text = path.read_text()
        for match in _FENCE.finditer(text):
            before = text[: match.start()]
            mark = _MARK.search(before[-200:])
            found.append(
                Example(
                    path,
                    before.count("\n") + 1,
                    match.group(1),
                    match.group(2),
                    mark.group(1) if mark else None,
                )
            )
    return found


def runnable() -> list[Example]:
    """The runnable examples, each after the earlier blocks of its session (`run: NAME`)."""
    out: list[Example] = []
    sessions: dict[tuple[Path, str], str] = {}
    for example in examples():
        if not example.runs or example.mark is None:
            continue
        code = example.code
        if example.mark.startswith("run: "):
            key = (example.path, example.mark.removeprefix("run: "))
            code = sessions.get(key, "") + code
            sessions[key] = code + "\n"
        out.append(Example(example.path, example.line, example.lang, code, example.mark))
    return out


def localize(code: str, *, http: int, grpc: int, flight: int) -> str:
    """The example with the default ports replaced by the test server's."""
    code = code.replace("127.0.0.1:8080", f"127.0.0.1:{http}")
    code = code.replace("127.0.0.1:50051", f"127.0.0.1:{grpc}")
    code = code.replace("127.0.0.1:8815", f"127.0.0.1:{flight}")
    return code.replace(
        'TimeBase("localhost")',
        f'TimeBase("localhost", grpc_port={grpc}, flight_port={flight})',
    )
