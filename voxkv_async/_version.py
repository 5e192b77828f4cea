"""The package's version: written once, in ``pyproject.toml``, and read here at run time."""

from __future__ import annotations

from importlib import metadata

__all__ = ["VERSION"]

try:
    VERSION: str = metadata.version("voxkv_async")
    """The installed distribution's version (``pyproject.toml`` is the one place it is set);
    ``voxkv_async.__version__``."""
except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    VERSION = "0+unknown"
