"""Service-account credentials: read once, keep the private key as a key object.

The official SDK re-reads and re-parses the PEM for every request (~36 ms of CPU each);
here the PEM is loaded exactly once, when the :class:`Credentials` is made.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._errors import CredentialsError

__all__ = ["CREDENTIALS_ENV_VAR", "Credentials"]

logger = logging.getLogger("voxkv_async")

CREDENTIALS_ENV_VAR = "VOXIMPLANT_CREDENTIALS"
"""The environment variable the official SDKs read the credentials path from; read by
:meth:`Credentials.from_env` and the ``voxkv`` command."""

_FIELDS = ("account_id", "key_id", "private_key")


@attrs.frozen(repr=False)
class Credentials:
    """A Voximplant service account: who signs, with which key.

    Build one with :meth:`from_file`, :meth:`from_env` or :meth:`from_dict`; the private
    key is parsed once, here, and never shown by ``repr()`` or ``str()``.

    Attributes:
        account_id: The account the tokens are issued for (the JWT ``iss`` claim). A parent
            account acting for a child puts the child's id here.
        key_id: The service-account key id (the JWT ``kid`` header).
        private_key: The RSA private key, already parsed.
        account_email: The account's e-mail, informational only.
        source: Where the credentials came from (a path or a description), for messages.
    """

    account_id: int | str
    key_id: str
    private_key: rsa.RSAPrivateKey = attrs.field(eq=False)
    account_email: str | None = None
    source: str = "<dict>"

    def __repr__(self) -> str:
        return (
            f"Credentials(account_id={self.account_id!r}, key_id={self.key_id!r}, "
            f"account_email={self.account_email!r}, private_key=<hidden>)"
        )

    __str__ = __repr__

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> Credentials:
        """Build credentials from the parsed content of a ``credentials.json``.

        Raises:
            CredentialsError: a field is missing or of the wrong type, or ``private_key``
                is not a PEM-encoded RSA private key. The message names ``source`` and the
                field, never the key material.
        """
        if not isinstance(data, Mapping):
            got = type(data).__name__
            raise CredentialsError(source, None, f"must be a JSON object, got {got}")
        for name in _FIELDS:
            if name not in data:
                raise CredentialsError(source, name, "is missing")
        account_id = data["account_id"]
        if isinstance(account_id, bool) or not isinstance(account_id, int | str) or not account_id:
            raise CredentialsError(source, "account_id", "must be a number or a non-empty string")
        key_id = data["key_id"]
        if not isinstance(key_id, str) or not key_id:
            raise CredentialsError(source, "key_id", "must be a non-empty string")
        email = data.get("account_email")
        if email is not None and not isinstance(email, str):
            raise CredentialsError(source, "account_email", "must be a string")
        return cls(
            account_id=account_id,
            key_id=key_id,
            private_key=_load_private_key(data["private_key"], source),
            account_email=email,
            source=source,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Credentials:
        """Read a ``credentials.json`` file as downloaded from the control panel.

        Logs a warning when the file is readable by group or others: it holds a private key.

        Raises:
            CredentialsError: the file is missing or unreadable, is not JSON, or a field is
                missing or invalid.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            why = exc.strerror or exc
            raise CredentialsError(str(p), None, f"cannot be read ({why})") from None
        except UnicodeDecodeError:
            raise CredentialsError(str(p), None, "is not UTF-8 text") from None
        _warn_if_exposed(p)
        try:
            data = json.loads(text)
        except ValueError as exc:
            # The message of a JSON error quotes no document text, only a position.
            raise CredentialsError(str(p), None, f"is not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_env(cls, var: str = CREDENTIALS_ENV_VAR) -> Credentials:
        """Read the credentials file named by the environment variable ``var``.

        Raises:
            CredentialsError: the variable is unset or empty, or the file is invalid.
        """
        path = os.environ.get(var)
        if not path:
            raise CredentialsError(f"${var}", None, "is not set: point it at your credentials.json")
        return cls.from_file(path)

    @property
    def issuer(self) -> str:
        """The JWT ``iss`` claim: the account id as text (the API takes either form, and
        RFC 7519 makes ``iss`` a string)."""
        return str(self.account_id)

    def to_dict(self) -> dict[str, Any]:
        """The ``credentials.json`` form, private key included as PKCS#8 PEM.

        Meant for writing a test account's file (the emulator does); handle with care.
        """
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        data: dict[str, Any] = {
            "account_id": self.account_id,
            "key_id": self.key_id,
            "private_key": pem,
        }
        if self.account_email is not None:
            data["account_email"] = self.account_email
        return data

    def to_file(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``, readable by the owner only."""
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # the mode of os.open applies only to a file it creates
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
        return p


def _load_private_key(pem: object, source: str) -> rsa.RSAPrivateKey:
    if not isinstance(pem, str | bytes) or not pem:
        raise CredentialsError(source, "private_key", "must be a PEM string")
    raw = pem.encode("utf-8") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        # cryptography's message may quote the input; say only what is wrong.
        raise CredentialsError(
            source, "private_key", "is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError(
            source, "private_key", f"must be an RSA key for RS256, got {type(key).__name__}"
        )
    return key


def _warn_if_exposed(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "credentials file %s is accessible by group or others (mode %o); "
            "it holds a private key: chmod 600 it",
            path,
            stat.S_IMODE(mode),
        )
