"""Bulk operations over streaming input: ``set_many``, ``get_many``, ``delete_many``.

One room per concern:

- :mod:`.operations`: the three operations, turning input into items and calls;
- :mod:`.engine`: the run itself (producer, workers, outcomes, accounting);
- :mod:`.order`: input order per key, and holding a key after an unknown outcome;
- :mod:`.retries`: when an item is sent again (the retry policy's waits, the budget);
- :mod:`.gate`: what lets an attempt go (the pacer and a fixed rate limit);
- :mod:`.pacing`: how fast to send (the adaptive rate), its state in :mod:`.pacing_parts`;
- :mod:`.breaker`: pausing while the server is down;
- :mod:`.report`: what a run did (:class:`BulkReport`, :class:`BulkFailure`);
- :mod:`.options`: :class:`BulkOptions` and their checks; :mod:`.progress`: progress;
- :mod:`.protocol`: :class:`BulkClient`, all the package knows of the client: its call
  primitive (checked commands, run one attempt at a time) and its retry settings.

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
from .pacing import AdaptiveRate, PacingTuning
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
    "PacingTuning",
    "SetInput",
    "delete_many",
    "get_many",
    "set_many",
]
