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
   A cut after which we did not send slower (a stalled loop let a backlog go) tests
   nothing. A share of ``most`` or more is always a limit.
6. **Probe**: ``rate = W * (1 + cubic * (u - K)**3)``, ``u`` in windows at the new rate:
   back at ``W`` after 3 windows, doubled 8 later, at most ``growth_cap`` times the send
   rate. An urgent cut's estimate is rough (few successes): from it, each clean window
   grows the rate by half, like TCP's slow start, until the next cut.

``retry_after`` (``Retry-After``, code 416's "after N seconds") is a hint about the
server: when two cuts did not help (``most`` of 10+ answers since an episode's second
cut are refusals), sending pauses ``min(retry_after, hint_cap)``, once per episode (until
a clean window); else it is only counted. Before, our own burst explains the refusals
(64 requests against the few a limit lets through at once): a pause would only lose up
to 5 % of a 20 s run. The engine delays the refused item by ``retry_after``.

The state is in named parts (:mod:`.pacing_parts`); :meth:`AdaptiveRate._target` is the
one place the rate is decided, where a share or a priority between runs would bound it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import attrs

from .pacing_parts import Curve, Episode, Measured, SendBucket, Settling, Verdicts, Window

__all__ = ["AdaptiveRate", "PacingTuning"]

logger = logging.getLogger("voxkv_async")

#: The longest nap between looks at the bucket; the longest wait for the answers in
#: flight at a cut; an urgent window's least length; answers behind a cut that can test
#: it, behind a hint pause; how fast quiet windows unlearn the background share.
_NAP, _SETTLE_MAX, _URGENT_SECONDS, _VERIFY_ANSWERS, _HINT_ANSWERS, _DECAY = (
    0.1, 1.0, 0.005, 50, 10, 0.05)


@attrs.frozen(kw_only=True)
class PacingTuning:
    """The constants of :class:`AdaptiveRate`'s control law (explained in "Pacing bulk
    runs", docs/explanation/retries.md); ``AdaptiveRate(tuning=PacingTuning(...))``.

    Attributes:
        window_answers: Answers a window needs before it may close (more over a
            learned background share).
        window_seconds: Seconds a window lasts at least.
        window_max_seconds: Seconds after which a window closes whatever it holds.
        urgent_answers: Answers after which a window of mostly refusals closes early.
        most: The refused share that makes a window urgent (and a hint a pause).
        z: Binomial standard deviations of noise tolerated above the background share.
        share_floor: The least margin above the background share, as a share.
        hold: A cut goes to this fraction of the estimated limit.
        cubic: How fast the rate probes beyond the estimate, per window cubed.
        growth_cap: The rate never exceeds this many times the measured send rate.
        hint_cap: The longest pause, seconds, for a server's ``Retry-After`` hint.
    """

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

    Args:
        min_rate: The lowest rate once pacing, requests/s.
        max_rate: The highest rate once pacing, requests/s.
        tuning: The control law's constants (default :class:`PacingTuning`).
        clock: Monotonic seconds; a virtual clock in simulations.
        sleep: The sleep of :meth:`acquire`; a virtual one in simulations.

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
        tuning: PacingTuning | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < min_rate <= max_rate:
            raise ValueError("need 0 < min_rate <= max_rate")
        self.min_rate, self.max_rate = min_rate, max_rate
        self.tuning = tuning or PacingTuning()
        self._clock, self._sleep = clock, sleep
        self.enabled, self.rate, self.throttles, self.events = False, math.inf, 0, 0
        self.background_share, self.pause_reason = 0.0, ""
        self._paused_until, self._in_flight = -math.inf, 0  # in flight: sent, not answered
        self._curve, self._bucket, self._window = Curve(), SendBucket(), Window()
        self._last, self._settling = Measured(), Settling()
        self._verdicts, self._episode = Verdicts(), Episode()

    def __repr__(self) -> str:
        now = self._clock()
        state = "pacing" if self.enabled else "dormant"
        if now < self._paused_until:
            state = f"paused {self._paused_until - now:.1f}s ({self.pause_reason})"
        return (f"<AdaptiveRate {state} rate={self.rate:.1f}/s "
                f"share={self._last.refused_share:.1%} "
                f"background={self.background_share:.1%} events={self.events} "
                f"throttles={self.throttles}>")

    # --- what the engine tells it ------------------------------------------------------

    def on_success(self) -> None:
        """A request answered, not with a throttle (an API error counts here too)."""
        self._answer(False)

    def on_error(self) -> None:
        """A request that got no answer (connection, timeout, 5xx): in flight no more."""
        self._in_flight = max(0, self._in_flight - 1)

    def on_throttle(self, retry_after: float | None = None) -> None:
        """A throttle (HTTP 429, code 340, 416), with the server's delay hint if any."""
        self._answer(True)
        if not (retry_after and retry_after > 0 and self._episode.hint_armed):
            return
        if self._episode.cutting_failed(_HINT_ANSWERS, self.tuning.most):
            self._episode.hint_armed = False  # once per episode
            seconds = min(retry_after, self.tuning.hint_cap)
            self.pause_for(seconds, f"server asked to retry after {retry_after:g} s")

    def pause_for(self, seconds: float, reason: str) -> None:
        """Hold every :meth:`acquire` until ``seconds`` from now (a pause only extends)."""
        now = self._clock()
        until = now + max(seconds, 0.0)
        if until <= self._paused_until:
            return
        # Time spent paused is no time spent probing: the curve resumes where it stopped.
        self._curve.epoch += until - max(now, self._paused_until)
        self._paused_until, self.pause_reason = until, reason
        self._bucket.empty_until(until)  # resume at the rate, not in a burst
        self._settle(until)  # answers until then were sent before the pause
        logger.info("bulk pacing: pausing %.2f s: %s", seconds, reason)

    @property
    def in_flight(self) -> int:
        """Requests let through whose end was not reported yet (settling is sized by it)."""
        return self._in_flight

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
            async with self._bucket.lock():
                await self._wait_for_slot()
        self._in_flight += 1
        self._window.sends += 1

    def snapshot(self) -> dict[str, float]:
        """For reports and logs: the rate and what the last window measured."""
        paused_for = max(0.0, self._paused_until - self._clock())
        return {"rate": self.rate, "send_rate": self._last.send_rate,
                "accepted_rate": self._last.accepted_rate,
                "throttled_share": self._last.refused_share,
                "background_share": self.background_share,
                "limit_estimate": self._curve.peak, "events": float(self.events),
                "throttles": float(self.throttles), "paused_for": paused_for}

    # --- sending -------------------------------------------------------------------------

    async def _wait_for_slot(self) -> None:
        while True:
            now = self._clock()
            wait = self._paused_until - now
            if wait <= 0:
                self._bucket.refill(now, self.rate)
                self.rate = self._target(now)
                if self.rate == math.inf or self._bucket.take():
                    return
                wait = self._bucket.wait(self.rate)
            await self._sleep(min(wait, _NAP))

    def _target(self, now: float) -> float:
        if not self.enabled:
            return math.inf
        return self._clamp(self._curve.at(now, self.tuning.cubic))

    def _clamp(self, rate: float) -> float:
        return max(self.min_rate, min(self.max_rate, rate))

    # --- measuring -----------------------------------------------------------------------

    def _answer(self, refused: bool) -> None:
        now = self._clock()
        self._in_flight = max(0, self._in_flight - 1)
        self.throttles += refused
        if self._settling.active:
            if self._settling.skips(now):
                return
            self._window.open(now)
        if refused and not self.enabled:
            # Measure from here (step 1): before, the server may have spent a saved burst.
            self.enabled = True
            self._window.open(now)
        elif self._window.start == -math.inf:
            self._window.start = now
        self._window.count(refused)
        self._episode.count(refused)
        if self._window_closes(now):
            self._close_window(now)

    def _window_size(self) -> float:
        # Answers a window needs: more over a background share, so that its noise
        # (binomial: sqrt(b / n)) stays as small as over share_floor with window_answers.
        tuning = self.tuning
        return tuning.window_answers * max(1.0, self.background_share / tuning.share_floor)

    def _window_closes(self, now: float) -> bool:
        tuning, window = self.tuning, self._window
        age = now - window.start
        if age >= tuning.window_max_seconds or (
                age >= tuning.window_seconds and window.answers >= self._window_size()):
            return True
        # Most requests refused: no need to wait for a full window to know.
        urgent = window.mostly_refused(tuning.urgent_answers, tuning.most)
        return self.enabled and urgent and age >= _URGENT_SECONDS

    def _margin(self, answers: int) -> float:
        # z binomial standard deviations of the background share over the answers.
        tuning, background = self.tuning, self.background_share
        spread = max(background, tuning.share_floor) * (1.0 - background) / answers
        return tuning.share_floor + tuning.z * math.sqrt(spread)

    # --- deciding ------------------------------------------------------------------------

    def _close_window(self, now: float) -> None:
        window = self._window
        answers, refused = window.answers, window.refused
        length = max(now - window.start, 1e-3)
        share = refused / answers
        self._last = Measured(max(window.sends, answers) / length,
                              (answers - refused) / length, share)
        window.open(now)
        if not self.enabled:
            return
        self._curve.cap = max(self.min_rate, self.tuning.growth_cap * self._last.send_rate)
        if self._verdicts.last_cut is not None and self._verify(now, share, answers):
            return
        background = self.background_share
        if share > background + self._margin(answers):
            full = length >= self.tuning.window_seconds
            self._cut(now, self._estimate(answers, refused, length), share, answers, full=full)
            return
        self._verdicts.rate_before = None
        self._episode.end()  # a clean window ends an episode
        if share < background:
            self.background_share = background - _DECAY * (background - share)
        if self._verdicts.rough:  # a rough estimate may be far too low: grow as TCP's slow start
            grown = self._clamp(min(self.rate, self._curve.cap) * 1.5)
            self._curve.restart(grown, now)
        self.rate = self._target(now)

    def _estimate(self, answers: int, refused: int, length: float) -> float:
        """The rate the server takes from us: what it accepted, net of the background."""
        background = self.background_share
        # One success more than seen: an urgent window may hold none, and 0 is no rate.
        accepted = (answers - refused + 1) / length / (1.0 - background)
        # A short window may also count a burst the server had saved up: no more than
        # the rate in force cut by our share of the refusals (DCTCP).
        ours = min(1.0, max(0.0, (refused / (answers + 1) - background) / (1.0 - background)))
        return min(accepted, self.rate * (1.0 - ours))

    def _cut(self, now: float, estimate: float, share: float, answers: int, *,
             full: bool) -> None:
        tuning, before = self.tuning, self.rate
        self._bucket.refill(now, self.rate)  # the tokens so far were earned at the old rate
        self.events += 1
        self._episode.cut(now)
        peak = self._clamp(estimate)
        new = min(self._clamp(peak * tuning.hold), before)
        # The curve counts windows at the new rate: probing is as fast as feedback comes.
        self._curve.window_length = min(max(self._window_size() / new, tuning.window_seconds),
                                        tuning.window_max_seconds)
        self._curve.restart(peak, now, (max(0.0, 1.0 - new / peak) / tuning.cubic) ** (1 / 3))
        self.rate = new
        verdicts = self._verdicts
        verdicts.rough = not full
        # Only a full window, of a share background could explain, can test a cut.
        testable = full and answers >= _VERIFY_ANSWERS and share < tuning.most
        verdicts.last_cut = (share, answers, self._last.send_rate) if testable else None
        # Background may explain this cut: remember where the run of such cuts began.
        verdicts.rate_before = (verdicts.rate_before or before) if testable else None
        self._settle(now)
        logger.debug("bulk pacing: congestion event %d: %s", self.events, self)

    def _verify(self, now: float, share: float, answers: int) -> bool:
        """Test the last cut; after two in a row that did not help, restore and learn ``b``."""
        verdicts, background = self._verdicts, self.background_share
        was, was_answers, was_sending = verdicts.last_cut or (0.0, 1, 0.0)
        verdicts.last_cut = None
        if self._last.send_rate > was_sending * (1.0 - (1.0 - self.tuning.hold) / 2):
            # We did not send slower (a stalled loop, a burst of waiters): the cut is
            # untested, and a share that stayed says nothing of where it comes from.
            return False
        noise = math.sqrt(was * (1 - was) / was_answers + share * (1 - share) / answers)
        if not (background + was) / 2 < share < was + 2 * noise:  # it fell: it was ours
            verdicts.unmoved, verdicts.rate_before = 0, None
            if share <= background + self._margin(answers):
                self.background_share = background + 0.25 * (share - background)
            return False
        verdicts.unmoved += 1
        if verdicts.unmoved == 1:
            # A cut still above a limit (say, a full bucket inflated the estimate) leaves
            # the share as high too: cut again before concluding anything.
            verdicts.unmoved_share = share
            return False
        verdicts.unmoved = 0
        learned = max(background, (verdicts.unmoved_share + share) / 2)
        self.background_share = min(learned, self.tuning.most)
        self._bucket.refill(now, self.rate)
        restored, verdicts.rate_before = verdicts.rate_before or math.inf, None
        self._curve.restart(restored, now)
        verdicts.rough = False
        self.rate = self._target(now)
        logger.debug("bulk pacing: throttles do not follow our rate; back to %s", self)
        return True

    def _settle(self, until: float) -> None:
        self._settling.begin(self._in_flight, until, _SETTLE_MAX)
