"""What every data command shares: the connection flags, the client, exit codes.

Every data command takes ``--credentials`` (or ``$VOXIMPLANT_CREDENTIALS``),
``--application-id`` (or ``$VOXKV_APPLICATION_ID``), ``--base-url`` (or
``$VOXKV_BASE_URL``), ``--ca-file`` (or ``$VOXKV_CA_FILE``) and ``--account-id`` (act
for a child account), prints JSON on stdout and diagnostics on stderr.

The file jobs (``import``, ``export``, ``sync``; :func:`add_job_command`) exit with
:data:`EXIT_OK` (0) when everything was done, :data:`EXIT_PARTIAL` (1) when some rows
failed or were rejected, :data:`EXIT_USAGE` (2) for a usage error (bad flags, an
unreadable file, a refused checkpoint), :data:`EXIT_ABORTED` (3) when the job could not
proceed (authentication, permission, application not found, TLS, the server unreachable
past the retry policy), 130 / 143 when interrupted by SIGINT / SIGTERM. ``-`` as a file
name is standard input or output.
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

from .._bulk.checkpoint import CheckpointCorruptError, CheckpointMismatchError
from .._client import VoxKV
from .._config import CA_FILE_ENV_VAR
from .._credentials import Credentials
from .._errors import CredentialsError, ValidationError, VoxKVError
from .._models import KeyInfo, KeyValueItem
from ._runner import run_coroutine

__all__ = [
    "APPLICATION_ENV_VAR",
    "CA_FILE_ENV_VAR",
    "EXIT_ABORTED",
    "EXIT_CODES_HELP",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "UsageError",
    "add_command",
    "add_job_command",
    "connected",
    "exit_code_for",
    "is_stdio",
    "item_json",
    "print_json",
]

APPLICATION_ENV_VAR = "VOXKV_APPLICATION_ID"

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3
#: The exit codes of the file jobs, for their ``--help``.
EXIT_CODES_HELP = """\
exit codes:
  0    everything was done
  1    some rows failed or were rejected (or the export lost its place under writes)
  2    usage error: bad flags, an unreadable file, a refused checkpoint
  3    the job could not proceed: authentication, permission, application not
       found, TLS verification, or the server unreachable past the retry policy
  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: a summary says what was
       done and how to resume
  141  export to standard output whose reader went away (| head): quietly

'-' as a file name is standard input (or output); --json prints the final summary
as one JSON object on standard output; progress and errors go to standard error."""


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
    group.add_argument("--account-id", metavar="ID", help=(
                       "act for this child account: sign with the credentials' key, "
                       "naming ID as the issuer (default: the credentials' own account)"))
    return common


def add_command(subparsers: Any, name: str, help: str, handler: Handler
                ) -> argparse.ArgumentParser:
    """Add data command ``name`` with the connection flags, running ``handler``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=help, parents=[_connection_flags()])
    p.set_defaults(handler=lambda args: _run(handler, args))
    return p


def add_job_command(subparsers: Any, name: str, help: str, handler: Handler, *,
                    description: str | None = None) -> argparse.ArgumentParser:
    """Add file job ``name``: the connection flags, ``--json``, and the job exit codes."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description or help, parents=[_connection_flags()],
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true",
                   help="print the final summary as one JSON object on stdout")
    p.set_defaults(handler=lambda args: _run_job(handler, args), command_parser=p)
    return p


class UsageError(Exception):
    """A problem with the command line or the environment: exit code 2."""


def is_stdio(path: object) -> bool:
    """Whether a file argument is ``-`` (standard input or output)."""
    return str(path) == "-"


def exit_code_for(exc: BaseException) -> int:
    """The job exit code of an error that ended a job (see the module docs)."""
    if isinstance(exc, ValidationError | CredentialsError | CheckpointMismatchError
                  | CheckpointCorruptError):
        return EXIT_USAGE
    if isinstance(exc, VoxKVError):  # BulkAbortedError, API refusals, transport, protocol
        return EXIT_ABORTED
    return EXIT_USAGE  # UsageError, OSError (a file)


def _run_job(handler: Handler, args: argparse.Namespace) -> int:
    try:
        return run_coroutine(handler(args), args)
    except (UsageError, VoxKVError, OSError, ValueError) as exc:
        code = exit_code_for(exc)
        print(f"voxkv {args.command}: error: {exc}", file=sys.stderr)
        if args.json:
            print_json({"command": args.command, "status": "error", "exit_code": code,
                        "error": str(exc)})
        return code


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
        account_id=_account_id(args.account_id),
    ) as kv:
        yield kv


def _account_id(given: str | None) -> int | str | None:
    if not given:
        return None
    return int(given) if given.isdigit() else given


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
