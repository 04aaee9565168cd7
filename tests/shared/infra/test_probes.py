"""The probes' one meaning: /healthz alive whatever happens, /readyz ready, waiting or draining."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.routing import Route

from shared.infra.probes import (
    LIVENESS_PATH,
    READINESS_PATH,
    Readiness,
    liveness,
    probe_routes,
)


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
