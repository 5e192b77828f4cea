"""Bulk tests run against the emulator over TLS, with retries that do not sleep."""

from __future__ import annotations

from typing import Any

import pytest

from voxkv_async import RetryPolicy, Timeouts


@pytest.fixture
def voxkv_emulator_options() -> dict[str, Any]:
    return {"seed": 7}


@pytest.fixture
def voxkv_client_options() -> dict[str, Any]:
    # Enough attempts that a 15 % fault rate almost never exhausts them; short attempt
    # timeouts (but above a loaded machine's TLS handshakes) so "slow" faults cost little.
    return {
        "retry": RetryPolicy.for_testing(max_attempts=10),
        "timeouts": Timeouts(attempt=2.0, deadline=30),
    }
