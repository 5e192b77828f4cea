"""The emulator knows its applications: an unknown ``application_id`` is code 558 by default.

docs/explanation/real-api.md, "How the emulator models each unknown": the real API answers
an application that does not exist with an error, so a test against the emulator must
catch a wrong id; ``unknown_application="accept"`` keeps the old answer (any id works).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from docs._docs_support import emulator_process

from voxkv_async import ApplicationNotFoundError, Credentials, VoxKV
from voxkv_async.emulator import DEFAULT_APPLICATION_ID, Emulator

from .conftest import Api

METHODS = {
    "SetKeyValueItem": {"key": "k", "value": "v"},
    "GetKeyValueItem": {"key": "k"},
    "DelKeyValueItem": {"key": "k"},
    "GetKeyValueItems": {"key": "k"},
    "GetKeyValueKeys": {},
}


@pytest.mark.parametrize("method", sorted(METHODS))
async def test_every_method_answers_an_unknown_application_with_558(api: Api, method: str
                                                                    ) -> None:
    status, body = await api.call(method, app=77, **METHODS[method])
    assert (status, body) == (200, {"error": {"msg": "Application is not found.",
                                              "code": 558}})
    assert api.emu.stats.errors == {558: 1}
    assert api.emu.dump() == {}


async def test_the_default_and_added_applications_each_have_their_own_storage(api: Api
                                                                               ) -> None:
    assert api.emu.applications == {DEFAULT_APPLICATION_ID: None}
    api.emu.add_application(77, name="crm")
    await api.result("SetKeyValueItem", key="k", value="in 77", app=77)
    await api.result("SetKeyValueItem", key="k", value="in 1")
    assert api.emu.items(77) == {"k": "in 77"}
    assert api.emu.items() == {"k": "in 1"}
    assert api.emu.applications == {1: None, 77: "crm"}
    api.emu.reset()  # the applications are settings: a reset keeps them
    assert api.emu.applications == {1: None, 77: "crm"}


async def test_accept_mode_gives_any_application_its_own_storage(api: Api) -> None:
    api.emu.set_modes(unknown_application="accept")
    await api.result("SetKeyValueItem", key="k", value="v", app=77)
    assert api.emu.items(77) == {"k": "v"}
    assert 77 not in api.emu.applications


async def test_applications_given_at_start() -> None:
    async with Emulator(application_id=5, applications={6: "crm"}, tls=False) as by_name, \
            Emulator(applications=[2, 3], tls=False) as by_id:
        assert by_name.applications == {5: None, 6: "crm"}
        assert by_id.applications == {1: None, 2: None, 3: None}


@pytest.mark.parametrize("bad", [0, -1, True, "2", 1.0])
def test_a_bad_application_id_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValueError, match=f"application_id must be a positive int, got {bad!r}"):
        Emulator().add_application(bad)  # type: ignore[arg-type]


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="application name must be a non-empty str"):
        Emulator(applications={2: ""})


async def test_the_client_raises_application_not_found(voxkv_emulator: Emulator) -> None:
    async with VoxKV(voxkv_emulator.credentials, application_id=2,
                     base_url=voxkv_emulator.base_url, ssl=voxkv_emulator.ssl_context) as kv:
        with pytest.raises(ApplicationNotFoundError) as caught:
            await kv.set("k", "v")
    assert caught.value.code == 558
    assert str(caught.value) == ("SetKeyValueItem failed for key 'k': "
                                 "code 558: Application is not found.")
    # Never retried: one request, one error.
    assert voxkv_emulator.stats.total_requests == 1


async def _answers(env: dict[str, str], application_id: int) -> str:
    creds = Credentials.from_file(env["VOXIMPLANT_CREDENTIALS"])
    async with VoxKV(creds, application_id=application_id, base_url=env["VOXKV_BASE_URL"],
                     ca_file=env["VOXKV_CA_FILE"]) as kv:
        try:
            await kv.set("k", "v")
        except ApplicationNotFoundError as exc:
            return f"{exc.code}"
        return "ok"


@pytest.mark.parametrize(("flags", "answers"), [
    ((), {1: "ok", 5: "558", 6: "558"}),
    (("--add-application", "5=crm"), {1: "ok", 5: "ok", 6: "558"}),
    (("--unknown-application", "accept"), {1: "ok", 5: "ok", 6: "ok"}),
])
async def test_voxkv_emulator_flags(tmp_path: Path, flags: tuple[str, ...],
                                    answers: dict[int, str]) -> None:
    with emulator_process(tmp_path, *flags) as env:
        got = {app: await _answers(env, app) for app in answers}
    assert got == answers


@pytest.mark.parametrize(("flag", "bad", "says"), [
    ("--add-application", "x", "'x' is not an application: give a positive id"),
    ("--add-application", "0", "'0' is not an application: give a positive id"),
    ("--add-application", "5=", "'5=' is not an application: give a positive id"),
    ("--application-id", "0", "'0' is not an application id: give a positive integer"),
])
def test_voxkv_emulator_refuses_a_bad_application(flag: str, bad: str, says: str) -> None:
    done = subprocess.run([sys.executable, "-m", "voxkv_async", "emulator", "--port", "0",
                           flag, bad], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ})
    assert done.returncode == 2
    assert says in done.stderr



class TestThePytestFixtures:
    @pytest.fixture
    def voxkv_emulator_options(self) -> dict[str, object]:
        return {"applications": [2]}

    async def test_applications_given_in_the_options_are_known(
            self, voxkv_emulator: Emulator) -> None:
        assert voxkv_emulator.applications == {1: None, 2: None}
