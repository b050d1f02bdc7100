"""timebase.sdk.tasks: a lifecycle object's background task is cancelled and awaited."""

from __future__ import annotations

import asyncio

from timebase.sdk.tasks import cancel_and_wait


async def test_a_running_task_is_cancelled_and_has_finished_when_it_returns() -> None:
    cleaned_up = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned_up.set()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)  # let it start
    await cancel_and_wait(task)
    assert task.cancelled()
    assert cleaned_up.is_set()


async def test_none_and_a_finished_task_are_fine() -> None:
    await cancel_and_wait(None)
    task = asyncio.create_task(asyncio.sleep(0, result=7))
    await task
    await cancel_and_wait(task)
    assert task.result() == 7
