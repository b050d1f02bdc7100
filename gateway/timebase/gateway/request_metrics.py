"""What a door records each call into: the shared request metrics, protocol-neutral.

Every door records into one `RequestObserver` (the `Metrics` of `timebase.rest.metrics`, served at
`GET /metrics`): one observation per call, labelled with the door, the route, the method and the
final status. The door-specific recorders are `timebase.grpc.metrics` (around every method:
`timebase.grpc.handlers`) and `timebase.flight.metrics` (a server middleware); REST records its
own in its middleware.

The core's fetcher records each upstream provider request into a `FetchObserver` (the same
`Metrics`): the provider, the final status (`OK` or the gRPC status name it failed with) and the
seconds it took.
"""

from __future__ import annotations

from typing import Protocol


class RequestObserver(Protocol):
    def observe(
        self, door: str, route: str, method: str, status: int | str, seconds: float
    ) -> None: ...


class FetchObserver(Protocol):
    def fetched(self, provider: str, status: str, seconds: float) -> None: ...
