"""The store of watches, on SQLite and on a real PostgreSQL (every test runs on both)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

import shared.store.watches as watches_module
from shared.errors import TooManyWatchesError, WatchUnavailableError
from shared.store import (
    Claim,
    NewSubscriber,
    WatchAdded,
    WatchKey,
    WatchLimits,
    WatchRecord,
    WatchStore,
    async_database_url,
    create_store_engine,
    schema_state,
    upgrade,
)
from shared.store.schema import Base
from tests.conftest import FakeClock
from tests.databases import open_test_store

KEY = WatchKey("default", "opportunity_capture", "11111111-2222-3333-4444-555555555555")
OTHER = WatchKey("default", "opportunity_capture", "99999999-2222-3333-4444-555555555555")


def person(user: str = "U1", team: str = "T1", place: str = "dm") -> NewSubscriber:
    return NewSubscriber(
        kind="slack",
        principal=f"slack:{team}:{user}",
        scope=f"slack:{team}",
        target={"team": team, "user": user},
        target_key=place,
    )


async def add(
    store: WatchStore, key: WatchKey = KEY, who: NewSubscriber | None = None, **kw: object
) -> WatchAdded:
    now = store.clock()
    values: dict[str, object] = {
        "status": "In-Queue",
        "next_check_at": now + 5,
        "expires_at": now + 3600,
    } | kw
    return await store.add(key, who or person(), **values)  # pyright: ignore[reportArgumentType]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


async def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    engine = create_store_engine(async_database_url(database_url))
    try:
        assert not (await schema_state(engine)).up_to_date
        state = await upgrade(engine)
        assert state.up_to_date
        assert (await upgrade(engine)).up_to_date  # running it again changes nothing

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_a_store_whose_schema_is_behind_says_to_run_migrate(database_url: str) -> None:
    store = WatchStore(create_store_engine(async_database_url(database_url)))
    try:
        assert "capture-status migrate" in (await store.ready() or "")
        with pytest.raises(WatchUnavailableError, match="capture-status migrate"):
            await add(store)
    finally:
        await store.aclose()


async def test_an_unreachable_database_is_cannot_watch_right_now() -> None:
    url = "postgresql://nobody@127.0.0.1:9/none"  # port 9 (discard) refuses at once
    store = WatchStore(create_store_engine(async_database_url(url)))
    try:
        assert await store.ready() == "the database of watches does not answer"
        with pytest.raises(WatchUnavailableError, match="cannot watch right now"):
            await add(store)
    finally:
        await store.aclose()


async def test_the_same_request_twice_is_one_watch_and_both_people_are_told(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        first = await add(store, who=person("U1"))
        second = await add(store, who=person("U2"))
        again = await add(store, who=person("U1"))
        assert first.new_watch
        assert first.new_subscriber
        assert not second.new_watch
        assert second.new_subscriber
        assert second.watch.id == first.watch.id
        assert not again.new_subscriber
        assert again.subscriber_id == first.subscriber_id
        [claim] = await _claim_at(store, clock, first.watch.next_check_at)
        assert await store.finish(claim, "final", status="Success", view_json=None)
        deliveries = await store.claim_deliveries("r1", kinds=["slack"], limit=10, lease_seconds=30)
        assert sorted(d.subscriber.principal for d in deliveries) == [
            "slack:T1:U1",
            "slack:T1:U2",
        ]


async def test_limits_per_person_and_per_workspace_refuse_with_what_to_do(
    database_url: str, clock: FakeClock
) -> None:
    limits = WatchLimits(per_principal=1, per_scope=2)
    async with open_test_store(database_url, clock=clock) as store:
        await add(store, KEY, person("U1"), limits=limits)
        with pytest.raises(TooManyWatchesError, match="Stop one"):
            await add(store, OTHER, person("U1"), limits=limits)
        await add(store, OTHER, person("U2"), limits=limits)
        third = WatchKey("default", "opportunity_capture", "abababab-2222-3333-4444-555555555555")
        with pytest.raises(TooManyWatchesError, match="WATCHES_PER_WORKSPACE"):
            await add(store, third, person("U3"), limits=limits)
        # another workspace has its own limit
        await add(store, third, person("U9", team="T2"), limits=limits)


async def test_unwatching_stops_only_my_subscription_and_ends_an_unfollowed_watch(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store, who=person("U1"))
        await add(store, who=person("U2"))
        assert await store.remove("slack:T1:U1", request_id=KEY.request_id) == 1
        assert await store.remove("slack:T1:U1", request_id=KEY.request_id) == 0
        watch = await store.get(added.watch.id)
        assert watch is not None
        assert watch.active
        assert [s.principal for s in await store.subscriptions("slack:T1:U2")] == ["slack:T1:U2"]
        assert await store.remove("slack:T1:U2", subscriber_id=added.subscriber_id) == 0
        assert await store.remove("slack:T1:U2") == 1
        watch = await store.get(added.watch.id)
        assert watch is not None
        assert watch.state == "stopped"
        assert await store.watch_of(KEY) is None
        again = await add(store, who=person("U1"))  # a new watch may start afterwards
        assert again.new_watch
        assert again.watch.id != added.watch.id


async def test_a_due_watch_is_claimed_by_one_replica_only(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store)
        assert await store.claim_due("r1", limit=10, lease_seconds=60) == []  # not due yet
        clock.advance(5)
        results = await asyncio.gather(
            *(store.claim_due(f"r{i}", limit=10, lease_seconds=60) for i in range(4))
        )
        claims = [claim for result in results for claim in result]
        assert [c.watch.id for c in claims] == [added.watch.id]


async def test_a_lapsed_lease_is_taken_over_and_the_old_holder_writes_nothing(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store)
        [stale] = await _claim_at(store, clock, added.watch.next_check_at, owner="dead")
        clock.advance(30)
        assert await store.claim_due("r2", limit=10, lease_seconds=60) == []  # still leased
        clock.advance(31)
        [fresh] = await store.claim_due("r2", limit=10, lease_seconds=60)
        assert fresh.token > stale.token
        assert not await store.finish(stale, "final", status="Success", view_json=None)
        assert not await store.reschedule(
            stale, status="In-Queue", next_check_at=0, error_since=None, failures=0, checked=True
        )
        assert await store.finish(fresh, "final", status="Success", view_json="{}")
        assert await store.claim_deliveries("x", kinds=["slack"], limit=5, lease_seconds=9)


async def test_a_delivery_is_leased_once_and_retried_only_when_asked(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store)
        [claim] = await _claim_at(store, clock, added.watch.next_check_at)
        await store.finish(claim, "final", status="FAILURE", view_json=None)
        [delivery] = await store.claim_deliveries("r1", kinds=["slack"], limit=5, lease_seconds=30)
        assert await store.claim_deliveries("r2", kinds=["slack"], limit=5, lease_seconds=30) == []
        assert await store.claim_deliveries("r2", kinds=["mcp"], limit=5, lease_seconds=30) == []
        assert await store.record_delivery(delivery, "retry", retry_at=clock() + 10)
        assert await store.claim_deliveries("r2", kinds=["slack"], limit=5, lease_seconds=30) == []
        clock.advance(10)
        [again] = await store.claim_deliveries("r2", kinds=["slack"], limit=5, lease_seconds=30)
        assert again.subscriber.attempts == 2
        assert not await store.record_delivery(delivery, "sent")  # the old lease is gone
        assert await store.record_delivery(again, "sent")
        clock.advance(3600)
        assert await store.claim_deliveries("r3", kinds=["slack"], limit=5, lease_seconds=30) == []
        counts = await store.counts(overdue_after=60)
        assert counts.subscribers == {"sent": 1}


async def test_a_delivery_whose_sender_died_is_sent_by_another_replica(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store)
        [claim] = await _claim_at(store, clock, added.watch.next_check_at)
        await store.finish(claim, "final", status="Success", view_json=None)
        [lost] = await store.claim_deliveries("dead", kinds=["slack"], limit=5, lease_seconds=30)
        clock.advance(31)
        [taken] = await store.claim_deliveries("r2", kinds=["slack"], limit=5, lease_seconds=30)
        assert taken.subscriber.id == lost.subscriber.id


async def test_release_hands_a_stopping_replicas_leases_back_at_once(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store)
        await _claim_at(store, clock, added.watch.next_check_at, owner="stopping")
        await store.release("stopping")
        assert len(await store.claim_due("r2", limit=5, lease_seconds=30)) == 1


async def test_counts_say_active_due_and_overdue(database_url: str, clock: FakeClock) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        await add(store, KEY, next_check_at=clock() + 100)
        await add(store, OTHER, next_check_at=clock() - 120)
        counts = await store.counts(overdue_after=60)
        assert (counts.active, counts.due, counts.overdue) == (2, 1, 1)
        assert counts.subscribers == {"waiting": 2}


async def test_a_final_request_pulls_its_queue_forward_in_order(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        ids = [f"{n:08d}-2222-3333-4444-555555555555" for n in range(4)]
        watches: list[WatchRecord] = []
        for rid in ids:
            added = await add(
                store, WatchKey("default", "opportunity_capture", rid), next_check_at=clock() + 300
            )
            watches.append(added.watch)
            clock.advance(1)
        assert await store.is_head(watches[0])
        assert not await store.is_head(watches[2])
        clock.advance(10)  # a watch checked moments ago is not pulled forward: these were not
        moved = await store.pull_forward(watches[2], now=clock(), next_at=clock() + 2)
        assert moved == 3  # the two created before it, and the next one
        rows = [await store.get(w.id) for w in watches]
        assert [r.next_check_at - clock() if r else None for r in rows] == [0, 0, 300 - 2 - 10, 2]


async def test_channel_thread_preferences_default_on_and_persist(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        assert await store.channel_threads("slack:T1", "C1")
        await store.set_channel_threads("slack:T1", "C1", False)
        await store.set_channel_threads("slack:T1", "C1", False)
        assert not await store.channel_threads("slack:T1", "C1")
        assert await store.channel_threads("slack:T2", "C1")


async def test_purge_deletes_long_ended_watches_with_nothing_left_to_send(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store)
        [claim] = await _claim_at(store, clock, added.watch.next_check_at)
        await store.finish(claim, "final", status="Success", view_json=None)
        clock.advance(100)
        assert await store.purge(ended_before=clock()) == 0  # its notice is still due
        [delivery] = await store.claim_deliveries("r", kinds=["slack"], limit=5, lease_seconds=30)
        await store.record_delivery(delivery, "sent")
        assert await store.purge(ended_before=clock()) == 1
        assert await store.get(added.watch.id) is None


async def _claim_at(
    store: WatchStore, clock: FakeClock, when: float, owner: str = "r1"
) -> list[Claim]:
    clock.now = max(clock.now, when)
    return await store.claim_due(owner, limit=10, lease_seconds=60)


async def test_replicas_adding_the_same_request_at_once_make_one_watch(
    database_url: str, clock: FakeClock
) -> None:
    async with (
        open_test_store(database_url, clock=clock) as first,
        open_test_store(database_url, clock=clock) as second,
    ):
        stores = [first, second] * 4
        added = await asyncio.gather(
            *(add(store, who=person(f"U{n}")) for n, store in enumerate(stores))
        )
        assert len({result.watch.id for result in added}) == 1
        assert sum(result.new_watch for result in added) == 1
        assert len({result.subscriber_id for result in added}) == len(stores)


async def test_notices_nobody_delivers_are_given_up_after_a_while(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        cli = NewSubscriber(kind="cli:gone", principal="cli:1", scope="cli", target_key="tty")
        added = await add(store, who=cli)
        [claim] = await _claim_at(store, clock, added.watch.next_check_at)
        await store.finish(claim, "final", status="Success", view_json=None)
        assert await store.abandon_deliveries(due_before=clock() - 10) == 0
        clock.advance(3600)
        assert await store.abandon_deliveries(due_before=clock() - 10) == 1
        assert (await store.counts(overdue_after=60)).subscribers == {"failed": 1}
        assert await store.purge(ended_before=clock()) == 1


async def test_a_caller_cancelled_mid_transaction_leaves_the_store_usable(
    database_url: str, clock: FakeClock
) -> None:
    async with open_test_store(database_url, clock=clock) as store:
        for n in range(20):
            rid = f"{n:08d}-aaaa-3333-4444-555555555555"
            task = asyncio.create_task(
                add(store, WatchKey("default", "opportunity_capture", rid), person(f"U{n}"))
            )
            await asyncio.sleep(0)  # let it start its transaction, then cancel the caller
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        async with asyncio.timeout(10):  # a lock left behind would make this wait 30 s
            await store.settle()  # each transaction ran to its end, though its caller left
            assert (await store.counts(overdue_after=60)).active == 20


async def test_limits_hold_across_replicas_adding_at_once(
    database_url: str, clock: FakeClock
) -> None:
    limits = WatchLimits(per_principal=3)
    async with (
        open_test_store(database_url, clock=clock) as first,
        open_test_store(database_url, clock=clock) as second,
    ):
        keys = [
            WatchKey("default", "opportunity_capture", f"{n:08d}-bbbb-3333-4444-555555555555")
            for n in range(10)
        ]
        results = await asyncio.gather(
            *(
                add(store, key, person("U1"), limits=limits)
                for store, key in zip([first, second] * 5, keys, strict=True)
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, TooManyWatchesError)]
        assert len(refused) == 7
        assert len(await first.subscriptions("slack:T1:U1")) == 3


@pytest.mark.parametrize("ending", ["finish", "remove"])
async def test_a_person_joining_while_the_watch_ends_is_told_either_way(
    database_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """U2's add has read the watch when another transaction ends it: U2 must end up either
    told with the others (due) or on a new active watch, never waiting on an ended one."""
    async with open_test_store(database_url, clock=clock) as store:
        added = await add(store, who=person("U1"))
        [claim] = await _claim_at(store, clock, added.watch.next_check_at)
        read, go_on = asyncio.Event(), asyncio.Event()
        original = watches_module._serialize_limits  # pyright: ignore[reportPrivateUsage]

        async def paused(*args: Any) -> None:
            read.set()
            await go_on.wait()
            await original(*args)

        monkeypatch.setattr(watches_module, "_serialize_limits", paused)
        adding = asyncio.create_task(
            add(store, who=person("U2"), limits=WatchLimits(per_principal=50))
        )
        await read.wait()
        if ending == "finish":
            ending_task = asyncio.create_task(
                store.finish(claim, "final", status="Success", view_json=None)
            )
        else:
            ending_task = asyncio.create_task(store.remove("slack:T1:U1"))
        await asyncio.sleep(0)
        go_on.set()
        async with asyncio.timeout(10):
            await asyncio.gather(adding, ending_task)
        mine = await store.subscriptions("slack:T1:U2", states=("waiting", "due"))
        assert mine
        assert all(s.state == "due" or s.watch.state == "active" for s in mine)
