"""The probes' one meaning: /healthz alive whatever happens, /readyz ready, waiting or draining."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.routing import Route

from shared.accounts import Account, Accounts
from shared.infra.probes import (
    LIVENESS_PATH,
    READINESS_PATH,
    Readiness,
    liveness,
    probe_routes,
)
from shared.lsq.client import CaptureStatusClient
from shared.service.capture_service import CaptureService
from shared.store import WatchStore, async_database_url, create_store_engine, upgrade
from tests.conftest import fast_options


class Flag:
    """A condition a test turns on and off."""

    def __init__(self, why: str) -> None:
        self.holds = False
        self.why = why

    async def __call__(self) -> str | None:
        return None if self.holds else self.why


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "headers": []})


async def test_liveness_is_alive_whatever_readiness_says() -> None:
    response = await liveness(_request(LIVENESS_PATH))
    assert response.status_code == 200
    assert json.loads(bytes(response.body)) == {"status": "alive"}


async def test_readiness_waits_for_every_condition_then_is_ready() -> None:
    client, slack = Flag("the client is opening"), Flag("Slack has not answered")
    readiness = Readiness()
    readiness.require("client", client)
    readiness.require("slack", slack)
    assert await readiness.answer() == (
        503,
        {
            "status": "not_ready",
            "waiting_for": {"client": "the client is opening", "slack": "Slack has not answered"},
        },
    )
    client.holds = True
    assert await readiness.answer() == (
        503,
        {"status": "not_ready", "waiting_for": {"slack": "Slack has not answered"}},
    )
    slack.holds = True
    assert await readiness.answer() == (200, {"status": "ready"})


async def test_a_server_without_conditions_is_ready() -> None:
    assert await Readiness().answer() == (200, {"status": "ready"})


async def test_draining_is_not_ready_whatever_the_conditions_say() -> None:
    readiness = Readiness(info=lambda: {"in_flight": 2})
    assert not readiness.draining
    readiness.start_draining()
    readiness.start_draining()
    assert readiness.draining
    assert await readiness.answer() == (503, {"status": "draining", "in_flight": 2})


async def test_the_extra_fields_come_with_every_answer() -> None:
    flag = Flag("waiting")
    readiness = Readiness(info=lambda: {"in_flight": 0})
    readiness.require("flag", flag)
    assert (await readiness.answer())[1]["in_flight"] == 0
    flag.holds = True
    assert await readiness.answer() == (200, {"status": "ready", "in_flight": 0})


async def test_a_broken_check_means_not_ready_never_an_error() -> None:
    async def broken() -> str | None:
        raise RuntimeError("a bug with a secret in it")

    readiness = Readiness()
    readiness.require("broken", broken)
    status, body = await readiness.answer()
    assert status == 503
    assert body == {
        "status": "not_ready",
        "waiting_for": {"broken": "its check failed (RuntimeError)"},
    }


async def test_a_condition_required_again_replaces_the_first() -> None:
    first, second = Flag("first"), Flag("second")
    second.holds = True
    readiness = Readiness()
    readiness.require("core", first)
    readiness.require("core", second)
    assert await readiness.answer() == (200, {"status": "ready"})


async def test_the_routes_serve_both_probes_on_get() -> None:
    readiness = Readiness()
    readiness.require("core", Flag("starting"))
    routes = probe_routes(readiness)
    assert [(r.path, r.methods) for r in routes if isinstance(r, Route)] == [
        (LIVENESS_PATH, {"GET", "HEAD"}),
        (READINESS_PATH, {"GET", "HEAD"}),
    ]
    ready_route = routes[1]
    assert isinstance(ready_route, Route)
    response = await ready_route.endpoint(_request(READINESS_PATH))
    assert response.status_code == 503
    assert json.loads(bytes(response.body))["waiting_for"] == {"core": "starting"}


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/watches", "sqlite:////nonexistent-folder/watches.db"],
    ids=["postgresql refused", "sqlite folder missing"],
)
async def test_a_store_whose_database_does_not_answer_is_not_ready_naming_the_store(
    url: str,
) -> None:
    store = WatchStore(create_store_engine(async_database_url(url)))
    account = Account(name="default", base_url="http://sim", api_key=SecretStr("k"))
    async with CaptureStatusClient(fast_options(), account.api_key) as client:
        service = CaptureService(
            Accounts(by_name={"default": account}, default="default"),
            {"default": client},
            store=store,
        )
        readiness = Readiness()
        readiness.require("store", service.watch_readiness)  # as the front doors register it
        try:
            assert await readiness.answer() == (
                503,
                {
                    "status": "not_ready",
                    "waiting_for": {"store": "the database of watches does not answer"},
                },
            )
        finally:
            await store.aclose()


async def test_a_store_with_its_schema_is_ready_and_one_behind_says_to_migrate(
    tmp_path: Path,
) -> None:
    url = async_database_url(f"sqlite:///{tmp_path / 'watches.db'}")
    store = WatchStore(create_store_engine(url))
    readiness = Readiness()
    readiness.require("store", store.ready)
    try:
        status, body = await readiness.answer()
        assert status == 503
        assert "capture-status migrate" in str(body)
        await upgrade(store.engine)
        assert await readiness.answer() == (200, {"status": "ready"})
    finally:
        await store.aclose()


async def test_a_condition_that_hangs_is_not_ready_within_its_bound_and_others_are_asked() -> None:
    async def hangs() -> str | None:
        await asyncio.Event().wait()
        return None

    slack = Flag("Slack has not answered")
    readiness = Readiness(check_seconds=0.05)
    readiness.require("store", hangs)
    readiness.require("slack", slack)
    async with asyncio.timeout(5):
        assert await readiness.answer() == (
            503,
            {
                "status": "not_ready",
                "waiting_for": {
                    "store": "its check did not answer within 0.05 s",
                    "slack": "Slack has not answered",
                },
            },
        )
