"""The :class:`Emulator`: the application served over real sockets, started and stopped."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .._credentials import Credentials
from ._app import CONTROL_PREFIX, make_app
from ._certs import ca_file, ca_pem, client_ssl_context, generate_credentials, server_ssl_context
from ._core import Core
from ._faults import Faults
from ._modes import EmulatorModes
from ._ratelimit import RateLimit
from ._stats import EmulatorStats
from ._store import Clock, Item
from ._tokens import Account

__all__ = ["DEFAULT_APPLICATION_ID", "Emulator"]

DEFAULT_APPLICATION_ID = 1
"""The application id the emulator registers unless told otherwise."""
# Grace time for in-flight requests at stop(); slow-answer faults are cut short.
_SHUTDOWN_TIMEOUT = 1.0


class Emulator:
    """A local stand-in for the Voximplant key-value API, over real sockets.

    ::

        async with Emulator() as emu:
            async with VoxKV(emu.credentials, application_id=emu.application_id,
                             base_url=emu.base_url, ssl=emu.ssl_context) as kv:
                await kv.set("ns:k", "v")

    Args:
        host: The address to listen on; loopback by default.
        port: The port; 0 picks a free one. Whichever port was bound is kept for a
            later :meth:`start` after :meth:`stop`.
        tls: Serve HTTPS with a certificate from a process-wide ``trustme`` CA
            (see :attr:`ssl_context`, :attr:`ca_file`); ``False`` serves plain HTTP.
        clock: The storage clock (``expires_at``, expiry); ``time.time`` by default. Pass
            a :class:`FakeClock` to expire keys without sleeping.
        token_clock: The clock JWTs are checked against (``time.time`` by default); kept
            apart from ``clock`` so a fake storage clock does not expire every token.
        seed: Seeds the fault injector, for reproducible runs.
        faults: The initial :class:`Faults`; none by default.
        modes: The initial :class:`EmulatorModes`.
        rate_limit: A server-side :class:`RateLimit` (a token bucket for the whole
            emulator, i.e. per account); none by default. Change it at run time with
            :attr:`rate_limit` or ``POST /_emulator/rate_limit``.
        rate_clock: The monotonic clock the rate limit's bucket fills on
            (``time.monotonic`` by default); a :class:`FakeClock` refills it without
            sleeping.
        accounts: Service accounts whose tokens are accepted; the first one is
            :attr:`credentials`. By default one is generated (account id 1000001).
        application_id: The default application: the one :meth:`items` reads and the
            pytest fixtures' client uses.
        applications: More applications the emulator knows, as ids or ``{id: name}``;
            see :meth:`add_application`. An id it does not know is answered with code
            558 (``EmulatorModes.unknown_application``).
        state_dir: When given, ``credentials.json`` (and with TLS ``ca.pem``) are written
            there on start.
        child_accounts: Child accounts by parent account id: a parent's key may sign
            for its children (``iss`` = the child's id, the parent's ``kid``); each child
            has storage of its own. See :meth:`add_child_account`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        clock: Clock | None = None,
        token_clock: Clock | None = None,
        seed: int | None = None,
        faults: Faults | None = None,
        modes: EmulatorModes | None = None,
        rate_limit: RateLimit | None = None,
        rate_clock: Clock | None = None,
        accounts: Sequence[Credentials] | None = None,
        application_id: int = DEFAULT_APPLICATION_ID,
        applications: Mapping[int, str | None] | Iterable[int] = (),
        state_dir: str | os.PathLike[str] | None = None,
        child_accounts: Mapping[int | str, Iterable[int | str]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.application_id = application_id
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._core = Core(
            clock=clock or time.time,
            token_clock=token_clock,
            modes=modes or EmulatorModes(),
            faults=faults or Faults(),
            seed=seed,
            rate_limit=rate_limit,
            rate_clock=rate_clock,
        )
        self.add_application(application_id)
        named = applications if isinstance(applications, Mapping) else dict.fromkeys(applications)
        for app, name in named.items():
            self.add_application(app, name=name)
        self._accounts: list[Credentials] = []
        for creds in accounts or [generate_credentials()]:
            self.add_account(creds)
        self._runner: web.AppRunner | None = None
        for parent, children in (child_accounts or {}).items():
            for child in children:
                self.add_child_account(child, parent=parent)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Emulator {self.url if self.port else self.host} {state}>"

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and serve; the state (store, counters) is kept from any earlier run."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        sock = socket.create_server((self.host, self.port), family=_family(self.host))
        self.port = sock.getsockname()[1]
        runner = web.AppRunner(
            make_app(self._core),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            await web.SockSite(runner, sock, ssl_context=self._server_ssl()).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        if self.state_dir is not None:
            self.write_state(self.state_dir)

    async def stop(self) -> None:
        """Stop listening and close every connection; the state is kept."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def open_connections(self) -> int:
        """Client connections open right now (0 when stopped)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    @property
    def running(self) -> bool:
        """Whether the emulator is serving."""
        return self._runner is not None

    # --- how to reach it --------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``https://127.0.0.1:8443``."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. ``https://127.0.0.1:8443/platform_api``."""
        return f"{self.url}/platform_api"

    @property
    def endpoint(self) -> str:
        """``host:port``, the form the official SDKs take as ``endpoint``."""
        return self.url.split("://", 1)[1]

    @property
    def control_url(self) -> str:
        """The root of the control endpoints (loopback peers only)."""
        return f"{self.url}{CONTROL_PREFIX}"

    @property
    def credentials(self) -> Credentials:
        """The service account to sign tokens with."""
        return self._accounts[0]

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client-side context trusting the emulator's certificate; ``None`` without TLS."""
        return client_ssl_context() if self.tls else None

    @property
    def ca_file(self) -> Path | None:
        """A PEM file with the CA that signed the emulator's certificate; ``None`` without TLS."""
        if not self.tls:
            return None
        if self.state_dir is not None and (self.state_dir / "ca.pem").exists():
            return self.state_dir / "ca.pem"
        return ca_file()

    def add_account(self, credentials: Credentials) -> None:
        """Also accept tokens signed with ``credentials`` (e.g. a second key)."""
        public_key = credentials.private_key.public_key()
        self._core.add_account(Account(credentials.account_id, credentials.key_id, public_key))
        self._accounts.append(credentials)

    def add_child_account(self, child_id: int | str, *, parent: int | str | None = None
                          ) -> None:
        """Make ``child_id`` a child account of ``parent`` (default: :attr:`credentials`'
        account): tokens signed with the parent's key and ``iss`` = ``child_id`` are
        accepted and work on the child's own storage; any other ``iss`` is code 100."""
        self._core.add_child_account(
            child_id, self.credentials.account_id if parent is None else parent)

    def add_application(self, application_id: int, *, name: str | None = None) -> None:
        """Know ``application_id`` (with ``name``, recorded for :attr:`applications`):
        calls for it are answered from its own storage instead of with code 558.

        Raises:
            ValueError: ``application_id`` is not a positive int, or ``name`` is empty.
        """
        if isinstance(application_id, bool) or not isinstance(application_id, int) \
                or application_id < 1:
            raise ValueError(
                f"application_id must be a positive int, got {application_id!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"application name must be a non-empty str, got {name!r}")
        self._core.applications[application_id] = name

    @property
    def applications(self) -> dict[int, str | None]:
        """The applications the emulator knows: their names (``None``: unnamed) by id."""
        return dict(self._core.applications)

    @property
    def child_accounts(self) -> list[str]:
        """The child accounts' ids, as text."""
        return sorted(self._core.child_stores)

    @property
    def clock(self) -> Clock:
        """The storage clock: the :class:`FakeClock` given as ``clock=``, if one was."""
        return self._core.store.clock

    def write_state(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``credentials.json`` (mode 0600) and, with TLS, ``ca.pem`` into ``folder``."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        written = {"credentials": self.credentials.to_file(path / "credentials.json")}
        if self.tls:
            (path / "ca.pem").write_bytes(ca_pem())
            written["ca"] = path / "ca.pem"
        return written

    # --- controls and introspection ---------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The faults in force; assign a new :class:`Faults` to change them."""
        return self._core.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._core.faults = faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault settings, e.g. ``emu.set_faults(http_503=0.1)``."""
        self.faults = self.faults.evolve(changes)
        return self.faults

    @property
    def modes(self) -> EmulatorModes:
        """The answers chosen for UNKNOWN behaviours; assign to change them."""
        return self._core.modes

    @modes.setter
    def modes(self, modes: EmulatorModes) -> None:
        self._core.modes = modes

    def set_modes(self, **changes: Any) -> EmulatorModes:
        """Change some modes, e.g. ``emu.set_modes(missing_get="error")``."""
        self.modes = self.modes.evolve(changes)
        return self.modes

    @property
    def rate_limit(self) -> RateLimit:
        """The server-side rate limit; assign a new :class:`RateLimit` to change it."""
        return self._core.rate_limit

    @rate_limit.setter
    def rate_limit(self, rate_limit: RateLimit) -> None:
        self._core.rate_limit = rate_limit

    def set_rate_limit(self, **changes: Any) -> RateLimit:
        """Change some rate-limit settings, e.g. ``emu.set_rate_limit(rate=300)``."""
        self.rate_limit = self.rate_limit.evolve(changes)
        return self.rate_limit

    def seed(self, seed: int | None) -> None:
        """Restart the fault injector's random sequence from ``seed``."""
        self._core.injector.seed(seed)

    @property
    def stats(self) -> EmulatorStats:
        """Counters: requests, connections, tokens, signature checks, errors, faults,
        throttled requests."""
        return self._core.stats

    def dump(self, *, account_id: int | str | None = None) -> dict[int, list[Item]]:
        """Every live pair, by application id, sorted by key (of a child account's own
        storage with ``account_id``)."""
        return self._core.store_of(account_id).dump()

    def items(self, application_id: int | None = None, *,
              account_id: int | str | None = None) -> dict[str, str]:
        """The live pairs of an application (the default one) as ``{key: value}``; of a
        child account's storage with ``account_id``."""
        app = self.application_id if application_id is None else application_id
        return {i.key: i.value for i in self.dump(account_id=account_id).get(app, [])}

    def reset(self) -> None:
        """Empty the store, zero the counters, refill the rate limit's bucket; the
        settings (faults, modes, rate limit, applications, child accounts) stay."""
        self._core.reset()

    def _server_ssl(self) -> ssl.SSLContext | None:
        return server_ssl_context() if self.tls else None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
