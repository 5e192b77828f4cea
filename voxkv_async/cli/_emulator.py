"""``voxkv emulator``: serve the local emulator until SIGINT/SIGTERM.

Its fault and mode flags are generated from the attrs fields of
:class:`~voxkv_async.emulator.Faults` and :class:`~voxkv_async.emulator.EmulatorModes`,
so a new setting needs no change here. Durations are in seconds, as in ``Faults``; a
unit suffix is accepted too (``--latency 20ms``, ``--jitter 0.5s``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

from ._runner import run_coroutine

__all__ = ["register_emulator"]


def register_emulator(subparsers: Any) -> None:
    """Add ``voxkv emulator``."""
    from voxkv_async.emulator import EmulatorModes, Faults, RateLimit

    p = subparsers.add_parser(
        "emulator",
        help="serve the local emulator of the key-value API",
        description="Serve the emulator until SIGINT/SIGTERM. Prints VOXKV_BASE_URL=..., "
        "VOXKV_APPLICATION_ID=..., VOXIMPLANT_CREDENTIALS=... (and VOXKV_CA_FILE=... with "
        "--tls) on stdout, one per line.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)"
    )
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated certificate")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where to write credentials.json and ca.pem "
        "(default: a temporary folder, removed at exit)",
    )
    p.add_argument(
        "--application-id", type=application_id, default=1,
        help="the default application's id, printed as VOXKV_APPLICATION_ID "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--add-application", action="append", default=[], type=application, metavar="ID[=NAME]",
        help="another application the emulator knows (repeatable); calls for an id it "
        "does not know are answered with code 558 (see --unknown-application)",
    )
    p.add_argument("--seed", type=int, help="seed of the fault injector")
    p.add_argument(
        "--child-account", action="append", default=[], metavar="ID",
        help="a child account of the service account: its key may sign for ID, which "
        "has storage of its own (repeatable)",
    )
    _add_fault_flags(p, Faults)
    _add_rate_limit_flags(p, RateLimit)
    _add_mode_flags(p, EmulatorModes)
    p.set_defaults(handler=_emulator)


# --- flags generated from the attrs classes, so new settings need no CLI change -----


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_fault_flags(parser: argparse.ArgumentParser, faults_cls: type[Any]) -> None:
    group = parser.add_argument_group("faults (fractions of requests, 0..1)")
    group.add_argument(
        "--latency", type=duration, default=0.0, metavar="SECONDS",
        help="latency added to every answer: seconds, or with a unit (20ms, 0.02s)",
    )
    group.add_argument(
        "--jitter", type=duration, default=0.0, metavar="SECONDS",
        help="up to this much more, drawn uniformly: seconds, or with a unit (5ms)",
    )
    group.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="a total rate shared between every fault kind but slow",
    )
    for field in attrs.fields(faults_cls):
        kind = field.metadata.get("kind")
        if kind == "rate" or (
            kind in ("int", "seconds") and field.name not in ("latency", "jitter")
        ):
            group.add_argument(
                _flag(field.name),
                dest=f"faults__{field.name}",
                type=duration if kind == "seconds" else int if kind == "int" else float,
                metavar="SECONDS" if kind == "seconds" else "N",
                help=field.metadata["help"],
            )


def _add_rate_limit_flags(parser: argparse.ArgumentParser, limit_cls: type[Any]) -> None:
    group = parser.add_argument_group(
        "server-side rate limit (a token bucket; refused requests are not applied)")
    for field in attrs.fields(limit_cls):
        meta = field.metadata
        group.add_argument(
            meta["flag"],
            dest=f"rate__{field.name}",
            type=str if "choices" in meta else float if meta.get("kind") == "float" else int,
            choices=meta.get("choices"),
            metavar=None if "choices" in meta else "N",
            help=meta["help"],
        )


def _add_mode_flags(parser: argparse.ArgumentParser, modes_cls: type[Any]) -> None:
    group = parser.add_argument_group("answers where the real API is undocumented")
    for field in attrs.fields(modes_cls):
        group.add_argument(
            _flag(field.name),
            dest=f"modes__{field.name}",
            choices=field.metadata["choices"],
            help=f"{field.metadata['help']} (default: {field.default})",
        )


_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s)?\s*")


def duration(text: str) -> float:
    """Seconds from ``"0.02"``, ``"0.02s"`` or ``"20ms"`` (the unit of ``Faults``)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give seconds (0.02) or a unit (20ms, 0.02s)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def application_id(text: str) -> int:
    """A positive application id (``--application-id``)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an application id: give a "
                                         "positive integer")
    return int(text)


def application(text: str) -> tuple[int, str | None]:
    """``(id, name)`` from ``"2"`` or ``"2=crm"`` (``--add-application``)."""
    raw_id, sep, name = text.partition("=")
    if not raw_id.strip().isdigit() or int(raw_id) < 1 or (sep and not name):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an application: give a positive id, optionally =NAME (2=crm)")
    return int(raw_id), name or None


def _prefixed(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    return {
        k.removeprefix(prefix): v
        for k, v in vars(args).items()
        if k.startswith(prefix) and v is not None
    }


# --- voxkv emulator ---------------------------------------------------------------------


def _emulator(args: argparse.Namespace) -> int:
    from voxkv_async.emulator import EmulatorModes, Faults, RateLimit

    try:
        faults = Faults.spread(
            args.fault_rate, latency=args.latency, jitter=args.jitter
        ).evolve(_prefixed(args, "faults__"))
        modes = EmulatorModes(**_prefixed(args, "modes__"))
        rate_limit = RateLimit(**_prefixed(args, "rate__"))
    except (TypeError, ValueError) as exc:
        print(f"voxkv emulator: {exc}", file=sys.stderr)
        return 2
    return run_coroutine(_serve(args, faults, modes, rate_limit), args)


async def _serve(args: argparse.Namespace, faults: Any, modes: Any, rate_limit: Any) -> int:
    from voxkv_async.emulator import Emulator

    temporary = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="voxkv-emulator-")) if temporary else args.state_dir
    emu = Emulator(
        host=args.host,
        port=args.port,
        tls=args.tls,
        seed=args.seed,
        faults=faults,
        modes=modes,
        rate_limit=rate_limit,
        application_id=args.application_id,
        applications=dict(args.add_application),
        state_dir=state_dir,
    )
    for child in args.child_account:
        emu.add_child_account(int(child) if child.isdigit() else child)
    try:
        await emu.start()
    except OSError as exc:
        print(f"voxkv emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        _announce(emu, state_dir)
        await _until_signalled()
    finally:
        await emu.stop()
        if temporary:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


def _announce(emu: Any, state_dir: Path) -> None:
    lines = [
        f"VOXKV_BASE_URL={emu.base_url}",
        f"VOXKV_APPLICATION_ID={emu.application_id}",
        f"VOXIMPLANT_CREDENTIALS={state_dir / 'credentials.json'}",
    ]
    if emu.tls:
        lines.append(f"VOXKV_CA_FILE={state_dir / 'ca.pem'}")
    lines.append(f"VOXKV_STATE_DIR={state_dir}")
    print("\n".join(lines), flush=True)
    print(
        f"voxkv emulator: serving {emu.base_url} (control: {emu.control_url}); Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
