"""Running a page's scripts as a reader would: every titled Python block saved under its
title in one folder (so one script can import another), then one run per script."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ._docs_support import blocks, output_after, run, shell_env

# What differs from run to run: free ports (the pages show the emulator's usual one), and
# a clock offset measured against the whole seconds of an HTTP Date header (-600 or -601).
_VARIES = [(re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:8443"),
           (re.compile(r"(clock differs from ours by -?)\d+"), r"\g<1>N")]


def save_scripts(page: str, folder: Path) -> list[str]:
    """Write every titled Python block of ``page`` into ``folder``; their titles."""
    titles = []
    for found in blocks(page):
        if found["lang"] == "python" and found["title"]:
            (folder / found["title"]).write_text(found["code"], encoding="utf-8")
            titles.append(found["title"])
    return titles


def titles(page: str) -> list[str]:
    """The titles of ``page``'s Python blocks, in page order; every Python block of the
    pages tested here has one, so that it can be run."""
    python = [b["title"] for b in blocks(page) if b["lang"] == "python"]
    assert all(python), f"{page}: a Python block without a title is never run"
    return python


def run_script(page: str, title: str, folder: Path, env: dict[str, str] | None = None
               ) -> str:
    """Run ``title`` from ``folder`` and return its output, checked against the page's."""
    save_scripts(page, folder)
    done = run([sys.executable, "-W", "error::ResourceWarning", title],
               env if env is not None else shell_env({}), folder)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = output_after(page, title)
    assert same_text(done.stdout) == same_text(shown), f"printed:\n{done.stdout}\nshown:\n{shown}"
    return done.stdout


def same_text(text: str) -> str:
    """``text`` with what differs between runs made equal."""
    for pattern, fixed in _VARIES:
        text = pattern.sub(fixed, text)
    return text
