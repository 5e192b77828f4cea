"""Bulk operations over streaming input: ``set_many``, ``get_many``, ``delete_many``.

One room per concern:

- :mod:`.operations`: the three operations, turning input into items and calls;
- :mod:`.engine`: the run itself (producer, workers, retries, per-key order, accounting);
- :mod:`.pacing`: how fast to send (the adaptive rate);
- :mod:`.breaker`: pausing while the server is down;
- :mod:`.report`: what a run did (:class:`BulkReport`, :class:`BulkFailure`);
- :mod:`.options`: :class:`BulkOptions` and their checks; :mod:`.progress`: progress;
- :mod:`.protocol`: :class:`BulkClient`, all the package knows of the client.

The client's ``set_many``/``get_many``/``delete_many`` call these; the package never
imports the client.
"""

from .checkpoint import (
    Checkpoint,
    CheckpointCorruptError,
    CheckpointDestinationError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointMismatchError,
)
from .operations import ItemLike, KeysInput, SetInput, delete_many, get_many, set_many
from .options import BulkOptions
from .pacing import AdaptiveRate
from .protocol import BulkClient
from .report import BulkAbortedError, BulkError, BulkFailure, BulkReport

__all__ = [
    "AdaptiveRate",
    "BulkAbortedError",
    "BulkClient",
    "BulkError",
    "BulkFailure",
    "BulkOptions",
    "BulkReport",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointDestinationError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
    "ItemLike",
    "KeysInput",
    "SetInput",
    "delete_many",
    "get_many",
    "set_many",
]
