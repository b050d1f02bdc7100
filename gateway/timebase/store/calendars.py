"""The trading calendar each imported data set named (table `dataset_calendars`, migration 0014).

    set_dataset_calendar(conn, ["my-data"], "XNYS")
    dataset_calendars(conn, ["my-data", "other"])     # {"my-data": "XNYS"}

Blocking, like the rest of the store: each takes a connection.
"""

from __future__ import annotations

from collections.abc import Iterable

from timebase.store.pool import Connection


def set_dataset_calendar(conn: Connection, providers: Iterable[str], calendar: str) -> None:
    """The data sets stored under `providers` trade on `calendar` from now on (idempotent)."""
    with conn.cursor() as cur:
        for provider in sorted(set(providers)):
            cur.execute(
                """
                INSERT INTO dataset_calendars (provider, calendar) VALUES ($1, $2)
                ON CONFLICT (provider) DO UPDATE SET calendar = EXCLUDED.calendar,
                    updated_at = now()
                WHERE dataset_calendars.calendar IS DISTINCT FROM EXCLUDED.calendar
                """,
                parameters=(provider, calendar),
            )


def dataset_calendars(conn: Connection, providers: Iterable[str]) -> dict[str, str]:
    """The calendars named by the data sets among `providers` (others: absent)."""
    wanted = sorted(set(providers))
    if not wanted:
        return {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT provider, calendar FROM dataset_calendars WHERE provider = ANY($1)",
            parameters=(wanted,),
        )
        rows = cur.fetchall()
    return {str(p): str(c) for p, c in rows}
