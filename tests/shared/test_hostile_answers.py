"""The core with hostile answers: bounded when parsed, explained off the event loop when large,
cached only in a form that can be shown, and one unshowable answer fails its own id alone."""

from __future__ import annotations

import json
import threading
import tracemalloc
from typing import Any

import pytest

import shared.lsq.client
import shared.lsq.upstream
import shared.service.views
from shared.errors import UnshowableAnswerError
from shared.lsq.bounds import MAX_DEPTH, MAX_FIELD_CHARS, MAX_RAW
from shared.lsq.client import LookupResult
from shared.lsq.models import CaptureStatus, parse_status
from shared.service.views import look_up, lookup_view
from shared.simulator import SAMPLES, Simulator
from shared.simulator.hostile import HOSTILE_ANSWERS
from tests.conftest import ClientFactory
from tests.hostile import HOSTILE_IDS, assert_inert, serve_hostile_answers

CREATED = SAMPLES["created"].request_id
#: a bound on the memory one hostile answer may take to parse and explain
PEAK_BYTES = 64 * 1024 * 1024


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
    return 0


def _parsed(name: str) -> CaptureStatus:
    rid = HOSTILE_IDS[name]
    text = json.dumps({"RequestId": rid, "TaskStatus": HOSTILE_ANSWERS[name]})
    return parse_status(json.loads(text), request_id=rid)


@pytest.mark.parametrize("name", list(HOSTILE_IDS))
def test_every_hostile_answer_is_bounded_when_parsed(name: str) -> None:
    status = _parsed(name)
    for field in (status.task.request_body, status.task.message):
        if field.raw is not None:
            assert len(field.raw) <= MAX_RAW + 50
        dumped = json.dumps(field.value)
        assert len(dumped) <= 4 * MAX_FIELD_CHARS  # strings are bounded; keys and quoting add
        assert _depth(field.value) <= MAX_DEPTH + 1
    assert len(status.task.status_reason or "") <= 2_100


@pytest.mark.parametrize("name", list(HOSTILE_IDS))
def test_every_hostile_answer_explains_inertly_in_bounded_memory(name: str) -> None:
    rid = HOSTILE_IDS[name]
    text = json.dumps({"RequestId": rid, "TaskStatus": HOSTILE_ANSWERS[name]})
    tracemalloc.start()
    try:
        status = parse_status(json.loads(text), request_id=rid)
        view = lookup_view(LookupResult(query=rid, request_id=rid, status=status))
        shown = view.model_dump_json()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= PEAK_BYTES
    assert_inert(shown, controls=False)  # a view is data: each medium strips controls


async def test_an_answer_nested_600_deep_is_cached_in_a_form_that_can_be_shown(
    make_client: ClientFactory, sim: Simulator
) -> None:
    serve_hostile_answers(sim)
    rid = HOSTILE_IDS["nested_600"]
    client = make_client()
    first = await look_up(client, [rid])
    again = await look_up(client, [rid])  # from the cache
    assert len(sim.calls) == 1  # the second answer came from the cache
    for views in (first, again):
        [view] = views
        assert view.found
        assert view.explanation.request_summary is not None


async def test_one_answer_that_cannot_be_shown_fails_its_own_id_and_leaves_the_cache(
    make_client: ClientFactory, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_hostile_answers(sim)
    poisoned = HOSTILE_IDS["nested_600"]
    real_explain = shared.service.views.explain

    def explain(status: CaptureStatus, *args: Any, **kwargs: Any) -> Any:
        if status.request_id == poisoned:
            raise RecursionError("maximum recursion depth exceeded")
        return real_explain(status, *args, **kwargs)

    monkeypatch.setattr(shared.service.views, "explain", explain)
    client = make_client()
    views = await look_up(client, [CREATED, poisoned, HOSTILE_IDS["single_quoted_body"]])
    assert [v.found for v in views] == [True, False, True]
    failed = views[1]
    assert failed.error is not None
    assert failed.error.code == UnshowableAnswerError.code
    assert "could not be shown" in failed.explanation.headline
    assert "recursion" not in failed.model_dump_json().lower()  # our words, not Python's
    calls_before = len(sim.calls)
    monkeypatch.setattr(shared.service.views, "explain", real_explain)
    [again] = await look_up(client, [poisoned])
    assert again.found
    assert len(sim.calls) == calls_before + 1  # it was not served from the cache


async def test_a_large_answer_is_read_and_explained_off_the_event_loop(
    make_client: ClientFactory, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_hostile_answers(sim)
    loop_thread = threading.get_ident()
    threads: dict[str, set[int]] = {"decode": set(), "parse": set(), "view": set()}
    real_decode = shared.lsq.upstream._decode_json  # pyright: ignore[reportPrivateUsage]
    real_parse, real_view = shared.lsq.client.parse_status, shared.service.views.lookup_view

    def decode(*args: Any, **kwargs: Any) -> object:
        threads["decode"].add(threading.get_ident())
        return real_decode(*args, **kwargs)

    def parse(*args: Any, **kwargs: Any) -> CaptureStatus:
        threads["parse"].add(threading.get_ident())
        return real_parse(*args, **kwargs)

    def view(*args: Any, **kwargs: Any) -> Any:
        threads["view"].add(threading.get_ident())
        return real_view(*args, **kwargs)

    monkeypatch.setattr(shared.lsq.upstream, "_decode_json", decode)
    monkeypatch.setattr(shared.lsq.client, "parse_status", parse)
    monkeypatch.setattr(shared.service.views, "lookup_view", view)
    client = make_client()
    [large] = await look_up(client, [HOSTILE_IDS["two_mb_body"]])
    assert large.found
    for step in ("decode", "parse", "view"):
        assert threads[step], step
        assert loop_thread not in threads[step], step
        threads[step].clear()
    [small] = await look_up(client, [CREATED])  # a normal answer stays on the loop: cheaper
    assert small.found
    assert threads["decode"] == threads["parse"] == threads["view"] == {loop_thread}
