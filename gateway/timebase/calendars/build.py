"""Compute an exchange calendar's session table into an Arrow IPC file (a separate process).

    python -m timebase.calendars.build XNYS /data/calendars/XNYS.arrow
    python -m timebase.calendars.build --names /data/calendars/names.json

exchange_calendars (docs/adr/0003-trading-calendars.md) imports pandas; the gateway process must
not, so the gateway runs this module as a short-lived subprocess the first time it needs a
calendar (`timebase.calendars.registry`) and reads the file with pyarrow. Columns: `session`
(date32, the trading date), `open` and `close` (timestamp[us, UTC]), `break_start` and
`break_end` (timestamp[us, UTC], null without a lunch break: XHKG, XTKS have one). The schema
metadata `format` is `FORMAT`; a cached file of an older format is rebuilt.

Exit status: 0 written; 2 unknown calendar name (stderr lists the known names); 1 anything else.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

#: The earliest session computed (exchange_calendars' own bound wins when later).
FIRST_DAY = "1990-01-01"
UNKNOWN_NAME = 2
#: The session table's layout; "2" added the lunch break columns.
FORMAT = "2"


def build(name: str, out: Path) -> None:
    import exchange_calendars as xcals

    try:
        cal = xcals.get_calendar(name, start=FIRST_DAY)
    except (xcals.errors.DateOutOfBounds, ValueError):
        # A calendar whose rules start later (XTKS: 1997) refuses 1990: from its own bound.
        bound = type(xcals.get_calendar(name)).bound_min()
        cal = (
            xcals.get_calendar(name, start=bound) if bound is not None else xcals.get_calendar(name)
        )
    schedule = cal.schedule
    days = [ts.date() for ts in schedule.index]
    utc = pa.timestamp("us", tz="UTC")

    def column(name: str) -> pa.Array:
        if name not in schedule:
            return pa.nulls(len(days), utc)
        # NaT (no break that day) becomes null.
        values = schedule[name]
        present = values.notna()
        return pa.array(
            [ts.to_pydatetime() if ok else None for ts, ok in zip(values, present, strict=True)],
            utc,
        )

    table = pa.table(
        {
            "session": pa.array(days, pa.date32()),
            "open": pa.array(
                [ts.to_pydatetime() for ts in schedule["open"]], pa.timestamp("us", tz="UTC")
            ),
            "close": pa.array(
                [ts.to_pydatetime() for ts in schedule["close"]], pa.timestamp("us", tz="UTC")
            ),
            "break_start": column("break_start"),
            "break_end": column("break_end"),
        }
    ).replace_schema_metadata(
        {"calendar": name, "exchange_calendars": xcals.__version__, "format": FORMAT}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    tmp.replace(out)  # atomic: readers see the old file or the new one, never half of one


def write_names(out: Path) -> None:
    """Every calendar name exchange_calendars knows (aliases included), as a JSON list."""
    import exchange_calendars as xcals

    names = sorted(xcals.get_calendar_names(include_aliases=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    tmp.write_text(json.dumps(names), encoding="utf-8")
    tmp.replace(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m timebase.calendars.build NAME OUT.arrow | --names OUT.json",
            file=sys.stderr,
        )
        return 1
    name, out = argv
    if name == "--names":
        write_names(Path(out))
        return 0
    import exchange_calendars as xcals

    names = set(xcals.get_calendar_names(include_aliases=True))
    if name not in names:
        print(", ".join(sorted(names)), file=sys.stderr)
        return UNKNOWN_NAME
    build(name, Path(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
