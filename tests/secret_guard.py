"""A pytest plugin: no secret may reach a log record or a VoxKVError message, suite-wide.

Loaded from ``tests/conftest.py`` (``pytest_plugins = ["secret_guard"]``). For the whole
session it

* sets the root logger to DEBUG and attaches a recording handler to it, so every
  record of every library is seen at its most verbose (formatted, with exception text);
* records the message of every :class:`~voxkv_async.VoxKVError` made;
* learns secret values: every value the client sends with ``SetKeyValueItem`` (16
  characters or more, so short words do not cause false alarms) and whatever a test
  passes to :func:`register_secret`;

and after each test fails it (in teardown) if a record or message made during it holds
a JWT (``eyJ...``), a PEM ``PRIVATE KEY`` or a registered secret. Anything recorded
outside a test is checked at the end of the session. Reports never quote the secret:
it is masked.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
PEM = re.compile(r"PRIVATE KEY")
#: Shortest auto-registered stored value; shorter ones are too likely to occur by chance.
MIN_VALUE_LEN = 16
_PROBE = 16  # secrets are found by their first _PROBE characters, then compared whole

_secrets: dict[str, set[str]] = {}
_texts: list[tuple[str, str]] = []  # (where, text) since the last check
_outside: list[tuple[str, str]] = []  # leaks found between tests (session fixtures...)
_patched: list[tuple[Any, str, Any]] = []


def register_secret(value: str) -> None:
    """Treat ``value`` as a secret for the rest of the session (at least 8 characters)."""
    if isinstance(value, str) and len(value) >= 8:
        _secrets.setdefault(value[:_PROBE], set()).add(value)


def find_secret(text: str) -> str | None:
    """What kind of secret ``text`` holds, or ``None``."""
    if JWT.search(text):
        return "a JWT"
    if PEM.search(text):
        return "a PEM private key"
    if _secrets:
        sizes = {len(p) for p in _secrets}
        for n in sizes:
            for i in range(len(text) - n + 1):
                candidates = _secrets.get(text[i : i + n])
                if candidates and any(text.startswith(c, i) for c in candidates):
                    return "a stored value or registered secret"
    return None


def mask(text: str) -> str:
    """``text`` with every known secret replaced, safe to print."""
    text = JWT.sub("<JWT>", text)
    for group in _secrets.values():
        for value in sorted(group, key=len, reverse=True):
            text = text.replace(value, "<SECRET>")
    return text[:300]


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot be formatted is a bug elsewhere
            text = f"<unformattable record: {exc!r}> {record.msg!r} {record.args!r}"
        _texts.append((f"log record from {record.name}", text))


_recorder = _Recorder()


def _patch(owner: Any, name: str, new: Any) -> None:
    _patched.append((owner, name, owner.__dict__.get(name, _MISSING)))
    setattr(owner, name, new)


_MISSING = object()


def _install_hooks() -> None:
    try:
        from voxkv_async import VoxKVError
        from voxkv_async._wire import RequestBuilder
    except ImportError:  # pragma: no cover - the plugin outlives a broken import
        return

    def init(self: BaseException, *args: Any) -> None:
        Exception.__init__(self, *args)
        _texts.append((f"{type(self).__name__} message", " ".join(map(str, args))))

    _patch(VoxKVError, "__init__", init)

    set_body = RequestBuilder.set

    def learning_set_body(self: Any, key: Any, value: Any, *rest: Any) -> str:
        body: str = set_body(self, key, value, *rest)
        if _worth_guarding(value, key):
            register_secret(value)
        return body

    _patch(RequestBuilder, "set", learning_set_body)


def _worth_guarding(value: object, key: object) -> bool:
    """Long, varied values that are not part of their key (keys are not secret)."""
    return (
        isinstance(value, str)
        and len(value) >= MIN_VALUE_LEN
        and len(set(value)) >= 6
        and not (isinstance(key, str) and value in key)
    )


def _drain() -> list[tuple[str, str]]:
    found = []
    for where, text in _texts:
        kind = find_secret(text)
        if kind:
            found.append((where, f"{kind}: {mask(text)}"))
    _texts.clear()
    return found


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    config.stash[_LEVEL] = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(_recorder)
    _install_hooks()


_LEVEL = pytest.StashKey[int]()


def pytest_unconfigure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.removeHandler(_recorder)
    root.setLevel(config.stash.get(_LEVEL, logging.WARNING))
    while _patched:
        owner, name, old = _patched.pop()
        if old is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, old)


@pytest.fixture(autouse=True)
def _secret_guard() -> Iterator[None]:
    """Fails the test, in teardown, if a secret reached a log record or error message."""
    _outside.extend(_drain())  # before the test: reported at the session's end
    yield
    leaks = _drain()
    if leaks:
        lines = "\n".join(f"  {where}: {what}" for where, what in leaks[:10])
        pytest.fail(f"secrets leaked into {len(leaks)} log record(s)/message(s):\n{lines}",
                    pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = _outside + _drain()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("secret_guard: secrets leaked outside tests:", red=True)
            for where, what in leaks[:10]:
                reporter.write_line(f"  {where}: {what}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def format_exception(exc: BaseException) -> str:
    """The full text of ``exc``: chain, notes, and traceback, as a log would show it."""
    return "".join(traceback.format_exception(exc))
