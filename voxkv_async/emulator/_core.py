"""The emulator's state, independent of HTTP: accounts, storage, modes, faults, counters."""

from __future__ import annotations

import time
from typing import Any

from ._api import Context, call
from ._errors import ApiFailure
from ._faults import FaultInjector, Faults, LateApplies
from ._modes import EmulatorModes
from ._ratelimit import RateLimit, RateLimiter
from ._stats import EmulatorStats
from ._store import Clock, Item, Store
from ._tokens import Account, TokenVerifier

__all__ = ["Core"]


class Core:
    """Answers API calls; the HTTP layer only translates requests and injects faults."""

    def __init__(
        self,
        *,
        clock: Clock,
        token_clock: Clock | None,
        modes: EmulatorModes,
        faults: Faults,
        seed: int | None,
        rate_limit: RateLimit | None = None,
        rate_clock: Clock | None = None,
    ) -> None:
        self.stats = EmulatorStats()
        self.store = Store(clock)
        #: The clock tokens are checked against, and the HTTP ``Date`` header is read from.
        self.token_clock = token_clock or time.time
        self.verifier = TokenVerifier(self.token_clock, self.stats)
        self.injector = FaultInjector(faults, seed, self.stats.faults)
        #: Calls to apply after their client gave up (``Faults.late_apply``).
        self.late = LateApplies()
        self.modes = modes
        #: The server-side rate limit's bucket, checked before faults and the store.
        self.limiter = RateLimiter(rate_limit or RateLimit(), rate_clock)
        self.applications: set[int] = set()
        #: The storage of each child account (key owners share :attr:`store`).
        self.child_stores: dict[str, Store] = {}

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.injector.faults = faults

    @property
    def rate_limit(self) -> RateLimit:
        return self.limiter.settings

    @rate_limit.setter
    def rate_limit(self, rate_limit: RateLimit) -> None:
        self.limiter.settings = rate_limit

    def add_account(self, account: Account) -> None:
        self.verifier.add(account)

    def add_child_account(self, child: int | str, parent: int | str) -> None:
        """A child account of ``parent`` with storage of its own."""
        self.verifier.add_child(parent, child)
        self.child_stores.setdefault(str(child), Store(self.store.clock))

    def store_of(self, account: int | str | None) -> Store:
        """The storage a token issued for ``account`` works on."""
        return self.child_stores.get(str(account), self.store) if account is not None \
            else self.store

    def answer(self, method: str, params: dict[str, str], authorization: str | None) -> Any:
        """The JSON envelope for one API call (errors included)."""
        try:
            issuer = self.verifier.verify(authorization)
            store = self.child_stores.get(issuer, self.store) if self.child_stores else self.store
            result = call(method, params, Context(store, self.modes, self.applications))
        except ApiFailure as failure:
            return self.failure(failure)
        return {"result": result}

    def failure(self, failure: ApiFailure) -> dict[str, Any]:
        """Count an error envelope and return it."""
        self.stats.errors[failure.code] += 1
        return failure.envelope()

    def dump(self) -> dict[int, list[Item]]:
        return self.store.dump()

    def reset(self) -> None:
        """Empty the store, zero the counters, forget verified tokens, refill the bucket."""
        self.limiter.fill()
        self.late.cancel_all()
        self.store.clear()
        for store in self.child_stores.values():
            store.clear()
        self.stats.reset()
        self.verifier.forget_cache()
