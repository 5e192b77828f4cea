"""The pacer (AdaptiveRate) on a virtual clock: the simulator of _sim.py, and unit checks.

Each simulated run is deterministic and costs well under a second of real time.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from voxkv_async import AdaptiveRate, PacingTuning

from ._sim import Run, Server, VirtualClock, run_virtual, simulate


def new_pacer(clock: VirtualClock) -> AdaptiveRate:
    return AdaptiveRate(clock=clock)


def refuse(pacer: AdaptiveRate, clock: VirtualClock, count: int = 70, gap: float = 0.001) -> None:
    """``count`` throttles, ``gap`` seconds apart: enough for an urgent window's cut."""
    for _ in range(count):
        clock.now += gap
        pacer.on_throttle()


def first_time(run: Run, start: float, end: float, ok: float, step: float = 1.0) -> float:
    """The start of the first ``step``-long stretch after ``start`` whose send rate is
    at least ``ok``; ``inf`` if none before ``end``."""
    t = start
    while t + step <= end:
        if run.send_rate(t, t + step) >= ok:
            return t
        t += step
    return math.inf


# --- a limit that answers to our rate -------------------------------------------------


def test_a_limit_is_found_and_followed_closely() -> None:
    run = simulate(new_pacer, Server(limit=300), duration=30)
    assert first_time(run, 0, 30, ok=270) <= 2  # converged within a couple of seconds
    assert run.send_rate(3, 30) == pytest.approx(300, rel=0.10)
    assert run.throttled_share(3, 30) <= 0.05
    assert run.goodput(3, 30) >= 0.9 * 300
    assert run.throttled_share() <= 0.05  # the first contact included


def test_a_raised_limit_is_found_again_and_a_lowered_one_followed() -> None:
    server = Server(limit=300, changes={20.0: 600.0, 40.0: 150.0})
    run = simulate(new_pacer, server, duration=60)
    assert run.goodput(5, 20) >= 0.9 * 300
    # 2R: found within a bounded time (CUBIC's convex probe), then held.
    assert first_time(run, 20, 40, ok=0.9 * 600) <= 26
    assert run.goodput(30, 40) >= 0.9 * 600
    assert run.throttled_share(30, 40) <= 0.05
    # R/2: followed at once.
    assert run.send_rate(42, 60) == pytest.approx(150, rel=0.10)
    assert run.goodput(42, 60) >= 0.9 * 150
    assert run.throttled_share(42, 60) <= 0.05


def test_limit_answered_with_retry_after() -> None:
    # 429 + Retry-After: 1, the item waiting out its second as the engine does: as good
    # as the same limit without the hint (issue 18, item 3; it was 0.92 R, 5.7 %).
    run = simulate(new_pacer, Server(limit=300, retry_after=1.0), items=6_000)
    assert 6_000 / run.finished_at >= 0.95 * 300
    assert run.throttled_share() <= 0.042


# --- throttles that do not answer to our rate -----------------------------------------


@pytest.mark.parametrize("share", [0.075, 0.10])
def test_a_random_share_does_not_collapse_the_rate(share: float) -> None:
    pacers: list[AdaptiveRate] = []

    def make(clock: VirtualClock) -> AdaptiveRate:
        pacers.append(AdaptiveRate(clock=clock))
        return pacers[-1]

    # 64 senders at 200 ms: ~320 requests/s unpaced.
    unpaced = simulate(lambda clock: None, Server(share=share), latency=0.2, duration=60)
    paced = simulate(make, Server(share=share), latency=0.2, duration=60)
    ratio = paced.send_rate(0, 60) / unpaced.send_rate(0, 60)
    assert ratio >= 0.5  # within 2x of the unpaced rate (in fact close to it)
    assert paced.send_rate(30, 60) >= 0.8 * unpaced.send_rate(30, 60)
    assert paced.throttled_share() == pytest.approx(share, abs=0.02)
    assert pacers[0].background_share == pytest.approx(share, rel=0.6)


def test_refusals_that_stay_while_we_did_not_slow_down_are_no_background() -> None:
    # The answers keep coming at 400/s, 10 % refused, whatever the pacer allows (a
    # stalled event loop releasing a backlog, say): its cuts are untested, so the share
    # that stays must not be learned as background (it then ignored a real limit: 10 %
    # throttled in one pressure run in ten on a loaded machine).
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        for i in range(1600):  # 4 s
            clock.now += 0.0025
            if i % 10 == 0:
                pacer.on_throttle()
            else:
                pacer.on_success()
        assert pacer.events >= 3
        assert pacer.background_share < 0.02

    run_virtual(main)


def test_a_limit_under_a_background_share() -> None:
    # Both at once: 5 % refused whatever the rate, and a limit of 300/s behind it.
    run = simulate(new_pacer, Server(limit=300, share=0.05), duration=30)
    assert run.goodput(5, 30) >= 0.9 * 300
    assert run.throttled_share(5, 30) <= 0.05 + 0.05  # the background, and little more


# --- events, hints, pauses, dormancy (unit checks on a virtual clock) -----------------


def test_dormant_until_the_first_throttle() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        assert (pacer.enabled, pacer.rate, pacer.events) == (False, math.inf, 0)
        assert "dormant" in repr(pacer)
        for _ in range(1_000):
            await pacer.acquire()
            clock.now += 0.0001
            pacer.on_success()
        assert clock.now == pytest.approx(0.1)  # acquire never waited
        assert (pacer.enabled, pacer.rate, pacer.events) == (False, math.inf, 0)
        pacer.on_throttle()
        assert pacer.enabled
        assert pacer.throttles == 1

    run_virtual(main)


def test_a_thousand_throttles_at_once_are_one_event() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        for _ in range(1_000):  # 1,000 requests in flight, sent unpaced
            await pacer.acquire()
        for _ in range(1_000):  # all refused, answered over 50 ms
            clock.now += 0.00005
            pacer.on_throttle()
        assert pacer.throttles == 1_000
        assert pacer.events == 1
        cut_to = pacer.rate
        assert cut_to < 1_000 / 0.05
        # What follows is measured at the new rate: no second cut for the old burst.
        for _ in range(200):
            await pacer.acquire()
            clock.now += 1 / cut_to
            pacer.on_success()
        assert pacer.events == 1
        assert pacer.rate >= cut_to

    run_virtual(main)


def test_refusals_of_requests_in_flight_make_one_cut_while_pacing() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        refuse(pacer, clock)  # most refused: an urgent window closes, one cut
        assert pacer.events == 1
        for _ in range(300):  # 300 requests sent at the paced rate, still in flight
            await pacer.acquire()
        rate = pacer.rate
        for _ in range(300):  # all refused, answered over 30 ms
            clock.now += 0.0001
            pacer.on_throttle()
        assert pacer.events == 2  # one cut for the lot
        assert pacer.rate < rate

    run_virtual(main)


def test_retry_after_pauses_once_when_cuts_do_not_help() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        paused_at = None
        for _ in range(2000):  # every answer says "retry after 1 s": the server wants quiet
            await pacer.acquire()
            clock.now += 0.001
            pacer.on_throttle(retry_after=1.0)
            if pacer.paused_until > clock.now:
                paused_at = clock.now
                break
        assert paused_at is not None
        assert pacer.events >= 2  # cuts first; the pause when they did not help
        assert pacer.paused_until == pytest.approx(paused_at + 1.0, abs=0.01)
        assert "paused" in repr(pacer)
        await pacer.acquire()
        assert clock.now >= paused_at + 1.0  # ~1 s, once
        for _ in range(200):  # more of the same episode: no second pause
            await pacer.acquire()
            clock.now += 0.001
            pacer.on_throttle(retry_after=1.0)
        assert pacer.paused_until < clock.now

    run_virtual(main)


def test_a_first_burst_refused_with_retry_after_does_not_pause() -> None:
    # A dormant run's 64 requests against a limit that lets a few through at once: most
    # are refused, each with "retry after 1 s". The cut answers it; a pause would only
    # lose a second (issue 18, item 3: 5 % of a 20 s run).
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        for _ in range(64):
            await pacer.acquire()
        for i in range(64):
            clock.now += 0.0001
            if i < 20:
                pacer.on_success()
            else:
                pacer.on_throttle(retry_after=1.0)
        assert pacer.paused_until < clock.now  # it paused here at once before

    run_virtual(main)


def test_retry_after_is_only_counted_when_few_are_refused() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        for i in range(500):
            clock.now += 0.002
            if i % 20 == 0:
                pacer.on_throttle(retry_after=3.0)
            else:
                pacer.on_success()
        assert pacer.throttles == 25
        assert pacer.paused_until == -math.inf

    run_virtual(main)


def test_pause_for_holds_every_acquire_even_dormant() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        pacer.pause_for(2.0, "circuit open")
        pacer.pause_for(1.0, "shorter")  # a pause only extends
        assert pacer.paused_until == pytest.approx(2.0)
        assert pacer.pause_reason == "circuit open"
        await asyncio.gather(*(pacer.acquire() for _ in range(10)))
        assert clock.now == pytest.approx(2.0, abs=0.01)
        assert not pacer.enabled

    run_virtual(main)


def test_acquire_paces_at_the_rate() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        refuse(pacer, clock, gap=0.000125)  # an urgent window: cut to ~1 / 8 ms
        assert pacer.events == 1
        rate = pacer.rate
        start = clock.now
        await asyncio.gather(*(pacer.acquire() for _ in range(200)))
        # 200 slots at the rate (the curve moves a little meanwhile), never in a burst
        assert (clock.now - start) * rate == pytest.approx(200, rel=0.15)

    run_virtual(main)


def test_repr_and_snapshot() -> None:
    async def main(clock: VirtualClock) -> None:
        pacer = AdaptiveRate(clock=clock)
        refuse(pacer, clock)
        text = repr(pacer)
        assert text.startswith("<AdaptiveRate pacing rate=")
        assert "events=1" in text
        assert "throttles=70" in text
        snap = pacer.snapshot()
        assert set(snap) == {
            "rate", "send_rate", "accepted_rate", "throttled_share", "background_share",
            "limit_estimate", "events", "throttles", "paused_for",
        }
        assert snap["rate"] == pacer.rate
        assert snap["throttled_share"] > 0.9
        assert snap["events"] == 1.0

    run_virtual(main)


def test_shared_between_event_loops() -> None:
    clock = VirtualClock()
    pacer = AdaptiveRate(clock=clock)
    refuse(pacer, clock)
    assert pacer.rate < math.inf

    async def burst(_: VirtualClock) -> None:
        await asyncio.gather(*(pacer.acquire() for _ in range(5)))

    run_virtual(burst, clock)
    run_virtual(burst, clock)  # a lock of the first loop would refuse the second


def test_tuning_is_typed_and_checked() -> None:
    tuning = PacingTuning(hold=0.9)
    assert AdaptiveRate(tuning=tuning).tuning is tuning
    assert AdaptiveRate().tuning == PacingTuning()
    with pytest.raises(TypeError):
        PacingTuning(bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AdaptiveRate(hold=0.9)  # type: ignore[call-arg]  # the constants go in tuning=
    with pytest.raises(ValueError, match="hold"):
        PacingTuning(hold=1.5)
    with pytest.raises(ValueError):
        PacingTuning(z=0)
    with pytest.raises(ValueError):
        AdaptiveRate(min_rate=0)
    with pytest.raises(ValueError):
        AdaptiveRate(min_rate=5, max_rate=1)


def test_max_rate_bounds_probing() -> None:
    run = simulate(lambda clock: AdaptiveRate(clock=clock, max_rate=200), Server(limit=300),
                   duration=20)
    assert run.send_rate(5, 20) <= 200 * 1.02
    assert run.throttled_share(5, 20) == 0.0
