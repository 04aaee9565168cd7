"""``WatchStore``: watches, their subscribers and channel preferences, in SQLite or PostgreSQL.

Every replica works on the same rows without stepping on each other:

- **claiming** a due watch (:meth:`WatchStore.claim_due`) is one ``UPDATE … RETURNING`` over
  a ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (replicas skip each other's rows
  instead of queueing) and a single write under SQLite's one lock; the claim is a lease, so
  a replica killed mid-check loses nothing: when the lease ends another claims the watch;
- **writing a result** names the lease token it claimed with (fencing): a replica whose
  lease lapsed, and whose watch another replica took over, writes nothing;
- **ending a watch** marks its subscribers due in the same transaction, and each is then
  delivered under its own lease (:meth:`claim_deliveries`), so a notification is sent once:
  only a replica killed between Slack's answer and the commit that records it (a few
  milliseconds) leaves one to be sent again.

Database failures become :class:`~shared.errors.WatchUnavailableError` ("cannot watch right
now"); lookups never touch the store.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import and_, case, delete, exists, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.errors import TooManyWatchesError, WatchUnavailableError
from shared.store.migrate import schema_state
from shared.store.records import (
    Claim,
    Delivery,
    DeliveryOutcome,
    NewSubscriber,
    SubscriberRecord,
    WatchAdded,
    WatchCounts,
    WatchEnd,
    WatchKey,
    WatchLimits,
    WatchRecord,
)
from shared.store.schema import ChannelPreference, SubscriberRow, WatchRow

__all__ = ["WatchStore"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _runs_to_the_end(
    method: Callable[Concatenate[WatchStore, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[WatchStore, _P], Coroutine[Any, Any, _R]]:
    """Run a store method in its own task, so a caller cancelled half-way (a client that
    went away, a stream that ended) never cuts a transaction short: cut short, SQLite could
    keep its lock, and a lease or a delivery could be half-recorded. The caller still stops
    waiting at once; the transaction finishes (or rolls back) by itself."""

    @functools.wraps(method)
    async def shielded(store: WatchStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        task = asyncio.ensure_future(method(store, *args, **kwargs))
        store._running.add(task)  # pyright: ignore[reportPrivateUsage]
        task.add_done_callback(store._running.discard)  # pyright: ignore[reportPrivateUsage]
        return await asyncio.shield(task)

    return shielded


#: a watch checked this recently is not pulled forward
_RECHECK_AFTER_SECONDS = 5.0
#: tries of a transaction that lost a race on a unique index (two replicas adding one watch)
_ADD_TRIES = 3
#: the stored status of a request that LeadSquared retries (``StatusKind.ERROR``)
_ERROR = "ERROR"


class WatchStore:
    """The durable store of watches.

    Args:
        engine: the async engine (see :func:`~shared.store.engine.create_store_engine`).
        clock: wall-clock seconds (injectable: benchmarks run hours in seconds).
    """

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._schema_ok = False
        #: transactions under way (each runs to its end, see ``_runs_to_the_end``)
        self._running: set[asyncio.Future[Any]] = set()

    async def settle(self, within: float = 10.0) -> None:
        """Wait (``within`` seconds at most) for the transactions whose callers stopped waiting."""
        if self._running:
            await asyncio.wait(list(self._running), timeout=within)

    async def aclose(self) -> None:
        """Let the transactions under way finish, then close every connection."""
        await self.settle()
        await self.engine.dispose()

    async def _ensure_schema(self) -> None:
        """Check once that the database has this version's schema.

        Raises:
            WatchUnavailableError: the database does not answer, or its schema is behind.
        """
        if self._schema_ok:
            return
        try:
            state = await schema_state(self.engine)
        except (SQLAlchemyError, OSError) as error:
            log.warning("the store of watches failed: %s", type(error).__name__)
            raise WatchUnavailableError.store_down() from error
        if not state.up_to_date:
            raise WatchUnavailableError.schema_behind(state.describe())
        self._schema_ok = True

    async def ready(self) -> str | None:
        """``None`` when the store answers with this version's schema, else why not (for
        ``/readyz``)."""
        try:
            state = await schema_state(self.engine)
        except (SQLAlchemyError, OSError):
            return "the database of watches does not answer"
        if not state.up_to_date:
            return "the database of watches needs `capture-status migrate` (schema behind)"
        return None

    @asynccontextmanager
    async def _transaction(self) -> AsyncGenerator[AsyncSession]:
        await self._ensure_schema()
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except (TooManyWatchesError, IntegrityError):
            raise
        except (SQLAlchemyError, OSError) as error:
            log.warning("the store of watches failed: %s", type(error).__name__)
            raise WatchUnavailableError.store_down() from error

    @_runs_to_the_end
    async def ping(self) -> None:
        """Ask the database for nothing.

        Raises:
            WatchUnavailableError: it did not answer.
        """
        async with self._transaction() as session:
            await session.execute(text("SELECT 1"))

    # --- subscribing ------------------------------------------------------------------------

    @_runs_to_the_end
    async def add(
        self,
        key: WatchKey,
        subscriber: NewSubscriber,
        *,
        status: str | None,
        next_check_at: float,
        expires_at: float,
        limits: WatchLimits | None = None,
        view_json: str | None = None,
    ) -> WatchAdded:
        """Follow ``key`` for ``subscriber``: one watch per request, one row per subscriber.

        A second person asking about a request already watched joins its watch (both are
        told); the same person asking again from the same place changes nothing. The watch
        lasts until the latest ``expires_at`` asked for.

        Raises:
            TooManyWatchesError: the principal or its scope already follows its limit.
            WatchUnavailableError: the database failed.
        """
        limits = limits or WatchLimits()
        for attempt in range(_ADD_TRIES):
            try:
                return await self._add_once(
                    key, subscriber, status, next_check_at, expires_at, limits, view_json
                )
            except IntegrityError:
                if attempt == _ADD_TRIES - 1:
                    raise WatchUnavailableError.store_down() from None
                # another replica added the same watch or subscriber meanwhile: read it
        raise AssertionError("unreachable")  # pragma: no cover

    async def _add_once(
        self,
        key: WatchKey,
        subscriber: NewSubscriber,
        status: str | None,
        next_check_at: float,
        expires_at: float,
        limits: WatchLimits,
        view_json: str | None,
    ) -> WatchAdded:
        now = self.clock()
        async with self._transaction() as session:
            # the watch row is locked first, as finish and remove lock it: a person joining
            # a watch that ends meanwhile waits for the end, then starts a new watch
            watch = await session.scalar(_active(key).with_for_update())
            existing = None
            if watch is not None:
                existing = await session.scalar(
                    select(SubscriberRow).where(
                        SubscriberRow.watch_id == watch.id,
                        SubscriberRow.kind == subscriber.kind,
                        SubscriberRow.principal == subscriber.principal,
                        SubscriberRow.target_key == subscriber.target_key,
                    )
                )
                if existing is not None and existing.state == "waiting":
                    if expires_at > watch.expires_at:
                        watch.expires_at = expires_at
                    return WatchAdded(_watch_record(watch), existing.id, False, False)
            await _serialize_limits(session, subscriber, limits)
            await self._check_limits(session, subscriber, limits)
            new_watch = watch is None
            if watch is None:
                watch = WatchRow(
                    account=key.account,
                    family=key.family,
                    request_id=key.request_id,
                    state="active",
                    created_at=now,
                    expires_at=expires_at,
                    next_check_at=next_check_at,
                    checks=0,
                    last_status=status,
                    last_checked_at=now if status is not None else None,
                    failures=0,
                    final_view=view_json,
                    lease_token=0,
                )
                session.add(watch)
                await session.flush()
            elif expires_at > watch.expires_at:
                watch.expires_at = expires_at
            if existing is not None:  # the same place, stopped earlier: waiting again
                existing.state = "waiting"
                existing.created_at = now
                existing.target = subscriber.target_json()
                row = existing
            else:
                row = SubscriberRow(
                    watch_id=watch.id,
                    kind=subscriber.kind,
                    principal=subscriber.principal,
                    scope=subscriber.scope,
                    target=subscriber.target_json(),
                    target_key=subscriber.target_key,
                    state="waiting",
                    created_at=now,
                    attempts=0,
                    lease_token=0,
                )
                session.add(row)
            await session.flush()
            return WatchAdded(_watch_record(watch), row.id, new_watch, True)

    async def _check_limits(
        self, session: AsyncSession, subscriber: NewSubscriber, limits: WatchLimits
    ) -> None:
        checks = (
            (limits.per_principal, SubscriberRow.principal == subscriber.principal, "person"),
            (limits.per_scope, SubscriberRow.scope == subscriber.scope, "scope"),
        )
        for cap, where, whose in checks:
            if cap is None:
                continue
            held = await session.scalar(
                select(func.count())
                .select_from(SubscriberRow)
                .where(where, SubscriberRow.state == "waiting")
            )
            if (held or 0) >= cap:
                if whose == "person":
                    raise TooManyWatchesError.for_person(cap)
                raise TooManyWatchesError.for_scope(cap)

    @_runs_to_the_end
    async def remove(
        self,
        principal: str,
        *,
        key: WatchKey | None = None,
        request_id: str | None = None,
        subscriber_id: int | None = None,
        kind: str | None = None,
        target_key: str | None = None,
    ) -> int:
        """Stop ``principal``'s subscriptions that match; end watches nobody follows any more.

        Args:
            principal: whose subscriptions (a person never stops another's).
            key: only this watch's; or ``request_id``: any account's watch of that id.
            subscriber_id: only this subscription (a Stop button).
            kind, target_key: only those delivered by this front door / to this place.

        Returns:
            How many subscriptions were stopped (0: there was nothing to stop).
        """
        now = self.clock()
        async with self._transaction() as session:
            query = (
                select(SubscriberRow)
                .join(WatchRow, WatchRow.id == SubscriberRow.watch_id)
                .where(
                    SubscriberRow.principal == principal,
                    SubscriberRow.state == "waiting",
                    WatchRow.state == "active",
                )
            )
            if key is not None:
                query = query.where(
                    WatchRow.account == key.account,
                    WatchRow.family == key.family,
                    WatchRow.request_id == key.request_id,
                )
            if request_id is not None:
                query = query.where(WatchRow.request_id == request_id)
            if subscriber_id is not None:
                query = query.where(SubscriberRow.id == subscriber_id)
            if kind is not None:
                query = query.where(SubscriberRow.kind == kind)
            if target_key is not None:
                query = query.where(SubscriberRow.target_key == target_key)
            rows = list(await session.scalars(query))
            if rows:  # lock their watches first (the order finish and add use), then re-read
                await session.execute(
                    select(WatchRow.id)
                    .where(WatchRow.id.in_({row.watch_id for row in rows}))
                    .order_by(WatchRow.id)
                    .with_for_update()
                )
                rows = list(await session.scalars(query.execution_options(populate_existing=True)))
            for row in rows:
                row.state = "stopped"
            await session.flush()
            for watch_id in {row.watch_id for row in rows}:
                left = await session.scalar(
                    select(func.count())
                    .select_from(SubscriberRow)
                    .where(SubscriberRow.watch_id == watch_id, SubscriberRow.state == "waiting")
                )
                if not left:
                    await session.execute(
                        update(WatchRow)
                        .where(WatchRow.id == watch_id, WatchRow.state == "active")
                        .values(state="stopped", ended_at=now, lease_owner=None, lease_until=None)
                    )
            return len(rows)

    @_runs_to_the_end
    async def subscriptions(
        self, principal: str, *, states: Sequence[str] = ("waiting",), limit: int = 200
    ) -> list[SubscriberRecord]:
        """``principal``'s subscriptions in ``states``, newest first (at most ``limit``)."""
        async with self._transaction() as session:
            result = await session.execute(
                select(SubscriberRow, WatchRow)
                .join(WatchRow, WatchRow.id == SubscriberRow.watch_id)
                .where(SubscriberRow.principal == principal, SubscriberRow.state.in_(states))
                .order_by(SubscriberRow.created_at.desc(), SubscriberRow.id.desc())
                .limit(limit)
            )
            return [_subscriber_record(sub, watch) for sub, watch in result.all()]

    @_runs_to_the_end
    async def watch_of(self, key: WatchKey) -> WatchRecord | None:
        """The active watch of ``key``, if there is one."""
        async with self._transaction() as session:
            row = await session.scalar(_active(key))
            return None if row is None else _watch_record(row)

    @_runs_to_the_end
    async def get(self, watch_id: int) -> WatchRecord | None:
        """The watch ``watch_id`` in whatever state."""
        async with self._transaction() as session:
            row = await session.get(WatchRow, watch_id)
            return None if row is None else _watch_record(row)

    # --- checking ---------------------------------------------------------------------------

    @_runs_to_the_end
    async def claim_due(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        for_kinds: Sequence[str] | None = None,
    ) -> list[Claim]:
        """Lease up to ``limit`` active watches whose check is due (oldest due first).

        A watch leased by a replica that stopped (its lease ran out) is due again.
        ``for_kinds``: only watches someone of these kinds waits for (a CLI checks its own).
        """
        now = self.clock()
        async with self._transaction() as session:
            due = (
                select(WatchRow.id)
                .where(
                    WatchRow.state == "active",
                    WatchRow.next_check_at <= now,
                    or_(WatchRow.lease_until.is_(None), WatchRow.lease_until < now),
                )
                .order_by(WatchRow.next_check_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            if for_kinds is not None:
                due = due.where(
                    exists().where(
                        SubscriberRow.watch_id == WatchRow.id,
                        SubscriberRow.kind.in_(for_kinds),
                        SubscriberRow.state == "waiting",
                    )
                )
            result = await session.scalars(
                update(WatchRow)
                .where(WatchRow.id.in_(due.scalar_subquery()))
                .values(
                    lease_owner=owner,
                    lease_until=now + lease_seconds,
                    lease_token=WatchRow.lease_token + 1,
                )
                .returning(WatchRow),
                execution_options={"synchronize_session": False},
            )
            rows = sorted(result, key=lambda row: row.next_check_at)
            return [Claim(_watch_record(row), owner, row.lease_token) for row in rows]

    @_runs_to_the_end
    async def routine_count(self, account: str, *, error_since_before: float) -> int:
        """How many active watches of ``account`` are routinely checked: all but those in
        ERROR since ``error_since_before`` or later (LeadSquared still retries those)."""
        async with self._transaction() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(WatchRow)
                .where(
                    WatchRow.state == "active",
                    WatchRow.account == account,
                    or_(
                        WatchRow.last_status.is_(None),
                        WatchRow.last_status != _ERROR,
                        WatchRow.error_since.is_(None),
                        WatchRow.error_since < error_since_before,
                    ),
                )
            )
            return count or 0

    @_runs_to_the_end
    async def next_due_at(self) -> float | None:
        """When the next active watch is due, or its lease ends (``None``: no active watch)."""
        now = self.clock()
        free_at = case(
            (
                and_(WatchRow.lease_until.is_not(None), WatchRow.lease_until > now),
                WatchRow.lease_until,
            ),
            else_=WatchRow.next_check_at,
        )
        async with self._transaction() as session:
            return await session.scalar(select(func.min(free_at)).where(WatchRow.state == "active"))

    @_runs_to_the_end
    async def reschedule(
        self,
        claim: Claim,
        *,
        status: str | None,
        next_check_at: float,
        error_since: float | None,
        failures: int,
        checked: bool,
        view_json: str | None = None,
    ) -> bool:
        """Record a check that found the request not final yet, and when to check next.

        Returns:
            False when the lease was lost (another replica took the watch): nothing written.
        """
        now = self.clock()
        values: dict[str, Any] = {
            "next_check_at": next_check_at,
            "error_since": error_since,
            "failures": failures,
            "lease_owner": None,
            "lease_until": None,
        }
        if checked:
            values |= {
                "checks": WatchRow.checks + 1,
                "last_status": status,
                "last_checked_at": now,
            }
        if view_json is not None:
            values["final_view"] = view_json
        async with self._transaction() as session:
            result = await session.execute(_fenced(update(WatchRow), claim).values(**values))
            return _changed(result)

    @_runs_to_the_end
    async def finish(
        self, claim: Claim, end: WatchEnd, *, status: str | None, view_json: str | None
    ) -> bool:
        """End the watch (``end`` says how) and make its subscribers due for delivery.

        Returns:
            False when the lease was lost (another replica took the watch): nothing written.
        """
        now = self.clock()
        async with self._transaction() as session:
            result = await session.execute(
                _fenced(update(WatchRow), claim).values(
                    state=end,
                    ended_at=now,
                    checks=WatchRow.checks + (1 if status is not None else 0),
                    last_status=status if status is not None else WatchRow.last_status,
                    last_checked_at=now,
                    final_view=view_json if view_json is not None else WatchRow.final_view,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            if not _changed(result):
                return False
            await session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.watch_id == claim.watch.id, SubscriberRow.state == "waiting")
                .values(state="due", next_attempt_at=now)
            )
            return True

    @_runs_to_the_end
    async def is_head(self, watch: WatchRecord) -> bool:
        """Whether ``watch`` is the earliest-created active watch of its account and family
        still in the queue (one last seen in ERROR has left it: LeadSquared retries it)."""
        async with self._transaction() as session:
            earlier = await session.scalar(
                select(func.count())
                .select_from(WatchRow)
                .where(_same_queue(watch), _created_before(watch))
            )
            return not earlier

    @_runs_to_the_end
    async def pull_forward(self, watch: WatchRecord, *, now: float, next_at: float) -> int:
        """A request left the queue (found final, or in ERROR): check the watches of its
        queue created before it now, and the next one created after it by ``next_at`` (a
        queue serves in order). Watches last seen in ERROR are left to their retry schedule.

        Returns:
            How many watches were moved earlier.
        """
        async with self._transaction() as session:
            earlier = await session.execute(
                update(WatchRow)
                .where(
                    _same_queue(watch),
                    _created_before(watch),
                    WatchRow.next_check_at > now,
                    # one just checked is not asked again at once (finals found out of order
                    # would otherwise pull the whole queue forward again and again)
                    or_(
                        WatchRow.last_checked_at.is_(None),
                        WatchRow.last_checked_at < now - _RECHECK_AFTER_SECONDS,
                    ),
                )
                .values(next_check_at=now)
            )
            following = await session.scalar(
                select(WatchRow.id)
                .where(
                    _same_queue(watch),
                    or_(
                        WatchRow.created_at > watch.created_at,
                        and_(WatchRow.created_at == watch.created_at, WatchRow.id > watch.id),
                    ),
                )
                .order_by(WatchRow.created_at, WatchRow.id)
                .limit(1)
            )
            moved = _count(earlier)
            if following is not None:
                later = await session.execute(
                    update(WatchRow)
                    .where(WatchRow.id == following, WatchRow.next_check_at > next_at)
                    .values(next_check_at=next_at)
                )
                moved += _count(later)
            return moved

    @_runs_to_the_end
    async def release(self, owner: str) -> None:
        """Give up every lease ``owner`` holds (a replica shutting down cleanly)."""
        async with self._transaction() as session:
            await session.execute(
                update(WatchRow)
                .where(WatchRow.lease_owner == owner, WatchRow.state == "active")
                .values(lease_owner=None, lease_until=None)
            )
            await session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.lease_owner == owner, SubscriberRow.state == "sending")
                .values(state="due", lease_owner=None, lease_until=None)
            )

    # --- delivering -------------------------------------------------------------------------

    @_runs_to_the_end
    async def claim_deliveries(
        self, owner: str, *, kinds: Sequence[str], limit: int, lease_seconds: float
    ) -> list[Delivery]:
        """Lease up to ``limit`` subscribers of ``kinds`` to tell now.

        Due ones whose time has come, and ones a stopped replica was sending (lease ended).
        """
        if not kinds:
            return []
        now = self.clock()
        async with self._transaction() as session:
            ready = (
                select(SubscriberRow.id)
                .where(
                    SubscriberRow.kind.in_(kinds),
                    or_(
                        and_(SubscriberRow.state == "due", SubscriberRow.next_attempt_at <= now),
                        and_(SubscriberRow.state == "sending", SubscriberRow.lease_until < now),
                    ),
                )
                .order_by(SubscriberRow.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            result = await session.scalars(
                update(SubscriberRow)
                .where(SubscriberRow.id.in_(ready.scalar_subquery()))
                .values(
                    state="sending",
                    lease_owner=owner,
                    lease_until=now + lease_seconds,
                    lease_token=SubscriberRow.lease_token + 1,
                    attempts=SubscriberRow.attempts + 1,
                )
                .returning(SubscriberRow),
                execution_options={"synchronize_session": False},
            )
            rows = list(result)
            watches = {
                row.id: row
                for row in await session.scalars(
                    select(WatchRow).where(WatchRow.id.in_({row.watch_id for row in rows}))
                )
            }
            return [
                Delivery(_subscriber_record(row, watches[row.watch_id]), owner, row.lease_token)
                for row in sorted(rows, key=lambda row: (row.next_attempt_at or 0, row.id))
            ]

    @_runs_to_the_end
    async def renew_delivery(self, delivery: Delivery, *, lease_seconds: float) -> bool:
        """Extend the lease of a delivery about to be sent; False when it is no longer ours."""
        now = self.clock()
        async with self._transaction() as session:
            result = await session.execute(
                update(SubscriberRow)
                .where(
                    SubscriberRow.id == delivery.subscriber.id,
                    SubscriberRow.lease_token == delivery.token,
                    SubscriberRow.state == "sending",
                    SubscriberRow.lease_until >= now,
                )
                .values(lease_until=now + lease_seconds)
            )
            return _changed(result)

    @_runs_to_the_end
    async def record_delivery(
        self,
        delivery: Delivery,
        outcome: DeliveryOutcome,
        *,
        detail: str | None = None,
        retry_at: float | None = None,
    ) -> bool:
        """Record how telling one subscriber went.

        ``sent`` and ``failed`` are for good; ``retry`` makes it due again at ``retry_at``.

        Returns:
            False when the lease was lost (another replica took the delivery over).
        """
        now = self.clock()
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "detail": detail}
        if outcome == "retry":
            values |= {"state": "due", "next_attempt_at": retry_at if retry_at else now}
        else:
            values |= {"state": outcome, "delivered_at": now if outcome == "sent" else None}
        async with self._transaction() as session:
            result = await session.execute(
                update(SubscriberRow)
                .where(
                    SubscriberRow.id == delivery.subscriber.id,
                    SubscriberRow.lease_token == delivery.token,
                    SubscriberRow.state == "sending",
                )
                .values(**values)
            )
            return _changed(result)

    # --- figures and housekeeping ----------------------------------------------------------

    @_runs_to_the_end
    async def counts(self, *, overdue_after: float) -> WatchCounts:
        """Active, due and overdue watches, and subscribers by state."""
        now = self.clock()
        async with self._transaction() as session:
            active_filter = WatchRow.state == "active"
            active = await session.scalar(
                select(func.count()).select_from(WatchRow).where(active_filter)
            )
            due = await session.scalar(
                select(func.count())
                .select_from(WatchRow)
                .where(active_filter, WatchRow.next_check_at <= now)
            )
            overdue = await session.scalar(
                select(func.count())
                .select_from(WatchRow)
                .where(active_filter, WatchRow.next_check_at <= now - overdue_after)
            )
            by_state = await session.execute(
                select(SubscriberRow.state, func.count()).group_by(SubscriberRow.state)
            )
            return WatchCounts(
                active=active or 0,
                due=due or 0,
                overdue=overdue or 0,
                subscribers={str(state): int(count) for state, count in by_state.all()},
            )

    @_runs_to_the_end
    async def abandon_deliveries(self, *, due_before: float) -> int:
        """Fail notices nobody delivered since ``due_before`` (e.g. a CLI killed before its
        request ended: no other process delivers to it). Logged by the caller, then purged."""
        async with self._transaction() as session:
            result = await session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.state == "due", SubscriberRow.next_attempt_at < due_before)
                .values(state="failed", detail="nobody could deliver it in time")
            )
            return _count(result)

    @_runs_to_the_end
    async def purge(self, *, ended_before: float) -> int:
        """Delete watches that ended before ``ended_before`` and have nothing left to send."""
        async with self._transaction() as session:
            pending = select(SubscriberRow.watch_id).where(
                SubscriberRow.state.in_(("due", "sending"))
            )
            result = await session.execute(
                delete(WatchRow).where(
                    WatchRow.state != "active",
                    WatchRow.ended_at < ended_before,
                    WatchRow.id.not_in(pending),
                )
            )
            return _count(result)

    # --- channel preferences ----------------------------------------------------------------

    @_runs_to_the_end
    async def channel_threads(self, scope: str, channel: str) -> bool:
        """Whether watches started in ``channel`` also answer in the message's thread."""
        async with self._transaction() as session:
            row = await session.get(ChannelPreference, (scope, channel))
            return True if row is None else row.threads

    @_runs_to_the_end
    async def set_channel_threads(self, scope: str, channel: str, threads: bool) -> None:
        """Turn thread answers in ``channel`` on or off."""
        now = self.clock()
        async with self._transaction() as session:
            row = await session.get(ChannelPreference, (scope, channel))
            if row is None:
                session.add(
                    ChannelPreference(scope=scope, channel=channel, threads=threads, updated_at=now)
                )
            else:
                row.threads = threads
                row.updated_at = now


async def _serialize_limits(
    session: AsyncSession, subscriber: NewSubscriber, limits: WatchLimits
) -> None:
    """PostgreSQL: replicas adding watches for one person (or scope) take turns, so the
    count-then-insert of the limits holds across replicas. SQLite's one lock does it there."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys: list[str] = []
    if limits.per_principal is not None:
        keys.append(f"principal:{subscriber.principal}")
    if limits.per_scope is not None:
        keys.append(f"scope:{subscriber.scope}")
    for key in keys:  # always principal, then scope: no two adds wait for each other in a ring
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _active(key: WatchKey) -> Any:
    return select(WatchRow).where(
        WatchRow.account == key.account,
        WatchRow.family == key.family,
        WatchRow.request_id == key.request_id,
        WatchRow.state == "active",
    )


def _fenced(statement: Any, claim: Claim) -> Any:
    return statement.where(
        WatchRow.id == claim.watch.id,
        WatchRow.lease_token == claim.token,
        WatchRow.state == "active",
    )


def _changed(result: Any) -> bool:
    return bool(result.rowcount)


def _count(result: Any) -> int:
    rowcount = result.rowcount
    return rowcount if isinstance(rowcount, int) and rowcount > 0 else 0


def _same_queue(watch: WatchRecord) -> Any:
    """The other active watches waiting in the same queue (ERROR ones follow LeadSquared's
    retries, not the queue)."""
    return and_(
        WatchRow.state == "active",
        or_(WatchRow.last_status == "In-Queue", WatchRow.last_status.is_(None)),
        WatchRow.account == watch.key.account,
        WatchRow.family == watch.key.family,
        WatchRow.id != watch.id,
    )


def _created_before(watch: WatchRecord) -> Any:
    return or_(
        WatchRow.created_at < watch.created_at,
        and_(WatchRow.created_at == watch.created_at, WatchRow.id < watch.id),
    )


def _watch_record(row: WatchRow) -> WatchRecord:
    return WatchRecord(
        id=row.id,
        key=WatchKey(row.account, row.family, row.request_id),
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
        next_check_at=row.next_check_at,
        checks=row.checks,
        last_status=row.last_status,
        last_checked_at=row.last_checked_at,
        error_since=row.error_since,
        failures=row.failures,
        ended_at=row.ended_at,
        final_view=row.final_view,
    )


def _subscriber_record(row: SubscriberRow, watch: WatchRow) -> SubscriberRecord:
    try:
        decoded: object = json.loads(row.target)
    except ValueError:
        decoded = None
    target: dict[str, Any] = (
        {str(k): v for k, v in decoded.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if isinstance(decoded, dict)
        else {}
    )
    return SubscriberRecord(
        id=row.id,
        watch=_watch_record(watch),
        kind=row.kind,
        principal=row.principal,
        scope=row.scope,
        target=target,
        target_key=row.target_key,
        state=row.state,
        created_at=row.created_at,
        attempts=row.attempts,
        delivered_at=row.delivered_at,
        detail=row.detail,
    )
