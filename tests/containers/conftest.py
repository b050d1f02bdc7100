"""Fixtures of the container tests (see support.py): engine, images, cleanup by label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.containers import support


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    client = support.docker_client_or_skip()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def provider_images(docker_client: Any) -> dict[str, str]:
    """Every bundled provider's image, built from its real Dockerfile: slug → tag."""
    return {
        slug: support.build_provider_image(docker_client, slug) for slug in support.PROVIDER_SLUGS
    }


@pytest.fixture(scope="session")
def gateway_image(docker_client: Any) -> str:
    return support.build_gateway_image(docker_client)


@pytest.fixture(scope="session")
def postgres_image(docker_client: Any) -> str:
    return support.build_postgres_image(docker_client)


@pytest.fixture(scope="session")
def prometheus_image(docker_client: Any) -> str:
    return support.build_prometheus_image(docker_client)


@pytest.fixture
def test_label(docker_client: Any) -> Iterator[str]:
    """A label unique to this test (`timebase.test=<id>`); whatever carries it is removed after."""
    label = f"{support.TEST_LABEL}={support.unique('t')}"
    try:
        yield label
    finally:
        support.remove_labelled(docker_client, label)
