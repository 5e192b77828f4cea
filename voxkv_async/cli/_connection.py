"""What every data command shares: the connection flags, the client, exit codes.

Every data command takes ``--credentials`` (or ``$VOXIMPLANT_CREDENTIALS``),
``--application-id`` (or ``$VOXKV_APPLICATION_ID``), ``--base-url`` (or
``$VOXKV_BASE_URL``) and ``--ca-file`` (or ``$VOXKV_CA_FILE``), prints JSON on stdout
and diagnostics on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import attrs

from .._client import VoxKV
from .._config import CA_FILE_ENV_VAR
from .._credentials import Credentials
from .._errors import VoxKVError
from .._models import KeyInfo, KeyValueItem
from ._runner import run_coroutine

__all__ = [
    "APPLICATION_ENV_VAR",
    "CA_FILE_ENV_VAR",
    "UsageError",
    "add_command",
    "connected",
    "item_json",
    "print_json",
]

APPLICATION_ENV_VAR = "VOXKV_APPLICATION_ID"

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _connection_flags() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--credentials", metavar="FILE",
                       help="service account credentials.json (default: $VOXIMPLANT_CREDENTIALS)")
    group.add_argument("--application-id", type=int, metavar="ID",
                       help=f"the application (default: ${APPLICATION_ENV_VAR})")
    group.add_argument("--base-url", metavar="URL",
                       help="the API root (default: $VOXKV_BASE_URL or the real API)")
    group.add_argument("--ca-file", metavar="PEM", help=(
                       f"CA certificates to trust (default: ${CA_FILE_ENV_VAR} or the system's)"))
    return common


def add_command(subparsers: Any, name: str, help: str, handler: Handler
                ) -> argparse.ArgumentParser:
    """Add data command ``name`` with the connection flags, running ``handler``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=help, parents=[_connection_flags()])
    p.set_defaults(handler=lambda args: _run(handler, args))
    return p


class UsageError(Exception):
    """A problem with the command line or the environment: exit code 2."""


def _run(handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
         args: argparse.Namespace) -> int:
    try:
        return run_coroutine(handler(args), args)
    except (UsageError, VoxKVError, OSError, ValueError) as exc:
        print(f"voxkv {args.command}: error: {exc}", file=sys.stderr)
        return 2


@asynccontextmanager
async def connected(args: argparse.Namespace) -> AsyncIterator[VoxKV]:
    """A client made from the connection flags (or their environment variables)."""
    credentials = (Credentials.from_file(args.credentials) if args.credentials
                   else Credentials.from_env())
    async with VoxKV(
        credentials,
        _application_id(args.application_id),
        base_url=args.base_url,
        ca_file=args.ca_file or None,  # the library reads $VOXKV_CA_FILE itself
    ) as kv:
        yield kv


def _application_id(given: int | None) -> int:
    if given is not None:
        return given
    raw = os.environ.get(APPLICATION_ENV_VAR)
    if not raw:
        raise UsageError(f"give --application-id or set ${APPLICATION_ENV_VAR}")
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"${APPLICATION_ENV_VAR} is not an integer: {raw!r}") from None


def item_json(item: KeyValueItem | KeyInfo) -> dict[str, Any]:
    return attrs.asdict(item)


def print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False))
