"""The one authenticator: keys by hash, failures limited per address, database keys reloaded,
last use saved off the request path."""

from __future__ import annotations

import hashlib

import pytest

from tests.auth.support import (
    ADMIN_KEY,
    INVALID,
    MISSING,
    READ_KEY,
    WRONG_KEY,
    auth_config,
    bearer,
)
from timebase.auth import Caller, Scope, keystore
from timebase.auth.authenticator import Authenticator, client_host, is_loopback
from timebase.auth.failures import FailureLimiter
from timebase.auth.keys import bearer_token, display_prefix, generate_key, hash_key
from timebase.sdk.errors import ClientRateLimited, Unauthenticated
from timebase.store import Store


def test_keys_are_random_prefixed_and_hashed() -> None:
    key = generate_key()
    assert key.startswith("tb_")
    assert len(key) == 46
    assert generate_key() != key
    assert display_prefix(key) == key[:11]
    assert hash_key("tb_x") == hashlib.sha256(b"tb_x").hexdigest()
    assert bearer_token("Bearer  tb_abc ") == "tb_abc"
    assert bearer_token("bearer tb_abc") == "tb_abc"
    assert bearer_token("Basic dXNlcjpwYXNz") is None
    assert bearer_token(None) is None


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.0.0.5:5123", "10.0.0.5"),
        ("ipv6:[::1]:5123", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("unix:/tmp/socket", "unix:/tmp/socket"),
    ],
)
def test_client_host(peer: str, host: str) -> None:
    assert client_host(peer) == host


def test_loopback() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.1.2.3")] == [True] * 4
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.com")] == [False] * 4


async def test_auth_off_every_caller_is_local() -> None:
    caller = await Authenticator.disabled().authenticate(None, "ipv4:10.0.0.5:1", "grpc")
    assert caller == Caller.local("grpc", "10.0.0.5")
    assert caller.allows(Scope.ADMIN)


async def test_missing_malformed_wrong_and_right_keys() -> None:
    auth = Authenticator(auth_config())
    for header, message in [
        (None, MISSING),
        ("", MISSING),
        ("Basic dXNlcjpwYXNz", "malformed Authorization header: expected 'Bearer <key>' "
         "(an API key made by `timebase keys create`)"),
        (bearer(WRONG_KEY), INVALID),
        (bearer("tb_" + "x" * 600), INVALID),
    ]:  # fmt: skip
        with pytest.raises(Unauthenticated) as raised:
            await auth.authenticate(header, "127.0.0.1", "rest")
        assert raised.value.message == message
    caller = await auth.authenticate(bearer(ADMIN_KEY), "ipv4:127.0.0.1:4000", "grpc")
    assert caller == Caller(
        Scope.ADMIN, "grpc", "127.0.0.1", "admin", f"sha256:{hash_key(ADMIN_KEY)[:8]}"
    )


async def test_repeated_failures_are_rate_limited_per_address() -> None:
    auth = Authenticator(auth_config(max_failures=3, failure_window_seconds=60))
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(bearer(WRONG_KEY), "10.0.0.5", "rest")
    # the address is now refused, even with a right key...
    with pytest.raises(ClientRateLimited) as raised:
        await auth.authenticate(bearer(READ_KEY), "10.0.0.5", "rest")
    assert raised.value.code == "RATE_LIMITED"
    assert raised.value.message == (
        "too many failed authentication attempts from 10.0.0.5: retry in 60 s"
    )
    assert raised.value.retry_after is not None
    assert 59 < raised.value.retry_after <= 60
    # ...while another address is not; missing keys are not counted
    assert (await auth.authenticate(bearer(READ_KEY), "10.0.0.6", "rest")).key_name == "reader"
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(None, "10.0.0.7", "rest")
    assert (await auth.authenticate(bearer(READ_KEY), "10.0.0.7", "rest")).scope is Scope.READ


def test_failures_leave_the_window() -> None:
    now = [100.0]
    limiter = FailureLimiter(2, 10.0, clock=lambda: now[0])
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(10.0)
    now[0] = 105.0
    assert limiter.retry_after("a") == pytest.approx(5.0)
    now[0] = 110.5
    assert limiter.retry_after("a") is None


async def test_database_keys_reloaded_revoked_and_last_use_saved(database_url: str) -> None:
    async with Store(database_url, pool_size=2, run_retention=False) as store:
        auth = Authenticator(auth_config(reload_seconds=3600), store.pool)
        await auth.start()
        try:
            # made after start: an unknown key makes the authenticator re-read the table
            key, record = await store.pool.run(
                lambda conn: keystore.create_key(conn, "ops", Scope.WRITE)
            )
            caller = await auth.authenticate(bearer(key), "127.0.0.1", "rest")
            assert (caller.key_name, caller.key_prefix, caller.scope) == (
                "ops",
                record.prefix,
                Scope.WRITE,
            )
            assert record.sha256 == hash_key(key)
            assert record.prefix == key[:11]
            await auth.save_last_use()
            (listed,) = await store.pool.run(keystore.list_keys)
            assert listed.last_used_at is not None

            await store.pool.run(lambda conn: keystore.revoke_key(conn, record.prefix))
            await auth.reload()
            with pytest.raises(Unauthenticated) as raised:
                await auth.authenticate(bearer(key), "127.0.0.1", "rest")
            assert raised.value.message == INVALID
        finally:
            await auth.stop()
