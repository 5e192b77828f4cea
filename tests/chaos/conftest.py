"""The chaos suite's figures: printed as a table at the end, and written as JSON to
``$VOXKV_CHAOS_REPORT`` when set."""

from __future__ import annotations

from typing import Any

from ._harness import FIGURES, REPORT_ENV, table, write_report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("chaos figures")
    terminalreporter.write_line(table())
    path = write_report()
    if path:
        terminalreporter.write_line(f"figures written to {path} (${REPORT_ENV})")
