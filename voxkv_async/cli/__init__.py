"""The ``voxkv`` command: the entry point, and the registry of its subcommands.

Subcommands are added by *registrars*: functions that take the ``subparsers`` object of
the top-level parser, add their subparser(s), and bind a handler with
``parser.set_defaults(handler=func)``, where ``func(args) -> int`` returns the exit code.
Each lives in its own module: :mod:`._emulator` (``voxkv emulator``), :mod:`._demo`
(``voxkv demo``), :mod:`._data` (``get``, ``set``, ``del``, ``items``, ``keys``) and
:mod:`._files` (``import``, ``export``). Append to :data:`REGISTRARS` to add more.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._data import register_data
from ._demo import register_demo
from ._emulator import register_emulator
from ._files import register_files
from ._runner import run_coroutine

__all__ = ["REGISTRARS", "build_parser", "main", "run_coroutine"]

Registrar = Callable[[Any], None]

#: Registrars of the subcommands, in the order ``voxkv --help`` lists them.
REGISTRARS: list[Registrar] = [register_emulator, register_demo, register_data, register_files]


def build_parser() -> argparse.ArgumentParser:
    """The ``voxkv`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="voxkv", description="The Voximplant key-value storage from the command line."
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run on uvloop (pip install 'voxkv_async[uvloop]'): ~10-18%% less CPU per call",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``voxkv``; returns the exit code."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
