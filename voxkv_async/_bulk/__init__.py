"""Bulk operations over streaming input: ``set_many``, ``get_many``, ``delete_many``.

One room per concern:

- :mod:`.operations`: the three operations, turning input into items and calls;
- :mod:`.engine`: the run itself (producer, workers, queue, accounting);
- :mod:`.pacing`: how fast to send (the adaptive rate);
- :mod:`.report`: what a run did (:class:`BulkReport`, :class:`BulkFailure`);
- :mod:`.options`: :class:`BulkOptions` and their checks; :mod:`.progress`: progress;
- :mod:`.protocol`: :class:`BulkClient`, all the package knows of the client.

The client's ``set_many``/``get_many``/``delete_many`` call these; the package never
imports the client.
"""

from ._legacy_rate import AdaptiveRate
from .operations import ItemLike, KeysInput, SetInput, delete_many, get_many, set_many
from .options import BulkOptions
from .protocol import BulkClient
from .report import BulkError, BulkFailure, BulkReport

__all__ = [
    "AdaptiveRate",
    "BulkClient",
    "BulkError",
    "BulkFailure",
    "BulkOptions",
    "BulkReport",
    "ItemLike",
    "KeysInput",
    "SetInput",
    "delete_many",
    "get_many",
    "set_many",
]
