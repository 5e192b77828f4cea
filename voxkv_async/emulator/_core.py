"""The emulator's state, independent of HTTP: accounts, storage, modes, faults, counters."""

from __future__ import annotations

import time
from typing import Any

from ._api import Context, call
from ._errors import ApiFailure
from ._faults import FaultInjector, Faults
from ._modes import EmulatorModes
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
    ) -> None:
        self.stats = EmulatorStats()
        self.store = Store(clock)
        #: The clock tokens are checked against, and the HTTP ``Date`` header is read from.
        self.token_clock = token_clock or time.time
        self.verifier = TokenVerifier(self.token_clock, self.stats)
        self.injector = FaultInjector(faults, seed, self.stats.faults)
        self.modes = modes
        self.applications: set[int] = set()

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.injector.faults = faults

    def add_account(self, account: Account) -> None:
        self.verifier.add(account)

    def answer(self, method: str, params: dict[str, str], authorization: str | None) -> Any:
        """The JSON envelope for one API call (errors included)."""
        try:
            self.verifier.verify(authorization)
            result = call(method, params, Context(self.store, self.modes, self.applications))
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
        """Empty the store, zero the counters, forget verified tokens."""
        self.store.clear()
        self.stats.reset()
        self.verifier.forget_cache()
