"""The parts of :class:`~voxkv_async._bulk.pacing.AdaptiveRate`'s state, one job each.

- :class:`Window`: the answers being counted until the window closes;
- :class:`Measured`: what the last closed window measured;
- :class:`Settling`: after a cut or a pause, the answers to requests sent before it;
- :class:`Curve`: the CUBIC curve the rate follows between cuts;
- :class:`Verdicts`: what the controller remembers to test its last cut;
- :class:`Episode`: a run of cuts between two clean windows, for the server's hints;
- :class:`SendBucket`: the token bucket that spaces sends at the rate.

The control law that moves them is in :mod:`.pacing`.
"""

from __future__ import annotations

import asyncio
import math
from typing import NamedTuple

__all__ = ["Curve", "Episode", "Measured", "SendBucket", "Settling", "Verdicts", "Window"]

#: Seconds of sending the bucket may save up.
_BURST_SECONDS = 0.05


class Window:
    """The answers counted since :attr:`start`: how many, how many refused, sends."""

    __slots__ = ("answers", "refused", "sends", "start")

    def __init__(self) -> None:
        self.start = -math.inf
        self.answers = self.refused = self.sends = 0

    def open(self, now: float) -> None:
        """Start counting afresh at ``now``."""
        self.start, self.answers, self.refused, self.sends = now, 0, 0, 0

    def count(self, refused: bool) -> None:
        """One more answer."""
        self.answers += 1
        self.refused += refused

    def mostly_refused(self, least_answers: int, most: float) -> bool:
        """At least ``least_answers`` answers, and ``most`` of them or more refused."""
        return self.answers >= least_answers and self.refused >= most * self.answers


class Measured(NamedTuple):
    """What a closed window measured: requests/s sent and accepted, the refused share."""

    send_rate: float = 0.0
    accepted_rate: float = 0.0
    refused_share: float = 0.0


class Settling:
    """After a cut or a pause: the answers to requests in flight then say nothing of the
    new rate, so the next ``to_skip`` answers (or all until ``until``) are skipped, and
    nothing is skipped after ``deadline``."""

    __slots__ = ("active", "deadline", "to_skip", "until")

    def __init__(self) -> None:
        self.active = False
        self.to_skip = 0
        self.until = self.deadline = 0.0

    def begin(self, in_flight: int, until: float, longest: float) -> None:
        """Skip the answers to the ``in_flight`` requests, and any until ``until``."""
        self.active, self.to_skip = True, in_flight
        self.until, self.deadline = until, until + longest

    def skips(self, now: float) -> bool:
        """Whether this answer is skipped; the first one that is not ends settling."""
        if now < self.deadline and (self.to_skip > 0 or now < self.until):
            self.to_skip -= 1
            return True
        self.active = False
        return False


class Curve:
    """The rate between cuts: ``peak * (1 + cubic * (windows - offset)**3)``, at most
    ``cap``, ``windows`` being the time since ``epoch`` in units of ``window_length``.

    At ``offset`` windows the curve is back at ``peak`` (the estimate of the last cut);
    beyond, it probes upward, slowly first and faster later (CUBIC, RFC 9438).
    """

    __slots__ = ("cap", "epoch", "offset", "peak", "window_length")

    def __init__(self) -> None:
        self.peak = self.cap = math.inf
        self.epoch = self.offset = 0.0
        self.window_length = 1.0

    def at(self, now: float, cubic: float) -> float:
        """The curve's rate at ``now``."""
        windows = (now - self.epoch) / self.window_length - self.offset
        return min(self.peak * (1.0 + cubic * windows**3), self.cap)

    def restart(self, peak: float, now: float, offset: float = 0.0) -> None:
        """Follow a curve through ``peak`` from ``now``, back at it after ``offset`` windows."""
        self.peak, self.epoch, self.offset = peak, now, offset


class Verdicts:
    """What the controller remembers to test its cuts (step 5 of :mod:`.pacing`)."""

    __slots__ = ("last_cut", "rate_before", "rough", "unmoved", "unmoved_share")

    def __init__(self) -> None:
        #: The last cut, to test: the refused share, the answers behind it, and the send
        #: rate it cut from.
        self.last_cut: tuple[float, int, float] | None = None
        #: Cuts in a row that left the refused share where it was; the share the first left.
        self.unmoved = 0
        self.unmoved_share = 0.0
        #: The rate before the first cut that background could explain (to restore).
        self.rate_before: float | None = None
        #: Whether the last cut came from an urgent window: its estimate is rough.
        self.rough = False


class Episode:
    """Cuts between two clean windows, and the answers since the second of them.

    The server's delay hint (``Retry-After``) pauses sending only when cutting did not
    help: once two cuts were made and most answers after them are still refused.
    """

    __slots__ = ("after_cuts", "cuts", "hint_armed")

    def __init__(self) -> None:
        self.cuts = 0
        self.after_cuts = Window()
        self.hint_armed = True

    def cut(self, now: float) -> None:
        """A cut was made."""
        self.cuts += 1
        if self.cuts == 2:
            self.after_cuts.open(now)

    def end(self) -> None:
        """A clean window: the episode is over."""
        self.cuts = 0
        self.hint_armed = True

    def count(self, refused: bool) -> None:
        """An answer that was not skipped."""
        if self.cuts >= 2:
            self.after_cuts.count(refused)

    def cutting_failed(self, least_answers: int, most: float) -> bool:
        """Two cuts made, and most of ``least_answers``+ answers since still refused."""
        return self.cuts >= 2 and self.after_cuts.mostly_refused(least_answers, most)


class SendBucket:
    """The tokens that space sends at the rate: filled at the rate in force since the
    last refill, up to :data:`_BURST_SECONDS` of sending (at least one token)."""

    __slots__ = ("_lock", "_lock_loop", "refilled", "tokens")

    def __init__(self) -> None:
        self.tokens = 0.0
        self.refilled = -math.inf
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def refill(self, now: float, rate: float) -> None:
        """Add what ``rate`` earned since the last refill (nothing before a pause's end)."""
        if now > self.refilled and rate != math.inf:
            room = max(1.0, rate * _BURST_SECONDS)
            self.tokens = min(room, self.tokens + (now - self.refilled) * rate)
        self.refilled = max(now, self.refilled)

    def empty_until(self, until: float) -> None:
        """No tokens, none earned before ``until`` (a pause: resume at the rate)."""
        self.tokens, self.refilled = 0.0, until

    def take(self) -> bool:
        """Take a token if there is one (float dust must not make a 0 s nap)."""
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def wait(self, rate: float) -> float:
        """Seconds until the next token at ``rate``."""
        return (1.0 - self.tokens) / rate

    def lock(self) -> asyncio.Lock:
        """One waiter at a time watches the bucket (FIFO)."""
        # A lock belongs to one event loop; a controller shared between runs may see two.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock
