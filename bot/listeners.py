"""What the app does for each thing Slack sends: parse, ``ack()``, look up, render, answer.

Every listener acknowledges before any I/O (an answer that needs no I/O, such as help, a
refusal or input the service refuses, *is* the acknowledgement), then routes to an account
(the channel's, else the workspace's, else the default), calls one ``CaptureService`` use
case, and answers through the request's own ``response_url``. Every listener body is counted in
:class:`~bot.inflight.InFlight`, entered before ``ack()``, so a shutdown waits for the
answers Slack was promised.

Every lookup names its caller: the interactive lane, with the Slack user as principal
(``slack:<team>:<user>``), so the budget serves people fairly. More ids than one answer
takes (the command, or a message given to the shortcut) start a triage job instead
(:mod:`bot.triage_jobs`), on the bulk lane as the same principal.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Allowlist
from bot.actions import COMMAND, CardTarget, StopTarget
from bot.blocks import (
    failure_message,
    help_message,
    lookup_messages,
    metrics_message,
    no_ids_in_message,
    notice_message,
    refusal_message,
)
from bot.commands import (
    Help,
    Lookup,
    Metrics,
    ParsedCommand,
    Threads,
    Unwatch,
    Watch,
    Watches,
    message_texts,
    parse_command,
)
from bot.home import Configuration, home_view, refused_home_view
from bot.identity import slack_error_code
from bot.inflight import InFlight
from bot.kit import RenderContext, SlackMessage
from bot.triage_blocks import too_many_for_a_job_message
from bot.triage_jobs import TriageJobs, TriageRequest
from bot.watch_listeners import WatchListeners, caller_of, workspace_of
from shared import (
    Account,
    Caller,
    CaptureService,
    CaptureStatusError,
    LookupView,
    explain_error,
    read_batch,
)

__all__ = ["AnswerOptions", "Listeners"]

log = logging.getLogger(__name__)

Payload = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """How answers are made, from the settings (read once, at start-up).

    Attributes:
        max_ids: the most ids one command looks up.
        mask_pii: mask personal data in ephemeral answers (shared copies are always masked).
        configuration: what the Home tab shows.
    """

    max_ids: int
    mask_pii: bool
    configuration: Configuration


class Listeners:
    """The listener functions Bolt calls; Bolt injects their arguments by name.

    Args:
        service: the process's one service (every LeadSquared account).
        options: answer options from the settings.
        allowlist: who may use the app, and where.
        in_flight: counts answers in progress, for a graceful shutdown.
        jobs: the app's triage jobs (more ids than one answer takes).
        wall_clock: Unix time (injectable), for "checked at".
    """

    def __init__(
        self,
        service: CaptureService,
        options: AnswerOptions,
        allowlist: Allowlist,
        in_flight: InFlight,
        jobs: TriageJobs,
        *,
        wall_clock: Callable[[], float],
    ) -> None:
        self._service = service
        self._options = options
        self._allowlist = allowlist
        self._in_flight = in_flight
        self._jobs = jobs
        self._wall_clock = wall_clock
        self._watching = WatchListeners(
            service, route=self._route, render_context=self._render_context
        )

    # --- slash command ------------------------------------------------------------------

    async def on_command(
        self,
        ack: AsyncAck,
        command: Payload,
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """``/capture-status [help | metrics | <id> …]``; more ids than one answer takes start
        a triage job."""
        with self._in_flight.track():
            name = str(command.get("command") or COMMAND)
            if not self._allowed(context):
                await ack(response_type="ephemeral", **refusal_message(name))
                return
            parsed = parse_command(command.get("text"))
            if isinstance(parsed, Help):
                message = help_message(
                    name,
                    max_ids=self._options.max_ids,
                    demo=self._service.accounts.demo,
                    mask_pii=self._options.mask_pii,
                )
                await ack(response_type="ephemeral", **message)
                return
            if not isinstance(parsed, Metrics | Lookup):
                await self._watch_command(parsed, name, ack, respond, context)
                return
            ids: list[str] = []
            if not isinstance(parsed, Metrics):
                if len(read_batch(parsed.text).ids) > self._options.max_ids:
                    answer = self._start_triage(parsed.text, context, client)
                    await ack(response_type="ephemeral", **answer)
                    return
                try:
                    ids = self._service.request_ids_in(parsed.text, max_ids=self._options.max_ids)
                except CaptureStatusError as error:  # no id, or too many: the core's words
                    await ack(
                        response_type="ephemeral",
                        **notice_message(explain_error(error), command=name),
                    )
                    return
            await ack()
            account = self._route(context)
            try:
                if isinstance(parsed, Metrics):
                    await _send(respond, await self._metrics_message(context))
                else:
                    views = await self._service.look_up(
                        ids, account=account.name, caller=caller_of(context)
                    )
                    ctx = self._render_context(account)
                    await _send_all(respond, lookup_messages(views, ctx))
            except Exception as error:  # after the ack, the person must still get an answer
                await _report_failure(respond, error)

    async def _watch_command(
        self,
        parsed: ParsedCommand,
        name: str,
        ack: AsyncAck,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        """``watch``, ``watches``, ``unwatch`` and ``threads``: ids the service refuses are
        answered in the ack; everything else after it."""
        ids: list[str] = []
        if isinstance(parsed, Watch | Unwatch):
            try:
                ids = self._service.watch_ids_in(parsed.text, max_ids=self._options.max_ids)
            except CaptureStatusError as error:  # no id, or too many: the core's words
                notice = notice_message(explain_error(error), command=name)
                await ack(response_type="ephemeral", **notice)
                return
        await ack()
        watching = self._watching
        try:
            if isinstance(parsed, Watch):
                message = await watching.watch(ids, context, command=name)
            elif isinstance(parsed, Unwatch):
                message = await watching.unwatch(ids, context, command=name)
            elif isinstance(parsed, Watches):
                message = await watching.watches(context, command=name)
            else:
                assert isinstance(parsed, Threads)
                message = await watching.threads(parsed, context, command=name)
            await _send(respond, message)
        except Exception as error:  # after the ack, the person must still get an answer
            await _report_failure(respond, error)

    # --- buttons --------------------------------------------------------------------------

    async def on_refresh(
        self, ack: AsyncAck, action: Payload, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """Refresh: look again (the clicked id fresh) and replace the message in place."""

        async def answer() -> None:
            target = _button_target(action, "Refresh")
            if target is None:
                return
            account = self._target_account(target, context)
            views = await self._refreshed_views(target, account, caller_of(context))
            by = target.by if target.shared else None
            ctx = self._render_context(account, shared_by=by)
            messages = lookup_messages(views, ctx, shared=target.shared)
            await _send_all(respond, messages, replace_original=True)

        await self._on_button(ack, respond, context, answer)

    async def on_share(
        self, ack: AsyncAck, action: Payload, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """Share to channel: post a redacted copy of the card for everyone in the channel."""

        async def answer() -> None:
            target = _button_target(action, "Share")
            if target is None:
                return
            account = self._target_account(target, context)
            views = await self._service.look_up(
                [target.request_id], account=account.name, shared=True, caller=caller_of(context)
            )
            ctx = self._render_context(account, shared_by=context.user_id)
            messages = lookup_messages(views, ctx, shared=True)
            await _send_all(respond, messages, response_type="in_channel", replace_original=False)

        await self._on_button(ack, respond, context, answer)

    async def on_metrics_refresh(
        self, ack: AsyncAck, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """Refresh on the queue-health answer."""

        async def answer() -> None:
            await _send(respond, await self._metrics_message(context), replace_original=True)

        await self._on_button(ack, respond, context, answer)

    async def on_watch(
        self,
        ack: AsyncAck,
        action: Payload,
        body: Payload,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        """Notify me: watch the card's request; answer only to the person who pressed it."""

        async def answer() -> None:
            target = _button_target(action, "Notify me")
            if target is None:
                return
            message = await self._watching.notify_me(target, context, body)
            await _send(respond, message, replace_original=False)

        await self._on_button(ack, respond, context, answer)

    async def on_stop_watch(
        self, ack: AsyncAck, action: Payload, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """Stop, on one of "my watches": stop it and show the list again in place."""

        async def answer() -> None:
            stop = StopTarget.decode(action.get("value"))
            if stop is None:
                log.warning("Stop button with an unreadable value; ignored")
                return
            message = await self._watching.stop(stop, context)
            await _send(respond, message, replace_original=True)

        await self._on_button(ack, respond, context, answer)

    async def _on_button(
        self,
        ack: AsyncAck,
        respond: AsyncRespond,
        context: AsyncBoltContext,
        answer: Callable[[], Awaitable[None]],
    ) -> None:
        """What every button does: ack at once, check the allowlists, answer, never go silent."""
        with self._in_flight.track():
            await ack()
            try:
                if not self._allowed(context):
                    await _send(respond, refusal_message(COMMAND), replace_original=False)
                    return
                await answer()
            except CaptureStatusError as error:  # e.g. the card's account is gone: say so
                notice = notice_message(explain_error(error))
                await _send(respond, notice, replace_original=False)
            except Exception as error:  # after the ack, the person must still get an answer
                await _report_failure(respond, error)

    async def on_open_link(self, ack: AsyncAck) -> None:
        """Open in LeadSquared: Slack opens the URL itself; the click only needs an ack."""
        await ack()

    # --- message shortcut ---------------------------------------------------------------

    async def on_shortcut(
        self,
        ack: AsyncAck,
        shortcut: Payload,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """The message shortcut: look up every RequestId written in the message; more than
        one answer takes start a triage job."""
        with self._in_flight.track():
            await ack()
            answer = _PrivateAnswer(client, context)
            try:
                if not self._allowed(context):
                    await answer.send(refusal_message(COMMAND))
                    return
                message: object = shortcut.get("message")
                texts = message_texts(cast("Payload", message)) if isinstance(message, dict) else []
                if len(read_batch("\n".join(texts)).ids) > self._options.max_ids:
                    await answer.send(self._start_triage("\n".join(texts), context, client))
                    return
                account = self._route(context)
                found = self._service.first_request_ids(
                    texts, max_ids=self._options.max_ids, account=account.name
                )
                if not found.ids:
                    await answer.send(no_ids_in_message())
                    return
                note = None
                if found.left_out:
                    note = (
                        f"That message holds {found.found} RequestIds; the first "
                        f"{len(found.ids)} are shown. Look the others up with {COMMAND}."
                    )
                views = await self._service.look_up(
                    found.ids, account=account.name, caller=caller_of(context)
                )
                ctx = self._render_context(account)
                for message in lookup_messages(views, ctx, note=note):
                    await answer.send(message)
            except Exception as error:
                log.error("The shortcut answer failed: %s", type(error).__name__)
                await answer.send_quietly(failure_message())

    # --- App Home -------------------------------------------------------------------------

    async def on_home_opened(
        self, event: Payload, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """Publish the Home tab: usage, configuration in effect, queue health."""
        user_id = event.get("user")
        if event.get("tab", "home") != "home" or not isinstance(user_id, str):
            return
        with self._in_flight.track():
            allowed = self._allowlist.allows(
                team_id=context.team_id,
                enterprise_id=context.enterprise_id,
                user_id=user_id,
                check_channel=False,
            )
            if not allowed:
                view = refused_home_view(secrets.token_hex(4))
            else:
                reachable = self._service.accounts.reachable_from_slack(workspace_of(context))
                healths = await self._service.queue_healths(reachable, caller=caller_of(context))
                ctx = self._render_context(reachable[0] if len(reachable) == 1 else None)
                view = home_view(self._options.configuration, ctx, healths=healths)
            try:
                await client.views_publish(user_id=user_id, view=view)  # pyright: ignore[reportUnknownMemberType]
            except SlackApiError as error:
                log.warning("Slack refused the Home tab (%s)", slack_error_code(error))

    # --- errors Bolt catches --------------------------------------------------------------

    async def on_error(self, error: Exception) -> None:
        """Unhandled errors: log the type only (messages may quote payloads)."""
        log.error("Unhandled error in a Slack listener: %s", type(error).__name__)

    # --- helpers --------------------------------------------------------------------------

    def _allowed(self, context: AsyncBoltContext) -> bool:
        return self._allowlist.allows(
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            user_id=context.user_id,
            channel_id=context.channel_id,
        )

    def _start_triage(
        self, text: str, context: AsyncBoltContext, client: AsyncWebClient
    ) -> SlackMessage:
        """Start a triage job of the ids in ``text`` for this person here (or refuse it)."""
        channel, user = context.channel_id, context.user_id
        if not channel or not user:  # Slack always sends both with commands and shortcuts
            log.warning("A triage came without a channel or user; not started")
            return failure_message()
        try:
            batch = self._service.batch_in(text, max_ids=self._jobs.options.max_ids)
        except CaptureStatusError as error:  # over the cap of a job: the core's words
            return too_many_for_a_job_message(error.message)
        request = TriageRequest(
            ids=batch.ids,
            team_id=workspace_of(context) or "-",
            user_id=user,
            channel_id=channel,
            account=self._route(context),
        )
        private = _PrivateAnswer(client, context)
        return self._jobs.start(
            request,
            client=client,
            tell_user=private.send_quietly,
            answer_max_ids=self._options.max_ids,
        )

    def _route(self, context: AsyncBoltContext) -> Account:
        """The account that answers here: the channel's, else the workspace's, else default."""
        return self._service.accounts.for_slack(
            team_id=workspace_of(context), channel_id=context.channel_id
        )

    def _target_account(self, target: CardTarget, context: AsyncBoltContext) -> Account:
        """The account a button's card came from (routing decides for older buttons).

        Raises:
            UnknownAccountError: that account is no longer configured (explained to the person).
        """
        if target.account is None:
            return self._route(context)
        return self._service.accounts.get(target.account)

    def _render_context(
        self, account: Account | None, *, shared_by: str | None = None
    ) -> RenderContext:
        return RenderContext(
            checked_at=self._wall_clock(),
            upstream=account.label if account is not None else "LeadSquared",
            demo=self._service.accounts.demo,
            nonce=secrets.token_hex(4),
            shared_by=shared_by,
            account=account.name if account is not None else None,
        )

    async def _refreshed_views(
        self, target: CardTarget, account: Account, caller: Caller
    ) -> list[LookupView]:
        """Every card of the message: the ones Refresh names fresh, the others from the cache.

        A single card's Refresh names itself; a batch's names every id that was not final.
        """
        fresh = [rid for rid in target.message_ids if rid in target.fresh_ids]
        others = [rid for rid in target.message_ids if rid not in target.fresh_ids]
        look_up = self._service.look_up
        shared = target.shared
        looked_again, rest = await asyncio.gather(
            look_up(fresh, account=account.name, shared=shared, fresh=True, caller=caller)
            if fresh
            else _no_views(),
            look_up(others, account=account.name, shared=shared, caller=caller)
            if others
            else _no_views(),
        )
        by_query = {view.query: view for view in [*looked_again, *rest]}
        return [by_query[rid] for rid in target.message_ids if rid in by_query]

    async def _metrics_message(self, context: AsyncBoltContext) -> SlackMessage:
        """The queue of every account this workspace reaches."""
        reachable = self._service.accounts.reachable_from_slack(workspace_of(context))
        healths = await self._service.queue_healths(reachable, caller=caller_of(context))
        only = reachable[0] if len(reachable) == 1 else None
        return metrics_message(healths, self._render_context(only))


async def _no_views() -> list[LookupView]:
    return []


async def _send(
    respond: AsyncRespond,
    message: SlackMessage,
    *,
    response_type: str | None = "ephemeral",
    replace_original: bool | None = None,
) -> bool:
    """Answer through the response_url; a refusal by Slack is logged (False), never raised."""
    response = await respond(
        text=message["text"],
        blocks=message["blocks"],
        response_type=None if replace_original else response_type,
        replace_original=replace_original,
    )
    if response.status_code != 200:
        log.warning(
            "Slack refused an answer through response_url (HTTP %s: %s)",
            response.status_code,
            (response.body or "")[:100],
        )
        return False
    return True


async def _send_all(
    respond: AsyncRespond,
    messages: Sequence[SlackMessage],
    *,
    response_type: str | None = "ephemeral",
    replace_original: bool | None = None,
) -> None:
    """Send an answer that may take several messages, in order.

    Only the first can replace the message a button was on; the others follow it.
    """
    for number, message in enumerate(messages):
        replace = replace_original if number == 0 or replace_original is None else False
        await _send(respond, message, response_type=response_type, replace_original=replace)


async def _report_failure(respond: AsyncRespond, error: Exception) -> None:
    log.error("An answer failed: %s", type(error).__name__)
    try:
        await _send(respond, failure_message(), replace_original=False)
    except Exception as second:
        log.error("Could not tell the person either: %s", type(second).__name__)


class _PrivateAnswer:
    """An answer only the person sees: through the request's response_url while Slack takes
    it (it expires after 30 minutes), else an ephemeral chat message (``chat.postEphemeral``).
    """

    def __init__(self, client: AsyncWebClient, context: AsyncBoltContext):
        self._client = client
        self._context = context

    async def send(self, message: SlackMessage) -> None:
        respond = self._context.respond if self._context.response_url else None
        if respond is not None and await _send(respond, message):
            return
        channel = self._context.channel_id
        user = self._context.user_id
        if not channel or not user:
            log.warning("A request came without a response_url, channel or user; no answer")
            return
        try:
            await self._client.chat_postEphemeral(  # pyright: ignore[reportUnknownMemberType]
                channel=channel, user=user, text=message["text"], blocks=message["blocks"]
            )
        except SlackApiError as error:
            log.warning("Slack refused the ephemeral answer (%s)", slack_error_code(error))

    async def send_quietly(self, message: SlackMessage) -> None:
        try:
            await self.send(message)
        except Exception as error:
            log.error("Could not send a private answer: %s", type(error).__name__)


def _button_target(action: Payload, button: str) -> CardTarget | None:
    """The card a button belongs to, or ``None`` (logged) when its value is unreadable."""
    target = CardTarget.decode(action.get("value"))
    if target is None:
        log.warning("%s button with an unreadable value; ignored", button)
    return target
