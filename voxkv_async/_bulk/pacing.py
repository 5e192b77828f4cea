"""How fast a bulk run sends: :class:`AdaptiveRate`, right for both kinds of throttling.

**A limit** (the server takes R requests/s of ours) refuses ``1 - R/rate``: the share
answers to our rate, and slowing to R removes it. **A background share** (another app on
the account, a shared gateway) refuses ``b`` whatever we do: slowing only loses
throughput. The right answers are opposite, so the controller tells them apart.

Drawn from: botocore's adaptive mode (``retries/adaptive.py``, ``throttling.py``,
``bucket.py``: dormant until the first throttle, a token bucket re-checked after each
sleep, CUBIC after a cut, a cap at twice the measured rate; but its fixed ``beta = 0.7``
cut per throttle takes a 7.5 % background share to the floor); the Google SRE book's
client-side throttling (requests vs *accepts*: what the server accepts is its capacity);
DCTCP (Alizadeh et al., 2010: cut in proportion to the marked share, once per window);
CUBIC (RFC 9438) and BBR (Cardwell et al., 2016: hold below the last maximum, then probe
beyond it, slowly first and faster later; size the bottleneck by the delivery rate);
Firestore BulkWriter's 500/50/5 ramp (growth in proportion to the rate, not in steps).

The control law (numbers are :class:`PacingTuning` fields):

1. **Windows** close on enough answers AND time (100, more over a background share;
   0.25 s), after 2 s, or early ("urgent") once ``most`` of 64+ answers in 5 ms were
   refusals; each gives the throttled share ``p``, the accepted and send rates. The
   first throttle opens one: no cut comes before it closes.
2. **Congestion** is ``p > b + margin``: ``z`` binomial standard deviations of ``b`` over
   the window plus a floor, so noise is no event. One cut per window, at most.
3. **A cut** goes to the accepted rate net of the background, ``a / (1 - b)`` (exact for a
   token bucket; never above the rate cut by our share of refusals, as DCTCP), times
   ``hold``. That estimate is the curve's new maximum ``W``.
4. **Settle**: the answers to requests in flight at a cut (sends minus answers) are
   skipped: throttles arriving together are ONE event.
5. **Verify**: after a cut, a limit predicts ``p`` falls to ``b``, a background share that
   it stays. Two cuts in a row that left it (above the midpoint, within noise) restore
   the rate of before them and teach ``b`` (after one, the cut may just have stayed above
   the limit); a good cut lets ``b`` follow the share it left; quiet windows decay it.
   A share of ``most`` or more is always a limit.
6. **Probe**: ``rate = W * (1 + cubic * (u - K)**3)``, ``u`` in windows at the new rate:
   back at ``W`` after 3 windows, doubled 8 later, at most ``growth_cap`` times the send
   rate. An urgent cut's estimate is rough (few successes): from it, each clean window
   grows the rate by half, like TCP's slow start, until the next cut.

``retry_after`` (``Retry-After``, code 416's "after N seconds") is a hint about the
server, not one call: when ``most`` of 10+ recent answers are refusals, sending pauses
for ``min(retry_after, hint_cap)``, once per episode (until a window without congestion);
otherwise it is only counted. The engine delays the refused item by ``retry_after``.
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

#: Seconds of sending the pacer's own bucket may save up; the longest nap between looks
#: at it; the longest wait for the answers in flight at a cut; an urgent window's least
#: length; answers behind a cut that can test it; answers behind a hint pause.
_BURST_SECONDS, _NAP, _SETTLE_MAX, _URGENT_SECONDS = 0.05, 0.1, 1.0, 0.005
_VERIFY_ANSWERS, _HINT_ANSWERS, _DECAY = 50, 10, 0.05


@attrs.frozen(kw_only=True)
class PacingTuning:
    """The controller's constants (see the module docstring); pass them by name to
    :class:`AdaptiveRate`. ``cubic`` is per window cubed."""

    window_answers: int = 100
    window_seconds: float = 0.25
    window_max_seconds: float = 2.0
    urgent_answers: int = 64
    most: float = 0.5
    z: float = 3.0
    share_floor: float = 0.005
    hold: float = 0.95
    cubic: float = 0.002
    growth_cap: float = 2.0
    hint_cap: float = 5.0

    def __attrs_post_init__(self) -> None:
        low, high = min(attrs.astuple(self)), max(self.most, self.share_floor, self.hold)
        if low <= 0 or high >= 1 or self.growth_cap <= 1:
            raise ValueError(f"need values > 0, most/share_floor/hold < 1, growth_cap > 1: {self}")


class AdaptiveRate:
    """The send rate of bulk runs: follows a server's limit, ignores background throttles.

    Dormant (``rate`` is ``inf``, :meth:`acquire` returns at once) until the first
    throttle; see the module docstring for the control law. Share one between runs
    (``adaptive=``) to carry over what it learned. Call :meth:`acquire` once per request
    and report each request's end once: :meth:`on_success`, :meth:`on_throttle`, or
    :meth:`on_error` (it counts the requests in flight from these).

    Attributes:
        enabled: Whether a throttle has been seen (measuring; pacing from the first cut).
        rate: The allowed send rate, requests/s (``inf`` until the first cut).
        throttles, events: Throttle answers seen; congestion events (cuts) made.
        background_share: The learned share of throttles that does not answer to rate.
        min_rate, max_rate: Bounds of ``rate`` once pacing (``rate_limit`` is the
            engine's fixed cap); tuning: the :class:`PacingTuning`.
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
        self.enabled, self.rate, self.throttles, self.events = False, math.inf, 0, 0
        self.background_share, self.pause_reason = 0.0, ""
        self._paused_until, self._hint_armed = -math.inf, True
        # The curve: rate = w_max * (1 + cubic * ((now - epoch) / unit - k)**3), <= cap.
        self._w_max, self._epoch, self._unit, self._k, self._cap = math.inf, 0.0, 1.0, 0.0, math.inf
        self._tokens, self._refilled = 0.0, -math.inf
        self._gate: asyncio.Lock | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None
        # Requests sent and not answered; the open window: start, answers, throttles, sends.
        self._inflight, self._start, self._n, self._t, self._sends = 0, -math.inf, 0, 0, 0
        self._last = (0.0, 0.0, 0.0)  # send rate, accepted rate, share of the last window
        # Settling after a cut or a pause: answers to skip, until when; what they were.
        self._settling, self._skip, self._settle_until, self._settle_deadline = False, 0, 0.0, 0.0
        self._sn = self._st = 0
        # The last cut, to verify: the share (of n answers) behind it.
        self._pending: tuple[float, int] | None = None
        # Cuts in a row that left the share where it was, and the share the first left.
        self._strikes, self._unmoved_share = 0, 0.0
        self._chain: float | None = None  # the rate before the first cut since a clean window
        self._episode_cuts = 0
        self._rough = False  # the last cut came from an urgent window: its estimate is rough

    def __repr__(self) -> str:
        now = self._clock()
        state = "pacing" if self.enabled else "dormant"
        if now < self._paused_until:
            state = f"paused {self._paused_until - now:.1f}s ({self.pause_reason})"
        return (f"<AdaptiveRate {state} rate={self.rate:.1f}/s share={self._last[2]:.1%} "
                f"background={self.background_share:.1%} events={self.events} "
                f"throttles={self.throttles}>")

    # --- what the engine tells it ------------------------------------------------------

    def on_success(self) -> None:
        """A request answered, not with a throttle (an API error counts here too)."""
        self._answer(False)

    def on_error(self) -> None:
        """A request that got no answer (connection, timeout, 5xx): in flight no more."""
        self._inflight = max(0, self._inflight - 1)

    def on_throttle(self, retry_after: float | None = None) -> None:
        """A throttle (HTTP 429, code 340, 416), with the server's delay hint if any."""
        self._answer(True)
        if retry_after and retry_after > 0 and self._hint_armed and self._unhelped():
            if self._n >= _HINT_ANSWERS and self._t >= self.tuning.most * self._n:
                self._hint_armed = False  # once per episode of mass refusal
                seconds = min(retry_after, self.tuning.hint_cap)
                self.pause_for(seconds, f"server asked to retry after {retry_after:g} s")

    def _unhelped(self) -> bool:
        # Mass refusal after two cuts in one episode: cutting did not help, the server
        # itself asks for quiet. Before that, our own burst explains it (a dormant run's
        # 64 requests against the few a limit lets through at once): a pause would only
        # lose a second of sending, and the answers to requests sent before the cut
        # (settling) say nothing of the rate after it.
        return self._episode_cuts >= 2 and not self._settling

    def pause_for(self, seconds: float, reason: str) -> None:
        """Hold every :meth:`acquire` until ``seconds`` from now (a pause only extends)."""
        now = self._clock()
        until = now + max(seconds, 0.0)
        if until <= self._paused_until:
            return
        # Time spent paused is no time spent probing: the curve resumes where it stopped.
        self._epoch += until - max(now, self._paused_until)
        self._paused_until, self.pause_reason = until, reason
        self._tokens, self._refilled = 0.0, until  # resume at the rate, not in a burst
        self._settle(until)  # answers until then were sent before the pause
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
        if self.rate != math.inf or self._clock() < self._paused_until:
            async with self._lock():
                await self._wait_for_slot()
        self._inflight += 1
        self._sends += 1

    def snapshot(self) -> dict[str, float]:
        """For reports and logs: the rate and what the last window measured."""
        send, accepted, share = self._last
        paused_for = max(0.0, self._paused_until - self._clock())
        return {"rate": self.rate, "send_rate": send, "accepted_rate": accepted,
                "throttled_share": share, "background_share": self.background_share,
                "limit_estimate": self._w_max, "events": float(self.events),
                "throttles": float(self.throttles), "paused_for": paused_for}

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
                self._refill(now)
                self.rate = self._target(now)
                if self.rate == math.inf:
                    return
                if self._tokens >= 1.0 - 1e-9:  # float dust must not make a 0 s nap
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                wait = (1.0 - self._tokens) / self.rate
            await self._sleep(min(wait, _NAP))

    def _refill(self, now: float) -> None:
        # At the rate in force since the last refill; nothing during a pause (_refilled
        # is then its end).
        if now > self._refilled and self.rate != math.inf:
            room = max(1.0, self.rate * _BURST_SECONDS)
            self._tokens = min(room, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = max(now, self._refilled)

    def _target(self, now: float) -> float:
        if not self.enabled:
            return math.inf
        u = (now - self._epoch) / self._unit - self._k
        curve = self._w_max * (1.0 + self.tuning.cubic * u**3)
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
        if throttled and not self.enabled:
            # Measure from here (step 1): before, the server may have spent a saved burst.
            self.enabled = True
            self._open_window(now)
        elif self._start == -math.inf:
            self._start = now
        self._n += 1
        self._t += throttled
        if self._window_closes(now):
            self._close_window(now)

    def _still_settling(self, now: float, throttled: bool) -> bool:
        if now < self._settle_deadline and (self._skip > 0 or now < self._settle_until):
            self._skip, self._sn, self._st = self._skip - 1, self._sn + 1, self._st + throttled
            return True
        self._settling = False
        self._open_window(now)
        return False

    def _window_size(self) -> float:
        # Answers a window needs: more over a background share, so that its noise
        # (binomial: sqrt(b / n)) stays as small as over share_floor with window_answers.
        tn = self.tuning
        return tn.window_answers * max(1.0, self.background_share / tn.share_floor)

    def _window_closes(self, now: float) -> bool:
        tn, d, n = self.tuning, now - self._start, self._n
        if d >= tn.window_max_seconds or (d >= tn.window_seconds and n >= self._window_size()):
            return True
        # Most requests refused: no need to wait for a full window to know.
        urgent = self._n >= tn.urgent_answers and self._t >= tn.most * self._n
        return self.enabled and urgent and d >= _URGENT_SECONDS

    def _open_window(self, now: float) -> None:
        self._start, self._n, self._t, self._sends = now, 0, 0, 0

    def _margin(self, n: int) -> float:
        # z binomial standard deviations of the background share over n answers.
        tn, b = self.tuning, self.background_share
        return tn.share_floor + tn.z * math.sqrt(max(b, tn.share_floor) * (1.0 - b) / n)

    # --- deciding ------------------------------------------------------------------------

    def _close_window(self, now: float) -> None:
        n, t, d = self._n, self._t, max(now - self._start, 1e-3)
        share = t / n
        self._last = (max(self._sends, n) / d, (n - t) / d, share)
        self._open_window(now)
        if not self.enabled:
            return
        self._cap = max(self.min_rate, self.tuning.growth_cap * self._last[0])
        if self._pending is not None and self._verify(now, share, n):
            return
        b = self.background_share
        if share > b + self._margin(n):
            self._cut(now, self._estimate(n, t, d), share, n, full=d >= self.tuning.window_seconds)
            return
        self._chain, self._hint_armed = None, True  # a clean window ends an episode
        self._episode_cuts = 0
        if share < b:
            self.background_share = b - _DECAY * (b - share)
        if self._rough:  # a rough estimate may be far too low: grow as TCP's slow start
            grown = self._clamp(min(self.rate, self._cap) * 1.5)
            self._w_max, self._epoch, self._k = grown, now, 0.0
        self.rate = self._target(now)

    def _estimate(self, n: int, t: int, d: float) -> float:
        """The rate the server takes from us: what it accepted, net of the background."""
        b = self.background_share
        # One success more than seen: an urgent window may hold none, and 0 is no rate.
        accepted = (n - t + 1) / d / (1.0 - b)
        # A short window may also count a burst the server had saved up: no more than
        # the rate in force cut by our share of the refusals (DCTCP).
        ours = min(1.0, max(0.0, (t / (n + 1) - b) / (1.0 - b)))
        return min(accepted, self.rate * (1.0 - ours))

    def _cut(self, now: float, estimate: float, share: float, n: int, *, full: bool) -> None:
        tn, before = self.tuning, self.rate
        self._refill(now)  # the tokens earned so far were earned at the old rate
        self.events += 1
        self._episode_cuts += 1
        w_max = self._clamp(estimate)
        new = min(self._clamp(w_max * tn.hold), before)
        # The curve counts windows at the new rate: probing is as fast as feedback comes.
        unit = min(max(self._window_size() / new, tn.window_seconds), tn.window_max_seconds)
        self._w_max, self._epoch, self._unit, self._rough = w_max, now, unit, not full
        self._k = (max(0.0, 1.0 - new / w_max) / tn.cubic) ** (1 / 3)
        self.rate = new
        # Only a full window, of a share background could explain, can test a cut.
        testable = full and n >= _VERIFY_ANSWERS and share < tn.most
        self._pending = (share, n) if testable else None
        # Background may explain this cut: remember where the run of such cuts began.
        self._chain = (self._chain or before) if testable else None
        self._settle(now)
        logger.debug("bulk pacing: congestion event %d: %s", self.events, self)

    def _verify(self, now: float, share: float, n: int) -> bool:
        """Test the last cut; after two in a row that did not help, restore and learn ``b``."""
        was, was_n = self._pending or (0.0, 1)
        self._pending = None
        b = self.background_share
        noise = math.sqrt(was * (1 - was) / was_n + share * (1 - share) / n)
        if not (b + was) / 2 < share < was + 2 * noise:  # the share fell: it was ours
            self._strikes, self._chain = 0, None
            if share <= b + self._margin(n):
                self.background_share = b + 0.25 * (share - b)  # what a good cut left
            return False
        self._strikes += 1
        if self._strikes == 1:
            # A cut still above a limit (say, a full bucket inflated the estimate) leaves
            # the share as high too: cut again before concluding anything.
            self._unmoved_share = share
            return False
        self._strikes = 0
        learned = max(b, (self._unmoved_share + share) / 2)
        self.background_share = min(learned, self.tuning.most)
        self._refill(now)
        restored, self._chain = self._chain or math.inf, None
        self._w_max, self._epoch, self._k, self._rough = restored, now, 0.0, False
        self.rate = self._target(now)
        logger.debug("bulk pacing: throttles do not follow our rate; back to %s", self)
        return True

    def _settle(self, until: float) -> None:
        self._settling, self._skip, self._sn, self._st = True, self._inflight, 0, 0
        self._settle_until, self._settle_deadline = until, until + _SETTLE_MAX
