"""The pacer in simulation: ``python -m benchmarks.pacing_sim``.

Runs issue 10's pacing scenarios on the deterministic simulator of
``tests/bulk/_sim.py`` (virtual time: a minute of traffic takes about a second) and
prints, for each, goodput / limit (or the time against the unpaced run where there is no
limit) and the throttled share of requests for three controllers: the new
:class:`~voxkv_async._bulk.pacing.AdaptiveRate`, the baseline (the botocore-style
controller it replaces, copied below as :class:`BotocoreStyleRate`), and no pacing.

Scenarios (64 senders): a limit of 300 requests/s answered as code 340 (6,000 items,
5 ms latency); the same answered HTTP 429 + ``Retry-After: 1``; a random 7.5 % of
answers throttled whatever the rate (5,000 items, 200 ms latency, so ~320 requests/s
unpaced); a random 10 % for 60 s; a limit rising 300 -> 600 at 20 s and falling to 150
at 40 s (60 s, goodput per phase).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

# Run from the repository root (python -m benchmarks.pacing_sim): tests/ is importable.
from tests.bulk._sim import Pacer, Run, Server, VirtualClock, simulate
from voxkv_async._bulk.pacing import AdaptiveRate, PacingTuning

# --- the baseline: the controller of voxkv_async before issue 10, unchanged --------------
# (voxkv_async/_bulk.py at 68c7f50, class AdaptiveRate; only its name differs here.)


class BotocoreStyleRate:
    """BASELINE, for comparison only: the botocore-style controller issue 10 replaced.

    A send rate that drops on throttling and grows back when it stops.

    Dormant (no pacing) until the first throttle. Then, like botocore's adaptive mode:
    a throttle sets ``rate = beta * min(measured send rate, rate)``; each success sets
    ``rate = scale * (t - K)**3 + W`` (CUBIC), where ``W`` is the rate at the last
    throttle, ``t`` the seconds since, and ``K`` when the curve gets back to ``W``;
    capped at twice the measured rate and floored at ``min_rate``. Share one between
    runs (``adaptive=`` argument) to carry what it learned over.

    Unlike botocore, and like TCP, throttles arriving within ``cooldown`` seconds of a
    decrease count as the same congestion event: the answers to requests already in
    flight at the old rate come back throttled together, and cutting the rate once per
    answer would drive it to the floor in one burst (0.7**64 at 64 in flight).

    Attributes:
        enabled: Whether a throttle has been seen (pacing is on).
        rate: The allowed send rate, requests/s (``inf`` while dormant).
        measured_rate: The smoothed rate of answers, requests/s.
        last_max_rate: ``W``: the rate in force at the last throttle.
        throttles: Throttle signals received.
    """

    def __init__(
        self,
        *,
        min_rate: float = 0.5,
        beta: float = 0.7,
        scale: float = 0.4,
        smoothing: float = 0.8,
        bucket: float = 0.5,
        cooldown: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_rate <= 0 or not 0 < beta < 1:
            raise ValueError("need min_rate > 0 and 0 < beta < 1")
        self.min_rate = min_rate
        self._beta = beta
        self._scale = scale
        self._smoothing = smoothing
        self._bucket = bucket
        self._cooldown = cooldown
        self._clock = clock
        self.enabled = False
        self.rate = math.inf
        self.measured_rate = 0.0
        self.last_max_rate = 0.0
        self.throttles = 0
        self._k = 0.0
        self._last_throttle = 0.0
        self._tokens = 0.0
        self._refilled = clock()
        self._first_seen: float | None = None
        self._last_bucket = 0.0
        self._count = 0
        self._answers = 0

    def __repr__(self) -> str:
        return (f"<BotocoreStyleRate enabled={self.enabled} rate={self.rate:.1f}/s "
                f"measured={self.measured_rate:.1f}/s throttles={self.throttles}>")

    def on_success(self) -> None:
        """An answer that was not a throttle."""
        now = self._measure()
        if not self.enabled:
            return
        cubic = self._scale * (now - self._last_throttle - self._k) ** 3 + self.last_max_rate
        self.rate = max(self.min_rate, min(cubic, 2 * max(self.measured_rate, self.min_rate)))

    def on_throttle(self) -> None:
        """A throttling answer (HTTP 429, code 340, 416)."""
        now = self._measure()
        self.throttles += 1
        if self.enabled and now - self._last_throttle < self._cooldown:
            return  # the same congestion event as the last decrease
        base = min(self.measured_rate, self.rate) if self.enabled else self.measured_rate
        base = max(base, self.min_rate)
        self.last_max_rate = base
        self._k = (base * (1 - self._beta) / self._scale) ** (1 / 3)
        self._last_throttle = now
        self.rate = max(self.min_rate, base * self._beta)
        self.enabled = True

    async def acquire(self) -> None:
        """Wait for a send token; tokens accrue at :attr:`rate`, one second's worth at most.

        Waiters re-check the bucket after each sleep rather than booking a future slot,
        so a rate that grows back takes effect at once for everyone already waiting.
        """
        while self.enabled:
            now = self._clock()
            self._tokens = min(max(self.rate, 1.0),
                               self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.rate)

    def _measure(self) -> float:
        """Count one answer into the smoothed rate (botocore's RateClocker); the time."""
        now = self._clock()
        if self._first_seen is None:
            self._first_seen = now
            self._last_bucket = math.floor(now / self._bucket) * self._bucket
        self._count += 1
        self._answers += 1
        bucket = math.floor(now / self._bucket) * self._bucket
        if bucket > self._last_bucket:
            # The first bucket is measured from the first answer, not from its start:
            # one answer late in a half-second bucket is not a rate of 2/s.
            span = max(bucket - max(self._last_bucket, self._first_seen), 0.05)
            current = self._count / span
            if self.measured_rate == 0.0:
                self.measured_rate = current
            else:
                s = self._smoothing
                self.measured_rate = current * s + self.measured_rate * (1 - s)
            self._count = 0
            self._last_bucket = bucket
        elif self.measured_rate == 0.0 and now > self._first_seen:
            # No full bucket yet: a throttle in the first half second must not collapse
            # the rate to the floor, so estimate from what has been seen.
            self.measured_rate = self._answers / (now - self._first_seen)
        return now


# --- scenarios --------------------------------------------------------------------------

Maker = Callable[[VirtualClock], Pacer | None]
Figures = dict[str, Any]

CONTROLLERS: dict[str, Callable[..., Maker]] = {
    "new": lambda **tuning: lambda clock: AdaptiveRate(clock=clock, tuning=PacingTuning(**tuning)),
    "baseline": lambda **tuning: lambda clock: BotocoreStyleRate(clock=clock),
    "off": lambda **tuning: lambda clock: None,
}


def limit_run(make: Maker, retry_after: float | None = None) -> Figures:
    """6,000 items against a limit of 300/s (5 ms latency); 429s carry ``retry_after``."""
    run = simulate(make, Server(limit=300, retry_after=retry_after), items=6_000)
    return {
        "goodput/limit": 6_000 / run.finished_at / 300,
        "throttled": run.throttled_share(),
        "requests": run.requests,
        "time s": run.finished_at,
    }


def random_run(make: Maker, share: float, items: int | None = None,
               duration: float | None = None) -> tuple[Figures, Run]:
    """A random ``share`` throttled whatever the rate; 200 ms latency (~320/s unpaced)."""
    run = simulate(make, Server(share=share), latency=0.2, items=items, duration=duration)
    figures: Figures = {"throttled": run.throttled_share(), "requests": run.requests}
    if items is not None:
        figures["time s"] = run.finished_at
    else:
        figures["send rate"] = run.send_rate(0, duration or 0.0)
    return figures, run


def changing_limit_run(make: Maker) -> Figures:
    """A limit of 300/s, 600/s from 20 s, 150/s from 40 s; goodput per phase."""
    server = Server(limit=300, changes={20.0: 600.0, 40.0: 150.0})
    run = simulate(make, server, duration=60)
    return {
        "goodput/limit 300": run.goodput(0, 20) / 300,
        "goodput/limit 600": run.goodput(20, 40) / 600,
        "goodput/limit 150": run.goodput(40, 60) / 150,
        "throttled": run.throttled_share(),
        "requests": run.requests,
    }


def _random_rows(label: str, share: float, items: int | None, duration: float | None,
                 makers: dict[str, Maker]) -> Iterator[tuple[str, str, Figures]]:
    unpaced = random_run(CONTROLLERS["off"](), share, items, duration)[1]
    for name, make in makers.items():
        figures = random_run(make, share, items, duration)[0]
        if items is not None:
            figures["time/unpaced"] = figures["time s"] / unpaced.finished_at
        else:
            figures["rate/unpaced"] = figures["send rate"] / unpaced.send_rate(0, duration or 0)
        yield label, name, figures


SCENARIOS: dict[str, Callable[[dict[str, Maker]], Iterator[tuple[str, str, Figures]]]] = {
    "limit": lambda makers: (
        ("limit 300/s, code 340, 6,000 items", name, limit_run(make))
        for name, make in makers.items()
    ),
    "limit429": lambda makers: (
        ("limit 300/s, 429 + Retry-After 1", name, limit_run(make, retry_after=1.0))
        for name, make in makers.items()
    ),
    "random7.5": lambda makers: _random_rows("random 7.5%, 5,000 items", 0.075, 5_000, None,
                                             makers),
    "random10": lambda makers: _random_rows("random 10%, 60 s", 0.10, None, 60.0, makers),
    "changing": lambda makers: (
        ("limit 300 -> 600 (20 s) -> 150 (40 s)", name, changing_limit_run(make))
        for name, make in makers.items()
    ),
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else "inf"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"scenarios to run, of {', '.join(SCENARIOS)}")
    parser.add_argument("--controllers", default=",".join(CONTROLLERS),
                        help=f"controllers to run, of {', '.join(CONTROLLERS)}")
    parser.add_argument("--tune", action="append", default=[], metavar="NAME=VALUE",
                        help="a PacingTuning field for the new controller (repeatable)")
    args = parser.parse_args(argv)
    tuning = {k: float(v) for k, v in (t.split("=", 1) for t in args.tune)}
    makers = {name: CONTROLLERS[name](**tuning) for name in args.controllers.split(",")}
    started = time.perf_counter()
    print("| scenario | controller | figures |")
    print("|---|---|---|")
    for key in args.only.split(","):
        for scenario, controller, figures in SCENARIOS[key](makers):
            text = ", ".join(f"{k} {_cell(v)}" for k, v in figures.items())
            print(f"| {scenario} | {controller} | {text} |", flush=True)
    print(f"\n({time.perf_counter() - started:.1f} s of real time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
