"""Following a capture request's resource, in process, in both protocol eras, on SQLite and
on PostgreSQL: a watch while the client follows it, one update when it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from mcp import Client, MCPError
from mcp.client.session import IncomingMessage
from mcp.server.subscriptions import ResourceUpdated
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    ResourceUpdatedNotification,
    TextResourceContents,
)
from starlette.applications import Starlette

from mcp_server.auth import LOCAL_REQUESTER
from mcp_server.bus import ResourceBus
from mcp_server.following import Following
from mcp_server.resources import REFERENCE_URI
from mcp_server.server import CaptureServer, build_server
from shared import Broadcast
from shared.simulator import SAMPLES, Simulator
from tests.conftest import FakeClock
from tests.mcp_server.conftest import PROCESSING_SECONDS, capture_body, make_settings
from tests.mcp_server.watching import (
    SteppedWatchers,
    request_uri,
    subscribe,
    unreachable_store,
    unsubscribe,
    watch_of,
    watched_opener,
    watched_server,
)

LOCAL = LOCAL_REQUESTER.principal
CREATED = SAMPLES["created"].request_id
IN_QUEUE_FOREVER = SAMPLES["in_queue"].request_id
UNKNOWN = "00000000-0000-4000-8000-00000000dead"
#: the longest any answer of the server is awaited (no sleeping: bounded waits)
WITHIN = 10.0

T = TypeVar("T")


@pytest.fixture
def watchers() -> SteppedWatchers:
    return SteppedWatchers()


@pytest.fixture
def server(
    database_url: str, sim_app: Starlette, sim_clock: FakeClock, watchers: SteppedWatchers
) -> CaptureServer:
    return watched_server(database_url, sim_app, sim_clock, watchers)


async def finish(sim_clock: FakeClock, watchers: SteppedWatchers) -> None:
    """The capture leaves the queue; the watcher checks it and delivers the news."""
    sim_clock.advance(PROCESSING_SECONDS)
    assert await watchers.step() >= 2  # one check and at least one notice


async def followed_by(watchers: SteppedWatchers, principal: str = LOCAL) -> list[str]:
    """The requests ``principal`` follows (once the server's core is open)."""
    await within(watchers.started.wait())
    return [entry.request_id for entry in await watchers.service.watches(principal)]


async def within(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(WITHIN):
        return await awaitable


class Notifications:
    """A legacy client's message handler: the resources it was told were updated."""

    def __init__(self) -> None:
        self.updated: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.updated.append(str(message.params.uri))
            self.arrived.set()


def text_of(contents: list[Any]) -> str:
    [content] = contents
    assert isinstance(content, TextResourceContents)
    return content.text


# --- 2026-07-28: subscriptions/listen -----------------------------------------------------


async def test_a_listen_stream_hears_once_when_the_followed_request_is_final(
    server: CaptureServer, sim: Simulator, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    uri = request_uri(rid)
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as stream:
        assert stream.honored.resource_subscriptions == [uri]
        assert await followed_by(watchers) == [rid]
        assert '"status": "In-Queue"' in text_of((await client.read_resource(uri)).contents)
        await finish(sim_clock, watchers)
        assert await within(anext(stream)) == ResourceUpdated(uri=uri)
        read = text_of((await client.read_resource(uri)).contents)
        assert await followed_by(watchers) == []  # told: nothing left to follow
    assert '"status": "Success"' in read
    assert watchers.watcher.stats.notices_sent == 1
    assert watchers.watcher.stats.checks == 1


async def test_the_servers_own_watcher_announces_the_end_by_itself(
    database_url: str, sim_app: Starlette, sim: Simulator, sim_clock: FakeClock
) -> None:
    server = build_server(  # the watcher runs in the background, as in production
        make_settings(), service_opener=watched_opener(database_url, sim_app, sim_clock)
    )
    uri = request_uri(sim.submit(capture_body()))
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as stream:
        sim_clock.advance(PROCESSING_SECONDS)  # final, and the watch's check is due
        assert await within(anext(stream)) == ResourceUpdated(uri=uri)


async def test_ending_the_stream_stops_its_watch(
    server: CaptureServer, sim: Simulator, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    async with Client(server) as client:
        async with client.listen(resource_subscriptions=[request_uri(rid)]):
            assert await watch_of(watchers.service, rid) is not None
        place, stopped = await watchers.service.next_unwatch(WITHIN)
        assert place == server.following.place(request_uri(rid))
        assert stopped == 1
        assert await followed_by(watchers) == []
        assert await watch_of(watchers.service, rid) is None  # nobody else followed it


async def test_a_watch_that_gave_up_is_announced_and_listening_again_starts_a_new_one(
    server: CaptureServer, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    uri = request_uri(IN_QUEUE_FOREVER)
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as first:
        sim_clock.advance(12 * 3600 + 1)  # still In-Queue when the watch's 12 h are over
        assert await watchers.step() == 2
        assert await within(anext(first)) == ResourceUpdated(uri=uri)
        assert await watch_of(watchers.service, IN_QUEUE_FOREVER) is None
        async with client.listen(resource_subscriptions=[uri]):
            assert await watch_of(watchers.service, IN_QUEUE_FOREVER) is not None
            assert await followed_by(watchers) == [IN_QUEUE_FOREVER]


async def test_a_request_final_already_is_followed_without_a_watch(
    server: CaptureServer, watchers: SteppedWatchers
) -> None:
    uri = request_uri(CREATED)
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as stream:
        assert stream.honored.resource_subscriptions == [uri]
        assert await followed_by(watchers) == []
        assert '"status": "Success"' in text_of((await client.read_resource(uri)).contents)


async def test_an_unknown_request_cannot_be_followed_and_the_answer_says_why(
    server: CaptureServer, watchers: SteppedWatchers
) -> None:
    uri = request_uri(UNKNOWN)
    async with Client(server) as client:
        with pytest.raises(MCPError) as read:
            await client.read_resource(uri)
        with pytest.raises(MCPError) as listened:
            async with client.listen(resource_subscriptions=[uri]):
                pass
        assert await followed_by(watchers) == []
    assert listened.value.error.code == INVALID_PARAMS
    assert listened.value.error.message == read.value.error.message
    assert "No request with this id was found" in listened.value.error.message


async def test_one_request_refused_stops_the_watches_the_stream_had_started(
    server: CaptureServer, sim: Simulator, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    async with Client(server) as client:
        with pytest.raises(MCPError):
            async with client.listen(
                resource_subscriptions=[request_uri(rid), request_uri(UNKNOWN)]
            ):
                pass
        _, stopped = await watchers.service.next_unwatch(WITHIN)
        assert stopped == 1
        assert await watch_of(watchers.service, rid) is None


async def test_other_resources_and_list_changes_are_honored_without_a_watch(
    server: CaptureServer, watchers: SteppedWatchers
) -> None:
    async with (
        Client(server) as client,
        client.listen(tools_list_changed=True, resource_subscriptions=[REFERENCE_URI]) as stream,
    ):
        assert stream.honored.tools_list_changed is True
        assert stream.honored.resource_subscriptions == [REFERENCE_URI]
        assert await followed_by(watchers) == []


async def test_while_the_store_is_down_following_is_refused_and_reading_still_works(
    sim_app: Starlette, sim: Simulator, sim_clock: FakeClock
) -> None:
    server = build_server(
        make_settings(),
        service_opener=unreachable_store(sim_app, sim_clock),
        watcher_runner=SteppedWatchers(),
    )
    uri = request_uri(sim.submit(capture_body()))
    async with Client(server) as client:
        with pytest.raises(MCPError) as refused:
            async with client.listen(resource_subscriptions=[uri]):
                pass
        read = text_of((await client.read_resource(uri)).contents)
    assert refused.value.error.code == INTERNAL_ERROR
    assert refused.value.error.message.startswith("capture-status cannot watch right now")
    assert '"status": "In-Queue"' in read


async def test_a_stream_may_follow_at_most_the_servers_cap_of_requests(
    database_url: str, sim_app: Starlette, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    server = watched_server(
        database_url, sim_app, sim_clock, watchers, settings=make_settings(mcp_max_ids=2)
    )
    uris = [request_uri(f"00000000-0000-4000-8000-00000000000{n}") for n in range(3)]
    async with Client(server) as client:
        with pytest.raises(MCPError) as refused:
            async with client.listen(resource_subscriptions=uris):
                pass
    assert refused.value.error.code == INVALID_PARAMS
    assert refused.value.error.message == (
        "One stream follows at most 2 capture requests, and this one asked for 3. Split them "
        "over several streams."
    )


async def test_both_eras_are_told_the_server_can_follow_resources(server: CaptureServer) -> None:
    for mode in ("auto", "legacy"):
        async with Client(server, mode=mode) as client:
            resources = client.server_capabilities.resources
            assert resources is not None
            assert resources.subscribe is True, mode


# --- earlier eras: resources/subscribe and resources/unsubscribe -------------------------


async def test_a_legacy_session_is_told_when_the_subscribed_request_is_final(
    server: CaptureServer, sim: Simulator, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    uri = request_uri(rid)
    notes = Notifications()
    async with Client(server, mode="legacy", message_handler=notes) as client:
        await subscribe(client, uri)
        await subscribe(client, uri)  # twice changes nothing
        assert await followed_by(watchers) == [rid]
        await finish(sim_clock, watchers)
        await within(notes.arrived.wait())
        read = text_of((await client.read_resource(uri)).contents)
    assert notes.updated == [uri]
    assert '"status": "Success"' in read


async def test_unsubscribing_stops_the_watch(
    server: CaptureServer, sim: Simulator, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    uri = request_uri(rid)
    async with Client(server, mode="legacy") as client:
        await subscribe(client, uri)
        await unsubscribe(client, uri)
        assert await watchers.service.next_unwatch(0) == (server.following.place(uri), 1)
        assert await followed_by(watchers) == []
        assert await watch_of(watchers.service, rid) is None
        await unsubscribe(client, uri)  # not followed any more: nothing happens
        assert watchers.service.unwatched.empty()


async def test_closing_the_session_stops_what_it_still_followed(
    server: CaptureServer, sim: Simulator, watchers: SteppedWatchers
) -> None:
    rids = [sim.submit(capture_body(n)) for n in range(2)]
    async with Client(server, mode="legacy") as client:
        for rid in rids:
            await subscribe(client, request_uri(rid))
        await subscribe(client, REFERENCE_URI)  # honoured, never updated, no watch
        assert sorted(await followed_by(watchers)) == sorted(rids)
    stopped = {await watchers.service.next_unwatch(WITHIN) for _ in rids}
    assert stopped == {(server.following.place(request_uri(rid)), 1) for rid in rids}


async def test_a_legacy_subscription_to_an_unknown_request_is_refused(
    server: CaptureServer, watchers: SteppedWatchers
) -> None:
    async with Client(server, mode="legacy") as client:
        with pytest.raises(MCPError) as refused:
            await subscribe(client, request_uri(UNKNOWN))
        assert await followed_by(watchers) == []
    assert refused.value.error.code == INVALID_PARAMS
    assert "No request with this id was found" in refused.value.error.message


# --- one watch per principal and resource in a process ------------------------------------


class _Core:
    """Stands in for the core: counts the watches followed and stopped."""

    def __init__(self) -> None:
        self.followed: list[str] = []
        self.stopped: list[str] = []

    async def follow(self, request_id: str, *, uri: str, place: str, requester: object) -> bool:
        self.followed.append(place)
        return True

    async def unfollow(self, request_id: str, *, place: str, requester: object) -> None:
        self.stopped.append(place)


async def test_streams_of_one_principal_share_a_watch_that_stops_with_the_last() -> None:
    following = Following(ResourceBus(Broadcast(channel="test")), max_per_stream=5)
    core: Any = _Core()
    uri = request_uri(UNKNOWN)
    assert await following.follow(core, uri, LOCAL_REQUESTER)
    assert await following.follow(core, uri, LOCAL_REQUESTER)
    await following.unfollow(core, uri, LOCAL_REQUESTER)
    assert core.stopped == []
    assert following.followed == [uri]
    await following.unfollow(core, uri, LOCAL_REQUESTER)
    assert core.followed == [following.place(uri)] * 2  # the watch is asked for each time
    assert core.stopped == [following.place(uri)]
    assert following.followed == []


async def test_each_process_follows_from_its_own_place() -> None:
    first, second = (
        Following(ResourceBus(Broadcast(channel="test")), max_per_stream=5) for _ in range(2)
    )
    uri = request_uri(UNKNOWN)
    assert first.place(uri) != second.place(uri)
    assert first.place(uri).startswith(uri + " ")
