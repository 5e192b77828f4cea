"""docs/how-to/migrate-from-sdk.md: its examples run and print what the page shows, and
its tables name the SDK's methods and parameters as the installed SDK has them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from ._docs_support import DOCS
from ._pages import run_script, titles

PAGE = "how-to/migrate-from-sdk.md"
apiclient = pytest.importorskip("voximplant.apiclient")


def test_the_page_has_its_examples() -> None:
    assert titles(PAGE) == ["side_by_side.py", "errors_side_by_side.py", "blocking_kv.py",
                            "threads.py"]


@pytest.mark.parametrize("title", ["side_by_side.py", "errors_side_by_side.py"])
def test_side_by_side(tmp_path: Path, title: str) -> None:
    run_script(PAGE, title, tmp_path)


def test_blocking_kv_from_threads(emulator_env: dict[str, str], tmp_path: Path) -> None:
    run_script(PAGE, "threads.py", tmp_path, emulator_env)


@pytest.mark.parametrize("method", ["set_key_value_item", "get_key_value_item",
                                    "del_key_value_item", "get_key_value_items",
                                    "get_key_value_keys"])
def test_the_call_table_gives_the_sdks_signatures(method: str) -> None:
    # The SDK's parameters, in its order and with its defaults, as installed.
    parameters = list(inspect.signature(getattr(apiclient.VoximplantAPI, method))
                      .parameters.values())[1:]
    written = ", ".join(p.name if p.default is inspect.Parameter.empty
                        else f"{p.name}={p.default!r}" for p in parameters)
    assert f"`{method}({written})`" in (DOCS / PAGE).read_text(encoding="utf-8")
