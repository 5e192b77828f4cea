"""Fallback emulator launcher, used only when ``voxkv emulator`` (the CLI) is missing.

``python -m benchmarks._serve --state-dir DIR [--latency MS] [--uvloop]
[--add-application ID ...]``: serves the
in-repo :class:`voxkv_async.emulator.Emulator` over TLS on a free loopback port, writes
``credentials.json`` and ``ca.pem`` into DIR, prints ``VOXKV_BASE_URL=...`` and
``VOXKV_APPLICATION_ID=...``, and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal


async def serve(state_dir: str, latency_ms: float, applications: list[int]) -> None:
    from voxkv_async.emulator import Emulator, Faults

    emu = Emulator(tls=True, state_dir=state_dir, faults=Faults(latency=latency_ms / 1000),
                   applications=applications)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with emu:
        print(f"VOXKV_BASE_URL={emu.base_url}", flush=True)
        print(f"VOXKV_APPLICATION_ID={emu.application_id}", flush=True)
        await stop.wait()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--state-dir", required=True)
    p.add_argument("--latency", type=float, default=0.0, help="milliseconds")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--add-application", type=int, action="append", default=[],
                   help="another application the emulator knows (repeatable)")
    a = p.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(serve(a.state_dir, a.latency, a.add_application))
    else:
        asyncio.run(serve(a.state_dir, a.latency, a.add_application))


if __name__ == "__main__":
    main()
