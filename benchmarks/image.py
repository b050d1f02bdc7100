"""Memory of the container images: the gateway image's `timebase serve` and each provider image.

The images are built from the repository's Dockerfiles as the container tests build them
(tests/containers/support.py: the local base image and the host-side wheelhouse, `make
base-image wheelhouse`), then run as tests/containers/test_gateway.py runs them: a database
container, every bundled provider's container and the gateway on one network, hardened. After
the gateway answers one query (10 daily bars of SYN:ACME through the synthetic container), the
resident memory of each container's main process is read from the host (`docker top` gives the
host pid; psutil reads its RSS), 5 samples.

Without a reachable Docker API (DOCKER_HOST or the default socket; `.ci/docker.sh` starts a
private dockerd as root), or without the base image or the wheelhouse, the rows say so and the
script exits 0. Smoke mode does not build images: it only checks the engine and reports.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, RUNS, Results, Row, Stat, fmt, parse_args, rss_mb

sys.path.insert(0, str(ROOT))

SCENARIO = "memory (container images)"


def _client() -> tuple[Any, str]:
    """A docker SDK client, or (None, why not)."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        return None, f"no Docker API reachable ({type(exc).__name__})"
    return client, ""


def _missing_inputs(client: Any) -> str:
    import docker.errors

    from tests.containers import support

    try:
        client.images.get(support.BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return f"{support.BASE_IMAGE} is not in the engine (make base-image)"
    if not (support.wheelhouse_dir() / ".requirements.sha256").is_file():
        return "no wheelhouse (make wheelhouse)"
    return ""


def _main_pid(container: Any) -> int | None:
    """The host pid of the container's main Python process (the first `python` in `docker top`)."""
    top = container.top(ps_args="-o pid,args")
    for pid, args in (row[:2] for row in top["Processes"]):
        if "python" in args:
            return int(pid)
    return None


def _sample(pid: int) -> Stat:
    samples = []
    for _ in range(RUNS):
        samples.append(rss_mb(pid))
        time.sleep(0.2)
    return Stat(tuple(samples))


def measure(client: Any, results: Results) -> None:
    from tests.containers import support
    from tests.containers.test_gateway import start_stack, synthetic_bars, wait_serving

    images = {slug: support.build_provider_image(client, slug) for slug in support.PROVIDER_SLUGS}
    images["postgres"] = support.build_postgres_image(client)
    images["gateway"] = support.build_gateway_image(client)
    label = f"{support.TEST_LABEL}={support.unique('bench')}"
    try:
        address, containers = start_stack(client, label, images)
        asyncio.run(wait_serving(address, within=120))
        bars = asyncio.run(synthetic_bars(address))
        assert len(bars) == 10, len(bars)
        time.sleep(2)
        by_alias = dict(zip(["db", *support.PROVIDER_SLUGS, "gateway"], containers, strict=True))
        gateway_pid = _main_pid(by_alias["gateway"])
        if gateway_pid is None:
            raise RuntimeError("no python process in the gateway container")
        rss = _sample(gateway_pid)
        results.add(
            Row(
                SCENARIO,
                "gateway image, timebase serve after one query (database in its own container)",
                fmt(rss, "MB"),
                target="≤ 200 MB",
                met=rss.median <= 200.0,
            )
        )
        for slug in support.PROVIDER_SLUGS:
            pid = _main_pid(by_alias[slug])
            if pid is None:
                continue
            rss = _sample(pid)
            results.add(
                Row(
                    SCENARIO,
                    f"provider image {slug}, idle" + (", after one fetch" if slug == "synthetic"
                                                       else ""),
                    fmt(rss, "MB"),
                    target="≤ 150 MB",
                    met=rss.median <= 150.0,
                )
            )  # fmt: skip
    finally:
        support.remove_labelled(client, label)


def main() -> None:
    args = parse_args(__doc__ or "")
    results = Results(args.out)
    client, why = _client()
    if client is None:
        results.add(Row(SCENARIO, "gateway image", f"skipped: {why}"))
        return
    try:
        missing = _missing_inputs(client)
        if missing:
            results.add(Row(SCENARIO, "gateway image", f"skipped: {missing}"))
        elif args.smoke:
            results.add(Row(SCENARIO, "gateway image", "skipped in smoke mode (image builds)"))
        else:
            measure(client, results)
    finally:
        client.close()


if __name__ == "__main__":
    main()
