"""Per-client bounded queues and the overflow policy.

Every client of the hub has one `ClientQueue` of at most `capacity` messages. The hub only ever
`put`s (never waits), so a slow client cannot stall the upstream reader or other clients. When a
client's queue is full:

1. the oldest queued IN-PROGRESS bar (``metadata["final"] == "false"``) is dropped to make room —
   a later in-progress or final bar of the same period supersedes it anyway;
2. if the queue holds no in-progress bar and the new message is an in-progress bar, the new
   message is dropped;
3. otherwise (queue full of final bars and warnings, a final bar arrives) the oldest final bar is
   dropped and remembered as a gap of its subscription. Before the next queued message the
   client receives a ``PARTIAL_DATA`` warning naming the subscription, the provider, the number of
   final bars lost and their range [start, end) — those bars ARE stored, so the client can read
   them back with a historical query of exactly that range. Consecutive drops of one
   subscription merge into one warning.

The client is never disconnected for being slow; memory per client stays bounded.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass

from timebase.gateway.realtime.controls import Action, Control, Key
from timebase.gateway.realtime.warnings import PARTIAL_DATA, warning, warning_message
from timebase.provider import provider_pb2 as pb
from timebase.sdk.errors import TimeBaseError


class Kind(enum.Enum):
    IN_PROGRESS = "in_progress"
    FINAL = "final"
    WARNING = "warning"


@dataclass
class _Gap:
    provider: str
    count: int
    first_us: int
    last_us: int


class ClientQueue:
    """A bounded queue of outgoing messages with the overflow policy of the module docstring."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[tuple[Kind, Key, pb.TimeSeriesData]] = deque()
        self._in_progress = 0
        self._gaps: dict[Key, _Gap] = {}
        self._ready = asyncio.Event()
        self._closed = False
        #: Counters, for logs and tests.
        self.dropped_in_progress = 0
        self.dropped_final = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, kind: Kind, key: Key, msg: pb.TimeSeriesData) -> None:
        """Queue a message (never blocks); applies the overflow policy when full."""
        if self._closed:
            return
        if len(self._items) >= self.capacity:
            if self._in_progress:
                self._drop_first(Kind.IN_PROGRESS)
            elif kind is Kind.IN_PROGRESS:
                self.dropped_in_progress += 1
                return
            elif not self._drop_first(Kind.FINAL):
                self._drop_first(Kind.WARNING)
        self._items.append((kind, key, msg))
        if kind is Kind.IN_PROGRESS:
            self._in_progress += 1
        self._ready.set()

    def _drop_first(self, kind: Kind) -> bool:
        for index, (k, key, msg) in enumerate(self._items):
            if k is kind:
                del self._items[index]
                if kind is Kind.IN_PROGRESS:
                    self._in_progress -= 1
                    self.dropped_in_progress += 1
                elif kind is Kind.FINAL:
                    self.dropped_final += 1
                    self._record_gap(key, msg)
                return True
        return False

    def _record_gap(self, key: Key, msg: pb.TimeSeriesData) -> None:
        ts = msg.timestamp.seconds * 1_000_000 + msg.timestamp.nanos // 1000
        gap = self._gaps.get(key)
        if gap is None:
            self._gaps[key] = _Gap(msg.provider, 1, ts, ts)
        else:
            gap.count += 1
            gap.first_us = min(gap.first_us, ts)
            gap.last_us = max(gap.last_us, ts)

    def close(self) -> None:
        """No more messages; `get` returns None once the queue is drained of nothing."""
        self._closed = True
        self._items.clear()
        self._gaps.clear()
        self._ready.set()

    async def get(self) -> pb.TimeSeriesData | None:
        """The next message (a pending gap warning first); None once closed."""
        while True:
            if self._closed:
                return None
            if self._gaps:
                key = next(iter(self._gaps))
                gap = self._gaps.pop(key)
                return warning_message(
                    key[0],
                    key[1],
                    warning(
                        PARTIAL_DATA,
                        f"{gap.count} final bar(s) of {key[0]} {key[1]} were not delivered "
                        "because this client read too slowly; they are stored — read "
                        "[start, end) with a historical query",
                        provider=gap.provider,
                        start_us=gap.first_us,
                        end_us=gap.last_us + 1,
                        count=gap.count,
                    ),
                )
            if self._items:
                kind, _, msg = self._items.popleft()
                if kind is Kind.IN_PROGRESS:
                    self._in_progress -= 1
                return msg
            self._ready.clear()
            await self._ready.wait()


class ClientSession:
    """One client stream: its subscriptions, pause state and outgoing queue."""

    def __init__(self, ident: int, capacity: int) -> None:
        self.ident = ident
        self.queue = ClientQueue(capacity)
        self.subscriptions: set[Key] = set()
        self._paused_all = False
        #: Paused (symbol, interval) pairs; interval "" pauses every interval of the symbol.
        self._paused: set[Key] = set()
        #: Why the stream must end (an error with its kind and message), set by `fail`.
        self.error: TimeBaseError | None = None

    def __repr__(self) -> str:
        return f"ClientSession({self.ident})"

    def wants(self, key: Key) -> bool:
        if self._paused_all or not self._paused:
            return not self._paused_all
        return key not in self._paused and (key[0], "") not in self._paused

    def pause(self, control: Control) -> None:
        if not control.symbol:
            self._paused_all = True
        else:
            self._paused.add(control.key)

    def resume(self, control: Control) -> None:
        if not control.symbol:
            self._paused_all = False
            self._paused.clear()
        elif not control.interval:
            self._paused = {k for k in self._paused if k[0] != control.symbol}
        else:
            self._paused.discard(control.key)
            if (control.symbol, "") in self._paused:
                # The symbol was paused as a whole: keep its other intervals paused.
                self._paused.discard((control.symbol, ""))
                self._paused |= {
                    k for k in self.subscriptions if k[0] == control.symbol and k != control.key
                }

    def matching(self, control: Control) -> list[Key]:
        """The subscribed keys an UNSUBSCRIBE names."""
        if control.action is Action.UNSUBSCRIBE and not control.interval:
            return [k for k in self.subscriptions if k[0] == control.symbol]
        return [control.key] if control.key in self.subscriptions else []

    def fail(self, error: TimeBaseError) -> None:
        """End the stream with `error` (the queued messages are discarded)."""
        if self.error is None:
            self.error = error
        self.queue.close()
