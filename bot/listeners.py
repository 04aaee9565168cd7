"""What the app does for each thing Slack sends: parse, ``ack()``, look up, render, answer.

Every listener acknowledges before any I/O (an answer that needs no I/O, such as help or a
refusal, *is* the acknowledgement), then looks up through the shared client and answers
through the request's own ``response_url``. Every listener body is counted in
:class:`~bot.inflight.InFlight`, entered before ``ack()``, so a shutdown waits for the
answers Slack was promised.
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
from bot.actions import COMMAND, CardTarget
from bot.blocks import (
    failure_message,
    help_message,
    lookup_messages,
    metrics_failed_message,
    metrics_message,
    no_ids_in_message,
    notice_message,
    refusal_message,
)
from bot.commands import (
    Help,
    InvalidInput,
    Metrics,
    TooManyIds,
    ids_in_message,
    parse_command,
)
from bot.home import Configuration, home_view, refused_home_view
from bot.identity import slack_error_code
from bot.inflight import InFlight
from bot.kit import RenderContext, SlackMessage
from shared import (
    CaptureStatusError,
    InvalidRequestIdError,
    TooManyRequestIdsError,
    describe_metrics,
    explain_error,
    extract_request_id,
)
from shared.explain.redact import Redactor
from shared.lsq.client import CaptureStatusClient
from shared.service.views import LookupView, look_up

__all__ = ["AnswerOptions", "Listeners"]

log = logging.getLogger(__name__)

Payload = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """How answers are made, from the settings (read once, at start-up).

    Attributes:
        max_ids: the most ids one command looks up.
        mask_pii: mask personal data in ephemeral answers (shared copies are always masked).
        app_base_url: the LeadSquared web app, for "Open in LeadSquared" buttons.
        upstream: where answers come from, in words (``LeadSquared region sg``).
        demo: answers come from the simulator.
        configuration: what the Home tab shows.
    """

    max_ids: int
    mask_pii: bool
    app_base_url: str | None
    upstream: str
    demo: bool
    configuration: Configuration


class Listeners:
    """The listener functions Bolt calls; Bolt injects their arguments by name.

    Args:
        client: the process's one LeadSquared client.
        options: answer options from the settings.
        allowlist: who may use the app, and where.
        in_flight: counts answers in progress, for a graceful shutdown.
        wall_clock: Unix time (injectable), for "checked at".
    """

    def __init__(
        self,
        client: CaptureStatusClient,
        options: AnswerOptions,
        allowlist: Allowlist,
        in_flight: InFlight,
        *,
        wall_clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._options = options
        self._allowlist = allowlist
        self._in_flight = in_flight
        self._wall_clock = wall_clock

    # --- slash command ------------------------------------------------------------------

    async def on_command(
        self, ack: AsyncAck, command: Payload, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """``/capture-status [help | metrics | <id> …]``."""
        with self._in_flight.track():
            name = str(command.get("command") or COMMAND)
            if not self._allowed(context):
                await ack(response_type="ephemeral", **refusal_message(name))
                return
            parsed = parse_command(command.get("text"), max_ids=self._options.max_ids)
            if isinstance(parsed, Help):
                message = help_message(
                    name,
                    max_ids=self._options.max_ids,
                    demo=self._options.demo,
                    mask_pii=self._options.mask_pii,
                )
                await ack(response_type="ephemeral", **message)
                return
            if isinstance(parsed, InvalidInput):
                await ack(response_type="ephemeral", **_invalid_input_message(parsed.text, name))
                return
            if isinstance(parsed, TooManyIds):
                error = TooManyRequestIdsError(
                    f"{parsed.count} RequestIds were given; {name} looks up at most "
                    f"{parsed.cap} at a time."
                )
                notice = notice_message(explain_error(error), command=name)
                await ack(response_type="ephemeral", **notice)
                return
            await ack()
            try:
                if isinstance(parsed, Metrics):
                    await _send(respond, await self._metrics_message())
                else:
                    views = await self._look_up(parsed.request_ids)
                    await _send_all(respond, lookup_messages(views, self._render_context()))
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
            redactor = self._redactor(shared=target.shared)
            views = await self._refreshed_views(target, redactor)
            ctx = self._render_context(shared_by=target.by if target.shared else None)
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
            views = await self._look_up([target.request_id], self._redactor(shared=True))
            ctx = self._render_context(shared_by=context.user_id)
            messages = lookup_messages(views, ctx, shared=True)
            await _send_all(respond, messages, response_type="in_channel", replace_original=False)

        await self._on_button(ack, respond, context, answer)

    async def on_metrics_refresh(
        self, ack: AsyncAck, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        """Refresh on the queue-health answer."""

        async def answer() -> None:
            await _send(respond, await self._metrics_message(), replace_original=True)

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
        """The message shortcut: look up every RequestId written in the message."""
        with self._in_flight.track():
            await ack()
            answer = _ShortcutAnswer(shortcut, client, context)
            try:
                if not self._allowed(context):
                    await answer.send(refusal_message(COMMAND))
                    return
                message: object = shortcut.get("message")
                ids = ids_in_message(cast("Payload", message)) if isinstance(message, dict) else []
                if not ids:
                    await answer.send(no_ids_in_message())
                    return
                cap = self._options.max_ids
                note = None
                if len(ids) > cap:
                    note = (
                        f"That message holds {len(ids)} RequestIds; the first {cap} are shown. "
                        f"Look the others up with {COMMAND}."
                    )
                    ids = ids[:cap]
                views = await self._look_up(ids)
                for message in lookup_messages(views, self._render_context(), note=note):
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
            ctx = self._render_context()
            allowed = self._allowlist.allows(
                team_id=context.team_id,
                enterprise_id=context.enterprise_id,
                user_id=user_id,
                check_channel=False,
            )
            if not allowed:
                view = refused_home_view(ctx.nonce)
            else:
                try:
                    metrics = await self._client.get_metrics()
                except CaptureStatusError as error:
                    view = home_view(
                        self._options.configuration, ctx, health_error=explain_error(error)
                    )
                else:
                    view = home_view(
                        self._options.configuration,
                        ctx,
                        metrics=metrics,
                        reading=describe_metrics(metrics),
                    )
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

    def _redactor(self, *, shared: bool) -> Redactor:
        # a copy for the channel is always masked, whatever LSQ_MASK_PII says
        return Redactor(enabled=True if shared else self._options.mask_pii)

    def _render_context(self, *, shared_by: str | None = None) -> RenderContext:
        return RenderContext(
            checked_at=self._wall_clock(),
            upstream=self._options.upstream,
            demo=self._options.demo,
            nonce=secrets.token_hex(4),
            shared_by=shared_by,
        )

    async def _look_up(
        self, ids: Sequence[str], redactor: Redactor | None = None, *, fresh: bool = False
    ) -> list[LookupView]:
        return await look_up(
            self._client,
            list(ids),
            app_base_url=self._options.app_base_url,
            redactor=redactor or self._redactor(shared=False),
            fresh=fresh,
        )

    async def _refreshed_views(self, target: CardTarget, redactor: Redactor) -> list[LookupView]:
        """Every card of the message: the ones Refresh names fresh, the others from the cache.

        A single card's Refresh names itself; a batch's names every id that was not final.
        """
        fresh = [rid for rid in target.message_ids if rid in target.fresh_ids]
        others = [rid for rid in target.message_ids if rid not in target.fresh_ids]
        looked_again, rest = await asyncio.gather(
            self._look_up(fresh, redactor, fresh=True) if fresh else _no_views(),
            self._look_up(others, redactor) if others else _no_views(),
        )
        by_query = {view.query: view for view in [*looked_again, *rest]}
        return [by_query[rid] for rid in target.message_ids if rid in by_query]

    async def _metrics_message(self) -> SlackMessage:
        ctx = self._render_context()
        try:
            metrics = await self._client.get_metrics()
        except CaptureStatusError as error:
            return metrics_failed_message(explain_error(error), ctx)
        return metrics_message(metrics, describe_metrics(metrics), ctx)


async def _no_views() -> list[LookupView]:
    return []


def _invalid_input_message(text: str, command: str) -> SlackMessage:
    """The core's wording for text that holds no RequestId."""
    try:
        extract_request_id(text)
    except InvalidRequestIdError as error:
        return notice_message(explain_error(error), command=command)
    # unreachable: the parser only calls this for text without any id
    error = InvalidRequestIdError("That is not a RequestId.")
    return notice_message(explain_error(error), command=command)


async def _send(
    respond: AsyncRespond,
    message: SlackMessage,
    *,
    response_type: str | None = "ephemeral",
    replace_original: bool | None = None,
) -> None:
    """Answer through the response_url; a refusal by Slack is logged, never raised."""
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


class _ShortcutAnswer:
    """Where a shortcut's answer goes: its response_url, else an ephemeral chat message."""

    def __init__(self, shortcut: Payload, client: AsyncWebClient, context: AsyncBoltContext):
        self._shortcut = shortcut
        self._client = client
        self._context = context

    async def send(self, message: SlackMessage) -> None:
        respond = self._context.respond
        if self._context.response_url and respond is not None:
            await _send(respond, message)
            return
        channel = self._context.channel_id
        user = self._context.user_id
        if not channel or not user:
            log.warning("A shortcut came without a response_url, channel or user; no answer")
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
            log.error("Could not send the shortcut's failure notice: %s", type(error).__name__)


def _button_target(action: Payload, button: str) -> CardTarget | None:
    """The card a button belongs to, or ``None`` (logged) when its value is unreadable."""
    target = CardTarget.decode(action.get("value"))
    if target is None:
        log.warning("%s button with an unreadable value; ignored", button)
    return target
