"""voxkv import reads its input once (issue 18, items A, D and E), over real processes.

A pipe (``<(cat rows)``, a named pipe, ``/dev/stdin``) can be read only once: the rows
must all be sent, or the run refused before any request; never "every row written" for
rows never read. A file replaced at its path while the run starts must not bind the
checkpoint to the version that was not read. The resume command printed after an
interruption must resume when run exactly as printed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import Voxkv, summary, wait_for, write_jsonl

N = 600
PYTHON = f"{shlex.quote(sys.executable)} -m voxkv_async"


def rows_file(voxkv: Voxkv, n: int = N, name: str = "rows.jsonl", tag: str = "v") -> Path:
    return write_jsonl(voxkv.cwd / name,
                       [{"key": f"p:{i}", "value": f"{tag}-{i}"} for i in range(n)])


def wanted(path: Path) -> dict[str, str]:
    rows = (json.loads(line) for line in path.read_text().splitlines())
    return {row["key"]: row["value"] for row in rows}


def shell(voxkv: Voxkv, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash, where ``$VOXKV`` is the command."""
    return subprocess.run(["bash", "-c", script], env={**voxkv.env, "VOXKV": PYTHON},
                          cwd=voxkv.cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


# --- A: pipes are read once ------------------------------------------------------------------


@pytest.mark.parametrize("progress", ["--progress", "--no-progress"])
def test_process_substitution_without_checkpoint_writes_every_row(
    voxkv: Voxkv, progress: str
) -> None:
    source = rows_file(voxkv)
    done = shell(voxkv, f"$VOXKV import <(cat rows.jsonl) {progress} --json")
    assert done.returncode == 0, done.stderr
    result = summary(done)
    assert (result["rows"], result["written"]) == (N, N)
    assert voxkv.emu.items() == wanted(source)


def test_dev_stdin_from_a_pipe_writes_every_row(voxkv: Voxkv) -> None:
    source = rows_file(voxkv)
    done = shell(voxkv, "cat rows.jsonl | $VOXKV import /dev/stdin --progress --json")
    assert done.returncode == 0, done.stderr
    assert summary(done)["written"] == N
    assert voxkv.emu.items() == wanted(source)


def test_named_pipe_writes_every_row(voxkv: Voxkv) -> None:
    source = rows_file(voxkv)
    os.mkfifo(voxkv.cwd / "fifo")
    done = shell(voxkv, "cat rows.jsonl > fifo & $VOXKV import fifo --progress --json; "
                 "rc=$?; wait; exit $rc")
    assert done.returncode == 0, done.stderr
    assert summary(done)["written"] == N
    assert voxkv.emu.items() == wanted(source)


# How each kind of pipe is given; a named pipe's writer is released at the end (``3<>``
# opens it without blocking) if the import never opened it.
_PIPES = {
    "process substitution": "$VOXKV import <(cat rows.jsonl) {flags}",
    "/dev/stdin": "cat rows.jsonl | $VOXKV import /dev/stdin {flags}",
    "named pipe": "cat rows.jsonl > fifo & $VOXKV import fifo {flags}; rc=$?; "
                  "exec 3<>fifo; wait; exit $rc",
}


@pytest.mark.parametrize("pipe", sorted(_PIPES))
def test_a_pipe_with_checkpoint_is_refused_before_any_request(voxkv: Voxkv,
                                                               pipe: str) -> None:
    rows_file(voxkv)
    os.mkfifo(voxkv.cwd / "fifo")
    done = shell(voxkv, _PIPES[pipe].format(flags="--checkpoint c.ckpt --json"))
    assert done.returncode == 2, done.stderr
    assert "--checkpoint needs a regular file" in done.stderr
    assert summary(done)["status"] == "error"
    assert voxkv.sets() == 0
    assert not (voxkv.cwd / "c.ckpt").exists()


def test_dev_stdin_redirected_from_a_file_can_be_checkpointed(voxkv: Voxkv) -> None:
    source = rows_file(voxkv)
    done = shell(voxkv, "$VOXKV import /dev/stdin --checkpoint c.ckpt --progress --json "
                 "< rows.jsonl")
    assert done.returncode == 0, done.stderr
    assert summary(done)["written"] == N
    assert voxkv.emu.items() == wanted(source)


# --- D: the fingerprint is of the bytes read ---------------------------------------------------

# Replaces the input by another version (atomically, by rename) at the first file opened
# after the input itself: the moment between opening the input and fingerprinting it.
_REPLACE_AFTER_OPEN = textwrap.dedent("""\
    import os, sys
    _state = {"opened": False, "done": False}
    def _hook(event, args):
        if event != "open" or _state["done"] or not isinstance(args[0], str):
            return
        name = os.path.basename(args[0])
        if name == "in.jsonl" and not _state["opened"]:
            _state["opened"] = True
        elif _state["opened"]:
            _state["done"] = True
            os.replace(os.environ["REPLACE_WITH"], os.environ["REPLACE_TARGET"])
    sys.addaudithook(_hook)
""")


def test_a_file_replaced_after_it_was_opened_never_resumes_into_the_wrong_version(
    voxkv: Voxkv,
) -> None:
    first = rows_file(voxkv, 2000, "in.jsonl", tag="old")
    second = rows_file(voxkv, 2000, "next.jsonl", tag="new")
    expected_second = wanted(second)
    hook = voxkv.cwd / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_REPLACE_AFTER_OPEN)
    env = {**voxkv.env, "PYTHONPATH": os.pathsep.join([str(hook), *sys.path]),
           "REPLACE_WITH": str(second), "REPLACE_TARGET": str(first)}
    voxkv.emu.set_faults(latency=0.02)
    proc = subprocess.Popen([sys.executable, "-m", "voxkv_async", "import", "in.jsonl",
                             "--checkpoint", "c.ckpt", "--concurrency", "8"],
                            env=env, cwd=voxkv.cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: voxkv.sets() >= 300)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not second.exists()  # the hook ran: in.jsonl now holds the new version
    voxkv.emu.set_faults(latency=0.001)
    # The run read the old version: its checkpoint must not resume the new one as if it
    # had been half written.
    done = voxkv("import", "in.jsonl", "--checkpoint", "c.ckpt", "--json")
    if done.returncode == 0:
        assert voxkv.emu.items() == expected_second
    else:
        assert done.returncode == 2, done.stderr
        assert "was made for another input" in done.stderr


def test_a_file_rewritten_in_place_during_the_run_is_not_reported_written(
    voxkv: Voxkv,
) -> None:
    source = rows_file(voxkv, 3000, "in.jsonl", tag="old")
    voxkv.emu.set_faults(latency=0.02)
    proc = voxkv.start("import", "in.jsonl", "--checkpoint", "c.ckpt", "--concurrency", "8",
                       "--json")
    wait_for(lambda: voxkv.sets() >= 300)
    with source.open("r+b") as f:  # the last row, not read yet: same length, new value
        data = f.read()
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
        f.seek(len(data) - len(last) - 1)
        f.write(last.replace(b"old-", b"new-"))
    voxkv.emu.set_faults(latency=0.001)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "in.jsonl changed while it was read (rewritten in place)" in err
    result = json.loads(out)
    assert (result["input_changed"], result["checkpoint_kept"]) == (True, True)
    assert "every row written" not in err


# --- E: the printed resume command resumes ------------------------------------------------------


# Connection flags given on the command line, not by the environment: "{NAME}" is the
# value of the environment variable NAME, which the resumed run does not get.
_CONNECTION = ["--credentials", "{VOXIMPLANT_CREDENTIALS}", "--application-id",
               "{VOXKV_APPLICATION_ID}", "--base-url", "{VOXKV_BASE_URL}", "--ca-file",
               "{VOXKV_CA_FILE}"]


@pytest.mark.parametrize(("before", "flags"), [
    ([], ["--no-progress"]),
    ([], ["--progress"]),
    ([], ["--progress", "--ttl", "3600", "--rate", "5000", "--format", "jsonl",
          "--give-up-after", "60", "--rejects=-rej.jsonl", "--json"]),
    ([], _CONNECTION),
    # --uvloop only where uvloop is installed (the `bench` extra; `test` alone has not it).
    pytest.param(["--uvloop"], _CONNECTION, marks=pytest.mark.skipif(
        importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed")),
])
def test_the_printed_resume_command_resumes_as_printed(voxkv: Voxkv, before: list[str],
                                                       flags: list[str]) -> None:
    flags = [flag.format(**voxkv.env) for flag in flags]
    source = rows_file(voxkv, 2000, "-in.jsonl")
    voxkv.emu.set_faults(latency=0.02)
    proc = voxkv.start(*before, "import", "--concurrency", "8", "--checkpoint", "j.ckpt",
                       *flags, "--", "-in.jsonl")
    wait_for(lambda: voxkv.sets() >= 300)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    voxkv.emu.set_faults(latency=0.001)
    printed = re.search(r"to resume: (.*)", err)
    assert printed, err
    words = shlex.split(printed.group(1))
    assert words[0] == "voxkv"
    for flag in before + flags:
        name = flag.partition("=")[0]
        if name.startswith("--"):
            assert any(w.partition("=")[0] == name for w in words), (flag, words)
    # Given as flags: the resumed run must get them from the printed command alone.
    env = {k: v for k, v in voxkv.env.items()
           if "--credentials" not in flags or f"{{{k}}}" not in _CONNECTION}
    done = subprocess.run([sys.executable, "-m", "voxkv_async", *words[1:]], env=env,
                          cwd=voxkv.cwd, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "skipped (written before)" in done.stderr
    assert voxkv.emu.items() == wanted(source)
    assert not (voxkv.cwd / "j.ckpt").exists()
