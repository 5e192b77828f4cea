"""How fast a bulk run sends: :class:`AdaptiveRate`, right for both kinds of throttling.

Throttles come in two kinds, and the right answer to each is the opposite of the other:

- **a limit** (the server accepts R requests/s of ours and refuses the rest): the refused
  share ``p = 1 - R/rate`` answers to our rate, so slowing down to R removes it;
- **a background share** (another app on the account, a shared gateway): a share ``b``
  of answers is refused whatever we do; slowing down only loses throughput.

What it draws on:

- botocore's adaptive mode (``botocore/retries/adaptive.py``, ``throttling.py``,
  ``bucket.py``): dormant until the first throttle, a token bucket re-checked after each
  sleep, a CUBIC curve after a cut, the rate capped at twice the measured rate. It cuts
  by a fixed ``beta = 0.7`` per throttle, so a 7.5 % background share cuts it again and
  again to the floor: it cannot tell the two kinds apart. Its curve is in absolute
  requests/s (``0.4 * t**3``); ours is relative, so it behaves alike at 5/s and 5,000/s.
- Google SRE book, "Handling Overload", client-side adaptive throttling: count
  *requests* and *accepts*; the server's capacity is what it accepts. So a cut goes to
  the measured accepted rate, not to a fixed fraction of what we sent.
- DCTCP (Alizadeh et al., SIGCOMM 2010): cut in proportion to the marked share, once per
  window, not per mark. Here: the share of throttles beyond the background, one cut per
  measurement window, however many throttles the window holds.
- CUBIC (RFC 9438) and BBR (Cardwell et al., 2016): after a cut, hold just below the
  last maximum (concave), then probe beyond it, slowly at first and faster later
  (convex), so a raised limit is found again; BBR's lesson is to estimate the bottleneck
  from the delivery (accepted) rate rather than from losses alone.
- Firestore BulkWriter's 500/50/5 ramp: growth in proportion to the current rate, never
  in fixed steps.

The controller (all numbers are :class:`PacingTuning` fields):

1. **Windows.** Answers are counted in windows that close on enough answers AND enough
   time (100 and 0.25 s), or after 2 s, or early ("urgent") when most of at least 32
   answers in 5 ms were refused. Each window gives the throttled share ``p``, the
   accepted rate ``a`` and the send rate.
2. **Congestion** is ``p > b + margin``, the margin being ``z`` binomial standard
   deviations of ``b`` over the window's answers, plus a floor: noise is not an event.
3. **A cut** goes to the accepted rate net of the background, ``a / (1 - b)``
   (proportional, like DCTCP; exact for a token-bucket limit), times ``hold`` (0.95).
   That estimate is the new CUBIC maximum ``W``.
4. **Settle.** After a cut, the answers to requests already in flight at the old rate
   are skipped (their number is known: sends minus answers), so a burst of throttles
   arriving together is ONE event, and the next window measures the new rate only.
5. **Verify.** The first window after a cut tests it: a limit predicts ``p`` falls to
   ``b``; a background share predicts ``p`` stays where it was. If it stayed (above the
   midpoint, within noise of before), the rate is restored and ``b`` learned; when a cut
   helps, ``b`` follows the share it left. Shares above ``max_background`` (half) are
   always treated as a limit. ``b`` decays slowly when windows see less.
6. **Probe.** Between cuts, ``rate = W * (1 + cubic * (t - K)**3)``: back at ``W`` after
   ``K`` seconds, then doubling about ``cubic**(-1/3)`` seconds later (2.7 s), capped at
   ``growth_cap`` times the measured send rate so an idle run does not inflate it.
7. **The first throttle** halves the rate measured so far (nothing is known yet: TCP's
   multiplicative decrease) and starts pacing; the first window then cuts precisely, or
   verification restores the rate if the throttles turn out to be background.

``retry_after`` (HTTP ``Retry-After``, code 416's "after N seconds") is a hint about the
whole server, not one call: when most recent answers are refusals (``hint_share`` of at
least ``hint_answers``), sending pauses for ``min(retry_after, hint_cap)``, once per such
episode (re-armed by a window where fewer were refused); otherwise it is only counted.
The engine itself delays the refused item by ``retry_after``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

__all__ = ["AdaptiveRate", "PacingTuning"]

logger = logging.getLogger("voxkv_async")

_positive = attrs.validators.gt(0)
_share = [attrs.validators.gt(0), attrs.validators.lt(1)]


@attrs.frozen(kw_only=True)
class PacingTuning:
    """The controller's constants; pass any of them to :class:`AdaptiveRate` by name."""

    window_answers: int = attrs.field(default=100, validator=_positive)
    window_seconds: float = attrs.field(default=0.25, validator=_positive)
    window_max_seconds: float = attrs.field(default=2.0, validator=_positive)
    urgent_answers: int = attrs.field(default=32, validator=_positive)
    urgent_seconds: float = attrs.field(default=0.005, validator=_positive)
    urgent_share: float = attrs.field(default=0.5, validator=_share)
    z: float = attrs.field(default=3.0, validator=_positive)
    share_floor: float = attrs.field(default=0.01, validator=_share)
    first_cut: float = attrs.field(default=0.5, validator=_share)
    hold: float = attrs.field(default=0.95, validator=_share)
    cubic: float = attrs.field(default=0.05, validator=_positive)
    growth_cap: float = attrs.field(default=2.0, validator=attrs.validators.gt(1))
    max_background: float = attrs.field(default=0.5, validator=_share)
    background_decay: float = attrs.field(default=0.05, validator=_share)
    burst_seconds: float = attrs.field(default=0.05, validator=_positive)
    nap: float = attrs.field(default=0.1, validator=_positive)
    settle_max: float = attrs.field(default=1.0, validator=_positive)
    verify_answers: int = attrs.field(default=20, validator=_positive)
    hint_share: float = attrs.field(default=0.5, validator=_share)
    hint_answers: int = attrs.field(default=10, validator=_positive)
    hint_cap: float = attrs.field(default=5.0, validator=_positive)


class AdaptiveRate:
    """The send rate of bulk runs: follows a server's limit, ignores background throttles.

    Dormant (``rate`` is ``inf``, :meth:`acquire` returns at once) until the first
    throttle; see the module docstring for the control law. Share one between runs
    (``adaptive=``) to carry over what it learned.

    Attributes:
        enabled: Whether pacing is on.
        rate: The allowed send rate, requests/s (``inf`` while dormant).
        throttles: Throttle answers seen.
        events: Congestion events, i.e. cuts (the first throttle's included).
        background_share: The learned share of throttles that does not answer to rate.
        min_rate, max_rate: Bounds of ``rate`` once pacing is on (a fixed cap on a
            dormant run is the engine's ``rate_limit``).
        tuning: The :class:`PacingTuning` in force.
        pause_reason: Why the last :meth:`pause_for` paused sending.
    """

    def __init__(
        self,
        *,
        min_rate: float = 0.5,
        max_rate: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **tuning: Any,
    ) -> None:
        if not 0 < min_rate <= max_rate:
            raise ValueError("need 0 < min_rate <= max_rate")
        self.min_rate, self.max_rate = min_rate, max_rate
        self.tuning = PacingTuning(**tuning)
        self._clock, self._sleep = clock, sleep
        self.enabled = False
        self.rate = math.inf
        self.throttles = self.events = 0
        self.background_share = 0.0
        self.pause_reason = ""
        self._paused_until = -math.inf
        # The curve: rate = w_max * (1 + cubic * (now - epoch - k)**3), below cap.
        self._w_max = self._epoch = self._k = 0.0
        self._cap = math.inf
        self._tokens, self._refilled = 0.0, clock()
        self._gate: asyncio.Lock | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None
        # Measurement: requests sent and not answered; the open window's counts.
        self._inflight = 0
        self._start: float | None = None
        self._n = self._t = self._sends = 0
        self._last = (0.0, 0.0, 0.0)  # send rate, accepted rate, share of the last window
        # Settling after a cut or pause: answers to skip, and until when.
        self._settling = False
        self._skip, self._settle_until, self._settle_deadline = 0, 0.0, 0.0
        self._sn = self._st = 0
        # A cut to verify: the rate before it, and the share (and answers) that caused it.
        self._pending: tuple[float, float | None, int] | None = None
        self._hint_armed = True

    def __repr__(self) -> str:
        now = self._clock()
        if now < self._paused_until:
            state = f"paused {self._paused_until - now:.1f}s ({self.pause_reason})"
        else:
            state = "pacing" if self.enabled else "dormant"
        return (
            f"<AdaptiveRate {state} rate={self.rate:.1f}/s share={self._last[2]:.1%} "
            f"background={self.background_share:.1%} events={self.events} "
            f"throttles={self.throttles}>"
        )

    # --- what the engine tells it ------------------------------------------------------

    def on_success(self) -> None:
        """An answer that was not a throttle (errors included: they are not refusals)."""
        self._answer(False)

    def on_throttle(self, retry_after: float | None = None) -> None:
        """A throttle (HTTP 429, code 340, 416), with the server's delay hint if any."""
        self._answer(True)
        if retry_after and retry_after > 0 and self._hint_armed:
            n, t = (self._sn, self._st) if self._settling else (self._n, self._t)
            if n >= self.tuning.hint_answers and t >= self.tuning.hint_share * n:
                self._hint_armed = False  # once per episode of mass refusal
                seconds = min(retry_after, self.tuning.hint_cap)
                self.pause_for(seconds, f"server asked to retry after {retry_after:g} s")

    def pause_for(self, seconds: float, reason: str) -> None:
        """Hold every :meth:`acquire` until ``seconds`` from now (a pause only extends)."""
        now = self._clock()
        until = now + max(seconds, 0.0)
        if until <= self._paused_until:
            return
        self._paused_until, self.pause_reason = until, reason
        self._settle(now, until)  # answers until then were sent before the pause
        logger.info("bulk pacing: pausing %.2f s: %s", seconds, reason)

    @property
    def paused_until(self) -> float:
        """The clock time sending resumes at (in the past when not paused)."""
        return self._paused_until

    async def acquire(self) -> None:
        """Wait for a send slot: a token bucket at :attr:`rate`, and any pause.

        One waiter at a time (FIFO) watches the bucket and re-checks it after each nap,
        never booking a future slot, so a changed rate or a pause applies at once.
        """
        if not self.enabled and self._clock() >= self._paused_until:
            self._inflight += 1
            self._sends += 1
            return
        async with self._lock():
            await self._wait_for_slot()
        self._inflight += 1
        self._sends += 1

    def snapshot(self) -> dict[str, float]:
        """For reports and logs: the rate and what the last window measured."""
        send, accepted, share = self._last
        return {
            "rate": self.rate,
            "send_rate": send,
            "accepted_rate": accepted,
            "throttled_share": share,
            "background_share": self.background_share,
            "limit_estimate": self._w_max,
            "events": float(self.events),
            "throttles": float(self.throttles),
            "paused_for": max(0.0, self._paused_until - self._clock()),
        }

    # --- sending -------------------------------------------------------------------------

    def _lock(self) -> asyncio.Lock:
        # A lock belongs to one event loop; a controller shared between runs may see two.
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate_loop is not loop:
            self._gate, self._gate_loop = asyncio.Lock(), loop
        return self._gate

    async def _wait_for_slot(self) -> None:
        while True:
            now = self._clock()
            wait = self._paused_until - now
            if wait <= 0:
                if not self.enabled:
                    return
                self._refill(now)
                self.rate = self._target(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            await self._sleep(min(wait, self.tuning.nap))

    def _refill(self, now: float) -> None:
        # At the rate in force since the last refill; the bucket holds burst_seconds.
        if math.isfinite(self.rate) and now > self._refilled:
            room = max(1.0, self.rate * self.tuning.burst_seconds)
            self._tokens = min(room, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now

    def _target(self, now: float) -> float:
        t = now - self._epoch - self._k
        curve = self._w_max * (1.0 + self.tuning.cubic * t**3)
        return self._clamp(min(curve, self._cap))

    def _clamp(self, rate: float) -> float:
        return max(self.min_rate, min(self.max_rate, rate))

    # --- measuring -----------------------------------------------------------------------

    def _answer(self, throttled: bool) -> None:
        now = self._clock()
        self._inflight = max(0, self._inflight - 1)
        self.throttles += throttled
        if self._settling and self._still_settling(now, throttled):
            return
        if self._start is None:
            self._start = now
        self._n += 1
        self._t += throttled
        if throttled and not self.enabled:
            self._enable(now)
        elif self._window_closes(now):
            self._close_window(now)

    def _still_settling(self, now: float, throttled: bool) -> bool:
        if now < self._settle_deadline and (self._skip > 0 or now < self._settle_until):
            self._skip -= 1
            self._sn += 1
            self._st += throttled
            return True
        self._settling = False
        if self._pending is not None and self._pending[1] is None:
            # A blind first cut: the answers in flight at the time tell what it cut into.
            share = self._st / self._sn if self._sn else 1.0
            ok = self._sn >= self.tuning.verify_answers and share < self.tuning.max_background
            self._pending = (self._pending[0], share, self._sn) if ok else None
        self._open_window(now)
        return False

    def _window_closes(self, now: float) -> bool:
        tn, d = self.tuning, now - (self._start or now)
        if d >= tn.window_max_seconds or (self._n >= tn.window_answers and d >= tn.window_seconds):
            return True
        # Most requests refused: no need to wait for a full window to know.
        return (
            self.enabled
            and self._n >= tn.urgent_answers
            and d >= tn.urgent_seconds
            and self._t >= tn.urgent_share * self._n
        )

    def _open_window(self, now: float) -> None:
        self._start, self._n, self._t, self._sends = now, 0, 0, 0

    def _margin(self, n: int) -> float:
        # z binomial standard deviations of the background share over n answers.
        tn, b = self.tuning, self.background_share
        return tn.share_floor + tn.z * math.sqrt(max(b, tn.share_floor) * (1.0 - b) / n)

    # --- deciding ------------------------------------------------------------------------

    def _close_window(self, now: float) -> None:
        n, t, d = self._n, self._t, max(now - (self._start or now), 1e-3)
        share = t / n
        # One success more than seen: an urgent window may hold none, and 0 is no rate.
        accepted = (n - t + 1) / d
        self._last = (max(self._sends, n) / d, (n - t) / d, share)
        self._open_window(now)
        if share < self.tuning.hint_share:
            self._hint_armed = True
        if not self.enabled:
            return
        self._cap = max(self.min_rate, self.tuning.growth_cap * self._last[0])
        if self._pending is not None and self._verify(now, share, n):
            return
        b = self.background_share
        if share > b + self._margin(n):
            estimate = accepted / (1.0 - b)
            verify = share < self.tuning.max_background
            self._cut(now, estimate, self.rate, share if verify else None, n if verify else 0)
            return
        if share < b:
            self.background_share = b - self.tuning.background_decay * (b - share)
        self.rate = self._target(now)

    def _verify(self, now: float, share: float, n: int) -> bool:
        """Test the last cut; restore the rate and learn ``b`` if it did not help."""
        before, was, was_n = self._pending or (0.0, None, 0)
        self._pending = None
        if was is None or not was_n:
            return False
        b, z = self.background_share, self.tuning.z
        noise = math.sqrt(was * (1 - was) / was_n + share * (1 - share) / n)
        if (b + was) / 2 < share < was + z * noise:
            self.background_share = max(b, (was + share) / 2)
            restored = before if math.isfinite(before) else self._cap
            self._refill(now)
            self._w_max, self._epoch, self._k = restored, now, 0.0
            self.rate = self._target(now)
            logger.debug("bulk pacing: throttles do not follow our rate; back to %s", self)
            return True
        if share <= b + self._margin(n):
            self.background_share = b + 0.25 * (share - b)  # what is left after a good cut
        return False

    def _enable(self, now: float) -> None:
        # Nothing is known yet: halve the rate measured so far, then measure (step 7).
        span = now - (self._start or now)
        measured = self._n / span if span >= 0.05 else 0.0
        if measured <= 0.0:
            measured = max(self._last[0], (self._n + self._inflight) / max(span, 0.02))
        self.enabled = True
        self._cut(now, measured, math.inf, None, 0, scale=self.tuning.first_cut)

    def _cut(
        self,
        now: float,
        estimate: float,
        before: float,
        share: float | None,
        n: int,
        *,
        scale: float | None = None,
    ) -> None:
        self._refill(now)  # the tokens earned so far were earned at the old rate
        self.events += 1
        w_max = self._clamp(estimate)
        new = min(self._clamp(w_max * (scale or self.tuning.hold)), before)
        self._w_max, self._epoch = w_max, now
        self._k = (max(0.0, 1.0 - new / w_max) / self.tuning.cubic) ** (1 / 3)
        self.rate = new
        self._pending = (before, share, n) if share is not None or scale else None
        self._settle(now, now)
        logger.debug("bulk pacing: congestion event %d: %s", self.events, self)

    def _settle(self, now: float, until: float) -> None:
        self._settling = True
        self._skip = self._inflight
        self._settle_until = until
        self._settle_deadline = until + self.tuning.settle_max
        self._sn = self._st = 0
