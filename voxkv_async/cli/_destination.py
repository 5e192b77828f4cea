"""Where a file job writes, as its checkpoint records it: a resume must write there too.

A checkpoint made for one destination skips rows that were written there; resumed
against another (``--application-id 2``, another ``--base-url``, ``--account-id`` or
``--ttl``) it would leave those rows missing. The destination is resolved the way the
client resolves it (flags, then environment variables, then defaults), before any
request, so two spellings of the same destination compare equal.
"""

from __future__ import annotations

import argparse

from .._config import resolve_base_url
from .._credentials import Credentials
from ._connection import _application_id

__all__ = ["destination_of"]


def destination_of(args: argparse.Namespace) -> dict[str, str]:
    """The endpoint, account, application and ``--ttl`` that ``args`` write to."""
    account = args.account_id or (Credentials.from_file(args.credentials) if args.credentials
                                  else Credentials.from_env()).account_id
    return {
        "endpoint": str(resolve_base_url(args.base_url)),
        "account": str(account),
        "application_id": str(_application_id(args.application_id)),
        "ttl": "the API's default" if args.ttl is None else str(args.ttl),
    }
