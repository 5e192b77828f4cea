"""Credentials: loading, clear errors naming file and field, never showing the key."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from voxkv_async import CREDENTIALS_ENV_VAR, Credentials, CredentialsError, VoxKVError


def pem_of(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


@pytest.fixture
def good(private_key) -> dict:
    return {
        "account_email": "svc@example.com",
        "account_id": 4242,
        "key_id": "kid-1",
        "private_key": pem_of(private_key),
    }


def write(tmp_path: Path, content: str, mode: int = 0o600) -> Path:
    p = tmp_path / "credentials.json"
    p.write_text(content, encoding="utf-8")
    p.chmod(mode)
    return p


def pem_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_from_file_loads_rsa_key(tmp_path, good, private_key) -> None:
    creds = Credentials.from_file(write(tmp_path, json.dumps(good)))
    assert creds.account_id == 4242
    assert creds.key_id == "kid-1"
    assert creds.account_email == "svc@example.com"
    assert creds.issuer == "4242"
    assert creds.private_key.private_numbers() == private_key.private_numbers()
    assert creds.source == str(tmp_path / "credentials.json")


def test_from_file_accepts_pathlike_and_str(tmp_path, good) -> None:
    p = write(tmp_path, json.dumps(good))
    assert Credentials.from_file(str(p)).key_id == Credentials.from_file(p).key_id


def test_missing_file_names_the_file(tmp_path) -> None:
    p = tmp_path / "nowhere" / "credentials.json"
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(p)
    assert str(p) in str(info.value)
    assert info.value.source == str(p)
    assert info.value.field is None
    assert isinstance(info.value, VoxKVError)


def test_bad_json_names_the_file_and_not_the_content(tmp_path, good) -> None:
    text = json.dumps(good)[:-10]  # cut inside the private key
    p = write(tmp_path, text)
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(p)
    msg = str(info.value)
    assert str(p) in msg
    assert "JSON" in msg
    for line in pem_body_lines(good["private_key"])[:3]:
        assert line not in msg


def test_json_not_an_object(tmp_path) -> None:
    p = write(tmp_path, "[1, 2]")
    with pytest.raises(CredentialsError, match="object") as info:
        Credentials.from_file(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("field", ["account_id", "key_id", "private_key"])
def test_missing_field_names_file_and_field(tmp_path, good, field) -> None:
    del good[field]
    p = write(tmp_path, json.dumps(good))
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(p)
    assert info.value.field == field
    assert field in str(info.value)
    assert str(p) in str(info.value)


def test_account_email_is_optional(good) -> None:
    del good["account_email"]
    assert Credentials.from_dict(good).account_email is None


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("account_id", True),
        ("account_id", None),
        ("account_id", ""),
        ("account_id", 1.5),
        ("key_id", 5),
        ("key_id", ""),
        ("private_key", 5),
        ("private_key", ""),
        ("account_email", 7),
    ],
)
def test_wrong_type_names_field(good, field, bad) -> None:
    good[field] = bad
    with pytest.raises(CredentialsError) as info:
        Credentials.from_dict(good, source="my-creds.json")
    assert info.value.field == field
    assert "my-creds.json" in str(info.value)
    assert field in str(info.value)


def test_string_account_id_accepted(good) -> None:
    good["account_id"] = "4242"
    assert Credentials.from_dict(good).issuer == "4242"


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["ec", "ed25519"],
)
def test_non_rsa_key_refused(tmp_path, good, make_key) -> None:
    good["private_key"] = pem_of(make_key())
    p = write(tmp_path, json.dumps(good))
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(p)
    msg = str(info.value)
    assert info.value.field == "private_key"
    assert "RSA" in msg
    assert str(p) in msg
    for line in pem_body_lines(good["private_key"]):
        assert line not in msg


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZS1nYXJiYWdl\n-----END PRIVATE KEY-----\n",
        "not a pem at all",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
        "-----END PUBLIC KEY-----\n",
    ],
)
def test_garbage_pem_refused_without_echo(tmp_path, good, pem) -> None:
    good["private_key"] = pem
    p = write(tmp_path, json.dumps(good))
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(p)
    msg = str(info.value)
    assert info.value.field == "private_key"
    assert str(p) in msg
    assert "Z2FyYmFnZS1nYXJiYWdl" not in msg
    assert "not a pem at all" not in msg
    assert info.value.__cause__ is None


def test_encrypted_pem_refused(good, private_key) -> None:
    good["private_key"] = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(CredentialsError) as info:
        Credentials.from_dict(good)
    assert info.value.field == "private_key"


def test_from_env(tmp_path, good, monkeypatch) -> None:
    p = write(tmp_path, json.dumps(good))
    monkeypatch.setenv(CREDENTIALS_ENV_VAR, str(p))
    assert CREDENTIALS_ENV_VAR == "VOXIMPLANT_CREDENTIALS"
    assert Credentials.from_env().key_id == "kid-1"
    monkeypatch.setenv("OTHER_VAR", str(p))
    assert Credentials.from_env("OTHER_VAR").account_id == 4242


@pytest.mark.parametrize("value", [None, ""])
def test_from_env_unset_names_the_variable(monkeypatch, value) -> None:
    if value is None:
        monkeypatch.delenv(CREDENTIALS_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(CREDENTIALS_ENV_VAR, value)
    with pytest.raises(CredentialsError, match="VOXIMPLANT_CREDENTIALS"):
        Credentials.from_env()


def test_from_env_pointing_nowhere_names_the_file(tmp_path, monkeypatch) -> None:
    p = tmp_path / "missing.json"
    monkeypatch.setenv(CREDENTIALS_ENV_VAR, str(p))
    with pytest.raises(CredentialsError) as info:
        Credentials.from_env()
    assert str(p) in str(info.value)


def test_repr_and_str_never_show_the_key(good) -> None:
    creds = Credentials.from_dict(good)
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}"):
        assert "PRIVATE KEY" not in text
        for line in pem_body_lines(good["private_key"]):
            assert line not in text
        assert "hidden" in text
        assert "kid-1" in text
        assert "4242" in text


def test_mode_0644_logs_a_warning(tmp_path, good, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="voxkv_async")
    p = write(tmp_path, json.dumps(good), mode=0o644)
    Credentials.from_file(p)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "voxkv_async"
    msg = warnings[0].getMessage()
    assert str(p) in msg
    assert "644" in msg


def test_mode_0600_logs_no_warning(tmp_path, good, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="voxkv_async")
    Credentials.from_file(write(tmp_path, json.dumps(good), mode=0o600))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_to_file_writes_0600_and_round_trips(tmp_path, credentials, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="voxkv_async")
    p = credentials.to_file(tmp_path / "out.json")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    back = Credentials.from_file(p)
    assert (back.account_id, back.key_id) == (credentials.account_id, credentials.key_id)
    assert back.private_key.private_numbers() == credentials.private_key.private_numbers()
    assert back.account_email == credentials.account_email
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    data = json.loads(p.read_text())
    assert set(data) == {"account_id", "key_id", "private_key", "account_email"}


def test_to_file_over_existing_readable_file_makes_it_0600(tmp_path, credentials) -> None:
    p = tmp_path / "out.json"
    p.write_text("{}")
    p.chmod(0o644)
    credentials.to_file(p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_non_utf8_file_is_credentials_error(tmp_path) -> None:
    p = tmp_path / "credentials.json"
    p.write_bytes(b'{"account_id": 1, "key_id": "\xff\xfe"}')
    p.chmod(0o600)
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(p)
    assert str(p) in str(info.value)
