"""Telling people in Slack that a watched request is final: the app's :class:`SlackNotifier`.

The watcher (:mod:`shared`'s ``running_watcher``) hands each ended watch's notices of kind
``slack`` to :meth:`SlackNotifier.deliver`, one at a time. A notice goes to:

1. **the person, by DM** from the app (``conversations.open``, then ``chat.postMessage``):
   the sentence saying how the watch ended, then the request's card (always masked: the
   watch keeps only a masked view);
2. **the thread of the channel message** the watch was started from (**Notify me** on a card
   shared in a channel), naming the person, unless the channel turned thread answers off
   (``/capture-status threads off``; read when the notice is sent).

What Slack answers decides what happens next (:class:`~shared.DeliveryResult`):

- a place that cannot be reached for good (a DM closed or not allowed, a deactivated user,
  a channel the app is not in, archived or deleted): that part fails, logged. A notice is
  ``sent`` when any part reached someone, ``failed`` when none did: the subscription ends,
  never retried;
- ``ratelimited`` (HTTP 429): ``retry`` after Slack's ``Retry-After``, and that
  conversation is not posted to before then; Slack being unreachable or failing (5xx):
  ``retry`` a little later. A part already posted is not posted again when the notice is
  retried by this process (kept in memory: a notice retried after a restart, or by another
  replica, may repeat the part that was posted before).

Posts are paced (:class:`Pacer`): at most one message per second per conversation, Slack's
documented pace for ``chat.postMessage``, and a little spacing overall. A wait longer than
``max_wait_seconds`` is not slept: the notice is retried then, so a delivery never holds
its lease long.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, cast

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.kit import RenderContext, SlackMessage
from bot.watch_blocks import notification_message
from shared import CaptureService, CaptureStatusError, DeliveryResult, WatchNotice

__all__ = ["GONE_ERRORS", "RETRY_ERRORS", "Pacer", "SlackNotifier", "delivery_of_refusal"]

log = logging.getLogger(__name__)

#: Slack's answers meaning the place cannot be reached, now or later: fail, never retry
GONE_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "user_not_found",
        "users_not_found",
        "user_not_visible",
        "cannot_dm_bot",
        "account_inactive",
        "user_disabled",
        "messages_tab_disabled",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "ekm_access_denied",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "thread_not_found",
        "message_not_found",
        "invalid_blocks",
        "msg_too_long",
        "msg_blocks_too_long",
        "too_many_attachments",
    }
)
#: Slack's answers meaning "not now": retry later
RETRY_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "timeout",
        "team_added_to_org",
    }
)
#: seconds before a notice is tried again when Slack does not say (5xx, network)
_RETRY_SECONDS = 30.0
#: Retry-After is honoured up to this (a longer one is still retried, then)
_MAX_RETRY_AFTER = 3600.0
_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")
#: DM channel ids remembered (users.conversations.open answers the same id every time)
_DM_CACHE_SIZE = 5_000
#: notices whose first part was posted, remembered until they are sent or fail for good
_PROGRESS_SIZE = 10_000

Part = Literal["dm", "thread"]


class Pacer:
    """Spaces posts: ``per_channel_seconds`` per conversation, ``overall_seconds`` between any.

    Each :meth:`turn` takes the next free slot of its conversation and sleeps until then; a
    slot further than ``max_wait_seconds`` away is not taken (the caller tries later).

    Args:
        per_channel_seconds: between two posts in one conversation (Slack: about 1 s).
        overall_seconds: between any two posts (the app's whole pace).
        max_wait_seconds: the longest one post waits for its turn.
        clock: monotonic seconds (injectable).
        sleep: how to wait (injectable: tests never sleep).
    """

    def __init__(
        self,
        *,
        per_channel_seconds: float = 1.0,
        overall_seconds: float = 0.05,
        max_wait_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_channel_seconds = per_channel_seconds
        self.overall_seconds = overall_seconds
        self.max_wait_seconds = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._next_any = float("-inf")

    def hold(self, channel: str | None, seconds: float) -> None:
        """Post nothing in ``channel`` (``None``: anywhere) for ``seconds`` (Slack said so)."""
        until = self._clock() + seconds
        if channel is None:
            self._next_any = max(self._next_any, until)
        else:
            self._next[channel] = max(self._next.get(channel, until), until)

    async def turn(self, channel: str) -> float | None:
        """Wait for ``channel``'s next turn; ``None`` once it came, else the seconds until it
        would come (more than ``max_wait_seconds``: nothing was taken, try then)."""
        now = self._clock()
        start = max(now, self._next.get(channel, now), self._next_any)
        wait = start - now
        if wait > self.max_wait_seconds:
            return wait
        self._next[channel] = start + self.per_channel_seconds
        self._next_any = start + self.overall_seconds
        if len(self._next) > 10_000:  # forget conversations whose turn has long come
            self._next = {c: t for c, t in self._next.items() if t > now}
        if wait > 0:
            await self._sleep(wait)
        return None


def _retry_after(error: SlackApiError) -> float | None:
    response: Any = error.response  # pyright: ignore[reportUnknownMemberType]
    headers: object = getattr(response, "headers", None)
    if not isinstance(headers, Mapping):
        return None
    for key, value in cast("Mapping[object, object]", headers).items():
        if isinstance(key, str) and key.lower() == "retry-after":
            try:
                return min(max(float(str(value)), 0.0), _MAX_RETRY_AFTER)
            except ValueError:
                return None
    return None


def _error_code(error: SlackApiError) -> tuple[str, int | None]:
    """The ``error`` field of a refusal (``unknown_error`` if none) and the HTTP status."""
    response: Any = error.response  # pyright: ignore[reportUnknownMemberType]
    status: object = getattr(response, "status_code", None)
    data: object = getattr(response, "data", None)
    code: object = None
    if isinstance(data, Mapping):
        code = cast("Mapping[str, object]", data).get("error")
    return (code if isinstance(code, str) else "unknown_error"), (
        status if isinstance(status, int) else None
    )


def delivery_of_refusal(error: SlackApiError) -> DeliveryResult:
    """What a Web API refusal means for a notice: ``failed`` for good, or ``retry`` when."""
    code, status = _error_code(error)
    if status == 429 or code in ("ratelimited", "rate_limited"):
        wait = _retry_after(error)
        return DeliveryResult("retry", detail="ratelimited", retry_after=wait or _RETRY_SECONDS)
    if code in RETRY_ERRORS or (status is not None and status >= 500):
        detail = code if code != "unknown_error" else f"HTTP {status}"
        return DeliveryResult("retry", detail=detail, retry_after=_RETRY_SECONDS)
    # anything else cannot get better by asking again: known "gone" answers and the unknown
    return DeliveryResult("failed", detail=code)


class SlackNotifier:
    """The Slack app's :class:`~shared.Notifier`: a DM to the person, and the thread reply.

    Args:
        client: a Web API client with the bot token (no retry handlers: the watcher retries).
        service: the process's service (account labels, the channels' thread setting).
        pacer: the posting pace (tests inject its clock and sleep).
        nonce: makes each message's block ids unique.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        service: CaptureService,
        *,
        pacer: Pacer | None = None,
        nonce: Callable[[], str] = lambda: secrets.token_hex(4),
    ) -> None:
        self._client = client
        self._service = service
        self.pacer = pacer or Pacer()
        self._nonce = nonce
        self._dm_channels: OrderedDict[str, str] = OrderedDict()
        self._progress: OrderedDict[int, dict[Part, str]] = OrderedDict()

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Tell the person (DM) and the thread; never raises."""
        try:
            return await self._deliver(notice)
        except Exception as error:  # a notifier must not raise: try again later
            log.error(
                "a watch notice for subscriber %s failed: %s",
                notice.subscriber_id,
                type(error).__name__,
            )
            return DeliveryResult(
                "retry", detail=f"unexpected {type(error).__name__}", retry_after=_RETRY_SECONDS
            )

    async def _deliver(self, notice: WatchNotice) -> DeliveryResult:
        target = notice.target
        user, team = target.get("user"), target.get("team")
        channel, thread_ts = target.get("channel"), target.get("thread_ts")
        if not isinstance(user, str) or not _USER.match(user):
            return DeliveryResult("failed", detail="no Slack user to tell")
        parts: list[Part] = ["dm"]
        thread: tuple[str, str] | None = None
        if (
            isinstance(channel, str)
            and isinstance(thread_ts, str)
            and _CHANNEL.match(channel)
            and _TS.match(thread_ts)
        ):
            thread = (channel, thread_ts)
            parts.append("thread")
        # what was posted already is kept until the notice is done, even if this try breaks
        done = self._progress.pop(notice.subscriber_id, {})
        self._remember(notice.subscriber_id, done)
        for part in parts:
            if part in done:
                continue
            if part == "dm":
                result = await self._tell_person(notice, user)
            else:
                assert thread is not None
                result = await self._answer_thread(notice, user, team, thread)
                if result is None:  # the channel turned thread answers off
                    done[part] = "off"
                    continue
            if result.outcome == "retry":
                return DeliveryResult(
                    "retry", detail=f"{part}: {result.detail}", retry_after=result.retry_after
                )
            done[part] = "sent" if result.outcome == "sent" else (result.detail or "failed")
            if result.outcome == "failed":
                log.warning(
                    "Slack refused the %s of a watch notice (subscriber %s, %s)",
                    "DM" if part == "dm" else "thread reply",
                    notice.subscriber_id,
                    result.detail,
                )
        self._progress.pop(notice.subscriber_id, None)
        problems = "; ".join(f"{part}: {how}" for part, how in done.items() if how != "sent")
        if any(how == "sent" for how in done.values()):
            return DeliveryResult("sent", detail=problems or None)
        return DeliveryResult("failed", detail=problems or "nobody could be told")

    def _remember(self, subscriber_id: int, done: dict[Part, str]) -> None:
        self._progress[subscriber_id] = done
        while len(self._progress) > _PROGRESS_SIZE:
            self._progress.popitem(last=False)

    def _render_context(self, notice: WatchNotice) -> RenderContext:
        try:
            upstream = self._service.accounts.get(notice.account).label
        except CaptureStatusError:  # the account is no longer configured
            upstream = "LeadSquared"
        return RenderContext(
            checked_at=notice.ended_at,
            upstream=upstream,
            demo=self._service.accounts.demo,
            nonce=self._nonce(),
            account=notice.account,
        )

    async def _tell_person(self, notice: WatchNotice, user: str) -> DeliveryResult:
        channel = self._dm_channels.get(user)
        if channel is None:
            try:
                opened = await self._client.conversations_open(users=user)  # pyright: ignore[reportUnknownMemberType]
            except SlackApiError as error:
                return self._refused(error, None)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                return _unreachable(error)
            found: object = opened.get("channel")  # pyright: ignore[reportUnknownMemberType]
            raw_id: object = None
            if isinstance(found, Mapping):
                raw_id = cast("Mapping[str, object]", found).get("id")
            if not isinstance(raw_id, str) or not raw_id:
                return DeliveryResult("retry", detail="no DM channel in Slack's answer")
            channel = raw_id
            self._dm_channels[user] = channel
            while len(self._dm_channels) > _DM_CACHE_SIZE:
                self._dm_channels.popitem(last=False)
        message = notification_message(notice, self._render_context(notice))
        result = await self._post(channel, message)
        if result.outcome == "failed":
            self._dm_channels.pop(user, None)  # ask Slack again next time
        return result

    async def _answer_thread(
        self, notice: WatchNotice, user: str, team: object, thread: tuple[str, str]
    ) -> DeliveryResult | None:
        """Answer in the thread (``None``: the channel turned thread answers off)."""
        channel, ts = thread
        scope = f"slack:{team if isinstance(team, str) else '-'}"
        try:
            if not await self._service.channel_threads(scope, channel):
                return None
        except CaptureStatusError:
            return DeliveryResult(
                "retry",
                detail="the channel's thread setting could not be read",
                retry_after=_RETRY_SECONDS,
            )
        message = notification_message(notice, self._render_context(notice), for_user=user)
        return await self._post(channel, message, thread_ts=ts)

    async def _post(
        self, channel: str, message: SlackMessage, *, thread_ts: str | None = None
    ) -> DeliveryResult:
        wait = await self.pacer.turn(channel)
        if wait is not None:
            return DeliveryResult("retry", detail="paced", retry_after=wait)
        try:
            await self._client.chat_postMessage(  # pyright: ignore[reportUnknownMemberType]
                channel=channel,
                thread_ts=thread_ts,
                text=message["text"],
                blocks=message["blocks"],
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            return self._refused(error, channel)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return _unreachable(error)
        return DeliveryResult("sent")

    def _refused(self, error: SlackApiError, channel: str | None) -> DeliveryResult:
        result = delivery_of_refusal(error)
        if result.detail == "ratelimited" and result.retry_after is not None:
            self.pacer.hold(channel, result.retry_after)
        return result


def _unreachable(error: BaseException) -> DeliveryResult:
    return DeliveryResult(
        "retry", detail=f"Slack unreachable ({type(error).__name__})", retry_after=_RETRY_SECONDS
    )
