"""A local stand-in for the Voximplant key-value API: what moto is to AWS.

It speaks the real wire protocol over real sockets (HTTPS by default), verifies JWTs
like the service, keeps pairs in memory, and can inject faults and a server-side rate
limit. See :class:`Emulator`.
"""

from ._certs import DEFAULT_ACCOUNT_ID, generate_credentials
from ._faults import FAULT_KINDS, Faults
from ._modes import EmulatorModes
from ._ratelimit import RateLimit
from ._server import DEFAULT_APPLICATION_ID, Emulator
from ._stats import EmulatorStats
from ._store import FakeClock, Item

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_APPLICATION_ID",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorModes",
    "EmulatorStats",
    "FakeClock",
    "Faults",
    "Item",
    "RateLimit",
    "generate_credentials",
]
