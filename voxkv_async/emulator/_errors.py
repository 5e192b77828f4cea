"""The emulator's internal signal for an API error envelope."""

from __future__ import annotations

__all__ = ["ApiFailure"]


class ApiFailure(Exception):
    """Answer the request with ``{"error": {"msg": msg, "code": code}}``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg

    def envelope(self) -> dict[str, dict[str, str | int]]:
        """The JSON body the API sends for this error."""
        return {"error": {"msg": self.msg, "code": self.code}}
