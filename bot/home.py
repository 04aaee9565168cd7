"""The App Home tab: how to use the app, the configuration in effect, the queue health.

Pure functions like :mod:`bot.blocks`. The configuration shown is descriptive only (region,
budget, limits, masking, who may use it): no secret, no token and no allowlisted id ever
appears here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.access import Allowlist
from bot.actions import COMMAND
from bot.blocks import usage_text
from bot.kit import (
    MAX_HOME_BLOCKS,
    Block,
    RenderContext,
    checked_line,
    context,
    demo_note,
    divider,
    header,
    section,
)
from bot.mrkdwn import escape_cut
from shared import Explanation, QueueMetrics, Settings

__all__ = ["Configuration", "home_view", "refused_home_view", "upstream_label"]


def upstream_label(settings: Settings) -> str:
    """Where answers come from, for people: ``LeadSquared region sg`` or a host name."""
    if settings.demo_mode:
        return "the LeadSquared simulator (demo)"
    if settings.lsq_async_base_url:
        host = urlsplit(settings.lsq_async_base_url).hostname or "a custom host"
        return f"LeadSquared at {host}"
    return f"LeadSquared region {settings.lsq_region}"


@dataclass(frozen=True, slots=True)
class Configuration:
    """The settings in effect, in words (never secrets)."""

    upstream: str
    demo: bool
    budget: str
    max_ids: int
    mask_pii: bool
    links: str
    access: str
    connection: str

    @classmethod
    def from_settings(cls, settings: Settings, *, connection: str) -> Configuration:
        """Describe ``settings`` for the Home tab.

        Args:
            settings: the process settings.
            connection: how Slack reaches the app (``Socket Mode`` or ``HTTP``).
        """
        headroom = settings.lsq_rate_limit_calls - settings.rate_budget_calls
        budget = (
            f"{settings.rate_budget_calls} calls per {settings.lsq_rate_limit_seconds} s "
            f"(the account allows {settings.lsq_rate_limit_calls}; {headroom} left for other "
            "integrations)"
        )
        if settings.lsq_app_base_url:
            host = urlsplit(settings.lsq_app_base_url).hostname or settings.lsq_app_base_url
            links = f"on ({host})"
        else:
            links = "off (an admin can set LSQ_APP_BASE_URL)"
        return cls(
            upstream=upstream_label(settings),
            demo=settings.demo_mode,
            budget=budget,
            max_ids=settings.slack_max_ids,
            mask_pii=settings.lsq_mask_pii,
            links=links,
            access=Allowlist.from_settings(settings).describe(),
            connection=connection,
        )


def home_view(
    config: Configuration,
    ctx: RenderContext,
    *,
    metrics: QueueMetrics | None = None,
    reading: str | None = None,
    health_error: Explanation | None = None,
) -> dict[str, Any]:
    """The Home tab for someone allowed to use the app.

    Args:
        config: the configuration in effect.
        ctx: when the queue was checked.
        metrics: the queue metrics, when the check worked.
        reading: the core's one-line reading of ``metrics``.
        health_error: the core's explanation of a failed queue check.
    """
    n = ctx.nonce
    blocks: list[Block] = [header(f"{n}-title", "Capture Status")]
    if config.demo:
        blocks.append(context(f"{n}-demo", [demo_note()]))
    blocks += [
        section(
            f"{n}-intro",
            "Explains LeadSquared *Capture Opportunities* requests sent through the async API: "
            "whether each was created, is a duplicate, failed or is still queued, why, and what "
            "to do next."
            + (" Personal data from the requests is masked." if config.mask_pii else ""),
        ),
        section(f"{n}-usage", usage_text(COMMAND, max_ids=config.max_ids)),
        divider(f"{n}-div1"),
        header(f"{n}-health-title", "Queue health"),
    ]
    if metrics is not None:

        def show(value: float | None, unit: str = "") -> str:
            return "unknown" if value is None else f"{value:g}{unit}"

        blocks.append(
            section(
                f"{n}-health",
                f"*{escape_cut(reading or '', 1000)}*",
                fields=[
                    f"*Requests in queue*\n{show(metrics.pending_messages)}",
                    f"*Worst-case delay*\n{show(metrics.max_delay_seconds, ' s')}",
                    "*Processing rate (10-min average)*\n"
                    f"{show(metrics.processing_rate_per_minute, ' per minute')}",
                ],
            )
        )
    elif health_error is not None:
        blocks.append(
            section(
                f"{n}-health",
                f"{health_error.symbol} *{escape_cut(health_error.headline, 300)}*\n"
                f"{escape_cut(health_error.what_happened, 1500)}",
            )
        )
    blocks.append(context(f"{n}-health-ctx", [checked_line(ctx)]))
    blocks += [
        divider(f"{n}-div2"),
        header(f"{n}-config-title", "Configuration in effect"),
        section(
            f"{n}-config",
            fields=[
                f"*Answers from*\n{escape_cut(config.upstream, 300)}",
                f"*Rate budget*\n{escape_cut(config.budget, 300)}",
                f"*Ids per command*\nup to {config.max_ids}",
                f"*Personal data*\n{'masked' if config.mask_pii else 'shown (masking is off)'}",
                f"*Open in LeadSquared links*\n{escape_cut(config.links, 300)}",
                f"*Who can use it*\n{escape_cut(config.access, 300)}",
                f"*Connection to Slack*\n{escape_cut(config.connection, 100)}",
            ],
        ),
        context(
            f"{n}-config-ctx",
            ["Settings are read when the app starts; its admins change them in its environment."],
        ),
    ]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def refused_home_view(nonce: str) -> dict[str, Any]:
    """The Home tab for someone the allowlists leave out (no configuration, no queue data)."""
    return {
        "type": "home",
        "blocks": [
            header(f"{nonce}-title", "Capture Status"),
            section(
                f"{nonce}-refused",
                ":no_entry: *Capture Status isn't enabled for you here.*\n"
                "The admins of this app limited it to certain workspaces, channels or people. "
                "Ask them if you need it.",
            ),
        ],
    }
