"""Standard output whose reader went away (``voxkv export -o - | head -3``).

As Python's ``signal`` docs recommend ("Note on SIGPIPE"), a ``BrokenPipeError`` on
standard output ends the command quietly: the rest of the output goes to ``/dev/null``
(so the interpreter's final flush raises nothing either) and the command exits with
:data:`EXIT_BROKEN_PIPE`, the status a Unix tool killed by SIGPIPE reports to its shell.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["EXIT_BROKEN_PIPE", "stdout_gone"]

#: 128 + SIGPIPE (141), what ``yes | head -1`` leaves in ``PIPESTATUS`` for ``yes``.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def stdout_gone() -> None:
    """Point standard output at ``/dev/null``: nothing more to write, nothing to raise."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
