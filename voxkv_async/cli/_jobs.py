"""What the file jobs share: progress on stderr, signals, the final summary, inputs.

- :class:`Bar`: a tqdm bar on stderr (with total and ETA when the total is known) or
  nothing; messages are printed above it. Shown when stderr is a terminal, or with
  ``--progress``.
- :class:`Interrupts`: SIGINT and SIGTERM cancel the job's task, so it can say what
  was done before exiting 130 / 143; a second signal exits at once.
- :func:`finish`: the one-line summary on stderr, and with ``--json`` one JSON object
  on stdout.
- :func:`command_line`: the command that was run, to print as the one to resume.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

from ._connection import UsageError, is_stdio, print_json

__all__ = [
    "Bar",
    "Interrupts",
    "command_line",
    "finish",
    "open_input",
    "show_progress",
]

_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def show_progress(args: argparse.Namespace) -> bool:
    """``--progress``/``--no-progress``, else whether stderr is a terminal."""
    flag: bool | None = args.progress
    return sys.stderr.isatty() if flag is None else flag


class Bar:
    """A progress bar on stderr, or nothing; :meth:`write` prints above it."""

    def __init__(self, enabled: bool, total: int | None, desc: str, unit: str = " rows") -> None:
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                print("voxkv: --progress needs tqdm: pip install 'voxkv_async[bulk]'",
                      file=sys.stderr)
            else:
                self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr,
                                 mininterval=0.2, smoothing=0.1, dynamic_ncols=True)

    def set(self, position: int) -> None:
        """Move the bar to ``position`` (rows settled so far)."""
        if self._bar is not None and position != self._bar.n:
            self._bar.update(position - self._bar.n)

    def set_total(self, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def write(self, message: str) -> None:
        """Print ``message`` on stderr, above the bar."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Interrupts:
    """While active, SIGINT and SIGTERM cancel ``task``; :attr:`signal` says which came."""

    def __init__(self, task: asyncio.Task[Any], name: str) -> None:
        self._task = task
        self._name = name
        self.signal: int | None = None
        self._installed: list[int] = []

    @property
    def exit_code(self) -> int:
        return _SIGNAL_EXIT.get(signal.Signals(self.signal), 130) if self.signal else 130

    def _on_signal(self, signum: int) -> None:
        if self.signal is not None:  # the second one: no more waiting
            print(f"\nvoxkv {self._name}: interrupted again: exiting now", file=sys.stderr)
            os._exit(_SIGNAL_EXIT.get(signal.Signals(signum), 130))
        self.signal = signum
        print(f"\nvoxkv {self._name}: {signal.Signals(signum).name}: stopping (signal again "
              "to exit at once)", file=sys.stderr)
        self._task.cancel()

    def __enter__(self) -> Self:
        loop = asyncio.get_running_loop()
        for sig in _SIGNAL_EXIT:
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
                loop.add_signal_handler(sig, self._on_signal, int(sig))
                self._installed.append(sig)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)


class Job(Protocol):
    """A file job as :func:`run_job` drives it."""

    def run(self) -> Coroutine[Any, Any, None]:
        """Do the work (cancelled on SIGINT/SIGTERM)."""
        ...

    def finish(self, signum: int | None, exit_signal: int) -> int:
        """Print the summary; the exit code."""
        ...

    def close(self) -> None:
        """Release what the job holds (files, the progress bar)."""
        ...


async def run_job(job: Job, name: str) -> int:
    """Run ``job``; on SIGINT/SIGTERM stop it, and let it say what it did either way."""
    try:
        task = asyncio.create_task(job.run())
        with Interrupts(task, name) as interrupts:
            try:
                await task
            except asyncio.CancelledError:
                if interrupts.signal is None:
                    raise
        return job.finish(interrupts.signal, interrupts.exit_code)
    finally:
        job.close()


def finish(args: argparse.Namespace, summary: dict[str, Any], line: str) -> int:
    """Print the one-line summary (stderr) and the JSON one (stdout, with ``--json``)."""
    print(f"voxkv {args.command}: {line}", file=sys.stderr)
    if args.json:
        print_json(summary)
    code: int = summary["exit_code"]
    return code


def command_line(args: argparse.Namespace) -> str:
    """The command line that ``args`` came from, in canonical form (to resume with).

    Options first, then ``--`` and the positionals (a file named ``-x`` stays a file);
    an option value that starts with ``-`` is given as ``--flag=value``.
    """
    parser: argparse.ArgumentParser = args.command_parser
    words = ["voxkv"] + (["--uvloop"] if getattr(args, "uvloop", False) else [])
    words.append(args.command)
    positionals: list[str] = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if isinstance(action, argparse._HelpAction) or value == action.default:
            continue
        if action.option_strings:
            words += _option_words(action, value)
        else:
            positionals.append(str(value))
    if any(p.startswith("-") and p != "-" for p in positionals):
        words.append("--")
    return shlex.join(words + positionals)


def _option_words(action: argparse.Action, value: Any) -> list[str]:
    longs = [o for o in action.option_strings if o.startswith("--")]
    if isinstance(action, argparse.BooleanOptionalAction):
        # option_strings is ["--flag", "--no-flag"]
        return [action.option_strings[0] if value else action.option_strings[1]]
    flag = longs[0] if longs else action.option_strings[0]
    if action.nargs == 0:
        return [flag]
    text = str(value)
    return [f"{flag}={text}"] if text.startswith("-") else [flag, text]


def open_input(path: Path, what: str = "input") -> IO[bytes]:
    """The input as a binary stream: the file, or standard input for ``-``."""
    if is_stdio(path):
        return sys.stdin.buffer
    try:
        return path.open("rb")
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None

