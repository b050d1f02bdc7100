"""A stand-in for `python -m timebase.calendars.build NAME PATH` (same arguments and exit codes)
whose behaviour the test sets in `<cache>/modes.json` ({name: "ok" | "fail" | "hang"}):

- ok: `--names` writes ["XNYS", "XLON"]; a calendar name writes a one-session table (2100-01-04)
- fail: exits 1 with "ModuleNotFoundError: No module named 'exchange_calendars'" on stderr
- hang: writes its pid to `<cache>/<name>.pid`, then sleeps a minute

Every run appends its name to `<cache>/calls.log`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from pyarrow import ipc


def main(name: str, out: Path) -> int:
    cache = out.parent
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "calls.log").open("a", encoding="utf-8") as log:
        log.write(name + "\n")
    modes_file = cache / "modes.json"
    modes = json.loads(modes_file.read_text()) if modes_file.is_file() else {}
    mode = modes.get(name, "ok")
    if mode == "fail":
        print("ModuleNotFoundError: No module named 'exchange_calendars'", file=sys.stderr)
        return 1
    if mode == "hang":
        (cache / f"{name}.pid").write_text(str(os.getpid()))
        time.sleep(60)
        return 0
    if name == "--names":
        out.write_text(json.dumps(["XNYS", "XLON"]))
        return 0
    utc = pa.timestamp("us", tz="UTC")
    table = pa.table(
        {
            "session": pa.array([date(2100, 1, 4)], pa.date32()),
            "open": pa.array([datetime(2100, 1, 4, 14, 30, tzinfo=UTC)], utc),
            "close": pa.array([datetime(2100, 1, 4, 21, tzinfo=UTC)], utc),
            "break_start": pa.nulls(1, utc),
            "break_end": pa.nulls(1, utc),
        }
    ).replace_schema_metadata({"calendar": name, "format": "2"})
    with pa.OSFile(str(out), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
