"""Fixtures of the documentation's tests: ``voxkv emulator`` run as a reader runs it."""

from __future__ import annotations

from ._docs_support import emulator_env

__all__ = ["emulator_env"]
