"""The ``voxkv`` command: ``voxkv emulator`` and ``voxkv demo``, and room for more.

Subcommands are added by *registrars*: functions that take the ``subparsers`` object of
the top-level parser, add their subparser(s), and bind a handler with
``parser.set_defaults(handler=func)``, where ``func(args) -> int`` returns the exit code.
Registrars come from :data:`REGISTRARS` and from the ``register`` function of every module
in :data:`EXTENSION_MODULES` that can be imported (e.g. ``voxkv_async._cli_data`` for
get/set/del/items/keys/import/export), so adding commands needs no change here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["EXTENSION_MODULES", "REGISTRARS", "build_parser", "main", "run_coroutine"]

Registrar = Callable[[Any], None]

#: Modules that may provide ``register(subparsers)``; skipped when not importable.
EXTENSION_MODULES: tuple[str, ...] = ("voxkv_async._cli_data",)


def _register_emulator(subparsers: Any) -> None:
    from voxkv_async.emulator import EmulatorModes, Faults

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
        "--application-id", type=int, default=1, help="the application id (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, help="seed of the fault injector")
    _add_fault_flags(p, Faults)
    _add_mode_flags(p, EmulatorModes)
    p.set_defaults(handler=_emulator)


def _register_demo(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="write, read, list and delete keys through VoxKV against the embedded emulator",
        description="Start the emulator (TLS), run a few thousand calls through the client "
        "and print calls, throughput, latency, retries and token signings. Exit code 0 when "
        "every check passed.",
    )
    p.add_argument("--keys", type=int, default=3000, help="how many keys (default: %(default)s)")
    p.add_argument(
        "--concurrency", type=int, default=64, help="calls in flight (default: %(default)s)"
    )
    p.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="latency added by the emulator, ms"
    )
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of requests that fail (503, 429, codes 2/340/416, dropped "
        "connections); the retries should hide them",
    )
    p.add_argument("--seed", type=int, help="seed for values and faults")
    p.set_defaults(handler=_demo)


#: Registrars of the built-in subcommands; append to add more.
REGISTRARS: list[Registrar] = [_register_emulator, _register_demo]


def build_parser() -> argparse.ArgumentParser:
    """The ``voxkv`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="voxkv", description="The Voximplant key-value storage from the command line."
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run on uvloop (pip install 'voxkv_async[uvloop]'): ~10-18%% less CPU per call",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in [*REGISTRARS, *_extension_registrars()]:
        register(subparsers)
    return parser


def run_coroutine(coro: Coroutine[Any, Any, int], args: argparse.Namespace) -> int:
    """Run a subcommand's coroutine to its exit code, on uvloop if ``--uvloop`` was given."""
    if not getattr(args, "uvloop", False):
        return asyncio.run(coro)
    try:
        import uvloop
    except ImportError:
        coro.close()
        print("voxkv: --uvloop needs uvloop: pip install 'voxkv_async[uvloop]'", file=sys.stderr)
        return 2
    result: int = uvloop.run(coro)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``voxkv``; returns the exit code."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


def _extension_registrars() -> list[Registrar]:
    found = []
    for name in EXTENSION_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but is broken: say so
                raise
            continue
        found.append(module.register)
    return found


# --- flags generated from the attrs classes, so new settings need no CLI change -----


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_fault_flags(parser: argparse.ArgumentParser, faults_cls: type[Any]) -> None:
    group = parser.add_argument_group("faults (fractions of requests, 0..1)")
    group.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="latency added to every answer, ms"
    )
    group.add_argument(
        "--jitter", type=float, default=0.0, metavar="MS", help="up to this much more, ms"
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
                type=float if kind != "int" else int,
                metavar="N",
                help=field.metadata["help"],
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


def _prefixed(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    return {
        k.removeprefix(prefix): v
        for k, v in vars(args).items()
        if k.startswith(prefix) and v is not None
    }


# --- voxkv emulator ---------------------------------------------------------------------


def _emulator(args: argparse.Namespace) -> int:
    from voxkv_async.emulator import EmulatorModes, Faults

    try:
        faults = Faults.spread(
            args.fault_rate, latency=args.latency / 1000, jitter=args.jitter / 1000
        ).evolve(_prefixed(args, "faults__"))
        modes = EmulatorModes(**_prefixed(args, "modes__"))
    except (TypeError, ValueError) as exc:
        print(f"voxkv emulator: {exc}", file=sys.stderr)
        return 2
    return run_coroutine(_serve(args, faults, modes), args)


async def _serve(args: argparse.Namespace, faults: Any, modes: Any) -> int:
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
        application_id=args.application_id,
        state_dir=state_dir,
    )
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


# --- voxkv demo -------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from voxkv_async.emulator._demo import DemoOptions

    try:
        options = DemoOptions(
            keys=args.keys,
            concurrency=args.concurrency,
            latency_ms=args.latency,
            fault_rate=args.fault_rate,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"voxkv demo: {exc}", file=sys.stderr)
        return 2
    return run_coroutine(_demo_ok(options), args)


async def _demo_ok(options: Any) -> int:
    """0 when every check of the demo passed, else 1."""
    from voxkv_async.emulator._demo import run_demo

    return 0 if await run_demo(options) else 1


if __name__ == "__main__":
    sys.exit(main())
