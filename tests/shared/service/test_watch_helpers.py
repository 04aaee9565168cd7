"""The service's small watch helpers front doors lean on: ids to watch (and their cap), the
channels' thread setting, and how watch refusals are explained."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.errors import (
    InvalidRequestIdError,
    TooManyRequestIdsError,
    TooManyWatchesError,
    WatchUnavailableError,
)
from shared.explain.engine import explain_error
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.simulator import SAMPLES, SimulatorConfig, create_app
from shared.store import WatchStore
from tests.conftest import SIM_KEY, fast_options
from tests.databases import open_test_store

IDS = [sample.request_id for sample in SAMPLES.values()]


def _service(store: WatchStore | None = None) -> CaptureService:
    client = CaptureStatusClient(
        fast_options(),
        SecretStr(SIM_KEY),
        transport=in_process_transport(create_app(SimulatorConfig(api_key=SIM_KEY))),
    )
    service = CaptureService.for_client(client)
    service.store = store
    return service


def test_the_ids_to_watch_are_every_distinct_id_in_the_text_up_to_the_cap() -> None:
    service = _service()
    text = f"{IDS[0]}, https://x.example/?RequestID={IDS[1]} and {IDS[0]} again"
    assert service.watch_ids_in(text, max_ids=2) == [IDS[0], IDS[1]]
    assert service.watch_ids_in(" ".join(IDS)) == IDS  # no cap: any number


def test_more_ids_than_the_cap_are_refused_in_the_cores_words() -> None:
    with pytest.raises(TooManyRequestIdsError) as caught:
        _service().watch_ids_in(" ".join(IDS[:11]), max_ids=10)
    assert caught.value.message == (
        "11 RequestIds were given; at most 10 are watched with one request. Watch the others "
        "in groups of 10 or fewer."
    )


@pytest.mark.parametrize("text", ["", "   ", "not-an-id"])
def test_text_without_an_id_is_refused_with_what_an_id_looks_like(text: str) -> None:
    with pytest.raises(InvalidRequestIdError):
        _service().watch_ids_in(text, max_ids=10)


async def test_thread_answers_are_on_until_a_channel_turns_them_off(database_url: str) -> None:
    async with open_test_store(database_url) as store:
        service = _service(store)
        assert await service.channel_threads("slack:T1", "C1") is True
        await service.set_channel_threads("slack:T1", "C1", False)
        assert await service.channel_threads("slack:T1", "C1") is False
        assert await service.channel_threads("slack:T2", "C1") is True  # another workspace
        await service.set_channel_threads("slack:T1", "C1", True)
        assert await service.channel_threads("slack:T1", "C1") is True


async def test_without_a_store_the_thread_setting_cannot_be_read() -> None:
    with pytest.raises(WatchUnavailableError):
        await _service().channel_threads("slack:T1", "C1")
    with pytest.raises(WatchUnavailableError):
        await _service().set_channel_threads("slack:T1", "C1", False)


def test_watch_refusals_have_their_own_headlines() -> None:
    full = explain_error(TooManyWatchesError.for_person(50))
    assert full.headline == "Too many watches"
    assert full.is_final
    down = explain_error(WatchUnavailableError.store_down())
    assert down.headline == "capture-status cannot watch right now"
    assert not down.is_final
    assert "cannot watch right now" in down.what_happened
