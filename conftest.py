"""Fixtures shared by every package's tests: real services, started or found on loopback.

A fixture that cannot get its service skips the test with the reason; CI sets MODELOPS_REQUIRE_SERVICES=1, which
turns those skips into failures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from modelops_testing.real_services import (
    Azurite,
    OciRegistry,
    Postgres,
    ServiceUnavailable,
    azurite_server,
    fresh_database,
    oci_registry_server,
    postgres_server,
    services_required,
)

T = TypeVar("T")


def _unavailable(exc: ServiceUnavailable) -> None:
    if services_required():
        pytest.fail(f"required service unavailable (MODELOPS_REQUIRE_SERVICES is set): {exc}", pytrace=False)
    pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server_info() -> Postgres:
    try:
        return postgres_server()
    except ServiceUnavailable as exc:
        _unavailable(exc)
        raise


@pytest.fixture
def postgres(postgres_server_info: Postgres) -> Iterator[Postgres]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    with fresh_database(postgres_server_info) as db:
        yield db


def _serve(server_cm: Callable[[], contextlib.AbstractContextManager[T]]) -> Iterator[T]:
    """Run a service for a fixture's lifetime; skip (or fail, in CI) when it cannot start."""
    try:
        cm = server_cm()
        server = cm.__enter__()
    except ServiceUnavailable as exc:
        _unavailable(exc)
        raise
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """An Azurite blob emulator on a free loopback port, for the whole session."""
    yield from _serve(azurite_server)


@pytest.fixture(scope="session")
def oci_registry() -> Iterator[OciRegistry]:
    """A docker-registry (CNCF distribution) server on a free loopback port, for the whole session."""
    yield from _serve(oci_registry_server)


@pytest.fixture
def fresh_event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A new event loop as this thread's current one, closed afterwards.

    Pulumi's unit-test mocks run the program on the thread's current event loop. Libraries used by earlier tests
    (adlfs/fsspec against Azurite) can leave behind a loop that reports itself running, which makes Pulumi fail with
    "no running event loop"; tests of Pulumi programs depend on this fixture so test order never matters.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()
