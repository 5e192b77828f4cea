"""``voxkv import``, ``export`` and ``sync``: whole files in and out of the storage.

This module declares their flags; each job lives in its own module (:mod:`._import`,
:mod:`._export`, :mod:`._sync`), imported only when it runs. Exit codes and ``-`` for
standard input/output are shared (:mod:`._connection`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._connection import add_job_command

__all__ = ["register_files"]

_IMPORT = """\
Set every row of FILE ('-': standard input) in the storage.

FILE is JSON Lines, one object per line: {"key": .., "value": .., "ttl": ..} or
{.., "expires_at": ..}, ttl/expires_at optional (--ttl is the default); or CSV (by the
.csv extension or --format csv) with a header naming key and value, and optionally ttl
and expires_at columns. A quoted CSV value may span lines. Fields starting with '_'
are ignored (a rejects file's _line and _error).

A row that cannot be decoded, parsed or validated (a bad key, a value over 2000
characters, an expires_at in the past or more than 90 days ahead) is rejected with its
line number and the rest goes on; --rejects OUT keeps every row not written, in the
input's format, with its original line (_line) and reason (_error): 'voxkv import OUT'
retries exactly those. Duplicate keys: the last row wins, and they are counted.

FILE may be a pipe (<(cmd), a named pipe, /dev/stdin): it is read once. A failed or
rejected row whose key a later row wrote is left out of OUT (it would put the older
value back), and counted as superseded.

--checkpoint PATH makes the job resumable: every row confirmed written is recorded
durably, and after any interruption (Ctrl-C, SIGTERM, a crash, a power loss) the same
command sends only the rows not confirmed before. The checkpoint is bound to the
SHA-256 of the file's bytes and to the destination (endpoint, account, application,
--ttl): another file or destination is refused. It needs a regular file (a pipe
cannot be read again), is locked while a run uses it, and is removed once every row
is written."""

_EXPORT = """\
Write every item whose key starts with PREFIX as JSON Lines ({"key", "value",
"expires_at"}, one per line), which 'voxkv import' reads back as is.

The file is written atomically (a temporary file in the same folder, fsynced, renamed
at the end). Pages are fetched concurrently at the server's rate; keys written or
deleted under the prefix meanwhile are detected, and every key present throughout the
walk is written exactly once. If the walk could not find its place again after such
writes (keys there may be missing or repeated), the export says so and exits 1; run it
again when writes have stopped. With '-o -', a reader that closes early ends it
quietly (exit 141)."""

_SYNC = """\
Make the keys under PREFIX equal to FILE (same formats as import): list what is
stored under PREFIX, compare, and write only the rows that are missing or whose
value differs (or whose expiry differs, for rows that give expires_at; a ttl is
relative and not compared). With --delete, keys under PREFIX that FILE does not have
are deleted. Every row's key must start with PREFIX (other rows are rejected).
Running the same sync twice writes nothing the second time.

--dry-run prints the plan (how many to add, update, delete, unchanged, and the first
keys of each) and sends no write. A plan deleting more than --max-delete keys
(default 100; or a share like 10% of the stored keys) needs --yes.
Memory: about 32 bytes per stored key plus 12 per row of FILE."""


def register_files(subparsers: Any) -> None:
    """Add ``import``, ``export`` and ``sync``."""
    _register_import(subparsers)
    _register_export(subparsers)
    _register_sync(subparsers)


def _register_import(subparsers: Any) -> None:
    p = add_job_command(subparsers, "import", "set every row of FILE (JSON Lines or CSV)",
                        _import, description=_IMPORT)
    p.add_argument("file", type=Path, help="the input; '-' for standard input")
    _row_flags(p)
    p.add_argument("--checkpoint", type=Path, metavar="PATH",
                   help="record progress here, to resume after an interruption")


def _register_export(subparsers: Any) -> None:
    p = add_job_command(subparsers, "export",
                        "write every item whose key starts with PREFIX as JSON Lines",
                        _export, description=_EXPORT)
    p.add_argument("--prefix", required=True, help="the key prefix (e.g. a ns: namespace)")
    p.add_argument("-o", "--output", type=Path, default=Path("-"), metavar="FILE",
                   help="the file to write; '-' (default) for standard output")
    _progress_flag(p)


def _register_sync(subparsers: Any) -> None:
    p = add_job_command(subparsers, "sync", "make the keys under PREFIX equal to FILE",
                        _sync, description=_SYNC)
    p.add_argument("file", type=Path, help="the wanted state; '-' for standard input")
    p.add_argument("--prefix", required=True, help="the key prefix the file describes")
    p.add_argument("--delete", action="store_true",
                   help="also delete the keys under PREFIX that FILE does not have")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and send no write")
    p.add_argument("--yes", action="store_true",
                   help="go ahead even if the plan deletes more than --max-delete")
    p.add_argument("--max-delete", default="100", metavar="N|P%",
                   help="most deletions without --yes: a count, or a share of the "
                   "stored keys like 10%% (default 100)")
    _row_flags(p)


def _row_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("jsonl", "csv"),
                   help="the file's format (default: by extension; .csv is CSV)")
    p.add_argument("--ttl", type=int, metavar="SECONDS",
                   help="seconds to live for rows without ttl or expires_at "
                   "(default: the API's 30 days)")
    p.add_argument("--concurrency", type=int, default=64, metavar="N",
                   help="requests in flight (default 64)")
    p.add_argument("--rate", type=float, metavar="N", help="at most N requests per second")
    p.add_argument("--rejects", type=Path, metavar="OUT",
                   help="write the rows not written here, in the input's format")
    p.add_argument("--give-up-after", type=float, default=300.0, metavar="SECONDS",
                   help="stop (exit 3) once the server has been unreachable this long "
                   "(default 300)")
    _progress_flag(p)


def _progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (default: when stderr is a terminal)")


async def _import(args: argparse.Namespace) -> int:
    from ._import import run_import

    return await run_import(args)


async def _export(args: argparse.Namespace) -> int:
    from ._export import run_export

    return await run_export(args)


async def _sync(args: argparse.Namespace) -> int:
    from ._sync import run_sync

    return await run_sync(args)
