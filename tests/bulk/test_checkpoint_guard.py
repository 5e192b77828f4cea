"""Checkpoint: locked to one run, bound to a destination, damage never taken as empty,
a deleted file noticed (issue 18, items B, C, F)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voxkv_async import (
    Checkpoint,
    CheckpointCorruptError,
    CheckpointDestinationError,
    CheckpointLockedError,
    CheckpointMismatchError,
)

HERE = {"endpoint": "https://kv.example/api", "account": "1", "application_id": "7",
        "ttl": "3600"}


# --- C: one run at a time --------------------------------------------------------------------


def test_a_second_open_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp") as first:
        first.mark_done(0)
        with pytest.raises(CheckpointLockedError) as caught:
            Checkpoint.open(path, "fp")
        assert caught.value.holder == os.getpid()
        assert f"checkpoint {path} is in use by process {os.getpid()}" in str(caught.value)
    with Checkpoint.open(path, "fp") as again:  # released by close
        assert again.resumed_done == 1
    assert not (tmp_path / "cp.lock").exists()


def test_another_process_is_refused_and_a_dead_holders_lock_is_free(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    script = textwrap.dedent(f"""
        import os, sys
        from voxkv_async import Checkpoint
        cp = Checkpoint.open({str(path)!r}, "fp")
        cp.mark_done(0)
        cp.flush_sync()
        print("held", flush=True)
        sys.stdin.read()
        os._exit(0)  # dies holding it: no close, the lock file stays
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(CheckpointLockedError, match=f"in use by process {holder.pid}"):
        Checkpoint.open(path, "fp")
    holder.communicate("", timeout=30)
    assert (tmp_path / "cp.lock").exists()  # left behind by the dead process
    with Checkpoint.open(path, "fp") as taken_over:
        assert taken_over.resumed_done == 1


def test_a_symlink_to_a_checkpoint_in_use_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    (tmp_path / "link").symlink_to(path)
    with Checkpoint.open(path, "fp"), pytest.raises(CheckpointLockedError):
        Checkpoint.open(tmp_path / "link", "fp")


def test_a_refused_open_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    Checkpoint.open(path, "fp").close()
    with pytest.raises(CheckpointMismatchError):
        Checkpoint.open(path, "other")
    Checkpoint.open(path, "fp").close()  # not locked by the refused open


# --- B: bound to a destination ------------------------------------------------------------------


def test_a_checkpoint_resumes_only_into_its_destination(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp", destination=HERE) as cp:
        cp.mark_done(0)
    elsewhere = {**HERE, "application_id": "2", "ttl": "60"}
    with pytest.raises(CheckpointDestinationError) as caught:
        Checkpoint.open(path, "fp", destination=elsewhere)
    error = caught.value
    assert isinstance(error, CheckpointMismatchError)
    assert error.differs == ["application_id", "ttl"]
    assert "application_id 7 there, 2 here; ttl 3600 there, 60 here" in str(error)
    with Checkpoint.open(path, "fp", destination=dict(HERE)) as same:
        assert same.resumed_done == 1


def test_a_checkpoint_without_a_destination_is_refused_when_one_is_given(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp") as old:  # as made by the previous version
        old.mark_done(0)
    with pytest.raises(CheckpointDestinationError, match="records no destination"):
        Checkpoint.open(path, "fp", destination=HERE)
    with Checkpoint.open(path, "fp") as unchecked:  # no destination given: not checked
        assert unchecked.resumed_done == 1


def test_compaction_keeps_the_destination(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    with Checkpoint.open(path, "fp", destination=HERE, flush_every=5000) as cp:
        for i in range(0, 400_000, 2):  # gaps everywhere: the log grows and is compacted
            cp.mark_done(i)
    assert path.stat().st_size < 300 * 1024
    with Checkpoint.open(path, "fp") as unchecked:  # keeps what is recorded...
        assert unchecked.destination == HERE
    with pytest.raises(CheckpointDestinationError):
        Checkpoint.open(path, "fp", destination={**HERE, "account": "2"})


# --- F: damage is damage, a deleted checkpoint is noticed -----------------------------------------


@pytest.mark.parametrize("content", [b"\0" * 4096, b"\0", b"\n\n", b"  \0\n"])
def test_bytes_without_a_header_are_damage_not_a_new_checkpoint(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "cp"
    path.write_bytes(content)
    with pytest.raises(CheckpointCorruptError, match="remove it to start over"):
        Checkpoint.open(path, "fp")
    assert path.read_bytes() == content


def test_all_zero_bytes_are_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    path.write_bytes(b"\0" * 4096)
    with pytest.raises(CheckpointCorruptError, match="4096 bytes, all zero"):
        Checkpoint.open(path, "fp")


def test_on_disk_tells_a_deleted_or_replaced_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    cp = Checkpoint.open(path, "fp")
    assert cp.on_disk
    path.unlink()
    assert not cp.on_disk
    cp.close()
    assert not cp.on_disk  # as it was at close
    replaced = Checkpoint.open(path, "fp")
    path.with_name("other").write_bytes(path.read_bytes())
    os.replace(path.with_name("other"), path)
    replaced.close()
    assert not replaced.on_disk
