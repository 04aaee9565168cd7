"""Following ``capture://requests/{request_id}``: a watch while a client follows it.

A client follows a request's resource in either protocol era the SDK speaks, and both
start one watch (the core's, durable, checked by every replica's watcher) that lasts while
the client follows:

- **2026-07-28**: a ``subscriptions/listen`` stream whose filter names the resource
  (``resource_subscriptions``). The SDK's listen handler is wrapped: each request resource
  in the filter is watched before the stream is acknowledged (a URI that cannot be watched
  fails the request, in our words); when the stream ends, however it ends, its watches are
  stopped.
- **earlier eras**: ``resources/subscribe`` and ``resources/unsubscribe`` on a session;
  closing the session stops what it still followed. A stateless HTTP request has no session
  to be told on later, so it is refused there.

When a watch ends, the :class:`~mcp_server.announcing.Announcer` (the watcher's notifier of
kind ``mcp``) publishes ``ResourceUpdated`` on the bus; the SDK's listen handler passes it
to the streams that follow the URI, and :meth:`Following.forward` to the legacy sessions.
Within a process the same principal following the same URI from several streams shares one
subscriber (counted here); each process is its own place, so one replica's client leaving
never stops another replica's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from mcp import MCPError
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, ServerEvent
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from mcp_server.auth import Requester, requester_of
from mcp_server.bus import ResourceBus
from mcp_server.resources import REQUEST_URI_TEMPLATE
from mcp_server.state import ServerState

if TYPE_CHECKING:
    from mcp_server.core import CaptureCore

__all__ = ["REQUEST_URI_PREFIX", "Following", "request_id_of"]

log = logging.getLogger(__name__)

#: what every request resource's URI starts with
REQUEST_URI_PREFIX = REQUEST_URI_TEMPLATE.split("{", 1)[0]
#: where a legacy connection keeps what it follows (``Connection.state``)
_STATE_KEY = "capture_status.following"
_STATELESS = (
    "resources/subscribe needs a session that stays open, and this server's HTTP transport "
    "is stateless. Follow the resource with subscriptions/listen (protocol 2026-07-28), "
    "call wait_for_capture, or read the resource again later."
)

Context = ServerRequestContext[ServerState, Any]
ListenRequestHandler = Callable[
    [Context, SubscriptionsListenRequestParams], Awaitable[SubscriptionsListenResult]
]


def request_id_of(uri: str) -> str | None:
    """The request part of a request resource's URI; ``None`` for any other resource."""
    if not uri.startswith(REQUEST_URI_PREFIX):
        return None
    return uri[len(REQUEST_URI_PREFIX) :] or None


@dataclass(slots=True)
class _LegacyFollows:
    """What one legacy connection follows: each URI, and whether it holds a watch."""

    requester: Requester
    uris: dict[str, bool] = field(default_factory=dict[str, bool])


class Following:
    """Watches while clients follow request resources, and their ends passed on to them.

    Args:
        bus: the server's subscription bus.
        max_per_stream: the most request resources one listen stream may follow.
    """

    def __init__(self, bus: ResourceBus, *, max_per_stream: int) -> None:
        self._bus = bus
        self._max_per_stream = max_per_stream
        self._instance = uuid.uuid4().hex[:12]
        #: (principal, uri) → how many streams and sessions of this process follow it
        self._held: dict[tuple[str, str], int] = {}
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        #: uri → the legacy sessions that subscribed to it, by connection
        self._sessions: dict[str, dict[int, ServerSession]] = {}
        self._updates: asyncio.Queue[str] = asyncio.Queue(maxsize=4096)
        bus.subscribe(self._on_event)

    def place(self, uri: str) -> str:
        """Where this process's clients follow ``uri`` (the subscriber's ``target_key``)."""
        return f"{uri} @{self._instance}"

    @property
    def followed(self) -> list[str]:
        """The URIs some client of this process follows."""
        return sorted({uri for _, uri in self._held})

    # --- one watch per principal and URI in this process ------------------------------------

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def follow(
        self, core: CaptureCore, uri: str, requester: Requester, *, again: bool = False
    ) -> bool:
        """Follow ``uri`` (a request resource) for ``requester``.

        The request's watch is asked for each time (it may have ended since this process
        last asked: a new one starts); each follow is counted once, unless ``again`` (the
        same session follows it already).

        Returns:
            True when it is followed (call :meth:`unfollow` later, once per count); False
            when the request is final already (nothing to follow, nothing counted).

        Raises:
            MCPError: the request cannot be watched (our words).
        """
        rid = request_id_of(uri)
        assert rid is not None
        key = (requester.principal, uri)
        async with self._lock(key):
            if not await core.follow(rid, uri=uri, place=self.place(uri), requester=requester):
                return False
            if not again:
                self._held[key] = self._held.get(key, 0) + 1
            return True

    async def unfollow(self, core: CaptureCore, uri: str, requester: Requester) -> None:
        """Stop one :meth:`follow` of ``uri``; the watch stops with the last one here."""
        rid = request_id_of(uri)
        assert rid is not None
        key = (requester.principal, uri)
        async with self._lock(key):
            left = self._held.get(key, 0) - 1
            if left > 0:
                self._held[key] = left
                return
            self._held.pop(key, None)
            await core.unfollow(rid, place=self.place(uri), requester=requester)

    # --- 2026-07-28: subscriptions/listen --------------------------------------------------

    def listen_handler(self, inner: ListenHandler) -> ListenRequestHandler:
        """``subscriptions/listen``: ``inner`` (the SDK's handler), with a watch for each
        request resource the stream follows while it lasts."""

        async def listen(
            ctx: Context, params: SubscriptionsListenRequestParams
        ) -> SubscriptionsListenResult:
            wanted = params.notifications.resource_subscriptions or []
            uris = [uri for uri in dict.fromkeys(wanted) if request_id_of(uri) is not None]
            if not uris:
                return await inner(ctx, params)
            if len(uris) > self._max_per_stream:
                raise MCPError(
                    INVALID_PARAMS,
                    f"One stream follows at most {self._max_per_stream} capture requests, and "
                    f"this one asked for {len(uris)}. Split them over several streams.",
                )
            core = await _core(ctx)
            requester = _requester(ctx)
            held: list[str] = []
            try:
                for uri in uris:
                    if await self.follow(core, uri, requester):
                        held.append(uri)  # noqa: PERF401 (each one held, even if a later one fails)
                return await inner(ctx, params)
            finally:
                with anyio.CancelScope(shield=True):
                    for uri in held:
                        await self.unfollow(core, uri, requester)

        return listen

    # --- earlier eras: resources/subscribe and resources/unsubscribe -----------------------

    async def subscribe(self, ctx: Context, params: SubscribeRequestParams) -> EmptyResult:
        """``resources/subscribe``: follow the resource until unsubscribed or the session ends
        (again: its watch starts anew if it had ended; otherwise nothing changes)."""
        uri = str(params.uri)
        connection = _connection_of(ctx)
        follows = _follows_of(connection)
        if follows is None:
            follows = _LegacyFollows(_requester(ctx))
            connection.state[_STATE_KEY] = follows
            connection.exit_stack.push_async_callback(self._closed, ctx, connection)
        held_already = follows.uris.get(uri, False)
        if request_id_of(uri) is not None:  # again: a watch that ended starts anew
            held = await self.follow(await _core(ctx), uri, follows.requester, again=held_already)
            follows.uris[uri] = held or held_already
        else:
            follows.uris[uri] = False
        self._sessions.setdefault(uri, {})[id(connection)] = ctx.session
        return EmptyResult()

    async def unsubscribe(self, ctx: Context, params: UnsubscribeRequestParams) -> EmptyResult:
        """``resources/unsubscribe``: stop following the resource (nothing if not followed)."""
        uri = str(params.uri)
        connection = _connection_of(ctx)
        follows = _follows_of(connection)
        if follows is None or uri not in follows.uris:
            return EmptyResult()
        held = follows.uris.pop(uri)
        self._forget_session(uri, connection)
        if held:
            await self.unfollow(await _core(ctx), uri, follows.requester)
        return EmptyResult()

    async def _closed(self, ctx: Context, connection: Connection) -> None:
        """A legacy connection closed: stop what it still followed."""
        follows = _follows_of(connection)
        if follows is None:
            return
        uris, follows.uris = follows.uris, {}
        for uri in uris:
            self._forget_session(uri, connection)
        held = [uri for uri, holds in uris.items() if holds]
        if held:
            core = await _core(ctx)
            for uri in held:
                await self.unfollow(core, uri, follows.requester)

    def _forget_session(self, uri: str, connection: Connection) -> None:
        sessions = self._sessions.get(uri)
        if sessions is not None:
            sessions.pop(id(connection), None)
            if not sessions:
                del self._sessions[uri]

    def _on_event(self, event: ServerEvent) -> None:
        if isinstance(event, ResourceUpdated) and event.uri in self._sessions:
            try:
                self._updates.put_nowait(event.uri)
            except asyncio.QueueFull:
                log.warning("too many resource updates queued for legacy sessions; dropped one")

    async def forward(self) -> None:
        """Pass resource updates on to the legacy sessions that subscribed (runs until
        cancelled, in the server's lifespan)."""
        while True:
            uri = await self._updates.get()
            for session in list(self._sessions.get(uri, {}).values()):
                try:
                    await session.send_resource_updated(uri)  # best effort
                except Exception:  # one session's failure must not stop the others'
                    log.exception("could not tell a session that %s was updated", uri)

    def refresh(self) -> None:
        """Tell this process's followers that every resource they follow may have changed
        (after events were possibly missed: the bus lost Redis for a while)."""
        for uri in self.followed:
            self._bus.deliver_here(ResourceUpdated(uri=uri))


async def _core(ctx: Context) -> CaptureCore:
    try:
        return await ctx.lifespan_context.core.get()
    except ToolError as error:  # the core could not be opened: the reason, in our words
        raise MCPError(INTERNAL_ERROR, str(error)) from None


def _requester(ctx: Context) -> Requester:
    return requester_of(getattr(ctx.request, "scope", None))


def _connection_of(ctx: Context) -> Connection:
    """The connection of a legacy request, which must be able to carry later notifications.

    mcp 2.3 exposes the connection (its per-connection ``state`` and ``exit_stack``, meant
    for this) to handlers only through the session; ``tests/mcp_server/test_following.py``
    pins it.

    Raises:
        MCPError: a stateless HTTP request (no session to tell later), or an SDK that no
            longer hands the connection to handlers.
    """
    connection: object = getattr(ctx.session, "_connection", None)
    if not isinstance(connection, Connection):
        raise MCPError(INTERNAL_ERROR, "This server cannot follow resources on this connection.")
    if ctx.request is not None and connection.session_id is None:
        raise MCPError(INVALID_REQUEST, _STATELESS)
    return connection


def _follows_of(connection: Connection) -> _LegacyFollows | None:
    follows = connection.state.get(_STATE_KEY)
    return follows if isinstance(follows, _LegacyFollows) else None
