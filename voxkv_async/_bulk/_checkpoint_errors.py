"""What a :class:`~voxkv_async.Checkpoint` refuses: every error it raises, by cause."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .._errors import VoxKVError

__all__ = [
    "CheckpointCorruptError",
    "CheckpointDestinationError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
]


class CheckpointError(VoxKVError, ValueError):
    """A checkpoint cannot be used or written (see the subclasses)."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint was made for another input (its fingerprint differs).

    Attributes:
        path: The checkpoint file.
        recorded, recorded_source: The fingerprint in the file, and what it describes.
        given, given_source: The fingerprint this run passed, and what it describes.
    """

    def __init__(self, path: Path, recorded: str, recorded_source: str,
                 given: str, given_source: str) -> None:
        self.path = path
        self.recorded, self.recorded_source = recorded, recorded_source
        self.given, self.given_source = given, given_source
        super().__init__(self._message())

    def _message(self) -> str:
        return (
            f"checkpoint {self.path} was made for another input: it records "
            f"{self.recorded_source} (fingerprint {self.recorded}), this run reads "
            f"{self.given_source} (fingerprint {self.given}). A checkpoint resumes only the "
            "exact input it was made for: remove it to start over, or give another "
            "checkpoint path"
        )


class CheckpointDestinationError(CheckpointMismatchError):
    """The checkpoint was made for the same input but another destination.

    Its rows recorded as done were written elsewhere (another account, application,
    endpoint, or with other options that change the stored rows): skipping them here
    would leave them missing. A checkpoint that records no destination (made by an
    older version) is refused the same way when a destination is given.

    Attributes:
        recorded_destination: What the file records (``None``: nothing recorded).
        given_destination: What this run passed.
        differs: The names of the fields that differ.
    """

    def __init__(self, path: Path, fingerprint: str, source: str,
                 recorded: Mapping[str, str] | None, given: Mapping[str, str]) -> None:
        self.recorded_destination = dict(recorded) if recorded is not None else None
        self.given_destination = dict(given)
        old = self.recorded_destination or {}
        self.differs = sorted(name for name in {*old, *given} if old.get(name) != given.get(name))
        super().__init__(path, fingerprint, source, fingerprint, source)

    def _message(self) -> str:
        if self.recorded_destination is None:
            return (f"checkpoint {self.path} records no destination (it was made by an "
                    "older version), so it cannot show that its rows were written where "
                    "this run writes: remove it to start over (a Set is idempotent)")
        old, new = self.recorded_destination, self.given_destination
        what = "; ".join(f"{name} {old.get(name, '(none)')} there, "
                         f"{new.get(name, '(none)')} here" for name in self.differs)
        return (f"checkpoint {self.path} was made for another destination: {what}. Its "
                "rows recorded as written were written there: resume with the same "
                "destination and options, or remove it to start over")


class CheckpointCorruptError(CheckpointError):
    """The file is not a checkpoint, or is damaged before its last record."""


class CheckpointLockedError(CheckpointError):
    """Another run holds the checkpoint: two runs on one checkpoint would both send
    every row and record each other's progress.

    Attributes:
        path: The checkpoint file.
        holder: The process id of the run holding it, if known.
    """

    def __init__(self, path: Path, holder: int | None) -> None:
        self.path = path
        self.holder = holder
        who = f"process {holder}" if holder else "another process"
        super().__init__(f"checkpoint {path} is in use by {who} (another run with the same "
                         "checkpoint): wait for it to end, or stop it; its lock is released "
                         "when it exits, however it exits")
