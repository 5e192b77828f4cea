"""voxkv_async's own per-call cost, with the network taken out: ``python -m benchmarks.overhead``.

Both voxkv_async and the raw-aiohttp call are run against the same in-memory stand-in
for ``aiohttp.ClientSession`` (``post()`` returns a canned JSON answer at once), so what
is left is each one's own Python work per call: argument checks, body encoding, token
lookup, retry wrapper, response checks and decoding, result objects. This is
deterministic enough to compare variants of the library (``--variant DIR`` puts
``DIR/voxkv_async`` first on ``sys.path``) where the end-to-end run is too noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any
from urllib.parse import quote_plus

from multidict import CIMultiDict, CIMultiDictProxy

from benchmarks.clients import FORM, TTL, key_of, value_of


class _Resp:
    status = 200

    def __init__(self, body: bytes, headers: Any) -> None:
        self._body = body
        self.headers = headers
        self.content_length = len(body)

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _Resp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _headers(body: bytes) -> Any:
    return CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json",
                                         "Content-Length": str(len(body))}))


class FakeSession:
    """Answers every POST with the canned item, as the emulator would."""

    closed = False

    def __init__(self) -> None:
        item = {"key": key_of(1), "value": value_of(1), "expires_at": 1_790_000_000}
        self._body = json.dumps({"result": item}).encode()
        self._headers = _headers(self._body)

    def post(self, url: Any, **kw: Any) -> _Resp:
        return _Resp(self._body, self._headers)

    async def close(self) -> None:
        return None


async def per_call_us(n: int) -> dict[str, float]:
    from voxkv_async import RetryPolicy, VoxKV
    from voxkv_async.emulator import generate_credentials

    creds = generate_credentials()
    session = FakeSession()
    kv = VoxKV(creds, 1, base_url="https://127.0.0.1:1/platform_api", session=session,
               retry=RetryPolicy())  # type: ignore[arg-type]
    loads = json.loads
    headers = {"Authorization": "Bearer x", "Content-Type": FORM}
    url = "https://127.0.0.1:1/platform_api/SetKeyValueItem"

    async def raw_set(i: int) -> bool:
        body = (f"application_id=1&key={quote_plus(key_of(i))}"
                f"&value={quote_plus(value_of(i))}&ttl={TTL}").encode()
        async with session.post(url, data=body, headers=headers) as r:
            payload = loads(await r.read())
        return "result" in payload

    async def raw_get(i: int) -> bool:
        body = f"application_id=1&key={quote_plus(key_of(i))}".encode()
        async with session.post(url, data=body, headers=headers) as r:
            payload = loads(await r.read())
        return bool(payload.get("result"))

    async def vox_set(i: int) -> bool:
        return (await kv.set(key_of(i), value_of(i))) is not None

    async def vox_get(i: int) -> bool:
        return (await kv.get(key_of(i))) is not None

    async def loop(fn: Any) -> float:
        t0 = time.process_time()
        for i in range(n):
            await fn(i)
        return (time.process_time() - t0) / n * 1e6

    out: dict[str, list[float]] = {k: [] for k in ("raw_set", "raw_get", "vox_set", "vox_get")}
    fns = {"raw_set": raw_set, "raw_get": raw_get, "vox_set": vox_set, "vox_get": vox_get}
    for _ in range(7):
        for name, fn in fns.items():
            out[name].append(await loop(fn))
    await kv.close()
    return {k: statistics.median(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--variant", help="a directory holding a changed voxkv_async/")
    a = p.parse_args(argv)
    if a.variant:
        sys.path.insert(0, a.variant)
    import voxkv_async

    r = asyncio.run(per_call_us(a.n))
    print(f"voxkv_async from {voxkv_async.__file__}")
    print(f"Set: raw {r['raw_set']:.2f} us, voxkv {r['vox_set']:.2f} us, "
          f"voxkv's own extra {r['vox_set'] - r['raw_set']:.2f} us per call")
    print(f"Get: raw {r['raw_get']:.2f} us, voxkv {r['vox_get']:.2f} us, "
          f"voxkv's own extra {r['vox_get'] - r['raw_get']:.2f} us per call")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
