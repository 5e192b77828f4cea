"""docs/how-to/troubleshooting.md: every example runs and prints what the page shows, and
each symptom quoted at the top of a section is what its example really prints."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxkv_async.emulator._api import KEY_RE

from ._docs_support import BLOCK, DOCS, block, load_module, output_after
from ._pages import run_script, same_text, titles

PAGE = "how-to/troubleshooting.md"
# Against `voxkv emulator` in another process, as the tutorial starts it: the example
# runs asyncio.run() more than once, so the emulator cannot share its loop.
WITH_A_SERVER = {"one_loop_per_call.py"}
LIBRARY = {"safe_keys.py"}  # imported by another example; prints nothing itself
IN_PROCESS = [t for t in titles(PAGE) if t not in WITH_A_SERVER | LIBRARY]


def test_the_page_has_its_examples() -> None:
    assert set(titles(PAGE)) == {
        "restarted.py", "safe_keys.py", "store_by_email.py", "one_loop_per_call.py",
        "tls.py", "clock.py", "throttled.py", "timeout.py", "wrong_app.py"}


@pytest.mark.parametrize("title", IN_PROCESS)
def test_example(tmp_path: Path, title: str) -> None:
    run_script(PAGE, title, tmp_path)


def test_one_loop_per_call(emulator_env: dict[str, str], tmp_path: Path) -> None:
    run_script(PAGE, "one_loop_per_call.py", tmp_path, emulator_env)


def test_each_symptom_is_what_an_example_prints() -> None:
    printed = "\n".join(same_text(output_after(PAGE, t)) for t in titles(PAGE)
                        if t not in LIBRARY)
    sections = re.split(r"^## ", (DOCS / PAGE).read_text(encoding="utf-8"), flags=re.M)
    for section in sections[1:]:
        symptom = next(b["code"] for b in BLOCK.finditer(section) if b["lang"] == "text")
        assert same_text(symptom) in printed, section.splitlines()[0]


@pytest.fixture(scope="module")
def safe_keys(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    folder = tmp_path_factory.mktemp("safe_keys")
    return load_module(block(PAGE, "safe_keys.py"), folder / "safe_keys.py")


@given(text=st.text(max_size=60))
def test_safe_keys_round_trip_into_the_api_alphabet(safe_keys: ModuleType, text: str
                                                    ) -> None:
    key = safe_keys.encode_key(text)
    assert KEY_RE.fullmatch(key)
    assert safe_keys.decode_key(key) == text
    # Escaping goes character by character: a prefix's escape is the key's prefix.
    assert key.startswith(safe_keys.encode_key(text[: len(text) // 2]))
