"""Running a subcommand's coroutine: on asyncio, or on uvloop with ``--uvloop``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["run_coroutine"]


def run_coroutine(coro: Coroutine[Any, Any, int], args: argparse.Namespace) -> int:
    """Run a subcommand's coroutine to its exit code, on uvloop if ``--uvloop`` was given."""
    if not getattr(args, "uvloop", False):
        return asyncio.run(coro)
    try:
        import uvloop
    except ImportError:
        coro.close()
        print("voxkv: --uvloop needs uvloop: pip install 'voxkv_async[uvloop]'", file=sys.stderr)
        return 2
    result: int = uvloop.run(coro)
    return result
