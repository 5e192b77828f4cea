"""The options of a bulk run (:class:`BulkOptions`) and their checking.

Every option is checked when the run starts, before any request: a bad one raises a
:class:`~voxkv_async.ValidationError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from .._errors import ValidationError
from ._legacy_rate import AdaptiveRate
from .report import BulkFailure, BulkReport

__all__ = [
    "BulkOptions",
    "FailureSink",
    "ProgressCallback",
    "make_adaptive",
    "make_limiter",
    "positive_int",
]

ProgressCallback = Callable[[BulkReport], object]
FailureSink = Callable[[BulkFailure], object]


class BulkOptions(TypedDict, total=False):
    """Options shared by ``set_many``, ``get_many`` and ``delete_many``.

    Keys:
        concurrency: Worker tasks, i.e. requests in flight (default 64). Keep it at or
            below the client's ``Limits.max_connections``.
        rate_limit: At most this many requests per second (needs ``aiolimiter``, the
            ``bulk`` extra); ``None`` (default) for no fixed limit.
        adaptive: The :class:`AdaptiveRate` to use, ``True`` (default) for a new one,
            ``False`` for none. It finds the rate at which a server that throttles
            under load stops throttling; a server that throttles a share of requests
            whatever the rate makes it settle low (~10/s for 6 %): pass ``False`` there
            and let the retry policy absorb the throttles.
        progress: A callback given the live report, at most every
            ``progress_interval`` seconds and once at the end; or ``True`` for a
            ``tqdm`` progress bar on stderr (needs ``tqdm``, the ``bulk`` extra).
        progress_interval: Seconds between progress updates (default 0.2).
        report: A fresh :class:`BulkReport` to fill live (read it after a cancel, or
            set its ``max_failures`` first); by default a new one.
        on_failure: Called with each :class:`BulkFailure` as it happens, including
            those beyond ``max_failures``: a sink for rejects.
        raise_on_error: Raise :class:`BulkError` at the end if any item failed
            (default ``False``; the report is on the exception).
    """

    concurrency: int
    rate_limit: float | None
    adaptive: AdaptiveRate | bool
    progress: ProgressCallback | bool | None
    progress_interval: float
    report: BulkReport | None
    on_failure: FailureSink | None
    raise_on_error: bool


def positive_int(value: object, name: str) -> int:
    """``value`` if it is an int >= 1, else a ``ValidationError`` naming ``name``."""
    if type(value) is not int or value < 1:
        raise ValidationError(name, "must be an int >= 1", repr(value))
    return value


def make_limiter(rate: float | None) -> Any:
    """An ``aiolimiter.AsyncLimiter`` allowing ``rate`` requests/s, bursts of 100 ms."""
    if rate is None:
        return None
    if not isinstance(rate, int | float) or not rate > 0:
        raise ValidationError("rate_limit", "must be a number > 0 (requests/s)", repr(rate))
    try:
        from aiolimiter import AsyncLimiter
    except ImportError as exc:
        raise ImportError(
            "rate_limit needs aiolimiter: pip install 'voxkv_async[bulk]'"
        ) from exc
    burst = max(1.0, rate / 10)
    return AsyncLimiter(burst, burst / rate)


def make_adaptive(adaptive: AdaptiveRate | bool) -> AdaptiveRate | None:
    """The run's adaptive rate: the one given, a new one for ``True``, none for ``False``."""
    if isinstance(adaptive, AdaptiveRate):
        return adaptive
    return AdaptiveRate() if adaptive else None
