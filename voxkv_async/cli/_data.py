"""``voxkv get``, ``set``, ``del``, ``items`` and ``keys``: one call or one listing each.

Exit codes: 0 success, 1 the key is missing (``get``), 2 bad usage or a failed call,
141 when the reader of a listing went away (``voxkv keys p | head``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from .._listing import Listing, ListingOptions
from .._models import KeyInfo, KeyValueItem
from ._connection import add_command, connected, item_json, print_json
from ._pipes import EXIT_BROKEN_PIPE, stdout_gone

__all__ = ["register_data"]


def register_data(subparsers: Any) -> None:
    """Add the single-key and listing commands."""
    p = add_command(subparsers, "get",
                    "print the item stored under KEY as JSON (null and exit 1 if none)", _get)
    p.add_argument("key")
    p = add_command(subparsers, "set", "store VALUE under KEY; print the stored item as JSON",
                    _set)
    p.add_argument("key")
    p.add_argument("value")
    expiry = p.add_mutually_exclusive_group()
    expiry.add_argument("--ttl", type=int, help="seconds to live (default: the API's 30 days)")
    expiry.add_argument("--expires-at", type=int, metavar="UNIX", help="expiry, Unix seconds")
    p = add_command(subparsers, "del", "delete KEY; print {key, deleted} as JSON", _delete)
    p.add_argument("key")
    p = add_command(subparsers, "items",
                    "print the items whose keys start with PREFIX as a JSON array", _items)
    p.add_argument("prefix")
    p.add_argument("--limit", type=int, help="stop after this many")
    p = add_command(subparsers, "keys", "print the keys (starting with PREFIX) as a JSON array",
                    _keys)
    p.add_argument("prefix", nargs="?")
    p.add_argument("--limit", type=int, help="stop after this many")


async def _print_array(entries: Listing[KeyValueItem] | Listing[KeyInfo],
                       limit: int | None) -> int:
    """A JSON array written entry by entry, so a long listing is never held whole; 0, or
    :data:`EXIT_BROKEN_PIPE` when the reader went away (``voxkv keys | head``)."""
    out = sys.stdout
    n = 0
    try:
        out.write("[")
        async with contextlib.aclosing(entries):
            async for entry in entries:
                if limit is not None and n >= limit:
                    break
                out.write(("," if n else "") + "\n  "
                          + json.dumps(item_json(entry), ensure_ascii=False))
                n += 1
        out.write("\n]\n" if n else "]\n")
        out.flush()
    except BrokenPipeError:
        stdout_gone()
        return EXIT_BROKEN_PIPE
    return 0


def _options(limit: int | None) -> ListingOptions:
    """No more pages in flight than ``--limit`` needs (the walk stops there)."""
    return {} if limit is None else {"concurrency": max(1, min(32, -(-limit // 49)))}


async def _get(args: argparse.Namespace) -> int:
    async with connected(args) as kv:
        item = await kv.get(args.key)
    print_json(None if item is None else item_json(item))
    return 0 if item is not None else 1


async def _set(args: argparse.Namespace) -> int:
    async with connected(args) as kv:
        item = await kv.set(args.key, args.value, ttl=args.ttl, expires_at=args.expires_at)
    print_json(item_json(item))
    return 0


async def _delete(args: argparse.Namespace) -> int:
    async with connected(args) as kv:
        deleted = await kv.delete(args.key)
    print_json({"key": args.key, "deleted": deleted})
    return 0


async def _items(args: argparse.Namespace) -> int:
    async with connected(args) as kv:
        return await _print_array(kv.iter_items(args.prefix, **_options(args.limit)),
                                  args.limit)


async def _keys(args: argparse.Namespace) -> int:
    async with connected(args) as kv:
        return await _print_array(kv.iter_keys(args.prefix, **_options(args.limit)),
                                  args.limit)
