"""Which asyncio tasks are the client's: tests that check nothing is left running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def client_tasks(tasks: Iterable[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """``tasks`` less the in-process emulator's request handlers (aiohttp's
    ``RequestHandler``), which run in the same loop and outlive a client's request."""
    return [t for t in tasks if "RequestHandler" not in repr(t.get_coro())]
