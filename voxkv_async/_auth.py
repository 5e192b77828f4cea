"""The auth link of the send chain: the token, one re-signing on refusal, clock skew.

:class:`Signed` signs each attempt with the :class:`TokenCache`'s token and, when the
server refuses it (codes 100, 455, 456), repeats the attempt once with a newly signed
one, after learning the server's clock from the refusal's ``Date`` on a clock error.

The token cache: one RS256 JWT per lifetime, refreshed ahead of expiry. Signing costs
~0.3 ms of CPU and involves no I/O, so it runs synchronously: between two ``await``
points nothing else runs on the loop, which makes every refresh single-flight by
construction. A thousand calls arriving during a refresh see one signing, no lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import attrs
import jwt

from ._credentials import Credentials
from ._errors import CLOCK_CODES, RESIGN_CODES, AuthenticationError, ValidationError, timed_out
from ._events import AuthRetried, EventStream, TokenSigned
from ._httpdate import parse_http_date

__all__ = ["Signed", "TokenCache", "TokenSettings", "check_account_id"]

logger = logging.getLogger("voxkv_async")

Clock = Callable[[], float]
#: The next link: ``send(method, body, key, authorization, time_limit)`` -> the result.
Send = Callable[[str, str, str | None, str, float], Awaitable[tuple[int, object]]]


@attrs.frozen
class TokenSettings:
    """How tokens are minted.

    Attributes:
        lifetime: Seconds from ``iat`` to ``exp``; the API refuses more than 3600.
        backdate: Seconds ``iat`` is set in the past, so a server clock slightly behind
            ours does not answer "issued in the future" (code 455).
        refresh_margin: A token is replaced this many seconds before it expires, so no
            request leaves with a token about to lapse in flight.
        skew_threshold: A server clock further than this from ours (read from the HTTP
            ``Date`` header of a clock error) is corrected for in later tokens.
    """

    lifetime: float = attrs.field(default=3600.0, validator=attrs.validators.le(3600))
    backdate: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    refresh_margin: float = attrs.field(default=300.0, validator=attrs.validators.ge(0))
    skew_threshold: float = 2.0

    def __attrs_post_init__(self) -> None:
        if self.refresh_margin >= self.lifetime - self.backdate:
            raise ValueError("refresh_margin must be shorter than lifetime - backdate")


class TokenCache:
    """Signs and caches the service-account JWT.

    Args:
        credentials: The account to sign for.
        settings: Lifetime, back-dating and refresh margin.
        clock: Returns the current Unix time; inject a fake one in tests.
        events: The client's event stream, told of every signing (:class:`TokenSigned`).
        account_id: Sign for this account instead of the credentials' own: a parent
            account acting for a child puts the child's id in ``iss`` and keeps its own
            key and ``kid``, as every official SDK's account-id override does.
    """

    __slots__ = (
        "_clock",
        "_credentials",
        "_events",
        "_exp",
        "_header",
        "_iat",
        "_issuer",
        "_offset",
        "_refresh_at",
        "_settings",
        "_signings",
        "_token",
    )

    def __init__(
        self,
        credentials: Credentials,
        settings: TokenSettings | None = None,
        *,
        clock: Clock = time.time,
        events: EventStream | None = None,
        account_id: int | str | None = None,
    ) -> None:
        self._credentials = credentials
        self._issuer = credentials.issuer if account_id is None else str(account_id)
        self._settings = settings or TokenSettings()
        self._clock = clock
        self._events = events if events is not None else EventStream()
        self._signings = 0
        self._token = ""
        self._header = ""
        self._refresh_at = float("-inf")
        self._offset = 0.0  # server time minus our time, once learned
        self._iat = 0
        self._exp = 0

    def __repr__(self) -> str:
        return f"<TokenCache kid={self._credentials.key_id!r} signings={self.signings}>"

    @property
    def signings(self) -> int:
        """How many tokens were signed so far."""
        return self._signings

    @property
    def issuer(self) -> str:
        """The account the tokens are signed for (the JWT ``iss`` claim)."""
        return self._issuer

    @property
    def clock_offset(self) -> float:
        """Seconds the server's clock is ahead of ours, as learned from clock errors."""
        return self._offset

    def authorization(self) -> str:
        """The ``Authorization`` header value, signing a new token when due."""
        if self._clock() >= self._refresh_at:
            self._sign()
        return self._header

    def invalidate(self, header: str) -> None:
        """Drop the token behind ``header`` after the server refused it.

        Only the token that failed is dropped: when many requests fail with the same old
        token at once, the first caller to get here causes one re-signing, not N.
        """
        if header == self._header:
            self._refresh_at = float("-inf")

    def observe_server_date(self, http_date: str | None) -> None:
        """Learn the server's clock from an HTTP ``Date`` header after a clock error.

        Tokens signed afterwards use the server's time, so a client whose clock is off by
        minutes still authenticates (codes 455/456 would otherwise repeat forever).
        """
        server = parse_http_date(http_date)
        if server is None:
            return
        offset = server - self._clock()
        if abs(offset) > self._settings.skew_threshold:
            logger.warning("server clock differs from ours by %.0f s; correcting tokens", offset)
            self._offset = offset

    def _sign(self) -> None:
        s = self._settings
        now = self._clock()
        iat = int(now + self._offset - s.backdate)
        exp = int(iat + s.lifetime)
        if iat == self._iat:
            # RS256 is deterministic: the same claims in the same second would give the
            # very token the server just refused. Each re-signing within that second
            # expires one second earlier than the last (iat is left to clock correction).
            exp = min(exp, self._exp - 1)
        self._iat, self._exp = iat, exp
        token = jwt.encode(
            {"iss": self._issuer, "iat": iat, "exp": exp},
            self._credentials.private_key,
            algorithm="RS256",
            headers={"kid": self._credentials.key_id},
        )
        self._token = token
        self._header = "Bearer " + token
        # Refresh in our own clock's terms: the token is good until exp - offset locally.
        self._refresh_at = exp - self._offset - s.refresh_margin
        self._signings += 1
        self._events.emit(TokenSigned(exp))
        logger.debug("signed a new token (kid=%s, exp=%d)", self._credentials.key_id, exp)


class Signed:
    """Signs each attempt and repeats it once with a new token when the token is refused.

    Args:
        tokens: The token cache.
        send: The next link, which sends one request with the ``Authorization`` given.
        events: The client's event stream (told of each re-signed repeat).
    """

    __slots__ = ("_events", "_send", "tokens")

    def __init__(self, tokens: TokenCache, send: Send, events: EventStream) -> None:
        #: The token cache (its :attr:`~TokenCache.clock_offset` is what was learned).
        self.tokens = tokens
        self._send = send
        self._events = events

    async def __call__(self, method: str, body: str, key: str | None,
                       time_limit: float) -> tuple[int, object]:
        """One attempt of ``method`` within ``time_limit`` s, the re-signed repeat included."""
        header = self.tokens.authorization()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            return await self._send(method, body, key, header, time_limit)
        except AuthenticationError as exc:
            if exc.code not in RESIGN_CODES:
                raise
            if exc.code in CLOCK_CODES:
                # The server's Date tells how far off our clock is: the re-signed token
                # is minted on the server's time.
                self.tokens.observe_server_date(exc.server_date)
            left = time_limit - (loop.time() - started)
            if left <= 0:  # the repeat must fit in the same attempt, deadline included
                # The server refused the request, and the repeat never left.
                raise timed_out(method, "no time left to repeat with a new token",
                                sent=False) from exc
            self.tokens.invalidate(header)
            self._events.emit(AuthRetried(method, key))
            return await self._send(method, body, key, self.tokens.authorization(), left)


def check_account_id(account_id: object) -> int | str | None:
    """``account_id`` if it can name an account in ``iss`` (a positive int or a
    non-empty str), else :class:`ValidationError`; ``None`` stays ``None``."""
    if account_id is None:
        return None
    bad = (isinstance(account_id, bool) or not isinstance(account_id, int | str)
           or not account_id or (isinstance(account_id, int) and account_id <= 0))
    if bad:
        raise ValidationError("account_id", "must be a positive int or a non-empty str",
                              type(account_id).__name__)
    return account_id  # type: ignore[return-value]
