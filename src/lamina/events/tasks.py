"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("lamina.events")


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended.

    The cancellation is repeated while the task runs on: on Python 3.11,
    ``asyncio.wait_for`` can swallow a cancellation that arrives just as the
    awaited operation completes (CPython gh-86296), and a loop would go on.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task %s failed", task.get_name(), exc_info=task.exception())
