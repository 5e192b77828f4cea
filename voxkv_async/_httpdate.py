"""HTTP dates (``Date``, ``Retry-After``), read in one place for the wire and the tokens."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

__all__ = ["parse_http_date"]


def parse_http_date(value: str | None) -> float | None:
    """The Unix time of an HTTP date such as ``Wed, 21 Oct 2015 07:28:00 GMT``.

    ``None`` when ``value`` is empty or not a date: the headers come from the network,
    and a malformed one must never break a call.
    """
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
