"""A plain grpcio client of `arrow.flight.protocol.FlightService` (no Arrow): what any gRPC
client, in any language, receives from the Flight door. Requests are encoded by hand (the two
messages used here are one or two fields)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

SERVICE = "/arrow.flight.protocol.FlightService/"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def command_descriptor(command: bytes) -> bytes:
    """A `FlightDescriptor` of type CMD (2) with `cmd`."""
    return b"\x08\x02" + _field(2, command)


def ticket(data: bytes) -> bytes:
    return _field(1, data)


@dataclass(frozen=True)
class Failure:
    """What a gRPC client receives for a failed call."""

    code: grpc.StatusCode
    details: str
    trailing: dict[str, str | bytes]
    initial: dict[str, str | bytes]

    def everything(self) -> str:
        """All the client received, as text, to search for what must not be there."""
        parts = [self.details]
        for value in (*self.trailing.values(), *self.initial.values()):
            parts.append(value.decode(errors="replace") if isinstance(value, bytes) else value)
        return "\n".join(parts)


def fail(port: int, method: str, request: bytes, key: str | None = None) -> Failure:
    """Call `method` (unary GetFlightInfo or server-streaming DoGet) and return its failure
    (blocking: run in a thread)."""
    metadata: tuple[tuple[str, str | bytes], ...] = (
        (("authorization", f"Bearer {key}"),) if key else ()
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            if method == "DoGet":
                stream = channel.unary_stream(SERVICE + method, None, None)
                for _ in stream(request, metadata=metadata, timeout=30):
                    pass
            else:
                unary = channel.unary_unary(SERVICE + method, None, None)
                unary(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            call: grpc.Call = error  # type: ignore[assignment]
            return Failure(
                call.code(),
                call.details() or "",
                dict(call.trailing_metadata() or ()),
                dict(call.initial_metadata() or ()),
            )
    raise AssertionError(f"{method} succeeded")
