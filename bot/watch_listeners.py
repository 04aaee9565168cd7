"""What the watch commands and buttons do: whom to tell and where, one use case, one answer.

``/capture-status watch <id> …``, ``watches``, ``unwatch <id> …``, ``threads on|off``, the
**Notify me** button of a card and the **Stop** button of "my watches". Each builds the
subscriber (who asked and where to tell them), calls one ``CaptureService`` watch use case
and returns the message to answer with. The caps (ids per command, watches per person and
per workspace) and their wording are the core's; nothing here decides them.

Subscribers (the conventions every front door keeps):

- ``kind`` ``slack``; ``principal`` ``slack:<team>:<user>``; ``scope`` ``slack:<team>``;
- ``target`` ``{"team", "user"}``: tell the person by DM; plus ``{"channel", "thread_ts"}``
  when the watch was started from a message in a channel (the **Notify me** of a card shared
  there), whose thread is answered too unless the channel turned threads off;
- ``target_key`` ``dm``, or ``thread:<channel>:<ts>``: the same person asking again from the
  same place changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from slack_bolt.async_app import AsyncBoltContext

from bot.actions import COMMAND, CardTarget, StopTarget
from bot.blocks import notice_message
from bot.commands import Threads
from bot.kit import RenderContext, SlackMessage
from bot.watch_blocks import (
    WatchAnswer,
    threads_message,
    threads_need_a_channel,
    unwatch_message,
    watch_answer_message,
    watches_message,
)
from shared import (
    Account,
    Caller,
    CaptureService,
    CaptureStatusError,
    NewSubscriber,
    WatchUnavailableError,
    explain_error,
)

__all__ = [
    "SUBSCRIBER_KIND",
    "WatchListeners",
    "caller_of",
    "principal_of",
    "subscriber_for",
    "thread_of",
    "workspace_of",
]

#: the subscriber kind the Slack app delivers (its notifier is registered under it)
SUBSCRIBER_KIND = "slack"
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")

Payload = Mapping[str, Any]


def workspace_of(context: AsyncBoltContext) -> str | None:
    """The workspace a request came from: its team, else its Enterprise Grid org."""
    return context.team_id or context.enterprise_id


def principal_of(context: AsyncBoltContext) -> str:
    """Whose request this is: ``slack:<team>:<user>`` (budget fair shares, watches, limits)."""
    return f"slack:{workspace_of(context) or '-'}:{context.user_id or '-'}"


def caller_of(context: AsyncBoltContext) -> Caller:
    """The person waiting for this answer, on the interactive lane."""
    return Caller.interactive(principal_of(context))


def thread_of(body: Payload) -> tuple[str, str] | None:
    """The channel message a button was pressed on, as ``(channel, thread ts)``; ``None`` for
    an ephemeral answer (only its reader sees it: it has no thread), a DM, or anything odd.

    A message that is itself a reply gives its thread's ts, so the answer joins that thread.
    """
    raw: object = body.get("container")
    if not isinstance(raw, Mapping):
        return None
    container = cast("Payload", raw)
    if container.get("type") != "message" or container.get("is_ephemeral") is not False:
        return None
    channel: object = container.get("channel_id")
    if channel is None:
        raw_channel: object = body.get("channel")
        if isinstance(raw_channel, Mapping):
            channel = cast("Payload", raw_channel).get("id")
    ts: object = container.get("thread_ts") or container.get("message_ts")
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if not _CHANNEL.match(channel) or not _TS.match(ts):
        return None
    return channel, ts


def subscriber_for(context: AsyncBoltContext, thread: tuple[str, str] | None) -> NewSubscriber:
    """The subscriber for the person of ``context``: told by DM, and in ``thread`` if given."""
    team = workspace_of(context) or "-"
    user = context.user_id or "-"
    target: dict[str, Any] = {"team": team, "user": user}
    key = "dm"
    if thread is not None:
        channel, ts = thread
        target |= {"channel": channel, "thread_ts": ts}
        key = f"thread:{channel}:{ts}"
    return NewSubscriber(
        kind=SUBSCRIBER_KIND,
        principal=f"slack:{team}:{user}",
        scope=f"slack:{team}",
        target=target,
        target_key=key,
    )


class WatchListeners:
    """The watch answers; :class:`~bot.listeners.Listeners` acks and sends them.

    Args:
        service: the process's one service.
        route: the account that answers here (channel, workspace, default).
        render_context: a fresh render context for an account (or none).
    """

    def __init__(
        self,
        service: CaptureService,
        *,
        route: Callable[[AsyncBoltContext], Account],
        render_context: Callable[[Account | None], RenderContext],
    ) -> None:
        self._service = service
        self._route = route
        self._render_context = render_context

    async def watch(
        self,
        ids: list[str],
        context: AsyncBoltContext,
        *,
        account: str | None = None,
        thread: tuple[str, str] | None = None,
        command: str = COMMAND,
    ) -> SlackMessage:
        """Watch each id for the person (in order, each answered).

        Once the store is found down, the ids left get the same answer without a lookup.
        """
        target = self._service.accounts.get(account) if account else self._route(context)
        subscriber = subscriber_for(context, thread)
        caller = caller_of(context)
        answers: list[WatchAnswer] = []
        unavailable: WatchUnavailableError | None = None
        for rid in ids:
            if unavailable is not None:
                answers.append(WatchAnswer(rid, error=explain_error(unavailable)))
                continue
            try:
                view = await self._service.watch(
                    rid, subscriber=subscriber, caller=caller, account=target.name
                )
            except WatchUnavailableError as error:
                unavailable = error
                answers.append(WatchAnswer(rid, error=explain_error(error)))
            except CaptureStatusError as error:  # too many watches, an unknown account…
                answers.append(WatchAnswer(rid, error=explain_error(error)))
            else:
                answers.append(WatchAnswer(rid, view=view))
        return watch_answer_message(answers, self._render_context(target), command=command)

    async def notify_me(
        self, card: CardTarget, context: AsyncBoltContext, body: Payload
    ) -> SlackMessage:
        """**Notify me** on a card: watch its request, from the message it is on."""
        account = card.account or self._route(context).name
        return await self.watch([card.request_id], context, account=account, thread=thread_of(body))

    async def watches(
        self, context: AsyncBoltContext, *, command: str = COMMAND, note: str | None = None
    ) -> SlackMessage:
        """The person's watches, each with a Stop button."""
        try:
            entries = await self._service.watches(principal_of(context))
        except CaptureStatusError as error:
            return notice_message(explain_error(error), command=command)
        several = len(self._service.accounts.names) > 1
        return watches_message(
            entries,
            self._render_context(None),
            command=command,
            note=note,
            show_account=several,
        )

    async def unwatch(
        self, ids: list[str], context: AsyncBoltContext, *, command: str = COMMAND
    ) -> SlackMessage:
        """Stop the person's watches of each id (from every place they are told)."""
        stopped: list[tuple[str, int]] = []
        try:
            for rid in ids:
                count = await self._service.unwatch(
                    rid, principal=principal_of(context), kind=SUBSCRIBER_KIND
                )
                stopped.append((rid, count))
        except CaptureStatusError as error:
            return notice_message(explain_error(error), command=command)
        return unwatch_message(stopped, self._render_context(None), command=command)

    async def stop(
        self, stop: StopTarget, context: AsyncBoltContext, *, command: str = COMMAND
    ) -> SlackMessage:
        """**Stop** on one of "my watches": stop that one, then show the list again."""
        try:
            count = await self._service.unwatch(
                None, principal=principal_of(context), subscriber_id=stop.subscriber_id
            )
        except CaptureStatusError as error:
            return notice_message(explain_error(error), command=command)
        if count:
            note = f"Stopped watching {stop.request_id}: you will not be told about it."
        else:
            note = f"{stop.request_id} was no longer watched (it may have just finished)."
        return await self.watches(context, command=command, note=note)

    async def threads(
        self, parsed: Threads, context: AsyncBoltContext, *, command: str = COMMAND
    ) -> SlackMessage:
        """``threads on|off``: set (or show) whether watches started here answer in threads."""
        channel = context.channel_id
        if not channel or not _CHANNEL.match(channel):
            return threads_need_a_channel(command)
        scope = f"slack:{workspace_of(context) or '-'}"
        try:
            if parsed.on is None:
                on = await self._service.channel_threads(scope, channel)
                return threads_message(on, changed=False, unclear=parsed.unclear, command=command)
            await self._service.set_channel_threads(scope, channel, parsed.on)
        except CaptureStatusError as error:
            return notice_message(explain_error(error), command=command)
        return threads_message(parsed.on, changed=True, command=command)
