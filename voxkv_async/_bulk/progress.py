"""Progress of a bulk run: a callback or a ``tqdm`` bar, at most every ``interval`` s."""

from __future__ import annotations

import time
from collections.abc import Sized
from typing import Any

from .options import ProgressCallback
from .report import BulkReport

__all__ = ["Progress"]


class Progress:
    """Throttled progress: a callback, or a tqdm bar, at most every ``interval`` s."""

    def __init__(self, report: BulkReport, progress: ProgressCallback | bool | None,
                 interval: float) -> None:
        self._report = report
        self._callback: ProgressCallback | None = None
        self._bar: Any = None
        self._interval = interval
        self._next = 0.0
        if callable(progress):
            self._callback = progress
        elif progress:
            self._bar = _tqdm(report.operation)
        self._active = self._callback is not None or self._bar is not None

    def total_hint(self, source: object) -> None:
        if self._bar is not None and isinstance(source, Sized):
            self._bar.total = len(source)

    def tick(self) -> None:
        if not self._active:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            self._emit()

    def _emit(self) -> None:
        if self._callback is not None:
            self._callback(self._report)
        if self._bar is not None:
            self._bar.update(self._report.done - self._bar.n)

    def close(self, *, final_update: bool = True) -> None:
        if self._active and final_update:
            self._emit()
        if self._bar is not None:
            self._bar.close()


def _tqdm(description: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise ImportError(
            "progress=True needs tqdm: pip install 'voxkv_async[bulk]'"
        ) from exc
    return tqdm(desc=description, unit=" items", mininterval=0.2, smoothing=0.1)
