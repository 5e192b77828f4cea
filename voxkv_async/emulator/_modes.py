"""Switchable answers for what the real API leaves UNKNOWN."""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["EmulatorModes"]

MissingGet = Literal["null", "empty", "error"]
MissingDel = Literal["zero", "error"]
KeysShape = Literal["objects", "strings"]
TtlConflict = Literal["ttl", "expires_at", "error"]
UnknownApplication = Literal["accept", "error"]


def _choice(*choices: str, help: str) -> dict[str, Any]:
    """``attrs.field`` arguments for a mode: one of ``choices``, listed for the CLI."""
    return {
        "validator": attrs.validators.in_(choices),
        "metadata": {"choices": choices, "help": help},
    }


@attrs.frozen
class EmulatorModes:
    """How the emulator answers where the real API's behaviour is not documented.

    The defaults are the emulator's best guess; switch them (at start or at run time)
    to check that a client copes with every plausible answer.

    Attributes:
        missing_get: GetKeyValueItem on a missing or expired key: ``"null"`` answers
            ``{"result": null}`` (default, like VoxEngine's own ``get``), ``"empty"``
            answers ``{"result": {}}``, ``"error"`` answers code 101, "Key ... not found".
        missing_del: DelKeyValueItem on a missing key: ``"zero"`` answers
            ``{"result": 0}`` (default), ``"error"`` answers code 101, "... not found".
        keys_shape: GetKeyValueKeys result items: ``"objects"`` gives
            ``[{"key", "expires_at"}]`` (default, the documented struct), ``"strings"``
            gives ``["k1", "k2"]``.
        ttl_conflict: SetKeyValueItem with both ``ttl`` and ``expires_at``: ``"ttl"`` wins
            (default), ``"expires_at"`` wins, or ``"error"`` answers code 101.
        unknown_application: An ``application_id`` the emulator does not know (neither
            its default application nor one added with ``Emulator.add_application``):
            ``"error"`` answers code 558, "Application is not found." (default, as the
            API's error list words it); ``"accept"`` gives it its own empty storage (the
            old default: any id works, so a wrong one goes unnoticed).
    """

    missing_get: MissingGet = attrs.field(
        default="null",
        **_choice("null", "empty", "error", help="GetKeyValueItem answer for a missing key"),
    )
    missing_del: MissingDel = attrs.field(
        default="zero", **_choice("zero", "error", help="DelKeyValueItem answer for a missing key")
    )
    keys_shape: KeysShape = attrs.field(
        default="objects", **_choice("objects", "strings", help="GetKeyValueKeys result item shape")
    )
    ttl_conflict: TtlConflict = attrs.field(
        default="ttl",
        **_choice(
            "ttl",
            "expires_at",
            "error",
            help="which wins when ttl and expires_at are both sent",
        ),
    )
    unknown_application: UnknownApplication = attrs.field(
        default="error",
        **_choice("error", "accept", help="answer for an application_id the emulator "
                  "does not know: code 558, or its own empty storage"),
    )

    def to_json(self) -> dict[str, str]:
        """The modes as a JSON object."""
        return attrs.asdict(self)

    def evolve(self, changes: dict[str, Any]) -> EmulatorModes:
        """A copy with ``changes`` applied; unknown names raise :class:`ValueError`."""
        return attrs.evolve(self, **_known(type(self), changes))


def _known(cls: type[Any], changes: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return changes
