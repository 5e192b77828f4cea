"""JWT verification as the Management API does it, one error code per failure."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ._errors import ApiFailure

if TYPE_CHECKING:
    from ._stats import EmulatorStats

__all__ = ["Account", "TokenVerifier"]

#: How far in the future ``iat`` may be before the token is refused (clock tolerance).
IAT_LEEWAY = 5.0
#: The longest lifetime (``exp - iat``) the API accepts, in seconds.
MAX_LIFETIME = 3600
#: How many verified tokens are remembered, so a reused token is verified once.
CACHE_SIZE = 4096

_JWS = jwt.PyJWS()


@attrs.frozen
class Account:
    """A service-account key the emulator accepts.

    Attributes:
        account_id: The account the key belongs to; the token's ``iss`` must equal it.
        key_id: The key id, the token's ``kid`` header.
        public_key: The key that checks the signature.
    """

    account_id: int | str
    key_id: str
    public_key: rsa.RSAPublicKey = attrs.field(eq=False, repr=False)


@attrs.frozen
class _Claims:
    iat: float
    exp: float
    issuer: str = ""


class TokenVerifier:
    """Checks ``Authorization: Bearer <jwt>`` headers.

    Failures raise :class:`ApiFailure` with the API's code: 447 no or malformed token (or
    an ``alg`` other than RS256), 433 unknown ``kid``, 100 bad signature or wrong ``iss``,
    454 lifetime above 3600 s, 455 ``iat`` in the future, 456 expired.

    ``iss`` must be the key's own account, or one of that account's child accounts
    (:meth:`add_child`): a parent's key may act for its children, as on the real API.

    A token whose signature and claims checked out is cached; later uses skip the RSA
    work but are still checked against the clock.
    """

    def __init__(self, clock: Callable[[], float], stats: EmulatorStats) -> None:
        self.clock = clock
        self.stats = stats
        self._accounts: dict[str, Account] = {}
        self._children: dict[str, set[str]] = {}
        self._verified: OrderedDict[str, _Claims] = OrderedDict()

    def add(self, account: Account) -> None:
        """Accept tokens signed with ``account``'s key."""
        self._accounts[account.key_id] = account
        self._verified.clear()

    def add_child(self, parent: int | str, child: int | str) -> None:
        """Let keys of account ``parent`` sign for account ``child`` (``iss`` = child)."""
        self._children.setdefault(str(parent), set()).add(str(child))
        self._verified.clear()

    def forget_cache(self) -> None:
        """Drop every verified token, so the next uses are verified afresh."""
        self._verified.clear()

    def verify(self, header: str | None) -> str:
        """Accept the ``Authorization`` header or raise :class:`ApiFailure`; the account
        the token acts for (its ``iss``)."""
        token = _bearer(header)
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check(token)
            self._verified[token] = claims
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        self._check_clock(claims)
        return claims.issuer

    def _check(self, token: str) -> _Claims:
        try:
            head = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise ApiFailure(447, "Invalid token format") from None
        if head.get("alg") != "RS256":
            raise ApiFailure(447, "Invalid token format: the algorithm must be RS256")
        kid = head.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ApiFailure(447, "Invalid token format: no key id")
        account = self._accounts.get(kid)
        if account is None:
            raise ApiFailure(433, "Invalid key id")
        self.stats.signature_checks += 1
        payload = _decode(token, account.public_key)
        issuer, owner = str(payload.get("iss")), str(account.account_id)
        if issuer != owner and issuer not in self._children.get(owner, ()):
            raise ApiFailure(100, "Authorization failed: the issuer is neither the key's "
                             "account nor one of its child accounts")
        iat, exp = _number(payload, "iat"), _number(payload, "exp")
        if exp - iat > MAX_LIFETIME:
            raise ApiFailure(454, f"Token TTL is too long: at most {MAX_LIFETIME} seconds")
        return _Claims(iat=iat, exp=exp, issuer=issuer)

    def _check_clock(self, claims: _Claims) -> None:
        now = self.clock()
        if claims.iat > now + IAT_LEEWAY:
            raise ApiFailure(455, "The token is issued in the future")
        if claims.exp <= now:
            raise ApiFailure(456, "The token has expired")


def _bearer(header: str | None) -> str:
    if not header:
        raise ApiFailure(447, "Invalid token format: no Authorization header")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiFailure(447, "Invalid token format: expected 'Bearer <token>'")
    return token


def _decode(token: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    # Only the signature is checked here (PyJWS, not PyJWT): the claims are checked by
    # hand, so that each failure gets its own code and a numeric ``iss`` is accepted.
    try:
        payload = _JWS.decode(token, key, algorithms=["RS256"])
    except jwt.InvalidSignatureError:
        raise ApiFailure(100, "Authorization failed: bad signature") from None
    except jwt.PyJWTError:
        raise ApiFailure(447, "Invalid token format") from None
    try:
        claims = json.loads(payload)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise ApiFailure(447, "Invalid token format: the payload is not a JSON object")
    return claims


def _number(payload: dict[str, Any], claim: str) -> float:
    value = payload.get(claim)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiFailure(447, f"Invalid token format: {claim!r} must be a number")
    return float(value)
